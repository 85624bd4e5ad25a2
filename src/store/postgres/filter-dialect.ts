// PostgreSQL's side of the filter translation (store/filter-sql.ts): typed `$n` placeholders, jsonb paths typed like
// SQLite's json_extract (a value of another JSON type is absent), and COLLATE "C" for code-point order (the text
// columns are declared COLLATE "C", so their indexes serve these comparisons).
import type { FilterDialect } from '../filter-sql';
import { COLLECTION_COLUMNS, EMAILS_FROM } from '../sql-columns';

/** A text[] literal for #> / #>>: the path parts are attribute names from the SCIM schema, quoted anyway. */
function jsonPathLiteral(parts: string[]): string {
  const items = parts.map((p) => `"${p.replace(/["\\]/g, '')}"`).join(',');
  return `'{${items.replace(/'/g, "''")}}'`;
}

export const postgresFilterDialect: FilterDialect = {
  // The parameter's SQL type, so comparisons never depend on inference from an untyped literal.
  param: (p, v, type) => `${p.add(v)}::${type}`,
  jsonValue: (alias, path, type) => {
    const lit = jsonPathLiteral(path);
    const j = `${alias}.resource #> ${lit}`;
    if (type === 'boolean') return `(CASE WHEN jsonb_typeof(${j}) = 'boolean' THEN (${j})::boolean END)`;
    if (type === 'integer' || type === 'decimal') return `(CASE WHEN jsonb_typeof(${j}) = 'number' THEN (${j})::numeric END)`;
    return `(${alias}.resource #>> ${lit})`;
  },
  bool: (v) => v,
  truth: 'TRUE',
  codePoints: (x) => `${x} COLLATE "C"`,
  contains: (x, text) => `strpos(${x}::text, ${text}) > 0`,
  endsWith: (x, length, text) => `right(${x}::text, ${length}) = ${text}`,
  startsWithNonText: (x, length, text) => `left(${x}::text, ${length}) = ${text}`,
  // Memberships are keyed by the user's rid (migration 005): from users (tenant, id) for `members[value eq "…"]`.
  collectionFrom: {
    emails: EMAILS_FROM,
    members: 'SELECT 1 FROM group_members m JOIN users mu ON mu.rid = m.member_rid WHERE m.tenant = g.tenant AND m.group_id = g.id AND mu.tenant = g.tenant',
  },
  collectionColumns: COLLECTION_COLUMNS,
};
