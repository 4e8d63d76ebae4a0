package botvectordb_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botvectordb"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/index/indextest"
	"github.com/botserver-go/botserver-go/botvectordb/ingest"
	"github.com/botserver-go/botserver-go/botvectordb/retrieve"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

type texts map[string]string

func (t texts) ExtractText(_ context.Context, _, bot, path string) (ingest.Extracted, error) {
	s, ok := t[path]
	if !ok {
		return ingest.Extracted{}, status.Error(codes.NotFound, "no file")
	}
	if strings.HasSuffix(path, ".bad") {
		return ingest.Extracted{}, status.Error(codes.InvalidArgument, "unsupported format")
	}
	return ingest.Extracted{Text: s}, nil
}

func TestPolicyCoversEveryMethod(t *testing.T) {
	for _, m := range vectordbv1.VectordbService_ServiceDesc.Methods {
		name := "/" + vectordbv1.VectordbService_ServiceDesc.ServiceName + "/" + m.MethodName
		if r, ok := botvectordb.Policy[name]; !ok || r.Public || !strings.HasPrefix(r.Permission, "kb:") {
			t.Errorf("%s: rule %+v", name, r)
		}
	}
	if len(botvectordb.Policy) != len(vectordbv1.VectordbService_ServiceDesc.Methods) {
		t.Errorf("policy has rules for methods that do not exist")
	}
}

