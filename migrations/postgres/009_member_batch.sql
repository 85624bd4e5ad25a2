-- Group commit of member changes (src/store/postgres/member-batch.ts) as one function, called by one statement per
-- batch. It replaces a single WITH statement that locked the groups inside itself: that statement's snapshot was
-- taken before it waited for the lock, so a membership another replica committed while it waited was invisible to
-- it (a remove queued behind a concurrent add removed nothing). Here the groups are locked first and the changes
-- are then read and written by a second statement, whose snapshot (READ COMMITTED, a VOLATILE function) is taken
-- once the lock is held: everything committed before the lock was granted is seen.
--
-- Requests of a batch may name the same (group, member) pair; they apply one after the other in batch order. For
-- each pair the state before a request is the previous request's op (an add leaves the member in, a remove out) or,
-- for the first, the stored membership; a request changes the pair when its op differs from that state. Only the
-- last op of a pair is written: inserted when it adds a member that was not stored, deleted when it removes one
-- that was, and a member removed and added back gets a new added time.
--
-- Arguments: tenant, time, ids per event; per request (arrays of equal length, request n is element n): group ids,
-- ops ('add' | 'remove'), audited, subjects, jtis, mounts, operations, request ids; per requested member (arrays of
-- equal length): request numbers (1-based), member ids (unique within a request).
-- Returns one row per request, in request order: n; missing (ids naming no user of the tenant, for an add: nothing
-- of that request is applied); changed (ids actually added or removed, sorted; null for none); grp (the group as
-- locked, before this batch; null when there is no such group); version (the group's version once this request and
-- the ones before it in the batch are applied).
--
-- Locks: the groups FOR NO KEY UPDATE in id order, so that two batches over the same groups on two replicas never
-- wait on each other in a circle. KEY SHARE (the member rows' foreign key) does not conflict with it, so the batch
-- does not wait on itself. Events draw their seqs under the lock, so per-group event order follows the versions.
CREATE FUNCTION scim_member_batch(
  p_tenant TEXT, p_at TEXT, p_per INT,
  p_gids TEXT[], p_ops TEXT[], p_audited BOOL[], p_subjects TEXT[], p_jtis TEXT[], p_mounts TEXT[], p_operations TEXT[],
  p_request_ids TEXT[], p_member_req INT[], p_member_ids TEXT[])
RETURNS TABLE (n INT, missing TEXT[], changed TEXT[], grp JSONB, version BIGINT)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM 1 FROM groups WHERE tenant = p_tenant AND id = ANY (p_gids) ORDER BY id FOR NO KEY UPDATE;
  RETURN QUERY WITH
    rq AS (SELECT r.* FROM unnest(p_gids, p_ops, p_audited, p_subjects, p_jtis, p_mounts, p_operations, p_request_ids)
             WITH ORDINALITY AS r(gid, op, audited, subject, jti, mount, operation, request_id, n)),
    -- A subquery per id, so that each is one index lookup: the generic plan of a join guesses ten ids and may
    -- scan all of the tenant's users for them.
    pm AS (SELECT p.r, p.m, (SELECT u.rid FROM users u WHERE u.tenant = p_tenant AND u.id = p.m) AS rid
             FROM unnest(p_member_req, p_member_ids) AS p(r, m)),
    missing AS (SELECT pm.r, array_agg(pm.m ORDER BY pm.m COLLATE "C") AS ids FROM pm JOIN rq ON rq.n = pm.r
                  WHERE rq.op = 'add' AND pm.rid IS NULL GROUP BY pm.r),
    lk AS (SELECT id, display_name, external_id, resource, version, created, modified FROM groups
             WHERE tenant = p_tenant AND id = ANY (p_gids)),
    go AS (SELECT rq.n, rq.gid, rq.op FROM rq
             WHERE rq.gid IN (SELECT id FROM lk) AND rq.n NOT IN (SELECT r FROM missing)),
    -- Every (request, member) that reaches a stored user, with whether the membership is stored now.
    po AS (SELECT go.n, go.gid, go.op, pm.m, pm.rid,
                  EXISTS (SELECT 1 FROM group_members gm
                          WHERE gm.tenant = p_tenant AND gm.group_id = go.gid AND gm.member_rid = pm.rid) AS stored
             FROM go JOIN pm ON pm.r = go.n WHERE pm.rid IS NOT NULL),
    st AS (SELECT po.*, coalesce(lag(po.op) OVER w = 'add', po.stored) AS was_in, lead(po.n) OVER w IS NULL AS last,
                  bool_or(po.op = 'remove') OVER (PARTITION BY po.gid, po.rid) AS any_remove
             FROM po WINDOW w AS (PARTITION BY po.gid, po.rid ORDER BY po.n)),
    ins AS (INSERT INTO group_members (tenant, group_id, member_id, member_rid, added)
              SELECT p_tenant, st.gid, st.m, st.rid, p_at FROM st WHERE st.last AND st.op = 'add' AND NOT st.stored
              ORDER BY st.n, st.m
              ON CONFLICT DO NOTHING),
    readd AS (UPDATE group_members gm SET added = p_at FROM st
                WHERE st.last AND st.op = 'add' AND st.stored AND st.any_remove
                  AND gm.tenant = p_tenant AND gm.group_id = st.gid AND gm.member_rid = st.rid),
    del AS (DELETE FROM group_members gm USING st
              WHERE st.last AND st.op = 'remove' AND st.stored
                AND gm.tenant = p_tenant AND gm.group_id = st.gid AND gm.member_rid = st.rid),
    agg AS (SELECT st.n, array_agg(st.m ORDER BY st.m COLLATE "C") AS ids FROM st WHERE (st.op = 'add') <> st.was_in GROUP BY st.n),
    rk AS (SELECT agg.n, go.gid, go.op, agg.ids FROM agg JOIN go ON go.n = agg.n),
    g AS (UPDATE groups SET version = version + c.cnt, modified = p_at
            FROM (SELECT gid, count(*) AS cnt FROM rk GROUP BY gid) c
            WHERE groups.tenant = p_tenant AND groups.id = c.gid RETURNING groups.id),
    ev AS (INSERT INTO outbox (tenant, aggregate, type, payload, created)
             SELECT p_tenant, 'group:' || rk.gid,
                    CASE rk.op WHEN 'add' THEN 'group.members_added' ELSE 'group.members_removed' END,
                    jsonb_build_object('groupId', rk.gid, 'userIds', to_jsonb(rk.ids[k * p_per + 1 : (k + 1) * p_per])), p_at
             FROM g JOIN rk ON rk.gid = g.id, generate_series(0, (cardinality(rk.ids) - 1) / p_per) AS k
             ORDER BY rk.n, k),
    au AS (INSERT INTO audit_log (at, tenant, subject, jti, mount, operation, resource_type, resource_id, request_id, summary)
             SELECT p_at, p_tenant, rq.subject, rq.jti, rq.mount, rq.operation, 'Group', rq.gid, rq.request_id,
                    CASE WHEN agg.ids IS NULL THEN '{}'::jsonb
                         WHEN rq.op = 'add' THEN jsonb_build_object('membersAdded', to_jsonb(agg.ids))
                         ELSE jsonb_build_object('membersRemoved', to_jsonb(agg.ids)) END
             FROM go JOIN rq ON rq.n = go.n LEFT JOIN agg ON agg.n = go.n WHERE rq.audited ORDER BY go.n)
    SELECT rq.n::int, missing.ids, agg.ids, to_jsonb(lk),
           lk.version + (SELECT count(*) FROM rk WHERE rk.gid = rq.gid AND rk.n <= rq.n)
    FROM rq LEFT JOIN lk ON lk.id = rq.gid LEFT JOIN agg ON agg.n = rq.n LEFT JOIN missing ON missing.r = rq.n
    ORDER BY rq.n;
END
$fn$;
