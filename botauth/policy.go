package botauth

import (
	"github.com/botserver-go/botserver-go/botstate/authz"
)

func m(name string) string { return "/bot.auth.v1.AuthService/" + name }

var (
	anyone   = authz.Rule{Public: true}
	people   = []authz.Kind{authz.KindUser, authz.KindAPIKey, authz.KindService}
	services = []authz.Kind{authz.KindService}
)

// Policy says who may call each botauth RPC.
var Policy = authz.Policy{
	m("Login"):                {Public: true},
	m("Refresh"):              anyone,
	m("Logout"):               anyone,
	m("ExchangeApiKey"):       anyone,
	m("CreateVisitorSession"): anyone,
	m("GetJwks"):              anyone,
	m("StartOidc"):            anyone,
	m("FinishOidc"):           anyone,
	m("AcceptInvitation"):     anyone,

	m("GetMe"):     {Kinds: []authz.Kind{authz.KindUser, authz.KindAPIKey, authz.KindService, authz.KindVisitor}},
	m("Authorize"): {Kinds: services},
	m("GetUser"):   {Permission: "members:read", Kinds: people},

	m("CreateOrg"): {Kinds: []authz.Kind{authz.KindUser}},
	m("GetOrg"):    {Kinds: people},
	m("UpdateOrg"): {Permission: "org:admin", Kinds: people},

	m("ListMembers"):    {Permission: "members:read", Kinds: people},
	m("SetMemberRoles"): {Permission: "members:write", Kinds: people},
	m("RemoveMember"):   {Permission: "members:write", Kinds: people},

	m("CreateInvitation"): {Permission: "members:write", Kinds: people},
	m("ListInvitations"):  {Permission: "members:read", Kinds: people},
	m("RevokeInvitation"): {Permission: "members:write", Kinds: people},

	m("ListRoles"):  {Kinds: people},
	m("CreateRole"): {Permission: "roles:write", Kinds: people},
	m("UpdateRole"): {Permission: "roles:write", Kinds: people},
	m("DeleteRole"): {Permission: "roles:write", Kinds: people},

	m("ListGroups"):        {Permission: "members:read", Kinds: people},
	m("GetGroup"):          {Permission: "members:read", Kinds: people},
	m("CreateGroup"):       {Permission: "members:write", Kinds: people},
	m("UpdateGroup"):       {Permission: "members:write", Kinds: people},
	m("DeleteGroup"):       {Permission: "members:write", Kinds: people},
	m("AddGroupMember"):    {Permission: "members:write", Kinds: people},
	m("RemoveGroupMember"): {Permission: "members:write", Kinds: people},
	m("SetGroupRoles"):     {Permission: "members:write", Kinds: people},

	m("CreateApiKey"): {Permission: "apikeys:write", Kinds: []authz.Kind{authz.KindUser}},
	m("ListApiKeys"):  {Permission: "apikeys:write", Kinds: people},
	m("RevokeApiKey"): {Permission: "apikeys:write", Kinds: people},

	m("CreateBot"): {Permission: "bots:write", Kinds: people},
	m("GetBot"):    {Permission: "bots:read", Kinds: people},
	m("ListBots"):  {Permission: "bots:read", Kinds: people},
	m("UpdateBot"): {Permission: "bots:write", Kinds: people},
	m("DeleteBot"): {Permission: "bots:write", Kinds: people},
	m("EnsureBot"): {Kinds: services},

	m("GetOidcProvider"):    {Permission: "org:admin", Kinds: people},
	m("SetOidcProvider"):    {Permission: "org:admin", Kinds: []authz.Kind{authz.KindUser}},
	m("DeleteOidcProvider"): {Permission: "org:admin", Kinds: people},
}

// builtinRoles are created in every organisation. Owners hold everything;
// the others hold what their name says.
var builtinRoles = []struct {
	name  string
	perms []string
}{
	{"owner", []string{"*"}},
	{"admin", []string{"org:admin", "members:*", "roles:*", "apikeys:*", "bots:*", "files:*", "kb:*", "llm:use", "chat:*"}},
	{"bot-editor", []string{"bots:*", "files:*", "kb:*", "llm:use", "chat:use", "members:read"}},
	{"attendant", []string{"chat:use", "chat:attend", "bots:read"}},
	{"viewer", []string{"bots:read", "files:read", "kb:read", "chat:use"}},
}
