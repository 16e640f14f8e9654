package route

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Reasons a write of the route loop gives in its event.
const (
	// ReasonRouted: the routes changed because the app's spec, domains or
	// the default domain did.
	ReasonRouted = "Routed"
	// ReasonUnrouted: the app is no longer routed (stopped, suspended, or
	// no hostname left).
	ReasonUnrouted = "Unrouted"
	// ReasonDriftReverted: the labels were edited by hand; the write undoes it.
	ReasonDriftReverted = "DriftReverted"
)

// Plan is what the route loop does to one service's traefik.* labels.
type Plan struct {
	// Update says the labels differ from the desired ones.
	Update bool
	// Labels are the desired traefik.* labels (all of them).
	Labels map[string]string
	// Drift says the live labels are not a set this loop writes: they were
	// edited by hand, and the write reverts that.
	Drift bool
	// Reason is one of the Reason constants; Message says what changes.
	Reason, Message string
}

// PlanLabels decides the write that makes live's traefik.* labels say
// desired. wasRouted says the loop last observed the service routed (its
// Routed condition is True): a service with no traefik.* label at all is
// then a hand removal, and otherwise one the loop has not routed yet.
func PlanLabels(desired Routes, live map[string]string, wasRouted bool) Plan {
	want := Labels(desired)
	have := Owned(live)
	if maps.Equal(want, have) {
		return Plan{Labels: want}
	}
	if len(have) == 0 && !wasRouted && want["traefik.enable"] == "false" {
		// Traefik routes no service without traefik.enable=true: a service
		// with no traefik label is already unrouted, and a new app with no
		// hostname costs no write.
		return Plan{Labels: have}
	}
	p := Plan{Update: true, Labels: want}
	before, written := Parse(desired.App, have)
	switch {
	case len(have) > 0 && !written, len(have) == 0 && wasRouted:
		p.Drift, p.Reason = true, ReasonDriftReverted
		p.Message = "reverted hand edit of traefik labels: " + diffKeys(have, want)
	case !desired.Enabled || len(desired.Hostnames) == 0:
		p.Reason, p.Message = ReasonUnrouted, "routes removed: the app serves no hostname now"
	default:
		p.Reason, p.Message = ReasonRouted, describe(before, desired)
	}
	return p
}

// describe says how routes changed from before (zero when there were none).
func describe(before, after Routes) string {
	if !before.Enabled {
		return "routes " + strings.Join(sorted(after.Hostnames), ", ") + " over HTTPS"
	}
	var parts []string
	added, removed := setDiff(after.Hostnames, before.Hostnames), setDiff(before.Hostnames, after.Hostnames)
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	if before.Port != after.Port {
		parts = append(parts, fmt.Sprintf("port %d -> %d", before.Port, after.Port))
	}
	if before.Network != after.Network {
		parts = append(parts, "network "+after.Network)
	}
	if before.CertResolver != after.CertResolver {
		parts = append(parts, "certificate resolver "+after.CertResolver)
	}
	if len(parts) == 0 {
		return "routes rewritten"
	}
	return "routes: " + strings.Join(parts, "; ")
}

// diffKeys names the labels a revert changes back, keys only.
func diffKeys(have, want map[string]string) string {
	var changed, removed, added []string
	for k, v := range want {
		hv, ok := have[k]
		switch {
		case !ok:
			removed = append(removed, k)
		case hv != v:
			changed = append(changed, k)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			added = append(added, k)
		}
	}
	var parts []string
	for _, g := range []struct {
		what string
		keys []string
	}{{"edited", changed}, {"removed", removed}, {"added", added}} {
		if len(g.keys) > 0 {
			parts = append(parts, g.what+" "+capList(g.keys, 4))
		}
	}
	return strings.Join(parts, "; ")
}

// capList lists keys sorted, at most n of them.
func capList(keys []string, n int) string {
	slices.Sort(keys)
	if len(keys) > n {
		return strings.Join(keys[:n], ", ") + fmt.Sprintf(" and %d more", len(keys)-n)
	}
	return strings.Join(keys, ", ")
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// setDiff returns the members of a not in b, sorted.
func setDiff(a, b []string) []string {
	var out []string
	for _, x := range sorted(a) {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
