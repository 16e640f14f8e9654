package runtime

import (
	"context"
	"errors"
	"github.com/skypanel/paas/store/key"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// countingReconciler records calls per key and runs fn for each.
type countingReconciler struct {
	mu    sync.Mutex
	calls map[string][]time.Time
	fn    func(ctx context.Context, key string, n int) (Result, error) // n counts from 1
}

func (r *countingReconciler) Reconcile(ctx context.Context, k key.Key) (Result, error) {
	key := k.Name
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[string][]time.Time{}
	}
	r.calls[key] = append(r.calls[key], time.Now())
	n := len(r.calls[key])
	r.mu.Unlock()
	if r.fn == nil {
		return Result{}, nil
	}
	return r.fn(ctx, key, n)
}

func (r *countingReconciler) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls[key])
}

func (r *countingReconciler) times(key string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls[key]...)
}

func total(m *Metrics, controller, result string) float64 {
	return testutil.ToFloat64(m.ReconcileTotal.WithLabelValues(controller, result))
}

func TestControllerDeduplicatesKeyEnqueuedWhileProcessing(t *testing.T) {
	ctx := testCtx(t)
	started, release := make(chan struct{}), make(chan struct{})
	rec := &countingReconciler{fn: func(ctx context.Context, key string, n int) (Result, error) {
		if key == "a" && n == 1 {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return Result{}, nil
	}}
	// One worker keeps the queue FIFO, which the final check relies on.
	c := &Controller{Name: "dedup", Reconciler: rec, Workers: 1, Metrics: NewMetrics()}
	start(t, ctx, c.Run)

	c.Enqueue(tk("a"))
	recv(t, started, 5*time.Second, "first reconcile of a")
	for range 100 {
		c.Enqueue(tk("a"))
	}
	close(release)
	eventually(t, 5*time.Second, func() bool { return rec.count("a") == 2 }, "second reconcile of a")

	// Anything still queued for a would run before z.
	c.Enqueue(tk("z"))
	eventually(t, 5*time.Second, func() bool { return rec.count("z") == 1 }, "reconcile of z")
	if got := rec.count("a"); got != 2 {
		t.Fatalf("a reconciled %d times, want 2 (the first, plus one for 100 coalesced enqueues)", got)
	}
}

func TestControllerNeverReconcilesOneKeyConcurrently(t *testing.T) {
	ctx := testCtx(t)
	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	perKey := map[string]*maxTracker{}
	for _, k := range keys {
		perKey[k] = &maxTracker{}
	}
	var all maxTracker
	var done atomic.Int64
	c := &Controller{Name: "exclusive", Workers: 8, Metrics: NewMetrics(),
		Reconciler: ReconcilerFunc(func(ctx context.Context, k key.Key) (Result, error) {
			key := k.Name
			perKey[key].enter()
			all.enter()
			time.Sleep(time.Millisecond) // widen the window for an overlap
			all.leave()
			perKey[key].leave()
			done.Add(1)
			return Result{}, nil
		})}
	start(t, ctx, c.Run)

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 200 {
				c.Enqueue(tk(keys[i%len(keys)]))
				if i%10 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		})
	}
	wg.Wait()
	eventually(t, 10*time.Second, func() bool { return c.Len() == 0 && all.cur.Load() == 0 }, "queue drained")
	for k, m := range perKey {
		if got := m.max.Load(); got != 1 {
			t.Errorf("key %s: max concurrent reconciles = %d, want 1", k, got)
		}
	}
	if all.max.Load() < 2 {
		t.Errorf("max concurrent reconciles over all keys = %d, want >= 2 (workers should run in parallel)", all.max.Load())
	}
	if n := done.Load(); n < int64(len(keys)) || n > 800 {
		t.Errorf("reconciles = %d, want between %d and 800", n, len(keys))
	}
}

func TestControllerRetriesErrorsWithBackoff(t *testing.T) {
	ctx := testCtx(t)
	m := NewMetrics()
	const base = 20 * time.Millisecond
	rec := &countingReconciler{fn: func(ctx context.Context, key string, n int) (Result, error) {
		if n <= 3 {
			return Result{}, errors.New("transient")
		}
		return Result{}, nil
	}}
	c := &Controller{Name: "backoff", Reconciler: rec, Metrics: m,
		RateLimiter: NewRateLimiter(base, time.Second, 1000, 1000)}
	start(t, ctx, c.Run)

	c.Enqueue(tk("a"))
	eventually(t, 5*time.Second, func() bool { return total(m, "backoff", ResultSuccess) == 1 }, "success after retries")
	ts := rec.times("a")
	if len(ts) != 4 {
		t.Fatalf("reconciles = %d, want 4 (3 failures, 1 success)", len(ts))
	}
	for i := 1; i < len(ts); i++ {
		want := base << (i - 1) // 20ms, 40ms, 80ms
		if gap := ts[i].Sub(ts[i-1]); gap < want {
			t.Errorf("retry %d came after %v, want >= %v", i, gap, want)
		}
	}
	if got := total(m, "backoff", ResultError); got != 3 {
		t.Errorf("error count = %v, want 3", got)
	}
	// Success must reset the backoff.
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	if n := q.NumRequeues(tk("a")); n != 0 {
		t.Errorf("NumRequeues after success = %d, want 0 (forgotten)", n)
	}
}

