package controllers_test

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/domain"
	"github.com/skypanel/paas/controllers/domain/dnstest"
	"github.com/skypanel/paas/controllers/network"
	"github.com/skypanel/paas/controllers/route"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// routing sets up a manager whose domain loop asks a DNS server the test
// runs and re-checks every second, with default_domain set to apps.test.
func routing(t *testing.T) (*env, *dnstest.Server) {
	t.Helper()
	dns := dnstest.Start(t)
	e := setup(t, func(m *controllers.Manager) {
		m.Resolver = domain.NewResolver(dns.Addr)
		m.DomainRecheck = time.Second
	})
	v := "apps.test"
	if err := e.store.PutSetting(e.ctx, store.PutSettingParams{Key: "default_domain", Value: &v}); err != nil {
		t.Fatal(err)
	}
	return e, dns
}

// wantRoutes is the label set the route loop must converge app's service to.
func (e *env) wantRoutes(a store.App, hostnames ...string) map[string]string {
	return route.Labels(route.Routes{
		App: a.ID, Enabled: len(hostnames) > 0, Hostnames: hostnames, Network: network.NetworkName(e.instance, a.OrganizationID),
		Port: int(a.Port), CertResolver: route.DefaultCertResolver,
	})
}

// waitRoutes waits until the service's traefik.* labels equal want.
func (e *env) waitRoutes(id uuid.UUID, want map[string]string, what string) {
	e.t.Helper()
	var last map[string]string
	deadline := time.Now().Add(60 * time.Second)
	for {
		svc, ok := e.service(id)
		last = route.Owned(svc.Spec.Labels)
		if ok && maps.Equal(last, want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: traefik labels\n%v\nwant\n%v", what, last, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) waitDomain(a uuid.UUID, id uuid.UUID, status string) store.Domain {
	e.t.Helper()
	var d store.Domain
	swarmtest.Eventually(e.t, 30*time.Second, "domain "+status, func() bool {
		var err error
		d, err = e.store.GetAppDomain(e.ctx, store.GetAppDomainParams{AppID: a, ID: id})
		return err == nil && d.Status == status
	})
	return d
}

func (e *env) requestVerify(d store.Domain) {
	e.t.Helper()
	now := time.Now()
	if _, err := e.store.RequestDomainVerify(e.ctx, store.RequestDomainVerifyParams{AppID: d.AppID, ID: d.ID, VerifyRequestedAt: &now}); err != nil {
		e.t.Fatal(err)
	}
}

func TestRoutesFollowHostnamesDomainsAndHandEdits(t *testing.T) {
	t.Parallel()
	e, dns := routing(t)
	a := e.createApp("web", "paas-testapp:v1", 1, nil)
	def := a.DefaultHostLabel + ".apps.test"
	if a.DefaultHostLabel != "web-acme" {
		t.Fatalf("default host label %q, want web-acme", a.DefaultHostLabel)
	}

	// A new app's service gets its default hostname, in one write.
	e.waitRoutes(a.ID, e.wantRoutes(a, def), "new app")
	swarmtest.Eventually(t, 30*time.Second, "Routed=True", func() bool {
		c := e.condition(e.app(a.ID), servicespec.ConditionRouted)
		return c.Status == "True" && strings.Contains(c.Message, def)
	})
	if n := countEvents(e.events(a.ID), route.Name, ""); n != 1 {
		t.Errorf("route loop wrote %d times to route a new app, want 1", n)
	}

	// A domain added and verified joins the rule, and is marked routed.
	shop, err := e.store.CreateDomain(e.ctx, store.CreateDomainParams{AppID: a.ID, Hostname: "shop.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	dns.Set(domain.Record("shop.example.com"), domain.Value(shop.VerificationToken))
	e.requestVerify(shop)
	e.waitRoutes(a.ID, e.wantRoutes(a, def, "shop.example.com"), "verified domain")
	e.waitDomain(a.ID, shop.ID, store.DomainRouted)

	// A hand-edited and a hand-removed traefik label are reverted, as drift.
	n := route.RouterName(a.ID)
	handEdit(e, a.ID, func(l map[string]string) { l["traefik.http.routers."+n+".rule"] = "Host(`evil.example`)" })
	e.waitRoutes(a.ID, e.wantRoutes(a, def, "shop.example.com"), "hand-edited rule")
	handEdit(e, a.ID, func(l map[string]string) { delete(l, "traefik.http.routers."+n+".tls.certresolver") })
	e.waitRoutes(a.ID, e.wantRoutes(a, def, "shop.example.com"), "hand-removed label")
	drift := e.waitEvent(a.ID, route.ReasonDriftReverted, "tls.certresolver", 30*time.Second)
	if drift.ReportingController != route.Name || drift.Type != "Warning" {
		t.Errorf("drift event %+v: want a Warning from %s", drift, route.Name)
	}

	// The proof removed: the next re-check fails the domain, which leaves
	// the rule, and the Routed condition says why.
	dns.Set(domain.Record("shop.example.com"))
	failed := e.waitDomain(a.ID, shop.ID, store.DomainFailed)
	e.waitRoutes(a.ID, e.wantRoutes(a, def), "proof removed")
	swarmtest.Eventually(t, 30*time.Second, "Routed says why shop is not routed", func() bool {
		c := e.condition(e.app(a.ID), servicespec.ConditionRouted)
		return c.Reason == "PartlyRouted" && strings.Contains(c.Message, "shop.example.com is not routed: "+failed.LastError)
	})

	// The proof back, then the domain removed: it leaves the rule.
	dns.Set(domain.Record("shop.example.com"), domain.Value(shop.VerificationToken))
	e.waitRoutes(a.ID, e.wantRoutes(a, def, "shop.example.com"), "proof back")
	if _, err := e.store.DeleteDomain(e.ctx, store.DeleteDomainParams{AppID: a.ID, ID: shop.ID}); err != nil {
		t.Fatal(err)
	}
	e.waitRoutes(a.ID, e.wantRoutes(a, def), "domain removed")

	// A stopped app is not routed.
	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Stopped = true })
	e.waitRoutes(a.ID, e.wantRoutes(a), "app stopped")
	swarmtest.Eventually(t, 30*time.Second, "Routed=False AppStopped", func() bool {
		c := e.condition(e.app(a.ID), servicespec.ConditionRouted)
		return c.Status == "False" && c.Reason == "AppStopped"
	})
}

// TestAppAndRouteLoopsInterleave changes what the app loop owns and what
// the route loop owns of one service at the same time, 50 times; both
// converge and neither loses the other's fields.
func TestAppAndRouteLoopsInterleave(t *testing.T) {
	t.Parallel()
	e, dns := routing(t)
	a := e.createApp("busy", "paas-testapp:v1", 1, map[string]string{"ROUND": "0"})
	def := a.DefaultHostLabel + ".apps.test"
	e.waitReady(a.ID, 90*time.Second)
	e.waitRoutes(a.ID, e.wantRoutes(a, def), "new app")

	const rounds = 50
	for i := 1; i <= rounds; i++ {
		var wg sync.WaitGroup
		wg.Go(func() { // route loop: a domain added and proven; every third round one removed
			d, err := e.store.CreateDomain(e.ctx, store.CreateDomainParams{AppID: a.ID, Hostname: fmt.Sprintf("h%d.example.com", i)})
			if err != nil {
				t.Error(err)
				return
			}
			dns.Set(domain.Record(d.Hostname), domain.Value(d.VerificationToken))
			e.requestVerify(d)
		})
		if i%3 == 0 {
			wg.Go(func() {
				if _, err := e.store.Pool.Exec(e.ctx, "DELETE FROM paas_domains WHERE app_id = $1 AND hostname = $2", a.ID, fmt.Sprintf("h%d.example.com", i-1)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() { // app loop: a hand-added label to remove
			handEdit(e, a.ID, func(l map[string]string) { l[fmt.Sprintf("junk.%d", i)] = "x" })
		})
		if i%10 == 0 { // app loop: a new release
			wg.Go(func() { e.setEnv(a.ID, "ROUND", fmt.Sprint(i)) })
		}
		wg.Wait()
	}

	want := []string{def}
	for i := 1; i <= rounds; i++ {
		if (i+1)%3 != 0 || i == rounds {
			want = append(want, fmt.Sprintf("h%d.example.com", i))
		}
	}
	e.waitRoutes(a.ID, e.wantRoutes(a, want...), "after 50 interleaved rounds")
	swarmtest.Eventually(t, 120*time.Second, "app loop's fields converged", func() bool {
		svc, ok := e.service(a.ID)
		return ok && !hasJunk(svc.Spec.Labels) && hasEnvValue(svc.Spec.TaskTemplate.ContainerSpec.Env, "ROUND", "50") &&
			svc.Spec.Labels[servicespec.LabelAppID] == a.ID.String()
	})
	e.waitReady(a.ID, 60*time.Second)
	swarmtest.Eventually(t, 30*time.Second, "every remaining domain marked routed", func() bool {
		routed, err := e.store.ListDomains(e.ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range routed {
			if d.Status != store.DomainRouted {
				return false
			}
		}
		return len(routed) == len(want)-1
	})
}

// countEvents counts the app's events from loop, with reason if not empty.
func countEvents(events []store.Event, loop, reason string) int {
	n := 0
	for _, ev := range events {
		if ev.ReportingController == loop && (reason == "" || ev.Reason == reason) {
			n += int(ev.Count)
		}
	}
	return n
}
