// Package runtime runs the keywords the VM hands to its host: memories and
// HTTP here, the keywords of other services through their clients (or a
// clear "<service> is not available" until those exist).
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/store"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// Turn is who and where a script runs for.
type Turn struct {
	Org, Bot, User, Conversation string
	Config                       map[string]string // the bot's config.csv
	Tables                       map[string]*Table // declared bot tables by lower-case name
	Prompt                       string            // PROMPT.md, the system prompt of LLM calls
	EventDepth                   int32             // >0 when the run handles an event (ON EVENT)
}

// Host implements vm.Host for one run. Not safe for concurrent use (a VM
// runs on one goroutine).
type Host struct {
	Turn  Turn
	Store *store.Store
	HTTP  *HTTP
	// Services reaches the keywords of other services (llm, kb, drive);
	// nil, or a nil client, answers "<service> is not available".
	Services *Services

	headers map[string]string // SET HEADER, for the rest of the run
}

// Call implements vm.Host.
func (h *Host) Call(ctx context.Context, c *vm.Call) (vm.Value, error) {
	switch c.Service {
	case "memory":
		return h.memory(ctx, c)
	case "http":
		return h.http(ctx, c)
	case "tables":
		return h.tables(ctx, c)
	case "events":
		return h.publish(ctx, c)
	}
	return h.Services.call(ctx, h.Turn, c)
}

// serviceName names the platform service behind a keyword group.
func serviceName(s string) string {
	switch s {
	case "kb":
		return "botvectordb"
	case "calendar":
		return "botcontacts"
	case "channels":
		return "botchat"
	case "tables", "events":
		return "bot " + s
	}
	return "bot" + s
}

func (h *Host) memory(ctx context.Context, c *vm.Call) (vm.Value, error) {
	if h.Store == nil {
		return vm.Null, errors.New("memory is not available")
	}
	key := strings.TrimSpace(c.Args[0].String())
	if key == "" || len(key) > 200 {
		return vm.Null, errors.New("memory key must be 1 to 200 characters")
	}
	t := h.Turn
	scope, owner := store.ScopeBot, ""
	switch c.Keyword {
	case "SET USER MEMORY", "GET USER MEMORY":
		if t.User == "" {
			return vm.Null, errors.New("this conversation has no known user")
		}
		scope, owner = store.ScopeUser, t.User
	case "REMEMBER", "RECALL":
		// A user's memory follows them across conversations; an anonymous
		// visitor's lasts for the conversation.
		scope, owner = store.ScopeUser, t.User
		if t.User == "" {
			scope, owner = store.ScopeConversation, t.Conversation
		}
	}
	switch c.Keyword {
	case "SET BOT MEMORY", "SET USER MEMORY", "REMEMBER":
		var ttl time.Duration
		if len(c.Args) > 2 {
			var err error
			if ttl, err = parseTTL(c.Args[2]); err != nil {
				return vm.Null, err
			}
		}
		data, err := json.Marshal(c.Args[1].GoValue())
		if err != nil {
			return vm.Null, err
		}
		return vm.Null, h.Store.SetMemory(ctx, t.Org, t.Bot, scope, owner, strings.ToLower(key), data, ttl)
	default:
		data, err := h.Store.GetMemory(ctx, t.Org, t.Bot, scope, owner, strings.ToLower(key))
		if errors.Is(err, store.ErrNotFound) {
			return vm.Null, nil
		}
		if err != nil {
			return vm.Null, err
		}
		return vm.ParseJSON(string(data))
	}
}

// parseTTL reads REMEMBER's third argument: seconds, or "<n> minutes|hours|days".
func parseTTL(v vm.Value) (time.Duration, error) {
	if f, ok := v.Number(); ok && v.Kind() == vm.NumberKind {
		if f <= 0 {
			return 0, errors.New("REMEMBER needs a positive time to live")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	fields := strings.Fields(strings.ToLower(v.String()))
	if len(fields) == 2 {
		n, err := strconv.ParseFloat(fields[0], 64)
		unit := map[string]time.Duration{
			"second": time.Second, "seconds": time.Second, "minute": time.Minute, "minutes": time.Minute,
			"hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
		}[fields[1]]
		if err == nil && n > 0 && unit > 0 {
			return time.Duration(n * float64(unit)), nil
		}
	}
	return 0, fmt.Errorf("REMEMBER: time to live %q: use seconds or \"<n> minutes|hours|days\"", v.String())
}

// MaxEventDepth bounds chains of scripts publishing events that run
// scripts publishing events.
const MaxEventDepth = 8

// publish runs PUBLISH EVENT "name", data.
func (h *Host) publish(ctx context.Context, c *vm.Call) (vm.Value, error) {
	if h.Store == nil {
		return vm.Null, errors.New("events are not available")
	}
	name := strings.TrimSpace(c.Args[0].String())
	if name == "" || len(name) > 200 {
		return vm.Null, errors.New("PUBLISH EVENT needs a name of 1 to 200 characters")
	}
	if h.Turn.EventDepth >= MaxEventDepth {
		return vm.Null, fmt.Errorf("PUBLISH EVENT %q: more than %d events in a chain of ON EVENT scripts", name, MaxEventDepth)
	}
	data, err := json.Marshal(c.Args[1].GoValue())
	if err != nil {
		return vm.Null, err
	}
	if len(data) > store.MaxMemoryBytes {
		return vm.Null, errors.New("PUBLISH EVENT: data larger than 64 KiB")
	}
	return vm.Null, h.Store.PublishEvent(ctx, h.Turn.Org, &autov1.ScriptEvent{
		OrgId: h.Turn.Org, Bot: h.Turn.Bot, Name: name, DataJson: string(data), Depth: h.Turn.EventDepth + 1})
}
