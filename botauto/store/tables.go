package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/botserver-go/botserver-go/botstate/pg"
)

// Cond is one condition of a bot-table filter: data[Field] Op Value.
// Numeric compares as numbers; otherwise as text.
type Cond struct {
	Field   string
	Op      string // = <> < > <= >=
	Value   string
	Numeric bool
}

// MaxRows bounds what one FIND ALL returns.
const MaxRows = 1000

var ops = map[string]bool{"=": true, "<>": true, "<": true, ">": true, "<=": true, ">=": true}

// where builds the SQL for conditions; arguments start at $next.
func where(conds []Cond, next int) (string, []any, error) {
	var b strings.Builder
	var args []any
	for _, c := range conds {
		if !ops[c.Op] {
			return "", nil, fmt.Errorf("bad operator %q", c.Op)
		}
		op := c.Op
		if c.Field == "id" {
			fmt.Fprintf(&b, " AND id %s $%d::bigint", op, next)
			args = append(args, c.Value)
			next++
			continue
		}
		if c.Numeric {
			fmt.Fprintf(&b, " AND (data->>$%d)::numeric %s $%d::numeric", next, op, next+1)
		} else {
			fmt.Fprintf(&b, " AND data->>$%d %s $%d", next, op, next+1)
		}
		args = append(args, c.Field, c.Value)
		next += 2
	}
	return b.String(), args, nil
}

// Row is a stored bot-table row.
type Row struct {
	ID   int64
	Data map[string]any
}

// InsertRow stores a row and returns its id.
func (s *Store) InsertRow(ctx context.Context, org, bot, table string, data map[string]any) (int64, error) {
	var id int64
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO auto.table_rows (org_id, bot, tbl, data) VALUES ($1, $2, $3, $4) RETURNING id`,
			org, bot, table, data).Scan(&id)
	})
	return id, err
}

// FindRows returns rows matching every condition, oldest first.
func (s *Store) FindRows(ctx context.Context, org, bot, table string, conds []Cond, limit int) ([]Row, error) {
	w, args, err := where(conds, 4)
	if err != nil {
		return nil, err
	}
	var out []Row
	err = pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, data FROM auto.table_rows WHERE org_id = $1 AND bot = $2 AND tbl = $3`+w+
			fmt.Sprintf(` ORDER BY id LIMIT %d`, limit), append([]any{org, bot, table}, args...)...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
			var row Row
			return row, r.Scan(&row.ID, &row.Data)
		})
		return err
	})
	return out, err
}

// UpdateRows merges values into matching rows and returns how many changed.
func (s *Store) UpdateRows(ctx context.Context, org, bot, table string, conds []Cond, values map[string]any) (int64, error) {
	w, args, err := where(conds, 5)
	if err != nil {
		return 0, err
	}
	patch, err := json.Marshal(values)
	if err != nil {
		return 0, err
	}
	var n int64
	err = pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auto.table_rows SET data = data || $4::jsonb, updated_at = now()
			WHERE org_id = $1 AND bot = $2 AND tbl = $3`+w, append([]any{org, bot, table, string(patch)}, args...)...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// DeleteRows removes matching rows and returns how many.
func (s *Store) DeleteRows(ctx context.Context, org, bot, table string, conds []Cond) (int64, error) {
	w, args, err := where(conds, 4)
	if err != nil {
		return 0, err
	}
	var n int64
	err = pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM auto.table_rows WHERE org_id = $1 AND bot = $2 AND tbl = $3`+w,
			append([]any{org, bot, table}, args...)...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
