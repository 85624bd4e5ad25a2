// SCIM Error bodies (RFC 7644 §3.12) and the mapping of every internal failure to one. Library and store
// messages are never passed through for 5xx: the client gets a fixed sentence, the log gets the cause.
import { STATUS_CODES, type Server } from 'node:http';
import type { Response } from 'express';
import type { Socket } from 'node:net';
import SCIMMY from 'scimmy';
import { StoreError } from '../store/errors';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type ScimType =
  | 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget'
  | 'invalidValue' | 'invalidVers' | 'sensitive';

export interface ScimErrorBody {
  schemas: [typeof ERROR_SCHEMA];
  status: string;
  scimType?: ScimType;
  detail?: string;
}

/** An error that already knows its HTTP status and SCIM body. */
export class ScimHttpError extends SCIMMY.Types.Error {
  constructor(status: number, scimType: ScimType | undefined, detail: string, readonly headers: Record<string, string> = {}) {
    super(status, scimType as string, detail);
  }
}

export function errorBody(status: number, scimType: ScimType | undefined, detail: string | undefined): ScimErrorBody {
  const body: ScimErrorBody = { schemas: [ERROR_SCHEMA], status: String(status) };
  if (scimType) body.scimType = scimType;
  if (detail) body.detail = detail;
  return body;
}

/** Answers a SCIM Error (status, scimType, detail), with any extra headers (a challenge, Retry-After) set first. */
export function sendScimError(
  res: Response, status: number, scimType: ScimType | undefined, detail: string, headers?: Record<string, string>,
): void {
  if (headers) res.set(headers);
  res.status(status).type('application/scim+json').json(errorBody(status, scimType, detail));
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

/**
 * Requests Node's HTTP parser refuses (a malformed request line or header, an unknown method, headers over the size
 * limit) and unsupported `Expect` values never reach Express; Node would answer them with a bare status line and no
 * body. Answer them with SCIM Error bodies like every other refusal.
 */
export function answerUnparsedRequests(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const detail = status === 431 ? 'The request line or headers are larger than this server accepts'
      : status === 413 ? 'The chunk extensions are larger than this server accepts'
        : status === 408 ? 'The request was not received in time' : 'The request is not valid HTTP/1.1';
    const body = JSON.stringify(errorBody(status, undefined, detail));
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/scim+json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    // The client reads the answer and closes; one that does not is cut off.
    setTimeout(() => socket.destroy(), 5000).unref();
  });
  server.on('checkExpectation', (_req, res) => {
    res.writeHead(417, { 'Content-Type': 'application/scim+json; charset=utf-8' })
      .end(JSON.stringify(errorBody(417, undefined, 'Only "Expect: 100-continue" is supported')));
  });
}
