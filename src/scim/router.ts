// The SCIM mounts: authentication, scope, request context, .search, response shaping (locations, ETag,
// Location, 304), then the single scimmy-routers instance.
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { authenticate, requireMethodScope, requireSingleTenant } from '../auth/middleware';
import type { TokenVerifier } from '../auth/verify';
import { rateLimit, type TenantRateLimiter } from '../ops/rate-limit';
import { operationOf } from '../store/audit';
import type { Store } from '../store/types';
import { DEFAULT_LIMITS, parseEtagList, type ScimContext, type ScimLimits } from './context';
import { scimmyRouters } from './declare';
import { sendScimError } from '../http/scim-error';
import { series } from '../http/series';
import { toScimError } from './errors';
import { streamGroup } from './group-stream';
import { bulkRoute } from './bulk';
import { rootSearch } from './root-search';
import { DEFAULT_BULK_LIMITS, type BulkLimits } from './bulk-request';
import { patchGroup } from './groups';
import { pinQuery, requestBase, rewriteLocations, scimQuery } from './mount';
import { storable } from './shared';

export const MOUNTS = ['/api/scim/v2', '/sso/scim/v2'] as const;

export interface ScimDeps {
  store: Store;
  log: Logger;
  verifier: TokenVerifier;
  maxResults: number;
  publicUrl?: string;
  limits?: ScimLimits;
  /** Per-tenant rate limit; none when absent. */
  limiter?: TenantRateLimiter;
  /** POST /Bulk limits (advertised in /ServiceProviderConfig); the defaults when absent. */
  bulk?: BulkLimits;
}

const SEARCH_PARAMS = ['filter', 'startIndex', 'count', 'sortBy', 'sortOrder', 'attributes', 'excludedAttributes'];

/**
 * POST /Users/.search → the same list as GET /Users with the body's parameters (RFC 7644 §3.4.3); POST /.search at
 * the root → root-search.ts over both types.
 */
function searchAsList(req: Request, res: Response, next: NextFunction): void {
  if (req.method !== 'POST') return next();
  const m = /^\/(?:(Users|Groups)\/)?\.search\/?$/i.exec(req.path);
  if (!m) return next();
  const body = req.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    sendScimError(res, 400, 'invalidSyntax', 'A .search body must be a SearchRequest object');
    return;
  }
  const query: Record<string, string> = {};
  for (const key of SEARCH_PARAMS) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    const listable = key === 'attributes' || key === 'excludedAttributes';
    if (listable && Array.isArray(v) && v.every((x) => typeof x === 'string')) query[key] = v.join(',');
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') query[key] = String(v);
    else {
      sendScimError(res, 400, 'invalidValue', `"${key}" must be ${listable ? 'a string or an array of strings' : 'a string or a number'}`);
      return;
    }
  }
  req.method = 'GET';
  if (m[1] === undefined) {
    res.locals.rootSearch = true;
    req.url = '/.search';
  } else req.url = `/${m[1][0].toUpperCase()}${m[1].slice(1).toLowerCase()}`;
  pinQuery(req, query);
  next();
}

function tenantOf(res: Response): string {
  return (res.locals.principal as { tenant: string }).tenant;
}

