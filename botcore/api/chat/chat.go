// Package chat is the public chat API of botchat: the WebSocket of the wire
// protocol (shared/reference/bot-package.md, "Chat over WebSocket"), the
// same conversation over HTTP with Server-Sent Events, history, and the
// attendant API. The caller's token (Authorization header, or the token
// query parameter, which browsers need for WebSockets) is forwarded to
// botchat, which verifies it and scopes everything to its organisation.
//
//	GET  /ws?bot=<bot>[&session=<id>][&after=<message_id>[&chunk=<n>]]   WebSocket
//	POST /api/v1/conversations                    {"bot","session"?}  → conversation
//	GET  /api/v1/conversations/{id}                                   → conversation
//	POST /api/v1/conversations/{id}/messages      a message frame     → SSE of the turn's frames
//	GET  /api/v1/conversations/{id}/messages?after_position=&limit=   → {"messages","next_after_position"}
//	GET  /api/v1/conversations/{id}/events?after=&chunk=&include_user=  → SSE of every frame (live)
//	POST /api/v1/conversations/{id}/cancel                            → {"cancelled"}
//	POST /api/v1/conversations/{id}/handoff       {"queue"?,"reason"?} → conversation
//	GET  /api/v1/attendant/queue?queue=&state=queued|human             → {"conversations"}
//	POST /api/v1/attendant/conversations/{id}/claim | /reply {"content"} | /resolve {"note"?} | /handback
//	GET  /api/v1/attendant/ws?queue=                 WebSocket: the queue live, followed conversations, commands (attendant.go)
//
// On the WebSocket the client sends message frames
// {"type":"message","content","message_type","active_switchers","client_id","args"}
// and may send {"type":"cancel"} to stop the answer being generated (closing
// the socket does not: a client reconnecting with after=<last message_id>
// and chunk=<last chunk> gets the rest).
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Limits of the WebSocket.
const (
	// MaxFrameBytes bounds one client frame (a message is at most 64 KiB).
	MaxFrameBytes = 80 << 10
	pingEvery     = 30 * time.Second
	writeTimeout  = 10 * time.Second
)

// Register mounts the routes on gw, calling botchat through cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	a := &api{c: chatv1.NewChatServiceClient(cc)}
	gw.HandleFunc("GET /ws", a.websocket)
	gw.HandleFunc("POST /api/v1/conversations", a.open)
	gw.HandleFunc("GET /api/v1/conversations/{id}", a.get)
	gw.HandleFunc("POST /api/v1/conversations/{id}/messages", a.send)
	gw.HandleFunc("GET /api/v1/conversations/{id}/messages", a.history)
	gw.HandleFunc("GET /api/v1/conversations/{id}/events", a.events)
	gw.HandleFunc("POST /api/v1/conversations/{id}/cancel", a.cancel)
	gw.HandleFunc("POST /api/v1/conversations/{id}/handoff", a.handoff)
	gw.HandleFunc("GET /api/v1/attendant/queue", a.queue)
	gw.HandleFunc("POST /api/v1/attendant/conversations/{id}/{action}", a.attend)
	gw.HandleFunc("GET /api/v1/attendant/ws", a.attendantWS)
}

type api struct{ c chatv1.ChatServiceClient }

func forward(r *http.Request, queryToken bool) context.Context { return gateway.Forward(r, queryToken) }

func writeStatus(w http.ResponseWriter, err error) { gateway.WriteStatus(w, err, "botchat") }

func httpStatus(err error) (int, string, string) { return gateway.StatusOf(err, "botchat") }

