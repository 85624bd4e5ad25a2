// SCIM filter text → the store's filter tree. Parsing uses scim2-parse-filter (linear, nested parentheses),
// never scimmy's parser (which rejects nesting and expands to DNF exponentially). Attribute names are matched
// case-insensitively (RFC 7643 §2.1) and resolved against the fields the store can answer.
import { parse, type Filter as ParsedFilter } from 'scim2-parse-filter';
import SCIMMY from 'scimmy';
import type { CompareOp, Field, FieldType, Filter, Scalar } from '../store/filter';
import { GROUP_FIELDS, USER_FIELDS } from '../store/filter';
import { badRequest } from './errors';
import { storable } from './shared';

const MAX_FILTER_LENGTH = 8192;
const MAX_FILTER_DEPTH = 32;

export type ResourceKind = 'User' | 'Group';

const CORE_URN = { User: 'urn:ietf:params:scim:schemas:core:2.0:User', Group: 'urn:ietf:params:scim:schemas:core:2.0:Group' };
const ENTERPRISE_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const SUB_FIELDS: Record<'emails' | 'members', Field[]> = {
  emails: USER_FIELDS.filter((f) => f.collection === 'emails'),
  members: GROUP_FIELDS.filter((f) => f.collection === 'members'),
};

function invalid(detail: string) {
  return badRequest('invalidFilter', detail);
}

/** Nesting depth of parentheses and brackets outside quoted strings. */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '(' || c === '[') max = Math.max(max, ++depth);
    else if (c === ')' || c === ']') depth--;
  }
  return max;
}

/** Splits an optional schema URN prefix off an attribute path. */
function splitUrn(kind: ResourceKind, attrPath: string): { urn?: string; path: string } {
  const lower = attrPath.toLowerCase();
  for (const urn of [CORE_URN[kind], ...(kind === 'User' ? [ENTERPRISE_URN] : [])]) {
    if (lower.startsWith(urn.toLowerCase() + ':')) {
      return { urn: urn === CORE_URN[kind] ? undefined : urn, path: attrPath.slice(urn.length + 1) };
    }
  }
  return { path: attrPath };
}

const SCHEMA_TYPES: Record<string, FieldType | undefined> = {
  string: 'string', reference: 'string', binary: undefined, boolean: 'boolean', dateTime: 'dateTime',
  integer: 'integer', decimal: 'decimal', complex: undefined,
};

interface ScimmyAttribute {
  name: string;
  type: string;
  config: { multiValued?: boolean; caseExact?: boolean };
  subAttributes?: ScimmyAttribute[];
}

/** Attributes without a column: a singular simple attribute found in the stored JSON. */
function jsonField(kind: ResourceKind, urn: string | undefined, path: string): Field | undefined {
  const definition = urn === ENTERPRISE_URN ? SCIMMY.Schemas.EnterpriseUser.definition
    : kind === 'User' ? SCIMMY.Schemas.User.definition : SCIMMY.Schemas.Group.definition;
  const parts = path.split('.');
  if (parts.length > 2) return undefined;
  let attrs = definition.attributes as unknown as ScimmyAttribute[];
  const names: string[] = urn ? [urn] : [];
  let found: ScimmyAttribute | undefined;
  for (const part of parts) {
    found = attrs.find((a) => a.name.toLowerCase() === part.toLowerCase());
    if (!found || found.config.multiValued) return undefined;
    names.push(found.name);
    attrs = found.subAttributes ?? [];
  }
  if (!found) return undefined;
  const type = SCHEMA_TYPES[found.type];
  if (!type) return undefined;
  return { path: names.join('.'), type, caseExact: !!found.config.caseExact, json: names };
}

