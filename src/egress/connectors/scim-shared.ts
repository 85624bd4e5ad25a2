// Pieces both downstream-SCIM dialects use: filter quoting, ids in paths, reading ids out of SCIM answers, the
// user lookup by one `attr eq "value"` filter, and finding a group by name when creating it collides.
// Sources: RFC 7644 §3.4.2.2 (filters: `attr eq "string"`, JSON string escaping), §3.4.2 (ListResponse
// `Resources`), §3.3 (POST answers the resource, with Location); DronaHQ list-groups (shared/egress-targets.md §D).
import { truncate, type CallResult } from '../http';
import type { DeliveryContext } from '../connector';
import { permanent } from '../errors';

export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Member values per PATCH request: a big coalesced batch is sent in several requests of this many. */
const MEMBERS_PER_REQUEST = 1000;

/** A filter comparison value: a JSON string literal (RFC 7644 §3.4.2.2), so quotes and backslashes are escaped. */
export function quoted(value: string): string {
  return JSON.stringify(value);
}

/** `?filter=<attr> eq "<value>"`, URL-encoded. */
export function eqFilter(attr: string, value: string): string {
  return `?filter=${encodeURIComponent(`${attr} eq ${quoted(value)}`)}`;
}

export function groupPath(remoteId: string): string {
  return `/Groups/${encodeURIComponent(remoteId)}`;
}

export function chunks<T>(items: T[], size = MEMBERS_PER_REQUEST): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const idOf = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

/** The id of a created resource: the body's `id`, else the last segment of Location. */
export function createdId(res: CallResult, request: string): string {
  const fromBody = idOf(res.json<{ id?: unknown }>()?.id);
  if (fromBody) return fromBody;
  const location = res.headers.get('location');
  const last = location?.replace(/\/+$/, '').split('/').pop();
  if (last) return decodeURIComponent(last);
  throw permanent(`${request} answered ${res.status} without the new resource's id`, { status: res.status, body: truncate(res.text) });
}

function firstResourceId(res: CallResult): string | undefined {
  const resources = res.json<{ Resources?: { id?: unknown }[] }>()?.Resources;
  return Array.isArray(resources) && resources.length ? idOf(resources[0]?.id) : undefined;
}

/** GET /Users?filter=<attr> eq "<email>" → the first resource's id. */
export async function userByFilter(ctx: DeliveryContext, attr: string, email: string): Promise<string | undefined> {
  return firstResourceId(await ctx.call({ method: 'GET', path: `/Users${eqFilter(attr, email)}` }));
}

type Listed = { id?: unknown; displayName?: unknown };

/**
 * Pages through GET /Groups for a group with this displayName (case-insensitive, as SCIM compares displayName).
 * Paging starts at 0 and moves by the page length: right for a 0-based server (DronaHQ's example sends
 * startIndex=0) and at worst one resource of overlap for a 1-based one that reads 0 as 1 (RFC 7644 §3.4.2.4).
 */
export async function groupByName(ctx: DeliveryContext, displayName: string, query = ''): Promise<string | undefined> {
  const wanted = displayName.toLowerCase();
  const pageSize = 100;
  let start = 0;
  for (let page = 0; page < 100; page++) {
    const sep = query ? '&' : '?';
    const res = await ctx.call({ method: 'GET', path: `/Groups${query}${sep}startIndex=${start}&count=${pageSize}` });
    const body = res.json<{ Resources?: Listed[]; totalResults?: number }>();
    const resources = Array.isArray(body?.Resources) ? body!.Resources : [];
    const hit = resources.find((g) => typeof g?.displayName === 'string' && g.displayName.toLowerCase() === wanted);
    if (hit) return idOf(hit.id);
    start += resources.length;
    if (!resources.length || (typeof body?.totalResults === 'number' && start >= body.totalResults)) return undefined;
  }
  return undefined;
}
