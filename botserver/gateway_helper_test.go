package botserver_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
)

// behindGateway serves the given public APIs on a real gateway that calls
// the services listening on grpcAddr, as botcore mounts them; it returns
// the gateway's base URL.
func behindGateway(t *testing.T, grpcAddr string, apis ...func(*gateway.Gateway, grpc.ClientConnInterface)) string {
	t.Helper()
	cc, err := grpcx.Dial(grpcAddr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	gw, err := gateway.New(gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, register := range apis {
		register(gw, cc)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}
