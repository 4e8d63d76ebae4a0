package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

const menuBot = `
TALK "Hi " + greeting
HEAR pick AS "Pizza", "Pasta"
n = 0
TALK "How many " + pick + "?"
HEAR n AS INTEGER
TALK "OK: " + n + " " + pick
`

func TestConversationSurvivesAProcessRestart(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "start.bas", menuBot)
	e.write("shop", "shop.gbot/config.csv", "name,value\nparam-greeting,friend\n")
	ctx := as(orgA)

	first := e.replica()
	tr := first.say(t, ctx, "shop", "c1", "hello")
	if got := tr.talk(); !slices.Equal(got, []string{"Hi friend"}) {
		t.Fatalf("greeting = %q", got)
	}
	hear := tr.outs[len(tr.outs)-1]
	if hear.Kind != "hear" || !slices.Equal(hear.Options, []string{"Pizza", "Pasta"}) {
		t.Fatalf("last output = %+v, want the menu", hear)
	}
	if tr.end.Status != autov1.TurnStatus_TURN_STATUS_WAITING || !tr.end.Consumed {
		t.Fatalf("end = %+v", tr.end)
	}
	tr = first.say(t, ctx, "shop", "c1", "pasta")
	if got := tr.talk(); !slices.Equal(got, []string{"How many Pasta?"}) {
		t.Fatalf("after menu: %q", got)
	}
	// The process dies while the script waits at HEAR n AS INTEGER.
	first.stop()

	second := e.replica()
	tr = second.say(t, ctx, "shop", "c1", "two")
	if tr.end.Status != autov1.TurnStatus_TURN_STATUS_WAITING || len(tr.talk()) != 1 {
		t.Fatalf("a wrong answer must re-ask and keep waiting: %+v %q", tr.end, tr.talk())
	}
	tr = second.say(t, ctx, "shop", "c1", "3")
	if got := tr.talk(); !slices.Equal(got, []string{"OK: 3 Pasta"}) {
		t.Fatalf("resumed = %q (variables lost?)", got)
	}
	if tr.end.Status != autov1.TurnStatus_TURN_STATUS_DONE || !tr.end.Consumed {
		t.Fatalf("end = %+v", tr.end)
	}
	// The script finished: the next message is the LLM's, start.bas does not run again.
	tr = second.say(t, ctx, "shop", "c1", "what else?")
	if len(tr.outs) != 0 || tr.end.Consumed {
		t.Fatalf("after the script: %+v %+v", tr.outs, tr.end)
	}
}

func TestRedeployKeepsWaitingConversationsOnTheirVersion(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "start.bas", "HEAR name\nTALK \"v1 \" + name\n")
	r := e.replica()
	ctx := as(orgA)
	r.say(t, ctx, "shop", "old", "hi")

	// Re-deploy: new start.bas, and a broken tool.
	e.script("shop", "start.bas", "HEAR name\nTALK \"v2 \" + name\n")
	e.script("shop", "broken.bas", "IF x THEN\nTALK \"no end if\"\n")
	if err := r.srv.Reload(context.Background(), orgA); err != nil {
		t.Fatal(err)
	}
	if got := r.say(t, ctx, "shop", "old", "Ann").talk(); !slices.Equal(got, []string{"v1 Ann"}) {
		t.Fatalf("waiting conversation ran %q, want the version it started with", got)
	}
	r.say(t, ctx, "shop", "new", "hi")
	if got := r.say(t, ctx, "shop", "new", "Bo").talk(); !slices.Equal(got, []string{"v2 Bo"}) {
		t.Fatalf("new conversation ran %q", got)
	}
	b, err := r.client.GetBot(ctx, &autov1.GetBotRequest{Bot: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Bot.Diagnostics) == 0 || !strings.Contains(b.Bot.Diagnostics[0].File, "broken.bas") || b.Bot.Diagnostics[0].Line == 0 {
		t.Fatalf("diagnostics = %v", b.Bot.Diagnostics)
	}

	// A broken start.bas keeps the last good one live.
	e.script("shop", "start.bas", "HEAR name\nTALK \"v3 + name\n")
	if err := r.srv.Reload(context.Background(), orgA); err != nil {
		t.Fatal(err)
	}
	r.say(t, ctx, "shop", "third", "hi")
	if got := r.say(t, ctx, "shop", "third", "Cy").talk(); !slices.Equal(got, []string{"v2 Cy"}) {
		t.Fatalf("after a broken deploy: %q, want the last good version", got)
	}
	b, _ = r.client.GetBot(ctx, &autov1.GetBotRequest{Bot: "shop"})
	for _, s := range b.Bot.Scripts {
		if s.Name == "start.bas" && s.Ok {
			t.Fatal("start.bas reported ok although its newest source does not compile")
		}
	}
	// Another replica (fresh cache) sees the same live version.
	other := e.replica()
	other.say(t, ctx, "shop", "fourth", "hi")
	if got := other.say(t, ctx, "shop", "fourth", "Di").talk(); !slices.Equal(got, []string{"v2 Di"}) {
		t.Fatalf("second replica: %q", got)
	}
}

