// Filter tree → SQL WHERE fragment with bound parameters, one translation for both backends over a small dialect
// (sqlite/filter-dialect.ts, postgres/filter-dialect.ts). Every predicate is true or false, never NULL, so
// `not (...)` means what a SCIM client expects for absent attributes; case-insensitive strings compare on the *_lc
// columns; other attributes fall back to the resource JSON, typed (a value of another JSON type counts as absent);
// text compares in code-point order.
import type { CompareOp, Field, Filter, Scalar } from './filter';
import { COLUMNS, MAX_CHAR, type ColumnInfo, type Resource } from './sql-columns';

/** Collects bound parameters in the order their placeholders appear in the SQL text. */
export class Params {
  readonly values: unknown[];
  constructor(private readonly placeholder: (n: number) => string, initial: unknown[] = []) {
    this.values = [...initial];
  }
  add(v: unknown): string {
    this.values.push(v);
    return this.placeholder(this.values.length);
  }
}

type ParamType = 'text' | 'numeric' | 'boolean' | 'int';

/** What differs between SQLite and PostgreSQL in a filter's SQL. */
export interface FilterDialect {
  /** A placeholder for the value, typed where the engine needs it. */
  param(p: Params, v: unknown, type: ParamType): string;
  /** The typed value of an attribute kept only in the resource JSON. */
  jsonValue(alias: string, path: string[], type: Field['type']): string;
  /** A boolean as the engine stores it. */
  bool(v: boolean): unknown;
  /** Always true. */
  readonly truth: string;
  /** A text expression compared in code-point order. */
  codePoints(x: string): string;
  /** x contains the text; x ends with the text of `length` characters. */
  contains(x: string, text: string): string;
  endsWith(x: string, length: string, text: string): string;
  /** x starts with the text, for a value that is not stored as text (numbers, booleans). */
  startsWithNonText(x: string, length: string, text: string): string;
  /** The row sources of multi-valued attributes (correlated to u or g), and their columns. */
  readonly collectionFrom: Record<'emails' | 'members', string>;
  readonly collectionColumns: Record<string, ColumnInfo>;
}

function column(d: FilterDialect, resource: Resource, field: Field, inCollection: boolean): ColumnInfo {
  if (field.json) {
    const expr = d.jsonValue(resource === 'users' ? 'u' : 'g', field.json, field.type);
    return { expr, lc: `lower(${expr})`, nullable: true };
  }
  const info = inCollection || field.collection ? d.collectionColumns[field.path] : COLUMNS[resource][field.path];
  if (!info) throw new Error(`no column for ${resource}.${field.path}`);
  return info;
}

function sqlValue(d: FilterDialect, field: Field, value: Scalar): unknown {
  if (field.type === 'boolean') return d.bool(!!value);
  // Only strings compare lowercased (see compare); dateTime values must keep their upper-case "T" and "Z".
  if (typeof value === 'string' && field.type === 'string' && !field.caseExact) return value.toLowerCase();
  return value;
}

function paramType(field: Field): ParamType {
  if (field.type === 'boolean') return 'boolean';
  if (field.type === 'integer' || field.type === 'decimal') return 'numeric';
  return 'text';
}

