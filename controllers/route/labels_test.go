package route

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	appID  = uuid.MustParse("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f")
	orgID  = uuid.MustParse("11111111-2222-4333-8444-555555555555")
	netID  = "n1"
	verify = uuid.MustParse("aaaaaaaa-0000-4000-8000-000000000001")
	other  = uuid.MustParse("aaaaaaaa-0000-4000-8000-000000000002")
)

// fixture is an app named web in organization acme on port 8080.
func fixture(defaultDomain string, stopped bool, domains ...store.Domain) Desired {
	return Desired{
		App: store.GetAppDesiredRow{
			App:          store.App{ID: appID, OrganizationID: orgID, Name: "web", Port: 8080, Stopped: stopped, DefaultHostLabel: "web-acme"},
			OrgNetworkID: &netID,
		},
		DefaultDomain: defaultDomain,
		Domains:       domains,
	}
}

// traefikV3SwarmLabels are the label names of Traefik v3's Swarm provider
// the loop may write (doc.traefik.io/traefik/routing/providers/swarm/):
// the provider's own options, and the HTTP router, middleware and service
// options, for names derived from the app id.
var traefikV3SwarmLabels = regexp.MustCompile(`^traefik\.(` +
	`enable|swarm\.network|` +
	`http\.routers\.paas-[0-9a-f-]{36}(-http)?\.(rule|entrypoints|middlewares|service|tls|tls\.certresolver)|` +
	`http\.middlewares\.paas-[0-9a-f-]{36}-https\.redirectscheme\.(scheme|permanent)|` +
	`http\.services\.paas-[0-9a-f-]{36}\.loadbalancer\.server\.port` +
	`)$`)

func TestLabelsGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   Desired
		cond string // the Routed condition's reason
	}{
		{"one-hostname", fixture("apps.example.com", false), "Routed"},
		{"several-hostnames", fixture("apps.example.com", false,
			store.Domain{ID: verify, Hostname: "www.example.org", Status: store.DomainRouted},
			store.Domain{ID: other, Hostname: "example.org", Status: store.DomainVerified}), "Routed"},
		{"custom-domain-being-verified", fixture("apps.example.com", false,
			store.Domain{ID: verify, Hostname: "shop.example.net", Status: store.DomainPending},
			store.Domain{ID: other, Hostname: "old.example.net", Status: store.DomainFailed, LastError: "no TXT record at _paas-verify.old.example.net"}), "PartlyRouted"},
		{"app-stopped", fixture("apps.example.com", true,
			store.Domain{ID: verify, Hostname: "www.example.org", Status: store.DomainRouted}), "AppStopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dec := Decide(tc.in, "inst", DefaultCertResolver)
			if dec.Condition.Type != servicespec.ConditionRouted || dec.Condition.Reason != tc.cond {
				t.Errorf("Routed reason = %s (%s), want %s", dec.Condition.Reason, dec.Condition.Message, tc.cond)
			}
			labels := Labels(dec.Routes)
			for k := range labels {
				if !traefikV3SwarmLabels.MatchString(k) {
					t.Errorf("label %s is not a Traefik v3 Swarm-provider label the loop may write", k)
				}
				if strings.HasPrefix(k, "traefik.docker.") {
					t.Errorf("label %s: v3 ignores a service carrying traefik.docker.*", k)
				}
			}
			got, err := json.MarshalIndent(labels, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test -update once): %v", err)
			}
			if string(want) != string(got)+"\n" {
				t.Errorf("labels differ from %s:\n%s", path, got)
			}
			// What the loop writes, it reads back as its own.
			if back, ok := Parse(appID, labels); !ok || back.Enabled != dec.Routes.Enabled {
				t.Errorf("Parse of the rendered labels = %+v, %v", back, ok)
			}
		})
	}
}

func TestDecideWaitsForTheNetworkAndNamesMissingHostnames(t *testing.T) {
	t.Parallel()
	d := fixture("", false)
	if dec := Decide(d, "inst", DefaultCertResolver); dec.Routes.Enabled || dec.Condition.Reason != "NoHostnames" {
		t.Errorf("no default domain, no domain: %+v", dec)
	}
	d.App.OrgNetworkID = nil
	if dec := Decide(d, "inst", DefaultCertResolver); !dec.Wait || dec.Condition.Reason != "NetworkPending" {
		t.Errorf("no network: %+v", dec)
	}
	d = fixture("", false, store.Domain{ID: verify, Hostname: "gone.example.com", Status: store.DomainFailed, LastError: "no TXT record"})
	dec := Decide(d, "inst", DefaultCertResolver)
	if dec.Routes.Enabled || dec.Condition.Reason != "DomainUnverified" || !strings.Contains(dec.Condition.Message, "gone.example.com is not routed: no TXT record") {
		t.Errorf("only domain failed: %+v", dec)
	}
	d = fixture("apps.example.com", false)
	d.App.OrgSuspended = true
	if dec := Decide(d, "inst", DefaultCertResolver); dec.Routes.Enabled || dec.Condition.Reason != "Suspended" {
		t.Errorf("suspended: %+v", dec)
	}
}

