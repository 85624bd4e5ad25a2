-- Members in one order on both backends: the order users were created in. SQLite keys memberships by the users'
-- integer rid (its migration 005); here every user gets the same rid (existing users numbered in (tenant, id)
-- order, as SQLite's migration numbered them; new ones from a sequence), and each membership carries its user's
-- rid, so a group's members page by (tenant, group_id, member_rid) through an index, like SQLite's primary key.
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
CREATE UNIQUE INDEX group_members_order ON group_members (tenant, group_id, member_rid);
