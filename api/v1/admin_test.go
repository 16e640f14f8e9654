package v1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

func TestPlans(t *testing.T) {
	t.Parallel()
	f := setup(t)

	var cat openapi.PlanList
	f.do(f.alice.token, "GET", "/api/paas/plans", nil).want(200).decode(&cat)
	if len(cat.Items) != 4 || cat.Items[0].Name != "hobby" || cat.Items[0].MaxReplicas != 1 || cat.Items[0].PriceHourlyMicros != 6900 {
		t.Fatalf("catalogue = %+v", cat)
	}

	var p openapi.Plan
	f.do(f.admin.token, "POST", "/api/admin/paas/plans", map[string]any{"name": "tiny", "display_name": "Tiny", "cpu_millis": 100,
		"memory_mb": 128, "max_replicas": 2, "price_hourly_micros": 1000}).want(201).decode(&p)
	if p.Name != "tiny" || !p.Active || p.CpuMillis != 100 {
		t.Fatalf("plan = %+v", p)
	}
	f.do(f.admin.token, "GET", "/api/admin/paas/plans/tiny", nil).want(200)
	f.do(f.admin.token, "GET", "/api/admin/paas/plans/"+p.Id.String(), nil).want(200)
	f.do(f.admin.token, "GET", "/api/admin/paas/plans/nope", nil).problem(404, "not-found")

	before := f.state()
	f.do(f.admin.token, "POST", "/api/admin/paas/plans", map[string]any{"name": "tiny", "display_name": "Tiny", "cpu_millis": 100,
		"memory_mb": 128, "max_replicas": 2, "price_hourly_micros": 1000}).problem(409, "conflict")
	e := f.do(f.admin.token, "POST", "/api/admin/paas/plans", map[string]any{"name": "Bad Name", "cpu_millis": 0, "price_hourly_micros": -1}).problem(422, "validation-failed")
	for _, field := range []string{"name", "display_name", "cpu_millis", "memory_mb", "max_replicas", "price_hourly_micros"} {
		fieldErr(t, e, field)
	}
	f.do(f.admin.token, "PATCH", "/api/admin/paas/plans/tiny", map[string]any{"name": "renamed"}).problem(400, "malformed-request")
	f.do(f.admin.token, "PATCH", "/api/admin/paas/plans/tiny", map[string]any{"max_replicas": 0}).problem(422, "validation-failed")
	if f.state() != before {
		t.Fatal("refused plan writes changed state")
	}

	// An app on the plan keeps it from being deleted.
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "plan": "tiny"})
	q := f.do(f.admin.token, "DELETE", "/api/admin/paas/plans/tiny", nil).problem(409, "conflict")
	if !strings.Contains(q.Detail, "used by 1 apps") {
		t.Fatalf("detail %q", q.Detail)
	}
	// Deactivated, it leaves the catalogue and takes no new apps; the app keeps it.
	f.do(f.admin.token, "PATCH", "/api/admin/paas/plans/tiny", raw{"application/merge-patch+json", `{"active":false,"max_replicas":3}`}).want(200).decode(&p)
	if p.Active || p.MaxReplicas != 3 || p.Name != "tiny" {
		t.Fatalf("patched = %+v", p)
	}
	f.do(f.alice.token, "GET", "/api/paas/plans", nil).want(200).decode(&cat)
	for _, it := range cat.Items {
		if it.Name == "tiny" {
			t.Fatal("inactive plan in the catalogue")
		}
	}
	var all openapi.PlanList
	f.do(f.admin.token, "GET", "/api/admin/paas/plans", nil).want(200).decode(&all)
	if len(all.Items) != 5 {
		t.Fatalf("admin plans = %d", len(all.Items))
	}
	f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "new", "spec": map[string]any{"image": "nginx", "plan": "tiny"}}).problem(422, "validation-failed")
	f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 3}).want(202)

	// Once no app uses it, it goes.
	f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"plan": "pro"}}).want(200)
	f.do(f.admin.token, "DELETE", "/api/admin/paas/plans/tiny", nil).want(204)
	f.do(f.admin.token, "DELETE", "/api/admin/paas/plans/tiny", nil).problem(404, "not-found")
}

