// RFC 7644 §3.7 BulkRequest: the message read into operations. A message that is not a BulkRequest, or that
// exceeds the advertised limits, is refused as a whole; an operation that is malformed on its own is refused on its
// own (its answer in the BulkResponse), like the same request sent alone.
import { parseEtagList } from './context';
import { badRequest, notFound, ScimHttpError } from './errors';
import { storable } from './shared';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

/** Advertised in /ServiceProviderConfig `bulk`; beyond them a request is refused with 413 tooLarge. */
export interface BulkLimits {
  maxOperations: number;
  /** Bytes of the request body. */
  maxPayloadSize: number;
}

export const DEFAULT_BULK_LIMITS: BulkLimits = { maxOperations: 1000, maxPayloadSize: 1024 * 1024 };

type BulkResourceType = 'User' | 'Group';

export interface BulkOperation {
  /** Position in the request's Operations. */
  index: number;
  /** As sent (upper-cased), for the answer; POST, PUT, PATCH or DELETE unless `invalid`. */
  method: string;
  bulkId?: string;
  resourceType?: BulkResourceType;
  /** The resource id the path names (PUT, PATCH, DELETE): a real id or a "bulkId:<id>" reference. */
  id?: string;
  /** The operation's If-Match: '*', the versions named, or undefined. */
  ifMatch?: '*' | number[];
  data?: unknown;
  /** Why the operation cannot run, known before any operation runs. */
  invalid?: ScimHttpError;
}

export interface ParsedBulkRequest {
  failOnErrors?: number;
  operations: BulkOperation[];
}

const METHODS: readonly string[] = ['POST', 'PUT', 'PATCH', 'DELETE'];

/** An operation's path, relative to the SCIM root: /Users, /Groups, /Users/{id}, /Groups/{id}. */
const PATH = /^\/?(Users|Groups)(?:\/([^/]+))?\/?$/i;

function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

function tooLarge(detail: string): ScimHttpError {
  return new ScimHttpError(413, 'tooLarge', detail);
}

/** Whole-message checks: throws the error that answers the request. */
export function parseBulkRequest(body: unknown, limits: BulkLimits): ParsedBulkRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalidSyntax', 'A Bulk request body must be a BulkRequest object');
  const message = body as Record<string, unknown>;
  const schemas = field(message, 'schemas');
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.some((s) => typeof s === 'string' && s.toLowerCase() === BULK_REQUEST.toLowerCase()))) {
    throw badRequest('invalidSyntax', `A Bulk request's "schemas" must name ${BULK_REQUEST}`);
  }
  const list = field(message, 'Operations');
  if (!Array.isArray(list)) throw badRequest('invalidSyntax', 'A BulkRequest needs an "Operations" array');
  if (list.length > limits.maxOperations) {
    throw tooLarge(`The bulk request has ${list.length} operations; maxOperations is ${limits.maxOperations}. Send them as several Bulk requests.`);
  }
  const failOnErrors = field(message, 'failOnErrors');
  if (failOnErrors !== undefined && failOnErrors !== null && !(Number.isInteger(failOnErrors) && (failOnErrors as number) >= 1)) {
    throw badRequest('invalidValue', '"failOnErrors" must be an integer of at least 1');
  }
  const seen = new Map<string, number>();
  const operations = list.map((raw, index) => {
    const op = parseOperation(raw, index);
    if (op.bulkId !== undefined && !op.invalid) {
      const first = seen.get(op.bulkId);
      if (first !== undefined) op.invalid = badRequest('invalidValue', `bulkId "${op.bulkId}" is already used by Operations[${first}]; each bulkId must be unique in the request`);
      else seen.set(op.bulkId, index);
    }
    return op;
  });
  return { failOnErrors: (failOnErrors as number | null | undefined) ?? undefined, operations };
}

function parseOperation(raw: unknown, index: number): BulkOperation {
  const where = `Operations[${index}]`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { index, method: '', invalid: badRequest('invalidSyntax', `${where} must be an object with "method" and "path"`) };
  }
  const o = raw as Record<string, unknown>;
  const methodValue = field(o, 'method');
  const method = typeof methodValue === 'string' ? methodValue.toUpperCase() : '';
  const op: BulkOperation = { index, method };
  const bulkId = field(o, 'bulkId');
  if (typeof bulkId === 'string' && bulkId !== '') op.bulkId = bulkId;
  const fail = (e: ScimHttpError): BulkOperation => ({ ...op, invalid: e });

  if (!METHODS.includes(method)) return fail(badRequest('invalidValue', `${where}: "method" must be POST, PUT, PATCH or DELETE`));
  if (bulkId !== undefined && (typeof bulkId !== 'string' || bulkId === '')) return fail(badRequest('invalidValue', `${where}: "bulkId" must be a non-empty string`));
  if (method === 'POST' && op.bulkId === undefined) return fail(badRequest('invalidValue', `${where}: a POST operation needs a "bulkId" (RFC 7644 §3.7)`));
  if (op.bulkId !== undefined && !storable(op.bulkId)) return fail(badRequest('invalidValue', `${where}: "bulkId" holds U+0000 or an unpaired surrogate`));

  const path = field(o, 'path');
  const m = typeof path === 'string' ? PATH.exec(path.trim()) : null;
  if (!m) return fail(badRequest('invalidPath', `${where}: "path" must be /Users or /Groups (POST), or /Users/{id} or /Groups/{id}`));
  op.resourceType = m[1].toLowerCase() === 'users' ? 'User' : 'Group';
  if (m[2] !== undefined) {
    let id: string;
    try {
      id = decodeURIComponent(m[2]);
    } catch {
      return fail(badRequest('invalidPath', `${where}: "path" is not valid percent-encoded UTF-8`));
    }
    if (!storable(id)) return fail(notFound('Resource not found'));
    op.id = id;
  }
  if (method === 'POST' && op.id !== undefined) return fail(badRequest('invalidPath', `${where}: POST names a resource type (/Users or /Groups), not a resource`));
  if (method !== 'POST' && op.id === undefined) return fail(badRequest('invalidPath', `${where}: ${method} must name a resource (/${op.resourceType}s/{id})`));

  const version = field(o, 'version');
  if (version !== undefined && version !== null) {
    if (typeof version !== 'string') return fail(badRequest('invalidValue', `${where}: "version" must be an entity tag string such as W/"3"`));
    // A bare number is read as that version, as some clients send it.
    op.ifMatch = /^\d+$/.test(version.trim()) ? [Number(version.trim())] : ifMatchOf(version);
  }

  const data = field(o, 'data');
  if (method !== 'DELETE') {
    if (data === undefined || data === null) return fail(badRequest('invalidSyntax', `${where}: ${method} needs "data"`));
    op.data = data;
  }
  return op;
}

function ifMatchOf(version: string): '*' | number[] | undefined {
  const parsed = parseEtagList(version);
  if (!parsed) return undefined;
  return parsed.any ? '*' : parsed.versions;
}
