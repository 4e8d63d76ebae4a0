package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/index/indextest"
	"github.com/botserver-go/botserver-go/botvectordb/ingest"
	"github.com/botserver-go/botserver-go/botvectordb/retrieve"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// drive is an in-test DriveService serving ExtractText from a map, over
// real gRPC. Paths containing "broken" fail as a corrupt file would;
// "flaky" ones are unavailable for their first two calls.
type drive struct {
	drivev1.UnimplementedDriveServiceServer
	mu    sync.Mutex
	files map[string]string // bot/path -> text
	calls map[string]int
	org   string
}

func (d *drive) ExtractText(ctx context.Context, r *drivev1.ExtractTextRequest) (*drivev1.ExtractTextResponse, error) {
	// The real guard verified the service token; the org is the event's.
	if id, ok := authz.FromContext(ctx); !ok || id.Kind != authz.KindService || id.OrgID != d.org {
		return nil, status.Errorf(codes.PermissionDenied, "caller %+v", id)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := r.GetBot() + "/" + r.GetPath()
	d.calls[key]++
	text, ok := d.files[key]
	switch {
	case !ok:
		return nil, status.Error(codes.NotFound, "no such file")
	case strings.Contains(r.GetPath(), "broken"):
		return nil, status.Error(codes.InvalidArgument, "pdf: malformed xref table")
	case strings.Contains(r.GetPath(), "flaky") && d.calls[key] <= 2:
		return nil, status.Error(codes.Unavailable, "extractor busy")
	}
	return &drivev1.ExtractTextResponse{Text: text, Hash: hash(text), ContentType: "text/markdown"}, nil
}

func (d *drive) put(bot, path, text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[bot+"/"+path] = text
}

func (d *drive) callCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		n += c
	}
	return n
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	drive *drive
	in    *ingest.Ingester
	idx   *index.Embedded
	org   string
	seq   int
}

func setup(t *testing.T, mutate func(*ingest.Options, *events.ConsumerOptions)) *env {
	t.Helper()
	ctx := context.Background()
	pool := indextest.NewPool(t)
	bus := testutil.NewNATS(t)
	if _, err := events.EnsureStream(ctx, bus.JS, "drive"); err != nil {
		t.Fatal(err)
	}
	org := uuid.NewString()
	d := &drive{files: map[string]string{}, calls: map[string]int{}, org: org}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// botdrive's side: the real token-verifying guard, trusting a test issuer.
	iss := authztest.NewIssuer(t)
	guard := authz.NewGuard(iss.Verifier())
	if err := guard.Add(authz.Policy{"/bot.drive.v1.DriveService/ExtractText": {Kinds: []authz.Kind{authz.KindService}}}); err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(guard.UnaryServerInterceptor()))
	drivev1.RegisterDriveServiceServer(gs, d)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	tokens := authz.NewServiceTokens("botvectordb", iss.Issuer, iss.Service)
	cc, err := grpc.NewClient(lis.Addr().String(), append(tokens.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })

	idx := index.NewEmbedded(pool, index.EmbeddedOptions{})
	o := ingest.Options{Pool: pool, Index: idx, Embedder: embed.NewLocal(0),
		Extractor: ingest.NewDriveExtractor(func() (grpc.ClientConnInterface, error) { return cc, nil }),
		Workers:   2, MaxAttempts: 3, RetryBackoff: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		SweepInterval: time.Hour}
	co := events.ConsumerOptions{}
	if mutate != nil {
		mutate(&o, &co)
	}
	in, err := ingest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	opts := in.ConsumerOptions()
	opts.Backoff = []time.Duration{20 * time.Millisecond}
	if co.MaxDeliver > 0 {
		opts.MaxDeliver = co.MaxDeliver
	}
	cons, err := events.NewConsumer(bus.JS, pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cons.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cons.Stop(ctx)
		_ = in.Stop(ctx)
	})
	return &env{t: t, pool: pool, js: bus.JS, drive: d, in: in, idx: idx, org: org}
}

