package pgnotify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// databaseURL returns DATABASE_URL or fails: these tests need a real server.
func databaseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Fatal("DATABASE_URL is not set: start Postgres with `export DATABASE_URL=$(bash hack/postgres-up.sh)`")
	}
	return u
}

// connector returns a Connect function whose sessions carry appName, so a
// test can find (and terminate) them in pg_stat_activity.
func connector(t *testing.T, appName string) func(context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(databaseURL(t))
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	cfg.RuntimeParams["application_name"] = appName
	return func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) }
}

// adminConn opens a connection for the test itself, closed at cleanup.
func adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), databaseURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// terminate kills every backend whose application_name is appName and
// returns how many it killed.
func terminate(t *testing.T, conn *pgx.Conn, appName string) int {
	t.Helper()
	var n int
	err := conn.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		appName).Scan(&n)
	if err != nil {
		t.Fatalf("terminate %s: %v", appName, err)
	}
	return n
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%016x", prefix, rand.Uint64())
}
