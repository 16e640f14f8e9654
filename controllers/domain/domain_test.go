package domain_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/domain"
	"github.com/skypanel/paas/controllers/domain/dnstest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/storetest"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		records    []string
		err        error
		found, def bool
		msg        string
	}{
		{"right token", []string{"v=spf1 -all", "paas-verify=tok"}, nil, true, true, ""},
		{"wrong token", []string{"paas-verify=other"}, nil, false, true, "holds a different paas-verify token"},
		{"no paas value", []string{"hello"}, nil, false, true, "no paas-verify= value among the TXT records at _paas-verify.a.example.com"},
		{"no record", nil, &net.DNSError{Err: "no such host", IsNotFound: true}, false, true, "no TXT record at _paas-verify.a.example.com"},
		{"timeout", nil, &net.DNSError{Err: "i/o timeout", IsTimeout: true, Server: "10.0.0.1:53"}, false, false, "did not answer in time"},
		{"other", nil, errors.New("boom"), false, false, "failed: boom"},
	} {
		out := domain.Judge("a.example.com", "tok", tc.records, tc.err)
		if out.Found != tc.found || out.Definitive != tc.def || !strings.Contains(out.Error, tc.msg) || (tc.found && out.Error != "") {
			t.Errorf("%s: Judge = %+v; want found=%v definitive=%v error containing %q", tc.name, out, tc.found, tc.def, tc.msg)
		}
	}
}

func TestDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	for _, tc := range []struct {
		name string
		d    store.Domain
		due  bool
		wait time.Duration
	}{
		{"never checked", store.Domain{}, true, 0},
		{"asked after the last check", store.Domain{CheckedAt: at(-time.Minute), VerifyRequestedAt: at(-time.Second)}, true, 0},
		{"asked before the last check", store.Domain{CheckedAt: at(-time.Minute), VerifyRequestedAt: at(-2 * time.Minute)}, false, 59 * time.Minute},
		{"recheck due", store.Domain{CheckedAt: at(-time.Hour)}, true, 0},
		{"recently checked", store.Domain{CheckedAt: at(-10 * time.Minute)}, false, 50 * time.Minute},
	} {
		due, wait := domain.Due(tc.d, now, time.Hour)
		if due != tc.due || wait != tc.wait {
			t.Errorf("%s: Due = %v, %v; want %v, %v", tc.name, due, wait, tc.due, tc.wait)
		}
	}
}

// fixture is a database with one app, a DNS server and a domain loop
// reconciler that asks it.
type fixture struct {
	ctx   context.Context
	store *store.Store
	dns   *dnstest.Server
	rec   *domain.Reconciler
	app   uuid.UUID
	now   time.Time
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	s := storetest.New(t)
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(ctx, store.CreateAppParams{OrganizationID: org.ID, Name: "web", ServiceName: "web-" + uuid.NewString()[:8],
		Image: "img", Replicas: 1, Port: 8080, Command: []string{}, PlanID: plan.ID})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ctx: ctx, store: s, dns: dnstest.Start(t), app: a.ID, now: time.Now()}
	f.rec = &domain.Reconciler{Store: s, Resolver: domain.NewResolver(f.dns.Addr), Recheck: time.Hour, Now: func() time.Time { return f.now }}
	return f
}

