package channels

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/pg"
)

// Outbox statuses.
const (
	StatusPending = "pending"
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusDead    = "dead"
)

// Row is one queued message of chat.channel_outbox.
type Row struct {
	Seq            int64
	Org, Bot       string
	Channel        string
	Address        string
	ConversationID string
	MessageID      string
	Content        string
	Suggestions    []store.Suggestion
	Status         string
	PartsSent      int
	Attempts       int
	NextAt         time.Time
	LastError      string
	ExternalIDs    []string
	SentAt         *time.Time
}

// Outbox is the data access of the channel send queue.
type Outbox struct{ db *pgxpool.Pool }

// NewOutbox returns an Outbox on pool.
func NewOutbox(pool *pgxpool.Pool) *Outbox { return &Outbox{db: pool} }

const rowColumns = `seq, org_id::text, bot, channel, address, conversation_id::text, message_id::text, content,
	coalesce(suggestions, '[]'), status, parts_sent, attempts, next_at, last_error, external_ids, sent_at`

func scanRow(r pgx.Row) (*Row, error) {
	x := &Row{}
	var sugg, ext []byte
	err := r.Scan(&x.Seq, &x.Org, &x.Bot, &x.Channel, &x.Address, &x.ConversationID, &x.MessageID, &x.Content, &sugg,
		&x.Status, &x.PartsSent, &x.Attempts, &x.NextAt, &x.LastError, &ext, &x.SentAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(sugg, &x.Suggestions)
	_ = json.Unmarshal(ext, &x.ExternalIDs)
	return x, nil
}

func scanRows(rows pgx.Rows) ([]*Row, error) {
	defer rows.Close()
	var out []*Row
	for rows.Next() {
		x, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Claim takes up to limit due rows for token until now+ttl: pending rows
// whose time has come and rows whose claim expired (a worker died), never
// a row with an earlier unfinished row of the same conversation, so a
// conversation's messages go out in order. It is the one query that reads
// across organisations (the worker serves them all), like botchat's
// stranded-conversation sweep; everything else runs in pg.InOrg.
func (o *Outbox) Claim(ctx context.Context, token string, ttl time.Duration, limit int) ([]*Row, error) {
	rows, err := o.db.Query(ctx, `UPDATE chat.channel_outbox SET status = 'sending', claim_token = $1, lease_until = now() + $2::interval
		WHERE seq IN (
			SELECT c.seq FROM chat.channel_outbox c
			WHERE (c.status = 'pending' AND c.next_at <= now() OR c.status = 'sending' AND c.lease_until < now())
			  AND NOT EXISTS (SELECT 1 FROM chat.channel_outbox p WHERE p.conversation_id = c.conversation_id
				AND p.seq < c.seq AND p.status IN ('pending', 'sending'))
			ORDER BY c.next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+rowColumns, token, ttl, limit)
	if err != nil {
		return nil, err
	}
	return scanRows(rows)
}

// errClaimLost means another worker took the row (our claim expired).
var errClaimLost = errors.New("the outbox row's claim was lost")

// PartSent records that part n-1 went out (parts_sent = n) with the
// channel's id, while token still holds the row.
func (o *Outbox) PartSent(ctx context.Context, r *Row, token string, n int, externalID string, ttl time.Duration) error {
	return pg.InOrg(ctx, o.db, r.Org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE chat.channel_outbox SET parts_sent = $3, external_ids = external_ids || to_jsonb($4::text),
				lease_until = now() + $5::interval
			WHERE seq = $1 AND claim_token = $2 AND status = 'sending'`, r.Seq, token, n, externalID, ttl)
		if err == nil && tag.RowsAffected() == 0 {
			return errClaimLost
		}
		return err
	})
}

// Sent marks the row done.
func (o *Outbox) Sent(ctx context.Context, r *Row, token string) error {
	return o.finish(ctx, r, token, `status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = ''`)
}

// Retry puts the row back for another attempt at next, with the reason.
func (o *Outbox) Retry(ctx context.Context, r *Row, token string, next time.Time, reason string, countAttempt bool) error {
	inc := 0
	if countAttempt {
		inc = 1
	}
	return pg.InOrg(ctx, o.db, r.Org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE chat.channel_outbox SET status = 'pending', claim_token = NULL, lease_until = NULL,
				attempts = attempts + $3, next_at = $4, last_error = $5
			WHERE seq = $1 AND claim_token = $2 AND status = 'sending'`, r.Seq, token, inc, next, reason)
		if err == nil && tag.RowsAffected() == 0 {
			return errClaimLost
		}
		return err
	})
}

// Dead gives up on the row, keeping the reason.
func (o *Outbox) Dead(ctx context.Context, r *Row, token, reason string) error {
	return pg.InOrg(ctx, o.db, r.Org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE chat.channel_outbox SET status = 'dead', claim_token = NULL, lease_until = NULL,
				attempts = attempts + 1, last_error = $3
			WHERE seq = $1 AND claim_token = $2 AND status = 'sending'`, r.Seq, token, reason)
		if err == nil && tag.RowsAffected() == 0 {
			return errClaimLost
		}
		return err
	})
}

