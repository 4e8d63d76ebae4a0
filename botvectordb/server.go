package botvectordb

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botvectordb/ingest"
	"github.com/botserver-go/botserver-go/botvectordb/retrieve"
	"github.com/botserver-go/botserver-go/botvectordb/store"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

const svc = "/bot.vectordb.v1.VectordbService/"

// Policy says who may call each RPC: reading knowledge needs kb:read,
// queuing work kb:write. Visitors never call this service directly (botchat
// searches on their behalf as a service).
var Policy = authz.Policy{
	svc + "Search":             {Permission: "kb:read"},
	svc + "ListKnowledgeBases": {Permission: "kb:read"},
	svc + "ListDocuments":      {Permission: "kb:read"},
	svc + "GetDocumentStatus":  {Permission: "kb:read"},
	svc + "ReindexDocuments":   {Permission: "kb:write"},
}

// Server implements VectordbService.
type Server struct {
	vectordbv1.UnimplementedVectordbServiceServer
	Pool     *pgxpool.Pool
	Searcher *retrieve.Searcher
	// Wake, when set, tells local workers that documents were queued.
	Wake func()
	Log  *slog.Logger
}

func orgOf(ctx context.Context) (string, error) {
	id, ok := authz.FromContext(ctx)
	if !ok || id.OrgID == "" {
		return "", status.Error(codes.Unauthenticated, "no verified caller")
	}
	return id.OrgID, nil
}

// Search implements VectordbService.
func (s *Server) Search(ctx context.Context, r *vectordbv1.SearchRequest) (*vectordbv1.SearchResponse, error) {
	org, err := orgOf(ctx)
	if err != nil {
		return nil, err
	}
	mode := retrieve.Hybrid
	switch r.GetMode() {
	case vectordbv1.SearchMode_SEARCH_MODE_VECTOR:
		mode = retrieve.Vector
	case vectordbv1.SearchMode_SEARCH_MODE_TEXT:
		mode = retrieve.Text
	case vectordbv1.SearchMode_SEARCH_MODE_UNSPECIFIED, vectordbv1.SearchMode_SEARCH_MODE_HYBRID:
	default:
		return nil, status.Error(codes.InvalidArgument, "unknown search mode")
	}
	ps, err := s.Searcher.Search(ctx, retrieve.Request{OrgID: org, Bot: r.GetBot(), KBs: r.GetKbs(), Query: r.GetQuery(),
		TopK: int(r.GetTopK()), MinScore: r.GetMinScore(), Mode: mode})
	if err != nil {
		return nil, s.grpcError(err)
	}
	out := &vectordbv1.SearchResponse{Model: s.Searcher.Embedder.Model()}
	for _, p := range ps {
		out.Passages = append(out.Passages, &vectordbv1.Passage{Text: p.Text, Path: p.Path, Kb: p.KB, Score: p.Score,
			Heading: p.Heading, ChunkId: p.ChunkID, DocumentId: p.DocumentID, Similarity: p.Similarity, Ordinal: int32(p.Ordinal)})
	}
	return out, nil
}

// ListKnowledgeBases implements VectordbService.
func (s *Server) ListKnowledgeBases(ctx context.Context, r *vectordbv1.ListKnowledgeBasesRequest) (*vectordbv1.ListKnowledgeBasesResponse, error) {
	org, err := orgOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := store.CheckBot(r.GetBot()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var stats []store.KBStats
	err = pg.InOrg(ctx, s.Pool, org, func(tx pgx.Tx) error {
		stats, err = store.Stats(ctx, tx, r.GetBot())
		return err
	})
	if err != nil {
		return nil, s.grpcError(err)
	}
	out := &vectordbv1.ListKnowledgeBasesResponse{}
	for _, st := range stats {
		progress := float32(1)
		if st.Documents > 0 {
			progress = float32(st.Indexed+st.Failed) / float32(st.Documents)
		}
		out.KnowledgeBases = append(out.KnowledgeBases, &vectordbv1.KnowledgeBase{Bot: r.GetBot(), Name: st.Name,
			Documents: int32(st.Documents), Queued: int32(st.Queued), InProgress: int32(st.InProgress),
			Indexed: int32(st.Indexed), Failed: int32(st.Failed), Chunks: int32(st.Chunks), Progress: progress,
			UpdatedAt: timestamppb.New(st.UpdatedAt)})
	}
	return out, nil
}

// ListDocuments implements VectordbService.
func (s *Server) ListDocuments(ctx context.Context, r *vectordbv1.ListDocumentsRequest) (*vectordbv1.ListDocumentsResponse, error) {
	org, err := orgOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := store.CheckBot(r.GetBot()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if r.GetKb() != "" {
		if err := store.CheckKB(r.GetKb()); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	size := int(r.GetPageSize())
	switch {
	case size < 0 || size > 1000:
		return nil, status.Error(codes.InvalidArgument, "page_size must be between 1 and 1000")
	case size == 0:
		size = 100
	}
	after := ""
	if tok := r.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad page_token")
		}
		after = string(b)
	}
	st := statusName(r.GetStatus())
	var docs []store.Document
	err = pg.InOrg(ctx, s.Pool, org, func(tx pgx.Tx) error {
		docs, err = store.ListDocuments(ctx, tx, r.GetBot(), r.GetKb(), st, after, size+1)
		return err
	})
	if err != nil {
		return nil, s.grpcError(err)
	}
	out := &vectordbv1.ListDocumentsResponse{}
	if len(docs) > size {
		docs = docs[:size]
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(docs[size-1].Path))
	}
	for _, d := range docs {
		out.Documents = append(out.Documents, documentProto(d))
	}
	return out, nil
}