func TestAdminOnly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	spec, err := openapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range spec.Paths.Map() {
		if !strings.HasPrefix(path, "/api/admin/") {
			continue
		}
		for method := range item.Operations() {
			url := strings.NewReplacer("{organization}", "acme", "{plan}", "hobby", "{userId}", f.alice.ID.String()).Replace(path)
			before := f.state()
			f.do(f.alice.token, method, url, map[string]any{}).problem(403, "forbidden")
			f.do("", method, url, map[string]any{}).problem(401, "unauthorized")
			if f.state() != before {
				t.Fatalf("%s %s changed state for a non-admin", method, url)
			}
			n++
		}
	}
	if n < 18 {
		t.Fatalf("walked only %d admin operations", n)
	}
}

func TestAdminOrganizationsAndUsers(t *testing.T) {
	t.Parallel()
	f := setup(t)

	var orgs openapi.OrganizationList
	f.do(f.admin.token, "GET", "/api/admin/paas/organizations?limit=2", nil).want(200).decode(&orgs)
	if len(orgs.Items) != 2 || orgs.Items[0].Slug != "acme" || orgs.NextCursor == "" {
		t.Fatalf("page = %+v", orgs)
	}
	f.do(f.admin.token, "GET", "/api/admin/paas/organizations?cursor="+orgs.NextCursor, nil).want(200).decode(&orgs)
	if len(orgs.Items) != 1 || orgs.Items[0].Slug != "globex" {
		t.Fatalf("page 2 = %+v", orgs)
	}

	// Users.
	var u openapi.User
	f.do(f.admin.token, "POST", "/api/admin/paas/users", map[string]any{"email": "Erin@Example.com", "name": "Erin", "password": "long enough"}).want(201).decode(&u)
	if u.Email != "erin@example.com" || u.IsAdmin {
		t.Fatalf("user = %+v", u)
	}
	f.do(f.admin.token, "POST", "/api/admin/paas/users", map[string]any{"email": "erin@example.com", "password": "long enough"}).problem(409, "conflict")
	p := f.do(f.admin.token, "POST", "/api/admin/paas/users", map[string]any{"email": "not-an-email", "password": "short"}).problem(422, "validation-failed")
	fieldErr(t, p, "email")
	fieldErr(t, p, "password")
	var users openapi.UserList
	f.do(f.admin.token, "GET", "/api/admin/paas/users", nil).want(200).decode(&users)
	if len(users.Items) != 6 || strings.Contains(string(f.do(f.admin.token, "GET", "/api/admin/paas/users", nil).Body), "password") {
		t.Fatalf("users = %+v", users)
	}
	// The new user can log in.
	f.do("", "POST", "/api/auth/login", map[string]any{"email": "erin@example.com", "password": "long enough"}).want(200)

	// Organizations with an owner.
	var o openapi.Organization
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations", map[string]any{"name": "Initech", "slug": "initech", "owner_email": "erin@example.com"}).want(201).decode(&o)
	if o.Slug != "initech" || o.MemberCount != 1 || o.AppCount != 0 {
		t.Fatalf("org = %+v", o)
	}
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations", map[string]any{"name": "Again", "slug": "initech"}).problem(409, "conflict")
	p = f.do(f.admin.token, "POST", "/api/admin/paas/organizations", map[string]any{"name": "", "slug": "Bad Slug", "owner_email": "ghost@example.com"}).problem(422, "validation-failed")
	for _, field := range []string{"name", "slug", "owner_email"} {
		fieldErr(t, p, field)
	}
	f.do(f.admin.token, "GET", "/api/admin/paas/organizations/initech", nil).want(200)
	f.do(f.admin.token, "GET", "/api/admin/paas/organizations/"+o.Id.String(), nil).want(200)
	f.do(f.admin.token, "GET", "/api/admin/paas/organizations/nope", nil).problem(404, "not-found")

	// Members.
	var m openapi.Member
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations/initech/members", map[string]any{"email": "dave@example.com", "role": "member"}).want(200).decode(&m)
	if m.Email != "dave@example.com" || m.Role != "member" {
		t.Fatalf("member = %+v", m)
	}
	// Dave now acts in initech without naming it: it is his only organization.
	f.createApp(f.dave.token, "daves-app", map[string]any{"image": "nginx"})
	var ms openapi.MemberList
	f.do(f.admin.token, "GET", "/api/admin/paas/organizations/initech/members", nil).want(200).decode(&ms)
	if len(ms.Items) != 2 {
		t.Fatalf("members = %+v", ms)
	}
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations/initech/members", map[string]any{"email": "ghost@example.com", "role": "member"}).problem(422, "validation-failed")
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations/initech/members", map[string]any{"email": "dave@example.com", "role": "admin"}).problem(422, "validation-failed")
	// The last owner can be neither demoted nor removed.
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations/initech/members", map[string]any{"email": "erin@example.com", "role": "member"}).problem(409, "conflict")
	f.do(f.admin.token, "DELETE", "/api/admin/paas/organizations/initech/members/"+u.Id.String(), nil).problem(409, "conflict")
	f.do(f.admin.token, "POST", "/api/admin/paas/organizations/initech/members", map[string]any{"email": "dave@example.com", "role": "owner"}).want(200)
	f.do(f.admin.token, "DELETE", "/api/admin/paas/organizations/initech/members/"+u.Id.String(), nil).want(204)
	f.do(f.admin.token, "DELETE", "/api/admin/paas/organizations/initech/members/"+u.Id.String(), nil).problem(404, "not-found")
	f.do(f.admin.token, "DELETE", "/api/admin/paas/organizations/initech/members/not-a-uuid", nil).problem(400, "malformed-request")
}