func TestHearTimeoutExpiresTheWait(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "start.bas", "HEAR x\nTALK \"got \" + x\n")
	e.write("shop", "shop.gbot/config.csv", "hear-timeout-secs,1\n")
	r := e.replica()
	ctx := as(orgA)
	r.say(t, ctx, "shop", "c", "hi")
	if _, err := e.pool.Exec(context.Background(), `UPDATE auto.conversations SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	tr := r.say(t, ctx, "shop", "c", "late")
	if len(tr.outs) != 1 || tr.outs[0].Kind != "hear_expired" || tr.end.Consumed {
		t.Fatalf("expired wait: %+v %+v", tr.outs, tr.end)
	}
}

func TestToolsAndCompile(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "hours.bas", `PARAM city AS STRING DESCRIPTION "City" ENUM ["Lisbon", "Porto"]
PARAM days AS INTEGER OPTIONAL
DESCRIPTION "Opening hours"
TALK "looking up " + city
WITH r
    city = city
    open = "9:00"
END WITH
RETURN r
`)
	e.script("shop", "asks.bas", "PARAM a AS STRING\nHEAR b\nRETURN b\n")
	r := e.replica()
	ctx := as(orgA)
	lt, err := r.client.ListTools(ctx, &autov1.ListToolsRequest{Bot: "shop"})
	if err != nil || len(lt.Tools) != 2 {
		t.Fatalf("tools = %v, %v", lt, err)
	}
	var fn struct {
		Name       string `json:"name"`
		Parameters struct {
			Required []string `json:"required"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(lt.Tools[1].FunctionJson), &fn); err != nil || fn.Name != "hours" || !slices.Equal(fn.Parameters.Required, []string{"city"}) {
		t.Fatalf("function = %s (%v)", lt.Tools[1].FunctionJson, err)
	}
	res, err := r.client.RunTool(ctx, &autov1.RunToolRequest{Bot: "shop", Tool: "hours", ArgsJson: `{"city":"Porto"}`})
	if err != nil || res.Error != "" || res.ResultJson != `{"city":"Porto","open":"9:00"}` || res.Outputs[0].Text != "looking up Porto" {
		t.Fatalf("run = %+v, %v", res, err)
	}
	_, err = r.client.RunTool(ctx, &autov1.RunToolRequest{Bot: "shop", Tool: "hours", ArgsJson: `{"city":"Faro"}`})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "one of") {
		t.Fatalf("bad enum: %v", err)
	}
	res, err = r.client.RunTool(ctx, &autov1.RunToolRequest{Bot: "shop", Tool: "asks", ArgsJson: `{"a":"x"}`})
	if err != nil || !strings.Contains(res.Error, "cannot ask") {
		t.Fatalf("HEAR in a model's tool: %+v %v", res, err)
	}
	// A tool started as the conversation's script may HEAR.
	tr, err := r.converse(ctx, &autov1.ConverseRequest{Bot: "shop", ConversationId: "c", Tool: "asks", ArgsJson: `{"a":"x"}`})
	if err != nil || tr.end.Status != autov1.TurnStatus_TURN_STATUS_WAITING {
		t.Fatalf("interactive tool: %+v %v", tr.end, err)
	}
	e.script("shop", "daily.bas", "SET SCHEDULE \"0 9 * * *\"\nON EMAIL \"orders@shop.test\" SUBJECT \"order\"\nTALK \"report\"\n")
	if err := r.srv.Reload(context.Background(), orgA); err != nil {
		t.Fatal(err)
	}
	b, err := r.client.GetBot(ctx, &autov1.GetBotRequest{Bot: "shop"})
	if err != nil || len(b.Bot.Triggers) != 2 {
		t.Fatalf("triggers = %v, %v", b.GetBot().GetTriggers(), err)
	}
	if tr := b.Bot.Triggers[1]; tr.Keyword != "ON EMAIL" || tr.Args[0] != "orders@shop.test" || tr.Clauses["SUBJECT"] != "order" || tr.Line != 2 {
		t.Fatalf("trigger = %+v", tr)
	}
	// Without bottasks and botmail the triggers are listed, and why they do
	// not fire is a diagnostic at their line.
	var why []string
	for _, d := range b.Bot.Diagnostics {
		if strings.HasSuffix(d.File, "daily.bas") {
			why = append(why, fmt.Sprintf("%d: %s", d.Line, d.Message))
		}
	}
	if !slices.Equal(why, []string{"1: SET SCHEDULE is not registered: bottasks is not available", "2: ON EMAIL is not registered: botmail is not available"}) &&
		!slices.Equal(why, []string{"2: ON EMAIL is not registered: botmail is not available", "1: SET SCHEDULE is not registered: bottasks is not available"}) {
		t.Fatalf("trigger diagnostics = %q", why)
	}
	cr, err := r.client.Compile(ctx, &autov1.CompileRequest{Name: "x.bas", Source: "TALK (1 +\nFOR i = 1 TO\n"})
	if err != nil || cr.Ok || len(cr.Diagnostics) < 2 {
		t.Fatalf("compile = %+v, %v (want several diagnostics)", cr, err)
	}
}

