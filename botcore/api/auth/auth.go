// Package auth is the public HTTP API of botauth, translated to its gRPC
// API. The caller's Authorization header is forwarded as gRPC metadata;
// botauth verifies it and scopes everything to the token's organisation.
//
//	POST   /api/v1/auth/login               {"email","password","org"?}      → tokens + user
//	POST   /api/v1/auth/refresh             {"refresh_token"}                → tokens
//	POST   /api/v1/auth/logout              {"refresh_token"}                → 204
//	POST   /api/v1/auth/token               {"api_key"}                      → access token
//	GET    /api/v1/auth/me
//	POST   /api/v1/auth/invitations/accept  {"token","password","display_name"?} → tokens + user
//	GET    /api/v1/auth/oidc/start?org=<slug>   → 302 to the OpenID provider (sets the state cookie)
//	GET    /api/v1/auth/oidc/callback?state=&code= → tokens + user (same as login)
//	GET|PUT|DELETE /api/v1/org/oidc         the org's own provider {"issuer","client_id","client_secret"?,...}
//	GET    /.well-known/jwks.json
//	POST   /api/v1/sessions                 {"bot","org"?}                   → {"session_id","token",...}
//	POST   /api/v1/orgs                     {"slug","name"}   GET|PATCH /api/v1/org {"name"}
//	GET    /api/v1/members   GET /api/v1/users/{id}   PUT /api/v1/members/{id}/roles {"roles"}   DELETE /api/v1/members/{id}
//	GET|POST /api/v1/invitations {"email","role"}     DELETE /api/v1/invitations/{id}
//	GET|POST /api/v1/roles {"name","permissions"}     PATCH|DELETE /api/v1/roles/{id}
//	GET|POST /api/v1/groups {"name","description"}  GET|PATCH|DELETE /api/v1/groups/{id} {"name"?,"description"?}
//	PUT  /api/v1/groups/{id}/roles {"roles"}       POST /api/v1/groups/{id}/members {"user_id"}   DELETE /api/v1/groups/{id}/members/{user}
//	GET|POST /api/v1/apikeys {"name","permissions","expires_in"}   DELETE /api/v1/apikeys/{id}
//	GET|POST /api/v1/bots {"name","title","public"}   GET|PATCH|DELETE /api/v1/bots/{bot} (id or name)
//
// Tokens are JSON {"access_token","token_type","expires_in","refresh_token","org_id"}.
package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// Tokens is the JSON of a login, refresh or token exchange.
type Tokens struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    int64           `json:"expires_in"`
	RefreshToken string          `json:"refresh_token,omitempty"`
	OrgID        string          `json:"org_id"`
	User         json.RawMessage `json:"user,omitempty"`
}

