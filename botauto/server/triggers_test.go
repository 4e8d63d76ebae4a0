package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botauto/runtime"
	"github.com/botserver-go/botserver-go/botauto/server"
	"github.com/botserver-go/botserver-go/botauto/store"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
)

// tasksFake records SetSchedules calls, as bottasks will receive them.
type tasksFake struct {
	tasksv1.UnimplementedTasksServiceServer
	mu    sync.Mutex
	calls [][]*tasksv1.Schedule
}

func (f *tasksFake) SetSchedules(_ context.Context, r *tasksv1.SetSchedulesRequest) (*tasksv1.SetSchedulesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Schedules)
	return &tasksv1.SetSchedulesResponse{}, nil
}

// Schedules reach bottasks on load, removing the last one clears them, and
// a bot that never had any calls nobody.
func TestSchedulesAreRegisteredAndCleared(t *testing.T) {
	fake := &tasksFake{}
	gs := grpc.NewServer()
	tasksv1.RegisterTasksServiceServer(gs, fake)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go gs.Serve(lis)
	defer gs.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	e := newEnv(t)
	srv := server.New(server.Options{Store: store.New(e.pool), Source: bots.Dir{Root: e.dir, Org: orgA},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Services: &runtime.Services{Tasks: tasksv1.NewTasksServiceClient(cc)}})
	ctx := context.Background()
	e.script("plain", "start.bas", "TALK 1\n")
	e.script("shop", "report.bas", "SET SCHEDULE \"0 9 * * *\"\nTALK \"report\"\n")
	if err := srv.Reload(ctx, orgA); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 || len(fake.calls[0]) != 1 || fake.calls[0][0].Cron != "0 9 * * *" || fake.calls[0][0].Script != "report.bas" {
		t.Fatalf("calls after load = %v", fake.calls)
	}
	e.script("shop", "report.bas", "TALK \"report\"\n")
	if err := srv.Reload(ctx, orgA); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 2 || len(fake.calls[1]) != 0 {
		t.Fatalf("removing the schedule must clear it: %v", fake.calls)
	}
	e.script("plain", "start.bas", "TALK 2\n")
	e.script("shop", "report.bas", "TALK \"report 2\"\n")
	if err := srv.Reload(ctx, orgA); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 2 {
		t.Fatalf("bots without schedules called bottasks: %v", fake.calls)
	}
}