func (o *Outbox) finish(ctx context.Context, r *Row, token, set string) error {
	return pg.InOrg(ctx, o.db, r.Org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE chat.channel_outbox SET `+set+`, claim_token = NULL, lease_until = NULL
			WHERE seq = $1 AND claim_token = $2 AND status = 'sending'`, r.Seq, token)
		if err == nil && tag.RowsAffected() == 0 {
			return errClaimLost
		}
		return err
	})
}

// Reserve takes the next send slot of a bot on a channel, one every
// interval, shared by every replica. It returns the slot's time (send then,
// not before) and ok; ok is false when the next free slot is more than
// maxWait away (nothing is reserved; free says when it is).
func (o *Outbox) Reserve(ctx context.Context, org, bot, channel string, interval, maxWait time.Duration) (slot time.Time, ok bool, free time.Time, err error) {
	err = pg.InOrg(ctx, o.db, org, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO chat.channel_rate AS r (org_id, bot, channel, next_at)
				VALUES ($1, $2, $3, now() + $4::interval)
			ON CONFLICT (org_id, bot, channel) DO UPDATE SET next_at = greatest(r.next_at, now()) + $4::interval
				WHERE greatest(r.next_at, now()) <= now() + $5::interval
			RETURNING next_at - $4::interval`, org, bot, channel, interval, maxWait).Scan(&slot)
		if err == nil {
			ok = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return tx.QueryRow(ctx, `SELECT next_at FROM chat.channel_rate WHERE org_id = $1 AND bot = $2 AND channel = $3`,
			org, bot, channel).Scan(&free)
	})
	return slot, ok, free, err
}

// List returns a conversation's queued messages in order (tests and
// operators).
func (o *Outbox) List(ctx context.Context, org, convID string) ([]*Row, error) {
	var out []*Row
	err := pg.InOrg(ctx, o.db, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+rowColumns+` FROM chat.channel_outbox WHERE conversation_id = $1 ORDER BY seq`, convID)
		if err != nil {
			return err
		}
		out, err = scanRows(rows)
		return err
	})
	return out, err
}

// LastSuggestions returns the buttons of the newest message sent to a
// conversation (to read which one a reply keyboard press or a typed title
// stands for); none when that message had none.
func (o *Outbox) LastSuggestions(ctx context.Context, org, convID string) ([]store.Suggestion, error) {
	var out []store.Suggestion
	err := pg.InOrg(ctx, o.db, org, func(tx pgx.Tx) error {
		var b []byte
		err := tx.QueryRow(ctx, `SELECT suggestions FROM chat.channel_outbox WHERE conversation_id = $1
			AND status IN ('sent', 'sending') ORDER BY seq DESC LIMIT 1`, convID).Scan(&b)
		if errors.Is(err, pgx.ErrNoRows) || b == nil {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &out)
	})
	return out, err
}
