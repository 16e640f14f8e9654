package store_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

// The tests in this file hold the schema to package spec, which states the
// rules the API, the CLI and the reconcilers share: schema and spec must
// not drift apart.

// TestEnvKeyConstraintIsSpecPattern reads the CHECK constraint on
// paas_env_vars.key from Postgres and finds spec.EnvKeyPattern and the
// reserved PORT in it.
func TestEnvKeyConstraintIsSpecPattern(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	rows, err := f.s.Pool.Query(ctx, `
		SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
		 WHERE c.conrelid = 'paas_env_vars'::regclass AND c.contype = 'c'`)
	if err != nil {
		t.Fatal(err)
	}
	var defs []string
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			t.Fatal(err)
		}
		defs = append(defs, def)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var keyCheck string
	for _, def := range defs {
		if strings.Contains(def, "key ~") {
			keyCheck = def
		}
	}
	if keyCheck == "" {
		t.Fatalf("no CHECK on paas_env_vars.key among %q", defs)
	}
	if want := "key ~ '" + spec.EnvKeyPattern + "'"; !strings.Contains(keyCheck, want) {
		t.Errorf("paas_env_vars key check is %s; want it to hold %s (spec.EnvKeyPattern)", keyCheck, want)
	}
	if want := "key <> '" + spec.ReservedEnvKey + "'"; !strings.Contains(keyCheck, want) {
		t.Errorf("paas_env_vars key check is %s; want it to exclude the reserved key: %s", keyCheck, want)
	}
}

// TestEnvKeyConstraintAgreesWithCheckEnvKey inserts names on both sides of
// every rule: Postgres accepts exactly those spec.CheckEnvKey accepts.
func TestEnvKeyConstraintAgreesWithCheckEnvKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	keys := []string{"A", "_", "DATABASE_URL", "A1", "_9", strings.Repeat("K", spec.MaxEnvKeyLen),
		"", "a", "lower", "1A", "A-B", "A B", "ÄB", "PORT", "PORT_", "XPORT", strings.Repeat("K", spec.MaxEnvKeyLen+1)}
	for _, k := range keys {
		specErr := spec.CheckEnvKey(k)
		_, dbErr := f.s.Pool.Exec(ctx, `INSERT INTO paas_env_vars (app_id, key, value_encrypted) VALUES ($1, $2, '\x00')`, f.app.ID, k)
		var pgErr *pgconn.PgError
		if dbErr != nil && (!errors.As(dbErr, &pgErr) || pgErr.Code != "23514") {
			t.Fatalf("insert %q: %v, want success or a check violation", k, dbErr)
		}
		if (specErr == nil) != (dbErr == nil) {
			t.Errorf("key %q: spec.CheckEnvKey says %v, Postgres says %v", k, specErr, dbErr)
		}
	}
}

// TestReleaseFieldsAreReleaseColumns: spec.ReleaseColumns names every
// field of spec.Release, by its JSON name, and nothing else.
func TestReleaseFieldsAreReleaseColumns(t *testing.T) {
	t.Parallel()
	var fields []string
	rt := reflect.TypeFor[spec.Release]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Fatalf("spec.Release.%s has no JSON name", rt.Field(i).Name)
		}
		fields = append(fields, name)
	}
	slices.Sort(fields)
	keys := slices.Sorted(maps.Keys(spec.ReleaseColumns))
	if !slices.Equal(fields, keys) {
		t.Fatalf("spec.Release fields %v, spec.ReleaseColumns keys %v: they must be the same", fields, keys)
	}
}

// releaseColumnChanges changes each column of spec.ReleaseColumns but the
// env one (env is written through paas_env_vars).
var releaseColumnChanges = map[string]string{
	"image":        `image || '-next'`,
	"command":      `array_append(command, 'next')`,
	"port":         `port + 1`,
	"plan_id":      `(SELECT p.id FROM paas_plans p WHERE p.id <> paas_apps.plan_id ORDER BY p.name LIMIT 1)`,
	"health_check": `'{"path": "/next"}'::jsonb`,
}

// TestReleaseColumnChangesBumpGeneration: changing any column that stores
// a field of a release bumps the app's generation, so the reconciler
// wakes up and cuts the release. For env, writing a variable does.
func TestReleaseColumnChangesBumpGeneration(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	generation := func() int64 {
		t.Helper()
		var g int64
		if err := f.s.Pool.QueryRow(ctx, `SELECT generation FROM paas_apps WHERE id = $1`, f.app.ID).Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	bumps := func(what string, write func() error) {
		t.Helper()
		before := generation()
		if err := write(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if after := generation(); after != before+1 {
			t.Errorf("%s: generation %d -> %d, want %d", what, before, after, before+1)
		}
	}
	for field, column := range spec.ReleaseColumns {
		if field == "env" {
			bumps("insert an env variable", func() error {
				return f.s.UpsertEnvVar(ctx, store.UpsertEnvVarParams{AppID: f.app.ID, Key: "GREETING", ValueEncrypted: []byte("a")})
			})
			bumps("update an env variable", func() error {
				return f.s.UpsertEnvVar(ctx, store.UpsertEnvVarParams{AppID: f.app.ID, Key: "GREETING", ValueEncrypted: []byte("b")})
			})
			bumps("delete an env variable", func() error {
				_, err := f.s.DeleteEnvVar(ctx, store.DeleteEnvVarParams{AppID: f.app.ID, Key: "GREETING"})
				return err
			})
			continue
		}
		set, ok := releaseColumnChanges[column]
		if !ok {
			t.Errorf("no change known for column %s of release field %s: add one to releaseColumnChanges", column, field)
			continue
		}
		bumps("update "+column, func() error {
			tag, err := f.s.Pool.Exec(ctx, `UPDATE paas_apps SET `+column+` = `+set+` WHERE id = $1`, f.app.ID)
			if err == nil && tag.RowsAffected() != 1 {
				err = errors.New("no row updated")
			}
			return err
		})
	}
	// A status write is no spec change: the check above can fail.
	before := generation()
	if _, err := f.s.Pool.Exec(ctx, `UPDATE paas_apps SET status_message = 'busy' WHERE id = $1`, f.app.ID); err != nil {
		t.Fatal(err)
	}
	if after := generation(); after != before {
		t.Fatalf("a status write moved generation %d -> %d", before, after)
	}
}
