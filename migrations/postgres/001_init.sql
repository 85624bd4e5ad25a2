-- scimbridge schema for PostgreSQL, first release: the same tables and columns as migrations/sqlite/001_init.sql.
-- Never edit a released migration: add a new file.
-- Timestamps are ISO-8601 UTC strings with milliseconds (TEXT, as on SQLite, so both backends share code paths).
-- *_lc columns hold JavaScript-lowercased copies for attributes the SCIM schema marks caseExact: false.
-- Text that is compared, sorted or range-scanned uses COLLATE "C" (code-point order, like SQLite's BINARY), so results
-- do not depend on the database's locale and prefix (sw) ranges can use the plain B-tree indexes.

CREATE TABLE users (
  tenant          TEXT COLLATE "C" NOT NULL,
  id              TEXT COLLATE "C" NOT NULL,
  user_name       TEXT COLLATE "C" NOT NULL,
  user_name_lc    TEXT COLLATE "C" NOT NULL,
  external_id     TEXT COLLATE "C",
  display_name    TEXT COLLATE "C",
  display_name_lc TEXT COLLATE "C",
  active          BOOLEAN NOT NULL DEFAULT TRUE,
  resource        JSONB   NOT NULL,            -- the SCIM resource without id, meta and schemas
  version         INTEGER NOT NULL DEFAULT 1,
  created         TEXT COLLATE "C" NOT NULL,
  modified        TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX users_user_name ON users (tenant, user_name_lc);
CREATE INDEX users_external_id ON users (tenant, external_id);
CREATE INDEX users_display_name ON users (tenant, display_name_lc);
CREATE INDEX users_created ON users (tenant, created, id);
CREATE INDEX users_modified ON users (tenant, modified);

CREATE TABLE user_emails (
  tenant     TEXT COLLATE "C" NOT NULL,
  user_id    TEXT COLLATE "C" NOT NULL,
  value_lc   TEXT COLLATE "C" NOT NULL,
  value      TEXT COLLATE "C" NOT NULL,
  type       TEXT COLLATE "C",
  is_primary BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (tenant, user_id, value_lc),
  FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE INDEX user_emails_value ON user_emails (tenant, value_lc);

CREATE TABLE groups (
  tenant          TEXT COLLATE "C" NOT NULL,
  id              TEXT COLLATE "C" NOT NULL,
  display_name    TEXT COLLATE "C" NOT NULL,
  display_name_lc TEXT COLLATE "C" NOT NULL,
  external_id     TEXT COLLATE "C",
  resource        JSONB   NOT NULL,            -- the SCIM resource without id, meta, schemas and members
  version         INTEGER NOT NULL DEFAULT 1,
  created         TEXT COLLATE "C" NOT NULL,
  modified        TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX groups_display_name ON groups (tenant, display_name_lc);
CREATE INDEX groups_external_id ON groups (tenant, external_id);
CREATE INDEX groups_created ON groups (tenant, created, id);
CREATE INDEX groups_modified ON groups (tenant, modified);

-- Members live in their own table: membership changes are set operations whose cost follows the change.
CREATE TABLE group_members (
  tenant    TEXT COLLATE "C" NOT NULL,
  group_id  TEXT COLLATE "C" NOT NULL,
  member_id TEXT COLLATE "C" NOT NULL,
  added     TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant, group_id, member_id),
  FOREIGN KEY (tenant, group_id) REFERENCES groups (tenant, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant, member_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE INDEX group_members_member ON group_members (tenant, member_id);

-- Change events, written in the same transaction as the change they describe.
-- txid: the writing transaction (see src/store/postgres/egress.ts for why ingest needs it).
CREATE TABLE outbox (
  seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant     TEXT  NOT NULL,
  aggregate  TEXT  NOT NULL,                  -- 'group:<id>' or 'user:<id>'
  type       TEXT  NOT NULL,
  payload    JSONB NOT NULL,
  created    TEXT  NOT NULL,
  txid       XID8  NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX outbox_tenant ON outbox (tenant, seq);
CREATE INDEX outbox_txid ON outbox (tenant, txid);

CREATE TABLE revoked_tokens (
  jti     TEXT PRIMARY KEY,
  until   TEXT,                               -- the token's own expiry; NULL when unknown
  revoked TEXT NOT NULL
);
