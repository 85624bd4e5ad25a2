// Filter tree → PostgreSQL WHERE fragment with $n placeholders. The same semantics as the SQLite translation
// (src/store/sqlite/filter-sql.ts): every predicate is TRUE or FALSE, never NULL, so `not (...)` means what a SCIM
// client expects for absent attributes; case-insensitive strings compare on the *_lc columns; other attributes
// fall back to the resource JSON (jsonb). Text comparisons use COLLATE "C" (code-point order, as SQLite's BINARY).
import type { CompareOp, Field, Filter, Scalar } from '../filter';
import { COLLECTION_COLUMNS, COLLECTION_FROM, COLUMNS, MAX_CHAR, type ColumnInfo, type Resource } from '../sql-columns';


/** Collects bound parameters; `add` returns the placeholder. */
export class Params {
  readonly values: unknown[];
  constructor(initial: unknown[] = []) {
    this.values = [...initial];
  }
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** A text[] literal for #> / #>>: the path parts are attribute names from the SCIM schema, quoted anyway. */
function jsonPathLiteral(parts: string[]): string {
  const items = parts.map((p) => `"${p.replace(/["\\]/g, '')}"`).join(',');
  return `'{${items.replace(/'/g, "''")}}'`;
}

function column(resource: Resource, field: Field, inCollection: boolean): ColumnInfo {
  if (field.json) {
    const alias = resource === 'users' ? 'u' : 'g';
    const p = jsonPathLiteral(field.json);
    const j = `${alias}.resource #> ${p}`;
    // Typed like SQLite's json_extract: a value of another JSON type than the field's is treated as absent.
    let expr: string;
    if (field.type === 'boolean') expr = `(CASE WHEN jsonb_typeof(${j}) = 'boolean' THEN (${j})::boolean END)`;
    else if (field.type === 'integer' || field.type === 'decimal') expr = `(CASE WHEN jsonb_typeof(${j}) = 'number' THEN (${j})::numeric END)`;
    else expr = `(${alias}.resource #>> ${p})`;
    return { expr, lc: `lower(${expr})`, nullable: true };
  }
  const info = inCollection || field.collection ? COLLECTION_COLUMNS[field.path] : COLUMNS[resource][field.path];
  if (!info) throw new Error(`no column for ${resource}.${field.path}`);
  return info;
}

function sqlValue(field: Field, value: Scalar): unknown {
  if (field.type === 'boolean') return !!value;
  // Only strings compare lowercased (see compare); dateTime values must keep their upper-case "T" and "Z".
  if (typeof value === 'string' && field.type === 'string' && !field.caseExact) return value.toLowerCase();
  return value;
}

/** The parameter's SQL type, so comparisons never depend on inference from an untyped literal. */
function cast(field: Field): string {
  if (field.type === 'boolean') return '::boolean';
  if (field.type === 'integer' || field.type === 'decimal') return field.json ? '::numeric' : '::numeric';
  return '::text';
}

function compare(col: ColumnInfo, field: Field, op: CompareOp, value: Scalar, p: Params): string {
  const useLc = field.type === 'string' && !field.caseExact;
  const x = useLc ? col.lc : col.expr;
  const v = sqlValue(field, value);
  const isText = field.type === 'string' || field.type === 'dateTime';
  // Text compares in code-point order; the columns are declared COLLATE "C" so their indexes serve these.
  const xc = isText ? `${x} COLLATE "C"` : x;
  const notNull = col.nullable ? `${x} IS NOT NULL AND ` : '';
  const t = cast(field);
  switch (op) {
    case 'eq':
      return `(${notNull}${xc} = ${p.add(v)}${t})`;
    case 'ne':
      return col.nullable ? `(${x} IS NULL OR ${xc} <> ${p.add(v)}${t})` : `(${xc} <> ${p.add(v)}${t})`;
    case 'co':
      if (v === '') return col.nullable ? `(${x} IS NOT NULL)` : 'TRUE';
      return `(${notNull}strpos(${x}::text, ${p.add(String(v))}::text) > 0)`;
    case 'sw':
      if (v === '') return col.nullable ? `(${x} IS NOT NULL)` : 'TRUE';
      if (!isText) return `(${notNull}left(${x}::text, ${p.add([...String(v)].length)}::int) = ${p.add(String(v))}::text)`;
      // A range keeps the B-tree index usable (no LIKE escaping needed).
      return `(${notNull}${xc} >= ${p.add(v)}::text AND ${xc} < ${p.add(`${String(v)}${MAX_CHAR}`)}::text)`;
    case 'ew': {
      if (v === '') return col.nullable ? `(${x} IS NOT NULL)` : 'TRUE';
      const s = String(v);
      return `(${notNull}right(${x}::text, ${p.add([...s].length)}::int) = ${p.add(s)}::text)`;
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      const sym = { gt: '>', ge: '>=', lt: '<', le: '<=' }[op];
      return `(${notNull}${xc} ${sym} ${p.add(v)}${t})`;
    }
  }
}

function present(resource: Resource, field: Field, inCollection: boolean): string {
  if (field.collection && !inCollection) return `EXISTS (${COLLECTION_FROM[field.collection]})`;
  const col = column(resource, field, inCollection);
  if (!col.nullable) return 'TRUE';
  return field.type === 'string' ? `(${col.expr} IS NOT NULL AND ${col.expr} <> '')` : `(${col.expr} IS NOT NULL)`;
}

function translate(resource: Resource, f: Filter, inCollection: boolean, p: Params): string {
  switch (f.kind) {
    case 'and':
    case 'or':
      return `(${f.items.map((i) => translate(resource, i, inCollection, p)).join(f.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${translate(resource, f.item, inCollection, p)})`;
    case 'present':
      return present(resource, f.field, inCollection);
    case 'some':
      return `EXISTS (${COLLECTION_FROM[f.collection]} AND ${translate(resource, f.item, true, p)})`;
    case 'compare': {
      const { field, op, value } = f;
      if (value === null) {
        // "attr eq null" asks for absence, "attr ne null" for presence.
        const pr = present(resource, field, inCollection);
        return op === 'ne' ? pr : `(NOT ${pr})`;
      }
      if (field.collection && !inCollection) {
        // A multi-valued attribute matches when some element does; "ne" when none equals the value.
        if (op === 'ne') {
          return `(NOT EXISTS (${COLLECTION_FROM[field.collection]} AND ${compare(column(resource, field, true), field, 'eq', value, p)}))`;
        }
        return `EXISTS (${COLLECTION_FROM[field.collection]} AND ${compare(column(resource, field, true), field, op, value, p)})`;
      }
      return compare(column(resource, field, inCollection), field, op, value, p);
    }
  }
}

/** Appends the filter's parameters to `p` and returns the WHERE fragment. */
export function filterToSql(resource: Resource, filter: Filter, p: Params): string {
  return translate(resource, filter, false, p);
}

/** ORDER BY clause: nulls last, then the requested direction, then id so pages are stable. */
export function orderBy(resource: Resource, path: string | undefined, descending: boolean): string {
  const alias = resource === 'users' ? 'u' : 'g';
  const dir = descending ? 'DESC' : 'ASC';
  if (!path) return `${alias}.created ${dir}, ${alias}.id ${dir}`;
  const info = COLUMNS[resource][path];
  if (!info) throw new Error(`cannot sort ${resource} by ${path}`);
  const x = ['userName', 'displayName'].includes(path) ? info.lc : info.expr;
  return `(${x} IS NULL), ${x} COLLATE "C" ${dir}, ${alias}.id ${dir}`;
}
