package pgnotify

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// start runs fn in the background; the returned stop cancels it and waits.
func start(t *testing.T, ctx context.Context, fn func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// recv waits for one value from ch or fails the test.
func recv[T any](t *testing.T, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
		panic("unreachable")
	}
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%016x", prefix, rand.Uint64())
}
