package botauth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// Groups: named sets of an org's members holding roles. A member's
// effective roles (rolesOf) are their own plus their groups'; tokens issued
// after a change carry them. Every change that gives or takes permissions
// (a group's roles, joining or leaving a group holding roles, deleting
// such a group) needs the caller to hold those permissions (grants), as
// for a member's own roles.

const (
	maxGroupName        = 100
	maxGroupDescription = 1000
	maxGroupRoles       = 20
)

func groupName(v string) (string, error) {
	n, err := checkName("name", v, maxGroupName)
	if err != nil || n == "" {
		return "", invalid("group name must be 1 to %d characters on one line", maxGroupName)
	}
	return n, nil
}

func groupDescription(v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) > maxGroupDescription || strings.ContainsRune(v, 0) {
		return "", invalid("group description must have at most %d characters", maxGroupDescription)
	}
	return v, nil
}

// scanGroups reads the tx's org's groups with their role names and member
// counts; where filters on alias g.
func scanGroups(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]*authv1.Group, error) {
	rows, err := tx.Query(ctx, `SELECT g.id, g.name, g.description, g.created_at, g.updated_at,
			coalesce((SELECT array_agg(r.name ORDER BY r.name) FROM auth.group_roles gr JOIN auth.roles r ON r.id = gr.role_id
				WHERE gr.group_id = g.id), '{}'),
			(SELECT count(*) FROM auth.group_members gm WHERE gm.group_id = g.id)::int
		FROM auth.groups g `+where+` ORDER BY lower(g.name) LIMIT 10000`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*authv1.Group
	for rows.Next() {
		g := &authv1.Group{}
		var created, updated time.Time
		if err := rows.Scan(&g.Id, &g.Name, &g.Description, &created, &updated, &g.Roles, &g.MemberCount); err != nil {
			return nil, err
		}
		g.CreatedAt, g.UpdatedAt = ts(created), ts(updated)
		out = append(out, g)
	}
	return out, rows.Err()
}

func getGroup(ctx context.Context, tx pgx.Tx, gid uuid.UUID) (*authv1.Group, error) {
	gs, err := scanGroups(ctx, tx, `WHERE g.id = $1`, gid)
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, notFound("group")
	}
	return gs[0], nil
}

// lockGroup locks a group of the tx's org for a change and returns its
// roles and their permissions; another org's group is NotFound.
func lockGroup(ctx context.Context, tx pgx.Tx, gid uuid.UUID) (roles, perms []string, err error) {
	var id string
	err = tx.QueryRow(ctx, `SELECT id FROM auth.groups WHERE id = $1 FOR UPDATE`, gid).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound("group")
	}
	if err != nil {
		return nil, nil, err
	}
	return scanRolePerms(ctx, tx, `SELECT r.name, r.permissions FROM auth.group_roles gr JOIN auth.roles r ON r.id = gr.role_id
		WHERE gr.group_id = $1 ORDER BY r.name`, gid)
}

func (s *server) groupEvent(ctx context.Context, tx pgx.Tx, subject string, id *authz.Identity, g *authv1.Group) error {
	return s.event(ctx, tx, subject, &authv1.GroupEvent{GroupId: g.Id, OrgId: id.OrgID, Name: g.Name, Description: g.Description,
		Roles: g.Roles, Actor: actor(id), At: timestamppb.New(s.now())})
}

func groupExists(err error, name string) error {
	if status.Code(err) == codes.AlreadyExists {
		return status.Errorf(codes.AlreadyExists, "a group named %q exists", name)
	}
	return err
}

