// A backend-neutral filter tree. The SCIM layer builds it from the request's filter text (names already resolved
// and values already typed); each store translates it to its own SQL with bound parameters.

export type Scalar = string | number | boolean;
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type FieldType = 'string' | 'boolean' | 'dateTime' | 'integer' | 'decimal';

/** A filterable attribute: a column the store indexes, or a path into the stored resource JSON. */
export interface Field {
  /** Canonical SCIM path, e.g. "userName", "emails.value", "name.familyName". */
  path: string;
  type: FieldType;
  caseExact: boolean;
  /** Set when the value lives in the resource JSON rather than in an indexed column. */
  json?: string[];
  /** Set for sub-attributes of multi-valued attributes kept in their own table. */
  collection?: 'emails' | 'members';
}

export type Filter =
  | { kind: 'and' | 'or'; items: Filter[] }
  | { kind: 'not'; item: Filter }
  | { kind: 'compare'; field: Field; op: CompareOp; value: Scalar | null }
  | { kind: 'present'; field: Field }
  /** emails[type eq "work" and value co "@x"]: one element must satisfy the whole inner filter. */
  | { kind: 'some'; collection: 'emails' | 'members'; item: Filter };

/** Attributes with columns of their own (indexed), per resource type. Others fall back to the JSON. */
export const USER_FIELDS: Field[] = [
  { path: 'id', type: 'string', caseExact: true },
  { path: 'userName', type: 'string', caseExact: false },
  { path: 'displayName', type: 'string', caseExact: false },
  { path: 'externalId', type: 'string', caseExact: true },
  { path: 'active', type: 'boolean', caseExact: false },
  { path: 'meta.created', type: 'dateTime', caseExact: false },
  { path: 'meta.lastModified', type: 'dateTime', caseExact: false },
  { path: 'emails.value', type: 'string', caseExact: false, collection: 'emails' },
  { path: 'emails.type', type: 'string', caseExact: false, collection: 'emails' },
  { path: 'emails.primary', type: 'boolean', caseExact: false, collection: 'emails' },
];

export const GROUP_FIELDS: Field[] = [
  { path: 'id', type: 'string', caseExact: true },
  { path: 'displayName', type: 'string', caseExact: false },
  { path: 'externalId', type: 'string', caseExact: true },
  { path: 'meta.created', type: 'dateTime', caseExact: false },
  { path: 'meta.lastModified', type: 'dateTime', caseExact: false },
  { path: 'members.value', type: 'string', caseExact: true, collection: 'members' },
];

/** Attributes a list may be sorted by (all have columns). */
export const USER_SORT = ['id', 'userName', 'displayName', 'externalId', 'meta.created', 'meta.lastModified'];
export const GROUP_SORT = ['id', 'displayName', 'externalId', 'meta.created', 'meta.lastModified'];
