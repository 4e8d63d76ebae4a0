package server

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botchat/live"
	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

var channels = map[string]bool{"web": true, "whatsapp": true, "telegram": true, "webhook": true}

// OpenConversation implements chatv1.ChatServiceServer.
func (s *Server) OpenConversation(ctx context.Context, req *chatv1.OpenConversationRequest) (*chatv1.OpenConversationResponse, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !botName.MatchString(req.Bot) {
		return nil, status.Error(codes.InvalidArgument, "bot must be a bot name ([a-z0-9][a-z0-9-]{0,62})")
	}
	channel := req.Channel
	if channel == "" {
		channel = "web"
	}
	if !channels[channel] {
		return nil, status.Error(codes.InvalidArgument, "channel must be web, whatsapp, telegram or webhook")
	}
	if id.Kind == authz.KindVisitor {
		if err := s.visitorBot(ctx, id, req.Bot); err != nil {
			return nil, err
		}
	}
	convID := req.ConversationId
	switch {
	case convID != "":
		if convID, err = parseConvID(convID); err != nil {
			return nil, err
		}
	case id.Kind == authz.KindVisitor && id.SessionID != "":
		// A visitor's session is its conversation.
		if convID, err = parseConvID(id.SessionID); err != nil {
			convID = uuid.NewString()
		}
	default:
		convID = uuid.NewString()
	}
	c, created, err := s.store.Open(ctx, id.OrgID, &store.Conversation{ID: convID, Bot: req.Bot, UserID: id.Subject,
		UserKind: string(id.Kind), Channel: channel})
	if err != nil {
		return nil, s.dbErr(err)
	}
	if !accessOf(id).Allows(c) || c.Bot != req.Bot {
		return nil, notFound()
	}
	return &chatv1.OpenConversationResponse{Conversation: convProto(c), Created: created}, nil
}

// accept stores a client's message in order and starts its turn when this
// replica got the conversation's lease. The access check runs inside the
// store's transaction: one round of statements per message.
func (s *Server) accept(ctx context.Context, in *chatv1.Inbound) (*store.Accepted, error) {
	if err := checkInbound(in); err != nil {
		return nil, err
	}
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	cid, err := parseConvID(in.ConversationId)
	if err != nil {
		return nil, err
	}
	access := accessOf(id)
	if in.MessageType == chatv1.MessageType_MESSAGE_TYPE_SYSTEM {
		// Ignored, as the protocol says, once the caller may post at all.
		c, err := s.store.Get(ctx, id.OrgID, cid)
		if err == nil && !access.Allows(c) {
			err = store.ErrNotFound
		}
		return &store.Accepted{Status: store.StatusDone, Conv: c}, s.dbErr(err)
	}
	mt := in.MessageType
	if mt == chatv1.MessageType_MESSAGE_TYPE_UNSPECIFIED {
		mt = chatv1.MessageType_MESSAGE_TYPE_USER
	}
	m := &store.Message{Role: store.RoleUser, Type: int(mt), Content: in.Content, ClientID: in.ClientId}
	switch mt {
	case chatv1.MessageType_MESSAGE_TYPE_TOOL:
		if in.ArgsJson != "" {
			m.Args = json.RawMessage(in.ArgsJson)
		}
	default:
		if len(in.ActiveSwitchers) > 0 {
			m.Args, _ = json.Marshal(map[string][]string{"active_switchers": in.ActiveSwitchers})
		}
	}
	res, err := s.enqueue(ctx, id.OrgID, cid, access, m)
	if err != nil {
		return nil, err
	}
	if !res.Duplicate && mt == chatv1.MessageType_MESSAGE_TYPE_USER {
		// Attendants watching the conversation see the user's words.
		_ = s.hub.Publish(cid, &chatv1.Frame{Type: "message", ConversationId: cid, MessageType: mt, Content: m.Content,
			IsComplete: true, MessageId: res.ID, Role: store.RoleUser, Chunk: 1})
	}
	return res, nil
}