var marshal = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func writeProto(w http.ResponseWriter, code int, m proto.Message) {
	b, err := marshal.Marshal(m)
	if err != nil {
		gateway.WriteError(w, http.StatusInternalServerError, gateway.CodeInternal, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// clientFrame is what a client sends: a message frame, or cancel.
type clientFrame struct {
	Type            string          `json:"type"`
	Content         string          `json:"content"`
	MessageType     int             `json:"message_type"`
	ActiveSwitchers []string        `json:"active_switchers"`
	ClientID        string          `json:"client_id"`
	Args            json.RawMessage `json:"args"`
}

func (f *clientFrame) inbound(conv string) (*chatv1.Inbound, error) {
	in := &chatv1.Inbound{ConversationId: conv, Content: f.Content, MessageType: chatv1.MessageType(f.MessageType),
		ActiveSwitchers: f.ActiveSwitchers, ClientId: f.ClientID}
	if len(f.Args) > 0 && string(f.Args) != "null" {
		in.ArgsJson = string(f.Args)
	}
	if f.MessageType < 0 || f.MessageType > 1000 {
		return nil, errors.New("message_type is out of range")
	}
	return in, nil
}

// wire turns a frame into the JSON of the protocol; ok is false for
// frames clients do not get (turn_end).
func wire(f *chatv1.Frame) (map[string]any, bool) {
	switch f.Type {
	case "connected":
		return map[string]any{"type": "connected", "session_id": f.ConversationId, "bot": f.Bot, "user_id": f.UserId}, true
	case "message":
		sug := make([]map[string]string, 0, len(f.Suggestions))
		for _, s := range f.Suggestions {
			sug = append(sug, map[string]string{"text": s.Text, "kind": s.Kind, "value": s.Value})
		}
		sw := make([]map[string]any, 0, len(f.Switchers))
		for _, s := range f.Switchers {
			sw = append(sw, map[string]any{"id": s.Id, "label": s.Label, "active": s.Active})
		}
		return map[string]any{"type": "message", "message_type": int(f.MessageType), "content": f.Content,
			"is_complete": f.IsComplete, "message_id": f.MessageId, "suggestions": sug, "switchers": sw,
			"role": f.Role, "chunk": f.Chunk}, true
	case "typing":
		return map[string]any{"type": "typing"}, true
	case "error":
		return map[string]any{"type": "error", "code": f.Code, "message": f.Message}, true
	case "handoff":
		return map[string]any{"type": "handoff", "state": f.State}, true
	}
	return nil, false
}

func errorFrame(err error) map[string]any {
	_, name, msg := httpStatus(err)
	return map[string]any{"type": "error", "code": name, "message": msg}
}

func (a *api) websocket(w http.ResponseWriter, r *http.Request) {
	ctx := forward(r, true)
	q := r.URL.Query()
	chunk, err := optInt(q.Get("chunk"))
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "chunk must be a number")
		return
	}
	// Open before upgrading, so a bad token or bot is a plain HTTP error.
	open, err := a.c.OpenConversation(ctx, &chatv1.OpenConversationRequest{Bot: q.Get("bot"), ConversationId: q.Get("session")})
	if err != nil {
		writeStatus(w, err)
		return
	}
	conv := open.Conversation.Id
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := a.c.Watch(ctx, &chatv1.WatchRequest{ConversationId: conv, AfterMessageId: q.Get("after"), AfterChunk: int32(chunk),
		Connected: true, OpenTurn: true})
	if err != nil {
		writeStatus(w, err)
		return
	}
	// The first frame (connected) says the watch is live; an error here is
	// still an HTTP answer.
	first, err := watch.Recv()
	if err != nil {
		writeStatus(w, err)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept wrote the HTTP error
	}
	defer ws.CloseNow()
	ws.SetReadLimit(MaxFrameBytes)
	send := func(v any) error { return writeJSON(ctx, ws, v) }
	out := make(chan error, 1)
	go func() {
		// Server → client: every frame of the conversation.
		f := first
		for {
			if j, ok := wire(f.Frame); ok {
				if err := send(j); err != nil {
					out <- err
					return
				}
			}
			var err error
			if f, err = watch.Recv(); err != nil {
				if ctx.Err() == nil {
					_ = send(errorFrame(err))
				}
				out <- err
				return
			}
		}
	}()
	go keepAlive(ctx, ws, cancel)
	// Client → server, until the socket or the watch ends.
	in := make(chan error, 1)
	go func() {
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				in <- err
				return
			}
			var cf clientFrame
			if err := json.Unmarshal(data, &cf); err != nil {
				_ = send(map[string]any{"type": "error", "code": gateway.CodeBadRequest, "message": "a frame is one JSON object: " + err.Error()})
				continue
			}
			switch cf.Type {
			case "message":
				msg, err := cf.inbound(conv)
				if err == nil {
					_, err = a.c.Post(ctx, &chatv1.PostRequest{Message: msg})
				} else {
					err = status.Error(codes.InvalidArgument, err.Error())
				}
				if err != nil {
					_ = send(errorFrame(err))
				}
			case "cancel":
				if _, err := a.c.Cancel(ctx, &chatv1.CancelRequest{ConversationId: conv}); err != nil {
					_ = send(errorFrame(err))
				}
			default:
				_ = send(map[string]any{"type": "error", "code": gateway.CodeBadRequest, "message": fmt.Sprintf("unknown frame type %q: send message or cancel", cf.Type)})
			}
		}
	}()
	select {
	case <-in:
	case <-out:
		ws.Close(websocket.StatusTryAgainLater, "the conversation stream ended; reconnect")
	case <-ctx.Done():
	}
}

