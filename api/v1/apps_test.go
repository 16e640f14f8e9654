package v1_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skypanel/paas/api/openapi"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

func TestCreateApp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	r := f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "web", "spec": map[string]any{
		"image": "paas-testapp:v1", "replicas": 0, "port": 9090, "env": map[string]any{"GREETING": "hello", "EMPTY": ""},
		"command": []string{"/testapp", "-v"}, "plan": "pro",
		"health_check": map[string]any{"command": []string{"/testapp", "-healthcheck", "http://127.0.0.1:9090/health"}, "interval_seconds": 5},
	}}).want(201)
	a := r.app()
	if r.Header.Get("Location") != "/api/paas/apps/"+a.Id.String() || r.Header.Get("ETag") != fmt.Sprintf(`"%d"`, a.Version) {
		t.Fatalf("headers = %v", r.Header)
	}
	if a.Name != "web" || a.OrganizationId != f.acme.ID || a.Spec.Image != "paas-testapp:v1" || a.Spec.Replicas != 0 || a.Spec.Port != 9090 ||
		a.Spec.Plan != "pro" || a.Spec.Env["GREETING"] != "hello" || a.Spec.Env["EMPTY"] != "" || len(a.Spec.Env) != 2 ||
		strings.Join(a.Spec.Command, " ") != "/testapp -v" || a.Spec.HealthCheck == nil || *a.Spec.HealthCheck.IntervalSeconds != 5 {
		t.Fatalf("app = %+v", a)
	}
	if a.Status.Phase != "Pending" || a.Status.ObservedGeneration != 0 || a.Status.CurrentDeployment != nil || len(a.Status.Conditions) != 0 || a.DeletedAt != nil {
		t.Fatalf("status = %+v", a.Status)
	}
	row, err := f.s.GetApp(ctx, a.Id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row.ServiceName, "acme-web-") || row.PlanID != f.pro.ID {
		t.Fatalf("row = %+v", row)
	}
	// Env values are sealed at rest.
	vars, _ := f.s.ListEnvVars(ctx, a.Id)
	for _, v := range vars {
		if strings.Contains(string(v.ValueEncrypted), "hello") {
			t.Fatal("env value stored in clear")
		}
	}

	// Sequential: "name taken" compares the whole state before and after.
	t.Run("defaults", func(t *testing.T) {
		f := f.on(t)
		a := f.createApp(f.alice.token, "minimal", map[string]any{"image": "nginx"})
		if a.Spec.Replicas != 1 || a.Spec.Port != 8080 || a.Spec.Plan != "hobby" || len(a.Spec.Command) != 0 || a.Spec.Env == nil || a.Spec.HealthCheck != nil || a.Spec.Stopped {
			t.Fatalf("defaults = %+v", a.Spec)
		}
	})
	t.Run("stopped from the start", func(t *testing.T) {
		f := f.on(t)
		a := f.createApp(f.alice.token, "parked", map[string]any{"image": "nginx", "stopped": true})
		if !a.Spec.Stopped {
			t.Fatalf("spec = %+v", a.Spec)
		}
	})
	t.Run("name taken", func(t *testing.T) {
		f := f.on(t)
		before := f.state()
		f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "web", "spec": map[string]any{"image": "nginx"}}).problem(409, "conflict")
		if f.state() != before {
			t.Fatal("a refused create changed state")
		}
		// The same name in another organization is fine.
		f.createApp(f.bob.token, "web", map[string]any{"image": "nginx"})
	})
}