func (s *Server) enqueue(ctx context.Context, org, convID string, access store.Access, m *store.Message) (*store.Accepted, error) {
	token := uuid.NewString()
	res, err := s.store.Accept(ctx, org, convID, access, m, token, s.ttl)
	if err != nil {
		return nil, s.dbErr(err)
	}
	if res.Leased {
		s.drain(org, res.Conv, res.Next, token)
	}
	return res, nil
}

// Post implements chatv1.ChatServiceServer.
func (s *Server) Post(ctx context.Context, req *chatv1.PostRequest) (*chatv1.PostResponse, error) {
	res, err := s.accept(ctx, req.Message)
	if err != nil {
		return nil, err
	}
	return &chatv1.PostResponse{MessageId: res.ID, Duplicate: res.Duplicate, Seq: res.Seq}, nil
}

// Send implements chatv1.ChatServiceServer.
func (s *Server) Send(req *chatv1.SendRequest, stream chatv1.ChatService_SendServer) error {
	ctx := stream.Context()
	if err := checkInbound(req.Message); err != nil {
		return err
	}
	cid, err := parseConvID(req.Message.ConversationId)
	if err != nil {
		return err
	}
	// Subscribe before the message is stored, so no frame of its turn is
	// missed; accept checks access before anything is sent.
	sub, err := s.hub.Subscribe(cid, liveBuffer)
	if err != nil {
		return status.Errorf(codes.Unavailable, "live frames: %v", err)
	}
	defer sub.Close()
	res, err := s.accept(ctx, req.Message)
	if err != nil {
		return err
	}
	c := res.Conv
	send := func(f *chatv1.Frame) error { return stream.Send(&chatv1.SendResponse{Frame: f}) }
	if res.ID == "" { // an ignored system message
		return send(&chatv1.Frame{Type: "turn_end", ConversationId: c.ID})
	}
	if res.Duplicate && res.Status == store.StatusDone {
		msgs, err := s.store.Replies(ctx, c.Org, c.ID, res.ID)
		if err != nil {
			return s.dbErr(err)
		}
		for _, m := range msgs {
			if err := send(messageFrame(m, m.Content, int32(max(len(m.Chunks), 1)))); err != nil {
				return err
			}
		}
		return send(&chatv1.Frame{Type: "turn_end", ConversationId: c.ID, ReplyTo: res.ID})
	}
	for {
		f, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// The client went away: stop generating its answer.
				s.cancelTurn(c.ID, res.ID)
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Error(codes.ResourceExhausted, err.Error())
		}
		if f.ReplyTo != res.ID {
			continue
		}
		if err := send(f); err != nil {
			s.cancelTurn(c.ID, res.ID)
			return err
		}
		if f.Type == "turn_end" {
			return nil
		}
	}
}

// cancelTurn asks the replica running the conversation to stop the turn of
// inbound ("" for whatever runs).
func (s *Server) cancelTurn(convID, inbound string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	defer cancel()
	req := live.CtlCancel
	if inbound != "" {
		req += ":" + inbound
	}
	resp, ok, err := s.hub.Request(ctx, convID, req)
	if err != nil {
		s.log.Warn("cancel turn", "conversation", convID, "err", err)
	}
	return ok && string(resp) == "1"
}

// Cancel implements chatv1.ChatServiceServer.
func (s *Server) Cancel(ctx context.Context, req *chatv1.CancelRequest) (*chatv1.CancelResponse, error) {
	_, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	return &chatv1.CancelResponse{Cancelled: s.cancelTurn(c.ID, "")}, nil
}

