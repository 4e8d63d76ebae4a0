// Package store keeps botchat's conversations and messages in schema chat.
// Every business query runs through pg.InOrg (row-level security); the one
// exception is Stranded, the sweeper's cross-organisation scan.
//
// Ordering: a conversation's messages get consecutive seq numbers under the
// conversation row's lock, and inbound messages wait as pending until a
// turn has run them. Whoever holds the conversation's lease (a random token
// with an expiry) runs the pending messages one at a time in seq order;
// Accept takes the lease when it is free, so the replica that received a
// message usually runs it, and a crashed holder's lease expires and the
// sweeper of any replica takes over.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
)

// Schema is the Postgres schema botchat owns.
const Schema = "chat"

// Errors callers map to status codes.
var (
	ErrNotFound  = errors.New("not found")
	ErrLeaseLost = errors.New("the conversation's lease was lost")
	ErrState     = errors.New("the conversation is not in a state that allows this")
)

// Hand-off states.
const (
	StateBot    = "bot"
	StateQueued = "queued"
	StateHuman  = "human"
)

// Roles of message authors; kinds of stored messages.
const (
	RoleUser   = "user"
	RoleBot    = "bot"
	RoleHuman  = "human"
	RoleSystem = "system" // the open turn that runs start.bas

	StatusPending = "pending"
	StatusDone    = "done"

	// TypeOpen is the message_type of the open turn (not on the wire).
	TypeOpen = 0
)

