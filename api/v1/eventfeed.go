package v1

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/store"
)

// eventFeed tells the event streams of this process when their app has
// news, polling Postgres once per interval for all of them together: one
// query that reads each streamed app's newest event position, instead of
// one query a second per stream. A stream woken (or at its heartbeat)
// reads its own app's events from its own cursor, so the feed only says
// when to look and a missed wake-up delays an event but never loses it.
// The poller runs only while someone streams.
type eventFeed struct {
	store *store.Store
	log   zerolog.Logger

	mu      sync.Mutex
	subs    map[uuid.UUID]map[*eventSub]struct{} // app -> its streams
	heads   map[uuid.UUID]eventHead              // app -> newest event seen
	running bool
}

// eventHead is an app's newest event position.
type eventHead struct {
	ts time.Time
	id int64
}

// eventSub is one stream's subscription; wake holds at most one pending
// wake-up.
type eventSub struct {
	wake chan struct{}
}

func newEventFeed(s *store.Store, log zerolog.Logger) *eventFeed {
	return &eventFeed{store: s, log: log, subs: map[uuid.UUID]map[*eventSub]struct{}{}, heads: map[uuid.UUID]eventHead{}}
}

// subscribe registers a stream of app's events, starting the poller (at
// interval every) when it is the first; the returned func unsubscribes.
func (f *eventFeed) subscribe(app uuid.UUID, every time.Duration) (<-chan struct{}, func()) {
	sub := &eventSub{wake: make(chan struct{}, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs[app] == nil {
		f.subs[app] = map[*eventSub]struct{}{}
	}
	f.subs[app][sub] = struct{}{}
	if !f.running {
		f.running = true
		go f.run(every)
	}
	return sub.wake, func() { f.unsubscribe(app, sub) }
}

func (f *eventFeed) unsubscribe(app uuid.UUID, sub *eventSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs[app], sub)
	if len(f.subs[app]) == 0 {
		delete(f.subs, app)
		delete(f.heads, app)
	}
}

// run polls until nobody streams.
func (f *eventFeed) run(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for range tick.C {
		apps := f.apps()
		if apps == nil {
			return
		}
		f.poll(apps)
	}
}

// apps lists the streamed apps; nil (and the poller marked stopped) when
// there are none, under the same lock as subscribe, so a new subscriber
// either is seen here or starts a new poller.
func (f *eventFeed) apps() []uuid.UUID {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) == 0 {
		f.running = false
		return nil
	}
	apps := make([]uuid.UUID, 0, len(f.subs))
	for app := range f.subs {
		apps = append(apps, app)
	}
	return apps
}

// poll reads the apps' heads and wakes the streams of each app whose head
// moved, or was seen for the first time (its stream may have read its
// events just before this event came). On a database error every stream
// is woken: each then reads for itself, and ends if the database is gone.
func (f *eventFeed) poll(apps []uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := f.store.APIEventHeads(ctx, apps)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.log.Warn().Err(err).Msg("event streams: reading event heads")
		for _, subs := range f.subs {
			wakeAll(subs)
		}
		return
	}
	for _, r := range rows {
		subs, ok := f.subs[r.ObjectID]
		if !ok {
			continue // unsubscribed meanwhile
		}
		h := eventHead{ts: r.LastTimestamp, id: r.ID}
		if old, seen := f.heads[r.ObjectID]; !seen || !old.ts.Equal(h.ts) || old.id != h.id {
			f.heads[r.ObjectID] = h
			wakeAll(subs)
		}
	}
}

func wakeAll(subs map[*eventSub]struct{}) {
	for sub := range subs {
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}
