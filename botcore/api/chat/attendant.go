package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// MaxWatched bounds the conversations one attendant socket follows.
const MaxWatched = 50

// attendantFrame is what an attendant sends on GET /api/v1/attendant/ws.
type attendantFrame struct {
	Type           string `json:"type"` // claim, watch, unwatch, reply, resolve, handback
	ConversationID string `json:"conversation_id"`
	Content        string `json:"content"` // reply
	Note           string `json:"note"`    // resolve
	Ref            string `json:"ref"`     // echoed in the ack or error
}

// attendantWS is the attendant's desk on one socket (the same calls as the
// attendant HTTP routes, pushed instead of polled):
//
//	server → {"type":"queue","conversations":[…]}      the queue on connect
//	         {"type":"queue_update","conversation":{…}} a conversation whose hand-off state changed
//	         {"type":"message",…,"conversation_id"}    frames of followed conversations (users' words too)
//	         {"type":"ack","ref","action","conversation"|"message"}
//	         {"type":"error","ref","code","message"}
//	client → {"type":"claim"|"watch"|"unwatch"|"reply"|"resolve"|"handback","conversation_id","content"?,"note"?,"ref"?}
//
// A claimed conversation is followed at once; resolving or handing it back
// stops following it. The attendant's token is checked by botchat on every
// call (chat:attend), so a socket cannot outlive a withdrawn permission
// for more than one call.
func (a *api) attendantWS(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(forward(r, true))
	defer cancel()
	queue, err := a.c.WatchHandoffs(ctx, &chatv1.WatchHandoffsRequest{Queue: r.URL.Query().Get("queue")})
	if err != nil {
		writeStatus(w, err)
		return
	}
	first, err := queue.Recv() // permission and queue errors are still an HTTP answer
	if err != nil {
		writeStatus(w, err)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(MaxFrameBytes)
	d := &desk{a: a, ctx: ctx, ws: ws, watched: map[string]context.CancelFunc{}, ended: make(chan error, 1)}
	list := make([]json.RawMessage, 0, len(first.Conversations))
	for _, c := range first.Conversations {
		list = append(list, protoJSON(c))
	}
	if d.send(map[string]any{"type": "queue", "conversations": list}) != nil {
		return
	}
	go func() {
		for {
			resp, err := queue.Recv()
			if err != nil {
				d.end(err)
				return
			}
			if d.send(map[string]any{"type": "queue_update", "conversation": protoJSON(resp.Changed)}) != nil {
				return
			}
		}
	}()
	go keepAlive(ctx, ws, cancel)
	go func() {
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				d.end(nil)
				return
			}
			var f attendantFrame
			if err := json.Unmarshal(data, &f); err != nil {
				_ = d.send(map[string]any{"type": "error", "code": gateway.CodeBadRequest, "message": "a frame is one JSON object: " + err.Error()})
				continue
			}
			d.do(&f)
		}
	}()
	select {
	case err := <-d.ended:
		if err != nil && ctx.Err() == nil {
			_ = d.send(errorFrame(err))
			ws.Close(websocket.StatusTryAgainLater, "the queue stream ended; reconnect")
		}
	case <-ctx.Done():
	}
}

// desk is one attendant socket's state.
type desk struct {
	a     *api
	ctx   context.Context
	ws    *websocket.Conn
	ended chan error

	mu      sync.Mutex
	watched map[string]context.CancelFunc
}

func (d *desk) end(err error) {
	select {
	case d.ended <- err:
	default:
	}
}

// send writes one frame; a socket that cannot take it ends the desk.
func (d *desk) send(v any) error {
	if err := writeJSON(d.ctx, d.ws, v); err != nil {
		d.end(nil)
		return err
	}
	return nil
}

func (d *desk) fail(f *attendantFrame, err error) {
	e := errorFrame(err)
	e["ref"] = f.Ref
	_ = d.send(e)
}

func (d *desk) ack(f *attendantFrame, key string, m proto.Message) {
	v := map[string]any{"type": "ack", "ref": f.Ref, "action": f.Type, "conversation_id": f.ConversationID}
	if m != nil {
		v[key] = protoJSON(m)
	}
	_ = d.send(v)
}

// do runs one attendant command.
func (d *desk) do(f *attendantFrame) {
	ctx, id := d.ctx, f.ConversationID
	switch f.Type {
	case "claim":
		out, err := d.a.c.ClaimHandoff(ctx, &chatv1.ClaimHandoffRequest{ConversationId: id})
		if err == nil {
			err = d.watch(id)
		}
		if err != nil {
			d.fail(f, err)
			return
		}
		d.ack(f, "conversation", out.Conversation)
	case "watch":
		if err := d.watch(id); err != nil {
			d.fail(f, err)
			return
		}
		d.ack(f, "", nil)
	case "unwatch":
		d.unwatch(id)
		d.ack(f, "", nil)
	case "reply":
		out, err := d.a.c.ReplyHandoff(ctx, &chatv1.ReplyHandoffRequest{ConversationId: id, Content: f.Content})
		if err != nil {
			d.fail(f, err)
			return
		}
		d.ack(f, "message", out.Message)
	case "resolve", "handback":
		var c *chatv1.Conversation
		var err error
		if f.Type == "resolve" {
			var out *chatv1.ResolveHandoffResponse
			out, err = d.a.c.ResolveHandoff(ctx, &chatv1.ResolveHandoffRequest{ConversationId: id, Note: f.Note})
			c = out.GetConversation()
		} else {
			var out *chatv1.HandBackResponse
			out, err = d.a.c.HandBack(ctx, &chatv1.HandBackRequest{ConversationId: id})
			c = out.GetConversation()
		}
		if err != nil {
			d.fail(f, err)
			return
		}
		d.unwatch(id)
		d.ack(f, "conversation", c)
	default:
		d.fail(f, status.Error(codes.InvalidArgument,
			fmt.Sprintf("unknown frame type %q: send claim, watch, unwatch, reply, resolve or handback", f.Type)))
	}
}

// watch follows a conversation's frames (users' words included) until
// unwatch or the socket ends; following one twice is a no-op.
func (d *desk) watch(conv string) error {
	d.mu.Lock()
	if _, ok := d.watched[conv]; ok {
		d.mu.Unlock()
		return nil
	}
	if len(d.watched) >= MaxWatched {
		d.mu.Unlock()
		return status.Errorf(codes.ResourceExhausted, "one socket follows at most %d conversations: unwatch one first", MaxWatched)
	}
	ctx, cancel := context.WithCancel(d.ctx)
	d.watched[conv] = cancel
	d.mu.Unlock()
	st, err := d.a.c.Watch(ctx, &chatv1.WatchRequest{ConversationId: conv, IncludeUser: true, Connected: true})
	if err == nil {
		_, err = st.Recv() // connected: access checked, live
	}
	if err != nil {
		d.unwatch(conv)
		return err
	}
	go func() {
		for {
			resp, err := st.Recv()
			if err != nil {
				if ctx.Err() == nil { // not unwatched: the stream broke
					e := errorFrame(err)
					e["conversation_id"] = conv
					_ = d.send(e)
					d.unwatch(conv)
				}
				return
			}
			if j, ok := wire(resp.Frame); ok {
				j["conversation_id"] = conv
				if d.send(j) != nil {
					return
				}
			}
		}
	}()
	return nil
}

func (d *desk) unwatch(conv string) {
	d.mu.Lock()
	cancel := d.watched[conv]
	delete(d.watched, conv)
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func protoJSON(m proto.Message) json.RawMessage {
	b, err := marshal.Marshal(m)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
