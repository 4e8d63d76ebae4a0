package runtime

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	mailv1 "github.com/botserver-go/botserver-go/proto/bot/mail/v1"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
)

// llmServer records Complete calls and answers with a fixed text.
type llmServer struct {
	llmv1.UnimplementedLlmServiceServer
	answer string
	got    []*llmv1.CompleteRequest
}

func (s *llmServer) Complete(_ context.Context, r *llmv1.CompleteRequest) (*llmv1.CompleteResponse, error) {
	s.got = append(s.got, r)
	if r.Prompt == "fail" {
		return nil, status.Error(codes.ResourceExhausted, "the organisation's LLM budget is used up")
	}
	return &llmv1.CompleteResponse{Content: s.answer}, nil
}

func TestServiceKeywordsOverGRPC(t *testing.T) {
	fake := &llmServer{answer: " Negative."}
	gs := grpc.NewServer()
	llmv1.RegisterLlmServiceServer(gs, fake)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go gs.Serve(lis)
	defer gs.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	h := &Host{Turn: Turn{Org: "o", Bot: "shop", Prompt: "Be brief.", Config: map[string]string{"llm-model": "m1"}},
		Services: &Services{LLM: llmv1.NewLlmServiceClient(cc)}}
	ctx := context.Background()

	v, err := h.Call(ctx, &vm.Call{Keyword: "LLM", Service: "llm", Args: []vm.Value{vm.Str("hello")}})
	if err != nil || v.String() != " Negative." {
		t.Fatalf("LLM = %q, %v", v.String(), err)
	}
	if r := fake.got[0]; r.Prompt != "hello" || r.System != "Be brief." || r.Config["llm-model"] != "m1" || r.Bot != "shop" {
		t.Fatalf("request = %+v", r)
	}
	v, err = h.Call(ctx, &vm.Call{Keyword: "CLASSIFY", Service: "llm", Args: []vm.Value{vm.Str("bad bike"), vm.Str("positive, negative")}})
	if err != nil || v.String() != "negative" {
		t.Fatalf("CLASSIFY = %q, %v", v.String(), err)
	}
	if !strings.Contains(fake.got[1].System, "positive, negative") {
		t.Fatalf("labels not given to the model: %q", fake.got[1].System)
	}
	_, err = h.Call(ctx, &vm.Call{Keyword: "LLM", Service: "llm", Args: []vm.Value{vm.Str("fail")}})
	if err == nil || err.Error() != "the organisation's LLM budget is used up" {
		t.Fatalf("service error = %v", err)
	}
	// Keywords of services that are not deployed say so.
	for _, c := range []*vm.Call{
		{Keyword: "THINK KB", Service: "kb", Args: []vm.Value{vm.Str("q")}},
		{Keyword: "READ", Service: "drive", Args: []vm.Value{vm.Str("a.txt")}},
		{Keyword: "SEND MAIL", Service: "mail", Args: []vm.Value{vm.Str("a@b.c"), vm.Str("s"), vm.Str("b")}},
		{Keyword: "CREATE TASK", Service: "tasks", Args: []vm.Value{vm.Str("t"), vm.Str("a"), vm.Str("d")}},
	} {
		_, err := h.Call(ctx, c)
		if err == nil || !strings.Contains(err.Error(), "is not available") {
			t.Errorf("%s: %v", c.Keyword, err)
		}
	}
}

// A deployed service whose API has not landed yet answers Unimplemented:
// the keyword says the service is not available.
func TestUnimplementedServicesAreNotAvailable(t *testing.T) {
	gs := grpc.NewServer()
	tasksv1.RegisterTasksServiceServer(gs, tasksv1.UnimplementedTasksServiceServer{})
	mailv1.RegisterMailServiceServer(gs, mailv1.UnimplementedMailServiceServer{})
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go gs.Serve(lis)
	defer gs.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	h := &Host{Turn: Turn{Org: "o", Bot: "shop"}, Services: &Services{Tasks: tasksv1.NewTasksServiceClient(cc), Mail: mailv1.NewMailServiceClient(cc)}}
	_, err = h.Call(context.Background(), &vm.Call{Keyword: "CREATE TASK", Service: "tasks", Args: []vm.Value{vm.Str("call Ana"), vm.Str("bo"), vm.Str("2026-12-01")}})
	if err == nil || err.Error() != "bottasks is not available" {
		t.Fatalf("CREATE TASK: %v", err)
	}
	_, err = h.Call(context.Background(), &vm.Call{Keyword: "SEND MAIL", Service: "mail", Args: []vm.Value{vm.Str("a@b.c; d@e.f"), vm.Str("s"), vm.Str("b")}})
	if err == nil || err.Error() != "botmail is not available" {
		t.Fatalf("SEND MAIL: %v", err)
	}
	if got := recipients(vm.Str("a@b.c; d@e.f,")); len(got) != 2 || got[1] != "d@e.f" {
		t.Fatalf("recipients = %q", got)
	}
}

func TestDrivePathsStayInTheBotsDrive(t *testing.T) {
	for in, want := range map[string]string{"a.txt": "shop.gbdrive/a.txt", "/r/x.csv": "shop.gbdrive/r/x.csv", "r\\y": "shop.gbdrive/r/y"} {
		if got, err := drivePath("shop", in); err != nil || got != want {
			t.Errorf("%q -> %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "../other.gbai/x", "a/../../b", "/"} {
		if _, err := drivePath("shop", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