// TestCreateAppRejects walks bad bodies: each answers a 4xx problem naming
// what is wrong and stores nothing.
func TestCreateAppRejects(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ok := map[string]any{"image": "nginx:1.27"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"image": "nginx:1.27"}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name  string
		body  any
		code  int
		field string
	}{
		{"empty body", raw{"application/json", ""}, 400, ""},
		{"not JSON", raw{"application/json", "{"}, 400, ""},
		{"array", raw{"application/json", "[]"}, 400, ""},
		{"null", raw{"application/json", "null"}, 400, ""},
		{"trailing data", raw{"application/json", `{"name":"a","spec":{"image":"nginx"}} {}`}, 400, ""},
		{"form encoded", raw{"application/x-www-form-urlencoded", "name=a"}, 415, ""},
		{"unknown top field", map[string]any{"name": "a", "spec": ok, "status": map[string]any{}}, 400, "status"},
		{"unknown spec field", map[string]any{"name": "a", "spec": with("memory", 1)}, 400, "spec.memory"},
		{"unknown health check field", map[string]any{"name": "a", "spec": with("health_check", map[string]any{"path": "/", "bogus": 1})}, 400, "spec.health_check.bogus"},
		{"replicas as string", map[string]any{"name": "a", "spec": with("replicas", "2")}, 400, "spec.replicas"},
		{"replicas fractional", map[string]any{"name": "a", "spec": with("replicas", 1.5)}, 400, "spec.replicas"},
		{"spec as string", map[string]any{"name": "a", "spec": "nginx"}, 400, "spec"},
		{"missing name", map[string]any{"spec": ok}, 422, "name"},
		{"missing spec", map[string]any{"name": "a"}, 422, "spec"},
		{"upper-case name", map[string]any{"name": "Web", "spec": ok}, 422, "name"},
		{"name with underscore", map[string]any{"name": "my_app", "spec": ok}, 422, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("a", 41), "spec": ok}, 422, "name"},
		{"name ends with dash", map[string]any{"name": "web-", "spec": ok}, 422, "name"},
		{"name with NUL", map[string]any{"name": "we\x00b", "spec": ok}, 422, "name"},
		{"missing image", map[string]any{"name": "a", "spec": map[string]any{}}, 422, "spec.image"},
		{"image with upper case", map[string]any{"name": "a", "spec": map[string]any{"image": "NGINX"}}, 422, "spec.image"},
		{"image with space", map[string]any{"name": "a", "spec": map[string]any{"image": "nginx latest"}}, 422, "spec.image"},
		{"image bad digest", map[string]any{"name": "a", "spec": map[string]any{"image": "nginx@sha256:abc"}}, 422, "spec.image"},
		{"image bad tag", map[string]any{"name": "a", "spec": map[string]any{"image": "nginx:-x"}}, 422, "spec.image"},
		{"negative replicas", map[string]any{"name": "a", "spec": with("replicas", -1)}, 422, "spec.replicas"},
		{"replicas over plan", map[string]any{"name": "a", "spec": with("replicas", 2)}, 422, "spec.replicas"},
		{"port zero", map[string]any{"name": "a", "spec": with("port", 0)}, 422, "spec.port"},
		{"port too big", map[string]any{"name": "a", "spec": with("port", 70000)}, 422, "spec.port"},
		{"unknown plan", map[string]any{"name": "a", "spec": with("plan", "gold")}, 422, "spec.plan"},
		{"bad plan name", map[string]any{"name": "a", "spec": with("plan", "Gold Plan")}, 422, "spec.plan"},
		{"env PORT", map[string]any{"name": "a", "spec": with("env", map[string]any{"PORT": "1"})}, 422, "spec.env.PORT"},
		{"env lower-case key", map[string]any{"name": "a", "spec": with("env", map[string]any{"foo": "1"})}, 422, "spec.env.foo"},
		{"env key starting with digit", map[string]any{"name": "a", "spec": with("env", map[string]any{"1A": "1"})}, 422, "spec.env.1A"},
		{"env key too long", map[string]any{"name": "a", "spec": with("env", map[string]any{strings.Repeat("A", 65): "1"})}, 422, "spec.env." + strings.Repeat("A", 65)},
		{"env value too long", map[string]any{"name": "a", "spec": with("env", map[string]any{"BIG": strings.Repeat("x", 16<<10+1)})}, 422, "spec.env.BIG"},
		{"env value null", map[string]any{"name": "a", "spec": with("env", map[string]any{"A": nil})}, 422, "spec.env.A"},
		{"env value number", map[string]any{"name": "a", "spec": with("env", map[string]any{"A": 1})}, 400, "spec.env"},
		{"env value with NUL", map[string]any{"name": "a", "spec": with("env", map[string]any{"A": "x\x00y"})}, 422, "spec.env.A"},
		{"command with NUL", map[string]any{"name": "a", "spec": with("command", []string{"ok", "b\x00d"})}, 422, "spec.command[1]"},
		{"command not strings", map[string]any{"name": "a", "spec": with("command", []any{1})}, 400, "spec.command"},
		{"health check empty", map[string]any{"name": "a", "spec": with("health_check", map[string]any{})}, 422, "spec.health_check"},
		{"health check both", map[string]any{"name": "a", "spec": with("health_check", map[string]any{"path": "/h", "command": []string{"x"}})}, 422, "spec.health_check"},
		{"health check relative path", map[string]any{"name": "a", "spec": with("health_check", map[string]any{"path": "health"})}, 422, "spec.health_check.path"},
		{"health check shell injection", map[string]any{"name": "a", "spec": with("health_check", map[string]any{"path": "/x;reboot"})}, 422, "spec.health_check.path"},
		{"health check interval", map[string]any{"name": "a", "spec": with("health_check", map[string]any{"path": "/h", "interval_seconds": 4000})}, 422, "spec.health_check.interval_seconds"},
		{"health check not object", map[string]any{"name": "a", "spec": with("health_check", "/h")}, 400, "spec.health_check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := f.on(t)
			before := f.state()
			r := f.do(f.alice.token, "POST", "/api/paas/apps", tc.body)
			want := map[int]string{400: "malformed-request", 415: "unsupported-media-type", 422: "validation-failed"}[tc.code]
			p := r.problem(tc.code, want)
			if tc.field != "" {
				fieldErr(t, p, tc.field)
			}
			if after := f.state(); after != before {
				t.Fatalf("a refused create changed state:\n%s\n%s", before, after)
			}
		})
	}
	t.Run("all field errors at once", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		p := f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "BAD", "spec": map[string]any{
			"image": "UPPER", "port": 0, "env": map[string]any{"PORT": "1"}}}).problem(422, "validation-failed")
		for _, field := range []string{"name", "spec.image", "spec.port", "spec.env.PORT"} {
			fieldErr(t, p, field)
		}
	})
	t.Run("inactive plan", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		if _, err := g.s.Pool.Exec(context.Background(), "UPDATE paas_plans SET active = false WHERE name = 'business'"); err != nil {
			t.Fatal(err)
		}
		p := g.do(g.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "a", "spec": with("plan", "business")}).problem(422, "validation-failed")
		if e := fieldErr(t, p, "spec.plan"); !strings.Contains(e.Message, "no longer offered") {
			t.Fatalf("message %q", e.Message)
		}
	})
	if got := f.do(f.alice.token, "GET", "/api/paas/apps", nil); strings.Contains(string(got.Body), `"name":"a"`) {
		t.Fatalf("a refused app exists: %s", got.Body)
	}
}