// Suggestion is a button under a bot message.
type Suggestion struct {
	Text  string `json:"text"`
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Switcher is a toggle scripts add with ADD SWITCHER.
type Switcher struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Conversation is one row of chat.conversations.
type Conversation struct {
	ID, Org, Bot     string
	UserID, UserKind string
	Channel          string
	ChannelAddress   string
	Handoff          string
	Queue            string
	AgentID          string
	HandoffAt        *time.Time
	KBs              []string
	Tools            []string
	Contexts         map[string]string
	Switchers        []Switcher
	Suggestions      []Suggestion
	ActiveSwitchers  []string
	ScriptUser       string
	NextSeq          int64
	AutoTurn         int64 // botauto's TurnEnd.turn of the last turn (0: none yet)
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Message is one row of chat.messages.
type Message struct {
	ID             string
	ConversationID string
	Seq            int64
	Position       int64
	Role           string
	Type           int
	Content        string
	Args           json.RawMessage
	ClientID       string
	ReplyTo        string
	Status         string
	Tokens         int
	LatencyMS      int
	Model          string
	Suggestions    []Suggestion
	Switchers      []Switcher
	Chunks         []int32
	Cancelled      bool
	CreatedAt      time.Time
}

// Store is botchat's data access.
type Store struct {
	db  *pgxpool.Pool
	now func() time.Time
	// turns commits the writes of busy turns (Accept, FinishTurn) together.
	turns *pg.Group
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{db: pool, now: time.Now, turns: pg.NewGroup(pool, 0, 0)}
}

// DB is the pool (for tests and the outbox).
func (s *Store) DB() *pgxpool.Pool { return s.db }

const convColumns = `id, org_id, bot, user_id, user_kind, channel, channel_address, handoff_state, handoff_queue,
	agent_id, handoff_at, kbs, tools, contexts, switchers, suggestions, active_switchers, script_user, next_seq,
	auto_turn, created_at, updated_at`

// fields are the scan targets of convColumns.
func (c *Conversation) fields() []any {
	return []any{&c.ID, &c.Org, &c.Bot, &c.UserID, &c.UserKind, &c.Channel, &c.ChannelAddress, &c.Handoff, &c.Queue,
		&c.AgentID, &c.HandoffAt, &c.KBs, &c.Tools, &c.Contexts, &c.Switchers, &c.Suggestions, &c.ActiveSwitchers,
		&c.ScriptUser, &c.NextSeq, &c.AutoTurn, &c.CreatedAt, &c.UpdatedAt}
}

func scanConv(row pgx.Row) (*Conversation, error) {
	c := &Conversation{}
	err := row.Scan(c.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return c, err
}

const msgColumns = `id, conversation_id, seq, position, role, message_type, content, args, coalesce(client_id, ''),
	coalesce(reply_to::text, ''), status, tokens, latency_ms, model, suggestions, switchers, chunks, cancelled, created_at`

func scanMsg(row pgx.Row) (*Message, error) {
	m := &Message{}
	var args []byte
	err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.Position, &m.Role, &m.Type, &m.Content, &args, &m.ClientID, &m.ReplyTo,
		&m.Status, &m.Tokens, &m.LatencyMS, &m.Model, &m.Suggestions, &m.Switchers, &m.Chunks, &m.Cancelled, &m.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if len(args) > 0 {
		m.Args = args
	}
	return m, err
}

func scanMsgs(rows pgx.Rows) ([]*Message, error) {
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		m, err := scanMsg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Open creates c (its ID, Org, Bot, UserID, UserKind, Channel and
// ChannelAddress set) unless a conversation with that id exists, and returns
// the stored row. created is false for an existing one. An id taken in
// another organisation is ErrNotFound.
func (s *Store) Open(ctx context.Context, org string, c *Conversation) (out *Conversation, created bool, err error) {
	// One round trip: the insert, then the conversation read in the same
	// implicit transaction (it sees the row the insert made).
	q := `SELECT ` + convColumns + ` FROM chat.conversations WHERE id = $1`
	args := []any{c.ID}
	if c.ChannelAddress != "" {
		// A channel address (phone number, chat id) names its conversation;
		// the id, when it was just inserted, comes first.
		q = `SELECT ` + convColumns + ` FROM chat.conversations WHERE id = $1 OR (bot = $2 AND channel = $3 AND channel_address = $4)
			ORDER BY (id = $1) DESC LIMIT 1`
		args = append(args, c.Bot, c.Channel, c.ChannelAddress)
	}
	err = pg.InOrgBatch(ctx, s.db, org, func(b *pgx.Batch) {
		b.Queue(`INSERT INTO chat.conversations (id, org_id, bot, user_id, user_kind, channel, channel_address)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			c.ID, org, c.Bot, c.UserID, c.UserKind, c.Channel, c.ChannelAddress)
		b.Queue(q, args...)
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		out, err = scanConv(br.QueryRow())
		return err
	})
	return out, created, err
}

// Get returns one conversation.
func (s *Store) Get(ctx context.Context, org, id string) (*Conversation, error) {
	var c *Conversation
	err := pg.QueryRowInOrg(ctx, s.db, org, func(r pgx.Row) (err error) { c, err = scanConv(r); return err },
		`SELECT `+convColumns+` FROM chat.conversations WHERE id = $1`, id)
	return c, err
}

// Accepted is what Accept did.
type Accepted struct {
	ID        string
	Seq       int64
	Duplicate bool   // client_id was seen: nothing was stored
	Status    string // of the stored message
	Skipped   bool   // an open turn for a conversation that already has messages
	Conv      *Conversation
	// Leased is set when the caller now holds the conversation's lease and
	// must run it, starting with Next (the first pending message).
	Leased bool
	Next   *Message
}

// Access says who may post to a conversation: anyone of its organisation
// (attendants, services) or only whoever opened it.
type Access struct {
	Any      bool
	Kind, ID string // the opener's user_kind and user_id
}

// Allows reports whether a may see and post to c.
func (a Access) Allows(c *Conversation) bool {
	return a.Any || c.UserKind == a.Kind && c.UserID == a.ID
}

// Accept stores an inbound message as pending, in order, and takes the
// conversation's lease with token when nobody holds it. A caller access
// does not allow gets ErrNotFound and stores nothing. m.Type TypeOpen
// stores the open turn only when the conversation has no message.
//
// It is one round trip: the statements go as one pipeline (an implicit
// transaction) under the conversation's row lock, and each one carries its
// own conditions, so the outcome is decided in SQL and read back here.
func (s *Store) Accept(ctx context.Context, org, convID string, access Access, m *Message, token string, ttl time.Duration) (*Accepted, error) {
	res := &Accepted{}
	id := uuid.Must(uuid.NewV7()).String()
	older := false // messages were pending before this one
	// Group-committed: every statement carries its own conditions, and the
	// first one locks the conversation (see pg.Group).
	err := s.turns.InOrgBatch(ctx, org, convID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+convColumns+` FROM chat.conversations WHERE id = $1 FOR UPDATE`, convID)
		if m.ClientID != "" {
			b.Queue(`SELECT id, seq, status FROM chat.messages WHERE conversation_id = $1 AND client_id = $2`, convID, m.ClientID)
		}
		b.Queue(`WITH c AS (
				UPDATE chat.conversations SET next_seq = next_seq + 1, inbound_seq = next_seq + 1, updated_at = now(),
					lease_token = CASE WHEN lease_token IS NULL OR lease_until < now() THEN $2::uuid ELSE lease_token END,
					lease_until = CASE WHEN lease_token IS NULL OR lease_until < now() THEN now() + $3::interval ELSE lease_until END
				WHERE id = $1 AND ($10::bool OR (user_kind = $11::text AND user_id = $12::text)) AND ($6::int <> 0 OR next_seq = 0)
					AND ($9::text IS NULL OR NOT EXISTS (SELECT 1 FROM chat.messages WHERE conversation_id = $1 AND client_id = $9::text))
				RETURNING org_id, next_seq, lease_token)
			INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content, args, client_id, status)
			SELECT c.org_id, $1, c.next_seq, c.next_seq * 1000, $4::uuid, $5::text, $6::int, $7::text, $8::jsonb, $9::text, 'pending' FROM c
			RETURNING seq, created_at, args, (SELECT lease_token = $2::uuid FROM c),
				EXISTS (SELECT 1 FROM chat.messages WHERE conversation_id = $1 AND status = 'pending')`,
			convID, token, ttl, id, m.Role, m.Type, m.Content, jsonArg(m.Args), nullable(m.ClientID), access.Any, access.Kind, access.ID)
	}, func(r pgx.BatchResults) error {
		*res, older = Accepted{}, false
		c, err := scanConv(r.QueryRow())
		if err != nil {
			return err
		}
		res.Conv = c
		if !access.Allows(c) {
			return ErrNotFound
		}
		if m.Type == TypeOpen && c.NextSeq > 0 {
			res.Skipped = true
			return nil
		}
		if m.ClientID != "" {
			err := r.QueryRow().Scan(&res.ID, &res.Seq, &res.Status)
			if err == nil {
				res.Duplicate = true
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		var created time.Time
		var args []byte // as stored (jsonb normalises it), as a read would give it
		if err := r.QueryRow().Scan(&res.Seq, &created, &args, &res.Leased, &older); err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		res.ID, res.Status = id, StatusPending
		c.NextSeq = res.Seq
		if res.Leased && !older {
			// The message just stored is the first pending one: it is what
			// a read would return.
			res.Next = &Message{ID: id, ConversationID: convID, Seq: res.Seq, Position: res.Seq * 1000, Role: m.Role, Type: m.Type,
				Content: m.Content, Args: json.RawMessage(args), ClientID: m.ClientID, Status: StatusPending, CreatedAt: created}
		}
		return nil
	})
	if err == nil && res.Leased && older {
		// Messages were waiting with no lease (a replica died, say): the
		// new holder starts with the oldest.
		res.Next, err = s.firstPending(ctx, org, convID)
	}
	return res, err
}

// firstPendingSQL reads a conversation's first pending message.
const firstPendingSQL = `SELECT ` + msgColumns + ` FROM chat.messages WHERE conversation_id = $1 AND status = 'pending' ORDER BY seq LIMIT 1`

// firstPending reads the first pending message of a conversation whose
// lease the caller holds; one must be there.
func (s *Store) firstPending(ctx context.Context, org, convID string) (*Message, error) {
	var m *Message
	err := pg.QueryRowInOrg(ctx, s.db, org, func(r pgx.Row) (err error) { m, err = scanMsg(r); return err }, firstPendingSQL, convID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("the lease is held but no message is pending")
	}
	return m, err
}

// firstPendingTx is firstPending inside tx; nil when none is pending.
func firstPendingTx(ctx context.Context, tx pgx.Tx, convID string) (*Message, error) {
	m, err := scanMsg(tx.QueryRow(ctx, firstPendingSQL, convID))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return m, err
}

func jsonArg(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Next returns the conversation and its first pending message (nil when
// none), extending the lease. ErrLeaseLost when token no longer holds it.
func (s *Store) Next(ctx context.Context, org, convID, token string, ttl time.Duration) (*Conversation, *Message, error) {
	var (
		c *Conversation
		m *Message
	)
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE chat.conversations SET lease_until = now() + $3::interval WHERE id = $1 AND lease_token = $2`, convID, token, ttl)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrLeaseLost
		}
		if c, err = scanConv(tx.QueryRow(ctx, `SELECT `+convColumns+` FROM chat.conversations WHERE id = $1`, convID)); err != nil {
			return err
		}
		m, err = firstPendingTx(ctx, tx, convID)
		return err
	})
	return c, m, err
}

// Renew extends the lease while a long turn runs.
func (s *Store) Renew(ctx context.Context, org, convID, token string, ttl time.Duration) error {
	return pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE chat.conversations SET lease_until = now() + $3::interval WHERE id = $1 AND lease_token = $2`, convID, token, ttl)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrLeaseLost
		}
		return err
	})
}

// Release gives the lease up unless a message is pending (then it returns
// false and the holder goes on). The row lock makes a concurrent Accept
// either commit first (its message is seen here) or find the lease free.
func (s *Store) Release(ctx context.Context, org, convID, token string) (bool, error) {
	released := false
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		var held bool
		if err := tx.QueryRow(ctx, `SELECT lease_token IS NOT DISTINCT FROM $2::uuid FROM chat.conversations WHERE id = $1 FOR UPDATE`,
			convID, token).Scan(&held); err != nil {
			return err
		}
		if !held {
			return ErrLeaseLost
		}
		var pending bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM chat.messages WHERE conversation_id = $1 AND status = 'pending')`, convID).Scan(&pending); err != nil {
			return err
		}
		if pending {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE chat.conversations SET lease_token = NULL, lease_until = NULL WHERE id = $1`, convID)
		released = err == nil
		return err
	})
	return released, err
}

// Take acquires a free or expired lease (the sweeper).
func (s *Store) Take(ctx context.Context, org, convID, token string, ttl time.Duration) (bool, error) {
	ok := false
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE chat.conversations SET lease_token = $2, lease_until = now() + $3::interval
			WHERE id = $1 AND (lease_token IS NULL OR lease_until < now())`, convID, token, ttl)
		ok = err == nil && tag.RowsAffected() == 1
		return err
	})
	return ok, err
}

