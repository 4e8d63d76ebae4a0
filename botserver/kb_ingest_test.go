package botserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botserver-go/botserver-go/botcore/api/kb"
	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botdrive"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botvectordb"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// kbFile is document i of the 200: mixed formats, five of them broken.
func kbFile(i int) (path string, content []byte) {
	code := fmt.Sprintf("kiwi%dmango", i)
	body := fmt.Sprintf("Document %d of the handbook. Its code word is %s. %s", i, code,
		strings.Repeat("Employees follow the travel and expense policy. ", 20))
	switch {
	case i < 3:
		return fmt.Sprintf("shop.gbkb/manuals/broken%d.pdf", i), []byte("%PDF-1.7 this is not really a pdf")
	case i < 5:
		return fmt.Sprintf("shop.gbkb/manuals/broken%d.docx", i), []byte("PK not a zip at all")
	case i < 25:
		return fmt.Sprintf("shop.gbkb/faq/q%03d.txt", i), []byte(body)
	case i < 35:
		return fmt.Sprintf("shop.gbkb/faq/p%03d.html", i), []byte("<html><body><h1>Page " + fmt.Sprint(i) + "</h1><p>" + body + "</p></body></html>")
	case i < 45:
		return fmt.Sprintf("shop.gbkb/tables/t%03d.csv", i), []byte("name,value\ncode," + code + "\nnote,travel policy\n")
	case i < 50:
		b, _ := json.Marshal(map[string]string{"title": fmt.Sprint("Doc ", i), "code": code, "text": body})
		return fmt.Sprintf("shop.gbkb/tables/j%03d.json", i), b
	}
	return fmt.Sprintf("shop.gbkb/manuals/m%03d.md", i), []byte(fmt.Sprintf("# Manual %d\n\n%s\n\n## More\n\n%s", i, body, body))
}

