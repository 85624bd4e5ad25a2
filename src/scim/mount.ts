// Per-request handling around the one scimmy-routers instance: a stable query object (Express 5 re-parses
// req.query on each read), the request context, and each response's locations rewritten to the mount and host the
// request came in on. scimmy keeps basepaths in process-global state; rewriting per response makes that harmless.
import type { Request } from 'express';
import SCIMMY from 'scimmy';
import { badRequest } from './errors';

/** Every base scimmy may have written: our constant, or (for Schemas/ResourceTypes) whatever mount ran last. */
const SENTINEL = /^https:\/\/scimbridge\.invalid(?:\/api|\/sso)?\/scim\/v2/;
const SENTINEL_PREFIX = 'https://scimbridge.invalid/';

/**
 * The request's query for our own handlers (the first value of each parameter; attribute lists checked), with
 * scimmy's copy pinned as req.query: without `filter` (scimmy would parse it itself, without nesting and in
 * exponential time; we parse it ourselves) and with startIndex and count as numbers. A request without a query
 * string (most writes), unless one is pinned already (a .search body's), has nothing to keep from scimmy: Express's
 * getter answers {} on every read, so nothing is copied or pinned.
 */
export function scimQuery(req: Request): Record<string, string | undefined> {
  if (!req.url.includes('?') && !Object.hasOwn(req, 'query')) return {};
  const query = stableQuery(req);
  const forScimmy: Record<string, unknown> = { ...query };
  delete forScimmy.filter;
  for (const k of ['startIndex', 'count']) if (forScimmy[k] !== undefined) forScimmy[k] = Number(forScimmy[k]);
  pinQuery(req, forScimmy);
  return query;
}

function stableQuery(req: Request): Record<string, string | undefined> {
  const raw = req.query as Record<string, unknown>;
  const q: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(raw)) {
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string') q[k] = first;
  }
  for (const name of ['attributes', 'excludedAttributes']) checkAttributeList(name, q[name]);
  return q;
}

/**
 * attributes / excludedAttributes: scimmy turns them into a filter ("a pr and b pr") in every resource's constructor
 * and throws TypeErrors (answered as 500) on lists its lexer cannot take, e.g. "name..x", ",,,", "__proto__", "1",
 * "true". Parse them the same way first and refuse what fails as a 400; what parses reaches scimmy unchanged.
 */
function checkAttributeList(name: string, value: string | undefined): void {
  if (value === undefined || value.trim() === '') return;
  const op = name === 'attributes' ? 'pr' : 'np';
  try {
    new SCIMMY.Types.Filter(value.split(',').map((a) => `${a} ${op}`).join(' and '));
  } catch (e) {
    const detail = e instanceof SCIMMY.Types.Error ? `: ${e.message}` : '';
    throw badRequest('invalidValue', `${name} must be a comma-separated list of attribute paths${detail}`);
  }
}

/** Replaces req.query with a plain own property so what we remove (filter) stays removed. */
export function pinQuery(req: Request, query: Record<string, unknown>): void {
  Object.defineProperty(req, 'query', { value: query, writable: true, configurable: true, enumerable: true });
}

export function requestBase(req: Request, publicUrl: string | undefined, mountPath: string): string {
  const origin = publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
  return origin + mountPath;
}

/** Rewrites meta.location and $ref values in place; touches nothing else. */
export function rewriteLocations(body: unknown, base: string): void {
  const stack: unknown[] = [body];
  while (stack.length) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const item of node) if (item && typeof item === 'object') stack.push(item);
      continue;
    }
    if (!node || typeof node !== 'object') continue;
    const o = node as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      const v = o[key];
      if ((key === 'location' || key === '$ref') && typeof v === 'string' && v.startsWith(SENTINEL_PREFIX)) {
        o[key] = v.replace(SENTINEL, base);
      } else if (v && typeof v === 'object') stack.push(v);
    }
  }
}