// Ref names a conversation of an organisation.
type Ref struct{ Org, ID string }

// Stranded lists conversations with pending messages whose lease is free
// or expired, across organisations: the sweeper's scan, the one query that
// does not run in one organisation (it reads ids only).
func (s *Store) Stranded(ctx context.Context, limit int) ([]Ref, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT c.org_id::text, c.id::text FROM chat.messages m
		JOIN chat.conversations c ON c.id = m.conversation_id
		WHERE m.status = 'pending' AND (c.lease_token IS NULL OR c.lease_until < now()) LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ref, error) {
		var ref Ref
		err := r.Scan(&ref.Org, &ref.ID)
		return ref, err
	})
}

// Finish is what one turn leaves behind.
type Finish struct {
	Conv       *Conversation // script state to store (KBs, Tools, Contexts, Switchers, Suggestions, ActiveSwitchers, ScriptUser)
	Inbound    string        // the message the turn ran, marked done
	InboundSeq int64         // its seq: the answers' positions follow it
	Outputs    []*Message    // bot messages, in order; seq and id are set here when empty
	// Transfer, when set, moves a bot conversation to queued on this queue.
	Transfer *Transfer
}

// Transfer is a hand-off a script asked for.
type Transfer struct {
	Queue, Reason, Actor string
}