// Watch implements chatv1.ChatServiceServer. It subscribes first, then asks
// for the turn in progress, then reads what is stored: every frame is in
// at least one of the three, and the filter gives each once.
func (s *Server) Watch(req *chatv1.WatchRequest, stream chatv1.ChatService_WatchServer) error {
	ctx := stream.Context()
	id, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return err
	}
	if req.AfterChunk < 0 {
		return status.Error(codes.InvalidArgument, "after_chunk must be >= 0")
	}
	sub, err := s.hub.Subscribe(c.ID, liveBuffer)
	if err != nil {
		return status.Errorf(codes.Unavailable, "live frames: %v", err)
	}
	defer sub.Close()
	w := &watcher{send: func(f *chatv1.Frame) error { return stream.Send(&chatv1.WatchResponse{Frame: f}) },
		includeUser: req.IncludeUser, done: map[string]bool{}, frames: map[string]int32{}}
	if req.Connected {
		if err := w.send(&chatv1.Frame{Type: "connected", ConversationId: c.ID, Bot: c.Bot, UserId: c.UserID}); err != nil {
			return err
		}
	}
	if err := s.catchUp(ctx, c, req, w); err != nil {
		return err
	}
	if req.OpenTurn {
		if _, err := s.enqueue(ctx, id.OrgID, c.ID, store.Access{Any: true}, &store.Message{Role: store.RoleSystem, Type: store.TypeOpen}); err != nil {
			return err
		}
	}
	for {
		f, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			_ = w.send(&chatv1.Frame{Type: "error", Code: "slow_consumer", Message: err.Error()})
			return status.Error(codes.ResourceExhausted, err.Error())
		}
		if err := w.give(f); err != nil {
			return err
		}
	}
}

// watcher gives each frame to a client once.
type watcher struct {
	send        func(*chatv1.Frame) error
	includeUser bool
	done        map[string]bool  // messages sent complete from storage
	frames      map[string]int32 // last frame number sent per turn
	// skip drops the frames of one message up to a chunk (what the client
	// saw before reconnecting).
	skipID    string
	skipChunk int32
}

func (w *watcher) give(f *chatv1.Frame) error {
	if f.Type == "message" {
		if f.Role == store.RoleUser && !w.includeUser || w.done[f.MessageId] {
			return nil
		}
		if f.MessageId == w.skipID && f.Chunk <= w.skipChunk {
			return nil
		}
	}
	if f.ReplyTo != "" && f.Frame > 0 {
		if f.Frame <= w.frames[f.ReplyTo] {
			return nil
		}
		w.frames[f.ReplyTo] = f.Frame
		if f.Type == "turn_end" {
			delete(w.frames, f.ReplyTo)
			w.frames[f.ReplyTo] = 1 << 30 // the turn is over: later copies are stale
		}
	}
	return w.send(f)
}

func (s *Server) catchUp(ctx context.Context, c *store.Conversation, req *chatv1.WatchRequest, w *watcher) error {
	var snapshot []*chatv1.Frame
	sctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	resp, ok, err := s.hub.Request(sctx, c.ID, live.CtlSnapshot)
	cancel()
	if err != nil && ctx.Err() == nil {
		s.log.Warn("snapshot of the turn in progress", "conversation", c.ID, "err", err)
	}
	if ok {
		var r chatv1.ReplayResponse
		if err := proto.Unmarshal(resp, &r); err == nil {
			snapshot = r.Frames
		}
	}
	if req.AfterMessageId != "" {
		inSnapshot := -1
		for i, f := range snapshot {
			if f.MessageId == req.AfterMessageId {
				inSnapshot = i
				break
			}
		}
		switch {
		case inSnapshot >= 0:
			// The client saw part of the turn in progress: skip what came
			// before the message, and its chunks up to after_chunk.
			snapshot = snapshot[inSnapshot:]
			w.skipID, w.skipChunk = req.AfterMessageId, req.AfterChunk
		default:
			after, err := s.store.Message(ctx, c.Org, c.ID, req.AfterMessageId)
			if errors.Is(err, store.ErrNotFound) {
				return status.Error(codes.InvalidArgument, "after_message_id is not a message of this conversation")
			}
			if err != nil {
				return s.dbErr(err)
			}
			if req.AfterChunk > 0 && (after.Role == store.RoleBot || after.Role == store.RoleHuman) && int(req.AfterChunk) < len(after.Chunks) {
				seen := 0
				for _, n := range after.Chunks[:req.AfterChunk] {
					seen += int(n)
				}
				rest := ""
				if seen <= len(after.Content) {
					rest = after.Content[seen:]
				}
				if err := w.send(messageFrame(after, rest, int32(len(after.Chunks)))); err != nil {
					return err
				}
			}
			w.done[after.ID] = true
			msgs, err := s.store.Outputs(ctx, c.Org, c.ID, after.Seq, MaxPage)
			if err != nil {
				return s.dbErr(err)
			}
			for _, m := range msgs {
				if err := w.send(messageFrame(m, m.Content, int32(max(len(m.Chunks), 1)))); err != nil {
					return err
				}
				w.done[m.ID] = true
			}
		}
	}
	for _, f := range snapshot {
		if err := w.give(f); err != nil {
			return err
		}
	}
	return nil
}

