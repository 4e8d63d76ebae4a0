package store

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

func handoffEvent(org string, c *Conversation, from, to, agent, actor, reason string, at time.Time) *chatv1.HandoffEvent {
	return &chatv1.HandoffEvent{OrgId: org, ConversationId: c.ID, Bot: c.Bot, From: from, To: to, Queue: c.Queue,
		AgentId: agent, Actor: actor, Reason: reason, At: timestamppb.New(at)}
}
