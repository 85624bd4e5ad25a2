// Fuzz: thousands of generated malformed or hostile requests against the built gateway as a real child process
// (`node dist/src/main.js`, a SQLite file in a temp dir, JWT_SECRET, RATE_LIMIT_PER_SECOND=0), over both mounts.
// Categories: bodies, PatchOps, filters and list parameters, headers, methods and paths, and raw bytes on the wire
// (requests no HTTP client would send). Proves:
// - no answer is a 5xx;
// - every 4xx (404s for unknown paths included) is a SCIM Error: application/scim+json, schemas [Error], `status` the
//   HTTP status as a string, a string `detail` without stack frames, file paths or "Error:" internals; never HTML;
// - 204 and 304 have no body;
// - the process never exits, and afterwards still answers /healthz and valid GETs on both mounts.
// Deterministic: one seeded PRNG (mulberry32) builds the requests one after another in a fixed order. The seed is in
// the test name and in the failure report, which prints each failing request exactly (tokens redacted); FUZZ_SEED=<n>
// runs another seed, FUZZ_REPORT=<file> writes every failure and the gateway's log. Every request goes out as raw
// bytes over its own TCP connection (so nothing is normalised or refused by a client library), 16 in flight.
// The gateway runs on the backend of the test pass (childDatabase).
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { childDatabase, ensureBuilt, http, mintWithCli, startServer, type ChildDatabase, type ServerProcess } from '../helpers/process';

const SEED = (Number(process.env.FUZZ_SEED ?? 0x5c1b_f022) >>> 0) || 1;
const JWT_SECRET = 'fuzz-test-secret-0123456789-abcdefghijklmnopqrstuv';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const MOUNTS = ['/api/scim/v2', '/sso/scim/v2'] as const;
const SCIM_TYPES = ['invalidFilter', 'tooMany', 'uniqueness', 'mutability', 'invalidSyntax', 'invalidPath', 'noTarget',
  'invalidValue', 'invalidVers', 'sensitive'];
const CONCURRENCY = 16;
const REQUEST_TIMEOUT_MS = 20_000;

/** How many requests each category contributes (3,500 in all). */
const COUNTS = { body: 800, patch: 700, filter: 700, header: 600, method: 500, raw: 200 } as const;
type Category = keyof typeof COUNTS;

jest.setTimeout(120_000);

// ---------------------------------------------------------------------------------------------------------------
// PRNG

class Rng {
  constructor(private state: number) {}