// Done-when of issue 6, end to end with the real botdrive: 200 documents
// dropped into a bot's knowledge bases all end indexed or failed with a
// reason; re-dropping unchanged files does nothing; changing one re-indexes
// only it; deleting one removes its chunks. Observed through the public API.
func TestKnowledgeBaseIngestionEndToEnd(t *testing.T) {
	iss := authztest.NewIssuer(t)
	addrs := apptest.Start(t, append(iss.Env(), "BOTS_DIR=off", "KB_WORKERS=2"), botdrive.Service(), botvectordb.Service())
	cc, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	gw, err := gateway.New(gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kb.Register(gw, cc)
	api := httptest.NewServer(gw)
	defer api.Close()

	org := uuid.NewString()
	editor := iss.User(org, "files:read", "files:write", "kb:read", "kb:write")
	ctx := iss.Context(context.Background(), editor)
	drive := drivev1.NewDriveServiceClient(cc)
	put := func(path string, content []byte) bool {
		t.Helper()
		r, err := drive.PutFile(ctx, &drivev1.PutFileRequest{Bot: "shop", Path: path, Content: content})
		if err != nil {
			t.Fatalf("put %s: %v", path, err)
		}
		return r.GetChanged()
	}
	do := func(method, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+editor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.StatusCode
	}
	type kbs struct {
		KnowledgeBases []kb.KnowledgeBase `json:"knowledge_bases"`
	}
	settled := func(want int) kbs {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var out kbs
			if code := do("GET", "/api/v1/bots/shop/kb", "", &out); code != 200 {
				t.Fatalf("list kbs: %d", code)
			}
			total, finished := 0, 0
			for _, k := range out.KnowledgeBases {
				total += int(k.Documents)
				finished += int(k.Indexed + k.Failed)
			}
			if total == want && finished == want {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("not settled: %+v", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	type docs struct {
		Documents     []kb.Document `json:"documents"`
		NextPageToken string        `json:"next_page_token"`
	}
	allDocs := func() map[string]kb.Document {
		t.Helper()
		out := map[string]kb.Document{}
		tok := ""
		for {
			var page docs
			if code := do("GET", "/api/v1/bots/shop/kb/documents?page_size=80&page_token="+tok, "", &page); code != 200 {
				t.Fatalf("list documents: %d", code)
			}
			for _, d := range page.Documents {
				out[d.Path] = d
			}
			if tok = page.NextPageToken; tok == "" {
				return out
			}
		}
	}
	type search struct {
		Passages []kb.Passage `json:"passages"`
	}

	for i := 0; i < 200; i++ {
		put(kbFile(i))
	}
	state := settled(200)
	failed, indexed := 0, 0
	for _, k := range state.KnowledgeBases {
		failed += int(k.Failed)
		indexed += int(k.Indexed)
	}
	if failed != 5 || indexed != 195 {
		t.Fatalf("indexed %d, failed %d: %+v", indexed, failed, state)
	}
	before := allDocs()
	for path, d := range before {
		if strings.Contains(path, "broken") {
			if d.Status != "failed" || d.Error == "" {
				t.Errorf("%s: %+v (failed with a reason expected)", path, d)
			}
		} else if d.Status != "indexed" || d.Chunks == 0 {
			t.Errorf("%s: %+v", path, d)
		}
	}
	var s search
	if code := do("POST", "/api/v1/bots/shop/kb/search", `{"query":"kiwi120mango","top_k":3}`, &s); code != 200 || len(s.Passages) == 0 || s.Passages[0].Path != "shop.gbkb/manuals/m120.md" {
		t.Fatalf("search: %d %+v", code, s)
	}

	// Re-dropping unchanged files does nothing.
	for i := 0; i < 200; i++ {
		if put(kbFile(i)) {
			t.Fatalf("file %d reported as changed", i)
		}
	}
	time.Sleep(time.Second)
	for path, d := range allDocs() {
		if d.UpdatedAt != before[path].UpdatedAt || d.IndexedAt != before[path].IndexedAt {
			t.Fatalf("%s changed after an identical re-drop: %+v -> %+v", path, before[path], d)
		}
	}

	// Changing one re-indexes only it.
	put("shop.gbkb/manuals/m150.md", []byte("# Changed\n\nThe code word is now papaya77lychee."))
	deadline := time.Now().Add(time.Minute)
	for {
		var s search
		do("POST", "/api/v1/bots/shop/kb/search", `{"query":"papaya77lychee","kbs":["manuals"],"mode":"text"}`, &s)
		if len(s.Passages) == 1 && s.Passages[0].Path == "shop.gbkb/manuals/m150.md" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changed document not re-indexed: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	settled(200)
	for path, d := range allDocs() {
		changed := d.IndexedAt != before[path].IndexedAt
		if changed != (path == "shop.gbkb/manuals/m150.md") {
			t.Fatalf("%s: indexed_at %s -> %s", path, before[path].IndexedAt, d.IndexedAt)
		}
	}

	// Deleting one removes it and its chunks.
	if _, err := drive.DeleteFile(ctx, &drivev1.DeleteFileRequest{Bot: "shop", Path: "shop.gbkb/manuals/m120.md"}); err != nil {
		t.Fatal(err)
	}
	settled(199)
	var gone search
	do("POST", "/api/v1/bots/shop/kb/search", `{"query":"kiwi120mango","mode":"text"}`, &gone)
	if len(gone.Passages) != 0 {
		t.Fatalf("deleted document still found: %+v", gone)
	}
	var e struct {
		Error gateway.ErrorDetail `json:"error"`
	}
	if code := do("GET", "/api/v1/bots/shop/kb/documents/shop.gbkb/manuals/m120.md", "", &e); code != 404 || e.Error.Code != "not_found" {
		t.Fatalf("deleted document status: %d %+v", code, e)
	}
	var one kb.Document
	if code := do("GET", "/api/v1/bots/shop/kb/documents/shop.gbkb/manuals/broken0.pdf", "", &one); code != 200 || one.Status != "failed" || one.Error == "" {
		t.Fatalf("broken document: %d %+v", code, one)
	}
	// Errors in the JSON format.
	if code := do("POST", "/api/v1/bots/shop/kb/search", `{"query":""}`, &e); code != 400 || e.Error.Code != "bad_request" {
		t.Fatalf("empty query: %d %+v", code, e)
	}
	if code := do("POST", "/api/v1/bots/shop/kb/search", `{"query":"x","kbs":["nope"]}`, &e); code != 404 {
		t.Fatalf("unknown kb: %d %+v", code, e)
	}
}
