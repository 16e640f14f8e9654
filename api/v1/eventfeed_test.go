package v1_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
)

// eventQueries counts the queries of paas_events a pool runs.
type eventQueries struct{ n atomic.Int64 }

func (q *eventQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "FROM paas_events") {
		q.n.Add(1)
	}
	return ctx
}

func (q *eventQueries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// tracedStore is the API's store on the fixture's database, with its
// queries of paas_events counted.
func tracedStore(t *testing.T, s *store.Store, q *eventQueries) *store.Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(s.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = q
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.Wrap(pool)
}

// TestEventStreamsShareOnePoller: eight event streams of a process cost
// about one query per poll interval together, plus one read per stream
// when its app has news, where each used to poll on its own.
func TestEventStreamsShareOnePoller(t *testing.T) {
	t.Parallel()
	const streams, poll = 8, 50 * time.Millisecond
	var q eventQueries
	f := setup(t, func(d *v1.Deps) {
		d.Store = tracedStore(t, d.Store, &q)
		d.EventsPoll, d.Heartbeat = poll, time.Hour
	})
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	var sts []*sseStream
	for range streams {
		sts = append(sts, f.stream(f.alice.token, "/api/paas/apps/web/events"))
	}

	start, before := time.Now(), q.n.Load()
	// Nothing is recorded for a second: no stream hears anything.
	sts[0].quiet(time.Second)
	// Then one event reaches every stream.
	f.recordEvent(web.Id, "Ready", "all replicas run", time.Now())
	for i, st := range sts {
		if ev := st.next(wait); ev.Event != "event" || !strings.Contains(ev.Data, "all replicas run") {
			t.Fatalf("stream %d: %+v", i, ev)
		}
	}
	intervals := int64(time.Since(start)/poll) + 1
	got := q.n.Load() - before
	// One head query per interval, a read per stream woken by the event,
	// and as much again for slack (a poll in flight, a second wake-up).
	bound := intervals + 2*streams + 2
	t.Logf("%d queries of paas_events in %d poll intervals with %d streams (bound %d)", got, intervals, streams, bound)
	if got > bound {
		t.Fatalf("%d streams ran %d queries of paas_events in %d poll intervals; want at most %d", streams, got, intervals, bound)
	}
}
