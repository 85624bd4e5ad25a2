// Column catalogue shared by the SQL translations of filters (SQLite and PostgreSQL use the same tables).
export type Resource = 'users' | 'groups';

export interface ColumnInfo {
  /** SQL expression for the value as stored. */
  expr: string;
  /** SQL expression for the value lowercased (caseExact: false comparisons). */
  lc: string;
  nullable: boolean;
}

/** Largest code point: a prefix range [p, p + MAX) holds exactly the strings that start with p (code-point order). */
export const MAX_CHAR = String.fromCodePoint(0x10ffff);

export const COLUMNS: Record<Resource, Record<string, ColumnInfo>> = {
  users: {
    id: { expr: 'u.id', lc: 'u.id', nullable: false },
    userName: { expr: 'u.user_name', lc: 'u.user_name_lc', nullable: false },
    displayName: { expr: 'u.display_name', lc: 'u.display_name_lc', nullable: true },
    externalId: { expr: 'u.external_id', lc: 'lower(u.external_id)', nullable: true },
    active: { expr: 'u.active', lc: 'u.active', nullable: false },
    'meta.created': { expr: 'u.created', lc: 'u.created', nullable: false },
    'meta.lastModified': { expr: 'u.modified', lc: 'u.modified', nullable: false },
  },
  groups: {
    id: { expr: 'g.id', lc: 'g.id', nullable: false },
    displayName: { expr: 'g.display_name', lc: 'g.display_name_lc', nullable: false },
    externalId: { expr: 'g.external_id', lc: 'lower(g.external_id)', nullable: true },
    'meta.created': { expr: 'g.created', lc: 'g.created', nullable: false },
    'meta.lastModified': { expr: 'g.modified', lc: 'g.modified', nullable: false },
  },
};

export const COLLECTION_COLUMNS: Record<string, ColumnInfo> = {
  'emails.value': { expr: 'e.value', lc: 'e.value_lc', nullable: false },
  'emails.type': { expr: 'e.type', lc: 'lower(e.type)', nullable: true },
  'emails.primary': { expr: 'e.is_primary', lc: 'e.is_primary', nullable: false },
  // A member's id comes from its user row (mu), joined by rid; each dialect names the join (its keys differ).
  'members.value': { expr: 'mu.id', lc: 'mu.id', nullable: false },
};

export const EMAILS_FROM = 'SELECT 1 FROM user_emails e WHERE e.tenant = u.tenant AND e.user_id = u.id';