// Register mounts the routes on gw, calling botauth through cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	c := authv1.NewAuthServiceClient(cc)
	h := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error)) {
		gw.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			out, code, err := fn(w, r, forward(r))
			switch {
			case err != nil:
				writeStatus(w, err)
			case out == nil && code == 0:
				// fn wrote the response (a decoding error)
			case out == nil:
				w.WriteHeader(code)
			default:
				writeOut(w, code, out)
			}
		})
	}
	// body decodes the JSON body into v; on failure the error is written.
	body := func(w http.ResponseWriter, r *http.Request, v any) bool { return gateway.DecodeJSON(w, r, v) }

	h("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Email, Password, Org string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.Login(ctx, &authv1.LoginRequest{Email: in.Email, Password: in.Password, Org: in.Org})
		return tokens(resp.GetTokens(), resp.GetUser()), 200, err
	})
	h("POST /api/v1/auth/refresh", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: in.RefreshToken})
		return tokens(resp.GetTokens(), nil), 200, err
	})
	h("POST /api/v1/auth/logout", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		_, err := c.Logout(ctx, &authv1.LogoutRequest{RefreshToken: in.RefreshToken})
		return nil, http.StatusNoContent, err
	})
	h("POST /api/v1/auth/token", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			APIKey string `json:"api_key"`
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.ExchangeApiKey(ctx, &authv1.ExchangeApiKeyRequest{ApiKey: in.APIKey})
		return tokens(resp.GetTokens(), nil), 200, err
	})
	h("GET /api/v1/auth/me", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.GetMe(ctx, &authv1.GetMeRequest{})
		return resp, 200, err
	})
	h("POST /api/v1/auth/invitations/accept", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			Token, Password string
			DisplayName     string `json:"display_name"`
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.AcceptInvitation(ctx, &authv1.AcceptInvitationRequest{Token: in.Token, Password: in.Password, DisplayName: in.DisplayName})
		return tokens(resp.GetTokens(), resp.GetUser()), 200, err
	})
	registerOIDC(gw, c, h, body)
	gw.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.GetJwks(r.Context(), &authv1.GetJwksRequest{})
		if err != nil {
			writeStatus(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write([]byte(resp.GetJwksJson()))
	})
	h("POST /api/v1/sessions", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Bot, Org string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.CreateVisitorSession(ctx, &authv1.CreateVisitorSessionRequest{Bot: in.Bot, Org: in.Org})
		return map[string]any{"session_id": resp.GetSessionId(), "token": resp.GetToken(), "expires_in": resp.GetExpiresIn(), "bot_id": resp.GetBotId()}, 201, err
	})

	// Organisations and members.
	h("POST /api/v1/orgs", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Slug, Name string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.CreateOrg(ctx, &authv1.CreateOrgRequest{Slug: in.Slug, Name: in.Name})
		return map[string]any{"org": raw(resp.GetOrg()), "tokens": tokens(resp.GetTokens(), nil)}, 201, err
	})
	h("GET /api/v1/org", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.GetOrg(ctx, &authv1.GetOrgRequest{})
		return resp.GetOrg(), 200, err
	})
	h("PATCH /api/v1/org", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Name string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.UpdateOrg(ctx, &authv1.UpdateOrgRequest{Name: in.Name})
		return resp.GetOrg(), 200, err
	})
	h("GET /api/v1/members", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.ListMembers(ctx, &authv1.ListMembersRequest{})
		return resp, 200, err
	})
	h("GET /api/v1/users/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.GetUser(ctx, &authv1.GetUserRequest{UserId: r.PathValue("id")})
		return resp, 200, err
	})
	h("PUT /api/v1/members/{id}/roles", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Roles []string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.SetMemberRoles(ctx, &authv1.SetMemberRolesRequest{UserId: r.PathValue("id"), Roles: in.Roles})
		return resp.GetMember(), 200, err
	})
	h("DELETE /api/v1/members/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		_, err := c.RemoveMember(ctx, &authv1.RemoveMemberRequest{UserId: r.PathValue("id")})
		return nil, http.StatusNoContent, err
	})

	// Invitations.
	h("POST /api/v1/invitations", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Email, Role string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.CreateInvitation(ctx, &authv1.CreateInvitationRequest{Email: in.Email, Role: in.Role})
		return resp, 201, err
	})
	h("GET /api/v1/invitations", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.ListInvitations(ctx, &authv1.ListInvitationsRequest{})
		return resp, 200, err
	})
	h("DELETE /api/v1/invitations/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		_, err := c.RevokeInvitation(ctx, &authv1.RevokeInvitationRequest{InvitationId: r.PathValue("id")})
		return nil, http.StatusNoContent, err
	})

	// Roles.
	h("GET /api/v1/roles", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.ListRoles(ctx, &authv1.ListRolesRequest{})
		return resp, 200, err
	})
	h("POST /api/v1/roles", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			Name        string
			Permissions []string
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.CreateRole(ctx, &authv1.CreateRoleRequest{Name: in.Name, Permissions: in.Permissions})
		return resp.GetRole(), 201, err
	})
	h("PATCH /api/v1/roles/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Permissions []string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.UpdateRole(ctx, &authv1.UpdateRoleRequest{RoleId: r.PathValue("id"), Permissions: in.Permissions})
		return resp.GetRole(), 200, err
	})
	h("DELETE /api/v1/roles/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		_, err := c.DeleteRole(ctx, &authv1.DeleteRoleRequest{RoleId: r.PathValue("id")})
		return nil, http.StatusNoContent, err
	})

	registerGroups(h, body, c)

	// API keys.
	h("GET /api/v1/apikeys", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.ListApiKeys(ctx, &authv1.ListApiKeysRequest{})
		return resp, 200, err
	})
	h("POST /api/v1/apikeys", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			Name        string
			Permissions []string
			ExpiresIn   int64 `json:"expires_in"`
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.CreateApiKey(ctx, &authv1.CreateApiKeyRequest{Name: in.Name, Permissions: in.Permissions, ExpiresIn: in.ExpiresIn})
		return map[string]any{"api_key": raw(resp.GetApiKey()), "secret": resp.GetSecret()}, 201, err
	})
	h("DELETE /api/v1/apikeys/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		_, err := c.RevokeApiKey(ctx, &authv1.RevokeApiKeyRequest{ApiKeyId: r.PathValue("id")})
		return nil, http.StatusNoContent, err
	})

	// Bots: {bot} is the bot's id or its name.
	h("GET /api/v1/bots", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.ListBots(ctx, &authv1.ListBotsRequest{PageToken: r.URL.Query().Get("page_token")})
		return resp, 200, err
	})
	h("POST /api/v1/bots", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			Name, Title string
			Public      bool
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.CreateBot(ctx, &authv1.CreateBotRequest{Name: in.Name, Title: in.Title, Public: in.Public})
		return resp.GetBot(), 201, err
	})
	botID := func(ctx context.Context, ref string) (string, error) {
		if _, err := uuid.Parse(ref); err == nil {
			return ref, nil
		}
		resp, err := c.GetBot(ctx, &authv1.GetBotRequest{Name: ref})
		return resp.GetBot().GetId(), err
	}
	h("GET /api/v1/bots/{bot}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		req := &authv1.GetBotRequest{Name: r.PathValue("bot")}
		if _, err := uuid.Parse(req.Name); err == nil {
			req = &authv1.GetBotRequest{BotId: req.Name}
		}
		resp, err := c.GetBot(ctx, req)
		return resp.GetBot(), 200, err
	})
	h("PATCH /api/v1/bots/{bot}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			Title  *string
			Public *bool
			Status *string
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		id, err := botID(ctx, r.PathValue("bot"))
		if err != nil {
			return nil, 0, err
		}
		resp, err := c.UpdateBot(ctx, &authv1.UpdateBotRequest{BotId: id, Title: in.Title, Public: in.Public, Status: in.Status})
		return resp.GetBot(), 200, err
	})
	h("DELETE /api/v1/bots/{bot}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		id, err := botID(ctx, r.PathValue("bot"))
		if err != nil {
			return nil, 0, err
		}
		_, err = c.DeleteBot(ctx, &authv1.DeleteBotRequest{BotId: id})
		return nil, http.StatusNoContent, err
	})
}