function compare(d: FilterDialect, col: ColumnInfo, field: Field, op: CompareOp, value: Scalar, p: Params): string {
  const useLc = field.type === 'string' && !field.caseExact;
  const x = useLc ? col.lc : col.expr;
  const v = sqlValue(d, field, value);
  const isText = field.type === 'string' || field.type === 'dateTime';
  const xc = isText ? d.codePoints(x) : x;
  const notNull = col.nullable ? `${x} IS NOT NULL AND ` : '';
  const t = paramType(field);
  const anything = col.nullable ? `(${x} IS NOT NULL)` : d.truth;
  switch (op) {
    case 'eq':
      return `(${notNull}${xc} = ${d.param(p, v, t)})`;
    case 'ne':
      return col.nullable ? `(${x} IS NULL OR ${xc} <> ${d.param(p, v, t)})` : `(${xc} <> ${d.param(p, v, t)})`;
    case 'co':
      if (v === '') return anything;
      return `(${notNull}${d.contains(x, d.param(p, String(v), 'text'))})`;
    case 'sw': {
      if (v === '') return anything;
      const s = String(v);
      if (!isText) return `(${notNull}${d.startsWithNonText(x, d.param(p, [...s].length, 'int'), d.param(p, s, 'text'))})`;
      // A range keeps the index usable (no LIKE escaping needed).
      return `(${notNull}${xc} >= ${d.param(p, s, 'text')} AND ${xc} < ${d.param(p, `${s}${MAX_CHAR}`, 'text')})`;
    }
    case 'ew': {
      if (v === '') return anything;
      const s = String(v);
      return `(${notNull}${d.endsWith(x, d.param(p, [...s].length, 'int'), d.param(p, s, 'text'))})`;
    }
    default: {
      const sym = { gt: '>', ge: '>=', lt: '<', le: '<=' }[op];
      return `(${notNull}${xc} ${sym} ${d.param(p, v, t)})`;
    }
  }
}

function present(d: FilterDialect, resource: Resource, field: Field, inCollection: boolean): string {
  if (field.collection && !inCollection) return `EXISTS (${d.collectionFrom[field.collection]})`;
  const col = column(d, resource, field, inCollection);
  if (!col.nullable) return d.truth;
  return field.type === 'string' ? `(${col.expr} IS NOT NULL AND ${col.expr} <> '')` : `(${col.expr} IS NOT NULL)`;
}

function translate(d: FilterDialect, resource: Resource, f: Filter, inCollection: boolean, p: Params): string {
  switch (f.kind) {
    case 'and':
    case 'or':
      return `(${f.items.map((i) => translate(d, resource, i, inCollection, p)).join(f.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${translate(d, resource, f.item, inCollection, p)})`;
    case 'present':
      return present(d, resource, f.field, inCollection);
    case 'some':
      return `EXISTS (${d.collectionFrom[f.collection]} AND ${translate(d, resource, f.item, true, p)})`;
    case 'compare': {
      const { field, op, value } = f;
      if (value === null) {
        // "attr eq null" asks for absence, "attr ne null" for presence.
        const pr = present(d, resource, field, inCollection);
        return op === 'ne' ? pr : `(NOT ${pr})`;
      }
      if (field.collection && !inCollection) {
        // A multi-valued attribute matches when some element does; "ne" when none equals the value.
        const from = d.collectionFrom[field.collection];
        const col = column(d, resource, field, true);
        if (op === 'ne') return `(NOT EXISTS (${from} AND ${compare(d, col, field, 'eq', value, p)}))`;
        return `EXISTS (${from} AND ${compare(d, col, field, op, value, p)})`;
      }
      return compare(d, column(d, resource, field, inCollection), field, op, value, p);
    }
  }
}

/** Appends the filter's parameters to `p` and returns the WHERE fragment. */
export function filterToSql(d: FilterDialect, resource: Resource, filter: Filter, p: Params): string {
  return translate(d, resource, filter, false, p);
}

/** ORDER BY clause: nulls last, then the requested direction, then id so pages are stable. */
export function orderBy(d: FilterDialect, resource: Resource, path: string | undefined, descending: boolean): string {
  const alias = resource === 'users' ? 'u' : 'g';
  const dir = descending ? 'DESC' : 'ASC';
  if (!path) return `${alias}.created ${dir}, ${alias}.id ${dir}`;
  const info = COLUMNS[resource][path];
  if (!info) throw new Error(`cannot sort ${resource} by ${path}`);
  const x = ['userName', 'displayName'].includes(path) ? info.lc : info.expr;
  return `(${x} IS NULL), ${d.codePoints(x)} ${dir}, ${alias}.id ${dir}`;
}