func TestServer(t *testing.T) {
	ctx := context.Background()
	pool := indextest.NewPool(t)
	org, other := uuid.NewString(), uuid.NewString()
	idx := index.NewEmbedded(pool, index.EmbeddedOptions{})
	files := texts{}
	for i := 0; i < 5; i++ {
		files[fmt.Sprintf("bot.gbkb/manual/p%d.md", i)] = fmt.Sprintf("# Page %d\n\nThe espresso machine part %d needs descaling every month.", i, i)
	}
	files["bot.gbkb/faq/refunds.md"] = "# Refunds\n\nRefunds are paid within 14 days to the original card."
	files["bot.gbkb/faq/x.bad"] = "?"
	in, err := ingest.New(ingest.Options{Pool: pool, Index: idx, Embedder: embed.NewLocal(0), Extractor: files,
		PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for path, text := range files {
		ev := &drivev1.FileChanged{OrgId: org, Bot: "bot", Path: path, Hash: fmt.Sprintf("%x", len(text)), ModifiedAt: timestamppb.Now()}
		data, _ := proto.Marshal(ev)
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Handle(ctx, tx, events.Message{Subject: ingest.SubjectFileChanged, Data: data}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop(context.Background()) })

	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	// The real token-verifying guard with the service's policy.
	iss := authztest.NewIssuer(t)
	guard := authz.NewGuard(iss.Verifier())
	if err := guard.Add(botvectordb.Policy); err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(guard.UnaryServerInterceptor()))
	vectordbv1.RegisterVectordbServiceServer(gs, &botvectordb.Server{Pool: pool, Wake: in.Wake,
		Searcher: &retrieve.Searcher{Pool: pool, Index: idx, Embedder: embed.NewLocal(0)}})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	cc, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	t.Cleanup(func() { cc.Close() })
	c := vectordbv1.NewVectordbServiceClient(cc)
	as := func(org string) context.Context { return iss.Context(ctx, iss.User(org, "kb:read", "kb:write")) }
	code := func(err error) codes.Code { return status.Code(err) }

	if _, err := c.Search(ctx, &vectordbv1.SearchRequest{Bot: "bot", Query: "x"}); code(err) != codes.Unauthenticated {
		t.Fatalf("no identity: %v", err)
	}
	// Progress until everything settles.
	var kbs []*vectordbv1.KnowledgeBase
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.ListKnowledgeBases(as(org), &vectordbv1.ListKnowledgeBasesRequest{Bot: "bot"})
		if err != nil {
			t.Fatal(err)
		}
		kbs = r.GetKnowledgeBases()
		if len(kbs) == 2 && kbs[0].GetProgress() == 1 && kbs[1].GetProgress() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %v", kbs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if kbs[0].GetName() != "faq" || kbs[0].GetIndexed() != 1 || kbs[0].GetFailed() != 1 || kbs[1].GetName() != "manual" || kbs[1].GetIndexed() != 5 || kbs[1].GetChunks() != 5 {
		t.Fatalf("knowledge bases: %v", kbs)
	}

	r, err := c.Search(as(org), &vectordbv1.SearchRequest{Bot: "bot", Query: "when do I get my refund?", TopK: 2})
	if err != nil || len(r.GetPassages()) == 0 || r.GetPassages()[0].GetPath() != "bot.gbkb/faq/refunds.md" ||
		r.GetPassages()[0].GetHeading() != "Refunds" || r.GetPassages()[0].GetScore() <= 0 || r.GetModel() != "local-hash-v1/384" {
		t.Fatalf("search: %v %v", r, err)
	}
	// KB filter: only the manual.
	r, err = c.Search(as(org), &vectordbv1.SearchRequest{Bot: "bot", Kbs: []string{"manual"}, Query: "refund card", TopK: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.GetPassages() {
		if p.GetKb() != "manual" {
			t.Fatalf("kb filter leaked %v", p)
		}
	}
	// A high threshold drops weak passages.
	r, _ = c.Search(as(org), &vectordbv1.SearchRequest{Bot: "bot", Query: "refunds card", MinScore: 0.99, TopK: 10})
	for _, p := range r.GetPassages() {
		if p.GetScore() < 0.99 {
			t.Fatalf("below min_score: %v", p)
		}
	}
	if _, err := c.Search(as(org), &vectordbv1.SearchRequest{Bot: "bot", Kbs: []string{"nope"}, Query: "x"}); code(err) != codes.NotFound {
		t.Fatalf("unknown kb: %v", err)
	}
	for _, bad := range []*vectordbv1.SearchRequest{{Bot: "Bad Bot", Query: "x"}, {Bot: "bot"}, {Bot: "bot", Query: "x", TopK: 500}, {Bot: "bot", Query: "x", MinScore: 2}} {
		if _, err := c.Search(as(org), bad); code(err) != codes.InvalidArgument {
			t.Fatalf("%v: %v", bad, err)
		}
	}
	// Another org sees nothing of it.
	if _, err := c.Search(as(other), &vectordbv1.SearchRequest{Bot: "bot", Kbs: []string{"faq"}, Query: "refund"}); code(err) != codes.NotFound {
		t.Fatalf("other org search: %v", err)
	}
	if r, err := c.Search(as(other), &vectordbv1.SearchRequest{Bot: "bot", Query: "refund"}); err != nil || len(r.GetPassages()) != 0 {
		t.Fatalf("other org search: %v %v", r, err)
	}
	if _, err := c.GetDocumentStatus(as(other), &vectordbv1.GetDocumentStatusRequest{Bot: "bot", Path: "bot.gbkb/faq/refunds.md"}); code(err) != codes.NotFound {
		t.Fatalf("other org status: %v", err)
	}

	// kb.text_candidates bypasses row-level security for the index's sake:
	// it must still only see the caller's org, whatever ids it is given.
	textCandidates := func(asOrg string) int {
		var n int
		err := pg.InOrg(ctx, pool, asOrg, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM kb.text_candidates(
				(SELECT array_agg(id) FROM kb.collections), 'refund', 10, 100, 100)`).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var allColls []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(id::text) FROM kb.collections`).Scan(&allColls); err != nil {
		t.Fatal(err)
	}
	if textCandidates(org) != 1 {
		t.Fatal("text_candidates misses the org's own chunk")
	}
	err = pg.InOrg(ctx, pool, other, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM kb.text_candidates($1::uuid[], 'refund', 10, 100, 100)`, allColls).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("another org's chunks reached through text_candidates: %d", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT * FROM kb.text_candidates('{}', 'refund', 10, 100, 100)`); err == nil {
		t.Fatal("text_candidates ran without an org set")
	}

	d, err := c.GetDocumentStatus(as(org), &vectordbv1.GetDocumentStatusRequest{Bot: "bot", Path: "bot.gbkb/faq/x.bad"})
	if err != nil || d.GetDocument().GetStatus() != vectordbv1.DocumentStatus_DOCUMENT_STATUS_FAILED || !strings.Contains(d.GetDocument().GetError(), "unsupported format") {
		t.Fatalf("failed doc: %v %v", d, err)
	}
	// Paging in path order.
	var paths []string
	tok := ""
	for {
		r, err := c.ListDocuments(as(org), &vectordbv1.ListDocumentsRequest{Bot: "bot", Kb: "manual", PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range r.GetDocuments() {
			paths = append(paths, d.GetPath())
		}
		if tok = r.GetNextPageToken(); tok == "" {
			break
		}
	}
	if len(paths) != 5 || paths[0] != "bot.gbkb/manual/p0.md" || paths[4] != "bot.gbkb/manual/p4.md" {
		t.Fatalf("pages: %v", paths)
	}
	failed, _ := c.ListDocuments(as(org), &vectordbv1.ListDocumentsRequest{Bot: "bot", Status: vectordbv1.DocumentStatus_DOCUMENT_STATUS_FAILED})
	if len(failed.GetDocuments()) != 1 {
		t.Fatalf("failed filter: %v", failed)
	}
	// Reindex the failed ones: queued again, fails again.
	rr, err := c.ReindexDocuments(as(org), &vectordbv1.ReindexDocumentsRequest{Bot: "bot", FailedOnly: true})
	if err != nil || rr.GetQueued() != 1 {
		t.Fatalf("reindex: %v %v", rr, err)
	}
	if _, err := c.ReindexDocuments(iss.Context(ctx, iss.User(org, "kb:read")), &vectordbv1.ReindexDocumentsRequest{Bot: "bot"}); code(err) != codes.PermissionDenied {
		t.Fatalf("reindex without kb:write: %v", err)
	}
	if _, err := c.ReindexDocuments(as(other), &vectordbv1.ReindexDocumentsRequest{Bot: "bot", Path: "bot.gbkb/faq/x.bad"}); code(err) != codes.NotFound {
		t.Fatalf("other org reindex: %v", err)
	}
}

// The service starts as a binary would (migrations, consumer on BOT_DRIVE,
// workers) and serves its API behind the token guard.
func TestServiceStarts(t *testing.T) {
	iss := authztest.NewIssuer(t)
	addrs := apptest.Start(t, append(iss.Env(), "KB_WORKERS=1"), botvectordb.Service())
	cc, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := vectordbv1.NewVectordbServiceClient(cc)
	ctx := iss.Context(context.Background(), iss.User(uuid.NewString(), "kb:read"))
	r, err := c.ListKnowledgeBases(ctx, &vectordbv1.ListKnowledgeBasesRequest{Bot: "bot"})
	if err != nil || len(r.GetKnowledgeBases()) != 0 {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := c.ListKnowledgeBases(context.Background(), &vectordbv1.ListKnowledgeBasesRequest{Bot: "bot"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
}
