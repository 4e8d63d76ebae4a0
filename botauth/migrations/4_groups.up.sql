-- Groups: named sets of an org's members that hold roles. A member's
-- effective roles are their own (member_roles) plus their groups' roles.
-- The composite foreign keys carry org_id, so a row can only ever link a
-- group, member and role of the same org (foreign key checks ignore RLS).

ALTER TABLE roles ADD CONSTRAINT roles_org_id_id UNIQUE (org_id, id);

CREATE TABLE groups (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX groups_name ON groups (org_id, lower(name));
ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON groups
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE group_members (
    org_id     uuid NOT NULL,
    group_id   uuid NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
    -- Leaving the org leaves its groups.
    FOREIGN KEY (org_id, user_id) REFERENCES memberships ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (org_id, user_id);
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON group_members
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE group_roles (
    org_id     uuid NOT NULL,
    group_id   uuid NOT NULL,
    role_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, group_id, role_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, role_id) REFERENCES roles (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_roles_role ON group_roles (org_id, role_id);
ALTER TABLE group_roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON group_roles
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