func (s *server) CreateGroup(ctx context.Context, req *authv1.CreateGroupRequest) (*authv1.CreateGroupResponse, error) {
	name, err := groupName(req.GetName())
	if err != nil {
		return nil, err
	}
	desc, err := groupDescription(req.GetDescription())
	if err != nil {
		return nil, err
	}
	resp := &authv1.CreateGroupResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		gid := uuid.New()
		if _, err := tx.Exec(ctx, `INSERT INTO auth.groups (id, org_id, name, description) VALUES ($1, $2, $3, $4)`, gid, id.OrgID, name, desc); err != nil {
			return err
		}
		if resp.Group, err = getGroup(ctx, tx, gid); err != nil {
			return err
		}
		return s.groupEvent(ctx, tx, "bot.auth.group.created", id, resp.Group)
	})
	return resp, groupExists(err, name)
}

func (s *server) ListGroups(ctx context.Context, _ *authv1.ListGroupsRequest) (*authv1.ListGroupsResponse, error) {
	resp := &authv1.ListGroupsResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) (err error) {
		resp.Groups, err = scanGroups(ctx, tx, "")
		return err
	})
	return resp, err
}

func (s *server) GetGroup(ctx context.Context, req *authv1.GetGroupRequest) (*authv1.GetGroupResponse, error) {
	gid, err := parseID(req.GetGroupId(), "group")
	if err != nil {
		return nil, err
	}
	resp := &authv1.GetGroupResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		if resp.Group, err = getGroup(ctx, tx, gid); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT u.id, u.email, u.display_name, u.status, u.created_at, gm.created_at
			FROM auth.group_members gm JOIN auth.users u ON u.id = gm.user_id
			WHERE gm.group_id = $1 ORDER BY u.email LIMIT 10000`, gid)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u := &authv1.User{}
			var created, added time.Time
			if err := rows.Scan(&u.Id, &u.Email, &u.DisplayName, &u.Status, &created, &added); err != nil {
				return err
			}
			u.CreatedAt = ts(created)
			resp.Members = append(resp.Members, &authv1.GroupMember{User: u, AddedAt: ts(added)})
		}
		return rows.Err()
	})
	return resp, err
}

func (s *server) UpdateGroup(ctx context.Context, req *authv1.UpdateGroupRequest) (*authv1.UpdateGroupResponse, error) {
	gid, err := parseID(req.GetGroupId(), "group")
	if err != nil {
		return nil, err
	}
	var name, desc *string
	if req.Name != nil {
		n, err := groupName(req.GetName())
		if err != nil {
			return nil, err
		}
		name = &n
	}
	if req.Description != nil {
		d, err := groupDescription(req.GetDescription())
		if err != nil {
			return nil, err
		}
		desc = &d
	}
	resp := &authv1.UpdateGroupResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		tag, err := tx.Exec(ctx, `UPDATE auth.groups SET name = coalesce($2, name), description = coalesce($3, description), updated_at = now()
			WHERE id = $1`, gid, name, desc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("group")
		}
		if resp.Group, err = getGroup(ctx, tx, gid); err != nil {
			return err
		}
		if name == nil && desc == nil {
			return nil
		}
		return s.groupEvent(ctx, tx, "bot.auth.group.updated", id, resp.Group)
	})
	if name != nil {
		err = groupExists(err, *name)
	}
	return resp, err
}

func (s *server) DeleteGroup(ctx context.Context, req *authv1.DeleteGroupRequest) (*authv1.DeleteGroupResponse, error) {
	gid, err := parseID(req.GetGroupId(), "group")
	if err != nil {
		return nil, err
	}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		roles, perms, err := lockGroup(ctx, tx, gid)
		if err != nil {
			return err
		}
		// Deleting takes the group's permissions from its members.
		if err := grants(id, perms); err != nil {
			return err
		}
		g, err := getGroup(ctx, tx, gid)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.groups WHERE id = $1`, gid); err != nil {
			return err
		}
		if err := s.groupEvent(ctx, tx, "bot.auth.group.deleted", id, g); err != nil {
			return err
		}
		if len(roles) == 0 || g.MemberCount == 0 {
			return nil
		}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: id.OrgID, GroupId: g.Id,
			Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return &authv1.DeleteGroupResponse{}, err
}

