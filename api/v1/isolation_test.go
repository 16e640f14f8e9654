package v1_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
)

// TestOrganizationIsolation walks every organization-scoped operation with
// another organization's ids: each answers 404 as if the object did not
// exist, and changes nothing; without a token each answers 401. A check at
// the end proves the table covers every /api/paas operation of the
// OpenAPI document.
func TestOrganizationIsolation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "env": map[string]any{"KEY": "v"},
		"domains": []string{"www.web.example"}})
	dep := f.insertRelease(web.Id, store.ReleaseSpec{Image: "nginx", PlanID: f.hobby.ID.String(), PlanName: "hobby"}, "deployed")
	bobs := f.createApp(f.bob.token, "bobs", map[string]any{"image": "nginx"})
	acmeApp := web.Id.String()
	f.do(f.alice.token, "PUT", "/api/paas/git-credentials/git.example.com", map[string]any{"username": "ci", "token": "t0ken"}).want(200)
	build, err := f.s.QueueBuild(context.Background(), web.Id, "main", "api")
	if err != nil {
		t.Fatal(err)
	}
	// Alice's app has a source, so a deployment by ref would queue a build.
	if _, err := f.s.UpsertAppSource(context.Background(), store.UpsertAppSourceParams{AppID: web.Id,
		GitUrl: "https://git.example.com/acme/web.git", GitRef: "main", Dockerfile: "Dockerfile", Builder: "dockerfile"}); err != nil {
		t.Fatal(err)
	}

	type call struct {
		op, method, path string
		body             any
		hdrs             []string
	}
	var calls []call
	// Every route naming an app, with Alice's app named by id and by name.
	for _, ref := range []string{acmeApp, "web"} {
		app := "/api/paas/apps/" + ref
		calls = append(calls,
			call{"getApp", "GET", app, nil, nil},
			call{"patchApp", "PATCH", app, map[string]any{"spec": map[string]any{"replicas": 0}}, nil},
			call{"deleteApp", "DELETE", app, nil, nil},
			call{"scaleApp", "POST", app + "/scale", map[string]any{"replicas": 0}, nil},
			call{"stopApp", "POST", app + "/stop", nil, nil},
			call{"startApp", "POST", app + "/start", nil, nil},
			call{"restartApp", "POST", app + "/restart", nil, nil},
			call{"listDeployments", "GET", app + "/deployments", nil, nil},
			call{"createDeployment", "POST", app + "/deployments", map[string]any{"image": "nginx:2"}, nil},
			call{"getDeployment", "GET", app + "/deployments/" + dep.ID.String(), nil, nil},
			call{"getDeployment", "GET", app + "/deployments/1", nil, nil},
			call{"getDeploymentLogs", "GET", app + "/deployments/1/logs", nil, nil},
			call{"rollbackApp", "POST", app + "/rollback", map[string]any{"version": 1}, nil},
			call{"getEnv", "GET", app + "/env", nil, nil},
			call{"putEnv", "PUT", app + "/env", map[string]any{"env": map[string]any{}}, nil},
			call{"deleteEnvVar", "DELETE", app + "/env/KEY", nil, nil},
			call{"importEnv", "POST", app + "/env/import", raw{"text/plain", "KEY=x\n"}, nil},
			call{"exportEnv", "GET", app + "/env/export", nil, nil},
			call{"listAppEvents", "GET", app + "/events", nil, nil},
			call{"listAppEvents", "GET", app + "/events", nil, []string{"Accept", "text/event-stream"}},
			call{"getAppLogs", "GET", app + "/logs", nil, nil},
			call{"getAppMetrics", "GET", app + "/metrics", nil, nil},
			call{"listDomains", "GET", app + "/domains", nil, nil},
			call{"createDomain", "POST", app + "/domains", map[string]any{"hostname": "x.example.com"}, nil},
			call{"getDomain", "GET", app + "/domains/www.web.example", nil, nil},
			call{"verifyDomain", "POST", app + "/domains/www.web.example/verify", nil, nil},
			call{"deleteDomain", "DELETE", app + "/domains/www.web.example", nil, nil},
			call{"watchApps", "GET", "/api/paas/watch?app=" + ref, nil, nil},
			call{"setAppSource", "PUT", app + "/source", map[string]any{"git": map[string]any{"url": "https://git.example.com/x.git"}}, nil},
			call{"createBuild", "POST", app + "/builds", map[string]any{"ref": "main"}, nil},
			call{"getBuild", "GET", app + "/builds/1", nil, nil},
			call{"getBuildLogs", "GET", app + "/builds/1/logs", nil, nil},
			call{"cancelBuild", "POST", app + "/builds/1/cancel", nil, nil},
			call{"createDeployment", "POST", app + "/deployments", map[string]any{"ref": "main"}, nil},
			call{"cancelDeployment", "POST", app + "/deployments/1/cancel", nil, nil},
			call{"cancelDeployment", "POST", app + "/deployments/" + build.ID.String() + "/cancel", nil, nil},
			call{"deleteAppSource", "DELETE", app + "/source", nil, nil},
			call{"rotateWebhookSecret", "POST", app + "/source/webhook-secret", nil, nil},
			call{"getAppSource", "GET", app + "/source", nil, nil},
			call{"deleteBuildCache", "DELETE", app + "/build-cache", nil, nil},
		)
	}
	// Alice's release under Bob's own app.
	calls = append(calls,
		call{"getDeployment", "GET", "/api/paas/apps/" + bobs.Id.String() + "/deployments/" + dep.ID.String(), nil, nil},
		call{"getDeploymentLogs", "GET", "/api/paas/apps/bobs/deployments/" + dep.ID.String() + "/logs", nil, nil},
	)
	// Routes without an app, naming Alice's organization.
	for _, org := range []string{"acme", f.acme.ID.String()} {
		h := []string{"X-Paas-Organization", org}
		calls = append(calls,
			call{"listApps", "GET", "/api/paas/apps", nil, h},
			call{"createApp", "POST", "/api/paas/apps", map[string]any{"name": "intruder", "spec": map[string]any{"image": "nginx"}}, h},
			call{"listPlans", "GET", "/api/paas/plans", nil, h},
			call{"watchApps", "GET", "/api/paas/watch", nil, h},
			call{"getApp", "GET", "/api/paas/apps/web", nil, h},
			call{"getWallet", "GET", "/api/paas/billing/wallet", nil, h},
			call{"listLedger", "GET", "/api/paas/billing/ledger", nil, h},
			call{"getUsage", "GET", "/api/paas/billing/usage", nil, h},
			call{"createCheckout", "POST", "/api/paas/billing/checkout", map[string]any{"amount_micros": 1_000_000}, h},
			call{"listGitCredentials", "GET", "/api/paas/git-credentials", nil, h},
			call{"putGitCredential", "PUT", "/api/paas/git-credentials/git.example.com", map[string]any{"username": "bob", "token": "bobs"}, h},
			call{"deleteGitCredential", "DELETE", "/api/paas/git-credentials/git.example.com", nil, h},
		)
	}

	// The push webhook is public: unsigned, it answers 401 whoever calls.
	covered := map[string]bool{"gitPushWebhook": true, "gitPushWebhookByApp": true}
	f.do(f.bob.token, "POST", "/api/paas/hooks/git/"+acmeApp, map[string]any{"ref": "refs/heads/main"}).problem(http.StatusUnauthorized, "unauthorized")
	for _, c := range calls {
		covered[c.op] = true
		t.Run(c.op+" "+c.method+" "+c.path, func(t *testing.T) {
			f := f.on(t)
			before := f.state()
			f.do(f.bob.token, c.method, c.path, c.body, c.hdrs...).problem(http.StatusNotFound, "not-found")
			r := f.do("", c.method, c.path, c.body, c.hdrs...)
			r.problem(http.StatusUnauthorized, "unauthorized")
			if after := f.state(); after != before {
				t.Fatalf("state changed:\n%s\n%s", before, after)
			}
		})
	}
	// Alice's one build is still the only one, and still queued.
	if bs, err := f.s.ListBuilds(context.Background(), store.ListBuildsParams{AppID: web.Id, Limit: 10}); err != nil || len(bs) != 1 || bs[0].Status != "queued" {
		t.Fatalf("alice's builds after the intrusions: %+v %v", bs, err)
	}
	// Alice still sees her app untouched.
	if a := f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200).app(); a.Version != web.Version || a.Spec.Env["KEY"] != "v" {
		t.Fatalf("alice's app changed: %+v", a)
	}

	spec, err := openapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for path, item := range spec.Paths.Map() {
		if !strings.HasPrefix(path, "/api/paas/") {
			continue
		}
		for _, op := range item.Operations() {
			if !covered[op.OperationID] {
				missing = append(missing, op.OperationID)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("operations not walked: %v", missing)
	}
}

// TestEveryOperationNeedsAToken checks, from the OpenAPI document, that
// every operation not declared public answers 401 without a token.
func TestEveryOperationNeedsAToken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	spec, err := openapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			url := strings.NewReplacer("{app}", "web", "{deployment}", "1", "{key}", "KEY", "{tokenId}", f.alice.ID.String(),
				"{organization}", "acme", "{plan}", "hobby", "{userId}", f.alice.ID.String(), "{user}", "alice@example.com").Replace(path)
			public := op.Security != nil && len(*op.Security) == 0
			r := f.do("", method, url, nil)
			if public {
				if r.Code == http.StatusUnauthorized {
					t.Errorf("%s %s is public but answers 401", method, path)
				}
				continue
			}
			r.problem(http.StatusUnauthorized, "unauthorized")
			n++
		}
	}
	if n < 40 {
		t.Fatalf("only %d protected operations", n)
	}
}