// writeJSON writes v as one text frame, bounded by writeTimeout.
// coder/websocket lets several goroutines write at once.
func writeJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return ws.Write(wctx, websocket.MessageText, b)
}

// keepAlive pings the socket every pingEvery until ctx ends; a ping that
// is not answered calls cancel.
func keepAlive(ctx context.Context, ws *websocket.Conn, cancel context.CancelFunc) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, c := context.WithTimeout(ctx, writeTimeout)
			err := ws.Ping(pctx)
			c()
			if err != nil {
				cancel()
				return
			}
		}
	}
}

func optInt(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New("not a non-negative number")
	}
	return n, nil
}

func (a *api) open(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Bot     string `json:"bot"`
		Session string `json:"session"`
		Channel string `json:"channel"`
	}
	if !gateway.DecodeJSON(w, r, &in) {
		return
	}
	resp, err := a.c.OpenConversation(forward(r, false), &chatv1.OpenConversationRequest{Bot: in.Bot, ConversationId: in.Session, Channel: in.Channel})
	if err != nil {
		writeStatus(w, err)
		return
	}
	code := http.StatusOK
	if resp.Created {
		code = http.StatusCreated
	}
	writeProto(w, code, resp.Conversation)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	resp, err := a.c.GetConversation(forward(r, false), &chatv1.GetConversationRequest{ConversationId: r.PathValue("id")})
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeProto(w, http.StatusOK, resp.Conversation)
}

// sse starts a Server-Sent Events response.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush()
	return s
}

func (s *sse) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// send answers a message with the frames of its turn as SSE; the client
// going away stops the answer.
func (a *api) send(w http.ResponseWriter, r *http.Request) {
	var cf clientFrame
	if !gateway.DecodeJSON(w, r, &cf) {
		return
	}
	in, err := cf.inbound(r.PathValue("id"))
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, err.Error())
		return
	}
	st, err := a.c.Send(forward(r, false), &chatv1.SendRequest{Message: in})
	if err != nil {
		writeStatus(w, err)
		return
	}
	first, err := st.Recv()
	if err != nil {
		if err == io.EOF {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeStatus(w, err)
		return
	}
	s := startSSE(w)
	for f := first; ; {
		if j, ok := wire(f.Frame); ok {
			if s.send(j) != nil {
				return
			}
		}
		if f, err = st.Recv(); err != nil {
			if err != io.EOF && r.Context().Err() == nil {
				_ = s.send(errorFrame(err))
			}
			return
		}
	}
}

