package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testCtx returns a context carrying a logger that writes to t, cancelled
// when the test ends.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	ctx, cancel := context.WithCancel(log.WithContext(context.Background()))
	t.Cleanup(cancel)
	return ctx
}

// start runs fn in a goroutine with a child of ctx and returns a function
// that cancels it and waits for it to return; cleanup does the same, so no
// goroutine logs after the test has ended.
func start(t *testing.T, ctx context.Context, fn func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var err error
	var stopped atomic.Bool
	stop = func() error {
		cancel()
		if stopped.CompareAndSwap(false, true) {
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("runnable did not return within 30s of cancel")
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recv waits for a value on ch or fails the test after timeout.
func recv[T any](t *testing.T, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
		panic("unreachable")
	}
}

// maxTracker counts concurrent holders and remembers the highest count seen.
type maxTracker struct{ cur, max atomic.Int64 }

func (m *maxTracker) enter() {
	n := m.cur.Add(1)
	for {
		old := m.max.Load()
		if n <= old || m.max.CompareAndSwap(old, n) {
			return
		}
	}
}

func (m *maxTracker) leave() { m.cur.Add(-1) }

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%016x", prefix, rand.Uint64())
}