func TestListApps(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := 0; i < 7; i++ {
		f.createApp(f.alice.token, fmt.Sprintf("app-%d", 6-i), map[string]any{"image": "nginx"})
	}
	f.createApp(f.bob.token, "other", map[string]any{"image": "nginx"})

	var got []string
	cursor := ""
	pages := 0
	for {
		var l openapi.AppList
		f.do(f.alice.token, "GET", "/api/paas/apps?limit=3&cursor="+cursor, nil).want(200).decode(&l)
		pages++
		for _, a := range l.Items {
			got = append(got, a.Name)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if strings.Join(got, ",") != "app-0,app-1,app-2,app-3,app-4,app-5,app-6" || pages != 3 {
		t.Fatalf("pages %d: %v", pages, got)
	}
	f.do(f.alice.token, "GET", "/api/paas/apps?limit=0", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps?limit=501", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps?limit=x", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps?cursor=%25%25", nil).problem(400, "malformed-request")

	// Status and domains render as the reconciler wrote them.
	ctx := context.Background()
	app, _ := f.s.GetAppByName(ctx, store.GetAppByNameParams{OrganizationID: f.acme.ID, Name: "app-0"})
	conds := `[{"type":"Ready","status":"True","reason":"Running","message":"1 of 1 replicas run","last_transition_time":"2026-01-02T03:04:05Z"}]`
	dep := f.insertRelease(app.ID, store.ReleaseSpec{Image: "nginx", PlanID: f.hobby.ID.String(), PlanName: "hobby", Port: 8080}, "deployed")
	if err := f.s.UpdateAppStatus(ctx, store.UpdateAppStatusParams{ID: app.ID, ObservedGeneration: app.Generation, Phase: "Running",
		Conditions: json.RawMessage(conds), StatusMessage: "all good", RunningReplicas: 1, DesiredReplicas: 1,
		CurrentDeploymentID: nullUUID(dep.ID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateDomain(ctx, store.CreateDomainParams{AppID: app.ID, Hostname: "www.acme.test"}); err != nil {
		t.Fatal(err)
	}
	// Only a domain the route loop routes shows in status.urls.
	if _, err := f.s.Pool.Exec(ctx, `UPDATE paas_domains SET status = 'routed' WHERE hostname = 'www.acme.test'`); err != nil {
		t.Fatal(err)
	}
	a := f.do(f.alice.token, "GET", "/api/paas/apps/app-0", nil).want(200).app()
	if a.Status.Phase != "Running" || a.Status.Message != "all good" || a.Status.RunningReplicas != 1 || a.Status.ObservedGeneration != app.Generation ||
		len(a.Status.Conditions) != 1 || a.Status.Conditions[0].Type != "Ready" || a.Status.Conditions[0].Status != "True" ||
		a.Status.CurrentDeployment == nil || a.Status.CurrentDeployment.Version != 1 || a.Status.CurrentDeployment.Status != "deployed" ||
		strings.Join(a.Status.Urls, ",") != "https://www.acme.test" {
		t.Fatalf("status = %+v", a.Status)
	}
}

func TestGetApp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	byID := f.do(f.alice.token, "GET", "/api/paas/apps/"+a.Id.String(), nil).want(200)
	byName := f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200)
	if string(byID.Body) != string(byName.Body) || byID.Header.Get("ETag") != fmt.Sprintf(`"%d"`, a.Version) {
		t.Fatalf("by id %s, by name %s", byID.Body, byName.Body)
	}
	f.do(f.alice.token, "GET", "/api/paas/apps/nope", nil).problem(404, "not-found")
	f.do(f.alice.token, "GET", "/api/paas/apps/00000000-0000-0000-0000-000000000000", nil).problem(404, "not-found")
	f.do(f.alice.token, "GET", "/api/paas/nothing-here", nil).problem(404, "not-found")
	f.do(f.alice.token, "PUT", "/api/paas/apps/web", nil).problem(405, "method-not-allowed")
}

func TestPatchApp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx:1", "plan": "pro", "replicas": 2,
		"env": map[string]any{"KEEP": "1", "DROP": "2"}, "health_check": map[string]any{"path": "/health"}})
	patch := func(f *fixture, body any, hdrs ...string) *res {
		if _, ok := body.(raw); !ok {
			b, _ := json.Marshal(body)
			body = raw{"application/merge-patch+json", string(b)}
		}
		return f.do(f.alice.token, "PATCH", "/api/paas/apps/web", body, hdrs...)
	}

	t.Run("merge semantics", func(t *testing.T) {
		f := f.on(t)
		got := patch(f, raw{"application/merge-patch+json", `{"spec":{"replicas":3,"env":{"DROP":null,"NEW":"x"},"health_check":null,"command":["a","b"]}}`}).want(200)
		b := got.app()
		if b.Spec.Replicas != 3 || b.Spec.Image != "nginx:1" || b.Spec.Plan != "pro" || len(b.Spec.Env) != 2 || b.Spec.Env["KEEP"] != "1" || b.Spec.Env["NEW"] != "x" ||
			b.Spec.HealthCheck != nil || strings.Join(b.Spec.Command, ",") != "a,b" {
			t.Fatalf("spec = %+v", b.Spec)
		}
		if b.Status.Generation <= a.Status.Generation || b.Version <= a.Version || got.Header.Get("ETag") != fmt.Sprintf(`"%d"`, b.Version) {
			t.Fatalf("generation %d -> %d, version %d -> %d", a.Status.Generation, b.Status.Generation, a.Version, b.Version)
		}
		// null restores a default.
		c := patch(f, map[string]any{"spec": map[string]any{"replicas": nil, "command": nil}}).want(200).app()
		if c.Spec.Replicas != 1 || len(c.Spec.Command) != 0 {
			t.Fatalf("spec = %+v", c.Spec)
		}
		// An empty patch changes nothing, not even the version.
		d := patch(f, map[string]any{}).want(200).app()
		e := patch(f, map[string]any{"spec": map[string]any{"image": "nginx:1"}}).want(200).app()
		if d.Version != c.Version || e.Version != c.Version {
			t.Fatalf("no-op patch moved the version: %d %d %d", c.Version, d.Version, e.Version)
		}
		// application/json is accepted too.
		f.do(f.alice.token, "PATCH", "/api/paas/apps/"+a.Id.String(), map[string]any{"spec": map[string]any{"port": 3000}}).want(200)
	})
	t.Run("if-match", func(t *testing.T) {
		f := f.on(t)
		cur := f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200)
		etag := cur.Header.Get("ETag")
		before := f.state()
		patch(f, map[string]any{"spec": map[string]any{"replicas": 2}}, "If-Match", `"1"`).problem(412, "precondition-failed")
		if f.state() != before {
			t.Fatal("a refused patch changed state")
		}
		patch(f, map[string]any{"spec": map[string]any{"replicas": 2}}, "If-Match", etag).want(200)
		patch(f, map[string]any{"spec": map[string]any{"replicas": 1}}, "If-Match", etag).problem(412, "precondition-failed")
	})
	t.Run("rejections change nothing", func(t *testing.T) {
		f := f.on(t)
		for _, tc := range []struct {
			name  string
			body  any
			code  int
			field string
		}{
			{"read-only name", map[string]any{"name": "other"}, 422, "name"},
			{"read-only status", map[string]any{"status": map[string]any{"phase": "Running"}}, 422, "status"},
			{"unknown field", map[string]any{"labels": map[string]any{}}, 400, "labels"},
			{"unknown spec field", map[string]any{"spec": map[string]any{"cpu": 2}}, 400, "spec.cpu"},
			{"null spec", raw{"application/merge-patch+json", `{"spec":null}`}, 422, "spec"},
			{"spec array", raw{"application/merge-patch+json", `{"spec":[1]}`}, 400, "spec"},
			{"replicas over plan", map[string]any{"spec": map[string]any{"replicas": 11}}, 422, "spec.replicas"},
			{"plan too small for replicas", map[string]any{"spec": map[string]any{"plan": "hobby", "replicas": 2}}, 422, "spec.replicas"},
			{"bad image", map[string]any{"spec": map[string]any{"image": "::"}}, 422, "spec.image"},
			{"image removed", raw{"application/merge-patch+json", `{"spec":{"image":null}}`}, 422, "spec.image"},
			{"env PORT", map[string]any{"spec": map[string]any{"env": map[string]any{"PORT": "80"}}}, 422, "spec.env.PORT"},
			{"env not object", map[string]any{"spec": map[string]any{"env": "A=1"}}, 400, "spec.env"},
			{"huge number", raw{"application/merge-patch+json", `{"spec":{"replicas":1e400}}`}, 400, ""},
			{"bad JSON", raw{"application/merge-patch+json", `{"spec":`}, 400, ""},
			{"text body", raw{"text/plain", `replicas=3`}, 415, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := f.on(t)
				before := f.state()
				want := map[int]string{400: "malformed-request", 415: "unsupported-media-type", 422: "validation-failed"}[tc.code]
				p := patch(f, tc.body).problem(tc.code, want)
				if tc.field != "" {
					fieldErr(t, p, tc.field)
				}
				if f.state() != before {
					t.Fatal("a refused patch changed state")
				}
			})
		}
	})
	t.Run("limit named when replicas exceed the plan", func(t *testing.T) {
		p := patch(f, map[string]any{"spec": map[string]any{"replicas": 11}}).problem(422, "validation-failed")
		if p.Limit != "plan.max_replicas" || p.LimitValue == nil || *p.LimitValue != 10 {
			t.Fatalf("problem = %+v", p)
		}
	})
	t.Run("audited", func(t *testing.T) {
		f := f.on(t)
		entries, _ := f.s.ListAudit(ctx, 50)
		found := false
		for _, e := range entries {
			if e.Action == "app.update" && e.TargetID == a.Id.String() && e.ActorUserID.UUID == f.alice.ID && strings.Contains(string(e.Details), `"replicas"`) {
				found = true
			}
			if strings.Contains(string(e.Details), `"x"`) {
				t.Fatalf("audit details carry an env value: %s", e.Details)
			}
		}
		if !found {
			t.Fatal("no app.update audit entry")
		}
	})
}

