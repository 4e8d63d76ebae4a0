package server

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botchat/store"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

func handoffState(s string) chatv1.HandoffState {
	switch s {
	case store.StateQueued:
		return chatv1.HandoffState_HANDOFF_STATE_QUEUED
	case store.StateHuman:
		return chatv1.HandoffState_HANDOFF_STATE_HUMAN
	}
	return chatv1.HandoffState_HANDOFF_STATE_BOT
}

func suggestionsProto(list []store.Suggestion) []*chatv1.Suggestion {
	out := make([]*chatv1.Suggestion, 0, len(list))
	for _, s := range list {
		out = append(out, &chatv1.Suggestion{Text: s.Text, Kind: s.Kind, Value: s.Value})
	}
	return out
}

func switchersProto(list []store.Switcher, active []string) []*chatv1.Switcher {
	out := make([]*chatv1.Switcher, 0, len(list))
	for _, s := range list {
		on := false
		for _, a := range active {
			on = on || a == s.ID
		}
		out = append(out, &chatv1.Switcher{Id: s.ID, Label: s.Label, Active: on})
	}
	return out
}

func convProto(c *store.Conversation) *chatv1.Conversation {
	return &chatv1.Conversation{Id: c.ID, Bot: c.Bot, UserId: c.UserID, UserKind: c.UserKind, Channel: c.Channel,
		HandoffState: handoffState(c.Handoff), HandoffQueue: c.Queue, AgentId: c.AgentID, Kbs: c.KBs, Tools: c.Tools,
		Contexts: c.Contexts, Switchers: switchersProto(c.Switchers, c.ActiveSwitchers), Suggestions: suggestionsProto(c.Suggestions),
		ScriptUser: c.ScriptUser, CreatedAt: timestamppb.New(c.CreatedAt), UpdatedAt: timestamppb.New(c.UpdatedAt), Messages: c.NextSeq}
}

func messageProto(m *store.Message) *chatv1.Message {
	out := &chatv1.Message{Id: m.ID, ConversationId: m.ConversationID, Seq: m.Seq, Role: m.Role,
		MessageType: chatv1.MessageType(m.Type), Content: m.Content, ClientId: m.ClientID, ReplyTo: m.ReplyTo,
		Tokens: int64(m.Tokens), LatencyMs: int64(m.LatencyMS), Model: m.Model, Suggestions: suggestionsProto(m.Suggestions),
		Status: m.Status, Cancelled: m.Cancelled, Position: m.Position}
	if !m.CreatedAt.IsZero() {
		out.CreatedAt = timestamppb.New(m.CreatedAt)
	}
	return out
}

// messageFrame is a stored message as one complete frame (content may be
// the part a reconnecting client has not seen).
func messageFrame(m *store.Message, content string, chunk int32) *chatv1.Frame {
	return &chatv1.Frame{Type: "message", ConversationId: m.ConversationID, MessageType: chatv1.MessageType_MESSAGE_TYPE_BOT,
		Content: content, IsComplete: true, MessageId: m.ID, Suggestions: suggestionsProto(m.Suggestions),
		Switchers: switchersProto(m.Switchers, nil), Role: m.Role, Chunk: chunk, ReplyTo: m.ReplyTo}
}
