// What each scimmy handler receives about its request. scimmy passes it through untouched, so nothing here
// depends on scimmy's process-global state (basepaths are rewritten per response, see mount.ts).
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal';
import type { AuditActor } from '../store/audit';
import type { Filter } from '../store/filter';
import type { Store } from '../store/types';

export interface ScimContext {
  store: Store;
  log: Logger;
  tenant: string;
  principal: Principal;
  /** The request's query string, parsed once (scimmy never sees `filter`; we parse it ourselves). */
  query: Record<string, string | undefined>;
  /** If-Match: '*' (any version), the versions listed, or undefined when absent. */
  ifMatch?: '*' | number[];
  maxResults: number;
  limits: ScimLimits;
  /** The last error a handler threw, for statuses scimmy-routers cannot render (e.g. 503). */
  error?: Error;
  /** Who is writing (writes only), for the audit trail. */
  actor?: AuditActor;
  /** ETag of the resource a bodiless answer (204) leaves behind. */
  etag?: string;
  /** The answer carries no resource (a Bulk operation): handlers return only its id and version, unshaped. */
  bodyless?: boolean;
  /** A list's filter, already resolved for its resource type (root /.search); query.filter is then ignored. */
  resolvedFilter?: Filter;
}

/** Request limits, advertised in /ServiceProviderConfig. */
export interface ScimLimits {
  maxMembersPerRequest: number;
  maxFilterLength: number;
  maxFilterDepth: number;
}

export const DEFAULT_LIMITS: ScimLimits = { maxMembersPerRequest: 20000, maxFilterLength: 8192, maxFilterDepth: 32 };

/** Base URL every resource location is built on; mount.ts swaps it for the request's own mount. */
export const LOCATION_BASE = 'https://scimbridge.invalid/scim/v2';

export function etagOf(version: number): string {
  return `W/"${version}"`;
}

/** Parses If-Match / If-None-Match: "*", or a list of (weak) entity tags whose value is our version number. */
export function parseEtagList(header: string | undefined): { any: boolean; versions: number[] } | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return { any: true, versions: [] };
  const versions: number[] = [];
  for (const m of header.matchAll(/(?:W\/)?"([^"]*)"/g)) {
    if (/^\d+$/.test(m[1])) versions.push(Number(m[1]));
  }
  return { any: false, versions };
}