func TestDeleteApp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	d := f.do(f.alice.token, "DELETE", "/api/paas/apps/web", nil).want(202).app()
	if d.Status.Phase != "Deleting" || d.DeletedAt == nil {
		t.Fatalf("deleted app = %+v", d)
	}
	// Still listed, as Deleting, until the reconciler removes the row.
	if got := f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200).app(); got.Status.Phase != "Deleting" {
		t.Fatalf("phase %s", got.Status.Phase)
	}
	// Repeating is harmless.
	again := f.do(f.alice.token, "DELETE", "/api/paas/apps/"+a.Id.String(), nil).want(202).app()
	if again.Version != d.Version {
		t.Fatal("a repeated delete wrote again")
	}
	// Writes to a deleting app conflict and change nothing.
	before := f.state()
	f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"replicas": 0}}).problem(409, "conflict")
	f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 0}).problem(409, "conflict")
	f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"A": "1"}}).problem(409, "conflict")
	f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "web", "spec": map[string]any{"image": "nginx"}}).problem(409, "conflict")
	if f.state() != before {
		t.Fatal("refused writes changed state")
	}
	// Once the reconciler has removed the row, the app is gone and its name free.
	if n, err := f.s.DeleteAppRow(ctx, a.Id); err != nil || n != 1 {
		t.Fatalf("delete row: %d %v", n, err)
	}
	f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).problem(404, "not-found")
	f.do(f.alice.token, "DELETE", "/api/paas/apps/web", nil).problem(404, "not-found")
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
}

