package v1

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/pgnotify"
)

// statusChannel is the Postgres channel on which paas_apps triggers announce
// status changes ("app/<uuid>").
const statusChannel = "paas_status"

// hub shares one LISTEN connection among every watcher of this process and
// wakes the watchers of the organization whose app changed. Notifications
// are only wake-ups: a woken watcher re-reads what changed from its own
// cursor, so a lost notification delays an event but never loses it (each
// watcher also re-reads on every heartbeat, and all are woken after the
// listener reconnects). The listener runs only while someone watches.
type hub struct {
	store *store.Store
	log   zerolog.Logger

	// events tells event streams when their app has news; it lives
	// here, beside the watchers' listener, as the other source all of a
	// process's streams share.
	events *eventFeed

	mu    sync.Mutex
	subs  map[*subscriber]struct{}
	orgOf map[uuid.UUID]uuid.UUID // app -> organization, immutable so cached
	stop  context.CancelFunc      // stops the running listener; nil when none runs
	ready chan struct{}           // closed once the running listener LISTENs
}

type subscriber struct {
	org  uuid.UUID
	wake chan struct{}
}

func newHub(s *store.Store, log zerolog.Logger) *hub {
	return &hub{store: s, log: log, events: newEventFeed(s, log),
		subs: map[*subscriber]struct{}{}, orgOf: map[uuid.UUID]uuid.UUID{}}
}

// subscribe registers a watcher of an organization, starting the listener
// when it is the first, and waits (briefly) until the listener is
// LISTENing so that nothing committed after the watcher's first read is
// missed. The returned func unsubscribes.
func (h *hub) subscribe(ctx context.Context, org uuid.UUID) (*subscriber, func()) {
	sub := &subscriber{org: org, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[sub] = struct{}{}
	if h.stop == nil {
		lctx, cancel := context.WithCancel(context.Background())
		h.stop, h.ready = cancel, make(chan struct{})
		go h.listen(lctx, h.ready)
	}
	ready := h.ready
	h.mu.Unlock()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		h.log.Warn().Msg("watch: listener not ready; relying on periodic re-reads")
	case <-ctx.Done():
	}
	return sub, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, sub)
		if len(h.subs) == 0 && h.stop != nil {
			h.stop()
			h.stop = nil
		}
	}
}

// listen keeps a LISTEN connection open until ctx ends; after a reconnect
// every watcher is woken, as notifications sent while disconnected are lost.
func (h *hub) listen(ctx context.Context, ready chan struct{}) {
	first := true
	l := &pgnotify.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, h.store.Pool.Config().ConnConfig.Copy())
		},
		Channels: []string{statusChannel},
		Handle:   func(ctx context.Context, _, payload string) { h.dispatch(ctx, payload) },
		OnConnect: func(context.Context) {
			if first {
				close(ready)
				first = false
				return
			}
			h.wakeAll()
		},
		ReconnectDelay: 100 * time.Millisecond,
	}
	_ = l.Run(h.log.With().Str("loop", "watch").Logger().WithContext(ctx))
}

func (h *hub) dispatch(ctx context.Context, payload string) {
	id, err := key.ParseApp(payload)
	if err != nil {
		return
	}
	h.mu.Lock()
	org, ok := h.orgOf[id]
	h.mu.Unlock()
	if !ok {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		org, err = h.store.APIAppOrganization(qctx, id)
		cancel()
		if err != nil {
			h.wakeAll()
			return
		}
		h.mu.Lock()
		if len(h.orgOf) > 100_000 {
			clear(h.orgOf)
		}
		h.orgOf[id] = org
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if sub.org == org {
			wake(sub)
		}
	}
}

func (h *hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		wake(sub)
	}
}

