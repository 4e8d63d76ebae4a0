package pg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TenantRole is the Postgres role business queries run as. It owns nothing,
// so row-level security applies to it even when the service connects as the
// tables' owner or a superuser (both of which bypass RLS).
const TenantRole = "bot_tenant"

// OrgSetting is the transaction-local setting RLS policies read the org from.
//
// Every business table carries org_id and gets, in its migration:
//
//	ALTER TABLE t ENABLE ROW LEVEL SECURITY;
//	CREATE POLICY tenant ON t
//	    USING (org_id = current_setting('bot.org_id')::uuid)
//	    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
//
// current_setting raises when the org is not set, so a query outside InOrg
// that runs as TenantRole fails loudly instead of returning nothing.
const OrgSetting = "bot.org_id"

// ErrNoOrg is returned by InOrg for an empty or malformed org id.
var ErrNoOrg = errors.New("no organisation in the request")

// InOrg runs fn in a transaction scoped to one organisation: it switches to
// TenantRole and sets OrgSetting, so RLS limits every statement in fn to the
// org's rows, whatever WHERE clauses fn forgets. orgID must come from the
// verified identity, never from a request body.
func InOrg(ctx context.Context, pool *pgxpool.Pool, orgID string, fn func(pgx.Tx) error) error {
	org, err := uuid.Parse(orgID)
	if err != nil {
		return ErrNoOrg
	}
	// BEGIN and the scope go in one round trip (a simple-protocol query of
	// two statements); set_config('role', ..., true) is SET LOCAL ROLE. The
	// org is inlined as the canonical form of a parsed uuid, so it cannot
	// carry SQL.
	begin := pgx.TxOptions{BeginQuery: "BEGIN; SELECT set_config('role', '" + TenantRole + "', true), set_config('" +
		OrgSetting + "', '" + org.String() + "', true)"}
	return pgx.BeginTxFunc(ctx, pool, begin, fn)
}

// grantTenant lets TenantRole use the schema's tables. It runs after every
// migration, so tables added later are covered; it is idempotent.
func grantTenant(ctx context.Context, db *sql.DB, schema string) error {
	s := Ident(schema)
	role := Ident(TenantRole)
	stmts := []string{
		// Concurrent replicas may race to create the role: both outcomes are fine.
		`DO $$ BEGIN
			CREATE ROLE ` + role + ` NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END $$`,
		// Superusers may SET ROLE to anything; other owners need membership.
		`DO $$ BEGIN
			IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
				EXECUTE format('GRANT %I TO %I', '` + TenantRole + `', current_user);
			END IF;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END $$`,
		`GRANT USAGE ON SCHEMA ` + s + ` TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ` + s + ` TO ` + role,
		`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ` + s + ` TO ` + role,
	}
	// Concurrent GRANTs on one object fail with "tuple concurrently
	// updated": serialise them with the schema's lock.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLock(schema)); err != nil {
		return err
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("schema %s: grant %s: %w", schema, TenantRole, err)
		}
	}
	return tx.Commit()
}

// InOrgBatch sends queue's statements in one round trip, scoped to the org
// like InOrg: a pipeline without explicit BEGIN runs as one implicit
// transaction, so the scope set by its first statement holds for the rest
// and ends with it. read gets the results of queue's statements in order.
// Use it on hot paths of one or two statements; InOrg for anything else.
func InOrgBatch(ctx context.Context, pool *pgxpool.Pool, orgID string, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	if _, err := uuid.Parse(orgID); err != nil {
		return ErrNoOrg
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('role', $1, true), set_config($2, $3, true)`, TenantRole, OrgSetting, orgID)
	queue(b)
	br := pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("tenant scope: %w", err)
	}
	if err := read(br); err != nil {
		br.Close()
		return err
	}
	return br.Close()
}

// ExecInOrg runs one statement scoped to the org, in one round trip.
func ExecInOrg(ctx context.Context, pool *pgxpool.Pool, orgID, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	err = InOrgBatch(ctx, pool, orgID, func(b *pgx.Batch) { b.Queue(sql, args...) },
		func(br pgx.BatchResults) (err error) { tag, err = br.Exec(); return err })
	return tag, err
}

// QueryRowInOrg runs a query of at most one row scoped to the org, in one
// round trip, and hands the row to scan (pgx.ErrNoRows when there is none).
func QueryRowInOrg(ctx context.Context, pool *pgxpool.Pool, orgID string, scan func(pgx.Row) error, sql string, args ...any) error {
	return InOrgBatch(ctx, pool, orgID, func(b *pgx.Batch) { b.Queue(sql, args...) },
		func(br pgx.BatchResults) error { return scan(br.QueryRow()) })
}
