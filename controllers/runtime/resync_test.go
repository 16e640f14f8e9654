package runtime

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestResyncCoalescesTriggers(t *testing.T) {
	ctx := testCtx(t)
	var runs atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	pendingDuringSecond := make(chan int, 1)
	r := &Resync{}
	r.Do = func(ctx context.Context) {
		switch runs.Add(1) {
		case 1:
			close(started)
			<-release
		case 2:
			// Every Trigger sent during run 1 was folded into this run.
			pendingDuringSecond <- len(r.ch())
		}
	}
	stop := start(t, ctx, r.Run)

	r.Trigger()
	recv(t, started, 5*time.Second, "first run")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 10 {
				r.Trigger()
			}
		})
	}
	wg.Wait()
	close(release)
	if n := recv(t, pendingDuringSecond, 5*time.Second, "second run"); n != 0 {
		t.Fatalf("%d resyncs still pending during the second run, want 0", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("runs = %d, want 2 (100 triggers during a run coalesce into one)", n)
	}
}

func TestResyncTriggerBeforeRun(t *testing.T) {
	ctx := testCtx(t)
	ran := make(chan struct{}, 4)
	r := &Resync{Interval: time.Hour, Do: func(ctx context.Context) { ran <- struct{}{} }}
	r.Trigger() // e.g. a source connected before the resync loop started
	start(t, ctx, r.Run)
	recv(t, ran, 5*time.Second, "resync triggered before Run")
}

func TestResyncPeriodic(t *testing.T) {
	ctx := testCtx(t)
	const interval = 20 * time.Millisecond
	var mu sync.Mutex
	var at []time.Time
	r := &Resync{Interval: interval, Do: func(ctx context.Context) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}}
	begin := time.Now()
	start(t, ctx, r.Run)
	eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(at) >= 3 }, "3 periodic runs")

	mu.Lock()
	defer mu.Unlock()
	prev := begin
	for i, ts := range at[:3] {
		if gap := ts.Sub(prev); gap < interval {
			t.Errorf("run %d came %v after the previous one, want >= %v", i+1, gap, interval)
		}
		prev = ts
	}
}

func TestResyncRequiresDo(t *testing.T) {
	if err := (&Resync{}).Run(testCtx(t)); err == nil {
		t.Fatal("Run with no Do returned nil, want an error")
	}
}
