// Member statements of the general write path (index.ts). The hot path, one add or remove of members, is batched
// across requests instead (member-batch.ts).
import { StoreError } from '../errors';
import type { Json } from '../types';
import { sqlState } from './pool';

/** The columns a GroupRow is read from (index.ts reads groups with the same list). */
export const GROUP_COLUMNS = 'id, display_name, external_id, resource, version, created, modified';

/** A group as read with GROUP_COLUMNS. */
export interface GroupRow {
  id: string; display_name: string; external_id: string | null; resource: Json; version: number;
  created: string; modified: string;
}

/**
 * A member write's foreign-key failure as what it means: without the group's row lock taken first, a missing group
 * shows as its key failing (not_found); a member's user deleted concurrently as the user's (invalid_members).
 * Any other error is returned as it is.
 */
export function memberWriteError(e: unknown, groupId?: string): unknown {
  if (sqlState(e) !== '23503') return e;
  if (groupId && /group_id/.test(String((e as { constraint?: unknown }).constraint ?? ''))) return new StoreError('not_found', `Group ${groupId} not found`);
  return new StoreError('invalid_members', 'a member names no user of this tenant (deleted concurrently)');
}

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