func TestAppActions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "plan": "standard"})
	post := func(action string, body any) *res {
		return f.do(f.alice.token, "POST", "/api/paas/apps/web/"+action, body)
	}

	t.Run("scale", func(t *testing.T) {
		f := f.on(t)
		if a := post("scale", map[string]any{"replicas": 3}).want(202).app(); a.Spec.Replicas != 3 {
			t.Fatalf("replicas %d", a.Spec.Replicas)
		}
		before := f.state()
		p := post("scale", map[string]any{"replicas": 4}).problem(422, "validation-failed")
		if fieldErr(t, p, "replicas"); p.Limit != "plan.max_replicas" || *p.LimitValue != 3 {
			t.Fatalf("problem = %+v", p)
		}
		post("scale", map[string]any{"replicas": -1}).problem(422, "validation-failed")
		post("scale", map[string]any{}).problem(422, "validation-failed")
		post("scale", map[string]any{"replicas": "3"}).problem(400, "malformed-request")
		post("scale", map[string]any{"replicas": 1, "force": true}).problem(400, "malformed-request")
		if f.state() != before {
			t.Fatal("refused scales changed state")
		}
		if a := post("scale", map[string]any{"replicas": 0}).want(202).app(); a.Spec.Replicas != 0 {
			t.Fatalf("replicas %d", a.Spec.Replicas)
		}
		post("scale", map[string]any{"replicas": 2}).want(202)
	})
	t.Run("stop and start", func(t *testing.T) {
		f := f.on(t)
		a := post("stop", nil).want(202).app()
		if !a.Spec.Stopped || a.Spec.Replicas != 2 {
			t.Fatalf("stopped spec = %+v", a.Spec)
		}
		// Restarting a stopped app makes no sense.
		before := f.state()
		post("restart", nil).problem(409, "conflict")
		if f.state() != before {
			t.Fatal("refused restart changed state")
		}
		b := post("start", nil).want(202).app()
		if b.Spec.Stopped || b.Spec.Replicas != 2 || b.Status.Generation <= a.Status.Generation {
			t.Fatalf("started spec = %+v", b)
		}
	})
	t.Run("restart", func(t *testing.T) {
		f := f.on(t)
		a := f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200).app()
		b := post("restart", nil).want(202).app()
		c := post("restart", nil).want(202).app()
		if b.RestartCount != a.RestartCount+1 || c.RestartCount != a.RestartCount+2 || c.Status.Generation <= b.Status.Generation {
			t.Fatalf("restart counts %d %d %d", a.RestartCount, b.RestartCount, c.RestartCount)
		}
	})
	t.Run("audit", func(t *testing.T) {
		f := f.on(t)
		entries, _ := f.s.ListAudit(context.Background(), 100)
		seen := map[string]bool{}
		for _, e := range entries {
			seen[e.Action] = true
		}
		for _, a := range []string{"app.create", "app.scale", "app.stop", "app.start", "app.restart"} {
			if !seen[a] {
				t.Errorf("no %s in the audit log", a)
			}
		}
	})
}