// Continued is what follows a finished turn: the conversation and its next
// pending message, or Released when none is left (the lease is given up in
// the same transaction, under the conversation's row lock, so a message
// accepted meanwhile is either seen here or finds the lease free).
type Continued struct {
	Conv     *Conversation
	Next     *Message
	Released bool
	// Handoff is the conversation as the turn's hand-off left it (queued),
	// when the turn asked for one and it took place.
	Handoff *Conversation

	state string // hand-off state before the turn's hand-off
}

// FinishTurn stores a turn's outputs and script state and marks its message
// done, if token still holds the lease, and moves on to the next message.
//
// It is one round trip of two statements, as one pipeline (an implicit
// transaction): the first locks the conversation if token holds the lease,
// stores the outputs (and queues them for the conversation's channel) and
// marks the message done; the second stores the script state and gives the
// lease up when no inbound message came after this one (inbound_seq, which
// Accept sets under the same row lock, so a message accepted meanwhile is
// either counted here or finds the lease free). When one came, the lease
// is kept and the next pending message is read after the commit. Every
// part holds only while token holds the lease, so a lost lease changes
// nothing and reads back as ErrLeaseLost. A turn that asked for a human
// runs the same pipeline in a transaction that then moves the conversation
// to queued and writes the hand-off's event.
func (s *Store) FinishTurn(ctx context.Context, org, token string, ttl time.Duration, f *Finish) (*Continued, error) {
	cont := &Continued{}
	var err error
	if f.Transfer == nil {
		// Group-committed like Accept: its first statement locks the
		// conversation, the rest only touch that conversation's rows.
		err = s.turns.InOrgBatch(ctx, org, f.Conv.ID, func(b *pgx.Batch) { queueFinish(b, token, ttl, f) },
			func(r pgx.BatchResults) error {
				*cont = Continued{}
				return readFinish(r, f, cont)
			})
	} else {
		err = pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			queueFinish(b, token, ttl, f)
			br := tx.SendBatch(ctx, b)
			err := readFinish(br, f, cont)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil || cont.state != StateBot {
				return err
			}
			t := f.Transfer
			cont.Handoff, err = s.handoff(ctx, tx, org, f.Conv.ID, []string{StateBot}, StateQueued, t.Queue, "", t.Actor, t.Reason, "bot.chat.handoff.requested")
			if err == nil && !cont.Released {
				cont.Conv = cont.Handoff
			}
			return err
		})
	}
	if err == nil && !cont.Released {
		// A message came in during the turn: the lease is still ours.
		cont.Next, err = s.firstPending(ctx, org, f.Conv.ID)
	}
	if err != nil {
		return nil, err
	}
	return cont, nil
}