// registerGroups mounts the groups of members: a member's effective roles
// are their own plus their groups'.
func registerGroups(h handler, body func(http.ResponseWriter, *http.Request, any) bool, c authv1.AuthServiceClient) {
	h("GET /api/v1/groups", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.ListGroups(ctx, &authv1.ListGroupsRequest{})
		return resp, 200, err
	})
	h("POST /api/v1/groups", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Name, Description string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.CreateGroup(ctx, &authv1.CreateGroupRequest{Name: in.Name, Description: in.Description})
		return resp.GetGroup(), 201, err
	})
	h("GET /api/v1/groups/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.GetGroup(ctx, &authv1.GetGroupRequest{GroupId: r.PathValue("id")})
		return resp, 200, err
	})
	h("PATCH /api/v1/groups/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Name, Description *string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.UpdateGroup(ctx, &authv1.UpdateGroupRequest{GroupId: r.PathValue("id"), Name: in.Name, Description: in.Description})
		return resp.GetGroup(), 200, err
	})
	h("DELETE /api/v1/groups/{id}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		_, err := c.DeleteGroup(ctx, &authv1.DeleteGroupRequest{GroupId: r.PathValue("id")})
		return nil, http.StatusNoContent, err
	})
	h("PUT /api/v1/groups/{id}/roles", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct{ Roles []string }
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.SetGroupRoles(ctx, &authv1.SetGroupRolesRequest{GroupId: r.PathValue("id"), Roles: in.Roles})
		return resp.GetGroup(), 200, err
	})
	h("POST /api/v1/groups/{id}/members", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			UserID string `json:"user_id"`
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.AddGroupMember(ctx, &authv1.AddGroupMemberRequest{GroupId: r.PathValue("id"), UserId: in.UserID})
		return resp.GetGroup(), 200, err
	})
	h("DELETE /api/v1/groups/{id}/members/{user}", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		_, err := c.RemoveGroupMember(ctx, &authv1.RemoveGroupMemberRequest{GroupId: r.PathValue("id"), UserId: r.PathValue("user")})
		return nil, http.StatusNoContent, err
	})
}