// publish sends a drive event as botdrive's relay would.
func (e *env) publish(subject string, msg proto.Message) {
	e.t.Helper()
	data, err := proto.Marshal(msg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.seq++
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	m.Header.Set(events.HeaderEventType, string(msg.ProtoReflect().Descriptor().FullName()))
	if _, err := e.js.PublishMsg(context.Background(), m, jetstream.WithMsgID(uuid.NewString())); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) drop(bot, path, text string) {
	e.drive.put(bot, path, text)
	e.publish(ingest.SubjectFileChanged, &drivev1.FileChanged{OrgId: e.org, Bot: bot, Path: path, Hash: hash(text),
		Size: int64(len(text)), ContentType: "text/markdown", ModifiedAt: timestamppb.Now()})
}

type docState struct {
	status, err string
	attempts    int
	chunks      int
}

func (e *env) states(bot string) map[string]docState {
	out := map[string]docState{}
	err := pg.InOrg(context.Background(), e.pool, e.org, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT path, status, error, attempts, chunks FROM kb.documents WHERE bot = $1`, bot)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p string
			var s docState
			if err := rows.Scan(&p, &s.status, &s.err, &s.attempts, &s.chunks); err != nil {
				return err
			}
			out[p] = s
		}
		return rows.Err()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) count(q string, args ...any) int {
	var n int
	err := pg.InOrg(context.Background(), e.pool, e.org, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), q, args...).Scan(&n)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// settled waits until the bot has want documents, all indexed or failed.
func (e *env) settled(bot string, want int) map[string]docState {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := e.states(bot)
		done := len(st) == want
		for _, s := range st {
			done = done && (s.status == "indexed" || s.status == "failed")
		}
		if done {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("documents did not settle: %+v", st)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func doc(i int) string {
	return fmt.Sprintf("# Topic %d\n\nThis document explains subject number %d in detail.\n\n## Details\n\n"+
		"The unique code of this document is zebra%dquartz. %s", i, i, i, strings.Repeat("Filler sentence about policies. ", 30))
}

func TestIngestLifecycle(t *testing.T) {
	e := setup(t, nil)
	bot := "mybot"
	for i := 0; i < 12; i++ {
		e.drop(bot, fmt.Sprintf("mybot.gbkb/docs/doc%02d.md", i), doc(i))
	}
	e.drop(bot, "mybot.gbkb/docs/broken.pdf", "whatever")
	e.drop(bot, "mybot.gbkb/docs/flaky.md", doc(100))
	e.drop(bot, "mybot.gbkb/faq/empty.txt", "   \n\n  ")
	e.drop(bot, "mybot.gbdialog/start.bas", "TALK \"hi\"") // not a KB file
	e.drop(bot, "mybot.gbkb/loose.md", "not in a KB folder")

	st := e.settled(bot, 15)
	for i := 0; i < 12; i++ {
		s := st[fmt.Sprintf("mybot.gbkb/docs/doc%02d.md", i)]
		if s.status != "indexed" || s.chunks < 2 || s.err != "" || s.attempts != 1 {
			t.Fatalf("doc%02d: %+v", i, s)
		}
	}
	if s := st["mybot.gbkb/docs/broken.pdf"]; s.status != "failed" || !strings.Contains(s.err, "malformed xref") || s.attempts != 1 {
		t.Fatalf("broken: %+v (a corrupt file fails at once, with the reason)", s)
	}
	if s := st["mybot.gbkb/docs/flaky.md"]; s.status != "indexed" || s.attempts != 3 {
		t.Fatalf("flaky: %+v (retried twice, then indexed)", s)
	}
	if s := st["mybot.gbkb/faq/empty.txt"]; s.status != "failed" || !strings.Contains(s.err, "no text") {
		t.Fatalf("empty: %+v", s)
	}
	chunks := e.count(`SELECT count(*) FROM kb.chunks`)
	if vecs := e.count(`SELECT count(*) FROM kb.embeddings`); chunks == 0 || vecs != chunks {
		t.Fatalf("%d chunks, %d vectors", chunks, vecs)
	}

	// Searchable: the unique code finds its document first.
	s := &retrieve.Searcher{Pool: e.pool, Index: e.idx, Embedder: embed.NewLocal(0)}
	ps, err := s.Search(context.Background(), retrieve.Request{OrgID: e.org, Bot: bot, Query: "zebra7quartz code", TopK: 3})
	if err != nil || len(ps) == 0 || ps[0].Path != "mybot.gbkb/docs/doc07.md" || ps[0].KB != "docs" {
		t.Fatalf("search: %+v %v", ps, err)
	}

	// Re-dropping unchanged files does nothing.
	calls := e.drive.callCount()
	for i := 0; i < 12; i++ {
		e.drop(bot, fmt.Sprintf("mybot.gbkb/docs/doc%02d.md", i), doc(i))
	}
	e.drop(bot, "mybot.gbkb/docs/broken.pdf", "whatever")
	time.Sleep(500 * time.Millisecond)
	if got := e.drive.callCount(); got != calls {
		t.Fatalf("re-dropping unchanged files made %d extraction calls", got-calls)
	}
	if n := e.count(`SELECT count(*) FROM kb.chunks`); n != chunks {
		t.Fatalf("chunks changed from %d to %d", chunks, n)
	}

	// Changing one re-indexes only it, replacing its chunks.
	oldIDs := e.count(`SELECT count(*) FROM kb.chunks c JOIN kb.documents d ON d.id = c.document_id WHERE d.path = 'mybot.gbkb/docs/doc03.md'`)
	e.drop(bot, "mybot.gbkb/docs/doc03.md", "# Changed\n\nNow it talks about walrus%%pineapple only.")
	deadline := time.Now().Add(20 * time.Second)
	for e.count(`SELECT count(*) FROM kb.chunks WHERE text LIKE '%walrus%'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("changed document not re-indexed")
		}
		time.Sleep(30 * time.Millisecond)
	}
	st = e.settled(bot, 15)
	if got := e.drive.callCount(); got != calls+1 {
		t.Fatalf("changing one document made %d extraction calls, want 1", got-calls)
	}
	if s := st["mybot.gbkb/docs/doc03.md"]; s.status != "indexed" || s.chunks != 1 || oldIDs < 2 {
		t.Fatalf("changed doc: %+v (had %d chunks)", s, oldIDs)
	}
	if n := e.count(`SELECT count(*) FROM kb.chunks c JOIN kb.documents d ON d.id = c.document_id WHERE d.path = 'mybot.gbkb/docs/doc03.md'`); n != 1 {
		t.Fatalf("old chunks left: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM kb.embeddings e JOIN kb.documents d ON d.id = e.document_id WHERE d.path = 'mybot.gbkb/docs/doc03.md'`); n != 1 {
		t.Fatalf("old vectors left: %d", n)
	}

	// Deleting one removes it, its chunks and its vectors.
	e.publish(ingest.SubjectFileDeleted, &drivev1.FileDeleted{OrgId: e.org, Bot: bot, Path: "mybot.gbkb/docs/doc07.md", Hash: hash(doc(7))})
	deadline = time.Now().Add(20 * time.Second)
	for len(e.states(bot)) != 14 {
		if time.Now().After(deadline) {
			t.Fatal("deleted document still there")
		}
		time.Sleep(30 * time.Millisecond)
	}
	if n := e.count(`SELECT count(*) FROM kb.chunks WHERE text LIKE '%zebra7quartz%'`); n != 0 {
		t.Fatalf("%d chunks of the deleted document left", n)
	}
	if n := e.count(`SELECT count(*) FROM kb.embeddings`); n != e.count(`SELECT count(*) FROM kb.chunks`) {
		t.Fatalf("vectors %d != chunks", n)
	}
	ps, _ = s.Search(context.Background(), retrieve.Request{OrgID: e.org, Bot: bot, Query: "zebra7quartz", TopK: 3, Mode: retrieve.Text})
	if len(ps) != 0 {
		t.Fatalf("deleted document still found: %+v", ps)
	}
}

func TestSweeperTakesBackAbandonedWork(t *testing.T) {
	e := setup(t, func(o *ingest.Options, _ *events.ConsumerOptions) { o.Workers = 1 })
	ctx := context.Background()
	e.drive.put("bot", "bot.gbkb/kb/a.md", doc(1))
	e.drive.put("bot", "bot.gbkb/kb/b.md", doc(2))
	// Two documents a dead worker held: one with attempts left, one without.
	err := pg.InOrg(ctx, e.pool, e.org, func(tx pgx.Tx) error {
		var coll string
		if err := tx.QueryRow(ctx, `INSERT INTO kb.collections (org_id, bot, name) VALUES ($1, 'bot', 'kb') RETURNING id`, e.org).Scan(&coll); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO kb.documents (org_id, collection_id, bot, kb, path, hash, status, attempts, lease_token, lease_until)
			VALUES ($1, $2, 'bot', 'kb', 'bot.gbkb/kb/a.md', $3, 'embedding', 1, gen_random_uuid(), now() - interval '1 minute'),
			       ($1, $2, 'bot', 'kb', 'bot.gbkb/kb/b.md', $4, 'extracting', 3, gen_random_uuid(), now() - interval '1 minute')`,
			e.org, coll, hash(doc(1)), hash(doc(2)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The ingester's own sweeper runs once at start and may get to the rows
	// first (its first pass races this insert); either way both come back.
	n, err := e.in.Sweep(ctx)
	if err != nil || (n != 2 && n != 0) {
		t.Fatalf("sweep: %d %v", n, err)
	}
	st := e.settled("bot", 2)
	if s := st["bot.gbkb/kb/a.md"]; s.status != "indexed" || s.attempts != 2 {
		t.Fatalf("a: %+v", s)
	}
	if s := st["bot.gbkb/kb/b.md"]; s.status != "failed" || !strings.Contains(s.err, "did not finish") {
		t.Fatalf("b: %+v", s)
	}
}

func TestUndecodableEventIsDeadLettered(t *testing.T) {
	e := setup(t, func(_ *ingest.Options, co *events.ConsumerOptions) { co.MaxDeliver = 2 })
	m := &nats.Msg{Subject: ingest.SubjectFileChanged, Data: []byte{0xff, 0xff, 0xff}, Header: nats.Header{}}
	m.Header.Set(events.HeaderEventType, "bot.drive.v1.FileChanged")
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := e.js.Stream(context.Background(), events.DLQStream)
		if err == nil {
			info, err := s.Info(context.Background(), jetstream.WithSubjectFilter("bot.dlq."+ingest.Durable))
			if err == nil && info.State.Msgs == 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("bad event not dead-lettered")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