// GetDocumentStatus implements VectordbService.
func (s *Server) GetDocumentStatus(ctx context.Context, r *vectordbv1.GetDocumentStatusRequest) (*vectordbv1.GetDocumentStatusResponse, error) {
	org, err := orgOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := store.CheckBot(r.GetBot()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if r.GetPath() == "" || len(r.GetPath()) > 1024 {
		return nil, status.Error(codes.InvalidArgument, "path is required (at most 1024 bytes)")
	}
	var d store.Document
	err = pg.InOrg(ctx, s.Pool, org, func(tx pgx.Tx) error {
		d, err = store.DocumentByPath(ctx, tx, r.GetBot(), r.GetPath())
		return err
	})
	if err != nil {
		return nil, s.grpcError(err)
	}
	return &vectordbv1.GetDocumentStatusResponse{Document: documentProto(d)}, nil
}

// ReindexDocuments implements VectordbService.
func (s *Server) ReindexDocuments(ctx context.Context, r *vectordbv1.ReindexDocumentsRequest) (*vectordbv1.ReindexDocumentsResponse, error) {
	org, err := orgOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := store.CheckBot(r.GetBot()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if r.GetKb() != "" {
		if err := store.CheckKB(r.GetKb()); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	var n int64
	err = pg.InOrg(ctx, s.Pool, org, func(tx pgx.Tx) error {
		n, err = ingest.Reindex(ctx, tx, r.GetBot(), r.GetKb(), r.GetPath(), r.GetFailedOnly())
		return err
	})
	if err != nil {
		return nil, s.grpcError(err)
	}
	if r.GetPath() != "" && n == 0 {
		return nil, status.Errorf(codes.NotFound, "no document %q to reindex (unknown, or being indexed now)", r.GetPath())
	}
	if n > 0 && s.Wake != nil {
		s.Wake()
	}
	return &vectordbv1.ReindexDocumentsResponse{Queued: int32(n)}, nil
}

var statusNames = map[vectordbv1.DocumentStatus]string{
	vectordbv1.DocumentStatus_DOCUMENT_STATUS_QUEUED:     store.StatusQueued,
	vectordbv1.DocumentStatus_DOCUMENT_STATUS_EXTRACTING: store.StatusExtracting,
	vectordbv1.DocumentStatus_DOCUMENT_STATUS_EMBEDDING:  store.StatusEmbedding,
	vectordbv1.DocumentStatus_DOCUMENT_STATUS_INDEXED:    store.StatusIndexed,
	vectordbv1.DocumentStatus_DOCUMENT_STATUS_FAILED:     store.StatusFailed,
}

func statusName(s vectordbv1.DocumentStatus) string { return statusNames[s] }

func statusEnum(s string) vectordbv1.DocumentStatus {
	for k, v := range statusNames {
		if v == s {
			return k
		}
	}
	return vectordbv1.DocumentStatus_DOCUMENT_STATUS_UNSPECIFIED
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func documentProto(d store.Document) *vectordbv1.Document {
	p := &vectordbv1.Document{Id: d.ID, Bot: d.Bot, Kb: d.KB, Path: d.Path, Hash: d.Hash, Size: d.Size,
		ContentType: d.ContentType, Status: statusEnum(d.Status), Error: d.Error, Attempts: int32(d.Attempts),
		Chunks: int32(d.Chunks), Truncated: d.Truncated, QueuedAt: timestamppb.New(d.QueuedAt),
		UpdatedAt: timestamppb.New(d.UpdatedAt), IndexedAt: ts(d.IndexedAt)}
	if d.Status == store.StatusQueued {
		p.NextAttemptAt = timestamppb.New(d.NextAttemptAt)
	}
	return p
}

// grpcError maps domain errors to status codes; anything else is Internal
// without details (no SQL to clients).
func (s *Server) grpcError(err error) error {
	var unknown *retrieve.UnknownKBError
	switch {
	case errors.Is(err, retrieve.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.As(err, &unknown):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, "document not found")
	case errors.Is(err, pg.ErrNoOrg):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "search took too long")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "cancelled")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if s.Log != nil {
		s.Log.Error("vectordb request failed", "err", err)
	}
	return status.Error(codes.Internal, "internal error")
}
