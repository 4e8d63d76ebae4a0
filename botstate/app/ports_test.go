package app_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/natsembed"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// A start that fails after the gRPC and operations ports are bound gives
// them back, so a test process (or a retry) can bind them again.
func TestFailedStartReleasesItsPorts(t *testing.T) {
	grpcAddr, opsAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	failing := &app.Service{Name: "botfail", Setup: func(context.Context, *app.Env) error { return errors.New("setup refuses") }}
	err := app.Run(context.Background(), nil, app.Options{
		Environ:   []string{"GRPC_ADDR=" + grpcAddr, "OPS_ADDR=" + opsAddr, "DATA_DIR=" + t.TempDir(), "LOG_LEVEL=error"},
		EmbedNATS: natsembed.Connect,
	}, failing)
	if err == nil || !strings.Contains(err.Error(), "setup refuses") {
		t.Fatalf("run: %v", err)
	}
	for _, addr := range []string{grpcAddr, opsAddr} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is still taken after the failed start: %v", addr, err)
		}
		l.Close()
	}
}