func TestAdminAppsOverviewSettingsAudit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		f.createApp(f.alice.token, fmt.Sprintf("a%d", i), map[string]any{"image": "nginx", "plan": "pro", "replicas": 2})
	}
	f.createApp(f.bob.token, "b0", map[string]any{"image": "nginx"})
	f.do(f.alice.token, "POST", "/api/paas/apps/a2/stop", nil).want(202)
	f.do(f.bob.token, "DELETE", "/api/paas/apps/b0", nil).want(202)

	t.Run("apps across organizations", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		var l openapi.AppList
		f.do(f.admin.token, "GET", "/api/admin/paas/apps?limit=3", nil).want(200).decode(&l)
		if len(l.Items) != 3 || l.NextCursor == "" || l.Items[0].Name != "a0" {
			t.Fatalf("page = %+v", l)
		}
		f.do(f.admin.token, "GET", "/api/admin/paas/apps?cursor="+l.NextCursor, nil).want(200).decode(&l)
		if len(l.Items) != 1 || l.Items[0].Name != "b0" || l.Items[0].Status.Phase != "Deleting" {
			t.Fatalf("page 2 = %+v", l)
		}
		f.do(f.admin.token, "GET", "/api/admin/paas/apps?organization=globex", nil).want(200).decode(&l)
		if len(l.Items) != 1 || l.Items[0].OrganizationId != f.globex.ID {
			t.Fatalf("globex = %+v", l)
		}
		f.do(f.admin.token, "GET", "/api/admin/paas/apps?organization=nope", nil).problem(404, "not-found")
		f.do(f.admin.token, "GET", "/api/admin/paas/apps?cursor=eHl6", nil).problem(400, "malformed-request")
	})
	t.Run("overview", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		if _, err := f.s.InsertLedgerEntry(ctx, store.InsertLedgerEntryParams{OrganizationID: f.acme.ID, AmountMicros: 10_000_000, Kind: "topup"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.InsertLedgerEntry(ctx, store.InsertLedgerEntryParams{OrganizationID: f.acme.ID, AmountMicros: -138_800, Kind: "charge"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.UpsertWorkerNode(ctx, store.UpsertWorkerNodeParams{SwarmNodeID: "n1", Hostname: "h1", Role: "manager", Availability: "active",
			State: "ready", CpuMillis: 2000, MemoryBytes: 4 << 30, Labels: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		var wallets int64 // every organization starts with billing_initial_credit_micros
		if err := f.s.Pool.QueryRow(ctx, `SELECT sum(balance_micros) FROM paas_wallets`).Scan(&wallets); err != nil {
			t.Fatal(err)
		}
		var o openapi.Overview
		f.do(f.admin.token, "GET", "/api/admin/paas/overview", nil).want(200).decode(&o)
		if o.Organizations != 3 || o.Users != 5 || o.Apps != 4 || o.AppsByPhase["Pending"] != 3 || o.AppsByPhase["Deleting"] != 1 ||
			o.Replicas.Desired != 4 || o.Capacity.Nodes != 1 || o.Capacity.CpuMillis != 2000 ||
			o.Capacity.AllocatedCpuMillis != 2*2*2000 || o.Capacity.AllocatedMemoryBytes != 2*2*2048<<20 ||
			o.Revenue.Last24hMicros != 138_800 || o.Revenue.TotalMicros != 138_800 || o.Revenue.WalletBalanceMicros != wallets {
			t.Fatalf("overview = %+v", o)
		}
	})
	t.Run("settings", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		var l openapi.SettingList
		f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
			{"key": "max_apps_per_org", "value": "10"},
			{"key": "s3_secret_key", "value": "AKIA-very-secret"},
			{"key": "smtp_host", "value": "mail.example.com", "sensitive": true},
		}}).want(200).decode(&l)
		got := map[string]openapi.Setting{}
		for _, s := range l.Items {
			got[s.Key] = s
		}
		if v := got["max_apps_per_org"]; v.Value == nil || *v.Value != "10" || v.Sensitive {
			t.Fatalf("max_apps_per_org = %+v", v)
		}
		for _, k := range []string{"s3_secret_key", "smtp_host"} {
			if v := got[k]; !v.Sensitive || v.Value != nil || !v.HasValue {
				t.Fatalf("%s = %+v", k, v)
			}
		}
		if body := string(f.do(f.admin.token, "GET", "/api/admin/paas/settings", nil).want(200).Body); strings.Contains(body, "AKIA") || strings.Contains(body, "mail.example") {
			t.Fatalf("settings leak a sensitive value: %s", body)
		}
		st, err := f.s.GetSetting(ctx, "s3_secret_key")
		if err != nil || st.Value != nil || strings.Contains(string(st.ValueEncrypted), "AKIA") {
			t.Fatalf("stored = %+v %v", st, err)
		}
		if clear, err := f.box.Open(st.ValueEncrypted, secret.SettingAD("s3_secret_key")); err != nil || string(clear) != "AKIA-very-secret" {
			t.Fatalf("sealed value opens to %q %v", clear, err)
		}
		// A sensitive setting stays sensitive.
		f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{{"key": "smtp_host", "value": "other", "sensitive": false}}}).want(200)
		if st, _ := f.s.GetSetting(ctx, "smtp_host"); !st.Sensitive {
			t.Fatal("a sensitive setting was downgraded")
		}
		before := f.state()
		p := f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
			{"key": "max_apps_per_org", "value": "many"},
			{"key": "installation_id", "value": "x"},
			{"key": "Bad-Key", "value": "x"},
			{"key": "fine_key_is_fine", "value": "x"},
			{"key": "fingerprint_key", "value": "x"},
			{"key": "default_domain", "value": "apps.example.com`) || Host(`evil.com"},
			{"key": "traefik_acme_email", "value": "ops@example.com\nkey: injected"},
			{"key": "domain_recheck_minutes", "value": "soon"},
			{"key": "default_domain", "value": "Apps.Example.COM."},
		}}).problem(422, "validation-failed")
		for _, field := range []string{"settings[0].value", "settings[1].key", "settings[2].key", "settings[4].key",
			"settings[5].value", "settings[6].value", "settings[7].value", "settings[8].value"} {
			fieldErr(t, p, field)
		}
		f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{{"key": "a", "value": "1", "extra": 1}}}).problem(400, "malformed-request")
		if f.state() != before {
			t.Fatal("a refused settings write changed state")
		}
	})
	t.Run("audit", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		var l openapi.AuditList
		f.do(f.admin.token, "GET", "/api/admin/paas/audit?organization=acme&action=app.create", nil).want(200).decode(&l)
		if len(l.Items) != 3 {
			t.Fatalf("acme app.create entries = %d", len(l.Items))
		}
		e := l.Items[0]
		if e.ActorEmail == nil || *e.ActorEmail != "alice@example.com" || e.TargetKind != "app" || e.OrganizationId == nil || *e.OrganizationId != f.acme.ID || e.Details["name"] != "a2" {
			t.Fatalf("entry = %+v", e)
		}
		f.do(f.admin.token, "GET", "/api/admin/paas/audit?actor="+f.bob.ID.String()+"&limit=1", nil).want(200).decode(&l)
		if len(l.Items) != 1 || l.Items[0].Action != "app.delete" || l.NextCursor == "" {
			t.Fatalf("bob's latest = %+v", l)
		}
		f.do(f.admin.token, "GET", "/api/admin/paas/audit?actor="+f.bob.ID.String()+"&cursor="+l.NextCursor, nil).want(200).decode(&l)
		if len(l.Items) != 1 || l.Items[0].Action != "app.create" {
			t.Fatalf("bob's earlier = %+v", l)
		}
		f.do(f.admin.token, "GET", "/api/admin/paas/audit?actor=nope", nil).problem(400, "malformed-request")
	})
}
