// Bearer token in, Principal out. All JWT cryptography is jose's; this file decides which
// keys and algorithms are acceptable and what the claims mean to us.
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { JwtConfig } from '../config';
import { AuthError, KeySetUnavailableError } from './errors';
import { algorithmsForKey, ASYMMETRIC_ALGS, publicKeyFromPem } from './keys';
import { DEFAULT_SCOPES, DEFAULT_TENANT, type Principal } from './principal';

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/** Longer than any sane access token; refusing early keeps hostile input away from the parser. */
export const MAX_TOKEN_LENGTH = 8 * 1024;
const VERIFIED_CACHE_MS = 60_000;
const VERIFIED_CACHE_SIZE = 1000;

const TENANT_RE = /^[A-Za-z0-9._:@-]+$/;

/** '*' is the all-tenants wildcard; anything else is an identifier that is safe in logs and SQL params. */
export function isValidTenant(value: unknown): value is string {
  return typeof value === 'string' && (value === '*' || (value.length <= 128 && TENANT_RE.test(value)));
}

const INVALID = 'The access token is invalid or expired.';

function invalid(reason: string, message = INVALID): AuthError {
  return new AuthError('invalid_token', message, reason);
}

function splitScopes(value: string): string[] {
  return value.split(' ').filter((s) => s !== '');
}

/** `scope` (RFC 8693 / 9068, space-separated) wins; `scp` as string or array covers Entra and Okta. */
function scopesOf(payload: JWTPayload): ReadonlySet<string> {
  if (payload.scope !== undefined) {
    if (typeof payload.scope !== 'string') throw invalid('claim:scope');
    return new Set(splitScopes(payload.scope));
  }
  const scp = payload.scp;
  if (scp !== undefined) {
    if (typeof scp === 'string') return new Set(splitScopes(scp));
    if (Array.isArray(scp) && scp.every((s) => typeof s === 'string')) return new Set(scp as string[]);
    throw invalid('claim:scp');
  }
  return new Set(DEFAULT_SCOPES);
}

function optionalString(payload: JWTPayload, claim: 'sub' | 'jti'): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`claim:${claim}`);
  return value;
}

function principalOf(payload: JWTPayload): Principal {
  const tenant = payload.tenant === undefined ? DEFAULT_TENANT : payload.tenant;
  if (!isValidTenant(tenant)) throw invalid('claim:tenant');
  return { tenant, scopes: scopesOf(payload), subject: optionalString(payload, 'sub'), jti: optionalString(payload, 'jti') };
}

/** Map a jose failure to our own wording; jose text can echo token contents, so it is dropped. */
function translate(err: unknown): Error {
  if (err instanceof KeySetUnavailableError) return err;
  const { code, claim } = (err ?? {}) as { code?: string; claim?: string };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return invalid('expired', 'The access token has expired.');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return claim === 'nbf' ? invalid('claim:nbf', 'The access token is not valid yet.') : invalid(`claim:${claim ?? 'unknown'}`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return invalid('signature');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return invalid('algorithm');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return invalid('unknown_key');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return invalid('malformed');
    default:
      return invalid('invalid');
  }
}

type Verify = (token: string, options: JWTVerifyOptions) => Promise<{ payload: JWTPayload }>;

/** Build the key-specific half of verification once, at startup, so a bad key fails fast. */
function keyedVerify(source: JwtConfig['source']): { verify: Verify; algorithms: string[] } {
  switch (source.kind) {
    case 'secret': {
      const key = new TextEncoder().encode(source.secret);
      return { verify: (t, o) => jwtVerify(t, key, o), algorithms: ['HS256'] };
    }
    case 'publicKey': {
      // jose imports a KeyObject per algorithm on first use and caches it.
      const key = publicKeyFromPem(source.pem);
      return { verify: (t, o) => jwtVerify(t, key, o), algorithms: algorithmsForKey(key) };
    }
    case 'jwks': {
      // Cached for 10 min; a token with an unknown kid triggers a refetch (at most every 30 s),
      // which is how IdP key rotation is picked up without a restart.
      const remote = createRemoteJWKSet(new URL(source.url), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
      const getKey: JWTVerifyGetKey = async (header, token) => {
        try {
          return await remote(header, token);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
          // Network error, non-200, unparseable or invalid key set: our problem, not the client's.
          throw new KeySetUnavailableError();
        }
      };
      return { verify: (t, o) => jwtVerify(t, getKey, o), algorithms: ASYMMETRIC_ALGS };
    }
    case 'none':
      throw new Error('no JWT key source: call resolveKeySource() before createVerifier()');
  }
}

export function createVerifier(jwt: JwtConfig, isRevoked: (jti: string) => Promise<boolean>): TokenVerifier {
  const { verify, algorithms } = keyedVerify(jwt.source);
  const options: JWTVerifyOptions = {
    algorithms,
    clockTolerance: jwt.clockToleranceSec,
    issuer: jwt.issuer,
    audience: jwt.audience,
    // exp is deliberately not required: long-lived provisioning tokens are normal. It is honoured when present.
  };
  // Identity providers send the same token on every request: a verified token is remembered for up to a minute
  // (never past its own exp), so the signature is checked once, not per request. Revocation is still checked
  // on every request.
  const cache = new Map<string, { principal: Principal; until: number }>();
  return {
    async verify(token: string): Promise<Principal> {
      if (typeof token !== 'string' || token === '') throw new AuthError('missing_token', 'An access token is required.');
      if (token.length > MAX_TOKEN_LENGTH) throw invalid('oversized');
      const now = Date.now();
      const hit = cache.get(token);
      let principal: Principal;
      if (hit && hit.until > now) {
        principal = hit.principal;
      } else {
        if (hit) cache.delete(token);
        let payload: JWTPayload;
        try {
          ({ payload } = await verify(token, options));
        } catch (err) {
          throw translate(err);
        }
        principal = principalOf(payload);
        const expMs = typeof payload.exp === 'number' ? (payload.exp + jwt.clockToleranceSec) * 1000 : Infinity;
        if (cache.size >= VERIFIED_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
        cache.set(token, { principal, until: Math.min(now + VERIFIED_CACHE_MS, expMs) });
      }
      // Only after the signature checks out, so unauthenticated callers cannot drive revocation lookups.
      if (principal.jti !== undefined && (await isRevoked(principal.jti))) {
        throw new AuthError('revoked', 'The access token has been revoked.', 'revoked');
      }
      return principal;
    },
  };
}
