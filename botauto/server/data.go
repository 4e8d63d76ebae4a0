package server

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botauto/store"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

func checkScope(scope, owner string) error {
	switch scope {
	case store.ScopeBot:
		if owner != "" {
			return status.Error(codes.InvalidArgument, "bot memories have no owner")
		}
	case store.ScopeUser, store.ScopeConversation:
		if owner == "" || len(owner) > 128 {
			return status.Errorf(codes.InvalidArgument, "%s memories need an owner (1 to 128 characters)", scope)
		}
	default:
		return status.Error(codes.InvalidArgument, "scope must be bot, user or conversation")
	}
	return nil
}

// ListMemories implements autov1.AutoServiceServer.
func (s *Server) ListMemories(ctx context.Context, req *autov1.ListMemoriesRequest) (*autov1.ListMemoriesResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	if err := checkScope(req.Scope, req.Owner); err != nil {
		return nil, err
	}
	ms, err := s.store.ListMemories(ctx, id.OrgID, req.Bot, req.Scope, req.Owner)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "memories: %v", err)
	}
	resp := &autov1.ListMemoriesResponse{}
	for _, m := range ms {
		pm := &autov1.Memory{Key: m.Key, ValueJson: string(m.Value), UpdatedAt: timestamppb.New(m.UpdatedAt)}
		if m.ExpiresAt != nil {
			pm.ExpiresAt = timestamppb.New(*m.ExpiresAt)
		}
		resp.Memories = append(resp.Memories, pm)
	}
	return resp, nil
}

// SetMemory implements autov1.AutoServiceServer.
func (s *Server) SetMemory(ctx context.Context, req *autov1.SetMemoryRequest) (*autov1.SetMemoryResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	if err := checkScope(req.Scope, req.Owner); err != nil {
		return nil, err
	}
	key := strings.ToLower(strings.TrimSpace(req.Key))
	if key == "" || len(key) > 200 {
		return nil, status.Error(codes.InvalidArgument, "key must be 1 to 200 characters")
	}
	if req.ValueJson == "" {
		err = s.store.DeleteMemory(ctx, id.OrgID, req.Bot, req.Scope, req.Owner, key)
	} else {
		if !json.Valid([]byte(req.ValueJson)) {
			return nil, status.Error(codes.InvalidArgument, "value_json is not JSON")
		}
		if req.TtlSeconds < 0 {
			return nil, status.Error(codes.InvalidArgument, "ttl_seconds must be >= 0")
		}
		err = s.store.SetMemory(ctx, id.OrgID, req.Bot, req.Scope, req.Owner, key, json.RawMessage(req.ValueJson), time.Duration(req.TtlSeconds)*time.Second)
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "memory: %v", err)
	}
	return &autov1.SetMemoryResponse{}, nil
}

// ListTables implements autov1.AutoServiceServer.
func (s *Server) ListTables(ctx context.Context, req *autov1.ListTablesRequest) (*autov1.ListTablesResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	l, err := s.current(ctx, id.OrgID, req.Bot)
	if err != nil {
		return nil, err
	}
	resp := &autov1.ListTablesResponse{}
	for _, t := range l.tables {
		pt := &autov1.Table{Name: t.Name}
		for _, f := range t.Fields {
			pt.Fields = append(pt.Fields, &autov1.TableField{Name: f.Name, Type: f.Type, MaxLength: int32(f.MaxLen)})
		}
		resp.Tables = append(resp.Tables, pt)
	}
	sort.Slice(resp.Tables, func(i, j int) bool { return resp.Tables[i].Name < resp.Tables[j].Name })
	return resp, nil
}

// QueryTable implements autov1.AutoServiceServer.
func (s *Server) QueryTable(ctx context.Context, req *autov1.QueryTableRequest) (*autov1.QueryTableResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	l, err := s.current(ctx, id.OrgID, req.Bot)
	if err != nil {
		return nil, err
	}
	t, ok := l.tables[strings.ToLower(req.Table)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "bot %s has no table %s", req.Bot, req.Table)
	}
	conds, err := t.Filter(req.Filter)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	limit := int(req.Limit)
	if limit <= 0 {
		limit = 100
	}
	if limit > store.MaxRows {
		return nil, status.Errorf(codes.InvalidArgument, "limit: at most %d", store.MaxRows)
	}
	rows, err := s.store.FindRows(ctx, id.OrgID, req.Bot, t.Name, conds, limit)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "rows: %v", err)
	}
	resp := &autov1.QueryTableResponse{}
	for _, r := range rows {
		data, err := json.Marshal(t.Value(r).GoValue())
		if err != nil {
			return nil, status.Errorf(codes.Internal, "row: %v", err)
		}
		resp.RowsJson = append(resp.RowsJson, string(data))
	}
	return resp, nil
}
