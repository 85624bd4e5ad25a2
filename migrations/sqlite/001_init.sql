-- scimbridge schema, first release. Never edit a released migration: add a new file.
-- Timestamps are ISO-8601 UTC strings with milliseconds (sortable as text).
-- *_lc columns hold JavaScript-lowercased copies for attributes the SCIM schema marks caseExact: false,
-- so case-insensitive filters and uniqueness behave the same on every backend and for non-ASCII text.

CREATE TABLE users (
  tenant        TEXT    NOT NULL,
  id            TEXT    NOT NULL,
  user_name     TEXT    NOT NULL,
  user_name_lc  TEXT    NOT NULL,
  external_id   TEXT,
  display_name  TEXT,
  display_name_lc TEXT,
  active        INTEGER NOT NULL DEFAULT 1,
  resource      TEXT    NOT NULL,            -- the SCIM resource JSON without id, meta and schemas
  version       INTEGER NOT NULL DEFAULT 1,
  created       TEXT    NOT NULL,
  modified      TEXT    NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX users_user_name ON users (tenant, user_name_lc);
CREATE INDEX users_external_id ON users (tenant, external_id);
CREATE INDEX users_display_name ON users (tenant, display_name_lc);
CREATE INDEX users_created ON users (tenant, created, id);
CREATE INDEX users_modified ON users (tenant, modified);

CREATE TABLE user_emails (
  tenant    TEXT NOT NULL,
  user_id   TEXT NOT NULL,
  value_lc  TEXT NOT NULL,
  value     TEXT NOT NULL,
  type      TEXT,
  is_primary INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, user_id, value_lc),
  FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX user_emails_value ON user_emails (tenant, value_lc);

CREATE TABLE groups (
  tenant        TEXT    NOT NULL,
  id            TEXT    NOT NULL,
  display_name  TEXT    NOT NULL,
  display_name_lc TEXT  NOT NULL,
  external_id   TEXT,
  resource      TEXT    NOT NULL,            -- the SCIM resource JSON without id, meta, schemas and members
  version       INTEGER NOT NULL DEFAULT 1,
  created       TEXT    NOT NULL,
  modified      TEXT    NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX groups_display_name ON groups (tenant, display_name_lc);
CREATE INDEX groups_external_id ON groups (tenant, external_id);
CREATE INDEX groups_created ON groups (tenant, created, id);
CREATE INDEX groups_modified ON groups (tenant, modified);

-- Members live in their own table: membership changes are set operations whose cost follows the change.
CREATE TABLE group_members (
  tenant    TEXT NOT NULL,
  group_id  TEXT NOT NULL,
  member_id TEXT NOT NULL,
  added     TEXT NOT NULL,
  PRIMARY KEY (tenant, group_id, member_id),
  FOREIGN KEY (tenant, group_id) REFERENCES groups (tenant, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant, member_id) REFERENCES users (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX group_members_member ON group_members (tenant, member_id);

-- Change events, written in the same transaction as the change they describe.
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant     TEXT NOT NULL,
  aggregate  TEXT NOT NULL,                  -- 'group:<id>' or 'user:<id>'
  type       TEXT NOT NULL,
  payload    TEXT NOT NULL,
  created    TEXT NOT NULL
);
CREATE INDEX outbox_tenant ON outbox (tenant, seq);

CREATE TABLE revoked_tokens (
  jti     TEXT PRIMARY KEY,
  until   TEXT,                              -- the token's own expiry; NULL when unknown
  revoked TEXT NOT NULL
);
