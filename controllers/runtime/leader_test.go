package runtime

import (
	"context"
	"github.com/skypanel/paas/store/storetest"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// candidate is one elector plus what its lead function observed.
type candidate struct {
	name    string
	app     string // application_name of its sessions
	elector *Elector
	terms   chan context.Context // the leaderCtx of each term, when it starts
	ended   chan error           // the cause of each term's end, once lead returns
	stop    func() error
}

// newCandidates starts n electors competing for one random lock.
func newCandidates(t *testing.T, ctx context.Context, n int, leaders *maxTracker) []*candidate {
	t.Helper()
	// Random so parallel tests and runs never collide; signed, so that the
	// pg_locks check is exercised with negative keys too.
	lockID := int64(rand.Uint64())
	var cs []*candidate
	for i := range n {
		c := &candidate{
			name:  string(rune('A' + i)),
			app:   uniqueName("elector"),
			terms: make(chan context.Context, 8),
			ended: make(chan error, 8),
		}
		c.elector = &Elector{
			Connect:       storetest.Connector(t, c.app),
			LockID:        lockID,
			RetryInterval: 50 * time.Millisecond,
			CheckInterval: 100 * time.Millisecond,
			CheckTimeout:  200 * time.Millisecond,
			Metrics:       NewMetrics(),
		}
		lead := func(ctx context.Context) {
			leaders.enter()
			c.terms <- ctx
			<-ctx.Done()
			leaders.leave()
			c.ended <- context.Cause(ctx)
		}
		c.stop = start(t, ctx, func(ctx context.Context) error { return c.elector.Run(ctx, lead) })
		cs = append(cs, c)
	}
	return cs
}

// awaitLeader waits until exactly one candidate has started a term and returns it.
func awaitLeader(t *testing.T, cs []*candidate) (*candidate, context.Context) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		for _, c := range cs {
			select {
			case ctx := <-c.terms:
				return c, ctx
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatal("no candidate became leader within 15s")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func others(cs []*candidate, c *candidate) []*candidate {
	var out []*candidate
	for _, o := range cs {
		if o != c {
			out = append(out, o)
		}
	}
	return out
}

func TestElectorOneLeaderAndHandoverOnCancel(t *testing.T) {
	ctx := testCtx(t)
	var leaders maxTracker
	cs := newCandidates(t, ctx, 2, &leaders)

	first, _ := awaitLeader(t, cs)
	follower := others(cs, first)[0]
	if !first.elector.IsLeader() || follower.elector.IsLeader() {
		t.Fatalf("IsLeader: %s=%v %s=%v, want only %s", first.name, first.elector.IsLeader(),
			follower.name, follower.elector.IsLeader(), first.name)
	}
	if g := testutil.ToFloat64(first.elector.Metrics.Leader); g != 1 {
		t.Errorf("leader's paas_leader = %v, want 1", g)
	}
	// Give the follower many retries in which it must not win the lock too;
	// there is no event to wait for when nothing should happen.
	time.Sleep(10 * first.elector.RetryInterval)
	if follower.elector.IsLeader() || len(follower.terms) != 0 {
		t.Fatalf("follower %s became leader while %s held the lock", follower.name, first.name)
	}

	// A leader that shuts down hands over.
	if err := first.stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	recv(t, first.ended, time.Second, "first leader's term to end")
	next, _ := awaitLeader(t, cs)
	if next != follower {
		t.Fatalf("%s led again after it stopped", next.name)
	}
	if first.elector.IsLeader() || testutil.ToFloat64(first.elector.Metrics.Leader) != 0 {
		t.Errorf("stopped elector still reports leadership")
	}
	if m := leaders.max.Load(); m != 1 {
		t.Errorf("max concurrent leaders = %d, want 1", m)
	}
}

func TestElectorLosesLeadershipWhenBackendTerminated(t *testing.T) {
	ctx := testCtx(t)
	admin := storetest.AdminConn(t)
	var leaders maxTracker
	cs := newCandidates(t, ctx, 2, &leaders)

	first, firstCtx := awaitLeader(t, cs)
	follower := others(cs, first)[0]
	if n := storetest.Terminate(t, admin, first.app); n != 1 {
		t.Fatalf("terminated %d backends of %s, want 1", n, first.name)
	}

	// The lost session must cancel the old leader's context promptly.
	select {
	case <-firstCtx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leaderCtx of the terminated leader was not cancelled within 5s")
	}
	cause := recv(t, first.ended, 5*time.Second, "terminated leader's term to end")
	if cause == nil || ctx.Err() != nil {
		t.Fatalf("term ended with cause %v, want a lease-check error", cause)
	}
	t.Logf("term of %s ended: %v", first.name, cause)
	if first.elector.IsLeader() {
		t.Errorf("%s still reports leadership after its session was terminated", first.name)
	}

	next, _ := awaitLeader(t, cs)
	if next != follower {
		t.Fatalf("%s regained leadership; want %s to take over", next.name, follower.name)
	}
	if m := leaders.max.Load(); m != 1 {
		t.Errorf("max concurrent leaders = %d, want 1 (old and new leader overlapped)", m)
	}
	// The old leader campaigns again rather than giving up.
	eventually(t, 10*time.Second, func() bool {
		var n int
		_ = admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, first.app).Scan(&n)
		return n == 1
	}, "%s to reconnect and campaign again", first.name)
}

func TestElectorRequiresConfig(t *testing.T) {
	if err := (&Elector{}).Run(testCtx(t), func(context.Context) {}); err == nil {
		t.Fatal("Run with no Connect returned nil, want an error")
	}
}
