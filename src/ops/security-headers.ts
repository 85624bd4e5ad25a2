// Headers on every response: an API that browsers must never render, frame, sniff or cache, and no CORS (no
// Access-Control-* header is ever sent, so browsers refuse cross-origin reads).
import type { NextFunction, Request, Response } from 'express';

const HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
  'Strict-Transport-Security': 'max-age=31536000',
};

const ENTRIES = Object.entries(HEADERS);

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  for (const [name, value] of ENTRIES) res.setHeader(name, value);
  next();
}

export const SECURITY_HEADERS = HEADERS;