// enqueueChannel is the CTE that queues the rows of ins (bot or attendant
// messages just stored, in seq order) for a channel conversation's outbox:
// a message with text or suggestions, once (the message id is the outbox's
// key). The statements that carry it store outbox_done = true, which keeps
// migration 5's trigger, left for the previous release's writers, quiet.
const enqueueChannel = `, queued AS (
			INSERT INTO chat.channel_outbox (org_id, bot, channel, address, conversation_id, message_id, content, suggestions)
			SELECT c.org_id, c.bot, c.channel, c.channel_address, c.id, ins.id, ins.content, ins.suggestions
			FROM ins, c
			WHERE c.channel <> 'web' AND c.channel_address <> '' AND ins.role IN ('bot', 'human')
				AND (ins.content <> '' OR CASE WHEN jsonb_typeof(ins.suggestions) = 'array'
					THEN jsonb_array_length(ins.suggestions) > 0 ELSE false END)
			ORDER BY ins.seq
			ON CONFLICT (message_id) DO NOTHING
		)`

// channelConv reports whether a conversation's messages go out through a
// channel (its outbox): only then do the statements carry enqueueChannel.
func channelConv(c *Conversation) bool { return c.Channel != "web" && c.ChannelAddress != "" }

// queueFinish queues FinishTurn's two statements.
func queueFinish(b *pgx.Batch, token string, ttl time.Duration, f *Finish) {
	c := f.Conv
	n := len(f.Outputs)
	out := outputColumns{}
	for i, m := range f.Outputs {
		if m.ID == "" {
			m.ID = uuid.Must(uuid.NewV7()).String()
		}
		m.ConversationID = c.ID
		m.Position = f.InboundSeq*1000 + int64(min(i+1, 999))
		out.add(m)
	}
	// The i-th output takes seq next_seq + i; the update below counts them.
	queued := ""
	if channelConv(c) {
		queued = enqueueChannel
	}
	b.Queue(`WITH c AS (
			SELECT id, org_id, bot, channel, channel_address, next_seq FROM chat.conversations
			WHERE id = $1 AND lease_token = $2::uuid FOR UPDATE
		), ins AS (
			INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content, reply_to, tokens,
				latency_ms, model, suggestions, switchers, chunks, cancelled, outbox_done)
			SELECT c.org_id, $1, c.next_seq + o.i, o.position, o.id, o.role, o.type, o.content, o.reply_to, o.tokens,
				o.latency, o.model, o.suggestions::jsonb, o.switchers::jsonb, o.chunks::int[], o.cancelled, true
			FROM c, unnest($4::uuid[], $5::bigint[], $6::text[], $7::int[], $8::text[], $9::uuid[], $10::int[], $11::int[],
				$12::text[], $13::text[], $14::text[], $15::text[], $16::bool[]) WITH ORDINALITY
				AS o(id, position, role, type, content, reply_to, tokens, latency, model, suggestions, switchers, chunks, cancelled, i)
			RETURNING id, seq, role, content, suggestions
		)`+queued+`, done AS (
			UPDATE chat.messages SET status = 'done' WHERE conversation_id = $1 AND id = $3::uuid AND EXISTS (SELECT 1 FROM c) RETURNING 1
		)
		SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM c)`,
		c.ID, token, nullable(f.Inbound), out.ids, out.positions, out.roles, out.types, out.contents, out.replyTo,
		out.tokens, out.latency, out.models, out.suggestions, out.switchers, out.chunks, out.cancelled)
	// The script state goes as JSON text: pgx plans the encoding of
	// structs and maps anew on every call, strings it does not.
	b.Queue(`UPDATE chat.conversations SET next_seq = next_seq + $3, updated_at = now(),
			kbs = $5::jsonb, tools = $6::jsonb, contexts = $7::jsonb, switchers = $8::jsonb, suggestions = $9::jsonb,
			active_switchers = $10::jsonb, script_user = $11, auto_turn = $12,
			lease_token = CASE WHEN inbound_seq > $13 THEN lease_token END,
			lease_until = CASE WHEN inbound_seq > $13 THEN now() + $4::interval END
		WHERE id = $1 AND lease_token = $2 RETURNING `+convColumns+`, inbound_seq > $13`,
		c.ID, token, n, ttl, jsonText(nonNil(c.KBs)), jsonText(nonNil(c.Tools)), jsonText(nonNilMap(c.Contexts)),
		jsonText(nonNil(c.Switchers)), jsonText(nonNil(c.Suggestions)), jsonText(nonNil(c.ActiveSwitchers)), c.ScriptUser, c.AutoTurn,
		f.InboundSeq)
}

