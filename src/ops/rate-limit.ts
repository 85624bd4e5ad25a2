// Per-tenant request rate limit: a token bucket per tenant, in this process (each replica limits on its own).
// Refusals are 429 SCIM errors with Retry-After in whole seconds.
import type { NextFunction, Request, Response } from 'express';
import { sendScimError } from '../http/scim-error';

interface Bucket {
  tokens: number;
  at: number;
}

export class TenantRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = Date.now();

  constructor(readonly perSecond: number, readonly burst: number, private readonly now: () => number = Date.now) {}

  /** Takes one request's token; answers how many seconds to wait when there is none. */
  take(tenant: string): { ok: true } | { ok: false; retryAfterSec: number } {
    const t = this.now();
    this.sweep(t);
    const b = this.buckets.get(tenant) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    this.buckets.set(tenant, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond)) };
  }

  /** Buckets that have refilled completely carry no state worth keeping. */
  private sweep(t: number): void {
    if (t - this.lastSweep < 60_000) return;
    this.lastSweep = t;
    const full = (this.burst / this.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (t - b.at > full) this.buckets.delete(k);
  }
}

/** Middleware for routes behind authentication (res.locals.principal.tenant). */
export function rateLimit(limiter: TenantRateLimiter | undefined) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const tenant = (res.locals.principal as { tenant?: string } | undefined)?.tenant;
    if (!limiter || tenant === undefined) return next();
    const r = limiter.take(tenant);
    if (r.ok) return next();
    sendScimError(res, 429, undefined, `Too many requests for this tenant; retry after ${r.retryAfterSec} s`,
      { 'Retry-After': String(r.retryAfterSec) });
  };
}