// stateCookie binds an OIDC login to the browser that started it, so a
// callback URL carrying someone else's code and state (login CSRF) fails.
const stateCookie = "bot_oidc_state"

type handler = func(pattern string, fn func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error))

func registerOIDC(gw *gateway.Gateway, c authv1.AuthServiceClient, h handler, body func(http.ResponseWriter, *http.Request, any) bool) {
	gw.HandleFunc("GET /api/v1/auth/oidc/start", func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.StartOidc(forward(r), &authv1.StartOidcRequest{Org: r.URL.Query().Get("org")})
		if err != nil {
			writeStatus(w, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: resp.GetState(), Path: "/api/v1/auth/oidc/", MaxAge: 3600,
			HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, resp.GetAuthUrl(), http.StatusFound)
	})
	h("GET /api/v1/auth/oidc/callback", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		q := r.URL.Query()
		w.Header().Set("Cache-Control", "no-store")
		if e := q.Get("error"); e != "" {
			return nil, 0, status.Errorf(codes.Unauthenticated, "the OpenID provider refused the login: %.100s %.300s", e, q.Get("error_description"))
		}
		ck, err := r.Cookie(stateCookie)
		if err != nil || q.Get("state") == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(q.Get("state"))) != 1 {
			return nil, 0, status.Error(codes.InvalidArgument, "this login was not started by this browser (state cookie missing or different): start again at /api/v1/auth/oidc/start")
		}
		http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/api/v1/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
		resp, err := c.FinishOidc(ctx, &authv1.FinishOidcRequest{State: q.Get("state"), Code: q.Get("code")})
		if err != nil {
			return nil, 0, err
		}
		out := tokens(resp.GetTokens(), resp.GetUser())
		return map[string]any{"access_token": out.AccessToken, "token_type": out.TokenType, "expires_in": out.ExpiresIn,
			"refresh_token": out.RefreshToken, "org_id": out.OrgID, "user": out.User,
			"linked": resp.GetLinked(), "user_created": resp.GetUserCreated()}, 200, nil
	})
	h("GET /api/v1/org/oidc", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		resp, err := c.GetOidcProvider(ctx, &authv1.GetOidcProviderRequest{})
		return resp.GetProvider(), 200, err
	})
	h("PUT /api/v1/org/oidc", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		var in struct {
			Issuer       string   `json:"issuer"`
			ClientID     string   `json:"client_id"`
			ClientSecret *string  `json:"client_secret"`
			RedirectURL  string   `json:"redirect_url"`
			Scopes       []string `json:"scopes"`
			AllowSignup  bool     `json:"allow_signup"`
			SignupRole   string   `json:"signup_role"`
		}
		if !body(w, r, &in) {
			return nil, 0, nil
		}
		resp, err := c.SetOidcProvider(ctx, &authv1.SetOidcProviderRequest{Issuer: in.Issuer, ClientId: in.ClientID, ClientSecret: in.ClientSecret,
			RedirectUrl: in.RedirectURL, Scopes: in.Scopes, AllowSignup: in.AllowSignup, SignupRole: in.SignupRole})
		return resp.GetProvider(), 200, err
	})
	h("DELETE /api/v1/org/oidc", func(w http.ResponseWriter, r *http.Request, ctx context.Context) (any, int, error) {
		_, err := c.DeleteOidcProvider(ctx, &authv1.DeleteOidcProviderRequest{})
		return nil, http.StatusNoContent, err
	})
}

func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

var pj = protojson.MarshalOptions{UseProtoNames: true}

func raw(m proto.Message) json.RawMessage {
	b, err := pj.Marshal(m)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func tokens(t *authv1.Tokens, u *authv1.User) *Tokens {
	out := &Tokens{AccessToken: t.GetAccessToken(), TokenType: t.GetTokenType(), ExpiresIn: t.GetExpiresIn(),
		RefreshToken: t.GetRefreshToken(), OrgID: t.GetOrgId()}
	if u != nil {
		out.User = raw(u)
	}
	return out
}

func writeOut(w http.ResponseWriter, code int, out any) {
	if m, ok := out.(proto.Message); ok {
		out = raw(m)
	}
	gateway.WriteJSON(w, code, out)
}

func forward(r *http.Request) context.Context { return gateway.Forward(r, false) }

// writeStatus maps a gRPC status to the JSON error format.
func writeStatus(w http.ResponseWriter, err error) { gateway.WriteStatus(w, err, "botauth") }
