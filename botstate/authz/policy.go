package authz

// Rule is what a caller needs to call one gRPC method (or HTTP route).
type Rule struct {
	// Permission the caller must hold ("bots:write"); empty means any
	// verified caller of an allowed kind.
	Permission string
	// Public methods need no token at all (login, JWKS, health).
	Public bool
	// Kinds of callers allowed; empty allows users, API keys and services
	// (not visitors, who only reach methods that list KindVisitor).
	Kinds []Kind
}

// Policy maps full gRPC method names ("/bot.drive.v1.DriveService/Stat") to
// their rule. A service declares it next to its handlers; a method missing
// from the policy is refused, so a new RPC is closed until someone decides.
type Policy map[string]Rule