/** The field of a top-level attribute path, or undefined when `kind` has no such attribute a filter can test. */
function fieldOf(kind: ResourceKind, attrPath: string): Field | undefined {
  const { urn, path } = splitUrn(kind, attrPath);
  const lower = path.toLowerCase();
  const fields = kind === 'User' ? USER_FIELDS : GROUP_FIELDS;
  if (!urn) {
    const f = fields.find((x) => x.path.toLowerCase() === lower);
    if (f) return f;
    // "emails" alone means its value sub-attribute (RFC 7644 §3.4.2.2, multi-valued attribute without sub-attribute)
    const collection = fields.find((x) => x.collection && x.path.toLowerCase() === `${lower}.value`);
    if (collection) return collection;
  }
  return jsonField(kind, urn, path);
}

function resolveField(kind: ResourceKind, attrPath: string, within?: 'emails' | 'members'): Field {
  if (within) {
    const lower = splitUrn(kind, attrPath).path.toLowerCase();
    const f = SUB_FIELDS[within].find((x) => x.path.toLowerCase() === `${within}.${lower}`);
    if (f) return f;
    throw invalid(`Attribute "${attrPath}" cannot be filtered inside "${within}[...]"`);
  }
  const f = fieldOf(kind, attrPath);
  if (f) return f;
  throw invalid(`Attribute "${attrPath}" is not supported in filters for ${kind}s`);
}

function typedValue(field: Field, op: CompareOp, raw: unknown): Scalar | null {
  if (raw === null) {
    if (op !== 'eq' && op !== 'ne') throw invalid(`Operator "${op}" cannot compare with null`);
    return null;
  }
  const stringOps = ['co', 'sw', 'ew'];
  switch (field.type) {
    case 'string':
      if (typeof raw === 'string') return raw;
      if (typeof raw === 'number') return String(raw);
      throw invalid(`Attribute "${field.path}" is a string; compare it with a quoted value`);
    case 'boolean':
      if (op !== 'eq' && op !== 'ne') throw invalid(`Operator "${op}" is not defined for boolean attribute "${field.path}"`);
      if (typeof raw !== 'boolean') throw invalid(`Attribute "${field.path}" is boolean; compare it with true or false`);
      return raw;
    case 'dateTime': {
      if (stringOps.includes(op)) throw invalid(`Operator "${op}" is not defined for dateTime attribute "${field.path}"`);
      const d = typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}/.test(raw) ? new Date(raw) : undefined;
      if (!d || Number.isNaN(d.getTime())) throw invalid(`Attribute "${field.path}" needs an RFC 3339 date-time value`);
      return d.toISOString();
    }
    case 'integer':
    case 'decimal':
      if (stringOps.includes(op)) throw invalid(`Operator "${op}" is not defined for numeric attribute "${field.path}"`);
      if (typeof raw !== 'number') throw invalid(`Attribute "${field.path}" is numeric; compare it with a number`);
      return raw;
  }
}

function convert(kind: ResourceKind, node: ParsedFilter, within?: 'emails' | 'members'): Filter {
  switch (node.op) {
    case 'and':
    case 'or':
      return { kind: node.op, items: node.filters.map((f) => convert(kind, f, within)) };
    case 'not':
      return { kind: 'not', item: convert(kind, node.filter, within) };
    case '[]': {
      if (within) throw invalid('Nested value filters are not allowed');
      const { path } = splitUrn(kind, node.attrPath);
      const collection = (['emails', 'members'] as const).find((c) => c === path.toLowerCase());
      const allowed = collection && (kind === 'User' ? collection === 'emails' : collection === 'members');
      if (!collection || !allowed) throw invalid(`Attribute "${node.attrPath}" does not support value filters`);
      return { kind: 'some', collection, item: convert(kind, node.valFilter, collection) };
    }
    case 'pr':
      return { kind: 'present', field: resolveField(kind, node.attrPath, within) };
    default: {
      const field = resolveField(kind, node.attrPath, within);
      const op = node.op as CompareOp;
      return { kind: 'compare', field, op, value: typedValue(field, op, node.compValue) };
    }
  }
}

const UNSTORABLE_FILTER = 'The filter holds U+0000 or an unpaired surrogate: no resource can hold such text';

