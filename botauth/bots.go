package botauth

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

const botColumns = `id, org_id, name, title, public, status, created_at, updated_at`

func scanBot(row pgx.Row) (*authv1.Bot, error) {
	b := &authv1.Bot{}
	var created, updated time.Time
	if err := row.Scan(&b.Id, &b.OrgId, &b.Name, &b.Title, &b.Public, &b.Status, &created, &updated); err != nil {
		return nil, err
	}
	b.CreatedAt, b.UpdatedAt = ts(created), ts(updated)
	return b, nil
}

func botEvent(b *authv1.Bot, id *authz.Identity, at time.Time) *authv1.BotEvent {
	return &authv1.BotEvent{BotId: b.Id, OrgId: b.OrgId, Name: b.Name, Title: b.Title, Public: b.Public, Status: b.Status,
		Actor: actor(id), At: timestamppb.New(at)}
}

func checkBot(name, title string) (string, error) {
	if !slugRE.MatchString(name) {
		return "", invalid("bot name must match [a-z0-9][a-z0-9-]{0,62}")
	}
	return checkName("title", title, 200)
}

func (s *server) CreateBot(ctx context.Context, req *authv1.CreateBotRequest) (*authv1.CreateBotResponse, error) {
	title, err := checkBot(req.GetName(), req.GetTitle())
	if err != nil {
		return nil, err
	}
	resp := &authv1.CreateBotResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		b, err := scanBot(tx.QueryRow(ctx, `INSERT INTO auth.bots (id, org_id, name, title, public) VALUES ($1, $2, $3, $4, $5) RETURNING `+botColumns,
			uuid.New(), id.OrgID, req.GetName(), title, req.GetPublic()))
		if err != nil {
			return err
		}
		resp.Bot = b
		return s.event(ctx, tx, "bot.auth.bot.created", botEvent(b, id, s.now()))
	})
	if status.Code(err) == codes.AlreadyExists {
		return nil, status.Errorf(codes.AlreadyExists, "a bot named %s exists in this organisation", req.GetName())
	}
	return resp, err
}

func (s *server) GetBot(ctx context.Context, req *authv1.GetBotRequest) (*authv1.GetBotResponse, error) {
	resp := &authv1.GetBotResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) (err error) {
		resp.Bot, err = s.findBot(ctx, tx, req.GetBotId(), req.GetName())
		return err
	})
	return resp, err
}

// findBot looks a bot up by id or name in the tx's org.
func (s *server) findBot(ctx context.Context, tx pgx.Tx, id, name string) (*authv1.Bot, error) {
	var row pgx.Row
	switch {
	case id != "":
		bid, err := parseID(id, "bot")
		if err != nil {
			return nil, err
		}
		row = tx.QueryRow(ctx, `SELECT `+botColumns+` FROM auth.bots WHERE id = $1`, bid)
	case name != "":
		row = tx.QueryRow(ctx, `SELECT `+botColumns+` FROM auth.bots WHERE name = $1`, name)
	default:
		return nil, invalid("give bot_id or name")
	}
	b, err := scanBot(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("bot")
	}
	return b, err
}

func (s *server) ListBots(ctx context.Context, req *authv1.ListBotsRequest) (*authv1.ListBotsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 500:
		return nil, invalid("page_size must be 0 to 500")
	case size == 0:
		size = 100
	}
	after := ""
	if t := req.GetPageToken(); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || !slugRE.Match(b) {
			return nil, invalid("page_token is malformed")
		}
		after = string(b)
	}
	resp := &authv1.ListBotsResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		rows, err := tx.Query(ctx, `SELECT `+botColumns+` FROM auth.bots WHERE name > $1 ORDER BY name LIMIT $2`, after, size+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBot(rows)
			if err != nil {
				return err
			}
			resp.Bots = append(resp.Bots, b)
		}
		return rows.Err()
	})
	if len(resp.Bots) > size {
		resp.Bots = resp.Bots[:size]
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(resp.Bots[size-1].Name))
	}
	return resp, err
}

func (s *server) UpdateBot(ctx context.Context, req *authv1.UpdateBotRequest) (*authv1.UpdateBotResponse, error) {
	bid, err := parseID(req.GetBotId(), "bot")
	if err != nil {
		return nil, err
	}
	if req.Title != nil {
		if _, err := checkName("title", req.GetTitle(), 200); err != nil {
			return nil, err
		}
	}
	if req.Status != nil && req.GetStatus() != "active" && req.GetStatus() != "disabled" {
		return nil, invalid("status must be active or disabled")
	}
	resp := &authv1.UpdateBotResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		b, err := scanBot(tx.QueryRow(ctx, `UPDATE auth.bots SET title = coalesce($2, title), public = coalesce($3, public),
			status = coalesce($4, status), updated_at = now() WHERE id = $1 RETURNING `+botColumns, bid, req.Title, req.Public, req.Status))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("bot")
		}
		if err != nil {
			return err
		}
		resp.Bot = b
		return s.event(ctx, tx, "bot.auth.bot.updated", botEvent(b, id, s.now()))
	})
	return resp, err
}

