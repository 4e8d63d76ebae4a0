// Package botchat is the botchat service: conversations, messages, streaming replies, hand-off and channels.
// Its domain API arrives with issue #5; until then it serves health,
// reflection and metrics, and owns schema chat.
package botchat

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Service defines botchat for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botchat",
		Health:  chatv1.ChatService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "chat"}},
		Setup: func(_ context.Context, env *app.Env) error {
			chatv1.RegisterChatServiceServer(env.GRPC, chatv1.UnimplementedChatServiceServer{})
			return nil
		},
	}
}
