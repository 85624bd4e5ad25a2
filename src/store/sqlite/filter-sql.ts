// Filter tree → SQLite WHERE fragment with bound parameters. Every predicate yields 0 or 1, never NULL, so
// `not (...)` means what a SCIM client expects for absent attributes.
import type { CompareOp, Field, Filter, Scalar } from '../filter';
import { COLLECTION_COLUMNS as SHARED_COLUMNS, COLLECTION_FROM as SHARED_FROM, COLUMNS, MAX_CHAR, type ColumnInfo, type Resource } from '../sql-columns';

// SQLite keys memberships by integer rids (migration 005); a member's id comes from its user row. A plain join,
// so the planner can start from users (tenant, id) for `members[value eq "…"]` instead of walking the group.
const COLLECTION_FROM = {
  ...SHARED_FROM,
  members: 'SELECT 1 FROM group_members m JOIN users mu ON mu.rid = m.user_rid WHERE m.group_rid = g.rid AND mu.tenant = g.tenant',
};
const COLLECTION_COLUMNS: Record<string, ColumnInfo> = {
  ...SHARED_COLUMNS,
  'members.value': { expr: 'mu.id', lc: 'mu.id', nullable: false },
};

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

function jsonPath(parts: string[]): string {
  return '$' + parts.map((p) => (/^[A-Za-z_][A-Za-z0-9_$]*$/.test(p) ? `.${p}` : `."${p.replace(/"/g, '')}"`)).join('');
}

function column(resource: Resource, field: Field, inCollection: boolean): ColumnInfo {
  if (field.json) {
    const alias = resource === 'users' ? 'u' : 'g';
    const expr = `json_extract(${alias}.resource, '${jsonPath(field.json)}')`;
    return { expr, lc: `lower(${expr})`, nullable: true };
  }
  const info = inCollection || field.collection ? COLLECTION_COLUMNS[field.path] : COLUMNS[resource][field.path];
  if (!info) throw new Error(`no column for ${resource}.${field.path}`);
  return info;
}

function sqlValue(field: Field, value: Scalar): unknown {
  if (field.type === 'boolean') return value ? 1 : 0;
  // Only strings compare lowercased (see compare); dateTime values must keep their upper-case "T" and "Z".
  if (typeof value === 'string' && field.type === 'string' && !field.caseExact) return value.toLowerCase();
  return value;
}

function compare(col: ColumnInfo, field: Field, op: CompareOp, value: Scalar): SqlFragment {
  const useLc = field.type === 'string' && !field.caseExact;
  const x = useLc ? col.lc : col.expr;
  const v = sqlValue(field, value);
  const notNull = col.nullable ? `${x} IS NOT NULL AND ` : '';
  switch (op) {
    case 'eq':
      return { sql: `(${notNull}${x} = ?)`, params: [v] };
    case 'ne':
      return { sql: col.nullable ? `(${x} IS NULL OR ${x} <> ?)` : `(${x} <> ?)`, params: [v] };
    case 'co':
      if (v === '') return { sql: col.nullable ? `(${x} IS NOT NULL)` : '1', params: [] };
      return { sql: `(${notNull}instr(${x}, ?) > 0)`, params: [v] };
    case 'sw':
      if (v === '') return { sql: col.nullable ? `(${x} IS NOT NULL)` : '1', params: [] };
      // A range keeps the index usable; text compares by code point in SQLite's BINARY collation.
      return { sql: `(${notNull}${x} >= ? AND ${x} < ?)`, params: [v, `${v}${MAX_CHAR}`] };
    case 'ew': {
      if (v === '') return { sql: col.nullable ? `(${x} IS NOT NULL)` : '1', params: [] };
      const len = [...String(v)].length;
      return { sql: `(${notNull}substr(${x}, -?) = ?)`, params: [len, v] };
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      const sym = { gt: '>', ge: '>=', lt: '<', le: '<=' }[op];
      return { sql: `(${notNull}${x} ${sym} ?)`, params: [v] };
    }
  }
}

function present(resource: Resource, field: Field, inCollection: boolean): SqlFragment {
  if (field.collection && !inCollection) {
    return { sql: `EXISTS (${COLLECTION_FROM[field.collection]})`, params: [] };
  }
  const col = column(resource, field, inCollection);
  if (!col.nullable) return { sql: '1', params: [] };
  return field.type === 'string'
    ? { sql: `(${col.expr} IS NOT NULL AND ${col.expr} <> '')`, params: [] }
    : { sql: `(${col.expr} IS NOT NULL)`, params: [] };
}

function translate(resource: Resource, f: Filter, inCollection: boolean): SqlFragment {
  switch (f.kind) {
    case 'and':
    case 'or': {
      const parts = f.items.map((i) => translate(resource, i, inCollection));
      return {
        sql: `(${parts.map((p) => p.sql).join(f.kind === 'and' ? ' AND ' : ' OR ')})`,
        params: parts.flatMap((p) => p.params),
      };
    }
    case 'not': {
      const inner = translate(resource, f.item, inCollection);
      return { sql: `(NOT ${inner.sql})`, params: inner.params };
    }
    case 'present':
      return present(resource, f.field, inCollection);
    case 'some': {
      const inner = translate(resource, f.item, true);
      return { sql: `EXISTS (${COLLECTION_FROM[f.collection]} AND ${inner.sql})`, params: inner.params };
    }
    case 'compare': {
      const { field, op, value } = f;
      if (value === null) {
        // "attr eq null" asks for absence, "attr ne null" for presence.
        const p = present(resource, field, inCollection);
        return op === 'ne' ? p : { sql: `(NOT ${p.sql})`, params: p.params };
      }
      if (field.collection && !inCollection) {
        // A multi-valued attribute matches when some element does; "ne" when none equals the value.
        if (op === 'ne') {
          const eq = compare(column(resource, field, true), field, 'eq', value);
          return { sql: `(NOT EXISTS (${COLLECTION_FROM[field.collection]} AND ${eq.sql}))`, params: eq.params };
        }
        const c = compare(column(resource, field, true), field, op, value);
        return { sql: `EXISTS (${COLLECTION_FROM[field.collection]} AND ${c.sql})`, params: c.params };
      }
      return compare(column(resource, field, inCollection), field, op, value);
    }
  }
}

export function filterToSql(resource: Resource, filter: Filter): SqlFragment {
  return translate(resource, filter, false);
}

/** ORDER BY clause: nulls last, then the requested direction, then id so pages are stable. */
export function orderBy(resource: Resource, path: string | undefined, descending: boolean): string {
  const alias = resource === 'users' ? 'u' : 'g';
  const dir = descending ? 'DESC' : 'ASC';
  if (!path) return `${alias}.created ${dir}, ${alias}.id ${dir}`;
  const info = COLUMNS[resource][path];
  if (!info) throw new Error(`cannot sort ${resource} by ${path}`);
  const x = ['userName', 'displayName'].includes(path) ? info.lc : info.expr;
  return `${x} IS NULL, ${x} ${dir}, ${alias}.id ${dir}`;
}
