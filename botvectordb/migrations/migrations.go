// Package migrations holds schema kb's migrations (version 2 onwards; version
// 1 is botstate's base: outbox and processed_events).
package migrations

import (
	"embed"

	"github.com/botserver-go/botserver-go/botstate/pg"
)

//go:embed *.sql
var files embed.FS

// Schema is botvectordb's schema with its migrations.
var Schema = pg.Schema{Name: "kb", FS: files}
