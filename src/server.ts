// Builds the Express app (no listen): body parsing with SCIM errors for every refusal, health, the two SCIM
// mounts over one store, and JSON answers for everything else.
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { adminRouter } from './admin/routes';
import { consoleRouter } from './console/serve';
import type { TokenVerifier } from './auth/verify';
import type { TargetConfig } from './egress/targets';
import type { GatewayMetrics } from './ops/metrics';
import { TenantRateLimiter } from './ops/rate-limit';
import { requestLog } from './ops/request-log';
import { securityHeaders } from './ops/security-headers';
import type { ScimLimits } from './scim/context';
import { DEFAULT_BULK_LIMITS, type BulkLimits } from './scim/bulk-request';
import { sendScimError } from './http/scim-error';
import { series } from './http/series';
import { MOUNTS, scimMount } from './scim/router';
import type { Store } from './store/types';

export interface AppDeps {
  store: Store;
  verifier: TokenVerifier;
  log: Logger;
  maxBodyBytes: number;
  maxResults: number;
  publicUrl?: string;
  /** Serve the operator console at /console (CONSOLE; on unless false). */
  console?: boolean;
  /** Delivery targets, for the admin API. */
  targets?: TargetConfig[];
  /** Whether the delivery worker running in this process is alive (absent: no worker here). */
  workerAlive?: () => boolean;
  /** How long /readyz waits for the database before answering 503 (ms). */
  readyTimeoutMs?: number;
  /** Prometheus metrics served at /metrics; none when absent. */
  metrics?: GatewayMetrics;
  /** Bearer token /metrics requires; open when absent. */
  metricsToken?: string;
  /** Per-tenant rate limit (requests per second, burst); off when absent or 0. */
  rateLimit?: { perSecond: number; burst: number };
  limits?: ScimLimits;
  /** POST /Bulk limits; the defaults when absent. */
  bulk?: BulkLimits;
  /** True once shutdown has begun: /readyz answers 503 so load balancers stop sending. */
  draining?: () => boolean;
}

/** Compares a presented secret with the expected one in time that does not depend on where they differ. */
export function sameSecret(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const JSON_TYPES = ['application/json', 'application/scim+json'];

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** SCIM bodies are JSON: anything else with a body is 415, before any parsing. */
function requireJson(req: Request, res: Response, next: NextFunction): void {
  if (!BODY_METHODS.has(req.method) || !hasBody(req)) return next();
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (JSON_TYPES.includes(type)) return next();
  sendScimError(res, 415, undefined, 'Send the body as application/scim+json or application/json');
}

/** POST /Bulk on either mount: parsed with its own limit, maxPayloadSize. */
const BULK_PATHS = MOUNTS.map((m) => `${m}/Bulk`);

/** body-parser failures, rendered as SCIM errors instead of Express's HTML pages. */
function bodyErrors(bulk: BulkLimits) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    const e = err as { type?: string };
    if (e?.type === 'entity.too.large' && /\/Bulk\/?$/i.test(req.path)) {
      // RFC 7644 §3.7.4: a Bulk request over maxPayloadSize is 413.
      return void sendScimError(res, 413, 'tooLarge', `The bulk request is larger than maxPayloadSize (${bulk.maxPayloadSize} bytes). Send its operations as several Bulk requests.`);
    }
    bodyError(err, req, res, next);
  };
}

function bodyError(err: unknown, _req: Request, res: Response, next: NextFunction): void {
  const e = err as { type?: string; status?: number };
  const answer = (status: number, scimType: 'invalidSyntax' | undefined, detail: string) => sendScimError(res, status, scimType, detail);
  switch (e?.type) {
    case 'entity.too.large': return void answer(413, undefined, 'The request body is larger than this server accepts');
    case 'entity.parse.failed': return void answer(400, 'invalidSyntax', 'The request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported': return void answer(415, undefined, 'The request body encoding or charset is not supported');
    case 'request.aborted': return void answer(400, 'invalidSyntax', 'The request body was not received completely');
    default:
      // Anything else body-parser refuses as the client's fault, e.g. a gzip body that does not inflate.
      if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
        return void answer(400, 'invalidSyntax', 'The request body could not be read; check its Content-Encoding');
      }
      return next(err);
  }
}

/** Why this process is not ready, or undefined when it is. */
async function readiness(deps: AppDeps): Promise<string | undefined> {
  if (deps.draining?.()) return 'shutting down';
  await deps.store.ping();
  const pending = await deps.store.pendingMigrations();
  if (pending.length) return `migrations not applied: ${pending.join(', ')}`;
  if (deps.workerAlive && !deps.workerAlive()) return 'delivery worker is not running';
  return undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function buildApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // A stable, simple query parser; the SCIM mount pins the parsed object per request.
  app.set('query parser', 'simple');
  // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's own refusal has no body, so main.ts lets it through to here.
  const requireHost: RequestHandler = (req, res, next) => {
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      sendScimError(res, 400, undefined, 'An HTTP/1.1 request needs a Host header');
      return;
    }
    next();
  };
  app.use(series(requestLog(deps.log, deps.metrics), securityHeaders, requireHost));

  // Liveness: the process is up and serving HTTP. Never touches the database, so an orchestrator does not restart
  // healthy replicas while PostgreSQL is away.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Readiness: the database answers, its schema is current and (when one runs here) the delivery worker is alive.
  // The body never says which check failed; the log does.
  app.get('/readyz', async (_req, res) => {
    let reason: string | undefined;
    try {
      reason = await withTimeout(readiness(deps), deps.readyTimeoutMs ?? 3000);
    } catch (err) {
      reason = `database: ${(err as Error)?.message ?? String(err)}`;
    }
    if (reason === undefined) return void res.json({ status: 'ready' });
    deps.log.warn({ reason }, 'not ready');
    res.status(503).json({ status: 'unavailable' });
  });

  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', async (req, res) => {
      if (deps.metricsToken !== undefined) {
        const m = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
        if (!m || !sameSecret(m[1], deps.metricsToken)) {
          sendScimError(res, 401, undefined, 'Metrics need the bearer token configured in METRICS_TOKEN',
            { 'WWW-Authenticate': 'Bearer realm="metrics"' });
          return;
        }
      }
      const out = await metrics.render();
      res.type(out.contentType).send(out.body);
    });
  }

  if (deps.console !== false) app.use('/console', consoleRouter());

  app.use(requireJson);
  const bulk = deps.bulk ?? DEFAULT_BULK_LIMITS;
  app.post(BULK_PATHS, express.json({ type: JSON_TYPES, limit: bulk.maxPayloadSize, strict: true }));
  app.use(express.json({ type: JSON_TYPES, limit: deps.maxBodyBytes, strict: true }));
  app.use(bodyErrors(bulk));

  app.use('/admin', adminRouter({ store: deps.store, verifier: deps.verifier, log: deps.log, targets: deps.targets ?? [], metrics: deps.metrics?.reconcile() }));
  const limiter = deps.rateLimit && deps.rateLimit.perSecond > 0
    ? new TenantRateLimiter(deps.rateLimit.perSecond, deps.rateLimit.burst) : undefined;
  for (const mount of MOUNTS) {
    app.use(mount, scimMount({ ...deps, limiter, bulk }, mount));
  }

  app.use((_req, res) => {
    sendScimError(res, 404, undefined, 'No such endpoint');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    deps.log.error({ err }, 'unhandled error');
    if (res.headersSent) return;
    sendScimError(res, 500, undefined, 'The server could not complete the request; it has been logged.');
  });
  return app;
}
