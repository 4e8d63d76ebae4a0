// Package qdranttest is an in-process server speaking Qdrant's gRPC API
// (the go-client's generated service interfaces) for the calls the adapter
// makes: collections (create, get, exists, delete), payload indexes, and
// points (upsert, delete by id or keyword filter, dense nearest query with
// cosine distance). Errors follow Qdrant's: NotFound for a missing
// collection, InvalidArgument for a wrong vector size or a duplicate
// collection. It stands in for a Qdrant server, which cannot be installed
// on this machine.
package qdranttest

import (
	"cmp"
	"context"
	"math"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Server is the in-memory Qdrant.
type Server struct {
	qdrant.UnimplementedCollectionsServer
	mu     sync.Mutex
	apiKey string // when set, calls must carry it in "api-key"
	colls  map[string]*collection
	Calls  map[string]int // per method, for tests that count requests
}

type collection struct {
	size    int
	indexes map[string]bool
	points  map[string]point
}

type point struct {
	vec     []float32
	payload map[string]*qdrant.Value
}

// Start serves on a loopback port until the test ends; it returns the
// server and its URL (http://127.0.0.1:port).
func Start(t testing.TB, apiKey string) (*Server, string) {
	t.Helper()
	s := &Server{apiKey: apiKey, colls: map[string]*collection{}, Calls: map[string]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(s.auth))
	qdrant.RegisterCollectionsServer(gs, s)
	qdrant.RegisterPointsServer(gs, pointsServer{s: s})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return s, "http://" + lis.Addr().String()
}

func (s *Server) auth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	s.Calls[info.FullMethod]++
	key := s.apiKey
	s.mu.Unlock()
	if key != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		if k := md.Get("api-key"); len(k) != 1 || k[0] != key {
			return nil, status.Error(codes.PermissionDenied, "Invalid api-key")
		}
	}
	return h(ctx, req)
}

func notFound(name string) error {
	return status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
}

// SetAPIKey changes the key calls must carry.
func (s *Server) SetAPIKey(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = k
}

// Names lists the collections.
func (s *Server) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.colls {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Indexes lists a collection's payload indexes.
func (s *Server) Indexes(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if c := s.colls[name]; c != nil {
		for f := range c.indexes {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Server) Create(_ context.Context, r *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.colls[r.GetCollectionName()]; ok {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Collection `%s` already exists!", r.GetCollectionName())
	}
	p := r.GetVectorsConfig().GetParams()
	if p == nil || p.GetSize() == 0 || p.GetDistance() != qdrant.Distance_Cosine {
		return nil, status.Error(codes.InvalidArgument, "this test server supports one unnamed cosine vector")
	}
	s.colls[r.GetCollectionName()] = &collection{size: int(p.GetSize()), indexes: map[string]bool{}, points: map[string]point{}}
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

func (s *Server) Get(_ context.Context, r *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.colls[r.GetCollectionName()]
	if !ok {
		return nil, notFound(r.GetCollectionName())
	}
	n := uint64(len(c.points))
	return &qdrant.GetCollectionInfoResponse{Result: &qdrant.CollectionInfo{Status: qdrant.CollectionStatus_Green,
		PointsCount: &n, Config: &qdrant.CollectionConfig{Params: &qdrant.CollectionParams{
			VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(c.size), Distance: qdrant.Distance_Cosine})}}}}, nil
}

func (s *Server) CollectionExists(_ context.Context, r *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.colls[r.GetCollectionName()]
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}}, nil
}

func (s *Server) Delete(_ context.Context, r *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.colls[r.GetCollectionName()]
	delete(s.colls, r.GetCollectionName())
	return &qdrant.CollectionOperationResponse{Result: ok}, nil
}

func done() *qdrant.PointsOperationResponse {
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed}}
}

func (s *Server) createFieldIndex(_ context.Context, r *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.colls[r.GetCollectionName()]
	if !ok {
		return nil, notFound(r.GetCollectionName())
	}
	c.indexes[r.GetFieldName()] = true
	return done(), nil
}

func denseOf(v *qdrant.Vectors) []float32 {
	vec := v.GetVector()
	if d := vec.GetDense(); d != nil {
		return d.GetData()
	}
	return vec.GetData() //nolint:staticcheck // older clients send the deprecated field
}

func (s *Server) upsert(_ context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.colls[r.GetCollectionName()]
	if !ok {
		return nil, notFound(r.GetCollectionName())
	}
	for _, p := range r.GetPoints() {
		id := p.GetId().GetUuid()
		v := denseOf(p.GetVectors())
		if id == "" {
			return nil, status.Error(codes.InvalidArgument, "Wrong input: point id must be a uuid here")
		}
		if len(v) != c.size {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.size, len(v))
		}
		c.points[id] = point{vec: normalised(v), payload: p.GetPayload()}
	}
	return done(), nil
}

func normalised(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if sum == 0 {
		return out
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// matches evaluates the filters the adapter uses: Must of keyword matches.
func matches(f *qdrant.Filter, p point) bool {
	for _, c := range f.GetMust() {
		fc := c.GetField()
		if fc == nil || p.payload[fc.GetKey()].GetStringValue() != fc.GetMatch().GetKeyword() {
			return false
		}
	}
	return true
}

// pointsServer is the Points service (its Delete clashes with the
// Collections service's, hence a type of its own).
type pointsServer struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

func (p pointsServer) Upsert(ctx context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	return p.s.upsert(ctx, r)
}

func (p pointsServer) Delete(ctx context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	return p.s.deletePoints(ctx, r)
}

func (p pointsServer) CreateFieldIndex(ctx context.Context, r *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	return p.s.createFieldIndex(ctx, r)
}

func (p pointsServer) Query(ctx context.Context, r *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	return p.s.query(ctx, r)
}

func (s *Server) deletePoints(_ context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.colls[r.GetCollectionName()]
	if !ok {
		return nil, notFound(r.GetCollectionName())
	}
	sel := r.GetPoints()
	if f := sel.GetFilter(); f != nil {
		for id, p := range c.points {
			if matches(f, p) {
				delete(c.points, id)
			}
		}
	}
	for _, id := range sel.GetPoints().GetIds() {
		delete(c.points, id.GetUuid())
	}
	return done(), nil
}

func (s *Server) query(_ context.Context, r *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.colls[r.GetCollectionName()]
	if !ok {
		return nil, notFound(r.GetCollectionName())
	}
	q := r.GetQuery().GetNearest().GetDense().GetData()
	if len(q) != c.size {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.size, len(q))
	}
	q = normalised(q)
	var out []*qdrant.ScoredPoint
	for id, p := range c.points {
		if r.GetFilter() != nil && !matches(r.GetFilter(), p) {
			continue
		}
		var dot float32
		for i := range q {
			dot += q[i] * p.vec[i]
		}
		out = append(out, &qdrant.ScoredPoint{Id: qdrant.NewID(id), Score: dot})
	}
	slices.SortFunc(out, func(a, b *qdrant.ScoredPoint) int {
		if c := cmp.Compare(b.GetScore(), a.GetScore()); c != 0 {
			return c
		}
		return cmp.Compare(a.GetId().GetUuid(), b.GetId().GetUuid())
	})
	limit := int(r.GetLimit())
	if limit == 0 {
		limit = 10
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return &qdrant.QueryResponse{Result: out}, nil
}
