// Package storetest gives each integration test its own migrated database,
// cloned from a template so that a test pays for a CREATE DATABASE, not for
// running every migration.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/skypanel/paas/schema"
	"github.com/skypanel/paas/store"
)

// BaseURL returns DATABASE_URL, failing the test when it is unset: an
// integration test that silently skips proves nothing.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Fatal("DATABASE_URL is not set: run `make test`, or export DATABASE_URL=$(hack/postgres-up.sh)")
	}
	return u
}

// NewURL creates a fresh migrated database for the test, drops it when the
// test ends, and returns its connection string.
func NewURL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)

	template, err := ensureTemplate(ctx, admin, base)
	if err != nil {
		t.Fatalf("prepare template database: %v", err)
	}
	name := "paas_test_" + randomHex(6)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("clone template database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

// New returns a Store on a fresh migrated database, closed when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, NewURL(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// InstanceID returns an installation id unique to this test, so Swarm objects
// of parallel tests never look like each other's.
func InstanceID(t testing.TB) string {
	t.Helper()
	return "t" + randomHex(5)
}

// ensureTemplate creates, once per schema version, a database migrated to
// the current schema; the name carries a hash of the migrations so a schema
// change never reuses a stale template. An advisory lock keeps parallel test
// processes from building it twice.
func ensureTemplate(ctx context.Context, admin *pgx.Conn, base string) (string, error) {
	name := "paas_template_" + migrationsHash()
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7236001)"); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(7236001)") //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if _, err := store.Migrate(ctx, withDatabase(base, building)); err != nil {
		return "", err
	}
	// Renaming only once migrated means a crash mid-way never leaves a
	// half-built template that later runs would trust.
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func migrationsHash() string {
	h := sha256.New()
	entries, _ := fs.ReadDir(schema.Migrations, ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(schema.Migrations, n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		// A keyword/value DSN: a later dbname wins.
		return strings.TrimSpace(base) + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PatchApp applies change to an app's spec with optimistic concurrency,
// retrying when a reconciler's status write moved the version first.
func PatchApp(t testing.TB, s *store.Store, id uuid.UUID, change func(p *store.UpdateAppSpecParams)) store.App {
	t.Helper()
	ctx := context.Background()
	for range 50 {
		a, err := s.GetApp(ctx, id)
		if err != nil {
			t.Fatalf("patch app: %v", err)
		}
		p := store.SpecParams(a)
		change(&p)
		out, err := s.UpdateAppSpec(ctx, p)
		if err == nil {
			return out
		}
		if !store.IsNotFound(err) {
			t.Fatalf("patch app: %v", err)
		}
	}
	t.Fatal("patch app: too many version conflicts")
	return store.App{}
}

// Connector returns a function opening plain connections to DATABASE_URL
// whose sessions carry appName, so a test can find and terminate them.
func Connector(t testing.TB, appName string) func(context.Context) (*pgx.Conn, error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(BaseURL(t))
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	cfg.RuntimeParams["application_name"] = appName
	return func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) }
}

// AdminConn opens a connection to DATABASE_URL for the test itself, closed
// when the test ends.
func AdminConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), BaseURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// Terminate kills every backend whose application_name is appName, as a
// network failure or a server restart would, and returns how many.
func Terminate(t testing.TB, conn *pgx.Conn, appName string) int {
	t.Helper()
	var n int
	err := conn.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&n)
	if err != nil {
		t.Fatalf("terminate %s: %v", appName, err)
	}
	return n
}
