-- Memberships keyed by integer row keys instead of (tenant, group id, user id) text.
-- A group_members row was about 100 bytes of UUID text (and its reverse index as much again), so adding 10,000
-- members to a tenant of 100,000 memberships rewrote most pages of that index: measured, the insert and its WAL
-- commit were two thirds of a 10,000-member PATCH. Two integers make both the table and the reverse index about
-- ten times smaller. users and groups get a stable integer key (rid, never reused: AUTOINCREMENT) and keep
-- (tenant, id) unique; the store resolves ids to rids under the tenant, so every membership stays tenant-scoped.
-- Runs with foreign_keys off (migrate.ts), as SQLite's table-rebuild procedure asks: dropping the old users
-- table must not cascade to user_emails, whose foreign key names users (tenant, id) and still holds afterwards.

CREATE TABLE users_next (
  rid           INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant        TEXT    NOT NULL,
  id            TEXT    NOT NULL,
  user_name     TEXT    NOT NULL,
  user_name_lc  TEXT    NOT NULL,
  external_id   TEXT,
  display_name  TEXT,
  display_name_lc TEXT,
  active        INTEGER NOT NULL DEFAULT 1,
  resource      TEXT    NOT NULL,
  version       INTEGER NOT NULL DEFAULT 1,
  created       TEXT    NOT NULL,
  modified      TEXT    NOT NULL,
  UNIQUE (tenant, id)
);
INSERT INTO users_next (tenant, id, user_name, user_name_lc, external_id, display_name, display_name_lc, active,
  resource, version, created, modified)
  SELECT tenant, id, user_name, user_name_lc, external_id, display_name, display_name_lc, active,
    resource, version, created, modified
  FROM users ORDER BY tenant, id;

CREATE TABLE groups_next (
  rid           INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant        TEXT    NOT NULL,
  id            TEXT    NOT NULL,
  display_name  TEXT    NOT NULL,
  display_name_lc TEXT  NOT NULL,
  external_id   TEXT,
  resource      TEXT    NOT NULL,
  version       INTEGER NOT NULL DEFAULT 1,
  created       TEXT    NOT NULL,
  modified      TEXT    NOT NULL,
  UNIQUE (tenant, id)
);
INSERT INTO groups_next (tenant, id, display_name, display_name_lc, external_id, resource, version, created, modified)
  SELECT tenant, id, display_name, display_name_lc, external_id, resource, version, created, modified
  FROM groups ORDER BY tenant, id;

CREATE TABLE group_members_next (
  group_rid INTEGER NOT NULL,
  user_rid  INTEGER NOT NULL,
  PRIMARY KEY (group_rid, user_rid)
) WITHOUT ROWID;
INSERT INTO group_members_next (group_rid, user_rid)
  SELECT g.rid, u.rid FROM group_members m
  JOIN groups_next g ON g.tenant = m.tenant AND g.id = m.group_id
  JOIN users_next u ON u.tenant = m.tenant AND u.id = m.member_id
  ORDER BY g.rid, u.rid;

DROP TABLE group_members;
DROP TABLE users;
DROP TABLE groups;
ALTER TABLE users_next RENAME TO users;
ALTER TABLE groups_next RENAME TO groups;
ALTER TABLE group_members_next RENAME TO group_members;

CREATE UNIQUE INDEX users_user_name ON users (tenant, user_name_lc);
CREATE INDEX users_external_id ON users (tenant, external_id);
CREATE INDEX users_display_name ON users (tenant, display_name_lc);
CREATE INDEX users_created ON users (tenant, created, id);
CREATE INDEX users_modified ON users (tenant, modified);
CREATE INDEX groups_display_name ON groups (tenant, display_name_lc);
CREATE INDEX groups_external_id ON groups (tenant, external_id);
CREATE INDEX groups_created ON groups (tenant, created, id);
CREATE INDEX groups_modified ON groups (tenant, modified);
-- The groups of a user (user deletes, filters); the primary key serves the members of a group.
CREATE INDEX group_members_user ON group_members (user_rid);
