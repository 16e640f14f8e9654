package v1_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
)

const envSecret = "s3cr3t-value-viewers-never-see"

// addViewer makes victor, a viewer of acme, and returns his login token.
func (f *fixture) addViewer() string {
	f.t.Helper()
	ctx := context.Background()
	u, err := f.s.CreateUser(ctx, store.CreateUserParams{Email: "victor@example.com", Name: "victor", PasswordHash: passwordHash()})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.AddMembership(ctx, store.AddMembershipParams{OrganizationID: f.acme.ID, UserID: u.ID, Role: "viewer"}); err != nil {
		f.t.Fatal(err)
	}
	return f.api.LoginTokenFor(u.ID)
}

// TestViewerReadsButNeverWrites walks every /api/paas operation as a
// viewer: writes answer 403 and change nothing; reads answer as for a
// member, but no answer carries an env value.
func TestViewerReadsButNeverWrites(t *testing.T) {
	t.Parallel()
	f := setup(t)
	victor := f.addViewer()
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "env": map[string]any{"KEY": envSecret},
		"domains": []string{"www.web.example"}})
	f.insertRelease(web.Id, store.ReleaseSpec{Image: "nginx", PlanID: f.hobby.ID.String(), PlanName: "hobby",
		Env: f.sealEnv(web.Id, map[string]string{"KEY": envSecret})}, "deployed")

	type call struct {
		op, method, path string
		body             any
		hdrs             []string
	}
	app := "/api/paas/apps/web"
	writes := []call{
		{"createApp", "POST", "/api/paas/apps", map[string]any{"name": "other", "spec": map[string]any{"image": "nginx"}}, nil},
		{"patchApp", "PATCH", app, map[string]any{"spec": map[string]any{"replicas": 0}}, nil},
		{"deleteApp", "DELETE", app, nil, nil},
		{"scaleApp", "POST", app + "/scale", map[string]any{"replicas": 0}, nil},
		{"stopApp", "POST", app + "/stop", nil, nil},
		{"startApp", "POST", app + "/start", nil, nil},
		{"restartApp", "POST", app + "/restart", nil, nil},
		{"createDeployment", "POST", app + "/deployments", map[string]any{"image": "nginx:2"}, nil},
		{"rollbackApp", "POST", app + "/rollback", map[string]any{"version": 1}, nil},
		{"putEnv", "PUT", app + "/env", map[string]any{"env": map[string]any{}}, nil},
		{"deleteEnvVar", "DELETE", app + "/env/KEY", nil, nil},
		{"importEnv", "POST", app + "/env/import", raw{"text/plain", "KEY=x\n"}, nil},
		{"createDomain", "POST", app + "/domains", map[string]any{"hostname": "api.web.example"}, nil},
		{"verifyDomain", "POST", app + "/domains/www.web.example/verify", nil, nil},
		{"deleteDomain", "DELETE", app + "/domains/www.web.example", nil, nil},
		{"createCheckout", "POST", "/api/paas/billing/checkout", map[string]any{"amount_micros": 1_000_000}, nil},
		{"setAppSource", "PUT", app + "/source", map[string]any{"git": map[string]any{"url": "https://git.example.com/x.git"}}, nil},
		{"createBuild", "POST", app + "/builds", map[string]any{"ref": "main"}, nil},
		{"cancelBuild", "POST", app + "/builds/1/cancel", nil, nil},
		{"createDeployment", "POST", app + "/deployments", map[string]any{"ref": "main"}, nil},
		{"cancelDeployment", "POST", app + "/deployments/1/cancel", nil, nil},
		{"deleteAppSource", "DELETE", app + "/source", nil, nil},
		{"rotateWebhookSecret", "POST", app + "/source/webhook-secret", nil, nil},
		{"putGitCredential", "PUT", "/api/paas/git-credentials/git.example.com", map[string]any{"username": "ci", "token": "t0ken"}, nil},
		{"deleteGitCredential", "DELETE", "/api/paas/git-credentials/git.example.com", nil, nil},
		{"deleteBuildCache", "DELETE", app + "/build-cache", nil, nil},
	}
	reads := []call{
		{"listApps", "GET", "/api/paas/apps", nil, nil},
		{"getApp", "GET", app, nil, nil},
		{"listDeployments", "GET", app + "/deployments", nil, nil},
		{"getDeployment", "GET", app + "/deployments/1", nil, nil},
		{"getDeploymentLogs", "GET", app + "/deployments/1/logs", nil, nil},
		{"getEnv", "GET", app + "/env", nil, nil},
		{"listAppEvents", "GET", app + "/events", nil, nil},
		{"listPlans", "GET", "/api/paas/plans", nil, nil},
		{"listDomains", "GET", app + "/domains", nil, nil},
		{"getDomain", "GET", app + "/domains/www.web.example", nil, nil},
		{"getWallet", "GET", "/api/paas/billing/wallet", nil, nil},
		{"listLedger", "GET", "/api/paas/billing/ledger", nil, nil},
		{"getUsage", "GET", "/api/paas/billing/usage", nil, nil},
		{"getBuild", "GET", app + "/builds/1", nil, nil},
		{"getBuildLogs", "GET", app + "/builds/1/logs", nil, nil},
		{"getAppSource", "GET", app + "/source", nil, nil},
		{"listGitCredentials", "GET", "/api/paas/git-credentials", nil, nil},
	}
	if _, err := f.s.QueueBuild(context.Background(), web.Id, "main", "api"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UpsertAppSource(context.Background(), store.UpsertAppSourceParams{AppID: web.Id,
		GitUrl: "https://git.example.com/acme/web.git", GitRef: "main", Dockerfile: "Dockerfile", Builder: "dockerfile"}); err != nil {
		t.Fatal(err)
	}
	f.do(f.alice.token, "PUT", "/api/paas/git-credentials/git.example.com", map[string]any{"username": "ci", "token": "t0ken"}).want(200)
	// gitPushWebhook is public and signed (TestGitPushWebhookSignatures).
	covered := map[string]bool{"exportEnv": true, "watchApps": true, "getAppLogs": true, "getAppMetrics": true, "gitPushWebhook": true, "gitPushWebhookByApp": true}
	for _, c := range writes {
		covered[c.op] = true
		t.Run(c.op, func(t *testing.T) {
			f := f.on(t)
			before := f.state()
			p := f.do(victor, c.method, c.path, c.body, c.hdrs...).problem(http.StatusForbidden, "forbidden")
			if !strings.Contains(p.Detail, "viewer") {
				t.Fatalf("detail %q does not say why", p.Detail)
			}
			if after := f.state(); after != before {
				t.Fatalf("state changed:\n%s\n%s", before, after)
			}
		})
	}
	for _, c := range reads {
		covered[c.op] = true
		t.Run(c.op, func(t *testing.T) {
			f := f.on(t)
			r := f.do(victor, c.method, c.path, c.body, c.hdrs...).want(200)
			if strings.Contains(string(r.Body), envSecret) {
				t.Fatalf("a viewer read an env value: %s", r)
			}
		})
	}
	// Env: keys without values, said to be redacted; no dotenv export.
	var env openapi.EnvVars
	f.do(victor, "GET", app+"/env", nil).want(200).decode(&env)
	if v, ok := env.Env["KEY"]; !ok || v != "" || env.Redacted == nil || !*env.Redacted {
		t.Fatalf("viewer's env = %+v", env)
	}
	a := f.do(victor, "GET", app, nil).want(200).app()
	if v, ok := a.Spec.Env["KEY"]; !ok || v != "" || a.EnvRedacted == nil || !*a.EnvRedacted {
		t.Fatalf("viewer's app = %+v", a)
	}
	f.do(victor, "GET", app+"/env/export", nil).problem(http.StatusForbidden, "forbidden")
	// Metrics are a read: without Prometheus configured the viewer is told
	// so, not refused.
	f.do(victor, "GET", app+"/metrics", nil).problem(http.StatusServiceUnavailable, "not-configured")
	// The watch stream redacts too.
	st := f.stream(victor, "/api/paas/watch")
	ev := st.until(5*time.Second, func(e sseEvent) bool { return e.Event == "app" })
	if strings.Contains(ev.Data, envSecret) || !strings.Contains(ev.Data, `"KEY":""`) {
		t.Fatalf("watch event for a viewer: %s", ev.Data)
	}
	st.close()

	// Writers see values: the owner and a member; the list cache keeps
	// their pages apart from the viewer's.
	for _, tok := range []string{f.alice.token, f.carol.token} {
		hdrs := []string{"X-Paas-Organization", "acme"}
		var l openapi.AppList
		f.do(tok, "GET", "/api/paas/apps", nil, hdrs...).want(200).decode(&l)
		if len(l.Items) != 1 || l.Items[0].Spec.Env["KEY"] != envSecret || l.Items[0].EnvRedacted != nil {
			t.Fatalf("a writer's list = %+v", l)
		}
		var env openapi.EnvVars
		f.do(tok, "GET", app+"/env", nil, hdrs...).want(200).decode(&env)
		if env.Env["KEY"] != envSecret || env.Redacted != nil {
			t.Fatalf("a writer's env = %+v", env)
		}
	}
	var l openapi.AppList
	f.do(victor, "GET", "/api/paas/apps", nil).want(200).decode(&l)
	if len(l.Items) != 1 || l.Items[0].Spec.Env["KEY"] != "" {
		t.Fatalf("the viewer's list after writers' = %+v", l)
	}
	// Admins list every app but may not write its env: values are redacted.
	r := f.do(f.admin.token, "GET", "/api/admin/paas/apps", nil).want(200)
	if strings.Contains(string(r.Body), envSecret) {
		t.Fatalf("the admin app list carries env values: %s", r)
	}

	spec, err := openapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for path, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			if strings.HasPrefix(path, "/api/paas/") && !covered[op.OperationID] {
				missing = append(missing, op.OperationID)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("operations not walked: %v", missing)
	}
}

