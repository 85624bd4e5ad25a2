// The hot path of every identity provider: one PATCH that adds or removes some members of one group. On PostgreSQL it
// runs as a single autocommit statement, so the group's row lock (taken by the version bump) is held only while the
// server finishes that statement and commits, never across a round trip to the gateway. Same effects as the general
// path in index.ts: unknown member ids refuse everything, the version moves only when membership changed, events
// (chunked like memberEvents) and the audit record are written with it, and the events' seqs are drawn after the lock.
/** The columns a GroupRow is read from (index.ts reads groups with the same list). */
export const GROUP_COLUMNS = 'id, display_name, external_id, resource, version, created, modified';

/**
 * Adding members, as CTEs over $1 tenant, $2 group id, $3 member ids (unique, sorted) and $4 time: req (the ids in
 * order, with their users' rids), missing (ids naming no user of the tenant) and ch (the rows inserted, each with its
 * user's rid, the member order; none when any id is missing).
 */
const ADD_CTES = `req AS (SELECT j.value, j.n, u.rid FROM unnest($3::text[]) WITH ORDINALITY AS j(value, n)
                LEFT JOIN users u ON u.tenant = $1 AND u.id = j.value),
       missing AS (SELECT value, n FROM req WHERE rid IS NULL),
       ch AS (INSERT INTO group_members (tenant, group_id, member_id, member_rid, added)
              SELECT $1, $2, req.value, req.rid, $4 FROM req WHERE NOT EXISTS (SELECT 1 FROM missing) ORDER BY req.n
              ON CONFLICT DO NOTHING RETURNING member_id)`;

/**
 * The general write path's member add, inside its transaction (same parameters as ADD_CTES): one row per missing
 * id (added false, in request order), else one per id actually added.
 */
export const ADD_MEMBERS_SQL = `WITH ${ADD_CTES}
  SELECT false AS added, value FROM (SELECT value FROM missing ORDER BY n) m
  UNION ALL SELECT true, member_id FROM ch`;

/**
 * Parameters: $1 tenant, $2 group id, $3 member ids (unique, sorted), $4 time, $5 ids per event; with audit also
 * $6 subject, $7 jti, $8 mount, $9 operation, $10 request id.
 * Answers one row: missing (ids naming no user; nothing applied), changed (ids actually added or removed, or null),
 * touched (the group after the version bump) and current (the group as it was; null when there is no such group).
 */
export function memberChangeSql(op: 'add' | 'remove', audit: boolean): string {
  const change = op === 'add'
    ? ADD_CTES
    : `missing AS (SELECT NULL::text AS value, 0::bigint AS n WHERE false),
       ch AS (DELETE FROM group_members WHERE tenant = $1 AND group_id = $2
              AND member_rid = ANY(ARRAY(SELECT rid FROM users WHERE tenant = $1 AND id = ANY($3::text[]))) RETURNING member_id)`;
  const type = op === 'add' ? 'group.members_added' : 'group.members_removed';
  const key = op === 'add' ? 'membersAdded' : 'membersRemoved';
  const auditCte = audit
    ? `, au AS (INSERT INTO audit_log (at, tenant, subject, jti, mount, operation, resource_type, resource_id, request_id, summary)
         SELECT $4, $1, $6, $7, $8, $9, 'Group', $2, $10,
                CASE WHEN a.ids IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('${key}', to_jsonb(a.ids)) END
         FROM agg a
         WHERE NOT EXISTS (SELECT 1 FROM missing) AND EXISTS (SELECT 1 FROM groups WHERE tenant = $1 AND id = $2))`
    : '';
  return `WITH ${change},
    agg AS (SELECT array_agg(member_id ORDER BY member_id) AS ids FROM ch),
    g AS (UPDATE groups SET version = version + 1, modified = $4
          WHERE tenant = $1 AND id = $2 AND (SELECT ids FROM agg) IS NOT NULL RETURNING ${GROUP_COLUMNS}),
    ev AS (INSERT INTO outbox (tenant, aggregate, type, payload, created)
           SELECT $1, 'group:' || $2, '${type}',
                  jsonb_build_object('groupId', $2::text, 'userIds', to_jsonb(a.ids[k * $5::int + 1 : (k + 1) * $5::int])), $4
           FROM g, agg a, generate_series(0, (cardinality(a.ids) - 1) / $5::int) AS k ORDER BY k)${auditCte},
    cur AS (SELECT ${GROUP_COLUMNS} FROM groups WHERE tenant = $1 AND id = $2)
    SELECT (SELECT array_agg(value ORDER BY n) FROM missing) AS missing, (SELECT ids FROM agg) AS changed,
           (SELECT to_jsonb(g) FROM g) AS touched, (SELECT to_jsonb(cur) FROM cur) AS current`;
}
