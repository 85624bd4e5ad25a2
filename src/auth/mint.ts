// Token minting for the CLI (`scimbridge token create`). Tokens are signed with whatever
// key the gateway itself verifies with, so a minted token works against this gateway.
import { createPrivateKey, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JwtConfig } from '../config';
import { publicKeyFromPem, signingAlgorithmForKey } from './keys';
import { DEFAULT_SCOPES } from './principal';
import { isValidTenant } from './verify';

export interface MintOptions {
  tenant: string;
  /** Space-separated; defaults to the full default set so the token states its own rights. */
  scope?: string;
  /** Lifetime in seconds; omitted means no exp claim. */
  ttlSeconds?: number;
  subject?: string;
}

export interface MintedToken {
  token: string;
  jti: string;
  expiresAt?: Date;
}

/** RFC 6749 §3.3 scope-token characters, space-separated. */
const SCOPE_RE = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/** DER of the public half; createPublicKey derives it from a private key. */
function spki(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
}

function signingKey(jwt: JwtConfig): { key: Uint8Array | KeyObject; alg: string } {
  const source = jwt.source;
  if (source.kind === 'secret') return { key: new TextEncoder().encode(source.secret), alg: 'HS256' };
  if (source.kind === 'none') throw new Error('no JWT key source: call resolveKeySource() before mintToken()');
  if (!jwt.privateKeyPem) {
    throw new Error(`the gateway verifies tokens with ${source.kind === 'jwks' ? 'JWT_JWKS_URL' : 'a public key'}; set JWT_PRIVATE_KEY_FILE to the matching private key to mint tokens`);
  }
  const key = createPrivateKey(jwt.privateKeyPem);
  // Catch a mismatched pair here rather than hand out tokens the gateway will reject.
  if (source.kind === 'publicKey' && !spki(publicKeyFromPem(source.pem)).equals(spki(key))) {
    throw new Error('JWT_PRIVATE_KEY_FILE does not match the configured public key');
  }
  return { key, alg: signingAlgorithmForKey(key) };
}

export async function mintToken(jwt: JwtConfig, opts: MintOptions): Promise<MintedToken> {
  if (!isValidTenant(opts.tenant)) {
    throw new Error(`invalid tenant "${opts.tenant}": up to 128 of A-Z a-z 0-9 . _ : @ -, or *`);
  }
  const scope = opts.scope ?? DEFAULT_SCOPES.join(' ');
  if (!SCOPE_RE.test(scope)) throw new Error(`invalid scope "${scope}": space-separated scope names`);
  const ttl = opts.ttlSeconds;
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0)) throw new Error('ttlSeconds must be a positive integer');

  const { key, alg } = signingKey(jwt);
  const jti = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const builder = new SignJWT({ tenant: opts.tenant, scope })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt(now)
    .setJti(jti)
    .setSubject(opts.subject ?? 'scimbridge-cli');
  if (ttl !== undefined) builder.setExpirationTime(now + ttl);
  if (jwt.issuer) builder.setIssuer(jwt.issuer);
  if (jwt.audience) builder.setAudience(jwt.audience);
  const token = await builder.sign(key);
  return { token, jti, expiresAt: ttl !== undefined ? new Date((now + ttl) * 1000) : undefined };
}
