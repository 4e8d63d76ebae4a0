package server_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// BenchmarkHearTurnThroughPostgres is one conversation turn that resumes a
// script waiting at HEAR from Postgres and suspends it again: gRPC on
// loopback + read state + resume + save with the concurrency check. The
// issue's goal is p99 ≤ 2 ms for suspend + resume through Postgres.
func BenchmarkHearTurnThroughPostgres(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t)
	e.t = t
	e.script("bench", "start.bas", "items = SPLIT(\"a b c d e f g h\")\nprofile.name = \"Ana\"\nDO\n HEAR x AS INTEGER\n total = total + x\n TALK \"total \" + total\nLOOP\n")
	r := e.replica()
	ctx := as(orgA)
	const convs = 16
	for c := range convs {
		if _, err := r.converse(ctx, &autov1.ConverseRequest{Bot: "bench", ConversationId: fmt.Sprint("c", c)}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		tr, err := r.converse(ctx, &autov1.ConverseRequest{Bot: "bench", ConversationId: fmt.Sprint("c", i%convs), Input: "1"})
		if err != nil || tr.end.Status != autov1.TurnStatus_TURN_STATUS_WAITING {
			b.Fatal(err, tr.end)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