export function scimMount(deps: ScimDeps, mountPath: string): Router {
  const router = express.Router();
  const inner = scimmyRouters(deps.maxResults);

  const limits = deps.limits ?? DEFAULT_LIMITS;
  const bulk = deps.bulk ?? DEFAULT_BULK_LIMITS;
  const shapers = responseShapers(bulk);
  const context: RequestHandler = (req, res, next) => {
    const query = scimQuery(req);
    const ifMatch = parseEtagList(req.get('if-match'));
    const ctx: ScimContext = {
      store: deps.store,
      log: deps.log,
      tenant: tenantOf(res),
      principal: res.locals.principal,
      query,
      ifMatch: ifMatch ? (ifMatch.any ? '*' : ifMatch.versions) : undefined,
      maxResults: deps.maxResults,
      limits,
    };
    res.locals.scim = ctx;
    res.locals.base = requestBase(req, deps.publicUrl, mountPath);
    res.json = shapers.json;
    res.send = shapers.send;
    // Writes carry their actor to the store, which records it in the audit trail in the write's transaction.
    const operation = operationOf(req.method);
    if (operation) {
      ctx.actor = { subject: ctx.principal.subject, jti: ctx.principal.jti, mount: mountPath, operation, requestId: res.locals.requestId as string | undefined };
    }
    next();
  };
  // An id no backend can hold (U+0000, an unpaired surrogate) names no resource: 404 before any store is asked.
  const storableIds: RequestHandler = (req, res, next) => {
    const raw = /^\/(?:Users|Groups)\/([^/]+)/.exec(req.path)?.[1];
    if (raw === undefined) return next();
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      return next(); // undecodable: answered where the path is parsed
    }
    if (storable(id)) return next();
    sendScimError(res, 404, undefined, 'Resource not found');
  };
  // One router layer for what every SCIM request passes (series.ts says why).
  router.use(series(authenticate(deps.verifier), rateLimit(deps.limiter), searchAsList, requireMethodScope(),
    requireSingleTenant(), context, storableIds));
  router.get('/Groups/:id', streamGroup);
  router.patch('/Groups/:id', groupPatchRoute);
  router.post('/Bulk', bulkRoute(bulk));
  router.get('/.search', rootSearch);
  router.use(inner);
  // scimmy-routers' own error handler answers first; we see errors it could not render, or 5xx it passes on.
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const ctx = res.locals.scim as ScimContext | undefined;
    const original = (ctx?.error as { cause?: unknown } | undefined)?.cause ?? (err as { cause?: unknown })?.cause ?? err;
    if (res.headersSent) {
      deps.log.error({ err: original, tenant: ctx?.tenant }, 'SCIM request failed');
      return;
    }
    const mapped = toScimError(ctx?.error ?? err);
    if (mapped.internal) deps.log.error({ err: original, tenant: ctx?.tenant }, 'SCIM request failed');
    res.set(mapped.headers).status(mapped.status).type('application/scim+json').json(mapped.body);
  });
  return router;
}

/** Group PATCH without scimmy-routers' dispatch (it would parse an `id eq` filter per request); same handler. */
async function groupPatchRoute(req: Request, res: Response, next: NextFunction): Promise<void> {
  try {
    const ctx = res.locals.scim as ScimContext;
    const answer = await patchGroup(ctx, String(req.params.id), req.body);
    if (answer) res.status(200).json(answer);
    else res.status(204).send();
  } catch (e) {
    next(e);
  }
}

/**
 * A mount's res.json and res.send, made once per mount and set on each of its responses (context): mount-correct
 * locations, Location on 201, ETag, and If-None-Match → 304. Per request they read the request and the base URL
 * from the response itself (res.req, res.locals.base), so setting them allocates nothing; each ends in the
 * Express method it stands in for.
 */
function responseShapers(bulk: BulkLimits): { json: Response['json']; send: Response['send'] } {
  function json(this: Response, body: unknown): Response {
    const req = this.req;
    if (body && typeof body === 'object' && /^\/ServiceProviderConfig\/?$/i.test(req.path) && this.statusCode === 200) {
      // scimmy's object is frozen (and process-global): answer a copy with this app's Bulk limits. Only RFC 7643 §5
      // attributes: a typed client refuses a document with unknown ones, and then cannot provision at all. The other
      // limits (members per request, filter length and depth) are in the README and in the error that enforces each.
      const spc = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
      spc.bulk = { supported: true, maxOperations: bulk.maxOperations, maxPayloadSize: bulk.maxPayloadSize };
      body = spc;
    }
    if (body && typeof body === 'object') {
      rewriteLocations(body, this.locals.base as string);
      const meta = (body as { meta?: { location?: string; version?: string } }).meta;
      if (meta?.location && this.statusCode === 201) this.location(meta.location);
      if (meta?.version && this.statusCode < 300) {
        this.set('ETag', meta.version);
        const inm = parseEtagList(req.get('if-none-match'));
        const v = /^W\/"(\d+)"$/.exec(meta.version);
        if (req.method === 'GET' && inm && (inm.any || (v && inm.versions.includes(Number(v[1]))))) {
          this.status(304).end();
          return this;
        }
      }
    }
    this.type('application/scim+json');
    return (Object.getPrototypeOf(this) as Response).json.call(this, body);
  }
  // A 204 (Group PATCH) has no body to carry meta.version: the handler leaves the new version in the context.
  function send(this: Response, body?: unknown): Response {
    const etag = (this.locals.scim as ScimContext | undefined)?.etag;
    if (this.statusCode === 204 && etag && !this.get('ETag')) this.set('ETag', etag);
    return (Object.getPrototypeOf(this) as Response).send.call(this, body);
  }
  return { json, send };
}