func TestPlanLabels(t *testing.T) {
	t.Parallel()
	routes := Routes{App: appID, Enabled: true, Hostnames: []string{"a.example.com"}, Network: "net", Port: 8080, CertResolver: "le"}
	want := Labels(routes)
	with := func(base map[string]string, edit func(map[string]string)) map[string]string {
		out := map[string]string{"paas.app.id": appID.String()} // not ours: never read
		for k, v := range base {
			out[k] = v
		}
		edit(out)
		return out
	}
	more := routes
	more.Hostnames = []string{"a.example.com", "b.example.com"}
	n := RouterName(appID)
	for _, tc := range []struct {
		name      string
		desired   Routes
		live      map[string]string
		wasRouted bool
		update    bool
		reason    string
		message   string
	}{
		{"in step", routes, with(want, func(map[string]string) {}), true, false, "", ""},
		{"new service", routes, with(nil, func(map[string]string) {}), false, true, ReasonRouted, "routes a.example.com over HTTPS"},
		{"domain added", more, with(want, func(map[string]string) {}), true, true, ReasonRouted, "routes: added b.example.com"},
		{"domain removed", routes, with(Labels(more), func(map[string]string) {}), true, true, ReasonRouted, "routes: removed b.example.com"},
		{"stopped", Routes{App: appID}, with(want, func(map[string]string) {}), true, true, ReasonUnrouted, "routes removed"},
		{"new service, nothing to route", Routes{App: appID}, with(nil, func(map[string]string) {}), false, false, "", ""},
		{"label edited by hand", routes, with(want, func(m map[string]string) { m["traefik.http.routers."+n+".rule"] = "Host(`evil.example`)" }), true, true, ReasonDriftReverted, "edited traefik.http.routers." + n + ".rule"},
		{"label removed by hand", routes, with(want, func(m map[string]string) { delete(m, "traefik.http.routers."+n+".tls") }), true, true, ReasonDriftReverted, "removed traefik.http.routers." + n + ".tls"},
		{"label added by hand", routes, with(want, func(m map[string]string) { m["traefik.http.routers.x.rule"] = "PathPrefix(`/`)" }), true, true, ReasonDriftReverted, "added traefik.http.routers.x.rule"},
		{"all removed by hand", routes, with(nil, func(map[string]string) {}), true, true, ReasonDriftReverted, "removed "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := PlanLabels(tc.desired, tc.live, tc.wasRouted)
			if p.Update != tc.update || p.Reason != tc.reason || !strings.Contains(p.Message, tc.message) {
				t.Fatalf("PlanLabels = %+v; want update=%v reason=%q message containing %q", p, tc.update, tc.reason, tc.message)
			}
			if p.Drift != (tc.reason == ReasonDriftReverted) {
				t.Errorf("Drift = %v for reason %s", p.Drift, p.Reason)
			}
			if _, ours := p.Labels["paas.app.id"]; ours {
				t.Error("the plan carries a label the route loop does not own")
			}
		})
	}
}

// hostTerms is the only rule shape the loop may render: Host(`…`) terms
// joined by ||, each hostname of letters, digits, hyphens and dots.
var hostTerms = regexp.MustCompile("^Host\\(`[a-z0-9.-]+`\\)( \\|\\| Host\\(`[a-z0-9.-]+`\\))*$")

// FuzzHostnameRule: whatever a tenant sends as a hostname, an accepted one
// renders a rule of Host terms only, naming exactly the accepted hostnames.
func FuzzHostnameRule(f *testing.F) {
	for _, s := range []string{"example.com", "a`) || Host(`evil.com", "x.com && PathPrefix(`/`)", "bücher.de", "a.com,b.com", "(a.com)", "A.COM.", "xn--bcher-kva.de", "a\tb.com", "a.com\r\nb.com"} {
		f.Add(s, "other.example.org")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var hosts []string
		for _, in := range []string{a, b} {
			if h, err := spec.Hostname(in); err == nil {
				hosts = append(hosts, h)
			}
		}
		if len(hosts) == 0 {
			return
		}
		labels := Labels(Routes{App: appID, Enabled: true, Hostnames: hosts, Network: "n", Port: 80, CertResolver: "le"})
		want := slices.Clone(hosts)
		slices.Sort(want)
		want = slices.Compact(want)
		for _, k := range []string{"traefik.http.routers." + RouterName(appID) + ".rule", "traefik.http.routers." + RouterName(appID) + "-http.rule"} {
			rule := labels[k]
			if !hostTerms.MatchString(rule) {
				t.Fatalf("hostnames %q render rule %q, not Host terms only", hosts, rule)
			}
			got, err := ParseRule(rule)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("rule %q names %q (%v), want %q", rule, got, err, want)
			}
		}
	})
}