// TestListCacheSeesEveryChange changes, behind the API's back, each thing
// a listed app shows; the next lists must show it. Without change
// notifications a cached page is reused only while the organization's
// fingerprint is unchanged, so the very next list shows the change; with
// them (CacheRecheck an hour, so only notifications can refresh a page) it
// shows as soon as the change is announced.
func TestListCacheSeesEveryChange(t *testing.T) {
	t.Parallel()
	for _, follow := range []bool{false, true} {
		t.Run(fmt.Sprintf("follow=%v", follow), func(t *testing.T) {
			t.Parallel()
			recheck := func(d *v1.Deps) { d.CacheRecheck = time.Hour }
			f := setupUnfollowed(t, recheck)
			if follow {
				f = setup(t, recheck)
			}
			testListCacheSeesEveryChange(t, f, follow)
		})
	}
}

func testListCacheSeesEveryChange(t *testing.T, f *fixture, follow bool) {
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	f.createApp(f.alice.token, "api", map[string]any{"image": "nginx"})
	list := func() map[string]openapi.App {
		var l openapi.AppList
		f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200).decode(&l)
		out := map[string]openapi.App{}
		for _, x := range l.Items {
			out[x.Name] = x
		}
		return out
	}
	// expect checks the lists show a change: the next one without
	// notifications, one within seconds with them.
	expect := func(what string, ok func(map[string]openapi.App) bool) {
		t.Helper()
		if !follow {
			if got := list(); !ok(got) {
				t.Fatalf("%s not seen: %+v", what, got)
			}
			return
		}
		waitFor(t, what+" to show", func() bool { return ok(list()) })
	}
	list()
	list() // served from the cache

	f.setPhase(a.Id, "Running")
	expect("status change", func(l map[string]openapi.App) bool { return l["web"].Status.Phase == "Running" })
	dep := f.insertRelease(a.Id, store.ReleaseSpec{Image: "nginx", PlanID: f.hobby.ID.String()}, "deploying")
	app, _ := f.s.GetApp(ctx, a.Id)
	if err := f.s.UpdateAppStatus(ctx, store.UpdateAppStatusParams{ID: a.Id, ObservedGeneration: app.Generation, Phase: "Deploying",
		Conditions: json.RawMessage(`[]`), CurrentDeploymentID: nullUUID(dep.ID)}); err != nil {
		t.Fatal(err)
	}
	expect("release", func(l map[string]openapi.App) bool {
		cd := l["web"].Status.CurrentDeployment
		return cd != nil && cd.Status == "deploying"
	})
	// The release finishes without the app row changing.
	now := time.Now()
	if _, err := f.s.FinishDeployment(ctx, store.FinishDeploymentParams{ID: dep.ID, Status: "deployed", FinishedAt: &now}); err != nil {
		t.Fatal(err)
	}
	expect("release status", func(l map[string]openapi.App) bool {
		cd := l["web"].Status.CurrentDeployment
		return cd != nil && cd.Status == "deployed"
	})
	// A domain is added, then removed.
	d, err := f.s.CreateDomain(ctx, store.CreateDomainParams{AppID: a.Id, Hostname: "web.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	expect("domain", func(l map[string]openapi.App) bool { return len(l["web"].Spec.Domains) == 1 })
	// The route loop routes it: only its status changes.
	if _, err := f.s.Pool.Exec(ctx, `UPDATE paas_domains SET status = 'routed' WHERE id = $1`, d.ID); err != nil {
		t.Fatal(err)
	}
	expect("domain routed", func(l map[string]openapi.App) bool { return len(l["web"].Status.Urls) == 1 })
	// A default domain is set: the app's default hostname shows once routed.
	if _, err := f.s.Pool.Exec(ctx, `UPDATE paas_apps SET conditions = '[{"type":"Routed","status":"True","reason":"Routed","message":"m","last_transition_time":"2026-01-02T03:04:05Z"}]' WHERE id = $1`, a.Id); err != nil {
		t.Fatal(err)
	}
	expect("routed condition", func(l map[string]openapi.App) bool { return len(l["web"].Status.Conditions) == 1 })
	f.setSetting("default_domain", "apps.example.net")
	expect("default domain", func(l map[string]openapi.App) bool { return len(l["web"].Status.Urls) == 2 })
	if _, err := f.s.DeleteDomain(ctx, store.DeleteDomainParams{AppID: a.Id, ID: d.ID}); err != nil {
		t.Fatal(err)
	}
	expect("domain removal", func(l map[string]openapi.App) bool {
		return len(l["web"].Status.Urls) == 1 && len(l["web"].Spec.Domains) == 0
	})
	// An env change written directly.
	sealed, _ := f.box.Seal([]byte("direct"), secret.EnvAD(a.Id, "DIRECT"))
	if err := f.s.UpsertEnvVar(ctx, store.UpsertEnvVarParams{AppID: a.Id, Key: "DIRECT", ValueEncrypted: sealed}); err != nil {
		t.Fatal(err)
	}
	expect("env change", func(l map[string]openapi.App) bool { return l["web"].Spec.Env["DIRECT"] == "direct" })
	// A plan is renamed.
	if _, err := f.s.Pool.Exec(ctx, "UPDATE paas_plans SET name = 'hobby-2' WHERE id = $1", f.hobby.ID); err != nil {
		t.Fatal(err)
	}
	expect("plan rename", func(l map[string]openapi.App) bool { return l["web"].Spec.Plan == "hobby-2" })
	// An app disappears and another takes a name.
	api := list()["api"]
	if _, err := f.s.MarkAppDeleted(ctx, api.Id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.DeleteAppRow(ctx, api.Id); err != nil {
		t.Fatal(err)
	}
	expect("deletion", func(l map[string]openapi.App) bool { return len(l) == 1 })
	f.createApp(f.alice.token, "api", map[string]any{"image": "nginx:2"})
	// A write through the API shows at once, notifications or not.
	if got := list()["api"]; got.Spec.Image != "nginx:2" {
		t.Fatalf("new app not seen: %+v", got.Spec)
	}
}

// firstListed answers the first app GET /api/paas/apps lists.
func (f *fixture) firstListed(token string) openapi.App {
	f.t.Helper()
	var l openapi.AppList
	f.do(token, "GET", "/api/paas/apps", nil).want(200).decode(&l)
	if len(l.Items) == 0 {
		f.t.Fatal("no app listed")
	}
	return l.Items[0]
}

// TestWritesInvalidateBeforeAnswering checks a client reads its own writes
// even before their notifications arrive: with a listener that never
// delivers any, a change made behind the API's back stays hidden (the
// cache is in use), while every write through the API shows in the very
// next read.
func TestWritesInvalidateBeforeAnswering(t *testing.T) {
	t.Parallel()
	f := setupUnfollowed(t, func(d *v1.Deps) { d.CacheRecheck = time.Hour })
	f.api.PretendFollowing()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "plan": "pro"})
	first := func() openapi.App { return f.firstListed(f.alice.token) }
	first()
	f.setPhase(a.Id, "Running")
	if got := first(); got.Status.Phase != "Pending" {
		t.Fatalf("phase %s: the page was not served from the cache", got.Status.Phase)
	}
	// Writes without credentials, or refused, change nothing and keep
	// the caches: the page is still the cached one.
	f.do("", "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 3}).problem(401, "unauthorized")
	f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": -1}).want(422)
	if got := first(); got.Status.Phase != "Pending" {
		t.Fatalf("phase %s: a refused write dropped the cached page", got.Status.Phase)
	}
	f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 3}).want(202)
	if got := first(); got.Spec.Replicas != 3 || got.Status.Phase != "Running" {
		t.Fatalf("after a scale: replicas %d, phase %s", got.Spec.Replicas, got.Status.Phase)
	}
	var tok openapi.CreatedAPIToken
	f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "t"}).want(201).decode(&tok)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	f.do(f.alice.token, "DELETE", "/api/auth/tokens/"+tok.Id.String(), nil).want(204)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).problem(401, "unauthorized")
}

