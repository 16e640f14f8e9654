// Package route holds the route loop: it owns every traefik.* label of an
// app's Swarm service and keeps them equal to the app's routes, the label
// set Traefik v3's Swarm provider reads to send an app's hostnames to it
// over HTTPS. The label set is a pure function of the routes (Labels), and
// so is reading one back (Parse), which tells the loop's own writes from
// hand edits.
package route

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/skypanel/paas/deploy/infra"
)

// LabelPrefix prefixes every label the route loop owns.
const LabelPrefix = "traefik."

// Entry points of the Traefik static configuration `paasd init` renders.
const (
	// EntryPointHTTP is the plain-HTTP entry point (port 80); it only redirects.
	EntryPointHTTP = infra.EntryPointWeb
	// EntryPointHTTPS is the TLS entry point (port 443) that serves apps.
	EntryPointHTTPS = infra.EntryPointWebsecure
)

// Routes is what one app's traefik.* labels say.
type Routes struct {
	// App names the routers, middleware and service (derived from its id,
	// so two apps never share one and a name says whose it is).
	App uuid.UUID
	// Enabled is false while the app must not be routed (stopped, or no
	// hostname); the label set then only says traefik.enable=false.
	Enabled bool
	// Hostnames are routed to the app; each has passed spec.Hostname.
	// Order does not matter: Labels sorts them.
	Hostnames []string
	// Network is the overlay network on which Traefik reaches the app's
	// tasks (the organization's network).
	Network string
	// Port is the app's port inside its tasks (Swarm tells Traefik none).
	Port int
	// CertResolver names Traefik's ACME resolver for the HTTPS router.
	CertResolver string
}

// RouterName is the router, service and middleware base name of an app.
func RouterName(app uuid.UUID) string { return "paas-" + app.String() }

// Labels renders routes as Traefik v3 Swarm-provider labels: an HTTP
// router on EntryPointHTTP that redirects to HTTPS, an HTTPS router on
// EntryPointHTTPS with the certificate resolver, one rule
// Host(`a`) || Host(`b`) over the hostnames for both, and the service's
// port. It never writes a traefik.docker.* label (v3 ignores a service
// carrying both prefixes) nor v2-only syntax such as Host(`a`, `b`).
func Labels(r Routes) map[string]string {
	if !r.Enabled || len(r.Hostnames) == 0 {
		return map[string]string{"traefik.enable": "false"}
	}
	n := RouterName(r.App)
	rule := Rule(r.Hostnames)
	return map[string]string{
		"traefik.enable":        "true",
		"traefik.swarm.network": r.Network,

		"traefik.http.routers." + n + "-http.rule":        rule,
		"traefik.http.routers." + n + "-http.entrypoints": EntryPointHTTP,
		"traefik.http.routers." + n + "-http.middlewares": n + "-https",
		"traefik.http.routers." + n + "-http.service":     n,

		"traefik.http.middlewares." + n + "-https.redirectscheme.scheme":    "https",
		"traefik.http.middlewares." + n + "-https.redirectscheme.permanent": "true",

		"traefik.http.routers." + n + ".rule":             rule,
		"traefik.http.routers." + n + ".entrypoints":      EntryPointHTTPS,
		"traefik.http.routers." + n + ".tls":              "true",
		"traefik.http.routers." + n + ".tls.certresolver": r.CertResolver,
		"traefik.http.routers." + n + ".service":          n,

		"traefik.http.services." + n + ".loadbalancer.server.port": strconv.Itoa(r.Port),
	}
}

// Rule is the router rule matching any of hostnames, sorted and without
// repeats: Host(`a`) || Host(`b`).
func Rule(hostnames []string) string {
	hs := slices.Clone(hostnames)
	slices.Sort(hs)
	hs = slices.Compact(hs)
	terms := make([]string, len(hs))
	for i, h := range hs {
		terms[i] = "Host(`" + h + "`)"
	}
	return strings.Join(terms, " || ")
}

// ParseRule reads back a rule Rule wrote, and fails on anything else: a
// rule of any other structure was not written by this loop.
func ParseRule(rule string) ([]string, error) {
	var hosts []string
	for _, term := range strings.Split(rule, " || ") {
		h, ok := strings.CutPrefix(term, "Host(`")
		if ok {
			h, ok = strings.CutSuffix(h, "`)")
		}
		if !ok || h == "" || strings.ContainsAny(h, "`()|&, \t\r\n!") {
			return nil, fmt.Errorf("term %q is not Host(`hostname`)", term)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// Owned returns the route loop's labels out of a service's labels.
func Owned(labels map[string]string) map[string]string {
	out := make(map[string]string)
	for k, v := range labels {
		if strings.HasPrefix(k, LabelPrefix) {
			out[k] = v
		}
	}
	return out
}

// Parse reads the routes of app back from a service's labels. ok is false
// when the traefik.* labels are not a set Labels would render for app (a
// label removed, added or edited by hand), or there are none.
func Parse(app uuid.UUID, labels map[string]string) (r Routes, ok bool) {
	owned := Owned(labels)
	if len(owned) == 0 {
		return Routes{}, false
	}
	r = Routes{App: app, Enabled: owned["traefik.enable"] == "true"}
	if r.Enabled {
		n := RouterName(app)
		hosts, err := ParseRule(owned["traefik.http.routers."+n+".rule"])
		if err != nil {
			return Routes{}, false
		}
		port, err := strconv.Atoi(owned["traefik.http.services."+n+".loadbalancer.server.port"])
		if err != nil {
			return Routes{}, false
		}
		r.Hostnames, r.Port = hosts, port
		r.Network = owned["traefik.swarm.network"]
		r.CertResolver = owned["traefik.http.routers."+n+".tls.certresolver"]
	}
	return r, maps.Equal(Labels(r), owned)
}