// TestViewerRole: admins grant the viewer role; the caller's role shows
// in /api/auth/me.
func TestViewerRole(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var m openapi.Member
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations/acme/members", map[string]any{"email": "dave@example.com", "role": "viewer"}).want(200).decode(&m)
	if m.Role != "viewer" {
		t.Fatalf("member = %+v", m)
	}
	var me openapi.Me
	f.do(f.dave.token, "GET", "/api/auth/me", nil).want(200).decode(&me)
	if len(me.Organizations) != 1 || me.Organizations[0].Role != "viewer" {
		t.Fatalf("me = %+v", me)
	}
	f.do(f.dave.token, "POST", "/api/paas/apps", map[string]any{"name": "x", "spec": map[string]any{"image": "nginx"}}).problem(403, "forbidden")
	// Promoted to member, dave writes.
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations/acme/members", map[string]any{"email": "dave@example.com", "role": "member"}).want(200)
	f.createApp(f.dave.token, "x", map[string]any{"image": "nginx"})
	p := f.do(f.admin.token, "POST", "/api/admin/paas/organizations/acme/members", map[string]any{"email": "dave@example.com", "role": "admin"}).problem(422, "validation-failed")
	if e := fieldErr(t, p, "role"); !strings.Contains(e.Message, "viewer") {
		t.Fatalf("message %q does not list viewer", e.Message)
	}
}

