package v1_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

func (r *res) domain() openapi.Domain {
	r.t.Helper()
	var d openapi.Domain
	r.decode(&d)
	return d
}

// domainRow reads a domain as the loops see it.
func (f *fixture) domainRow(host string) store.Domain {
	f.t.Helper()
	var d store.Domain
	err := f.s.Pool.QueryRow(context.Background(),
		`SELECT id, status, verification_token, verify_requested_at FROM paas_domains WHERE hostname = $1`, host).
		Scan(&d.ID, &d.Status, &d.VerificationToken, &d.VerifyRequestedAt)
	if err != nil {
		f.t.Fatalf("domain %s: %v", host, err)
	}
	return d
}

// exec runs SQL as a reconciler would, to simulate the loops.
func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.s.Pool.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatal(err)
	}
}

func TestDomainRoutes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	base := "/api/paas/apps/web/domains"

	r := f.do(f.alice.token, "POST", base, map[string]any{"hostname": " WWW.Example.COM. "}).want(201)
	d := r.domain()
	row := f.domainRow("www.example.com")
	if d.Hostname != "www.example.com" || d.Status != "pending" || d.Id != row.ID || d.LastError != "" || d.CheckedAt != nil ||
		d.Verification.Type != "TXT" || d.Verification.Name != "_paas-verify.www.example.com" ||
		d.Verification.Value == nil || *d.Verification.Value != "paas-verify="+row.VerificationToken {
		t.Fatalf("created %+v (row %+v)", d, row)
	}
	if loc := r.Header.Get("Location"); loc != "/api/paas/apps/"+web.Id.String()+"/domains/"+d.Id.String() {
		t.Fatalf("Location %q", loc)
	}
	f.do(f.alice.token, "POST", base, map[string]any{"hostname": "bücher.example"}).want(201)

	var l openapi.DomainList
	f.do(f.alice.token, "GET", base, nil).want(200).decode(&l)
	if len(l.Items) != 2 || l.Items[0].Hostname != "www.example.com" && l.Items[1].Hostname != "www.example.com" {
		t.Fatalf("list %+v", l)
	}
	f.do(f.alice.token, "GET", base+"?limit=1", nil).want(200).decode(&l)
	if len(l.Items) != 1 || l.NextCursor == "" {
		t.Fatalf("page %+v", l)
	}
	for _, ident := range []string{d.Id.String(), "www.example.com", "WWW.EXAMPLE.COM."} {
		if got := f.do(f.alice.token, "GET", base+"/"+ident, nil).want(200).domain(); got.Id != d.Id {
			t.Fatalf("GET %s: %+v", ident, got)
		}
	}
	// The app shows its domains in spec; none is routed yet, so no URL.
	a := f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200).app()
	if strings.Join(a.Spec.Domains, ",") != "www.example.com,xn--bcher-kva.example" || len(a.Status.Urls) != 0 || a.Version <= web.Version {
		t.Fatalf("app spec %+v, urls %v, version %d -> %d", a.Spec.Domains, a.Status.Urls, web.Version, a.Version)
	}

	// verify records the request and nothing else: the loop checks.
	v := f.do(f.alice.token, "POST", base+"/www.example.com/verify", nil).want(202).domain()
	row = f.domainRow("www.example.com")
	if v.VerifyRequestedAt == nil || row.VerifyRequestedAt == nil || v.Status != "pending" || row.Status != "pending" {
		t.Fatalf("verify answered %+v, row %+v", v, row)
	}

	f.do(f.alice.token, "DELETE", base+"/"+d.Id.String(), nil).want(204)
	f.do(f.alice.token, "GET", base+"/"+d.Id.String(), nil).problem(404, "not-found")
	f.do(f.alice.token, "DELETE", base+"/xn--bcher-kva.example", nil).want(204)
	f.do(f.alice.token, "GET", base, nil).want(200).decode(&l)
	if len(l.Items) != 0 {
		t.Fatalf("after removal: %+v", l)
	}
	// The hostname is free again, for any app.
	f.createApp(f.bob.token, "other", map[string]any{"image": "nginx", "domains": []string{"www.example.com"}})

	var n int
	if err := f.s.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM paas_audit_log WHERE action IN ('domain.add', 'domain.verify', 'domain.remove')`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("audit entries %d, %v", n, err)
	}
}

func TestDomainErrors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "domains": []string{"one.example.com"}})
	f.createApp(f.bob.token, "secret-app", map[string]any{"image": "nginx", "domains": []string{"taken.example.com"}})
	f.createApp(f.alice.token, "site", map[string]any{"image": "nginx"})
	gone := f.createApp(f.alice.token, "gone", map[string]any{"image": "nginx", "domains": []string{"gone.example.com"}})
	if _, err := f.s.MarkAppDeleted(context.Background(), gone.Id); err != nil {
		t.Fatal(err)
	}
	f.setSetting("default_domain", "Apps.Example.NET.")
	f.setSetting("max_domains_per_app", "2")
	f.do(f.alice.token, "POST", "/api/paas/apps/web/domains", map[string]any{"hostname": "two.example.com"}).want(201)
	victor := f.addViewer()
	base := "/api/paas/apps/web/domains"

	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		code                      int
		typ, field, detail        string
	}{
		{"invalid hostname", f.alice.token, "POST", base, map[string]any{"hostname": "a_b.example.com"}, 422, "validation-failed", "hostname", "not a valid hostname"},
		{"rule injection", f.alice.token, "POST", base, map[string]any{"hostname": "a.com`) || Host(`evil.com"}, 422, "validation-failed", "hostname", ""},
		{"empty hostname", f.alice.token, "POST", base, map[string]any{"hostname": ""}, 422, "validation-failed", "hostname", "empty"},
		{"no hostname", f.alice.token, "POST", base, map[string]any{}, 422, "validation-failed", "hostname", "required"},
		{"wrong type", f.alice.token, "POST", base, map[string]any{"hostname": 7}, 400, "malformed-request", "", ""},
		{"unknown field", f.alice.token, "POST", base, map[string]any{"hostname": "x.example.com", "tls": true}, 400, "malformed-request", "", ""},
		{"too large", f.alice.token, "POST", base, raw{"application/json", `{"hostname":"` + strings.Repeat("a", 2<<20) + `"}`}, 413, "payload-too-large", "", ""},
		{"under default domain", f.alice.token, "POST", base, map[string]any{"hostname": "web.apps.example.net"}, 422, "validation-failed", "hostname", "every app already has a hostname under apps.example.net"},
		{"the default domain", f.alice.token, "POST", base, map[string]any{"hostname": "apps.example.net"}, 422, "validation-failed", "hostname", "every app already has a hostname under apps.example.net"},
		{"another org's hostname", f.alice.token, "POST", "/api/paas/apps/site/domains", map[string]any{"hostname": "TAKEN.example.com"}, 409, "conflict", "", "already used by another app"},
		{"already the app's", f.alice.token, "POST", base, map[string]any{"hostname": "one.example.com"}, 409, "conflict", "", "already has"},
		{"over the limit", f.alice.token, "POST", base, map[string]any{"hostname": "three.example.com"}, 409, "limit-exceeded", "", "at most 2 domains"},
		{"unknown domain", f.alice.token, "GET", base + "/nope.example.com", nil, 404, "not-found", "", ""},
		{"unknown id", f.alice.token, "POST", base + "/" + uuid.NewString() + "/verify", nil, 404, "not-found", "", ""},
		{"not a hostname", f.alice.token, "DELETE", base + "/a_b", nil, 404, "not-found", "", ""},
		{"another app's domain", f.alice.token, "DELETE", base + "/taken.example.com", nil, 404, "not-found", "", ""},
		{"unknown app", f.alice.token, "GET", "/api/paas/apps/nope/domains", nil, 404, "not-found", "", ""},
		{"deleted app add", f.alice.token, "POST", "/api/paas/apps/gone/domains", map[string]any{"hostname": "x.example.com"}, 409, "conflict", "", "being deleted"},
		{"deleted app verify", f.alice.token, "POST", "/api/paas/apps/gone/domains/gone.example.com/verify", nil, 409, "conflict", "", "being deleted"},
		{"deleted app remove", f.alice.token, "DELETE", "/api/paas/apps/gone/domains/gone.example.com", nil, 409, "conflict", "", "being deleted"},
		{"viewer adds", victor, "POST", base, map[string]any{"hostname": "x.example.com"}, 403, "forbidden", "", "viewer"},
		{"viewer verifies", victor, "POST", base + "/one.example.com/verify", nil, 403, "forbidden", "", "viewer"},
		{"other org lists", f.bob.token, "GET", base, nil, 404, "not-found", "", ""},
		{"other org adds", f.bob.token, "POST", base, map[string]any{"hostname": "x.example.com"}, 404, "not-found", "", ""},
		{"other org removes", f.bob.token, "DELETE", base + "/one.example.com", nil, 404, "not-found", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.on(t)
			before := f.state()
			p := f.do(tc.token, tc.method, tc.path, tc.body).problem(tc.code, tc.typ)
			if tc.field != "" {
				if e := fieldErr(t, p, tc.field); !strings.Contains(e.Message, tc.detail) {
					t.Fatalf("field error %+v, want %q", e, tc.detail)
				}
			} else if !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("detail %q, want %q", p.Detail, tc.detail)
			}
			if strings.Contains(string(f.do(tc.token, tc.method, tc.path, tc.body).Body), "globex") || strings.Contains(p.Detail, "secret-app") {
				t.Fatalf("the answer names another organization: %+v", p)
			}
			if after := f.state(); after != before {
				t.Fatalf("refused request changed state:\n%s\n%s", before, after)
			}
		})
	}
	if p := f.do(f.alice.token, "POST", base, map[string]any{"hostname": "three.example.com"}).problem(409, "limit-exceeded"); p.Limit != "max_domains_per_app" || *p.LimitValue != 2 {
		t.Fatalf("limit problem %+v", p)
	}

	// A viewer reads domains without their proof's value.
	var l openapi.DomainList
	f.do(victor, "GET", base, nil).want(200).decode(&l)
	if len(l.Items) != 2 || l.Items[0].Verification.Value != nil || l.Items[0].Verification.Name == "" {
		t.Fatalf("viewer's list %+v", l)
	}
	if d := f.do(victor, "GET", base+"/one.example.com", nil).want(200).domain(); d.Verification.Value != nil {
		t.Fatalf("viewer's domain %+v", d)
	}
}

// TestApplyDomains: spec.domains, written by create and by merge patch
// (what paasctl apply sends), adds and removes hostnames in the write's
// transaction, all or nothing.
func TestApplyDomains(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.bob.token, "theirs", map[string]any{"image": "nginx", "domains": []string{"taken.example.com"}})
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "domains": []string{"b.example.com", "A.example.com."}})
	if strings.Join(a.Spec.Domains, ",") != "a.example.com,b.example.com" {
		t.Fatalf("created with %v", a.Spec.Domains)
	}
	b := f.domainRow("b.example.com")
	patch := func(spec map[string]any) *res {
		return f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": spec})
	}
	a = patch(map[string]any{"domains": []string{"c.example.com", "b.example.com"}}).want(200).app()
	if strings.Join(a.Spec.Domains, ",") != "b.example.com,c.example.com" || f.domainRow("b.example.com") != b {
		t.Fatalf("patched to %v; b kept its row: %v", a.Spec.Domains, f.domainRow("b.example.com") == b)
	}
	// A patch without domains keeps them.
	if a = patch(map[string]any{"replicas": 0}).want(200).app(); len(a.Spec.Domains) != 2 {
		t.Fatalf("domains lost: %v", a.Spec.Domains)
	}

	for _, tc := range []struct {
		name  string
		spec  map[string]any
		code  int
		field string
	}{
		{"taken hostname with a replica change", map[string]any{"replicas": 1, "domains": []string{"b.example.com", "taken.example.com"}}, 409, ""},
		{"invalid hostname with an image change", map[string]any{"image": "nginx:2", "domains": []string{"b.example.com", "-x.example.com"}}, 422, "spec.domains[1]"},
		{"twice after normalising", map[string]any{"domains": []string{"d.example.com", "D.example.com."}}, 422, "spec.domains[1]"},
		{"not a list", map[string]any{"domains": "d.example.com"}, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.on(t)
			before := f.state()
			r := patch(tc.spec)
			if r.want(tc.code); tc.field != "" {
				fieldErr(t, r.problem(tc.code, ""), tc.field)
			}
			if after := f.state(); after != before {
				t.Fatalf("refused patch changed state:\n%s\n%s", before, after)
			}
		})
	}
	f.setSetting("max_domains_per_app", "2")
	before := f.state()
	f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "many", "spec": map[string]any{"image": "nginx",
		"domains": []string{"m1.example.com", "m2.example.com", "m3.example.com"}}}).problem(409, "limit-exceeded")
	if f.state() != before {
		t.Fatal("a refused create changed state")
	}
	// Fewer hostnames are fine at the limit; null removes every one.
	patch(map[string]any{"domains": []string{"c.example.com"}}).want(200)
	if a = patch(map[string]any{"domains": nil}).want(200).app(); len(a.Spec.Domains) != 0 {
		t.Fatalf("null left %v", a.Spec.Domains)
	}
}

// TestStatusURLs: status.urls shows the default hostname once the route
// loop says the app is Routed, then every routed custom domain.
func TestStatusURLs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx",
		"domains": []string{"www.example.com", "api.example.com", "new.example.com"}})
	urls := func() string {
		t.Helper()
		one := f.do(f.alice.token, "GET", "/api/paas/apps/web", nil).want(200).app()
		var l openapi.AppList
		f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200).decode(&l)
		if len(l.Items) != 1 || !slices.Equal(l.Items[0].Status.Urls, one.Status.Urls) {
			t.Fatalf("list %v, get %v", l.Items, one.Status.Urls)
		}
		return strings.Join(one.Status.Urls, " ")
	}
	routed := func(status string) {
		t.Helper()
		conds, _ := json.Marshal([]openapi.Condition{{Type: "Routed", Status: openapi.ConditionStatus(status), Reason: "Test", Message: "m"}})
		f.exec(`UPDATE paas_apps SET conditions = $2 WHERE id = $1`, a.Id, conds)
	}
	if got := urls(); got != "" {
		t.Fatalf("nothing routed yet: %q", got)
	}
	f.setSetting("default_domain", "apps.example.net")
	if got := urls(); got != "" {
		t.Fatalf("not Routed yet: %q", got)
	}
	routed("True")
	if got := urls(); got != "https://web-acme.apps.example.net" {
		t.Fatalf("routed: %q", got)
	}
	f.exec(`UPDATE paas_domains SET status = 'routed' WHERE hostname IN ('www.example.com', 'api.example.com')`)
	f.exec(`UPDATE paas_domains SET status = 'verified' WHERE hostname = 'new.example.com'`)
	if got := urls(); got != "https://web-acme.apps.example.net https://api.example.com https://www.example.com" {
		t.Fatalf("domains routed: %q", got)
	}
	routed("False")
	f.exec(`UPDATE paas_domains SET status = 'failed' WHERE hostname = 'api.example.com'`)
	if got := urls(); got != "https://www.example.com" {
		t.Fatalf("unrouted: %q", got)
	}
	f.setSetting("default_domain", "")
	routed("True")
	if got := urls(); got != "https://www.example.com" {
		t.Fatalf("no default domain: %q", got)
	}
}

func FuzzCreateDomain(f *testing.F) {
	for _, seed := range []string{
		`{"hostname":"www.example.com"}`,
		`{"hostname":" WWW.Example.COM. "}`,
		`{"hostname":"bücher.example"}`,
		`{"hostname":"xn--bcher-kva.example"}`,
		`{"hostname":"a.com` + "`" + `) || Host(` + "`" + `evil.com"}`,
		`{"hostname":"a.com,b.com"}`,
		`{"hostname":"*.example.com"}`,
		`{"hostname":"10.0.0.1"}`,
		`{"hostname":"web.apps.example.net"}`,
		`{"hostname":"` + strings.Repeat("a.", 130) + `com"}`,
		`{"hostname":"\u0000.com"}`,
		`{"hostname":"\ud800.com"}`,
		`{"hostname":null}`, `{"hostname":1}`, `{}`, `[]`, `null`, `{`, ``, `{"hostname":"a.com"} x`,
	} {
		f.Add([]byte(seed))
	}
	fx := setup(f)
	fx.setSetting("default_domain", "apps.example.net")
	fx.setSetting("max_domains_per_app", "0")
	fx.createApp(fx.alice.token, "web", map[string]any{"image": "nginx"})
	f.Fuzz(func(t *testing.T, body []byte) {
		g := fx.on(t)
		before := g.state()
		r := g.do(g.alice.token, "POST", "/api/paas/apps/web/domains", raw{"application/json", string(body)})
		checkFuzzAnswer(t, g, r, before)
		switch r.Code {
		case http.StatusCreated:
			d := r.domain()
			if norm, err := spec.Hostname(d.Hostname); err != nil || norm != d.Hostname {
				t.Fatalf("accepted %q, which normalises to %q, %v", d.Hostname, norm, err)
			}
			var in struct{ Hostname string }
			_ = json.Unmarshal(body, &in)
			if norm, _ := spec.Hostname(in.Hostname); norm != d.Hostname {
				t.Fatalf("sent %q, stored %q", in.Hostname, d.Hostname)
			}
			g.do(g.alice.token, "DELETE", "/api/paas/apps/web/domains/"+d.Id.String(), nil).want(204)
		case 400, 409, 413, 415, 422:
		default:
			t.Fatalf("unexpected answer: %s", r)
		}
	})
}
