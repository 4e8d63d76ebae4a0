// Package kb is the public HTTP API of botvectordb for bot editors:
// knowledge bases with ingestion progress, document status, search and
// re-indexing.
//
//	GET  /api/v1/bots/{bot}/kb                          knowledge bases (kb:read)
//	GET  /api/v1/bots/{bot}/kb/documents?kb=&status=&page_size=&page_token=
//	GET  /api/v1/bots/{bot}/kb/documents/{path...}      one document's status
//	POST /api/v1/bots/{bot}/kb/search     {"query","kbs":[],"top_k","min_score","mode"}
//	POST /api/v1/bots/{bot}/kb/reindex    {"kb","path","failed_only"}   (kb:write)
//
// The caller's token is forwarded to botvectordb, which scopes everything to
// the token's organisation.
package kb

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

// KnowledgeBase is one knowledge base with its ingestion counts.
type KnowledgeBase struct {
	Name       string  `json:"name"`
	Documents  int32   `json:"documents"`
	Queued     int32   `json:"queued"`
	InProgress int32   `json:"in_progress"`
	Indexed    int32   `json:"indexed"`
	Failed     int32   `json:"failed"`
	Chunks     int32   `json:"chunks"`
	Progress   float32 `json:"progress"`
	UpdatedAt  string  `json:"updated_at,omitempty"`
}

// Document is one document's ingestion state.
type Document struct {
	ID            string `json:"id"`
	KB            string `json:"kb"`
	Path          string `json:"path"`
	Hash          string `json:"hash"`
	Size          int64  `json:"size"`
	ContentType   string `json:"content_type,omitempty"`
	Status        string `json:"status"`
	Error         string `json:"error,omitempty"`
	Attempts      int32  `json:"attempts"`
	Chunks        int32  `json:"chunks"`
	Truncated     bool   `json:"truncated,omitempty"`
	QueuedAt      string `json:"queued_at,omitempty"`
	UpdatedAt     string `json:"updated_at,omitempty"`
	IndexedAt     string `json:"indexed_at,omitempty"`
	NextAttemptAt string `json:"next_attempt_at,omitempty"`
}

// Passage is one search result.
type Passage struct {
	Text       string  `json:"text"`
	Path       string  `json:"path"`
	KB         string  `json:"kb"`
	Heading    string  `json:"heading,omitempty"`
	Score      float32 `json:"score"`
	Similarity float32 `json:"similarity"`
	ChunkID    string  `json:"chunk_id"`
	DocumentID string  `json:"document_id"`
	Ordinal    int32   `json:"ordinal"`
}

var modes = map[string]vectordbv1.SearchMode{
	"": vectordbv1.SearchMode_SEARCH_MODE_HYBRID, "hybrid": vectordbv1.SearchMode_SEARCH_MODE_HYBRID,
	"vector": vectordbv1.SearchMode_SEARCH_MODE_VECTOR, "text": vectordbv1.SearchMode_SEARCH_MODE_TEXT,
}

var statuses = map[string]vectordbv1.DocumentStatus{
	"": vectordbv1.DocumentStatus_DOCUMENT_STATUS_UNSPECIFIED, "queued": vectordbv1.DocumentStatus_DOCUMENT_STATUS_QUEUED,
	"extracting": vectordbv1.DocumentStatus_DOCUMENT_STATUS_EXTRACTING, "embedding": vectordbv1.DocumentStatus_DOCUMENT_STATUS_EMBEDDING,
	"indexed": vectordbv1.DocumentStatus_DOCUMENT_STATUS_INDEXED, "failed": vectordbv1.DocumentStatus_DOCUMENT_STATUS_FAILED,
}

