package v1

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
)

// ListApps answers a page of the organization's apps, by name. Pages are
// reused while the organization's fingerprint is unchanged (see listCache).
func (s *server) ListApps(c echo.Context, params openapi.ListAppsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	orgID := org(c).ID
	key := listKey{org: orgID, after: after, limit: limit, redacted: !mayWrite(org(c).Role)}
	now := s.Now()
	if e, ok := s.lists.current(key, s.fresh, now, s.CacheRecheck); ok {
		return e.write(c)
	}
	if s.lists == nil {
		e, err := s.renderPage(ctx, key, now)
		if err != nil {
			return err
		}
		return e.write(c)
	}
	// The fingerprint came with the credentials, in the same round trip,
	// unless they were cached; then it is read, unless the page is known
	// to be stale already.
	p := caller(c)
	if p.appsFP == nil && s.lists.superseded(key, s.fresh) {
		e, err := s.renderShared(ctx, key, now)
		if err != nil {
			return err
		}
		return e.write(c)
	}
	var fp store.APIAppsFingerprintRow
	var read stamp
	if p.appsFP != nil {
		fp, read = *p.appsFP, p.appsRead
	} else {
		read = s.fresh.now()
		if fp, err = s.Store.APIAppsFingerprint(ctx, orgID); err != nil {
			return err
		}
	}
	if e, ok := s.lists.confirmed(key, fp, read, now); ok {
		return e.write(c)
	}
	e, err := s.renderShared(ctx, key, now)
	if err != nil {
		return err
	}
	return e.write(c)
}

// renderShared renders key's page once for all the requests that miss it
// together: after a change, every client of the organization misses at
// once, and rendering the page for each would multiply the cost by the
// number of clients. A request takes a shared render's page if the render
// read after the request arrived, or if nothing the page shows was
// announced since it read; so it is as fresh as reading on arrival (within
// notification latency, as for any cached answer). Otherwise it waits for
// the next render, which starts after it arrived. Without notifications
// there is no telling, and each request renders its own.
func (s *server) renderShared(ctx context.Context, key listKey, now time.Time) (*listEntry, error) {
	arrived := s.fresh.now()
	if !arrived.valid {
		return s.renderPage(ctx, key, now)
	}
	flight := fmt.Sprintf("%s/%d/%t/%s", key.org, key.limit, key.redacted, key.after)
	for range 3 {
		v, err, _ := s.renders.Do(flight, func() (any, error) {
			// Shared: one client leaving must not fail the others.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			return s.renderPage(rctx, key, now)
		})
		if err != nil {
			return nil, err
		}
		if e := v.(*listEntry); s.fresh.freshFor(e.read, arrived, key.org) {
			return e, nil
		}
	}
	// Everything keeps being invalidated (the listener reconnecting, writes
	// through this process): read alone.
	return s.renderPage(ctx, key, now)
}

// renderPage renders a page and its fingerprint from one snapshot, so the
// pair kept in the cache is consistent, and keeps it.
func (s *server) renderPage(ctx context.Context, key listKey, now time.Time) (*listEntry, error) {
	var rows []store.AppView
	var rt routes
	var fp store.APIAppsFingerprintRow
	listParams := store.APIListAppsParams{OrganizationID: key.org, AfterName: key.after, Lim: int32(key.limit + 1)}
	read := s.fresh.now()
	var err error
	if s.lists == nil {
		// Nothing is kept, so no fingerprint is needed.
		if rows, err = s.Store.APIListApps(ctx, listParams); err == nil {
			rt, err = loadRoutes(ctx, s.Store.Queries, rows)
		}
	} else {
		err = pgx.BeginTxFunc(ctx, s.Store.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			q := s.Store.WithTx(tx)
			var err error
			if fp, err = q.APIAppsFingerprint(ctx, key.org); err != nil {
				return err
			}
			if rows, err = q.APIListApps(ctx, listParams); err != nil {
				return err
			}
			rt, err = loadRoutes(ctx, q, rows)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	items, next, err := page(rows, key.limit, s.renderer(!key.redacted, rt), func(a store.AppView) string { return a.Name })
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(openapi.AppList{Items: items, NextCursor: next})
	if err != nil {
		return nil, err
	}
	if s.lists != nil {
		s.lists.renders.Add(1)
	}
	return s.lists.put(key, fp, append(body, '\n'), read, now), nil
}
