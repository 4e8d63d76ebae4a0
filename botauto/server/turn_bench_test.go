package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botauto/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// BenchmarkSuspendResumeThroughPostgres is the measure without the
// gRPC hop: read the state (one round trip), resume the VM at HEAR, suspend
// it again and save (one round trip). Goal: p99 ≤ 2 ms.
func BenchmarkSuspendResumeThroughPostgres(b *testing.B) {
	ctx := context.Background()
	url := testutil.NewDatabase(b)
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "auto", FS: os.DirFS("../migrations")}); err != nil {
		b.Fatal(err)
	}
	pool, err := pg.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	dir := b.TempDir()
	p := filepath.Join(dir, "bench.gbai", "bench.gbdialog", "start.bas")
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	_ = os.WriteFile(p, []byte("items = SPLIT(\"a b c d e f g h\")\nprofile.name = \"Ana\"\nDO\n HEAR x AS INTEGER\n total = total + x\nLOOP\n"), 0o644)
	s := New(Options{Store: store.New(pool), Source: bots.Dir{Root: dir, Org: authz.DefaultOrgID},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: vm.Limits{MaxSteps: 100_000}})
	const convs = 16
	for c := range convs {
		if _, _, err := s.turn(ctx, authz.DefaultOrgID, &autov1.ConverseRequest{Bot: "bench", ConversationId: fmt.Sprint("c", c)}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		_, end, err := s.turn(ctx, authz.DefaultOrgID, &autov1.ConverseRequest{Bot: "bench", ConversationId: fmt.Sprint("c", i%convs), Input: "1"})
		if err != nil || end.Status != autov1.TurnStatus_TURN_STATUS_WAITING {
			b.Fatal(err, end)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