// events streams a conversation's frames as SSE (attendants, dashboards).
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	chunk, err := optInt(q.Get("chunk"))
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "chunk must be a number")
		return
	}
	st, err := a.c.Watch(forward(r, true), &chatv1.WatchRequest{ConversationId: r.PathValue("id"), AfterMessageId: q.Get("after"),
		AfterChunk: int32(chunk), Connected: true, IncludeUser: q.Get("include_user") == "1" || q.Get("include_user") == "true"})
	if err != nil {
		writeStatus(w, err)
		return
	}
	first, err := st.Recv()
	if err != nil {
		writeStatus(w, err)
		return
	}
	s := startSSE(w)
	for f := first; ; {
		if j, ok := wire(f.Frame); ok {
			if s.send(j) != nil {
				return
			}
		}
		if f, err = st.Recv(); err != nil {
			if r.Context().Err() == nil {
				_ = s.send(errorFrame(err))
			}
			return
		}
	}
}

func (a *api) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err1 := strconv.ParseInt(orZero(q.Get("after_position")), 10, 64)
	limit, err2 := strconv.Atoi(orZero(q.Get("limit")))
	if err1 != nil || err2 != nil {
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "after_position and limit must be numbers")
		return
	}
	resp, err := a.c.History(forward(r, false), &chatv1.HistoryRequest{ConversationId: r.PathValue("id"), AfterPosition: after, Limit: int32(limit)})
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeProto(w, http.StatusOK, resp)
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	resp, err := a.c.Cancel(forward(r, false), &chatv1.CancelRequest{ConversationId: r.PathValue("id")})
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeProto(w, http.StatusOK, resp)
}

func (a *api) handoff(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Queue  string `json:"queue"`
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 && !gateway.DecodeJSON(w, r, &in) {
		return
	}
	resp, err := a.c.RequestHandoff(forward(r, false), &chatv1.RequestHandoffRequest{ConversationId: r.PathValue("id"), Queue: in.Queue, Reason: in.Reason})
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeProto(w, http.StatusOK, resp.Conversation)
}

func (a *api) queue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var state chatv1.HandoffState
	switch q.Get("state") {
	case "":
	case "queued":
		state = chatv1.HandoffState_HANDOFF_STATE_QUEUED
	case "human":
		state = chatv1.HandoffState_HANDOFF_STATE_HUMAN
	default:
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "state must be queued or human")
		return
	}
	limit, err := strconv.Atoi(orZero(q.Get("limit")))
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "limit must be a number")
		return
	}
	resp, err := a.c.ListHandoffs(forward(r, false), &chatv1.ListHandoffsRequest{Queue: q.Get("queue"), State: state, Limit: int32(limit)})
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeProto(w, http.StatusOK, resp)
}

func (a *api) attend(w http.ResponseWriter, r *http.Request) {
	ctx, id := forward(r, false), r.PathValue("id")
	var (
		resp proto.Message
		err  error
	)
	switch r.PathValue("action") {
	case "claim":
		var out *chatv1.ClaimHandoffResponse
		out, err = a.c.ClaimHandoff(ctx, &chatv1.ClaimHandoffRequest{ConversationId: id})
		resp = out.GetConversation()
	case "reply":
		var in struct {
			Content string `json:"content"`
		}
		if !gateway.DecodeJSON(w, r, &in) {
			return
		}
		var out *chatv1.ReplyHandoffResponse
		out, err = a.c.ReplyHandoff(ctx, &chatv1.ReplyHandoffRequest{ConversationId: id, Content: in.Content})
		resp = out.GetMessage()
	case "resolve":
		var in struct {
			Note string `json:"note"`
		}
		if r.ContentLength != 0 && !gateway.DecodeJSON(w, r, &in) {
			return
		}
		var out *chatv1.ResolveHandoffResponse
		out, err = a.c.ResolveHandoff(ctx, &chatv1.ResolveHandoffRequest{ConversationId: id, Note: in.Note})
		resp = out.GetConversation()
	case "handback":
		var out *chatv1.HandBackResponse
		out, err = a.c.HandBack(ctx, &chatv1.HandBackRequest{ConversationId: id})
		resp = out.GetConversation()
	default:
		gateway.WriteError(w, http.StatusNotFound, gateway.CodeNotFound, "attendant actions are claim, reply, resolve and handback")
		return
	}
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeProto(w, http.StatusOK, resp)
}