func wake(sub *subscriber) {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// watcher is one /api/paas/watch stream.
type watcher struct {
	s       *server
	w       *sseWriter
	org     uuid.UUID
	role    string // the caller's: how apps are rendered (appRenderer)
	app     uuid.NullUUID
	resume  bool
	lastID  int64
	sent    map[uuid.UUID]int64 // status_seq last sent (or known) per live app
	gone    map[uuid.UUID]bool  // deletions sent
	tombMin int64               // tombstones at or below it cannot concern this stream
}

// WatchApps streams status changes of the organization's apps.
func (s *server) WatchApps(c echo.Context, params openapi.WatchAppsParams) error {
	ctx := c.Request().Context()
	o := org(c)
	wt := &watcher{s: s, org: o.ID, role: o.Role, sent: map[uuid.UUID]int64{}, gone: map[uuid.UUID]bool{}}
	if params.App != nil && *params.App != "" {
		app, err := s.findApp(c, *params.App)
		if err != nil {
			return err
		}
		wt.app = uuid.NullUUID{UUID: app.ID, Valid: true}
	}
	if params.LastEventID != nil && strings.TrimSpace(*params.LastEventID) != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(*params.LastEventID), 10, 64)
		if err != nil || n < 0 {
			return problem.Malformed("", fe("Last-Event-ID", "must be an event id this stream sent (a number)"))
		}
		wt.resume, wt.lastID = true, n
	}
	st, err := s.openStream(c)
	if err != nil {
		return err
	}
	defer st.close()
	ctx = st.ctx
	sub, unsubscribe := s.hub.subscribe(ctx, o.ID)
	defer unsubscribe()
	if ctx.Err() != nil {
		return nil
	}
	wt.w = st.start(c)
	if err := wt.start(ctx); err != nil {
		return wt.end(err)
	}
	tick := time.NewTicker(s.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.wake:
		case <-tick.C:
			if err := wt.w.comment("ping"); err != nil {
				return nil
			}
		}
		if err := wt.refresh(ctx); err != nil {
			return wt.end(err)
		}
	}
}

// end closes a stream after an error: a database error is logged; a
// client that left, or a stream its guard ended, is not an error.
func (wt *watcher) end(err error) error {
	if err != nil && !isClientGone(err) && !errors.Is(err, context.Canceled) {
		wt.s.log.Warn().Err(err).Msg("watch stream ended")
	}
	return nil
}

func isClientGone(err error) bool {
	return err == context.Canceled || strings.Contains(err.Error(), "context canceled") ||
		strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "connection reset")
}

// start sends the stream's first burst: every app (or, resuming, every app
// and deletion after Last-Event-ID), then a synced event. A resume from
// before the watch horizon (tombstones pruned since) cannot list the
// deletions it missed, so the stream starts over with a reset event.
func (wt *watcher) start(ctx context.Context) error {
	ok, err := wt.resumable(ctx)
	if err == nil && ok {
		if err = wt.burst(ctx); err == nil {
			// Tombstones pruned while the burst was read would be missing
			// from it; the horizon is raised in the pruning transaction,
			// so reading it again tells.
			ok, err = wt.resumable(ctx)
		}
	}
	if err != nil {
		return err
	}
	if !ok {
		return wt.reset(ctx)
	}
	return wt.w.event("", "synced", "{}")
}

// resumable reports whether every deletion after Last-Event-ID still has
// its tombstone (true when not resuming).
func (wt *watcher) resumable(ctx context.Context) (bool, error) {
	if !wt.resume {
		return true, nil
	}
	var h int64
	err := wt.s.streams.read(ctx, func() (err error) {
		h, err = wt.s.Store.APIWatchHorizon(ctx)
		return err
	})
	return wt.lastID >= h, err
}

// reset tells the client to forget what it knows and sends the whole
// state, as a stream without Last-Event-ID does.
func (wt *watcher) reset(ctx context.Context) error {
	if err := wt.w.event("", "reset", `{"reason":"Last-Event-ID is older than the deletions this server still remembers: forget every app you know; the whole list follows"}`); err != nil {
		return err
	}
	wt.resume, wt.lastID = false, 0
	clear(wt.sent)
	clear(wt.gone)
	if err := wt.burst(ctx); err != nil {
		return err
	}
	return wt.w.event("", "synced", "{}")
}