// TestConcurrentMissesShareOneRender lists from many clients at once right
// after a write: every answer shows the write, and the page is rendered
// once per wave of clients, not once per client.
func TestConcurrentMissesShareOneRender(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.CacheRecheck = time.Hour })
	f.setSetting("max_apps_per_org", "0")
	for i := 0; i < 20; i++ {
		f.createApp(f.alice.token, fmt.Sprintf("app-%02d", i), map[string]any{"image": "nginx"})
	}
	f.firstListed(f.alice.token)
	f.do(f.alice.token, "POST", "/api/paas/apps/app-00/scale", map[string]any{"replicas": 0}).want(202)
	before := f.api.PagesRendered()
	const clients = 20
	var wg sync.WaitGroup
	replicas := make(chan int, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replicas <- f.firstListed(f.alice.token).Spec.Replicas
		}()
	}
	wg.Wait()
	close(replicas)
	for r := range replicas {
		if r != 0 {
			t.Fatalf("a client saw %d replicas after the scale to 0", r)
		}
	}
	if n := f.api.PagesRendered() - before; n < 1 || n > clients/2 {
		t.Fatalf("%d renders for %d concurrent clients", n, clients)
	}
}

// TestCachedAnswersFollowNotifications checks what the in-memory caches
// promise while Run follows change notifications (CacheRecheck an hour, so
// nothing else refreshes them): writes through the API show at once,
// changes made elsewhere as soon as they are announced, and changes made
// while the listener was down once it is back.
func TestCachedAnswersFollowNotifications(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.CacheRecheck = time.Hour; d.ReconnectDelay = 500 * time.Millisecond })
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "plan": "pro"})
	first := func() openapi.App { return f.firstListed(f.alice.token) }
	first()
	h0, _ := f.api.ListCacheStats()
	first()
	if h1, _ := f.api.ListCacheStats(); h1 != h0+1 {
		t.Fatalf("cache hits %d -> %d: an unchanged page was not reused", h0, h1)
	}

	// A write through the API shows at once.
	f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 4}).want(202)
	if got := first(); got.Spec.Replicas != 4 {
		t.Fatalf("replicas %d right after a scale", got.Spec.Replicas)
	}
	var tok openapi.CreatedAPIToken
	f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "t"}).want(201).decode(&tok)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200) // cached credentials
	f.do(f.alice.token, "DELETE", "/api/auth/tokens/"+tok.Id.String(), nil).want(204)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).problem(401, "unauthorized")

	// A change made elsewhere shows once announced.
	f.setPhase(a.Id, "Running")
	waitFor(t, "the phase change to show", func() bool { return first().Status.Phase == "Running" })

	// Losing a membership elsewhere ends access once announced.
	f.do(f.carol.token, "GET", "/api/paas/apps", nil, "X-Paas-Organization", "acme").want(200)
	if _, err := f.s.APIRemoveMembership(ctx, store.APIRemoveMembershipParams{OrganizationID: f.acme.ID, UserID: f.carol.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lost membership to take effect", func() bool {
		return f.do(f.carol.token, "GET", "/api/paas/apps", nil, "X-Paas-Organization", "acme").Code == 404
	})

	// Changes made while the listener is down show once it is back, and
	// while it is down nothing is served from memory.
	var killed int
	if err := f.s.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, v1.ChangesApplicationName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", killed, err)
	}
	waitFor(t, "the listener to notice", func() bool { return !f.api.Following() })
	f.setPhase(a.Id, "Degraded")
	if got := first(); got.Status.Phase != "Degraded" {
		t.Fatalf("phase %s after a change made while the listener was down", got.Status.Phase)
	}
	f.setPhase(a.Id, "Stopped")
	waitFor(t, "the listener to reconnect", f.api.Following)
	if got := first(); got.Status.Phase != "Stopped" {
		t.Fatalf("phase %s after the listener reconnected", got.Status.Phase)
	}
}