// History implements chatv1.ChatServiceServer.
func (s *Server) History(ctx context.Context, req *chatv1.HistoryRequest) (*chatv1.HistoryResponse, error) {
	_, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	limit := int(req.Limit)
	if limit <= 0 {
		limit = DefaultPage
	}
	if limit > MaxPage {
		return nil, status.Errorf(codes.InvalidArgument, "limit is at most %d", MaxPage)
	}
	if req.AfterPosition < 0 {
		return nil, status.Error(codes.InvalidArgument, "after_position must be >= 0")
	}
	msgs, err := s.store.History(ctx, c.Org, c.ID, req.AfterPosition, limit+1)
	if err != nil {
		return nil, s.dbErr(err)
	}
	resp := &chatv1.HistoryResponse{}
	if len(msgs) > limit {
		msgs = msgs[:limit]
		resp.NextAfterPosition = msgs[limit-1].Position
	}
	for _, m := range msgs {
		resp.Messages = append(resp.Messages, messageProto(m))
	}
	return resp, nil
}

// Replay implements chatv1.ChatServiceServer.
func (s *Server) Replay(ctx context.Context, req *chatv1.ReplayRequest) (*chatv1.ReplayResponse, error) {
	_, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	var after int64
	if req.AfterMessageId != "" {
		m, err := s.store.Message(ctx, c.Org, c.ID, req.AfterMessageId)
		if errors.Is(err, store.ErrNotFound) {
			return nil, status.Error(codes.InvalidArgument, "after_message_id is not a stored message of this conversation")
		}
		if err != nil {
			return nil, s.dbErr(err)
		}
		after = m.Seq
	}
	msgs, err := s.store.Outputs(ctx, c.Org, c.ID, after, MaxPage)
	if err != nil {
		return nil, s.dbErr(err)
	}
	resp := &chatv1.ReplayResponse{}
	for _, m := range msgs {
		resp.Frames = append(resp.Frames, messageFrame(m, m.Content, int32(max(len(m.Chunks), 1))))
	}
	return resp, nil
}

// GetConversation implements chatv1.ChatServiceServer.
func (s *Server) GetConversation(ctx context.Context, req *chatv1.GetConversationRequest) (*chatv1.GetConversationResponse, error) {
	_, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	return &chatv1.GetConversationResponse{Conversation: convProto(c)}, nil
}

// publishHandoff tells the conversation's watchers who answers now, and the
// organisation's attendants that the queue changed.
func (s *Server) publishHandoff(c *store.Conversation) {
	_ = s.hub.Publish(c.ID, &chatv1.Frame{Type: "handoff", ConversationId: c.ID, State: c.Handoff})
	s.announceHandoff(c)
}

// announceHandoff tells the organisation's attendants (WatchHandoffs, on
// every replica) that c's hand-off state changed.
func (s *Server) announceHandoff(c *store.Conversation) {
	if err := s.hub.PublishHandoff(c.Org, convProto(c)); err != nil {
		s.log.Warn("announce hand-off", "conversation", c.ID, "err", err)
	}
}

func actor(id *authz.Identity) string { return string(id.Kind) + ":" + id.Subject }

