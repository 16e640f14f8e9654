// Package schema holds the SQL migrations, the single source of the database
// schema: paasd applies them with goose and sqlc reads them to type queries.
package schema

import "embed"

// Migrations are the goose migration files, embedded in the binary so that
// `paasd migrate` needs nothing beside it.
//
//go:embed *.sql
var Migrations embed.FS