func TestListAppsCompression(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := 0; i < 5; i++ {
		f.createApp(f.alice.token, fmt.Sprintf("app-%d", i), map[string]any{"image": "nginx"})
	}
	plain := f.do(f.alice.token, "GET", "/api/paas/apps", nil, "Accept-Encoding", "identity").want(200)
	if plain.Header.Get("Content-Encoding") != "" || plain.Header.Get("Content-Length") != strconv.Itoa(len(plain.Body)) {
		t.Fatalf("identity answer headers %v", plain.Header)
	}
	for i := 0; i < 2; i++ { // rendered, then from the cache
		gz := f.do(f.alice.token, "GET", "/api/paas/apps", nil, "Accept-Encoding", "br, gzip;q=0.8").want(200)
		if gz.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(gz.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("gzip answer headers %v", gz.Header)
		}
		r, err := gzip.NewReader(bytes.NewReader(gz.Body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		if !bytes.Equal(body, plain.Body) {
			t.Fatalf("gzipped body differs:\n%s\n%s", body, plain.Body)
		}
	}
	if r := f.do(f.alice.token, "GET", "/api/paas/apps", nil, "Accept-Encoding", "gzip;q=0"); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent though refused")
	}
}

// TestListCacheHits checks an unchanged organization's page is reused, for
// login and API tokens alike (the fingerprint read with the credentials
// matches the one stored with the page).
func TestListCacheHits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	var tok openapi.CreatedAPIToken
	f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "t"}).want(201).decode(&tok)
	first := f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200)
	h0, m0 := f.api.ListCacheStats()
	for _, token := range []string{f.alice.token, tok.Token, f.alice.token} {
		if r := f.do(token, "GET", "/api/paas/apps", nil).want(200); !bytes.Equal(r.Body, first.Body) {
			t.Fatalf("cached page differs:\n%s\n%s", r.Body, first.Body)
		}
	}
	h1, m1 := f.api.ListCacheStats()
	if h1-h0 != 3 || m1 != m0 {
		t.Fatalf("hits %d -> %d, misses %d -> %d", h0, h1, m0, m1)
	}
	// Carol, of both organizations, names acme: the same page.
	if r := f.do(f.carol.token, "GET", "/api/paas/apps", nil, "X-Paas-Organization", "acme").want(200); !bytes.Equal(r.Body, first.Body) {
		t.Fatal("carol's page differs")
	}
	// Another organization never gets acme's page.
	var l openapi.AppList
	f.do(f.bob.token, "GET", "/api/paas/apps", nil).want(200).decode(&l)
	if len(l.Items) != 0 {
		t.Fatalf("bob sees %+v", l.Items)
	}
}