// check runs one reconcile of d and returns the domain after it.
func (f *fixture) check(t *testing.T, d store.Domain) (store.Domain, time.Duration) {
	t.Helper()
	res, err := f.rec.Reconcile(f.ctx, key.New(key.KindDomain, d.ID.String()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.store.GetAppDomain(f.ctx, store.GetAppDomainParams{AppID: f.app, ID: d.ID})
	if err != nil {
		t.Fatal(err)
	}
	return got, res.RequeueAfter
}

func (f *fixture) request(t *testing.T, d store.Domain) {
	t.Helper()
	f.now = f.now.Add(time.Second)
	at := f.now
	if _, err := f.store.RequestDomainVerify(f.ctx, store.RequestDomainVerifyParams{AppID: f.app, ID: d.ID, VerifyRequestedAt: &at}); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Second)
}

func TestVerificationAgainstARealDNSServer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d, err := f.store.CreateDomain(f.ctx, store.CreateDomainParams{AppID: f.app, Hostname: "shop.example.com"})
	if err != nil {
		t.Fatal(err)
	}

	// Added before its record exists: checked at once, still pending, says why.
	got, wait := f.check(t, d)
	if got.Status != store.DomainPending || !strings.Contains(got.LastError, "no TXT record at _paas-verify.shop.example.com") || wait != time.Hour {
		t.Fatalf("no record yet: status %s, error %q, next check in %v", got.Status, got.LastError, wait)
	}
	// Not due again until the recheck period passes or someone asks.
	if again, wait := f.check(t, got); !again.CheckedAt.Equal(*got.CheckedAt) || wait <= 0 {
		t.Fatalf("checked again before it was due (next in %v)", wait)
	}

	// A wrong token, asked for: failed, and says so.
	f.dns.Set("_paas-verify.shop.example.com", "paas-verify=not-the-token")
	f.request(t, got)
	got, _ = f.check(t, got)
	if got.Status != store.DomainFailed || !strings.Contains(got.LastError, "different paas-verify token") {
		t.Fatalf("wrong token: status %s, error %q", got.Status, got.LastError)
	}

	// The right token: verified, error cleared.
	f.dns.Set("_paas-verify.shop.example.com", "unrelated", domain.Value(d.VerificationToken))
	f.request(t, got)
	got, _ = f.check(t, got)
	if got.Status != store.DomainVerified || got.LastError != "" || got.VerifiedAt == nil {
		t.Fatalf("right token: status %s, error %q", got.Status, got.LastError)
	}

	// The record removed: the next periodic re-check fails the domain.
	f.dns.Set("_paas-verify.shop.example.com")
	f.now = f.now.Add(time.Hour)
	got, _ = f.check(t, got)
	if got.Status != store.DomainFailed || !strings.Contains(got.LastError, "no TXT record") {
		t.Fatalf("record removed: status %s, error %q", got.Status, got.LastError)
	}

	// A DNS server that does not answer proves nothing: the status stays.
	f.dns.Set("_paas-verify.shop.example.com", domain.Value(d.VerificationToken))
	f.request(t, got)
	got, _ = f.check(t, got)
	if got.Status != store.DomainVerified {
		t.Fatalf("record back: status %s, error %q", got.Status, got.LastError)
	}
	f.rec.Resolver = domain.NewResolver("127.0.0.1:1") // nothing listens there
	f.rec.Timeout = 500 * time.Millisecond
	f.now = f.now.Add(time.Hour)
	got, wait = f.check(t, got)
	if got.Status != store.DomainVerified || !strings.Contains(got.LastError, "failed") || wait > 30*time.Second {
		t.Fatalf("resolver down: status %s, error %q, retry in %v", got.Status, got.LastError, wait)
	}
}

// TestCheckAnswersARequestFromAClockAhead: the API dates a request by its
// clock and the loop dates checks by its own; a check must still count as
// answering the request, or the loop would check again at once for ever.
// And a domain's new status moves its app's status_seq, so watchers see
// the app's URLs change.
func TestCheckAnswersARequestFromAClockAhead(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d, err := f.store.CreateDomain(f.ctx, store.CreateDomainParams{AppID: f.app, Hostname: "ahead.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	f.dns.Set(domain.Record(d.Hostname), domain.Value(d.VerificationToken))
	seq := func() int64 {
		var n int64
		if err := f.store.Pool.QueryRow(f.ctx, "SELECT status_seq FROM paas_apps WHERE id = $1", f.app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := seq()
	ahead := f.now.Add(10 * time.Minute)
	if _, err := f.store.RequestDomainVerify(f.ctx, store.RequestDomainVerifyParams{AppID: f.app, ID: d.ID, VerifyRequestedAt: &ahead}); err != nil {
		t.Fatal(err)
	}
	got, wait := f.check(t, d)
	if got.Status != store.DomainVerified || domain.Requested(got) || wait <= 0 {
		t.Fatalf("after the check: status %s, still requested %v, next check in %v", got.Status, domain.Requested(got), wait)
	}
	if after := seq(); after <= before {
		t.Errorf("status_seq %d -> %d: the domain's new status did not reach watchers", before, after)
	}
}
