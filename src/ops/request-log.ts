// One log line and one metrics observation per request, with a request id: X-Request-Id when the caller sent a
// sane one, else a new UUID; returned on every response. The line carries no query string (filters name people)
// and no headers; tenant comes from the verified token.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics';

const SANE_ID = /^[A-Za-z0-9._:@\-]{1,128}$/;
const RESOURCES = new Map(['Users', 'Groups', 'Schemas', 'ResourceTypes', 'ServiceProviderConfig', 'Me', 'Bulk'].map((r) => [r.toLowerCase(), r]));

/** Bounded label values for a request path. */
export function classify(path: string): { mount: string; resource: string } {
  const m = /^\/(api|sso)\/scim\/v2(?:\/([^/?]*))?(\/[^?]*)?/i.exec(path);
  if (m) {
    const first = (m[2] ?? '').toLowerCase();
    const resource = first === '' ? 'root' : RESOURCES.get(first) ?? 'unknown';
    const search = resource !== 'unknown' && /^\/\.search\/?$/i.test(m[3] ?? '');
    return { mount: m[1].toLowerCase(), resource: search ? `${resource}/.search` : resource };
  }
  if (/^\/admin(\/|$)/.test(path)) return { mount: 'admin', resource: 'admin' };
  if (/^\/(healthz|readyz|metrics)\/?$/.test(path)) return { mount: 'ops', resource: path.replace(/\W/g, '') };
  return { mount: 'other', resource: 'unknown' };
}

/** Percent-decoded when possible, so the logger's e-mail masking sees what the client meant. */
function decoded(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** What the request log keeps in res.locals between a request's start and its 'close'. */
interface Timing {
  requestId: string;
  /** process.hrtime.bigint() at the start. */
  requestStarted: bigint;
  /** The URL as it came in: routers rewrite req.url on the way down. */
  requestUrl: string;
}

export function requestLog(log: Logger, metrics?: GatewayMetrics) {
  // One listener for every response, reading its request's timing from res.locals: nothing is allocated per request
  // for it. 'close' comes after 'finish' for an answered request and alone for one whose client went away.
  function closed(this: Response): void {
    const req = this.req;
    const { requestId: id, requestStarted: started, requestUrl: url } = this.locals as Timing;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const q = url.indexOf('?');
    const path = decoded(q < 0 ? url : url.slice(0, q));
    const { mount, resource } = classify(path);
    const status = this.headersSent ? this.statusCode : 499; // 499: the client went away before an answer
    const tenant = (this.locals.principal as { tenant?: string } | undefined)?.tenant;
    metrics?.request({ mount, method: METHODS.has(req.method) ? req.method : 'OTHER', resource, status: String(status) }, seconds);
    // Every failure that is not the client's is the database's: 503 while it is away, 500 when a query failed.
    if (status === 503) metrics?.storeError('unavailable');
    else if (status === 500) metrics?.storeError('internal');
    if (mount === 'ops' && status < 400) return; // probes and scrapes would drown the log
    log.info({ reqId: id, method: req.method, path: path.slice(0, 512), mount, tenant, status, ms: Math.round(seconds * 10000) / 10 }, 'request');
  }
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.get('x-request-id');
    const id = given !== undefined && SANE_ID.test(given) ? given : randomUUID();
    const locals = res.locals as Timing;
    locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    locals.requestStarted = process.hrtime.bigint();
    locals.requestUrl = req.originalUrl ?? req.url;
    res.on('close', closed);
    next();
  };
}
