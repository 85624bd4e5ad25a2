// SCIM Error bodies (RFC 7644 §3.12) and the mapping of every internal failure to one. Library and store
// messages are never passed through for 5xx: the client gets a fixed sentence, the log gets the cause.
import SCIMMY from 'scimmy';
import { errorBody, type ScimErrorBody, type ScimType } from '../http/scim-error';
import { StoreError } from '../store/errors';

/** An error that already knows its HTTP status and SCIM body. */
export class ScimHttpError extends SCIMMY.Types.Error {
  constructor(status: number, scimType: ScimType | undefined, detail: string, readonly headers: Record<string, string> = {}) {
    super(status, scimType as string, detail);
  }
}

export function badRequest(scimType: ScimType, detail: string): ScimHttpError {
  return new ScimHttpError(400, scimType, detail);
}

export function notFound(detail: string): ScimHttpError {
  return new ScimHttpError(404, undefined, detail);
}

const INTERNAL = 'The server could not complete the request; it has been logged.';

/** Turns anything thrown while serving a SCIM request into a status and body. */
export function toScimError(e: unknown): { status: number; body: ScimErrorBody; internal: boolean; headers: Record<string, string> } {
  if (e instanceof ScimHttpError) {
    return { status: e.status, body: errorBody(e.status, e.scimType as ScimType, e.message), internal: false, headers: e.headers };
  }
  if (e instanceof StoreError) {
    switch (e.code) {
      case 'not_found': return plain(404, undefined, e.message);
      case 'uniqueness': return plain(409, 'uniqueness', e.message);
      case 'version_mismatch': return plain(412, undefined, 'The resource has changed: its version no longer matches If-Match.');
      case 'invalid_members': return plain(400, 'invalidValue', e.message);
      case 'unavailable': return { ...plain(503, undefined, 'The database is unavailable; retry later.'), headers: { 'Retry-After': '5' } };
    }
  }
  if (e instanceof SCIMMY.Types.Error) {
    const status = Number((e as { status?: number }).status) || 500;
    if (status >= 500) return { ...plain(500, undefined, INTERNAL), internal: true };
    return plain(status, (e as { scimType?: ScimType }).scimType, e.message);
  }
  // scimmy reports schema violations (wrong type, missing required attribute) as TypeError.
  if (e instanceof TypeError && isScimmyValidation(e)) return plain(400, 'invalidValue', e.message);
  // Express's router refuses a path parameter that is not valid percent-encoded UTF-8 (/Groups/%zz) with a
  // URIError carrying status 400.
  if (e instanceof URIError && (e as { status?: unknown }).status === 400) {
    return plain(400, undefined, 'The request path is not valid percent-encoded UTF-8');
  }
  return { ...plain(500, undefined, INTERNAL), internal: true };
}

function plain(status: number, scimType: ScimType | undefined, detail: string) {
  return { status, body: errorBody(status, scimType, detail), internal: false, headers: {} as Record<string, string> };
}

/** Only scimmy's own schema messages are safe to echo; other TypeErrors are our bugs. */
function isScimmyValidation(e: TypeError): boolean {
  const stack = e.stack ?? '';
  return /node_modules[\\/]scimmy[\\/]/.test(stack.split('\n').slice(1, 3).join('\n')) &&
    /attribute|expected|required|value|schema/i.test(e.message);
}
