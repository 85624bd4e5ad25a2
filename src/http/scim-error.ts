// The SCIM Error envelope (RFC 7644 §3.12) as HTTP answers: the body, the Express response, and the answers to
// requests Node's own parser refuses. Below every module that answers errors (auth, rate limit, admin, SCIM), so none
// of them depends on another for it.
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Response } from 'express';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type ScimType =
  | 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget'
  | 'invalidValue' | 'invalidVers' | 'sensitive'
  // Not in RFC 7644 Table 9; the name SCIM services use for a Bulk request over maxOperations or maxPayloadSize (413).
  | 'tooLarge';

export interface ScimErrorBody {
  schemas: [typeof ERROR_SCHEMA];
  status: string;
  scimType?: ScimType;
  detail?: string;
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
