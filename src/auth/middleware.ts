// HTTP face of auth: RFC 6750 bearer challenges with SCIM Error bodies (RFC 7644 §3.12).
// The token is never logged, echoed or put in res.locals.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AuthError, KeySetUnavailableError } from './errors';
import type { Principal } from './principal';
import type { TokenVerifier } from './verify';
import { sendScimError } from '../http/scim-error';

const REALM = 'Bearer realm="scimbridge"';
/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Cache-Control: no-store comes with every response (security-headers.ts), refusals included. */
function sendError(res: Response, status: number, detail: string, challenge?: string): void {
  sendScimError(res, status, undefined, detail, challenge ? { 'WWW-Authenticate': challenge } : undefined);
}

function reject(res: Response, err: AuthError, scope?: string): void {
  res.locals.authFailure = err.reason ?? err.code; // for access logs; our own tag, never token text
  const error = err.bearerError;
  // RFC 6750 §3.1: no error attribute when the request carried no (bearer) credentials at all.
  let challenge = error ? `${REALM}, error="${error}"` : REALM;
  if (scope) challenge += `, scope="${scope}"`;
  sendError(res, err.code === 'insufficient_scope' ? 403 : 401, err.message, challenge);
}

/** The bearer token from an Authorization header, or an AuthError saying why there is none. */
function bearerToken(header: string | undefined): string {
  const m = /^(\S+)(?:[ ]+(.*))?$/.exec(header?.trim() ?? '');
  if (!m || m[1].toLowerCase() !== 'bearer') {
    // Absent, or another scheme (Basic...): "unaware that authentication is necessary".
    throw new AuthError('missing_token', 'An access token is required: send "Authorization: Bearer <token>".');
  }
  const token = m[2] ?? '';
  if (!B64TOKEN.test(token)) throw new AuthError('invalid_token', 'The Authorization header is not a well-formed bearer token.', 'malformed');
  return token;
}

/** Verifies the bearer token and sets res.locals.principal; answers 401 (or 503) itself on failure. */
export function authenticate(verifier: TokenVerifier): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    let principal: Principal;
    try {
      principal = await verifier.verify(bearerToken(req.headers.authorization));
    } catch (err) {
      if (err instanceof AuthError) return reject(res, err);
      if (err instanceof KeySetUnavailableError) {
        res.set('Retry-After', '30'); // the JWKS refetch cooldown
        return sendError(res, 503, 'The token signing keys are unavailable; try again later.');
      }
      return next(err); // e.g. the revocation store failed: a server error, not the client's
    }
    res.locals.principal = principal;
    next();
  };
}

/** 403 insufficient_scope unless the authenticated principal holds `scope`. Mount after authenticate(). */
export function requireScope(scope: string): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal) return reject(res, new AuthError('missing_token', 'An access token is required.'));
    if (!principal.scopes.has(scope)) {
      return reject(res, new AuthError('insufficient_scope', `The access token lacks the "${scope}" scope.`), scope);
    }
    next();
  };
}

/** 403 insufficient_scope for a token of all tenants ("*"): SCIM requests act within one tenant. */
export function requireSingleTenant(): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    if ((res.locals.principal as Principal | undefined)?.tenant === '*') {
      return reject(res, new AuthError('insufficient_scope', 'This token is for all tenants; SCIM requests need a token for one tenant'));
    }
    next();
  };
}

/** Reads need scim:read; anything that can change state needs scim:write. */
export function scopeForMethod(method: string): 'scim:read' | 'scim:write' {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD' ? 'scim:read' : 'scim:write';
}

/** requireScope with the scope picked per request by scopeForMethod. */
export function requireMethodScope(): RequestHandler {
  const checks = { 'scim:read': requireScope('scim:read'), 'scim:write': requireScope('scim:write') };
  return (req, res, next) => checks[scopeForMethod(req.method)](req, res, next);
}

/** The principal authenticate() stored; throws if the route was mounted without it. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new Error('no principal: authenticate() is not mounted on this route');
  return principal;
}