// readFinish reads what queueFinish's statements did into cont.
func readFinish(r pgx.BatchResults, f *Finish, cont *Continued) error {
	var inserted, held int
	if err := r.QueryRow().Scan(&inserted, &held); err != nil {
		return err
	}
	if held == 0 {
		return ErrLeaseLost
	}
	n := len(f.Outputs)
	if inserted != n {
		return fmt.Errorf("finish turn: %d of %d answers stored", inserted, n)
	}
	conv := &Conversation{}
	var more bool
	err := r.QueryRow().Scan(append(conv.fields(), &more)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrLeaseLost
	}
	if err != nil {
		return err
	}
	cont.state = conv.Handoff
	for i, m := range f.Outputs {
		m.Seq = conv.NextSeq - int64(n) + int64(i) + 1
	}
	cont.Released = !more
	if more {
		cont.Conv = conv
	}
	return nil
}

// outputColumns are a turn's answers as one array per column, for a
// single INSERT ... SELECT FROM unnest.
type outputColumns struct {
	ids, roles, contents, models            []string
	positions                               []int64
	types, tokens, latency                  []int32
	replyTo, suggestions, switchers, chunks []*string
	cancelled                               []bool
}

func (o *outputColumns) add(m *Message) {
	o.ids = append(o.ids, m.ID)
	o.positions = append(o.positions, m.Position)
	o.roles = append(o.roles, m.Role)
	o.types = append(o.types, int32(m.Type))
	o.contents = append(o.contents, m.Content)
	o.replyTo = append(o.replyTo, nullable(m.ReplyTo))
	o.tokens = append(o.tokens, int32(m.Tokens))
	o.latency = append(o.latency, int32(m.LatencyMS))
	o.models = append(o.models, m.Model)
	o.suggestions = append(o.suggestions, jsonOrNull(m.Suggestions))
	o.switchers = append(o.switchers, jsonOrNull(m.Switchers))
	o.chunks = append(o.chunks, intArray(m.Chunks))
	o.cancelled = append(o.cancelled, m.Cancelled)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonOrNull is v as JSON, or NULL when empty.
func jsonOrNull[T any](v []T) *string {
	if len(v) == 0 {
		return nil
	}
	b, _ := json.Marshal(v)
	s := string(b)
	return &s
}

// intArray is v as a Postgres array literal, or NULL for nil.
func intArray(v []int32) *string {
	if v == nil {
		return nil
	}
	b := []byte{'{'}
	for i, n := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	s := string(append(b, '}'))
	return &s
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// AddMessage stores a complete message outside a turn (an attendant's
// reply) with the next seq.
func (s *Store) AddMessage(ctx context.Context, org string, m *Message) error {
	if m.ID == "" {
		m.ID = uuid.Must(uuid.NewV7()).String()
	}
	// One statement: the seq, the message and, for a channel conversation,
	// its place in the outbox.
	err := pg.QueryRowInOrg(ctx, s.db, org, func(r pgx.Row) error { return r.Scan(&m.Seq, &m.CreatedAt) },
		`WITH c AS (
			UPDATE chat.conversations SET next_seq = next_seq + 1, updated_at = now() WHERE id = $1
			RETURNING id, org_id, bot, channel, channel_address, next_seq
		), ins AS (
			INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content, outbox_done)
			SELECT c.org_id, c.id, c.next_seq, c.next_seq * 1000, $2, $3, $4, $5, true FROM c
			RETURNING id, role, content, suggestions, seq, created_at
		)`+enqueueChannel+`
		SELECT seq, created_at FROM ins`,
		m.ConversationID, m.ID, m.Role, m.Type, m.Content)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	m.Status, m.Position = StatusDone, m.Seq*1000
	return nil
}

// History returns up to limit messages after position afterPos, in
// conversation order (open turns are not messages anyone wrote and are
// left out).
func (s *Store) History(ctx context.Context, org, convID string, afterPos int64, limit int) ([]*Message, error) {
	var out []*Message
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+msgColumns+` FROM chat.messages WHERE conversation_id = $1 AND position > $2 AND role <> 'system'
			ORDER BY position, seq LIMIT $3`, convID, afterPos, limit)
		if err != nil {
			return err
		}
		out, err = scanMsgs(rows)
		return err
	})
	return out, err
}