// Register mounts the routes on gw, calling botvectordb through cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	c := vectordbv1.NewVectordbServiceClient(cc)
	gw.HandleFunc("GET /api/v1/bots/{bot}/kb", func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.ListKnowledgeBases(forward(r), &vectordbv1.ListKnowledgeBasesRequest{Bot: r.PathValue("bot")})
		if err != nil {
			writeStatus(w, err)
			return
		}
		out := struct {
			KnowledgeBases []KnowledgeBase `json:"knowledge_bases"`
		}{KnowledgeBases: []KnowledgeBase{}}
		for _, k := range resp.GetKnowledgeBases() {
			out.KnowledgeBases = append(out.KnowledgeBases, KnowledgeBase{Name: k.GetName(), Documents: k.GetDocuments(),
				Queued: k.GetQueued(), InProgress: k.GetInProgress(), Indexed: k.GetIndexed(), Failed: k.GetFailed(),
				Chunks: k.GetChunks(), Progress: k.GetProgress(), UpdatedAt: stamp(k.GetUpdatedAt())})
		}
		gateway.WriteJSON(w, http.StatusOK, out)
	})
	gw.HandleFunc("GET /api/v1/bots/{bot}/kb/documents", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		st, ok := statuses[q.Get("status")]
		if !ok {
			gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "status must be queued, extracting, embedding, indexed or failed")
			return
		}
		size := 0
		if v := q.Get("page_size"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "page_size must be a number")
				return
			}
			size = n
		}
		resp, err := c.ListDocuments(forward(r), &vectordbv1.ListDocumentsRequest{Bot: r.PathValue("bot"), Kb: q.Get("kb"),
			Status: st, PageSize: int32(min(max(size, -1), 1<<20)), PageToken: q.Get("page_token")})
		if err != nil {
			writeStatus(w, err)
			return
		}
		out := struct {
			Documents     []Document `json:"documents"`
			NextPageToken string     `json:"next_page_token,omitempty"`
		}{Documents: []Document{}, NextPageToken: resp.GetNextPageToken()}
		for _, d := range resp.GetDocuments() {
			out.Documents = append(out.Documents, document(d))
		}
		gateway.WriteJSON(w, http.StatusOK, out)
	})
	gw.HandleFunc("GET /api/v1/bots/{bot}/kb/documents/{path...}", func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.GetDocumentStatus(forward(r), &vectordbv1.GetDocumentStatusRequest{Bot: r.PathValue("bot"), Path: r.PathValue("path")})
		if err != nil {
			writeStatus(w, err)
			return
		}
		gateway.WriteJSON(w, http.StatusOK, document(resp.GetDocument()))
	})
	gw.HandleFunc("POST /api/v1/bots/{bot}/kb/search", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Query    string   `json:"query"`
			KBs      []string `json:"kbs"`
			TopK     int32    `json:"top_k"`
			MinScore float32  `json:"min_score"`
			Mode     string   `json:"mode"`
		}
		if !gateway.DecodeJSON(w, r, &in) {
			return
		}
		mode, ok := modes[in.Mode]
		if !ok {
			gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "mode must be hybrid, vector or text")
			return
		}
		resp, err := c.Search(forward(r), &vectordbv1.SearchRequest{Bot: r.PathValue("bot"), Kbs: in.KBs, Query: in.Query,
			TopK: in.TopK, MinScore: in.MinScore, Mode: mode})
		if err != nil {
			writeStatus(w, err)
			return
		}
		out := struct {
			Passages []Passage `json:"passages"`
			Model    string    `json:"model"`
		}{Passages: []Passage{}, Model: resp.GetModel()}
		for _, p := range resp.GetPassages() {
			out.Passages = append(out.Passages, Passage{Text: p.GetText(), Path: p.GetPath(), KB: p.GetKb(), Heading: p.GetHeading(),
				Score: p.GetScore(), Similarity: p.GetSimilarity(), ChunkID: p.GetChunkId(), DocumentID: p.GetDocumentId(), Ordinal: p.GetOrdinal()})
		}
		gateway.WriteJSON(w, http.StatusOK, out)
	})
	gw.HandleFunc("POST /api/v1/bots/{bot}/kb/reindex", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			KB         string `json:"kb"`
			Path       string `json:"path"`
			FailedOnly bool   `json:"failed_only"`
		}
		if !gateway.DecodeJSON(w, r, &in) {
			return
		}
		resp, err := c.ReindexDocuments(forward(r), &vectordbv1.ReindexDocumentsRequest{Bot: r.PathValue("bot"), Kb: in.KB,
			Path: in.Path, FailedOnly: in.FailedOnly})
		if err != nil {
			writeStatus(w, err)
			return
		}
		gateway.WriteJSON(w, http.StatusAccepted, map[string]int32{"queued": resp.GetQueued()})
	})
}

func document(d *vectordbv1.Document) Document {
	st := strings.ToLower(strings.TrimPrefix(d.GetStatus().String(), "DOCUMENT_STATUS_"))
	return Document{ID: d.GetId(), KB: d.GetKb(), Path: d.GetPath(), Hash: d.GetHash(), Size: d.GetSize(),
		ContentType: d.GetContentType(), Status: st, Error: d.GetError(), Attempts: d.GetAttempts(), Chunks: d.GetChunks(),
		Truncated: d.GetTruncated(), QueuedAt: stamp(d.GetQueuedAt()), UpdatedAt: stamp(d.GetUpdatedAt()),
		IndexedAt: stamp(d.GetIndexedAt()), NextAttemptAt: stamp(d.GetNextAttemptAt())}
}

func stamp(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339Nano)
}

func forward(r *http.Request) context.Context { return gateway.Forward(r, false) }

// writeStatus maps a gRPC status to the JSON error format.
func writeStatus(w http.ResponseWriter, err error) { gateway.WriteStatus(w, err, "botvectordb") }
