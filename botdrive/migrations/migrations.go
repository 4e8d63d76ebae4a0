// Package migrations holds schema drive's migrations (version 2 on; version
// 1 is the platform's base: outbox and processed events).
package migrations

import "embed"

// FS is the embedded migration files.
//
//go:embed *.up.sql
var FS embed.FS