func TestControllerRequeueAfter(t *testing.T) {
	ctx := testCtx(t)
	m := NewMetrics()
	const after = 30 * time.Millisecond
	rec := &countingReconciler{fn: func(ctx context.Context, key string, n int) (Result, error) {
		if n <= 2 {
			return Result{RequeueAfter: after}, nil
		}
		return Result{}, nil
	}}
	c := &Controller{Name: "requeue", Reconciler: rec, Metrics: m}
	start(t, ctx, c.Run)

	c.Enqueue(tk("a"))
	eventually(t, 5*time.Second, func() bool { return total(m, "requeue", ResultSuccess) == 1 }, "final success")
	ts := rec.times("a")
	if len(ts) != 3 {
		t.Fatalf("reconciles = %d, want 3", len(ts))
	}
	for i := 1; i < 3; i++ {
		if gap := ts[i].Sub(ts[i-1]); gap < after {
			t.Errorf("requeue %d came after %v, want >= %v", i, gap, after)
		}
	}
	if got := total(m, "requeue", ResultRequeue); got != 2 {
		t.Errorf("requeue count = %v, want 2", got)
	}
	if got := total(m, "requeue", ResultError); got != 0 {
		t.Errorf("error count = %v, want 0", got)
	}
}

func TestControllerRecoversPanic(t *testing.T) {
	ctx := testCtx(t)
	m := NewMetrics()
	rec := &countingReconciler{fn: func(ctx context.Context, key string, n int) (Result, error) {
		if n == 1 {
			panic("boom")
		}
		return Result{}, nil
	}}
	c := &Controller{Name: "panic", Reconciler: rec, Metrics: m,
		RateLimiter: NewRateLimiter(time.Millisecond, time.Second, 1000, 1000)}
	start(t, ctx, c.Run)

	c.Enqueue(tk("a"))
	eventually(t, 5*time.Second, func() bool { return total(m, "panic", ResultSuccess) == 1 }, "success after panic")
	if got := total(m, "panic", ResultError); got != 1 {
		t.Errorf("error count = %v, want 1 (the panic)", got)
	}
	if got := rec.count("a"); got != 2 {
		t.Errorf("reconciles = %d, want 2", got)
	}
}

func TestControllerRunDrainsInFlightOnCancel(t *testing.T) {
	ctx := testCtx(t)
	started := make(chan struct{})
	var finished, sawCancel atomic.Bool
	rec := &countingReconciler{fn: func(ctx context.Context, key string, n int) (Result, error) {
		if key != "slow" {
			return Result{}, nil
		}
		close(started)
		<-ctx.Done() // shutdown must cancel in-flight reconciles
		sawCancel.Store(true)
		time.Sleep(20 * time.Millisecond) // still cleaning up when cancelled
		finished.Store(true)
		return Result{}, ctx.Err()
	}}
	c := &Controller{Name: "drain", Reconciler: rec, Workers: 1, Metrics: NewMetrics()}
	stop := start(t, ctx, c.Run)

	c.Enqueue(tk("slow"))
	recv(t, started, 5*time.Second, "slow reconcile to start")
	c.Enqueue(tk("queued")) // waits behind slow on the only worker
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if !sawCancel.Load() || !finished.Load() {
		t.Fatalf("Run returned before the in-flight reconcile finished (cancelled=%v finished=%v)",
			sawCancel.Load(), finished.Load())
	}
	if got := rec.count("queued"); got != 0 {
		t.Errorf("queued key reconciled %d times after shutdown, want 0", got)
	}

	// The controller can run again, e.g. for the next leadership term.
	start(t, ctx, c.Run)
	c.Enqueue(tk("next"))
	eventually(t, 5*time.Second, func() bool { return rec.count("next") == 1 }, "reconcile in second Run")
}

func TestControllerRejectsConcurrentRun(t *testing.T) {
	ctx := testCtx(t)
	c := &Controller{Name: "twice", Reconciler: &countingReconciler{}, Metrics: NewMetrics()}
	start(t, ctx, c.Run)
	eventually(t, 5*time.Second, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.running }, "first Run started")
	if err := c.Run(ctx); err == nil {
		t.Fatal("second concurrent Run returned nil, want an error")
	}
}

func TestControllerMetrics(t *testing.T) {
	ctx := testCtx(t)
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	m.MustRegister(reg)
	c := &Controller{Name: "metrics", Reconciler: &countingReconciler{}, Metrics: m}

	// Enqueued before Run: they wait in the queue and show in its depth.
	for _, k := range []string{"a", "b", "c", "a"} {
		c.Enqueue(tk(k))
	}
	depth := m.WorkqueueDepth.WithLabelValues("metrics")
	if got := testutil.ToFloat64(depth); got != 3 {
		t.Fatalf("paas_workqueue_depth before Run = %v, want 3", got)
	}
	start(t, ctx, c.Run)
	eventually(t, 5*time.Second, func() bool { return total(m, "metrics", ResultSuccess) == 3 }, "3 successes")
	eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(depth) == 0 }, "depth back to 0")

	if n := testutil.CollectAndCount(m.ReconcileDuration, "paas_reconcile_duration_seconds"); n != 1 {
		t.Errorf("duration histogram series = %d, want 1", n)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"paas_reconcile_total", "paas_reconcile_duration_seconds", "paas_workqueue_depth", "paas_leader"} {
		if !names[want] {
			t.Errorf("registry lacks %s (has %v)", want, names)
		}
	}
}

// tk returns the test key named name.
func tk(name string) key.Key { return key.New("test", name) }
