-- Memberships keyed by integer rids, as on SQLite (its migration 005), so both backends list members in one order:
-- the order users were created in. Every user gets a rid (existing users numbered in (tenant, id) order, as
-- SQLite's migration numbered them; new ones from a sequence). A membership is (tenant, group_id, member_rid): its
-- primary key pages a group's members in rid order, and its foreign key and reverse index are one bigint instead
-- of (tenant, member_id) text. member_id stays as data (what members answer); inserts resolve ids to rids under
-- the tenant, so every membership stays tenant-scoped.
ALTER TABLE users ADD COLUMN rid BIGINT;
UPDATE users u SET rid = n.rid
  FROM (SELECT tenant, id, row_number() OVER (ORDER BY tenant, id) AS rid FROM users) n
  WHERE u.tenant = n.tenant AND u.id = n.id;
CREATE SEQUENCE users_rid_seq OWNED BY users.rid;
SELECT setval('users_rid_seq', COALESCE((SELECT MAX(rid) FROM users), 0) + 1, false);
ALTER TABLE users ALTER COLUMN rid SET DEFAULT nextval('users_rid_seq');
ALTER TABLE users ALTER COLUMN rid SET NOT NULL;
CREATE UNIQUE INDEX users_rid ON users (rid);

ALTER TABLE group_members ADD COLUMN member_rid BIGINT;
UPDATE group_members m SET member_rid = u.rid FROM users u WHERE u.tenant = m.tenant AND u.id = m.member_id;
ALTER TABLE group_members ALTER COLUMN member_rid SET NOT NULL;
ALTER TABLE group_members DROP CONSTRAINT group_members_pkey;
ALTER TABLE group_members ADD CONSTRAINT group_members_pkey PRIMARY KEY (tenant, group_id, member_rid);
ALTER TABLE group_members DROP CONSTRAINT group_members_tenant_member_id_fkey;
ALTER TABLE group_members ADD CONSTRAINT group_members_member_fkey FOREIGN KEY (member_rid) REFERENCES users (rid) ON DELETE CASCADE;
DROP INDEX group_members_member;
CREATE INDEX group_members_member ON group_members (member_rid);