// Recent returns the last n user, bot and human messages before the user
// message of seq (in conversation order): the LLM's history.
func (s *Store) Recent(ctx context.Context, org, convID string, beforeSeq int64, n int) ([]*Message, error) {
	var out []*Message
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT * FROM (SELECT `+msgColumns+` FROM chat.messages
			WHERE conversation_id = $1 AND position < $2 * 1000 AND role IN ('user', 'bot', 'human') AND message_type IN (1, 2)
			ORDER BY position DESC, seq DESC LIMIT $3) r ORDER BY position, seq`, convID, beforeSeq, n)
		if err != nil {
			return err
		}
		out, err = scanMsgs(rows)
		return err
	})
	return out, err
}

// LastUserMessage returns the newest user text before seq (switcher re-answers).
func (s *Store) LastUserMessage(ctx context.Context, org, convID string, beforeSeq int64) (*Message, error) {
	var m *Message
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) (err error) {
		m, err = scanMsg(tx.QueryRow(ctx, `SELECT `+msgColumns+` FROM chat.messages
			WHERE conversation_id = $1 AND seq < $2 AND role = 'user' AND message_type = 1 ORDER BY seq DESC LIMIT 1`, convID, beforeSeq))
		return err
	})
	return m, err
}

// Message returns one message of a conversation.
func (s *Store) Message(ctx context.Context, org, convID, id string) (*Message, error) {
	var m *Message
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) (err error) {
		m, err = scanMsg(tx.QueryRow(ctx, `SELECT `+msgColumns+` FROM chat.messages WHERE conversation_id = $1 AND id = $2`, convID, id))
		return err
	})
	return m, err
}

// Outputs returns the bot and human messages with seq > afterSeq (replay),
// at most limit.
func (s *Store) Outputs(ctx context.Context, org, convID string, afterSeq int64, limit int) ([]*Message, error) {
	var out []*Message
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+msgColumns+` FROM chat.messages
			WHERE conversation_id = $1 AND seq > $2 AND role IN ('bot', 'human') ORDER BY seq LIMIT $3`, convID, afterSeq, limit)
		if err != nil {
			return err
		}
		out, err = scanMsgs(rows)
		return err
	})
	return out, err
}

// Replies returns the stored output of one inbound message's turn.
func (s *Store) Replies(ctx context.Context, org, convID, inbound string) ([]*Message, error) {
	var out []*Message
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+msgColumns+` FROM chat.messages WHERE conversation_id = $1 AND reply_to = $2 ORDER BY seq`, convID, inbound)
		if err != nil {
			return err
		}
		out, err = scanMsgs(rows)
		return err
	})
	return out, err
}

// Handoff moves a conversation between hand-off states and writes the
// event in the same transaction. from lists the states it may leave;
// agent is set when entering human. ErrState when the conversation is in
// none of from.
func (s *Store) Handoff(ctx context.Context, org, convID string, from []string, to, queue, agent, actor, reason, subject string) (*Conversation, error) {
	var c *Conversation
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) (err error) {
		c, err = s.handoff(ctx, tx, org, convID, from, to, queue, agent, actor, reason, subject)
		return err
	})
	return c, err
}

func (s *Store) handoff(ctx context.Context, tx pgx.Tx, org, convID string, from []string, to, queue, agent, actor, reason, subject string) (*Conversation, error) {
	old, err := scanConv(tx.QueryRow(ctx, `SELECT `+convColumns+` FROM chat.conversations WHERE id = $1 FOR UPDATE`, convID))
	if err != nil {
		return nil, err
	}
	ok := false
	for _, f := range from {
		ok = ok || old.Handoff == f
	}
	if !ok {
		return old, fmt.Errorf("%w: it is %s", ErrState, old.Handoff)
	}
	if queue == "" {
		queue = old.Queue
	}
	if to == StateBot {
		queue = ""
	}
	if to != StateHuman {
		if to == StateBot {
			agent = ""
		} else {
			agent = old.AgentID
		}
	}
	c, err := scanConv(tx.QueryRow(ctx, `UPDATE chat.conversations SET handoff_state = $2, handoff_queue = $3, agent_id = $4,
			handoff_at = now(), updated_at = now() WHERE id = $1 RETURNING `+convColumns, convID, to, queue, agent))
	if err != nil {
		return nil, err
	}
	evAgent := agent
	if evAgent == "" {
		evAgent = old.AgentID
	}
	_, err = events.Write(ctx, tx, Schema, events.Event{Subject: subject, Payload: handoffEvent(org, c, old.Handoff, to, evAgent, actor, reason, s.now())})
	return c, err
}

// ListHandoffs lists conversations in queued or human state, oldest
// hand-off first.
func (s *Store) ListHandoffs(ctx context.Context, org, queue, state string, limit int) ([]*Conversation, error) {
	var out []*Conversation
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+convColumns+` FROM chat.conversations WHERE handoff_state <> 'bot'
			AND ($1 = '' OR handoff_queue = $1) AND ($2 = '' OR handoff_state = $2) ORDER BY handoff_at LIMIT $3`, queue, state, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanConv(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// IsUniqueViolation reports a unique constraint error.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
