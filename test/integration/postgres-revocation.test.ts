// Revocation answers remembered on PostgreSQL (revocation-cache.ts): a replica keeps "not revoked" in memory only
// while it LISTENs for changes to revoked_tokens, forgets everything at each change (whoever made it), never keeps
// an answer read while a change arrived, and asks the database every time while its listener is down. Runs whenever
// the server at TEST_PG_URL answers; a visible skip otherwise, and a failure under CI=true.
import { Client } from 'pg';
import { createClient } from '../../src/store/postgres/pool';
import { RevocationCache } from '../../src/store/postgres/revocation-cache';
import type { PostgresStore } from '../../src/store/postgres';
import { postgresReachableSync, postgresStoresPerFile, postgresTest as pg, testDatabaseUrl } from '../helpers/postgres';

const { store, dbName } = postgresStoresPerFile();
let a: PostgresStore;
let b: PostgresStore;
beforeAll(async () => {
  if (!postgresReachableSync()) return;
  a = store();
  b = store();
  await a.migrate();
});

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sql(text: string, values: unknown[] = []) {
  const c = new Client({ connectionString: testDatabaseUrl(dbName()) });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

describe('PostgreSQL revocation answers', () => {
  pg('remembered while listening; a revocation on another replica, or by hand, is seen from its commit on', async () => {
    expect(await b.isRevoked('r-1')).toBe(false);
    await until('the listener', () => b.revocations.active);
    expect(await b.isRevoked('r-1')).toBe(false);
    // With the trigger off, a revocation by hand goes unannounced: the remembered answer stands. This shows the
    // answer is remembered, and that the trigger is what makes revocations seen.
    await sql('ALTER TABLE revoked_tokens DISABLE TRIGGER revoked_tokens_notify');
    await sql(`INSERT INTO revoked_tokens (jti, until, revoked) VALUES ('r-1', NULL, 'now')`);
    expect(await b.isRevoked('r-1')).toBe(false);
    await sql('ALTER TABLE revoked_tokens ENABLE TRIGGER revoked_tokens_notify');
    // Announced: another replica's revocation, then one by hand.
    await a.revokeToken('r-2');
    await until('replica b to see r-1 and r-2 revoked', async () => (await b.isRevoked('r-2')) && b.isRevoked('r-1'));
    expect(await b.isRevoked('r-3')).toBe(false);
    await sql(`INSERT INTO revoked_tokens (jti, until, revoked) VALUES ('r-3', NULL, 'now')`);
    await until('replica b to see r-3 revoked', () => b.isRevoked('r-3'));
    // The replica that revokes sees it at once, without waiting for its own notification.
    expect(await a.isRevoked('r-4')).toBe(false);
    await until('the listener of a', () => a.revocations.active);
    expect(await a.isRevoked('r-4')).toBe(false);
    await a.revokeToken('r-4');
    expect(await a.isRevoked('r-4')).toBe(true);
  });

  pg('while its listener is down a replica asks the database every time; it listens again by itself', async () => {
    expect(await b.isRevoked('d-1')).toBe(false);
    await until('the listener', () => b.revocations.active);
    expect(await b.isRevoked('d-1')).toBe(false);
    // Kill every LISTEN connection of this database; no notification will tell b of what follows.
    await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`);
    await until('the listener to be seen down', () => !b.revocations.active);
    await sql('ALTER TABLE revoked_tokens DISABLE TRIGGER revoked_tokens_notify');
    try {
      await sql(`INSERT INTO revoked_tokens (jti, until, revoked) VALUES ('d-1', NULL, 'now')`);
      if (!b.revocations.active) expect(await b.isRevoked('d-1')).toBe(true);
    } finally {
      await sql('ALTER TABLE revoked_tokens ENABLE TRIGGER revoked_tokens_notify');
    }
    expect(await b.isRevoked('d-1')).toBe(true);
    await until('the listener to come back', () => b.revocations.active);
    expect(await b.isRevoked('d-1')).toBe(true);
    await a.revokeToken('d-2');
    await until('replica b to see d-2 revoked', () => b.isRevoked('d-2'));
  });

  pg('an answer read while a revocation arrived is not kept', async () => {
    let asked = 0;
    let release: (v: boolean) => void = () => undefined;
    const cache = new RevocationCache(() => createClient(testDatabaseUrl(dbName())), () => {
      asked++;
      return new Promise<boolean>((r) => { release = r; });
    });
    try {
      const first = cache.isRevoked('n-1');
      release(false);
      expect(await first).toBe(false);
      await until('the listener', () => cache.active);
      // A lookup under way when a change is announced: its (stale) answer is returned but not remembered.
      const during = cache.isRevoked('n-1');
      await sql(`INSERT INTO revoked_tokens (jti, until, revoked) VALUES ('n-other', NULL, 'now')`);
      const before = asked;
      await new Promise((r) => setTimeout(r, 300)); // the notification arrives meanwhile
      release(false);
      expect(await during).toBe(false);
      const again = cache.isRevoked('n-1');
      expect(asked).toBe(before + 1);
      release(false);
      await again;
      // Now remembered: no further lookup.
      expect(await cache.isRevoked('n-1')).toBe(false);
      expect(asked).toBe(before + 1);
    } finally {
      await cache.close();
    }
  });
});
