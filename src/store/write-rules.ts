// Rules every store write follows, whatever the backend: the clock its timestamps come from, the If-Match version
// check, and what a user's events say about it. The backends hold only their SQL and transactions.
import { StoreError } from './errors';
import type { UserInput, WriteOptions } from './types';

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

/** The user as its change events carry it (never a password: UserInput has none). */
export function userSummary(id: string, input: UserInput) {
  return {
    id, userName: input.userName, externalId: input.externalId, displayName: input.displayName,
    active: input.active, emails: input.emails.map((e) => ({ value: e.value, type: e.type, primary: !!e.primary })),
  };
}
