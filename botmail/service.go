// Package botmail is the botmail service: mail accounts, IMAP sync, SMTP send and ON EMAIL triggers.
// Its domain API arrives in a later issue; until then it serves health,
// reflection and metrics, and owns schema mail.
package botmail

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	mailv1 "github.com/botserver-go/botserver-go/proto/bot/mail/v1"
)

// services may call the declared methods: they act for scripts.
var services = authz.Rule{Kinds: []authz.Kind{authz.KindService}}

// Service defines botmail for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botmail",
		Health:  mailv1.MailService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "mail"}},
		// The contract botauto calls is declared; until this service's issue
		// lands the methods answer Unimplemented ("botmail is not available").
		Policy: authz.Policy{
			mailv1.MailService_SendMail_FullMethodName:         services,
			mailv1.MailService_CreateDraft_FullMethodName:      services,
			mailv1.MailService_SetEmailTriggers_FullMethodName: services,
		},
		Setup: func(_ context.Context, env *app.Env) error {
			mailv1.RegisterMailServiceServer(env.GRPC, mailv1.UnimplementedMailServiceServer{})
			return nil
		},
	}
}
