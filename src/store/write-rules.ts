// Rules every store write follows, whatever the backend: the clock its timestamps come from and the If-Match version
// check (what the events say is events.ts). The backends hold only their SQL and transactions.
import { StoreError } from './errors';
import type { WriteOptions } from './types';

let lastStamp = 0;

/** Timestamps strictly increase within the process, so meta.lastModified orders writes. */
export function now(): string {
  const t = Math.max(Date.now(), lastStamp + 1);
  lastStamp = t;
  return new Date(t).toISOString();
}

/** Refuses the write (version_mismatch) unless the stored version is the one the client named. */
export function checkVersion(current: number, opts?: WriteOptions): void {
  if (opts?.ifVersion !== undefined && opts.ifVersion !== current) {
    throw new StoreError('version_mismatch', `resource is at version ${current}, not ${opts.ifVersion}`);
  }
}
