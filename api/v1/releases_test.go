package v1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
)

func TestDeployments(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1", "env": map[string]any{"A": "1"}})
	hc := &store.HealthCheck{Path: "/health", Retries: 2}
	d1 := f.insertRelease(a.Id, store.ReleaseSpec{Image: "paas-testapp:v1", Port: 8080, PlanID: f.hobby.ID.String(), PlanName: "hobby",
		Env: f.sealEnv(a.Id, map[string]string{"A": "1"}), HealthCheck: hc, Command: []string{"/testapp"}}, "deployed")
	f.bumpGeneration(a.Id)
	d2 := f.insertRelease(a.Id, store.ReleaseSpec{Image: "paas-testapp:v2", Port: 8080, PlanID: f.hobby.ID.String(), PlanName: "hobby"}, "deploying")

	t.Run("list newest first, paginated", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		var l openapi.DeploymentList
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments?limit=1", nil).want(200).decode(&l)
		if len(l.Items) != 1 || l.Items[0].Version != 2 || l.NextCursor == "" {
			t.Fatalf("page 1 = %+v", l)
		}
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments?limit=1&cursor="+l.NextCursor, nil).want(200).decode(&l)
		if len(l.Items) != 1 || l.Items[0].Version != 1 || l.NextCursor != "" {
			t.Fatalf("page 2 = %+v", l)
		}
		d := l.Items[0]
		if d.Status != "deployed" || d.Spec.Plan != "hobby" || strings.Join(d.Spec.EnvKeys, ",") != "A" || d.Spec.HealthCheck == nil ||
			*d.Spec.HealthCheck.Path != "/health" || d.Spec.Command[0] != "/testapp" || d.FinishedAt == nil || d.ImageResolved == "" {
			t.Fatalf("release 1 = %+v", d)
		}
		if strings.Contains(string(f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments", nil).Body), "value") {
			t.Fatal("release listing shows sealed env")
		}
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments?cursor=bad!", nil).problem(400, "malformed-request")
	})
	t.Run("get by id or version", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		var byID, byVersion openapi.Deployment
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments/"+d2.ID.String(), nil).want(200).decode(&byID)
		f.do(f.alice.token, "GET", fmt.Sprintf("/api/paas/apps/%s/deployments/2", a.Id), nil).want(200).decode(&byVersion)
		if byID.Id != d2.ID || byVersion.Id != d2.ID || byID.Status != "deploying" || byID.Spec.Image != "paas-testapp:v2" {
			t.Fatalf("by id %+v, by version %+v", byID, byVersion)
		}
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments/3", nil).problem(404, "not-found")
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments/latest", nil).problem(404, "not-found")
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments/0", nil).problem(404, "not-found")
	})
	t.Run("rollout log", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		r := f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments/1/logs", nil).want(200)
		if string(r.Body) != "rolled out\n" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("log = %q (%s)", r.Body, r.Header.Get("Content-Type"))
		}
		f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments/9/logs", nil).problem(404, "not-found")
	})
	_ = d1
}

func TestDeployNewImage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})
	b := f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "paas-testapp:v2"}).want(202).app()
	if b.Spec.Image != "paas-testapp:v2" || b.Status.Generation != a.Status.Generation+1 {
		t.Fatalf("after deploy: %+v", b)
	}
	// The same image again changes nothing.
	c := f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "paas-testapp:v2"}).want(202).app()
	if c.Version != b.Version {
		t.Fatal("redeploying the same image wrote")
	}
	before := f.state()
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "Not An Image"}).problem(422, "validation-failed")
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{}).problem(422, "validation-failed")
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "x", "tag": "y"}).problem(400, "malformed-request")
	if f.state() != before {
		t.Fatal("refused deploys changed state")
	}
	// Digests and registries parse.
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "registry.example.com:5000/team/app@sha256:" + strings.Repeat("a", 64)}).want(202)
}