// TestSecretsAreNeverStored: every answer that needs credentials, and the
// login's, says Cache-Control: no-store, streams included; the public
// OpenAPI document stays cacheable.
func TestSecretsAreNeverStored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "env": map[string]any{"KEY": envSecret}})
	check := func(r *res) {
		t.Helper()
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", r.req, cc)
		}
	}
	check(f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword}).want(200))
	check(f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "t"}).want(201))
	check(f.do(f.alice.token, "GET", "/api/paas/apps/web/env", nil).want(200))
	check(f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"KEY": envSecret}}).want(200))
	check(f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200))
	check(f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200))
	check(f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200)) // from the cache
	check(f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"replicas": 1}}).want(200))
	check(f.do(f.admin.token, "GET", "/api/admin/paas/settings", nil).want(200))
	check(f.do(f.alice.token, "POST", "/api/auth/password", map[string]any{"current_password": testPassword, "new_password": "a brand new secret"}).want(200))
	st := f.stream(f.bob.token, "/api/paas/watch")
	if cc := st.resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("watch: Cache-Control %q, want no-store", cc)
	}
	if cc := f.do("", "GET", "/api/openapi.json", nil).want(200).Header.Get("Cache-Control"); !strings.Contains(cc, "public") {
		t.Errorf("openapi.json: Cache-Control %q", cc)
	}
}