func TestMemoriesAndTenantIsolation(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "start.bas", `v = GET BOT MEMORY "visits"
SET BOT MEMORY "visits", NVL(v, 0) + 1
REMEMBER "color", "blue"
SET USER MEMORY "email", "a@b.c"
v = GET BOT MEMORY "visits"
c = RECALL "color"
m = GET USER MEMORY "email"
TALK v + " " + c + " " + m
`)
	r := e.replica()
	ctx := as(orgA)
	if tr := r.say(t, ctx, "shop", "c1", "hi"); !slices.Equal(tr.talk(), []string{"1 blue a@b.c"}) {
		t.Fatalf("first = %q %+v", tr.talk(), tr.end)
	}
	if got := r.say(t, ctx, "shop", "c2", "hi").talk(); !slices.Equal(got, []string{"2 blue a@b.c"}) {
		t.Fatalf("second = %q", got)
	}
	ms, err := r.client.ListMemories(ctx, &autov1.ListMemoriesRequest{Bot: "shop", Scope: "user", Owner: "u1"})
	if err != nil || len(ms.Memories) != 2 || ms.Memories[0].Key != "color" || ms.Memories[1].ValueJson != `"a@b.c"` {
		t.Fatalf("memories = %v, %v", ms, err)
	}
	if _, err := r.client.SetMemory(ctx, &autov1.SetMemoryRequest{Bot: "shop", Scope: "bot", Key: "visits", ValueJson: "41"}); err != nil {
		t.Fatal(err)
	}
	if got := r.say(t, ctx, "shop", "c3", "hi").talk(); !slices.Equal(got, []string{"42 blue a@b.c"}) {
		t.Fatalf("after SetMemory = %q", got)
	}
	if _, err := r.client.SetMemory(ctx, &autov1.SetMemoryRequest{Bot: "shop", Scope: "user", Key: "k", ValueJson: "1"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("user memory without owner: %v", err)
	}
	if ms, _ := r.client.ListMemories(as(orgB), &autov1.ListMemoriesRequest{Bot: "shop", Scope: "user", Owner: "u1"}); len(ms.GetMemories()) != 0 {
		t.Fatalf("other org sees memories: %v", ms)
	}
	// Another organisation sees neither the bot nor its conversations.
	_, err = r.converse(as(orgB), &autov1.ConverseRequest{Bot: "shop", ConversationId: "c1", Input: "hi"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("other org: %v, want NotFound", err)
	}
	if _, err := r.client.GetBot(as(orgB), &autov1.GetBotRequest{Bot: "shop"}); status.Code(err) != codes.NotFound {
		t.Fatalf("other org GetBot: %v", err)
	}
	if _, err := r.client.GetBot(context.Background(), &autov1.GetBotRequest{Bot: "shop"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no caller: %v", err)
	}
	if _, err := r.converse(ctx, &autov1.ConverseRequest{Bot: "../etc", ConversationId: "c1"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad bot name: %v", err)
	}
}

func TestHTTPKeywordsRefusePrivateAddresses(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"auth":%q}`, r.Method, r.Header.Get("X-Key"))
	}))
	defer api.Close()
	e := newEnv(t)
	script := fmt.Sprintf(`ON ERROR RESUME NEXT
SET HEADER "X-Key", "k1"
r = POST "%s/x", "body"
IF ERR THEN
    TALK "refused: " + ERROR MESSAGE
ELSE
    TALK r.method + " " + r.auth
END IF
`, api.URL)
	e.script("open", "start.bas", script)
	e.script("closed", "start.bas", script)
	e.write("open", "open.gbot/config.csv", "http-allow-private,true\n")
	r := e.replica()
	ctx := as(orgA)
	if got := r.say(t, ctx, "open", "c", "").talk(); !slices.Equal(got, []string{"POST k1"}) {
		t.Fatalf("allowed bot: %q", got)
	}
	got := r.say(t, ctx, "closed", "c2", "").talk()
	if len(got) != 1 || !strings.Contains(got[0], "refused: ") || !strings.Contains(got[0], "private") {
		t.Fatalf("default bot: %q", got)
	}
}

func TestConcurrentTurnsOfOneConversationConflict(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "start.bas", "DO\nHEAR a\nLOOP\n")
	r := e.replica()
	ctx := as(orgA)
	r.say(t, ctx, "shop", "c", "")
	// Simulate another replica having saved a turn in between.
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := r.converse(ctx, &autov1.ConverseRequest{Bot: "shop", ConversationId: "c", Input: "x"})
			errs <- err
		}()
	}
	ok, aborted := 0, 0
	for range 8 {
		switch err := <-errs; status.Code(err) {
		case codes.OK:
			ok++
		case codes.Aborted:
			aborted++
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok < 1 || ok+aborted != 8 {
		t.Fatalf("ok=%d aborted=%d", ok, aborted)
	}
	var turn int64
	if err := e.pool.QueryRow(context.Background(), `SELECT turn FROM auto.conversations`).Scan(&turn); err != nil || turn != int64(1+ok) {
		t.Fatalf("turn = %d, want %d: every accepted turn saved once", turn, 1+ok)
	}
}

// A turn whose known_turn is the state this replica saved last runs from
// memory; any other known_turn reads the state, so one saved by another
// replica is never missed.
func TestKnownTurnSkipsTheReadOnlyWhenCurrent(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "start.bas", "DO\nHEAR a\nTALK \"got \" + a\nLOOP\n")
	r, other := e.replica(), e.replica()
	ctx := as(orgA)
	first := r.say(t, ctx, "shop", "c", "")
	if first.end.Turn != 1 {
		t.Fatalf("first turn: TurnEnd.turn %d, want 1", first.end.Turn)
	}
	// Only a read would see this: the cached state still waits at HEAR.
	if _, err := e.pool.Exec(context.Background(), `UPDATE auto.conversations SET state = NULL`); err != nil {
		t.Fatal(err)
	}
	hit, err := r.converse(ctx, &autov1.ConverseRequest{Bot: "shop", ConversationId: "c", Input: "x", KnownTurn: 1})
	if err != nil || !slices.Equal(hit.talk(), []string{"got x"}) || hit.end.Turn != 2 {
		t.Fatalf("known turn 1 on the replica that saved it: %q turn %d %v", hit.talk(), hit.end.Turn, err)
	}
	// Another replica takes a turn (it reads: it saved nothing), then the
	// first one is told the newer turn and reads it instead of its copy.
	moved, err := other.converse(ctx, &autov1.ConverseRequest{Bot: "shop", ConversationId: "c", Input: "y", KnownTurn: 2})
	if err != nil || !slices.Equal(moved.talk(), []string{"got y"}) || moved.end.Turn != 3 {
		t.Fatalf("other replica: %q turn %d %v", moved.talk(), moved.end.Turn, err)
	}
	back, err := r.converse(ctx, &autov1.ConverseRequest{Bot: "shop", ConversationId: "c", Input: "z", KnownTurn: 3})
	if err != nil || !slices.Equal(back.talk(), []string{"got z"}) || back.end.Turn != 4 {
		t.Fatalf("back on the first replica with a newer turn: %q turn %d %v", back.talk(), back.end.Turn, err)
	}
}
