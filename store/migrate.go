package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/skypanel/paas/schema"
)

// MigrationResult describes one migration applied by Migrate.
type MigrationResult struct {
	// Version is the migration's number.
	Version int64
	// Source is the migration's file name.
	Source string
}

// Migrate applies every pending migration embedded in package schema and
// returns the ones it applied; a second run applies none. A Postgres
// session lock serialises concurrent runs from several paasd replicas.
func Migrate(ctx context.Context, databaseURL string) ([]MigrationResult, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", redactURLError(err))
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return migrateDB(ctx, db)
}

func migrateDB(ctx context.Context, db *sql.DB) ([]MigrationResult, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, schema.Migrations,
		goose.WithSessionLocker(locker), goose.WithTableName("paas_schema_migrations"))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	applied := make([]MigrationResult, 0, len(results))
	for _, r := range results {
		applied = append(applied, MigrationResult{Version: r.Source.Version, Source: r.Source.Path})
	}
	return applied, nil
}