// burst sends every app (or, resuming, every app and deletion after
// Last-Event-ID).
func (wt *watcher) burst(ctx context.Context) error {
	seqs, err := wt.seqs(ctx)
	if err != nil {
		return err
	}
	// A deletion has a higher status_seq than any status of its app, so
	// tombstones at or below the lowest known seq (and, resuming, below
	// Last-Event-ID) cannot concern this stream and are never scanned.
	wt.tombMin = wt.lastID
	var ids []uuid.UUID
	for i, r := range seqs {
		if (i == 0 && !wt.resume) || r.StatusSeq-1 < wt.tombMin {
			wt.tombMin = r.StatusSeq - 1
		}
		if wt.resume && r.StatusSeq <= wt.lastID {
			wt.sent[r.ID] = r.StatusSeq
			continue
		}
		ids = append(ids, r.ID)
	}
	return wt.send(ctx, ids)
}

// refresh sends every app whose status_seq moved since it was last sent,
// and every deletion of an app this stream knows.
func (wt *watcher) refresh(ctx context.Context) error {
	seqs, err := wt.seqs(ctx)
	if err != nil {
		return err
	}
	var ids []uuid.UUID
	for _, r := range seqs {
		if seq, ok := wt.sent[r.ID]; !ok || seq != r.StatusSeq {
			ids = append(ids, r.ID)
		}
	}
	return wt.send(ctx, ids)
}

// seqs reads the status_seq of every app the stream shows.
func (wt *watcher) seqs(ctx context.Context) (seqs []store.APIAppSeqsRow, err error) {
	err = wt.s.streams.read(ctx, func() error {
		seqs, err = wt.s.Store.APIAppSeqs(ctx, store.APIAppSeqsParams{OrganizationID: wt.org, AppID: wt.app})
		return err
	})
	return seqs, err
}

type watchEvent struct {
	seq  int64
	name string
	data any
	app  uuid.UUID
}

// send reads the apps ids and the deletions the stream has not sent, then
// sends them; the database share is held for the reads only, never while a
// slow client is written to.
func (wt *watcher) send(ctx context.Context, ids []uuid.UUID) error {
	var evs []watchEvent
	if err := wt.s.streams.read(ctx, func() (err error) {
		evs, err = wt.pending(ctx, ids)
		return err
	}); err != nil {
		return err
	}
	for _, ev := range evs {
		b, err := json.Marshal(ev.data)
		if err != nil {
			return err
		}
		if err := wt.w.event(strconv.FormatInt(ev.seq, 10), ev.name, string(b)); err != nil {
			return err
		}
		if ev.name == "deleted" {
			wt.gone[ev.app] = true
			delete(wt.sent, ev.app)
		} else {
			wt.sent[ev.app] = ev.seq
		}
	}
	return nil
}

// pending reads the events of apps ids and of the deletions since the
// stream's horizon, in status_seq order.
func (wt *watcher) pending(ctx context.Context, ids []uuid.UUID) ([]watchEvent, error) {
	var evs []watchEvent
	if len(ids) > 0 {
		rows, err := wt.s.Store.APIGetAppsByIDs(ctx, store.APIGetAppsByIDsParams{OrganizationID: wt.org, Ids: ids})
		if err != nil {
			return nil, err
		}
		rt, err := loadRoutes(ctx, wt.s.Store.Queries, rows)
		if err != nil {
			return nil, err
		}
		render := wt.s.appRenderer(wt.role, rt)
		for _, r := range rows {
			a, err := render(r)
			if err != nil {
				return nil, err
			}
			evs = append(evs, watchEvent{seq: r.StatusSeq, name: "app", data: a, app: r.ID})
		}
	}
	tombs, err := wt.s.Store.APITombstonesSince(ctx, store.APITombstonesSinceParams{OrganizationID: wt.org, AfterSeq: wt.tombMin, AppID: wt.app})
	if err != nil {
		return nil, err
	}
	for _, t := range tombs {
		_, known := wt.sent[t.AppID]
		if wt.gone[t.AppID] || !(known || wt.resume && t.StatusSeq > wt.lastID) {
			continue
		}
		evs = append(evs, watchEvent{seq: t.StatusSeq, name: "deleted", app: t.AppID,
			data: openapi.DeletedApp{Id: t.AppID, Name: t.Name, OrganizationId: t.OrganizationID, StatusSeq: t.StatusSeq}})
	}
	slices.SortFunc(evs, func(a, b watchEvent) int { return cmp.Compare(a.seq, b.seq) })
	return evs, nil
}
