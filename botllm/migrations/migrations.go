// Package migrations holds schema llm's migrations (version 1 is the
// platform's base migration; ours start at 2).
package migrations

import "embed"

// FS is the migration files.
//
//go:embed *.sql
var FS embed.FS