func TestRollback(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1", "port": 8080,
		"env": map[string]any{"MODE": "one", "OLD": "x"}, "health_check": map[string]any{"path": "/health"}})
	f.insertRelease(a.Id, store.ReleaseSpec{Image: "paas-testapp:v1", Port: 8080, PlanID: f.hobby.ID.String(), PlanName: "hobby",
		HealthCheck: &store.HealthCheck{Path: "/health"}, Env: f.sealEnv(a.Id, map[string]string{"MODE": "one", "OLD": "x"})}, "deployed")
	// Release 2 changed image, port, plan, command, health check and env.
	f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"image": "paas-testapp:v2", "port": 9000, "plan": "pro",
		"replicas": 1, "command": []string{"/testapp"}, "health_check": nil, "env": map[string]any{"MODE": "two", "OLD": nil, "NEW": "y"}}}).want(200)
	cur, _ := f.s.GetApp(ctx, a.Id)
	f.insertRelease(a.Id, store.ReleaseSpec{Image: "paas-testapp:v2", Port: 9000, PlanID: f.pro.ID.String(), PlanName: "pro",
		Command: []string{"/testapp"}, Env: f.sealEnv(a.Id, map[string]string{"MODE": "two", "NEW": "y"})}, "failed")

	t.Run("unknown version", func(t *testing.T) {
		f := f.on(t)
		before := f.state()
		f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 7}).problem(404, "not-found")
		f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 0}).problem(422, "validation-failed")
		f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{}).problem(422, "validation-failed")
		f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": "1"}).problem(400, "malformed-request")
		if f.state() != before {
			t.Fatal("refused rollbacks changed state")
		}
	})
	t.Run("restores spec and env in one write", func(t *testing.T) {
		f := f.on(t)
		b := f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 1}).want(202).app()
		if b.Spec.Image != "paas-testapp:v1" || b.Spec.Port != 8080 || b.Spec.Plan != "hobby" || len(b.Spec.Command) != 0 ||
			b.Spec.HealthCheck == nil || *b.Spec.HealthCheck.Path != "/health" ||
			len(b.Spec.Env) != 2 || b.Spec.Env["MODE"] != "one" || b.Spec.Env["OLD"] != "x" || b.Status.Generation <= cur.Generation {
			t.Fatalf("after rollback: %+v", b.Spec)
		}
		entries, _ := f.s.ListAudit(ctx, 5)
		if entries[0].Action != "app.rollback" || !strings.Contains(string(entries[0].Details), `"version": 1`) {
			t.Fatalf("audit = %s %s", entries[0].Action, entries[0].Details)
		}
	})
	t.Run("refused when the replicas exceed the release's plan", func(t *testing.T) {
		f := f.on(t)
		f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 2}).want(202)
		f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 4}).want(202)
		before := f.state()
		p := f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 1}).problem(409, "conflict")
		if !strings.Contains(p.Detail, "scale it down") {
			t.Fatalf("detail %q", p.Detail)
		}
		if f.state() != before {
			t.Fatal("refused rollback changed state")
		}
	})
}

// TestReleaseNamesItsBuild: a release whose image pins a build's digest
// names that build (number, ref, commit, trigger), in the list and alone,
// and so does a later release of the same image (a rollback); a release of
// an image that no build produced, or of a failed build's, names none.
func TestReleaseNamesItsBuild(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})
	ctx := context.Background()
	digest := "sha256:" + strings.Repeat("cd", 32)
	pinned := "registry.test:5000/acme/web@" + digest
	if _, err := f.s.Pool.Exec(ctx, `INSERT INTO paas_builds (app_id, number, ref, trigger, status, commit_sha, image, image_digest, duration_ms)
		VALUES ($1, 1, 'main', 'webhook', 'succeeded', $2, 'registry.test:5000/acme/web:b1', $3, 4200),
		       ($1, 2, 'main', 'api', 'build_failed', $2, 'registry.test:5000/acme/web:b2', $4, 100)`,
		a.Id, strings.Repeat("f", 40), digest, "sha256:"+strings.Repeat("ee", 32)); err != nil {
		t.Fatal(err)
	}
	rel := func(image string) store.ReleaseSpec {
		return store.ReleaseSpec{Image: image, Port: 8080, PlanID: f.hobby.ID.String(), PlanName: "hobby"}
	}
	f.insertRelease(a.Id, rel("paas-testapp:v1"), "deployed")
	f.bumpGeneration(a.Id)
	f.insertRelease(a.Id, rel(pinned), "deployed")
	f.bumpGeneration(a.Id)
	f.insertRelease(a.Id, rel("registry.test:5000/acme/web@sha256:"+strings.Repeat("ee", 32)), "failed")
	f.bumpGeneration(a.Id)
	f.insertRelease(a.Id, rel(pinned), "deployed") // a rollback to version 2

	var l openapi.DeploymentList
	f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments", nil).want(200).decode(&l)
	if len(l.Items) != 4 {
		t.Fatalf("%d releases, want 4", len(l.Items))
	}
	for _, d := range l.Items {
		switch d.Version {
		case 2, 4:
			b := d.Build
			if b == nil || b.Number != 1 || b.Ref != "main" || b.CommitSha != strings.Repeat("f", 40) || b.Trigger != "webhook" ||
				b.DurationMs == nil || *b.DurationMs != 4200 {
				t.Fatalf("release %d names build %+v, want build 1", d.Version, b)
			}
		default:
			if d.Build != nil {
				t.Fatalf("release %d (%s) names build %+v, want none", d.Version, d.Image, *d.Build)
			}
		}
	}
	var one openapi.Deployment
	f.do(f.alice.token, "GET", "/api/paas/apps/web/deployments/4", nil).want(200).decode(&one)
	if one.Build == nil || one.Build.Number != 1 {
		t.Fatalf("release 4 alone names build %+v", one.Build)
	}
}