  /** mulberry32: [0, 1) */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  str(len: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  bytes(len: number): Buffer {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = this.int(256);
    return b;
  }

  hex(len: number): string {
    return this.str(len, '0123456789abcdef');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Requests and answers

interface Fuzz {
  cat: Category;
  /** Which generator made it (counted and printed). */
  kind: string;
  method: string;
  /** The request-target exactly as sent (a latin1 string: one char per byte). */
  path: string;
  headers: [string, string][];
  body?: Buffer;
  /** The whole request as bytes; method/path/headers/body are then only for the report. */
  raw?: Buffer;
  /** Whether closing the connection without an answer is acceptable (the request never completes). */
  noAnswerOk?: boolean;
  /** Half-close our side this long after writing (a request whose body never arrives). */
  halfCloseMs?: number;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface Fixture {
  hostPort: string;
  users: string[];
  groups: string[];
  tokens: { write: string; read: string; allTenants: string; otherTenant: string };
}

const b64u = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** An HS256 (or HS384/512) JWT signed with `secret`, header and payload as given. */
function hsJwt(header: object, payload: object, secret = JWT_SECRET, hash = 'sha256'): string {
  const signingInput = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  return `${signingInput}.${createHmac(hash, secret).update(signingInput).digest('base64url')}`;
}

function render(f: Fuzz, hostPort: string): Buffer {
  if (f.raw) return f.raw;
  const names = new Set(f.headers.map(([n]) => n.toLowerCase()));
  const lines = [`${f.method} ${f.path} HTTP/1.1`];
  if (!names.has('host')) lines.push(`Host: ${hostPort}`);
  for (const [n, v] of f.headers) lines.push(`${n}: ${v}`);
  if (f.body !== undefined && !names.has('content-length') && !names.has('transfer-encoding')) {
    lines.push(`Content-Length: ${f.body.length}`);
  }
  if (!names.has('connection')) lines.push('Connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), f.body ?? Buffer.alloc(0)]);
}

/** A chunked body decoded; `done` once the last (zero-size) chunk has arrived. */
function dechunk(b: Buffer): { data: Buffer; done: boolean } {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) return { data: Buffer.concat(parts), done: false };
    const size = parseInt(b.subarray(i, eol).toString('latin1').split(';')[0], 16);
    if (!Number.isFinite(size)) return { data: Buffer.concat(parts), done: false };
    if (size === 0) return { data: Buffer.concat(parts), done: true };
    parts.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

/**
 * The first final response in what the server sent so far (interim 1xx skipped), and whether it is complete;
 * undefined while not even its head has arrived.
 */
function parseAnswer(buf: Buffer, method: string): { answer: Answer; complete: boolean } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return undefined;
  const status = Number(m[1]);
  if (status >= 100 && status < 200) return parseAnswer(buf.subarray(end + 4), method);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  const rest = buf.subarray(end + 4);
  if (method === 'HEAD' || status === 204 || status === 304) return { answer: { status, headers, body: rest }, complete: true };
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const { data, done } = dechunk(rest);
    return { answer: { status, headers, body: data }, complete: done };
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return { answer: { status, headers, body: rest.subarray(0, length) }, complete: rest.length >= length };
  }
  return { answer: { status, headers, body: rest }, complete: false }; // delimited by the close
}

/** Writes the request on a fresh connection; reads until the answer is complete or the server closes. */
function send(f: Fuzz, port: number, hostPort: string): Promise<{ answer?: Answer; error?: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseAnswer(Buffer.concat(chunks), f.method);
      resolve(parsed ? { answer: parsed.answer } : { error: error ?? 'connection closed without an answer' });
    };
    const timer = setTimeout(() => finish(`no answer within ${REQUEST_TIMEOUT_MS} ms`), REQUEST_TIMEOUT_MS);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (parseAnswer(Buffer.concat(chunks), f.method)?.complete) finish();
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    // The server may answer and close before it has read everything (e.g. 431): keep what it sent.
    socket.on('error', (e) => finish(e.message));
    socket.on('connect', () => {
      socket.write(render(f, hostPort));
      if (f.halfCloseMs !== undefined) setTimeout(() => socket.end(), f.halfCloseMs);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// What every answer must look like

/** Stack frames, file paths, JS error classes and messages, SQL: never in a client-visible message. */
const INTERNALS = new RegExp([
  String.raw`\n\s*at `, String.raw`\bat (?:async )?\S+ \(`, String.raw`(?:\/[\w.@-]+){2,}\.(?:[cm]?js|ts)\b`, 'node:internal', 'node_modules',
  String.raw`\b(?:TypeError|RangeError|ReferenceError|SyntaxError|EvalError|URIError|AggregateError)\b`, String.raw`\bError: `,
  'Cannot read propert', 'is not a function', 'Maximum call stack', 'SQLITE_', String.raw`\bSELECT\b.+\bFROM\b`,
].join('|'));
/** In any body, error or not. */
const TRACES = new RegExp([String.raw`\n\s*at `, String.raw`\bat (?:async )?\S+ \(`, 'node:internal', String.raw`node_modules[\\/]`].join('|'));

function problemsOf(f: Fuzz, a: Answer): string[] {
  const p: string[] = [];
  const type = a.headers['content-type'] ?? '';
  const text = a.body.toString('utf8');
  if (a.status >= 500) p.push(`answered ${a.status}`);
  if (/text\/html/i.test(type)) p.push(`content-type ${type}`);
  if ((a.status === 204 || a.status === 304) && a.body.length) p.push(`${a.status} with a body`);
  if (TRACES.test(text)) p.push('stack trace in the body');
  if (a.status >= 400) {
    if (!/^application\/scim\+json/i.test(type)) p.push(`error content-type "${type}"`);
    if (/^\s*</.test(text) || /<(?:!doctype|html|body|pre)\b/i.test(text)) p.push('HTML error body');
    if (f.method !== 'HEAD') {
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        p.push('error body is not JSON');
      }
      if (body !== undefined) {
        if (!Array.isArray(body?.schemas) || body.schemas.length !== 1 || body.schemas[0] !== ERROR) p.push('schemas is not [Error]');
        if (body?.status !== String(a.status)) p.push(`body status ${JSON.stringify(body?.status)} for HTTP ${a.status}`);
        if (body?.detail !== undefined && typeof body.detail !== 'string') p.push('detail is not a string');
        if (typeof body?.detail === 'string' && INTERNALS.test(body.detail)) p.push('internals in detail');
        if (body?.scimType !== undefined && !SCIM_TYPES.includes(body.scimType)) p.push(`scimType ${JSON.stringify(body.scimType)} is not an RFC 7644 one`);
      }
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
/** JSON text with "__proto__"/"constructor" as own keys (an object literal would set the prototype instead). */
const own = (text: string): unknown => JSON.parse(text);

const SCIM_JSON: [string, string] = ['Content-Type', 'application/scim+json'];

function bearer(t: string): [string, string] {
  return ['Authorization', `Bearer ${t}`];
}

function deep(depth: number, shape: 'array' | 'object' | 'mixed'): string {
  if (shape === 'array') return `${'['.repeat(depth)}${']'.repeat(depth)}`;
  if (shape === 'object') return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    if (i % 2) { open += '{"x":'; close = `}${close}`; } else { open += '['; close = `]${close}`; }
  }
  return `${open}0${close}`;
}

const HOSTILE_IDS = [
  '0', '-1', 'null', 'undefined', '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', '.', '..',
  '%2e%2e', '%2E', '%00', '%zz', '%', '%E9', '%ED%A0%80', '%C0%AF', '%FF%FE', '%25', '%2F', 'x%2Fy', '*', '$ref',
  '%20', '+', encodeURIComponent('" OR 1=1 --'), encodeURIComponent("'; DROP TABLE users; --"),
  encodeURIComponent('日本語'), encodeURIComponent('😀'), encodeURIComponent('\u202e\u200b'), 'a'.repeat(3000),
  'Users', '.search', 'me', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '00000000-0000-0000-0000-000000000000',
];

function uuid(r: Rng): string {
  const h = [0, 1, 2, 3].map(() => Math.floor(r.next() * 2 ** 32).toString(16).padStart(8, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function randomId(r: Rng): string {
  return r.chance(0.5) ? uuid(r) : r.pick(HOSTILE_IDS);
}

function userId(r: Rng, fx: Fixture, real = 0.7): string {
  return r.chance(real) ? r.pick(fx.users) : randomId(r);
}

function groupId(r: Rng, fx: Fixture, real = 0.7): string {
  return r.chance(real) ? r.pick(fx.groups) : randomId(r);
}

function validUser(r: Rng): Record<string, unknown> {
  const n = r.str(10);
  return {
    schemas: [USER, ENTERPRISE], userName: `fz-${n}@example.com`, externalId: `ext-${n}`, active: r.chance(0.8),
    name: { givenName: 'Fuzz', familyName: n }, displayName: `Fuzz ${n}`,
    emails: [{ value: `fz-${n}@example.com`, type: 'work', primary: true }],
    [ENTERPRISE]: { department: 'QA', employeeNumber: n.slice(0, 4) },
  };
}

function validGroup(r: Rng, fx: Fixture): Record<string, unknown> {
  const members = fx.users.filter(() => r.chance(0.4)).map((value) => ({ value }));
  return { schemas: [GROUP], displayName: `fz-group-${r.str(10)}`, members };
}

function validPatch(r: Rng, fx: Fixture, kind: 'user' | 'group'): Record<string, unknown> {
  if (kind === 'group') {
    return { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: r.pick(fx.users) }] }] };
  }
  return { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: `Fuzz ${r.str(6)}` }] };
}

/** A resource path under a mount, from the list the gateway serves (ids real or not). */
function resourcePath(r: Rng, fx: Fixture): string {
  const rest = r.pick([
    () => '/Users', () => '/Groups', () => `/Users/${userId(r, fx)}`, () => `/Groups/${groupId(r, fx)}`,
    () => '/ServiceProviderConfig', () => '/Schemas', () => '/ResourceTypes', () => '/Users/.search', () => '/Groups/.search',
  ])();
  return `${r.pick(MOUNTS)}${rest}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Category: bodies

const WRONG_VALUES: (() => unknown)[] = [
  () => 0, () => -1, () => 1.5, () => 1e308, () => true, () => false, () => null, () => [], () => [1, 2], () => ['a'],
  () => [[]], () => [null], () => ({}), () => ({ value: 1 }), () => '', () => 'x', () => 'True', () => [{}],
  () => [{ value: null }], () => [{ value: { a: 1 } }], () => own('{"__proto__":{"fuzzPolluted":1}}'),
  () => 'x'.repeat(5000), () => Number.MAX_SAFE_INTEGER * 1000, () => ({ value: [[['deep']]] }),
];

const USER_ATTRS = [
  'userName', 'name', 'name.givenName', 'name.formatted', 'displayName', 'nickName', 'profileUrl', 'title', 'userType',
  'preferredLanguage', 'locale', 'timezone', 'active', 'password', 'emails', 'emails[].value', 'emails[].primary',
  'emails[].type', 'phoneNumbers', 'phoneNumbers[].value', 'ims', 'photos', 'addresses', 'addresses[].postalCode',
  'groups', 'entitlements', 'roles', 'x509Certificates', 'externalId', 'id', 'meta', 'meta.version', 'schemas',
  ENTERPRISE, `${ENTERPRISE}.manager`, `${ENTERPRISE}.manager.value`, `${ENTERPRISE}.employeeNumber`,
];
const GROUP_ATTRS = ['displayName', 'members', 'members[].value', 'members[].type', 'members[].display', 'members[].$ref',
  'externalId', 'id', 'meta', 'schemas'];

/** Sets `attr` (dotted; `x[]` means inside the first element of array x) to `value` in `obj`. */
function setAttr(obj: Record<string, unknown>, attr: string, value: unknown): void {
  const parts = attr.startsWith('urn:') ? [ENTERPRISE, ...attr.slice(ENTERPRISE.length + 1).split('.').filter(Boolean)] : attr.split('.');
  let node: Record<string, unknown> = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i];
    if (part.endsWith('[]')) {
      const key = part.slice(0, -2);
      const list = Array.isArray(node[key]) && (node[key] as unknown[]).length ? (node[key] as Record<string, unknown>[]) : [{}];
      node[key] = list;
      if (!list[0] || typeof list[0] !== 'object') list[0] = {};
      node = list[0];
    } else {
      if (!node[part] || typeof node[part] !== 'object' || Array.isArray(node[part])) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
  }
  const last = parts[parts.length - 1];
  if (last.endsWith('[]')) node[last.slice(0, -2)] = [value];
  else node[last] = value;
}

function bodyFuzz(r: Rng, fx: Fixture): Fuzz {
  const target = r.pick([
    { method: 'POST', rest: '/Users', kind: 'user' as const },
    { method: 'POST', rest: '/Groups', kind: 'group' as const },
    { method: 'PUT', rest: `/Users/${userId(r, fx)}`, kind: 'user' as const },
    { method: 'PUT', rest: `/Groups/${groupId(r, fx)}`, kind: 'group' as const },
    { method: 'PATCH', rest: `/Users/${userId(r, fx)}`, kind: 'userPatch' as const },
    { method: 'PATCH', rest: `/Groups/${groupId(r, fx)}`, kind: 'groupPatch' as const },
    { method: 'POST', rest: '/Users/.search', kind: 'search' as const },
    { method: 'POST', rest: '/Groups/.search', kind: 'search' as const },
  ]);
  const base = (): Record<string, unknown> => {
    switch (target.kind) {
      case 'user': return validUser(r);
      case 'group': return validGroup(r, fx);
      case 'userPatch': return validPatch(r, fx, 'user');
      case 'groupPatch': return validPatch(r, fx, 'group');
      case 'search': return { schemas: [SEARCH], filter: 'userName sw "fz-"', count: 2 };
    }
  };
  const headers: [string, string][] = [bearer(fx.tokens.write), SCIM_JSON];
  const path = `${r.pick(MOUNTS)}${target.rest}`;
  const make = (kind: string, body: Buffer, extra: Partial<Fuzz> = {}): Fuzz =>
    ({ cat: 'body', kind, method: target.method, path, headers, body, ...extra });
  const slot = (): string => {
    switch (target.kind) {
      case 'user': return r.pick(['name', 'emails', 'externalId', 'nickName', ENTERPRISE, 'x-unknown']);
      case 'group': return r.pick(['displayName', 'members', 'externalId', 'x-unknown']);
      case 'search': return r.pick(['filter', 'attributes', 'sortBy', 'startIndex']);
      default: return 'Operations';
    }
  };
  /** `inner` (JSON text) as the value of one attribute of a valid body. */
  const embed = (inner: string): Buffer => {
    const b = base();
    const key = slot();
    b[key] = '\u0000SLOT\u0000';
    return Buffer.from(JSON.stringify(b).replace('"\\u0000SLOT\\u0000"', inner), 'utf8');
  };
  switch (r.int(13)) {
    case 0: {
      const text = JSON.stringify(base());
      return make('truncated JSON', Buffer.from(text.slice(0, r.int(text.length)), 'utf8'));
    }
    case 1: {
      const depth = r.pick([100, 1000, 5000, 5000, 20000, 100000]);
      const shape = r.pick(['array', 'object', 'mixed'] as const);
      const text = deep(depth, shape);
      return make(`nesting depth ${depth} (${shape})`, r.chance(0.5) ? Buffer.from(text) : embed(text));
    }
    case 2: {
      // Huge strings: up to 100 KB where they could be stored; megabytes only where they cannot be (unknown id,
      // filter, a boolean attribute), so list responses stay small.
      const big = r.chance(0.15);
      const len = big ? r.pick([1_000_000, 3_000_000]) : r.pick([10_000, 100_000]);
      const s = r.pick(['x', 'é', '日', '\\"', '%']).repeat(len);
      if (big) {
        const b = base();
        if (target.kind === 'search') b.filter = s;
        else if (target.kind === 'user' || target.kind === 'group') b.active = s;
        else (b.Operations as Record<string, unknown>[])[0].value = s;
        return make(`huge string ${len} (refused)`, json(b), target.kind.endsWith('Patch') ? { path: path.replace(/[^/]+$/, uuid(r)) } : {});
      }
      const b = base();
      setAttr(b, target.kind === 'user' ? r.pick(['userName', 'displayName', 'externalId', 'name.familyName', 'emails[].value'])
        : target.kind === 'group' ? r.pick(['displayName', 'externalId']) : target.kind === 'search' ? 'filter' : 'schemas', s);
      return make(`huge string ${len}`, json(b));
    }
    case 3:
    case 4: {
      // Wrong types for every attribute.
      const b = target.kind === 'group' ? validGroup(r, fx) : validUser(r);
      const attr = r.pick(target.kind === 'group' ? GROUP_ATTRS : USER_ATTRS);
      setAttr(b, attr, r.pick(WRONG_VALUES)());
      if (target.kind === 'user' || target.kind === 'group') return make(`wrong type for ${attr}`, json(b));
      if (target.kind === 'search') {
        const s: Record<string, unknown> = { schemas: [SEARCH] };
        s[r.pick(['filter', 'startIndex', 'count', 'sortBy', 'sortOrder', 'attributes', 'excludedAttributes', 'schemas'])] = r.pick(WRONG_VALUES)();
        return make('wrong type in SearchRequest', json(s));
      }
      return make(`wrong type for ${attr} (PATCH value)`, json({ schemas: [PATCH], Operations: [{ op: r.pick(['add', 'replace']), value: b }] }));
    }
    case 5: {
      const text = r.pick([
        '{"__proto__":{"fuzzPolluted":true,"status":"200"}}',
        '{"constructor":{"prototype":{"fuzzPolluted":true}}}',
        '{"__proto__":null}',
        '{"prototype":{"fuzzPolluted":1}}',
        '[{"__proto__":{"fuzzPolluted":1}}]',
      ]);
      const b = base();
      const key = r.pick(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);
      const asText = JSON.stringify(b).replace(/^\{/, `{"${key}":${text},`);
      return make(`prototype key ${key}`, r.chance(0.5) ? Buffer.from(asText) : embed(text));
    }
    case 6: {
      const text = JSON.stringify(base());
      const at = text.indexOf('":"') + 3;
      const bad = r.pick([[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x82]]);
      return make('invalid UTF-8 bytes', Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bad), Buffer.from(text.slice(at))]));
    }
    case 7: {
      const text = JSON.stringify(base());
      switch (r.int(4)) {
        case 0: return make('UTF-8 BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]));
        case 1: return make('UTF-16LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
        case 2: return make('UTF-16LE without BOM', Buffer.from(text, 'utf16le'));
        default: return make('BOM in the middle', Buffer.from(text.replace(':', ':\ufeff')));
      }
    }
    case 8: {
      const v = r.int(5);
      if (v === 0) return make('empty body, Content-Length: 0', Buffer.alloc(0));
      if (v === 1) return make('whitespace body', Buffer.from(r.pick([' ', '\n', '\r\n\t  ', ' '.repeat(10000)])));
      if (v === 2) {
        // Content-Length promises bytes that never come: the server may only close.
        return make('Content-Length larger than the body', Buffer.from('{"a":'), {
          headers: [...headers, ['Content-Length', '500']], noAnswerOk: true, halfCloseMs: 100,
        });
      }
      return make('top-level scalar or array', Buffer.from(r.pick(['null', 'true', 'false', '0', '-1', '1e999', '"x"', '[]', '[{}]', '[null]', '{}', '""'])));
    }
    case 9: {
      const text = JSON.stringify(base());
      const at = text.indexOf('":"') + 3;
      switch (r.int(4)) {
        case 0: return make('raw NUL inside a string', Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0]), Buffer.from(text.slice(at))]));
        case 1: return make('escaped NUL inside a string', Buffer.from(`${text.slice(0, at)}\\u0000${text.slice(at)}`));
        case 2: return make('NUL after the body', Buffer.concat([Buffer.from(text), Buffer.from([0, 0, 0])]));
        default: return make('NUL key', Buffer.from(text.replace(/^\{/, '{"\\u0000":1,"a\\u0000b":"\\u0000",')));
      }
    }
    case 10: {
      const n = r.pick([1000, 20000, 60000]);
      const b = base();
      let text = JSON.stringify(b).slice(0, -1);
      for (let i = 0; i < n; i++) text += `,"k${i}":${i}`;
      return make(`${n} extra keys`, Buffer.from(`${text}}`));
    }
    case 11: {
      const text = JSON.stringify(base());
      const pick = r.int(5);
      if (pick === 0) return make('duplicate keys', Buffer.from(text.replace(/^\{/, '{"schemas":"dup","userName":5,"displayName":[],"Operations":7,')));
      if (pick === 1) return make('numbers out of range', Buffer.from(text.replace(/^\{/, '{"active":1e999,"x":-0,"y":1e-400,"z":123456789012345678901234567890,')));
      if (pick === 2) return make('lone surrogates', Buffer.from(text.replace(/"fz-/g, '"\\ud800\\udfff\\udc00fz-')));
      if (pick === 3) return make('unicode keys', Buffer.from(text.replace(/^\{/, '{"日本語":"x","😀":1,"\\u202e":2,"USERNAME":"dup","Schemas":[],')));
      return make('trailing garbage', Buffer.from(`${text}${r.pick(['}', ']', ',', 'x', '{}', ' //', '/*'])}`));
    }
    default: {
      // Over the 10 MiB body limit: 413.
      if (r.chance(0.1)) return make('body over MAX_BODY_BYTES', Buffer.alloc(10 * 1024 * 1024 + r.range(1, 100000), 0x20));
      const text = JSON.stringify(base());
      return make('random bytes spliced in', Buffer.concat([Buffer.from(text.slice(0, r.int(text.length))), r.bytes(r.range(1, 40)), Buffer.from(text.slice(r.int(text.length)))]));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Category: PatchOps

const OP_NAMES: unknown[] = ['add', 'remove', 'replace', 'Add', 'REPLACE', 'Remove', 'move', 'copy', 'test', '', ' add',
  'add ', 'delete', 'update', null, 1, true, ['add'], { op: 'add' }];

const GOOD_USER_PATHS = ['displayName', 'name.givenName', 'emails[type eq "work"].value', 'active', `${ENTERPRISE}:department`,
  'title', 'nickName', 'emails', 'phoneNumbers[type eq "mobile"].value', 'manager', `${ENTERPRISE}:manager`, 'addresses[type eq "work"].locality',
  `${USER}:userName`, 'externalId', 'name'];
const GOOD_GROUP_PATHS = ['members', 'displayName', 'externalId', `${GROUP}:members`, 'members[value eq "MEMBER"]', `${GROUP}:displayName`];

function badPaths(r: Rng, fx: Fixture): unknown[] {
  const member = r.chance(0.5) ? r.pick(fx.users) : uuid(r);
  return [
    'members[value eq', 'members[value eq]', `members[value eq "${member}"`, `members[value eq "${member}"]]`, 'members[]',
    'members[value]', `members[value eq "${member}" and display eq "b"]`, 'members[display eq "x"]', 'members[value ne "x"]',
    'members[value eq 5]', 'members[value eq null]', `members[(value eq "${member}")]`, `members[value eq "${member}"].display`,
    'members.value', 'members.display', 'members[type eq "Group"]', 'members[value pr]', `members[not (value eq "${member}")]`,
    'emails[type eq "work"', 'emails[type eq "work"]]', 'emails[type eq work].value', 'emails[typo eq "work"].value',
    'emails[type eq "work"].nope', 'emails[type eq "work" or (value co "x"]', 'emails[value eq "\\"]', "emails[type eq 'work']",
    'emails[type eq "work"][primary eq true]', 'emails[emails[type eq "x"]]', 'name.', '.name', 'name..givenName',
    'name.givenName.x', 'name[givenName eq "x"]', '"userName"', "userName'", 'user Name', 'userName ', ' userName', '[', ']',
    '[]', '()', '(', '.', ':', '::', 'urn:', `${USER}:`, `${USER}:nope`, `${GROUP}:members[value eq "x"`, 'urn:garbage:thing:x',
    'urn:ietf:params:scim:schemas:core:2.0:Nope:displayName', `${ENTERPRISE}:nope`, `${ENTERPRISE}:manager.value.x`, ENTERPRISE,
    `${ENTERPRISE}:manager[value eq "x"]`, 'unknownAttribute', 'meta.version', 'meta', 'meta.created', 'id', 'schemas', 'groups',
    'password', '__proto__', '__proto__.fuzzPolluted', 'constructor.prototype.fuzzPolluted', 'name.__proto__',
    'emails[__proto__ eq "x"].value', 'a'.repeat(10000), 'x.'.repeat(2000), '['.repeat(500), `emails[type eq "${'\\"'.repeat(100)}"]`,
    '日本語', 'emails[type eq "😀"].value', 'members[value eq "\u0000"]', 'displayName\u0000', 'displayName[value eq "x"]',
    'externalId.value', 'active.value', MANY_MEMBERS, 5, null, true, [], {}, '',
  ];
}

/** Stands for a member filter naming 300 ids, built only when picked. */
const MANY_MEMBERS = '\u0000many members\u0000';

function patchValues(r: Rng, fx: Fixture): (() => unknown)[] {
  return [
    () => null, () => 0, () => -1, () => 1.5, () => true, () => '', () => 'x', () => 'True', () => 'FALSE', () => [],
    () => [null], () => [1, 2], () => ['x'], () => [[]], () => ({}), () => ({ value: 'x' }), () => ({ value: 1 }),
    () => ({ value: null }), () => [{ value: r.pick(fx.users) }], () => [{ value: uuid(r) }], () => [{ value: '' }],
    () => [{ value: r.pick(fx.users), type: 'Group' }], () => [{ display: 'x' }], () => ({ displayName: 5 }),
    () => ({ displayName: `fz-${r.str(6)}` }), () => ({ userName: null }), () => ({ active: 'yes' }),
    () => own('{"__proto__":{"fuzzPolluted":1}}'), () => own('{"constructor":{"prototype":{"fuzzPolluted":1}}}'),
    () => ({ emails: 'x' }), () => ({ members: 'x' }), () => ({ members: [{ value: uuid(r) }] }), () => ({ members: [5] }),
    () => ({ [`${ENTERPRISE}:department`]: 5 }), () => ({ 'name.givenName': [] }), () => ({ 'emails[type eq "work"].value': {} }),
    () => ({ 'emails[type eq': 'x' }), () => ({ 'urn:garbage:x': 1 }), () => ({ [ENTERPRISE]: 'x' }),
    () => JSON.parse(deep(r.pick([50, 500, 3000]), 'mixed')), () => 'x'.repeat(100000),
    () => Array.from({ length: 100 }, () => ({ value: uuid(r) })), () => r.pick(fx.users),
  ];
}

function patchFuzz(r: Rng, fx: Fixture): Fuzz {
  const isGroup = r.chance(0.5);
  const id = isGroup ? groupId(r, fx, 0.85) : userId(r, fx, 0.85);
  const query = r.chance(0.1)
    ? `?${r.pick(['attributes', 'excludedAttributes'])}=${r.pick(['displayName', 'members', '%zz', pct('members[value eq'), ',,,', pct('name..x'), '__proto__'])}` : '';
  const path = `${r.pick(MOUNTS)}/${isGroup ? 'Groups' : 'Users'}/${id}${query}`;
  const headers: [string, string][] = [bearer(fx.tokens.write), SCIM_JSON];
  const make = (kind: string, body: unknown): Fuzz => ({ cat: 'patch', kind, method: 'PATCH', path, headers, body: Buffer.isBuffer(body) ? body : json(body) });
  const values = patchValues(r, fx);
  const paths = badPaths(r, fx);
  const oneOp = (): Record<string, unknown> => {
    const op: Record<string, unknown> = {};
    if (!r.chance(0.08)) op.op = r.chance(0.6) ? r.pick(['add', 'remove', 'replace']) : r.pick(OP_NAMES);
    const p = r.next();
    if (p < 0.35) op.path = r.pick(isGroup ? GOOD_GROUP_PATHS : GOOD_USER_PATHS).replace('MEMBER', r.pick(fx.users));
    else if (p < 0.85) {
      op.path = r.pick(paths);
      if (op.path === MANY_MEMBERS) op.path = `members[${Array.from({ length: 300 }, () => `value eq "${uuid(r)}"`).join(' or ')}]`;
    }
    if (!r.chance(0.1)) op.value = r.pick(values)();
    if (r.chance(0.05)) op[r.pick(['__proto__', 'from', 'Path', 'VALUE', 'extra'])] = 'x';
    return op;
  };
  switch (r.int(10)) {
    case 0: {
      const ops = r.pick([{}, 'x', null, 1, true, { op: 'add' }, [[]], ['add'], [null], '[]', own('{"__proto__":[]}')]);
      return make('Operations not an array of objects', { schemas: [PATCH], Operations: ops });
    }
    case 1:
      return make('Operations missing or empty', r.pick([{ schemas: [PATCH] }, { schemas: [PATCH], Operations: [] }, {},
        { schemas: [PATCH], operations: [{ op: 'add', path: 'displayName', value: 'x' }] }, { Operations: [oneOp()] }]));
    case 2: {
      const n = r.pick([1000, 2000, 5000]);
      const ops = Array.from({ length: n }, (_v, i) => isGroup
        ? { op: r.pick(['add', 'remove']), path: 'members', value: [{ value: r.chance(0.5) ? r.pick(fx.users) : uuid(r) }] }
        : { op: 'replace', path: r.pick(['displayName', 'nickName', 'title']), value: `v${i}` });
      if (r.chance(0.5)) ops.push(oneOp() as (typeof ops)[number]);
      return make(`${n} operations`, { schemas: [PATCH], Operations: ops });
    }
    case 3: {
      const ids = Array.from({ length: r.pick([1, 5, 500, 5000]) }, () => ({ value: r.chance(0.1) ? r.pick(fx.users) : uuid(r) }));
      const body = r.chance(0.3) ? { members: ids } : { schemas: [PATCH], Operations: [{ op: r.pick(['add', 'replace', 'remove']), path: 'members', value: ids }] };
      return make('members that do not exist', body);
    }
    case 4:
      return make('schemas wrong', { schemas: r.pick([[], ['urn:x'], 'x', null, [PATCH, PATCH], [USER], [5]]), Operations: [oneOp()] });
    case 5:
      return make('DronaHQ members body, garbage', { members: r.pick([[5], [null], [{}], [{ value: 5 }], [{ value: r.pick(fx.users), type: 'Group' }], 'x', [[]]]) });
    default: {
      const ops = Array.from({ length: r.range(1, 4) }, oneOp);
      return make('random operations', { schemas: [PATCH], Operations: ops });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Category: filters and list parameters

const FILTER_ATTRS = ['userName', 'displayName', 'externalId', 'id', 'active', 'emails', 'emails.value', 'emails.type',
  'meta.created', 'meta.lastModified', 'name.familyName', 'name.givenName', 'title', `${ENTERPRISE}:department`,
  `${USER}:userName`, `${GROUP}:displayName`, 'members', 'members.value', 'members.display', 'fooBar', 'name.foo', 'emails.foo',
  'meta.unknown', 'urn:garbage:x', 'groups', 'password', 'x509Certificates.value', 'addresses.postalCode', 'name', 'meta',
  'schemas', '__proto__', 'constructor', 'a.b.c.d', 'USERNAME', 'emails.primary', `${ENTERPRISE}:manager.value`, '日本'];
const FILTER_OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr', 'EQ', 'Eq', 'xx', '===', 'in', 'np', 'like', 'eq eq', ''];
const FILTER_VALUES = ['"a"', '"fz-"', '""', '"\\""', '"a\\"b"', '"\\\\"', '"\\u0000"', '"\\ud800"', '"日本語"', '"😀"', '"\u200b"',
  '"\u202e"', 'true', 'false', 'null', '1', '-1', '1.5', '1e999', '"2020-01-01T00:00:00Z"', '"notadate"', '"2020-13-45T99:99:99Z"',
  'a', "'a'", '"unterminated', '[]', '{}', `"x${'y'.repeat(2000)}"`, '"%"', '"_"', '"\\\\%"', '"*"'];

function atom(r: Rng): string {
  const op = r.pick(FILTER_OPS);
  return `${r.pick(FILTER_ATTRS)} ${op}${op === 'pr' ? '' : ` ${r.pick(FILTER_VALUES)}`}`;
}

function filterExpr(r: Rng, depth = 0): string {
  const k = depth > 3 ? 0 : r.int(7);
  switch (k) {
    case 1: return `${filterExpr(r, depth + 1)} ${r.pick(['and', 'or', 'AND', 'Or', 'xor', '&&'])} ${filterExpr(r, depth + 1)}`;
    case 2: return `${r.pick(['not', 'NOT', 'not'])} (${filterExpr(r, depth + 1)})`;
    case 3: return `(${filterExpr(r, depth + 1)})`;
    case 4: return `${r.pick(['emails', 'members', 'name', 'addresses', 'userName'])}[${filterExpr(r, depth + 1)}]`;
    default: return atom(r);
  }
}

function hostileFilter(r: Rng): [string, string] {
  switch (r.int(12)) {
    case 0: return ['unbalanced parentheses', r.pick([`(${atom(r)}`, `${atom(r)})`, '((((', '))))', `((${atom(r)})`, `emails[type eq "work"`, `emails[type eq "work"]]`, `not (${atom(r)}`])];
    case 1: return ['unknown operator', `${r.pick(FILTER_ATTRS.slice(0, 10))} ${r.pick(['xx', '===', 'in', 'like', 'np', 'contains', '~', '!='])} "a"`];
    case 2: return ['unknown attribute', `${r.pick(['fooBar', 'name.foo', 'emails.foo', 'urn:garbage:x:y', 'meta.nope', 'members.display', 'a.b.c'])} eq "x"`];
    case 3: {
      let s = '';
      while (s.length < 10_000) s += `userName eq "${r.str(8)}" or `;
      return ['10k-character filter', s.slice(0, r.pick([10_000, 8_192, 8_193, 8_000]))];
    }
    case 4: {
      let s = '';
      while (s.length < 8_000) s += `userName eq "${r.str(8)}" or `;
      return ['near-limit valid filter', `${s}userName eq "x"`];
    }
    case 5: {
      const d = r.pick([33, 200, 1000]);
      return [`nesting depth ${d}`, r.pick([
        `${'('.repeat(d)}userName eq "a"${')'.repeat(d)}`,
        `${'not ('.repeat(d)}userName eq "a"${')'.repeat(d)}`,
        `${'emails['.repeat(d)}type eq "a"${']'.repeat(d)}`,
        `${'(userName eq "a" and '.repeat(d)}active eq true${')'.repeat(d)}`,
      ])];
    }
    case 6: return ['depth at the limit', `${'('.repeat(32)}userName eq "a"${')'.repeat(32)}`];
    case 7: return ['escaped quotes', r.pick(['userName eq "a\\"b"', 'userName eq "\\"', 'userName eq "a\\\\"', 'userName eq "\\\\\\""', 'userName eq "\\x"', 'userName eq "\\u12"', 'userName eq "\\uZZZZ"', 'userName eq """'])];
    case 8: return ['unicode', r.pick(['userName eq "日本語"', 'displayName co "😀"', 'userName eq "\u202eevil"', 'userName sw "\u200b"', 'userName eq "\uffff"', 'userName eq "\ud800"', 'displayName ew "é"', 'userName eq "\u0000"'])];
    case 9: return ['type mismatch', r.pick(['active eq "true"', 'meta.created gt "notadate"', 'meta.created gt 5', 'userName gt 5', 'active gt true', 'userName eq null', 'userName co null', 'active pr', 'meta.created co "2020"', 'emails[type eq "work" and value co "@"]', 'members[value eq "x"]', 'emails.primary eq "yes"'])];
    default: return ['random expression', filterExpr(r)];
  }
}

/** encodeURIComponent over the UTF-8 bytes (a lone surrogate becomes U+FFFD instead of throwing). */
function pct(v: string): string {
  let out = '';
  for (const b of Buffer.from(v, 'utf8')) out += /[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Percent-encodes, sometimes loosely (raw quotes and spaces as +) or with invalid escapes spliced in. */
function encodeParam(r: Rng, v: string): [string, string] {
  const enc = pct(v);
  switch (r.int(8)) {
    case 0: return ['+ for spaces', enc.replace(/%20/g, '+')];
    case 1: {
      const at = r.int(enc.length + 1);
      return ['invalid percent escape', `${enc.slice(0, at)}${r.pick(['%zz', '%', '%2', '%E9', '%ED%A0%80', '%C0%AF', '%FF', '%00', '%u0041', '%%'])}${enc.slice(at)}`];
    }
    case 2: return ['double-encoded', pct(enc)];
    default: return ['', enc];
  }
}

const HOSTILE_INTS = ['-1', '0', '1', '-999999999999', '1000000000', '99999999999999999999999', 'abc', '1.5', '0x10', '1e3', '',
  ' 1', '１', 'NaN', 'Infinity', '-0', '+5', '2147483648', '9007199254740993', '%zz', '[]', '1,2'];

function filterFuzz(r: Rng, fx: Fixture): Fuzz {
  const resource = r.pick(['Users', 'Users', 'Groups', 'Groups', 'Schemas', 'ResourceTypes', 'ServiceProviderConfig']);
  const [kind, filter] = r.chance(0.7) ? hostileFilter(r) : ['random expression', filterExpr(r)];
  const viaSearch = r.chance(0.2) && (resource === 'Users' || resource === 'Groups');
  const mount = r.pick(MOUNTS);
  const extras: [string, string][] = [];
  if (r.chance(0.3)) extras.push(['sortBy', r.pick(['userName', 'foo', 'emails', '__proto__', 'meta.created', 'name.familyName', `${USER}:userName`, 'x'.repeat(5000), 'members', ''])]);
  if (r.chance(0.2)) extras.push(['sortOrder', r.pick(['ascending', 'DESCENDING', 'sideways', '', '1'])]);
  if (r.chance(0.35)) extras.push(['startIndex', r.pick(HOSTILE_INTS)]);
  if (r.chance(0.35)) extras.push(['count', r.pick(HOSTILE_INTS)]);
  if (r.chance(0.2)) extras.push([r.pick(['attributes', 'excludedAttributes']), r.pick(['userName', 'members', 'emails.value', 'name..x', ',,,', 'members[value eq "x"]', 'urn:foo', `${ENTERPRISE}:manager`, 'x'.repeat(3000), 'meta.version', 'emails[type eq', '__proto__', 'a b', 'id,id,id', 'True', 'and', 'not', 'userName,', '1,2', 'constructor',
    'toString,hasOwnProperty', 'name.constructor', 'emails[type eq "work"]', 'emails[type eq "work"].value', 'emails[__proto__ eq "x"]',
    'emails[value co "\\"]', 'emails[]', 'emails[type eq "work"]]', `${USER}:userName,${ENTERPRISE}:manager.value`, 'members[value eq "x"].display'])]);
  if (viaSearch) {
    const body: Record<string, unknown> = { schemas: [SEARCH], filter };
    for (const [k, v] of extras) body[k] = k === 'startIndex' || k === 'count' ? (r.chance(0.5) && /^-?\d+$/.test(v) ? Number(v) : v) : v;
    if (r.chance(0.1)) body.attributes = r.pick([[deep(5, 'array')], [['a', ['b']]], [1, null, {}]]);
    return {
      cat: 'filter', kind: `${kind} (.search)`, method: 'POST', path: `${mount}/${resource}/.search`,
      headers: [bearer(fx.tokens.read), SCIM_JSON], body: json(body),
    };
  }
  const [how, encoded] = encodeParam(r, filter);
  const params = [`filter=${encoded}`, ...extras.map(([k, v]) => `${k}=${encodeParam(r, v)[1]}`)];
  if (r.chance(0.05)) params.push(`filter=${encodeURIComponent('userName eq "x"')}`);
  if (r.chance(0.05)) params.push(r.pick(['__proto__=x', 'constructor[prototype][x]=1', 'filter[]=x', 'a=%zz', '=x', '&&&']));
  return {
    cat: 'filter', kind: how ? `${kind}, ${how}` : kind, method: r.chance(0.05) ? 'HEAD' : 'GET',
    path: `${mount}/${resource}?${r.chance(0.5) ? params.join('&') : params.reverse().join('&')}`, headers: [bearer(r.chance(0.5) ? fx.tokens.read : fx.tokens.write)],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Category: headers

const CONTENT_TYPES = ['text/plain', 'multipart/form-data; boundary=xyz', 'application/x-www-form-urlencoded', 'application/xml',
  'application/json; charset=utf-16', 'application/json; charset=UTF-16LE', 'application/scim+json; charset=utf-16be',
  'application/json; charset=latin1', 'application/json; charset=bogus-charset', 'application/json; charset="utf-8"',
  'application/json;charset=utf-8;charset=utf-16', 'APPLICATION/SCIM+JSON', 'application/json ;', 'application/json;;',
  'application/jsonx', 'application/scim+json+x', '*/*', 'application/*', '', ';', 'application/json; charset=', 'text/html',
  'application/json; charset=utf-32', 'application/json, text/plain', 'application/scim+json; charset=ISO-8859-1', 'json'];

function hostileTokens(fx: Fixture): string[] {
  const now = Math.floor(Date.now() / 1000);
  const h = { alg: 'HS256', typ: 'JWT' };
  return [
    '', ' ', 'Bearer', 'Bearer ', 'Bearer  ', `bearer ${fx.tokens.write}`, `BEARER ${fx.tokens.read}`, `Bearer ${fx.tokens.write} extra`,
    `Bearer ${fx.tokens.write}.`, `Bearer ${fx.tokens.write}=`, `Bearer\t${fx.tokens.write}`, `Bearer ${fx.tokens.write.slice(0, -3)}`,
    'Basic dXNlcjpwYXNz', 'Basic', 'Digest username="x"', 'Token token=abc', fx.tokens.write, 'Bearer a.b.c', 'Bearer ...',
    'Bearer a.b', 'Bearer a.b.c.d.e', `Bearer ${'A'.repeat(9000)}`, `Bearer ${'eyJ'.repeat(3000)}.x.y`, 'Bearer ™', 'Bearer é',
    `Bearer ${fx.tokens.allTenants}`, `Bearer ${fx.tokens.otherTenant}`,
    `Bearer ${hsJwt({ alg: 'none', typ: 'JWT' }, { tenant: 'default' }).split('.').slice(0, 2).join('.')}.`,
    `Bearer ${hsJwt(h, { tenant: 'default', exp: now - 3600 })}`, `Bearer ${hsJwt(h, { tenant: 'default', nbf: now + 3600 })}`,
    `Bearer ${hsJwt(h, { tenant: 5 })}`, `Bearer ${hsJwt(h, { tenant: 'a b' })}`, `Bearer ${hsJwt(h, { tenant: 'x'.repeat(200) })}`,
    `Bearer ${hsJwt(h, { tenant: '' })}`, `Bearer ${hsJwt(h, { tenant: null })}`, `Bearer ${hsJwt(h, { scope: 5 })}`,
    `Bearer ${hsJwt(h, { scp: [1, 2] })}`, `Bearer ${hsJwt(h, { scope: '' })}`, `Bearer ${hsJwt(h, { scope: 'admin' })}`,
    `Bearer ${hsJwt(h, { sub: {} })}`, `Bearer ${hsJwt(h, { jti: 5 })}`, `Bearer ${hsJwt(h, { jti: "'; DROP TABLE x; --" })}`,
    `Bearer ${hsJwt(h, { exp: 'tomorrow' })}`, `Bearer ${hsJwt(h, { exp: 1e308 })}`, `Bearer ${hsJwt(h, [])}`,
    `Bearer ${hsJwt(h, { tenant: '__proto__' })}`, `Bearer ${hsJwt(h, { tenant: 'default' }, 'wrong-secret-0123456789-abcdefghijklmnopq')}`,
    `Bearer ${hsJwt({ alg: 'HS512', typ: 'JWT' }, { tenant: 'default' }, JWT_SECRET, 'sha512')}`,
    `Bearer ${hsJwt({ alg: 'RS256', typ: 'JWT' }, { tenant: 'default' })}`, `Bearer ${hsJwt({ alg: 'HS256', crit: ['x'] }, { tenant: 'default' })}`,
    `Bearer ${hsJwt({ alg: 'HS256', kid: '../../etc/passwd', jku: 'http://127.0.0.1:1/jwks' }, { tenant: 'default' })}`,
    `Bearer ${hsJwt({ alg: 'HS256', b64: false, crit: ['b64'] }, { tenant: 'default' })}`,
    `Bearer ${b64u('{"alg":"HS256"')}.${b64u('{}')}.${b64u('x')}`, `Bearer ${b64u('not json')}.${b64u('not json')}.x`,
    `Bearer ${b64u('{"alg":"HS256"}')}.${b64u('[1,2]')}.x`,
  ];
}

function headerFuzz(r: Rng, fx: Fixture): Fuzz {
  const mount = r.pick(MOUNTS);
  const base = r.pick([
    () => ({ method: 'POST', path: `${mount}/Users`, body: json(validUser(r)) }),
    () => ({ method: 'POST', path: `${mount}/Groups`, body: json(validGroup(r, fx)) }),
    () => ({ method: 'PUT', path: `${mount}/Users/${userId(r, fx)}`, body: json(validUser(r)) }),
    () => ({ method: 'PATCH', path: `${mount}/Groups/${groupId(r, fx)}`, body: json(validPatch(r, fx, 'group')) }),
    () => ({ method: 'PATCH', path: `${mount}/Users/${userId(r, fx)}`, body: json(validPatch(r, fx, 'user')) }),
    () => ({ method: 'GET', path: `${mount}/Users?filter=${encodeURIComponent('userName sw "fz"')}&count=3` }),
    () => ({ method: 'GET', path: `${mount}/Users/${userId(r, fx)}` }),
    () => ({ method: 'GET', path: `${mount}/Groups/${groupId(r, fx)}` }),
    () => ({ method: 'DELETE', path: `${mount}/Users/${uuid(r)}` }),
    () => ({ method: 'POST', path: `${mount}/Users/.search`, body: json({ schemas: [SEARCH], filter: 'userName sw "fz"', count: 2 }) }),
    () => ({ method: 'GET', path: `${mount}/${r.pick(['ServiceProviderConfig', 'Schemas', 'ResourceTypes'])}` }),
  ])() as { method: string; path: string; body?: Buffer };
  const f: Fuzz = { cat: 'header', kind: '', method: base.method, path: base.path, headers: [bearer(fx.tokens.write)], body: base.body };
  const hasBody = base.body !== undefined;
  const bodyText = base.body?.toString('utf8') ?? '{}';
  switch (r.int(hasBody ? 8 : 5)) {
    case 0: {
      const auth = r.pick(hostileTokens(fx));
      f.kind = 'Authorization';
      f.headers = auth === '' && r.chance(0.5) ? [] : [['Authorization', auth]];
      if (r.chance(0.2)) f.headers.push(['Authorization', `Bearer ${fx.tokens.write}`]);
      break;
    }
    case 1: {
      const v = r.pick(['*', 'W/"1"', '"1"', 'W/"abc"', '"', '""', 'W/', 'W/"', '"1", W/"2", *', 'x'.repeat(10000),
        'W/"99999999999999999999"', '-1', 'null', ',,,', 'W/"1"'.repeat(1000), 'ÿ', 'W/"1" W/"2"', '*, W/"1"', 'W/"-1"', 'W/"1.5"']);
      if (base.method === 'GET') {
        f.kind = 'If-None-Match';
        f.headers.push(['If-None-Match', v]);
      } else {
        f.kind = 'If-Match';
        f.headers.push(['If-Match', v === '*' && base.method === 'DELETE' ? 'W/"1"' : v]);
      }
      break;
    }
    case 2:
      f.kind = 'Accept / Host / odd headers';
      f.headers.push(r.pick<[string, string]>([
        ['Accept', 'text/html'], ['Accept', 'application/xml'], ['Accept', '*/*;q=0'], ['Accept-Charset', 'utf-16'],
        ['Accept-Encoding', 'gzip, br'], ['Host', ''], ['Host', 'evil.example.com:99999'], ['Host', `${'h'.repeat(3000)}.example`],
        ['Host', '[::1'], ['Host', 'a b'], ['X-Forwarded-Proto', 'javascript'], ['X-Forwarded-Host', 'evil.example'],
        ['X-HTTP-Method-Override', 'DELETE'], ['Cookie', `${'a=b; '.repeat(500)}`], ['Origin', 'null'], ['Range', 'bytes=0-1'],
        ['Expect', '100-continue'], ['Expect', 'x-garbage'], ['Content-Encoding', 'gzip'], ['Content-Type', 'text/plain'],
        ['Content-Length', '0'], ['If-Modified-Since', 'yesterday'], ['Prefer', 'return=minimal'], ['X-Fuzz', 'ÿþ'],
      ]));
      break;
    case 3:
      f.kind = 'read-only token';
      f.headers = [bearer(fx.tokens.read)];
      break;
    case 4:
      f.kind = 'no Authorization';
      f.headers = [];
      break;
    case 5: {
      const type = r.pick(CONTENT_TYPES);
      f.kind = `Content-Type ${type || '(empty)'}`;
      f.headers.push(['Content-Type', type]);
      if (/utf-16|utf-32/i.test(type)) f.body = Buffer.concat([r.chance(0.5) ? Buffer.from([0xff, 0xfe]) : Buffer.alloc(0), Buffer.from(bodyText, 'utf16le')]);
      break;
    }
    case 6: {
      f.headers.push(SCIM_JSON);
      const which = r.int(12);
      const enc = (name: string, b: Buffer, kind: string) => { f.kind = kind; f.headers.push(['Content-Encoding', name]); f.body = b; };
      const plain = Buffer.from(bodyText);
      if (which === 0) enc('gzip', r.bytes(r.range(1, 300)), 'gzip with garbage');
      else if (which === 1) enc('gzip', gzipSync(plain).subarray(0, r.range(1, 20)), 'gzip truncated');
      else if (which === 2) enc('gzip', gzipSync(plain), 'gzip valid');
      else if (which === 3) enc('deflate', r.bytes(r.range(1, 300)), 'deflate with garbage');
      else if (which === 4) enc('deflate', deflateSync(plain), 'deflate valid');
      else if (which === 5) enc('br', r.bytes(r.range(1, 300)), 'br with garbage');
      else if (which === 6) enc('br', brotliCompressSync(plain), 'br valid');
      else if (which === 7) enc(r.pick(['compress', 'zstd', 'x-unknown', 'gzip, deflate', 'gzip;q=1', 'identity, gzip']), plain, 'unsupported content-encoding');
      else if (which === 8) enc('gzip', gzipSync(Buffer.alloc(12 * 1024 * 1024, 0x20)), 'gzip bomb over the body limit');
      else if (which === 9) enc('gzip', Buffer.concat([gzipSync(plain), r.bytes(10)]), 'gzip with trailing garbage');
      else if (which === 10) enc(r.pick(['identity', 'IDENTITY']), plain, 'identity');
      else enc('GZIP', gzipSync(Buffer.from(`${bodyText.slice(0, -1)}`)), 'gzip of invalid JSON');
      break;
    }
    default: {
      f.headers.push(SCIM_JSON);
      const body = f.body!;
      const which = r.int(4);
      if (which === 0) {
        f.kind = 'chunked, valid';
        f.headers.push(['Transfer-Encoding', 'chunked']);
        f.body = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
      } else if (which === 1) {
        f.kind = 'Content-Length: 0 with a body';
        f.headers.push(['Content-Length', '0']);
      } else if (which === 2) {
        f.kind = 'Content-Length smaller than the body';
        f.headers.push(['Content-Length', String(Math.max(1, body.length - r.range(1, 10)))]);
      } else {
        f.kind = 'no Content-Type';
      }
      if (which === 3) f.headers = f.headers.filter(([n]) => n !== 'Content-Type');
    }
  }
  if (hasBody && !f.headers.some(([n]) => n.toLowerCase() === 'content-type') && !f.kind.startsWith('no Content-Type')) f.headers.push(SCIM_JSON);
  return f;
}

// ---------------------------------------------------------------------------------------------------------------
// Category: methods and paths

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'LOCK', 'MKCOL',
  'COPY', 'MOVE', 'PURGE', 'REPORT', 'FOO', 'BREW', 'get', 'QUERY'];

function mutatePath(r: Rng, p: string): [string, string] {
  switch (r.int(16)) {
    case 0: return ['..', p.replace(/\/([^/]+)$/, '/../$1')];
    case 1: return ['%2e%2e', `${p}/%2e%2e/%2e%2e/admin/targets`];
    case 2: return ['//', p.replace(/\//g, r.pick(['//', '///']))];
    case 3: return ['/./', p.replace(/\/(?=[^/]+$)/, '/./')];
    case 4: return ['trailing slash', `${p}${r.pick(['/', '//', '/.', '/..'])}`];
    case 5: return [';param', `${p};jsessionid=${r.str(5)}`];
    case 6: return ['upper case', p.toUpperCase()];
    case 7: return ['double encoding', p.replace(/\//g, (m, i: number) => (i > 0 && r.chance(0.3) ? '%252F' : m))];
    case 8: return ['%2F', p.replace(/\/(?=[^/]+$)/, '%2F')];
    case 9: return ['backslash', p.replace(/\//g, (m) => (r.chance(0.3) ? '\\' : m))];
    case 10: return ['long path', `${p}/${'a'.repeat(r.pick([2000, 8000, 15000, 20000, 70000]))}`];
    case 11: return ['many query parameters', `${p}?${Array.from({ length: r.pick([100, 1000, 3000]) }, (_v, i) => `p${i}=${i}`).join('&')}`];
    case 12: return ['fragment', `${p}#${r.str(5)}`];
    case 13: return ['mount variants', p.replace(/^\/(api|sso)\/scim\/v2/, r.pick(['/api/scim', '/api/scim/v1', '/api/scim/v2x', '/API/SCIM/V2', '/api//scim/v2', '/sso/scim/v2/api/scim/v2', '/scim/v2', '/api/scim/v2/v2']))];
    case 14: return ['%00 and %zz', `${p}${r.pick(['%00', '%zz', '/%zz', '/%00', '/%E9', '/%ED%A0%80', '/%'])}`];
    default: return ['unmodified', p];
  }
}

function methodFuzz(r: Rng, fx: Fixture): Fuzz {
  const method = r.pick(METHODS);
  let path = resourcePath(r, fx);
  let kind = `method ${method}`;
  if (r.chance(0.5)) {
    const [how, mutated] = mutatePath(r, path);
    path = mutated;
    kind += `, path ${how}`;
  } else if (r.chance(0.15)) {
    path = r.pick(['/', '/api', '/sso', '/api/scim', '/favicon.ico', '/admin', '/admin/targets', '/healthz/..', '/readyz',
      '/healthz', '/robots.txt', '/.env', '/api/scim/v2', '/sso/scim/v2/', '/api/scim/v2/Bulkx', '/api/scim/v2/Users/.search/x',
      '/api/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User', '/api/scim/v2/ResourceTypes/User', '/api/scim/v2/ResourceTypes/%zz',
      '/sso/scim/v2/Schemas/%zz', '/api/scim/v2/ServiceProviderConfig/x', '*']);
    kind += ', other path';
  }
  const headers: [string, string][] = [bearer(r.chance(0.85) ? fx.tokens.write : r.pick([fx.tokens.read, fx.tokens.otherTenant]))];
  let body: Buffer | undefined;
  if (['POST', 'PUT', 'PATCH', 'FOO', 'PROPFIND', 'SEARCH', 'QUERY'].includes(method) || r.chance(0.1)) {
    body = json(r.pick([validUser(r), validGroup(r, fx), validPatch(r, fx, 'group'), validPatch(r, fx, 'user'), { schemas: [SEARCH] }]));
    headers.push(SCIM_JSON);
  }
  // DELETE of the fixture's real resources would leave later requests nothing real to hit.
  if (method === 'DELETE' && r.chance(0.8)) path = path.replace(/\/(Users|Groups)\/[^/?]+/, (_m, k: string) => `/${k}/${uuid(r)}`);
  return { cat: 'method', kind, method, path, headers, body };
}

// ---------------------------------------------------------------------------------------------------------------
// Category: raw bytes on the wire

function rawFuzz(r: Rng, fx: Fixture): Fuzz {
  const mount = r.pick(MOUNTS);
  const auth = `Authorization: Bearer ${fx.tokens.write}\r\n`;
  const host = `Host: ${fx.hostPort}\r\n`;
  const body = JSON.stringify(validUser(r));
  const cases: [string, () => Buffer, boolean?][] = [
    ['invalid bytes in the path', () => Buffer.concat([Buffer.from(`GET ${mount}/Users/`), r.bytes(r.range(1, 6)).map((b) => b | 0x80), Buffer.from(` HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)])],
    ['control bytes in the path', () => Buffer.from(`GET ${mount}/Users/a\x01\x7fb HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`, 'latin1')],
    ['space in the path', () => Buffer.from(`GET ${mount}/Users?filter=userName eq "x" HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['quotes and braces in the path', () => Buffer.from(`GET ${mount}/Users?filter=userName%20eq%20"x"&a={}|^\` HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['NUL in a header value', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}${auth}X-A: a\x00b\r\nConnection: close\r\n\r\n`, 'latin1')],
    ['NUL in the Authorization header', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}Authorization: Bearer ${fx.tokens.write.slice(0, 20)}\x00${fx.tokens.write.slice(20)}\r\nConnection: close\r\n\r\n`, 'latin1')],
    ['invalid UTF-8 in a header value', () => Buffer.concat([Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}${auth}X-A: `), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('\r\nConnection: close\r\n\r\n')])],
    ['invalid UTF-8 in the token', () => Buffer.concat([Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}Authorization: Bearer `), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('\r\nConnection: close\r\n\r\n')])],
    ['header without colon', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}${auth}NoColonHere\r\nConnection: close\r\n\r\n`)],
    ['space before colon', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}${auth}X-A : b\r\nConnection: close\r\n\r\n`)],
    ['obs-fold', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}${auth}X-A: b\r\n  folded\r\nConnection: close\r\n\r\n`)],
    ['LF-only line endings', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\n${host.trim()}\n${auth.trim()}\nConnection: close\n\n`)],
    ['HTTP/1.0', () => Buffer.from(`GET ${mount}/Users HTTP/1.0\r\n${auth}\r\n`)],
    ['HTTP/9.9', () => Buffer.from(`GET ${mount}/Users HTTP/9.9\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['no version', () => Buffer.from(`GET ${mount}/Users\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['missing Host', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${auth}Connection: close\r\n\r\n`)],
    ['two Host headers', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}Host: evil.example\r\n${auth}Connection: close\r\n\r\n`)],
    ['conflicting Content-Length', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nContent-Length: ${body.length}\r\nContent-Length: ${body.length + 1}\r\nConnection: close\r\n\r\n${body}`)],
    ['Content-Length and Transfer-Encoding', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`)],
    ['negative Content-Length', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}`)],
    ['non-numeric Content-Length', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nContent-Length: 1e3\r\nConnection: close\r\n\r\n{}`)],
    ['invalid chunk size', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`)],
    ['chunk size overflow', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n`)],
    ['chunked JSON in many pieces', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.split('').map((c) => `1\r\n${c}\r\n`).join('')}0\r\n\r\n`)],
    ['long chunk extension', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2;${'x'.repeat(20000)}\r\n{}\r\n0\r\n\r\n`)],
    ['unknown Transfer-Encoding', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nTransfer-Encoding: gzip, chunked, x\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`)],
    ['huge header', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}${auth}X-Big: ${'b'.repeat(r.pick([17000, 40000, 100000]))}\r\nConnection: close\r\n\r\n`)],
    ['thousands of headers', () => Buffer.from(`GET ${mount}/Users HTTP/1.1\r\n${host}${auth}${Array.from({ length: 3000 }, (_v, i) => `X-H${i}: v`).join('\r\n')}\r\nConnection: close\r\n\r\n`)],
    ['lower-case method', () => Buffer.from(`get ${mount}/Users HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['invalid method token', () => Buffer.from(`G(E)T ${mount}/Users HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['absolute-form target', () => Buffer.from(`GET http://${fx.hostPort}${mount}/Users HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['asterisk-form target', () => Buffer.from(`OPTIONS * HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['empty target', () => Buffer.from(`GET  HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`)],
    ['invalid UTF-8 in the JSON body', () => Buffer.concat([Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nContent-Length: ${body.length + 3}\r\nConnection: close\r\n\r\n`), Buffer.from(body.slice(0, 20)), Buffer.from([0xff, 0xc0, 0x80]), Buffer.from(body.slice(20))])],
    ['garbage request line', () => Buffer.concat([r.bytes(r.range(5, 60)), Buffer.from('\r\n\r\n')])],
    ['TLS ClientHello on plain HTTP', () => Buffer.from('16030100a5010000a10303' + '00'.repeat(40), 'hex')],
    ['pipelined: valid then garbage', () => Buffer.from(`GET ${mount}/ServiceProviderConfig HTTP/1.1\r\n${host}${auth}\r\n\x00\x01garbage\r\n\r\n`, 'latin1')],
    ['Expect: 100-continue then body', () => Buffer.from(`POST ${mount}/Users HTTP/1.1\r\n${host}${auth}Content-Type: application/scim+json\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)],
  ];
  const [kind, build] = r.pick(cases);
  const raw = build();
  const firstLine = raw.subarray(0, Math.max(0, raw.indexOf('\r\n'))).toString('latin1');
  return { cat: 'raw', kind, method: firstLine.split(' ')[0] ?? '', path: firstLine.split(' ')[1] ?? '', headers: [], raw };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function printable(s: string, max: number): string {
  const cut = s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
  return JSON.stringify(cut);
}

function describeRequest(i: number, f: Fuzz, fx: Fixture): string {
  const redact = (s: string) => s.split(fx.tokens.write).join('<write token>').split(fx.tokens.read).join('<read token>')
    .split(fx.tokens.allTenants).join('<tenant "*" token>').split(fx.tokens.otherTenant).join('<other tenant token>');
  if (f.raw) return `#${i} [${f.cat}: ${f.kind}] raw bytes ${printable(redact(f.raw.toString('latin1')), 400)}`;
  const headers = f.headers.map(([n, v]) => `${n}: ${printable(redact(v), 120)}`).join(', ');
  const body = f.body === undefined ? '' : ` body ${printable(f.body.toString('latin1'), 300)} (${f.body.length} bytes)`;
  return `#${i} [${f.cat}: ${f.kind}] ${f.method} ${printable(f.path, 300)} headers {${headers}}${body}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The test

let dir: string;
let db: ChildDatabase | undefined;
let server: ServerProcess | undefined;
let fx: Fixture;
let canary: { id: string; userName: string; groupId: string };

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-fuzz-'));
  db = await childDatabase(dir);
  const env = {
    DATABASE_URL: db.url, JWT_SECRET, RATE_LIMIT_PER_SECOND: '0', WORKER_IN_PROCESS: 'false',
  };
  server = await startServer(env);
  const write = await mintWithCli(env, 'default');
  const h = { alg: 'HS256', typ: 'JWT' };
  const tokens = {
    write,
    read: hsJwt(h, { tenant: 'default', scope: 'scim:read' }),
    allTenants: hsJwt(h, { tenant: '*', scope: 'scim:read scim:write' }),
    otherTenant: hsJwt(h, { tenant: 'fuzz-other', scope: 'scim:read scim:write' }),
  };
  const api = `${server.url}${MOUNTS[0]}`;
  const users: string[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await http('POST', `${api}/Users`, write, {
      schemas: [USER, ENTERPRISE], userName: `real-${i}@example.com`, name: { givenName: 'Real', familyName: `N${i}` },
      emails: [{ value: `real-${i}@example.com`, type: 'work', primary: true }], [ENTERPRISE]: { department: 'Fixture' },
    });
    expect(res.status).toBe(201);
    users.push(res.body.id);
  }
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await http('POST', `${api}/Groups`, write, { schemas: [GROUP], displayName: `real-group-${i}`, members: users.slice(i, i + 3).map((value) => ({ value })) });
    expect(res.status).toBe(201);
    groups.push(res.body.id);
  }
  // Never targeted by the fuzzer: what the final valid GETs read.
  const cu = await http('POST', `${api}/Users`, write, { schemas: [USER], userName: 'canary@example.com', displayName: 'Canary' });
  expect(cu.status).toBe(201);
  const cg = await http('POST', `${api}/Groups`, write, { schemas: [GROUP], displayName: 'canary-group', members: [{ value: cu.body.id }] });
  expect(cg.status).toBe(201);
  canary = { id: cu.body.id, userName: 'canary@example.com', groupId: cg.body.id };
  fx = { hostPort: `127.0.0.1:${server.port}`, users, groups, tokens };
}, 240_000);

afterAll(async () => {
  await server?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * The requests, made one at a time in a fixed order (each from the same PRNG stream), so only those in flight are
 * in memory and the sequence depends on the seed alone.
 */
function generator(seed: number): { total: number; next: () => Fuzz } {
  const r = new Rng(seed);
  const makers: Record<Category, (r: Rng, fx: Fixture) => Fuzz> = {
    body: bodyFuzz, patch: patchFuzz, filter: filterFuzz, header: headerFuzz, method: methodFuzz, raw: rawFuzz,
  };
  const plan: Category[] = [];
  for (const [cat, n] of Object.entries(COUNTS) as [Category, number][]) for (let i = 0; i < n; i++) plan.push(cat);
  // Interleave the categories (Fisher-Yates with the same PRNG) so hostile requests of every kind run side by side.
  for (let i = plan.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [plan[i], plan[j]] = [plan[j], plan[i]];
  }
  let i = 0;
  return { total: plan.length, next: () => makers[plan[i++]](r, fx) };
}

test(`${Object.values(COUNTS).reduce((a, b) => a + b, 0)} hostile requests (seed ${SEED}, FUZZ_SEED to replay): no 5xx, every 4xx a SCIM Error, the gateway survives`, async () => {
  const srv = server!;
  const requests = generator(SEED);
  let exited: string | undefined;
  void srv.exited.then((s) => { exited = `gateway exited (code ${s.code}, signal ${s.signal})`; });

  const started = Date.now();
  const failures: string[] = [];
  const statuses: Record<Category, Record<number, number>> = { body: {}, patch: {}, filter: {}, header: {}, method: {}, raw: {} };
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < requests.total && !exited) {
      const i = next++;
      const f = requests.next();
      const { answer, error } = await send(f, srv.port, fx.hostPort);
      if (!answer) {
        if (!f.noAnswerOk) failures.push(`${describeRequest(i, f, fx)}\n    → no answer: ${exited ?? error}`);
        continue;
      }
      statuses[f.cat][answer.status] = (statuses[f.cat][answer.status] ?? 0) + 1;
      const problems = problemsOf(f, answer);
      if (problems.length) {
        failures.push(`${describeRequest(i, f, fx)}\n    → ${answer.status} ${answer.headers['content-type'] ?? '(no content-type)'} ${printable(answer.body.toString('utf8'), 300)}: ${problems.join('; ')}`);
      }
    }
  }));
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const summary = (Object.keys(COUNTS) as Category[]).map((c) => `${c} ${COUNTS[c]} ${JSON.stringify(statuses[c])}`).join('; ');
  console.log(`fuzz seed ${SEED}: ${requests.total} requests in ${seconds} s; ${summary}`);

  // Alive, and still serving: liveness, a read of a resource the fuzzer never touched, a filtered list and a group
  // with its members, on both mounts.
  const afterwards: string[] = [];
  const check = (ok: boolean, what: string) => { if (!ok) afterwards.push(what); };
  if (!exited) {
    check(srv.child.exitCode === null && srv.child.signalCode === null, 'the gateway process has exited');
    try {
      const health = await http('GET', `${srv.url}/healthz`);
      check(health.status === 200, `GET /healthz answered ${health.status}`);
      for (const mount of MOUNTS) {
        const got = await http('GET', `${srv.url}${mount}/Users/${canary.id}`, fx.tokens.write);
        check(got.status === 200 && got.body?.userName === canary.userName, `GET ${mount}/Users/<canary> answered ${got.status} ${got.text.slice(0, 200)}`);
        check(!got.text.includes('fuzzPolluted'), `GET ${mount}/Users/<canary> shows a polluted prototype: ${got.text.slice(0, 300)}`);
        const list = await http('GET', `${srv.url}${mount}/Users?filter=${encodeURIComponent(`userName eq "${canary.userName}"`)}`, fx.tokens.read);
        check(list.status === 200 && list.body?.totalResults === 1, `filtered GET ${mount}/Users answered ${list.status} ${list.text.slice(0, 200)}`);
        const grp = await http('GET', `${srv.url}${mount}/Groups/${canary.groupId}`, fx.tokens.read);
        check(grp.status === 200 && JSON.stringify(grp.body?.members?.map((m: { value: string }) => m.value)) === JSON.stringify([canary.id]),
          `GET ${mount}/Groups/<canary> answered ${grp.status} ${grp.text.slice(0, 200)}`);
      }
    } catch (e) {
      afterwards.push(`the gateway no longer answers: ${(e as Error).message}`);
    }
  }

  // FUZZ_REPORT=<file> keeps every failure, not just the first 40, and the gateway's log beside it.
  if (process.env.FUZZ_REPORT) {
    writeFileSync(process.env.FUZZ_REPORT, failures.join('\n'));
    writeFileSync(`${process.env.FUZZ_REPORT}.gateway.log`, `${srv.stdout()}${srv.stderr()}`);
  }
  if (exited || failures.length || afterwards.length) {
    const errors = srv.stdout().split('\n').filter((l) => /"level":(50|60)/.test(l)).slice(-10).join('\n');
    throw new Error([
      `fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED}): ${failures.length} of ${requests.total} requests failed${exited ? `; ${exited}` : ''}`,
      ...afterwards.map((a) => `after the run: ${a}`),
      ...failures.slice(0, 40),
      failures.length > 40 ? `… and ${failures.length - 40} more` : '',
      `gateway error log (last lines):\n${errors}\n${srv.stderr().slice(-2000)}`,
    ].join('\n'));
  }
});