/** Checks the filter's size and text and parses it, not yet against a resource type; a problem is a 400 invalidFilter. */
export function parseFilterText(text: string, limits = { maxLength: MAX_FILTER_LENGTH, maxDepth: MAX_FILTER_DEPTH }): ParsedFilter {
  if (typeof text !== 'string' || text.trim() === '') throw invalid('The filter is empty');
  if (text.length > limits.maxLength) throw invalid(`The filter is longer than ${limits.maxLength} characters`);
  if (nestingDepth(text) > limits.maxDepth) throw invalid(`The filter nests deeper than ${limits.maxDepth} levels`);
  if (!storable(text)) throw invalid(UNSTORABLE_FILTER);
  try {
    return parse(text);
  } catch {
    throw invalid('The filter is not valid SCIM filter syntax (RFC 7644 §3.4.2.2); string values need double quotes');
  }
}

/** Parses and resolves a filter; any problem is a 400 invalidFilter naming it. */
export function parseFilter(kind: ResourceKind, text: string, limits = { maxLength: MAX_FILTER_LENGTH, maxDepth: MAX_FILTER_DEPTH }): Filter {
  return convert(kind, parseFilterText(text, limits));
}

/** and/or over items that may be constants, folded. */
function fold(op: 'and' | 'or', items: (ParsedFilter | boolean)[]): ParsedFilter | boolean {
  const absorbing = op === 'or';
  if (items.includes(absorbing)) return absorbing;
  const rest = items.filter((i): i is ParsedFilter => typeof i !== 'boolean');
  if (!rest.length) return !absorbing;
  return rest.length === 1 ? rest[0] : { op, filters: rest };
}

/** The filter with every test of an attribute `kind` lacks replaced by its value for an unassigned attribute. */
function unassigned(kind: ResourceKind, node: ParsedFilter, missing: Set<string>): ParsedFilter | boolean {
  switch (node.op) {
    case 'and':
    case 'or':
      return fold(node.op, node.filters.map((f) => unassigned(kind, f, missing)));
    case 'not': {
      const inner = unassigned(kind, node.filter, missing);
      return typeof inner === 'boolean' ? !inner : { op: 'not', filter: inner };
    }
    case '[]': {
      // A collection of the other type has no elements here; anything else is parseFilter's to judge.
      const { path } = splitUrn(kind, node.attrPath);
      const other = kind === 'User' ? 'members' : 'emails';
      if (path.toLowerCase() !== other) return node;
      missing.add(node.attrPath);
      return false;
    }
    case 'pr':
      if (fieldOf(kind, node.attrPath)) return node;
      missing.add(node.attrPath);
      return false;
    default:
      if (fieldOf(kind, node.attrPath)) return node;
      missing.add(node.attrPath);
      // No value: "ne" (and "eq null") hold, every other comparison fails, as the SQL treats an absent column.
      return node.compValue === null ? node.op === 'eq' : node.op === 'ne';
  }
}

/**
 * A filter of a search over every resource type (root /.search, RFC 7644 §3.4.3), as it reads for `kind`: an
 * attribute that type does not have is unassigned there, so `displayName eq "x" or userName eq "y"` still finds
 * Groups by their displayName. Answers the store's filter for `kind`, or true (every resource) or false (none), with
 * the attributes `kind` lacks; any other problem of the filter is a 400 invalidFilter, as in parseFilter.
 */
export function filterForType(kind: ResourceKind, parsed: ParsedFilter): { filter: Filter | boolean; missing: Set<string> } {
  const missing = new Set<string>();
  const r = unassigned(kind, parsed, missing);
  return { filter: typeof r === 'boolean' ? r : convert(kind, r), missing };
}

/** sortBy → a canonical attribute the store can order by. */
export function resolveSortBy(kind: ResourceKind, sortBy: string | undefined, allowed: string[]): string | undefined {
  if (sortBy === undefined || sortBy === '') return undefined;
  const { path } = splitUrn(kind, sortBy);
  const hit = allowed.find((a) => a.toLowerCase() === path.toLowerCase());
  if (!hit) throw badRequest('invalidValue', `sortBy "${sortBy}" is not supported; use one of ${allowed.join(', ')}`);
  return hit;
}