// TestOddBytesNeverFail sends bytes Postgres cannot store as text (NUL,
// invalid UTF-8) wherever the API takes a string from a path, a query, a
// header or a body: each answers 4xx, never 500.
func TestOddBytesNeverFail(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	for _, c := range []struct {
		token, method, path string
		body                any
		hdrs                []string
	}{
		{f.alice.token, "GET", "/api/paas/apps/%00", nil, nil},
		{f.alice.token, "GET", "/api/paas/apps/%ff%fe", nil, nil},
		{f.alice.token, "PATCH", "/api/paas/apps/%00", map[string]any{}, nil},
		{f.alice.token, "GET", "/api/paas/apps/web/deployments/%00", nil, nil},
		{f.alice.token, "DELETE", "/api/paas/apps/web/env/%00", nil, nil},
		{f.alice.token, "PUT", "/api/paas/git-credentials/%00", map[string]any{"username": "u", "token": "t"}, nil},
		{f.alice.token, "DELETE", "/api/paas/git-credentials/%ff", nil, nil},
		{f.alice.token, "PUT", "/api/paas/git-credentials/git.example.com", map[string]any{"username": "u\u0000", "token": "t\u0000"}, nil},
		{f.alice.token, "GET", "/api/paas/apps?org=%00", nil, nil},
		{f.alice.token, "GET", "/api/paas/apps", nil, []string{"X-Paas-Organization", "\xff\xfe"}},
		{f.alice.token, "GET", "/api/paas/watch?app=%00", nil, nil},
		{f.alice.token, "GET", "/api/paas/apps?cursor=AA", nil, nil},
		{"", "POST", "/api/auth/login", map[string]any{"email": "a\u0000@b", "password": "x"}, nil},
		{f.admin.token, "GET", "/api/admin/paas/plans/%00", nil, nil},
		{f.admin.token, "GET", "/api/admin/paas/organizations/%ff", nil, nil},
		{f.admin.token, "GET", "/api/admin/paas/apps?organization=%00", nil, nil},
		{f.admin.token, "GET", "/api/admin/paas/audit?action=%00", nil, nil},
		{f.admin.token, "POST", "/api/admin/paas/organizations", map[string]any{"name": "x", "slug": "x", "owner_email": "\u0000"}, nil},
		{f.admin.token, "POST", "/api/admin/paas/organizations/acme/members", map[string]any{"email": "\u0000", "role": "member"}, nil},
		{f.admin.token, "POST", "/api/admin/paas/users", map[string]any{"email": "a\u0000@b.c", "password": "long enough"}, nil},
		{f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{{"key": "k", "value": "\u0000"}}}, nil},
		{f.admin.token, "POST", "/api/admin/paas/plans", map[string]any{"name": "p", "display_name": "\u0000", "cpu_millis": 1, "memory_mb": 1, "max_replicas": 1, "price_hourly_micros": 0}, nil},
		{f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "\u0000"}, nil},
	} {
		r := f.do(c.token, c.method, c.path, c.body, c.hdrs...)
		if r.Code >= 500 || r.Code < 400 {
			t.Errorf("%s: want a 4xx", r)
		}
	}
}