// RequestHandoff implements chatv1.ChatServiceServer.
func (s *Server) RequestHandoff(ctx context.Context, req *chatv1.RequestHandoffRequest) (*chatv1.RequestHandoffResponse, error) {
	id, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	q := req.Queue
	if q == "" {
		q = "default"
	}
	if !queueName.MatchString(q) {
		return nil, status.Error(codes.InvalidArgument, "queue: 1 to 64 letters, digits, space, . _ -")
	}
	if len(req.Reason) > 500 {
		return nil, status.Error(codes.InvalidArgument, "reason is longer than 500 bytes")
	}
	c, err = s.store.Handoff(ctx, id.OrgID, c.ID, []string{store.StateBot}, store.StateQueued, q, "", actor(id), req.Reason, "bot.chat.handoff.requested")
	if err != nil {
		return nil, s.dbErr(err)
	}
	s.cancelTurn(c.ID, "") // the bot stops answering now
	s.publishHandoff(c)
	return &chatv1.RequestHandoffResponse{Conversation: convProto(c)}, nil
}

// ListHandoffs implements chatv1.ChatServiceServer.
func (s *Server) ListHandoffs(ctx context.Context, req *chatv1.ListHandoffsRequest) (*chatv1.ListHandoffsResponse, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkQueue(req.Queue); err != nil {
		return nil, err
	}
	state := ""
	switch req.State {
	case chatv1.HandoffState_HANDOFF_STATE_UNSPECIFIED:
	case chatv1.HandoffState_HANDOFF_STATE_QUEUED:
		state = store.StateQueued
	case chatv1.HandoffState_HANDOFF_STATE_HUMAN:
		state = store.StateHuman
	default:
		return nil, status.Error(codes.InvalidArgument, "state must be queued or human")
	}
	limit := int(req.Limit)
	if limit <= 0 {
		limit = 100
	}
	if limit > MaxPage {
		return nil, status.Errorf(codes.InvalidArgument, "limit is at most %d", MaxPage)
	}
	list, err := s.store.ListHandoffs(ctx, id.OrgID, req.Queue, state, limit)
	if err != nil {
		return nil, s.dbErr(err)
	}
	resp := &chatv1.ListHandoffsResponse{}
	for _, c := range list {
		resp.Conversations = append(resp.Conversations, convProto(c))
	}
	return resp, nil
}

func checkQueue(q string) error {
	if q != "" && !queueName.MatchString(q) {
		return status.Error(codes.InvalidArgument, "queue: 1 to 64 letters, digits, space, . _ -")
	}
	return nil
}

// WatchHandoffs implements chatv1.ChatServiceServer. It subscribes before
// it lists, so a change made meanwhile is sent (perhaps twice, never lost).
// With a queue, a conversation that leaves it (its queue is cleared when it
// goes back to the bot) is still sent once when it was in the list.
func (s *Server) WatchHandoffs(req *chatv1.WatchHandoffsRequest, stream chatv1.ChatService_WatchHandoffsServer) error {
	ctx := stream.Context()
	id, err := caller(ctx)
	if err != nil {
		return err
	}
	if err := checkQueue(req.Queue); err != nil {
		return err
	}
	sub, err := s.hub.SubscribeHandoffs(id.OrgID, liveBuffer)
	if err != nil {
		return status.Errorf(codes.Unavailable, "live hand-offs: %v", err)
	}
	defer sub.Close()
	list, err := s.store.ListHandoffs(ctx, id.OrgID, req.Queue, "", MaxPage)
	if err != nil {
		return s.dbErr(err)
	}
	first := &chatv1.WatchHandoffsResponse{Conversations: []*chatv1.Conversation{}}
	listed := map[string]bool{}
	for _, c := range list {
		first.Conversations = append(first.Conversations, convProto(c))
		listed[c.ID] = true
	}
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		c, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Error(codes.ResourceExhausted, err.Error())
		}
		in := req.Queue == "" || c.HandoffQueue == req.Queue
		if !in && !listed[c.Id] {
			continue
		}
		listed[c.Id] = in && c.HandoffState != chatv1.HandoffState_HANDOFF_STATE_BOT
		if err := stream.Send(&chatv1.WatchHandoffsResponse{Changed: c}); err != nil {
			return err
		}
	}
}