// changeGroupMember adds (add) or removes a member of a group.
func (s *server) changeGroupMember(ctx context.Context, groupID, userID string, add bool) (*authv1.Group, error) {
	gid, err := parseID(groupID, "group")
	if err != nil {
		return nil, err
	}
	uid, err := parseID(userID, "member")
	if err != nil {
		return nil, err
	}
	var g *authv1.Group
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		_, perms, err := lockGroup(ctx, tx, gid)
		if err != nil {
			return err
		}
		var member bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.memberships WHERE user_id = $1)`, uid).Scan(&member); err != nil {
			return err
		}
		if !member {
			return notFound("member")
		}
		// Joining gives the group's permissions, leaving takes them.
		if err := grants(id, perms); err != nil {
			return err
		}
		var tag pgconn.CommandTag
		if add {
			tag, err = tx.Exec(ctx, `INSERT INTO auth.group_members (org_id, group_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				id.OrgID, gid, uid)
		} else {
			tag, err = tx.Exec(ctx, `DELETE FROM auth.group_members WHERE group_id = $1 AND user_id = $2`, gid, uid)
			if err == nil && tag.RowsAffected() == 0 {
				return status.Error(codes.NotFound, "the member is not in this group")
			}
		}
		if err != nil {
			return err
		}
		if g, err = getGroup(ctx, tx, gid); err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // already in the group: nothing changed
		}
		roles, perms, err := rolesOf(ctx, tx, uid.String())
		if err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: id.OrgID, UserId: uid.String(), GroupId: g.Id,
			Roles: roles, Permissions: perms, Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return g, err
}

func (s *server) AddGroupMember(ctx context.Context, req *authv1.AddGroupMemberRequest) (*authv1.AddGroupMemberResponse, error) {
	g, err := s.changeGroupMember(ctx, req.GetGroupId(), req.GetUserId(), true)
	return &authv1.AddGroupMemberResponse{Group: g}, err
}

func (s *server) RemoveGroupMember(ctx context.Context, req *authv1.RemoveGroupMemberRequest) (*authv1.RemoveGroupMemberResponse, error) {
	g, err := s.changeGroupMember(ctx, req.GetGroupId(), req.GetUserId(), false)
	return &authv1.RemoveGroupMemberResponse{Group: g}, err
}

func (s *server) SetGroupRoles(ctx context.Context, req *authv1.SetGroupRolesRequest) (*authv1.SetGroupRolesResponse, error) {
	gid, err := parseID(req.GetGroupId(), "group")
	if err != nil {
		return nil, err
	}
	roles := slices.Compact(slices.Sorted(slices.Values(req.GetRoles())))
	if len(roles) > maxGroupRoles {
		return nil, invalid("at most %d roles", maxGroupRoles)
	}
	resp := &authv1.SetGroupRolesResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		old, oldPerms, err := lockGroup(ctx, tx, gid)
		if err != nil {
			return err
		}
		newPerms, err := rolePerms(ctx, tx, roles)
		if err != nil {
			return err
		}
		// Granting and taking away both need the permissions involved.
		if err := grants(id, append(newPerms, oldPerms...)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.group_roles WHERE group_id = $1`, gid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO auth.group_roles (org_id, group_id, role_id)
			SELECT $1, $2, id FROM auth.roles WHERE name = ANY($3)`, id.OrgID, gid, roles); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE auth.groups SET updated_at = now() WHERE id = $1`, gid); err != nil {
			return err
		}
		if resp.Group, err = getGroup(ctx, tx, gid); err != nil {
			return err
		}
		slices.Sort(old)
		if slices.Equal(old, roles) {
			return nil
		}
		_, perms, err := scanRolePerms(ctx, tx, `SELECT name, permissions FROM auth.roles WHERE name = ANY($1)`, roles)
		if err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: id.OrgID, GroupId: gid.String(), Roles: roles,
			Permissions: perms, Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return resp, err
}
