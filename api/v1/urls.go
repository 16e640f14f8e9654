package v1

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
)

// routes is what an app's status.urls shows besides its row: the
// default_domain setting and the custom hostnames the route loop routes.
type routes struct {
	defaultDomain string
	routed        map[uuid.UUID][]string
}

// loadRoutes reads the routes of the apps of rows, in the caller's
// snapshot (q may be a transaction).
func loadRoutes(ctx context.Context, q *store.Queries, rows []store.AppView) (routes, error) {
	dd, err := defaultDomain(ctx, q)
	if err != nil {
		return routes{}, err
	}
	rt := routes{defaultDomain: dd, routed: map[uuid.UUID][]string{}}
	ids := make([]uuid.UUID, 0, len(rows))
	for _, r := range rows {
		if len(r.Hostnames) > 0 {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return rt, nil
	}
	hosts, err := q.APIRoutedHostnames(ctx, ids)
	if err != nil {
		return routes{}, fmt.Errorf("routed hostnames: %w", err)
	}
	for _, h := range hosts {
		rt.routed[h.AppID] = append(rt.routed[h.AppID], h.Hostname)
	}
	return rt, nil
}

// urls is status.urls of app a, whose conditions are conds: its default
// hostname once the route loop says it is Routed, then every custom
// hostname the route loop routes.
func (rt routes) urls(a store.AppView, conds []openapi.Condition) []string {
	out := []string{}
	if rt.defaultDomain != "" && a.DefaultHostLabel != "" && routedCondition(conds) {
		out = append(out, "https://"+a.DefaultHostLabel+"."+rt.defaultDomain)
	}
	hosts := slices.Clone(rt.routed[a.ID])
	slices.Sort(hosts)
	for _, h := range hosts {
		out = append(out, "https://"+h)
	}
	return out
}

// routedCondition reports whether the app's Routed condition is True.
func routedCondition(conds []openapi.Condition) bool {
	for _, c := range conds {
		if c.Type == "Routed" {
			return c.Status == "True"
		}
	}
	return false
}