// ClaimHandoff implements chatv1.ChatServiceServer.
func (s *Server) ClaimHandoff(ctx context.Context, req *chatv1.ClaimHandoffRequest) (*chatv1.ClaimHandoffResponse, error) {
	id, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	c, err = s.store.Handoff(ctx, id.OrgID, c.ID, []string{store.StateQueued}, store.StateHuman, "", id.Subject, actor(id), "", "bot.chat.handoff.claimed")
	if err != nil {
		return nil, s.dbErr(err)
	}
	s.publishHandoff(c)
	return &chatv1.ClaimHandoffResponse{Conversation: convProto(c)}, nil
}

// owner loads a conversation the calling attendant owns.
func (s *Server) owner(ctx context.Context, convID string) (*authz.Identity, *store.Conversation, error) {
	id, c, err := s.conversation(ctx, convID)
	if err != nil {
		return nil, nil, err
	}
	if c.Handoff != store.StateHuman {
		return nil, nil, status.Errorf(codes.FailedPrecondition, "the conversation is %s, not with a human", c.Handoff)
	}
	if c.AgentID != id.Subject && id.Kind != authz.KindService {
		return nil, nil, status.Error(codes.FailedPrecondition, "another attendant owns the conversation")
	}
	return id, c, nil
}

// ReplyHandoff implements chatv1.ChatServiceServer.
func (s *Server) ReplyHandoff(ctx context.Context, req *chatv1.ReplyHandoffRequest) (*chatv1.ReplyHandoffResponse, error) {
	if req.Content == "" || len(req.Content) > MaxContent {
		return nil, status.Errorf(codes.InvalidArgument, "content must be 1 to %d bytes", MaxContent)
	}
	id, c, err := s.owner(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	m := &store.Message{ConversationID: c.ID, Role: store.RoleHuman, Type: int(chatv1.MessageType_MESSAGE_TYPE_BOT), Content: req.Content}
	if err := s.store.AddMessage(ctx, id.OrgID, m); err != nil {
		return nil, s.dbErr(err)
	}
	m.Chunks = []int32{int32(len(m.Content))}
	_ = s.hub.Publish(c.ID, messageFrame(m, m.Content, 1))
	return &chatv1.ReplyHandoffResponse{Message: messageProto(m)}, nil
}

// ResolveHandoff implements chatv1.ChatServiceServer.
func (s *Server) ResolveHandoff(ctx context.Context, req *chatv1.ResolveHandoffRequest) (*chatv1.ResolveHandoffResponse, error) {
	if len(req.Note) > 2000 {
		return nil, status.Error(codes.InvalidArgument, "note is longer than 2000 bytes")
	}
	id, c, err := s.owner(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	c, err = s.store.Handoff(ctx, id.OrgID, c.ID, []string{store.StateHuman}, store.StateBot, "", "", actor(id), req.Note, "bot.chat.handoff.resolved")
	if err != nil {
		return nil, s.dbErr(err)
	}
	s.publishHandoff(c)
	return &chatv1.ResolveHandoffResponse{Conversation: convProto(c)}, nil
}

// HandBack implements chatv1.ChatServiceServer.
func (s *Server) HandBack(ctx context.Context, req *chatv1.HandBackRequest) (*chatv1.HandBackResponse, error) {
	id, c, err := s.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	if c.Handoff == store.StateHuman && c.AgentID != id.Subject && id.Kind != authz.KindService {
		return nil, status.Error(codes.FailedPrecondition, "another attendant owns the conversation")
	}
	c, err = s.store.Handoff(ctx, id.OrgID, c.ID, []string{store.StateQueued, store.StateHuman}, store.StateBot, "", "", actor(id), "", "bot.chat.handoff.handed_back")
	if err != nil {
		return nil, s.dbErr(err)
	}
	s.publishHandoff(c)
	return &chatv1.HandBackResponse{Conversation: convProto(c)}, nil
}