func (s *server) DeleteBot(ctx context.Context, req *authv1.DeleteBotRequest) (*authv1.DeleteBotResponse, error) {
	bid, err := parseID(req.GetBotId(), "bot")
	if err != nil {
		return nil, err
	}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		b, err := scanBot(tx.QueryRow(ctx, `DELETE FROM auth.bots WHERE id = $1 RETURNING `+botColumns, bid))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("bot")
		}
		if err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.bot.deleted", botEvent(b, id, s.now()))
	})
	return &authv1.DeleteBotResponse{}, err
}

// EnsureBot creates a bot found in storage unless its org has one of that
// name; an existing bot is returned unchanged (UpdateBot changes it). The
// org is the calling service's bot-org-id; org_id in the request must
// match it (or name it when the service sent none).
func (s *server) EnsureBot(ctx context.Context, req *authv1.EnsureBotRequest) (*authv1.EnsureBotResponse, error) {
	id, _ := authz.FromContext(ctx)
	org := id.OrgID
	switch {
	case org == "" && req.GetOrgId() != "":
		if _, err := uuid.Parse(req.GetOrgId()); err != nil {
			return nil, invalid("org_id is not a uuid")
		}
		org = req.GetOrgId()
	case org == "":
		return nil, invalid("org_id is required")
	case req.GetOrgId() != "" && req.GetOrgId() != org:
		return nil, invalid("org_id differs from the bot-org-id the call acts for")
	}
	title, err := checkBot(req.GetName(), req.GetTitle())
	if err != nil {
		return nil, err
	}
	resp := &authv1.EnsureBotResponse{}
	err = pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.orgs)`).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return notFound("organisation")
		}
		b, err := scanBot(tx.QueryRow(ctx, `INSERT INTO auth.bots (id, org_id, name, title, public) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (org_id, name) DO NOTHING RETURNING `+botColumns, uuid.New(), org, req.GetName(), title, req.GetPublic()))
		if errors.Is(err, pgx.ErrNoRows) {
			resp.Bot, err = s.findBot(ctx, tx, "", req.GetName())
			return err
		}
		if err != nil {
			return err
		}
		resp.Bot, resp.Created = b, true
		return s.event(ctx, tx, "bot.auth.bot.created", botEvent(b, id, s.now()))
	})
	return resp, s.dbErr(err)
}

// CreateVisitorSession gives an anonymous visitor a token for one public,
// active bot: kind visitor, chat:use only. The org is the default one
// unless the request names an org slug (an explicit, narrow platform read
// of orgs by slug). A private, disabled or missing bot gives the same
// NotFound.
func (s *server) CreateVisitorSession(ctx context.Context, req *authv1.CreateVisitorSessionRequest) (*authv1.CreateVisitorSessionResponse, error) {
	if !slugRE.MatchString(req.GetBot()) {
		return nil, invalid("bot must be a bot name")
	}
	org := authz.DefaultOrgID
	if slug := req.GetOrg(); slug != "" {
		if !slugRE.MatchString(slug) {
			return nil, invalid("org must be an organisation slug")
		}
		err := s.db.QueryRow(ctx, `SELECT id FROM auth.orgs WHERE slug = $1`, slug).Scan(&org)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound("bot")
		}
		if err != nil {
			return nil, s.dbErr(err)
		}
	}
	// One round trip: the session row is inserted only for a public, active
	// bot of the org. If signing then fails, the row is a session nobody
	// holds a token for, and it expires.
	sid := uuid.NewString()
	var botID string
	err := pg.QueryRowInOrg(ctx, s.db, org, func(r pgx.Row) error { return r.Scan(&botID) },
		`INSERT INTO auth.visitor_sessions (id, org_id, bot_id, expires_at)
		SELECT $1, $2, id, $3 FROM auth.bots WHERE name = $4 AND public AND status = 'active'
		RETURNING bot_id`, sid, org, s.now().Add(s.set.VisitorTTL), req.GetBot())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("bot")
	}
	if err != nil {
		return nil, s.dbErr(err)
	}
	tok, err := s.sign(ctx, &authz.Identity{Kind: authz.KindVisitor, Subject: sid, OrgID: org, BotID: botID, SessionID: sid,
		Permissions: []string{"chat:use"}}, s.set.VisitorTTL)
	if err != nil {
		return nil, s.dbErr(err)
	}
	return &authv1.CreateVisitorSessionResponse{SessionId: sid, Token: tok, ExpiresIn: int64(s.set.VisitorTTL / time.Second), BotId: botID}, nil
}
