// Where the gateway's JWT keys come from, and what a given key may be used for.
import { createPublicKey, KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { JwtConfig } from '../config';

export interface KeyLogger {
  info(obj: object, msg: string): void;
}

const SECRET_FILE = 'jwt-secret';
/** HS256 wants at least 256 bits of key; config.ts enforces the same for JWT_SECRET. */
const MIN_SECRET_BYTES = 32;

/** The generated secret lives beside the database so that backups and volumes carry both together. */
export function secretFilePath(sqliteFile: string): string {
  return path.join(path.dirname(sqliteFile), SECRET_FILE);
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function withSecret(jwt: JwtConfig, secret: string): JwtConfig {
  return { ...jwt, source: { kind: 'secret', secret, origin: 'generated' } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Read a secret another start (or a concurrent process) wrote. 'wx' creates the file before
 * the bytes land, so a racing reader may briefly see it empty: retry for about a second.
 */
async function readSecret(file: string, logger?: KeyLogger): Promise<string> {
  let secret = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    secret = readFileSync(file, 'utf8').trim();
    if (Buffer.byteLength(secret) >= MIN_SECRET_BYTES) break;
    await sleep(50);
  }
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new Error(`${file} does not hold a usable JWT secret (at least ${MIN_SECRET_BYTES} bytes); delete it to have a new one generated, or set JWT_SECRET`);
  }
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    logger?.info({ file }, `${file} is readable by other users; restrict it with: chmod 600 ${file}`);
  }
  return secret;
}

/**
 * Turn `{kind:'none'}` into a usable HS256 secret so a fresh install works without setup.
 * Any configured source is returned unchanged. Never logs the secret itself.
 */
export async function resolveKeySource(
  jwt: JwtConfig,
  opts: { sqliteFile?: string; logger?: KeyLogger } = {},
): Promise<JwtConfig> {
  if (jwt.source.kind !== 'none') return jwt;
  const { sqliteFile, logger } = opts;

  if (!sqliteFile || sqliteFile === ':memory:') {
    // Nothing persistent to sit beside: the secret dies with the process, so no CLI can mint for it.
    logger?.info({}, 'No JWT key configured and no database file: using a throwaway in-memory secret; set JWT_SECRET to mint tokens for this process');
    return withSecret(jwt, newSecret());
  }

  const file = secretFilePath(sqliteFile);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = newSecret();
  try {
    // 'wx' fails if the file exists, so of two processes starting together exactly one writes it.
    writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return withSecret(jwt, await readSecret(file, logger));
  }
  logger?.info(
    { file },
    `No JWT key configured: generated an HS256 secret in ${file}. Mint a token with: npx scimbridge token create --tenant default`,
  );
  return withSecret(jwt, secret);
}

/** A PEM public key (SPKI or PKCS#1) or an X.509 certificate, as a Node KeyObject jose accepts directly. */
export function publicKeyFromPem(pem: string): KeyObject {
  if (pem.includes('-----BEGIN CERTIFICATE-----')) return new X509Certificate(pem).publicKey;
  return createPublicKey(pem);
}

const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const PSS_ALGS = ['PS256', 'PS384', 'PS512'];
const EC_ALG_BY_CURVE: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
/** 'Ed25519' is the fully-specified name (RFC 9864) for what 'EdDSA' means with an Ed25519 key. */
const ED25519_ALGS = ['EdDSA', 'Ed25519'];

/** Every asymmetric algorithm we accept from a JWKS. Never HS* (key confusion), never 'none'. */
export const ASYMMETRIC_ALGS = [...RSA_ALGS, 'ES256', 'ES384', 'ES512', ...ED25519_ALGS];

/**
 * The algorithms a key can verify. Pinning to the key's family stops a token from choosing
 * an algorithm the key was never meant for (e.g. HS256 with the public key text as secret).
 */
export function algorithmsForKey(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGS;
    case 'rsa-pss':
      return PSS_ALGS;
    case 'ec': {
      const alg = EC_ALG_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (alg) return [alg];
      throw new Error(`unsupported EC curve ${key.asymmetricKeyDetails?.namedCurve}; use P-256, P-384 or P-521`);
    }
    case 'ed25519':
      return ED25519_ALGS;
    default:
      throw new Error(`unsupported JWT key type ${key.asymmetricKeyType}; use RSA, EC (P-256/384/521) or Ed25519`);
  }
}

/** The one algorithm our CLI signs with for a given private (or public) key. */
export function signingAlgorithmForKey(key: KeyObject): string {
  // The lists above start with the most widely supported choice: RS256, PS256, ESxxx, EdDSA.
  return algorithmsForKey(key)[0];
}
