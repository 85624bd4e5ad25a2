// The statement behind PostgreSQL's group commit of member changes (member-batch.ts): several requests' adds and
// removes of members, over one or more groups of one tenant, in one autocommit statement. Each request keeps its
// own answer, version, events and audit record. The batcher guarantees that no two requests of a batch name the
// same (group, member) pair, so that the statement's single snapshot gives every request what it would have seen
// alone, in batch order.
//
// Parameters: $1 tenant, $2 time, $3 ids per event;
//   per request (arrays of equal length, request n is element n): $4 group ids, $5 ops ('add' | 'remove'),
//   $6 audited, $7 subjects, $8 jtis, $9 mounts, $10 operations, $11 request ids;
//   per requested member (arrays of equal length): $12 request numbers (1-based), $13 member ids.
// Answers one row per request, in request order: n; missing (ids naming no user of the tenant, for an add: nothing
// of that request is applied); changed (ids actually added or removed, sorted; null for none); grp (the group as
// locked, before this batch; null when there is no such group); version (the group's version once this request and
// the ones before it in the batch are applied).
//
// Locks: the groups are locked (FOR NO KEY UPDATE, in id order, so two batches over the same groups on two replicas
// never wait on each other in a circle) before any member row is written: the scalar subquery over lk is an InitPlan,
// run to completion before ins and del produce their first row. Events draw their seqs after the lock, so per-group
// event order follows the versions across replicas. KEY SHARE (the member rows' foreign key) does not conflict with
// NO KEY UPDATE, so the batch does not wait on itself.
export const MEMBER_BATCH_SQL = `WITH
  rq AS (SELECT r.* FROM unnest($4::text[], $5::text[], $6::bool[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
           WITH ORDINALITY AS r(gid, op, audited, subject, jti, mount, operation, request_id, n)),
  pm AS (SELECT p.r, p.m, u.rid FROM unnest($12::int[], $13::text[]) AS p(r, m)
           LEFT JOIN users u ON u.tenant = $1 AND u.id = p.m),
  missing AS (SELECT pm.r, array_agg(pm.m ORDER BY pm.m) AS ids FROM pm JOIN rq ON rq.n = pm.r
                WHERE rq.op = 'add' AND pm.rid IS NULL GROUP BY pm.r),
  lk AS (SELECT id, display_name, external_id, resource, version, created, modified FROM groups
           WHERE tenant = $1 AND id IN (SELECT gid FROM rq) ORDER BY id FOR NO KEY UPDATE),
  go AS (SELECT rq.n, rq.gid, rq.op FROM rq
           WHERE (SELECT count(*) FROM lk) >= 0 AND rq.gid IN (SELECT id FROM lk) AND rq.n NOT IN (SELECT r FROM missing)),
  ins AS (INSERT INTO group_members (tenant, group_id, member_id, member_rid, added)
            SELECT $1, go.gid, pm.m, pm.rid, $2 FROM go JOIN pm ON pm.r = go.n WHERE go.op = 'add' ORDER BY go.n, pm.m
            ON CONFLICT DO NOTHING RETURNING group_id, member_id),
  del AS (DELETE FROM group_members gm USING go JOIN pm ON pm.r = go.n
            WHERE go.op = 'remove' AND gm.tenant = $1 AND gm.group_id = go.gid AND gm.member_rid = pm.rid
            RETURNING gm.group_id, gm.member_id),
  ch AS (SELECT go.n, x.member_id FROM (SELECT group_id, member_id FROM ins UNION ALL SELECT group_id, member_id FROM del) x
           JOIN go ON go.gid = x.group_id JOIN pm ON pm.r = go.n AND pm.m = x.member_id),
  agg AS (SELECT n, array_agg(member_id ORDER BY member_id) AS ids FROM ch GROUP BY n),
  rk AS (SELECT agg.n, go.gid, go.op, agg.ids FROM agg JOIN go ON go.n = agg.n),
  g AS (UPDATE groups SET version = version + c.cnt, modified = $2
          FROM (SELECT gid, count(*) AS cnt FROM rk GROUP BY gid) c
          WHERE groups.tenant = $1 AND groups.id = c.gid RETURNING groups.id),
  ev AS (INSERT INTO outbox (tenant, aggregate, type, payload, created)
           SELECT $1, 'group:' || rk.gid, CASE rk.op WHEN 'add' THEN 'group.members_added' ELSE 'group.members_removed' END,
                  jsonb_build_object('groupId', rk.gid, 'userIds', to_jsonb(rk.ids[k * $3::int + 1 : (k + 1) * $3::int])), $2
           FROM g JOIN rk ON rk.gid = g.id, generate_series(0, (cardinality(rk.ids) - 1) / $3::int) AS k
           ORDER BY rk.n, k),
  au AS (INSERT INTO audit_log (at, tenant, subject, jti, mount, operation, resource_type, resource_id, request_id, summary)
           SELECT $2, $1, rq.subject, rq.jti, rq.mount, rq.operation, 'Group', rq.gid, rq.request_id,
                  CASE WHEN agg.ids IS NULL THEN '{}'::jsonb
                       WHEN rq.op = 'add' THEN jsonb_build_object('membersAdded', to_jsonb(agg.ids))
                       ELSE jsonb_build_object('membersRemoved', to_jsonb(agg.ids)) END
           FROM go JOIN rq ON rq.n = go.n LEFT JOIN agg ON agg.n = go.n WHERE rq.audited ORDER BY go.n)
  SELECT rq.n, missing.ids AS missing, agg.ids AS changed, to_jsonb(lk) AS grp,
         lk.version + (SELECT count(*) FROM rk WHERE rk.gid = rq.gid AND rk.n <= rq.n) AS version
  FROM rq LEFT JOIN lk ON lk.id = rq.gid LEFT JOIN agg ON agg.n = rq.n LEFT JOIN missing ON missing.r = rq.n
  ORDER BY rq.n`;
