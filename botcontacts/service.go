// Package botcontacts is the botcontacts service: CRM, calendar and support tickets.
// Its domain API arrives in a later issue; until then it serves health,
// reflection and metrics, and owns schema people.
package botcontacts

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	contactsv1 "github.com/botserver-go/botserver-go/proto/bot/contacts/v1"
)

// services may call the declared methods: they act for scripts.
var services = authz.Rule{Kinds: []authz.Kind{authz.KindService}}

// Service defines botcontacts for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botcontacts",
		Health:  contactsv1.ContactsService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "people"}},
		// The contract botauto calls is declared; until this service's issue
		// lands the methods answer Unimplemented ("botcontacts is not available").
		Policy: authz.Policy{
			contactsv1.ContactsService_Book_FullMethodName: services,
		},
		Setup: func(_ context.Context, env *app.Env) error {
			contactsv1.RegisterContactsServiceServer(env.GRPC, contactsv1.UnimplementedContactsServiceServer{})
			return nil
		},
	}
}
