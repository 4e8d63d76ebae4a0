package pg

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing/fstest"
	"text/template"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// MigrationsTable is the name of the migrations table inside each schema.
const MigrationsTable = "schema_migrations"

var schemaName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Schema is a Postgres schema a service owns and the migrations that build it.
//
// Version 1 of every schema is the platform's base migration (base.sql):
// the schema itself, its event outbox and its processed-events table. A
// service's own files in FS (golang-migrate names, NNN_name.up.sql) start at
// version 2. They run with search_path set to the schema, so they can use
// unqualified names and cannot create tables elsewhere by accident.
type Schema struct {
	Name string
	FS   fs.FS // optional; nil for a schema with only the base migration
}

// Result reports what Migrate did.
type Result struct {
	Schema       string
	From, To     uint
	AlreadyMoved bool // true when nothing ran
}

// Migrate brings the schema to its latest version. Safe to run from several
// replicas at once.
func Migrate(ctx context.Context, databaseURL string, s Schema) (Result, error) {
	res := Result{Schema: s.Name}
	if !schemaName.MatchString(s.Name) {
		return res, fmt.Errorf("schema name %q: use lower-case letters, digits and _", s.Name)
	}
	src, err := sources(s)
	if err != nil {
		return res, err
	}
	// Parsed as a pool URL so pool settings in it (pool_max_conns, ...) are
	// understood rather than sent to the server as unknown parameters.
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return res, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg := pcfg.ConnConfig
	cfg.RuntimeParams["search_path"] = s.Name
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := createSchema(ctx, db, s.Name); err != nil {
		return res, err
	}
	srcDriver, err := iofs.New(src, ".")
	if err != nil {
		return res, err
	}
	dbDriver, err := migratepgx.WithInstance(db, &migratepgx.Config{
		SchemaName:      s.Name,
		MigrationsTable: MigrationsTable,
	})
	if err != nil {
		return res, fmt.Errorf("schema %s: %w", s.Name, err)
	}
	m, err := migrate.NewWithInstance("iofs", srcDriver, "pgx5", dbDriver)
	if err != nil {
		return res, err
	}
	defer m.Close()
	// Read without the lock, for the log only: another replica may be
	// migrating right now. Up takes the lock and checks dirtiness itself.
	res.From, _, _ = m.Version()
	err = m.Up()
	var dirty migrate.ErrDirty
	switch {
	case errors.Is(err, migrate.ErrNoChange):
		res.AlreadyMoved = true
	case errors.As(err, &dirty):
		return res, fmt.Errorf("schema %s is dirty at version %d: a migration failed half-way; fix the schema by hand, then set %s.%s to the last good version with dirty = false", s.Name, dirty.Version, s.Name, MigrationsTable)
	case err != nil:
		return res, fmt.Errorf("schema %s: %w", s.Name, err)
	}
	res.To, _, err = m.Version()
	if res.AlreadyMoved {
		res.From = res.To
	}
	if err != nil {
		return res, err
	}
	return res, grantTenant(ctx, db, s.Name)
}

// createSchema makes the schema exist before golang-migrate creates its table
// in it. The advisory lock keeps concurrent replicas from racing on it.
func createSchema(ctx context.Context, db *sql.DB, name string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLock(name)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+Ident(name)); err != nil {
		return fmt.Errorf("create schema %s: %w", name, err)
	}
	return tx.Commit()
}

// schemaLock is the advisory lock key that serialises schema-wide DDL.
func schemaLock(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("botstate.schema." + name))
	return int64(h.Sum64())
}

var baseTmpl = template.Must(template.New("base").Parse(baseSQL))

// sources returns the base migration plus the service's own files.
func sources(s Schema) (fs.FS, error) {
	var base bytes.Buffer
	if err := baseTmpl.Execute(&base, map[string]string{"Schema": Ident(s.Name)}); err != nil {
		return nil, err
	}
	out := fstest.MapFS{"1_base.up.sql": {Data: base.Bytes()}}
	if s.FS == nil {
		return out, nil
	}
	entries, err := fs.ReadDir(s.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("schema %s migrations: %w", s.Name, err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("schema %s migration %s: name must start with a version number", s.Name, name)
		}
		if v < 2 {
			return nil, fmt.Errorf("schema %s migration %s: version 1 is the platform's base migration; start at 2", s.Name, name)
		}
		data, err := fs.ReadFile(s.FS, name)
		if err != nil {
			return nil, err
		}
		out[name] = &fstest.MapFile{Data: data}
	}
	return out, nil
}
