// SQLite's side of the filter translation (store/filter-sql.ts): `?` placeholders, json_extract (typed values),
// BINARY collation (code-point order already), and memberships keyed by integer rids (migration 005).
import type { FilterDialect } from '../filter-sql';
import { COLLECTION_COLUMNS, EMAILS_FROM } from '../sql-columns';

function jsonPath(parts: string[]): string {
  return '$' + parts.map((p) => (/^[A-Za-z_][A-Za-z0-9_$]*$/.test(p) ? `.${p}` : `."${p.replace(/"/g, '')}"`)).join('');
}

export const sqliteFilterDialect: FilterDialect = {
  param: (p, v) => p.add(v),
  jsonValue: (alias, path) => `json_extract(${alias}.resource, '${jsonPath(path)}')`,
  bool: (v) => (v ? 1 : 0),
  truth: '1',
  codePoints: (x) => x,
  contains: (x, text) => `instr(${x}, ${text}) > 0`,
  endsWith: (x, length, text) => `substr(${x}, -${length}) = ${text}`,
  startsWithNonText: (x, length, text) => `substr(CAST(${x} AS TEXT), 1, ${length}) = ${text}`,
  // A plain join, so the planner can start from users (tenant, id) for `members[value eq "…"]` instead of walking
  // the group.
  collectionFrom: {
    emails: EMAILS_FROM,
    members: 'SELECT 1 FROM group_members m JOIN users mu ON mu.rid = m.user_rid WHERE m.group_rid = g.rid AND mu.tenant = g.tenant',
  },
  collectionColumns: COLLECTION_COLUMNS,
};
