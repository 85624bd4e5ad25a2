// Upgrading a SQLite file keeps its data: a database written by the first two migrations, with members, is
// carried through every later migration with every membership intact.
// one pass only: SQLite migrations only (scripts/test-postgres.js leaves it out of the PostgreSQL pass).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrationFiles } from '../../src/store/migration-files';
import { migrateSqlite } from '../../src/store/sqlite/migrate';
import { SqliteStore } from '../../src/store/sqlite';
import { parseFilter } from '../../src/scim/filter';

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mig-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('memberships written before migrations 003 and 005 survive them per tenant, and deletes still take them along', async () => {
  const file = path.join(dir, 'old.db');
  const db = new Database(file);
  db.pragma('foreign_keys = ON');
  db.exec('CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
  for (const m of migrationFiles('sqlite').filter((f) => f.version < '003')) {
    db.exec(readFileSync(m.file, 'utf8'));
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(m.version, 'then');
  }
  const stamp = '2026-01-01T00:00:00.000Z';
  for (const u of ['u1', 'u2', 'u3']) {
    db.prepare(`INSERT INTO users (tenant, id, user_name, user_name_lc, resource, created, modified)
      VALUES ('t', ?, ?, ?, '{}', ?, ?)`).run(u, u, u, stamp, stamp);
  }
  db.prepare(`INSERT INTO groups (tenant, id, display_name, display_name_lc, resource, created, modified)
    VALUES ('t', 'g', 'G', 'g', '{"displayName":"G"}', ?, ?)`).run(stamp, stamp);
  for (const u of ['u1', 'u2', 'u3']) db.prepare(`INSERT INTO group_members VALUES ('t', 'g', ?, ?)`).run(u, stamp);
  // Another tenant with the same ids: memberships must stay with their own tenant through the rekeying of 005.
  for (const u of ['u1', 'u2']) {
    db.prepare(`INSERT INTO users (tenant, id, user_name, user_name_lc, resource, created, modified)
      VALUES ('t2', ?, ?, ?, '{}', ?, ?)`).run(u, `${u}-t2`, `${u}-t2`, stamp, stamp);
  }
  db.prepare(`INSERT INTO groups (tenant, id, display_name, display_name_lc, resource, created, modified)
    VALUES ('t2', 'g', 'G2', 'g2', '{"displayName":"G2"}', ?, ?)`).run(stamp, stamp);
  db.prepare(`INSERT INTO group_members VALUES ('t2', 'g', 'u2', ?)`).run(stamp);
  db.prepare(`INSERT INTO user_emails VALUES ('t', 'u1', 'one@example.com', 'One@example.com', 'work', 1)`).run();
  expect(migrateSqlite(db)).toEqual(migrationFiles('sqlite').filter((f) => f.version >= '003').map((f) => f.version));
  // Migration 005 rebuilt the users table under its child user_emails: the rows and the foreign key both hold.
  expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
  expect(db.pragma('foreign_key_check')).toEqual([]);
  expect(db.prepare('SELECT tenant, user_id, value FROM user_emails').all()).toEqual([{ tenant: 't', user_id: 'u1', value: 'One@example.com' }]);
  db.close();

  const store = new SqliteStore({ kind: 'sqlite', file, synchronous: 'NORMAL' });
  try {
    expect((await store.listMembers('t', 'g')).map((m) => m.value)).toEqual(['u1', 'u2', 'u3']);
    expect((await store.listMembers('t2', 'g')).map((m) => m.value)).toEqual(['u2']);
    const filtered = await store.listGroups('t', { filter: parseFilter('Group', 'members[value eq "u3"]'), startIndex: 1, count: 10 });
    expect(filtered.rows.map((g) => g.displayName)).toEqual(['G']);
    expect((await store.getUser('t', 'u1'))?.userName).toBe('u1');
    // Deleting a user still takes its emails along (ON DELETE CASCADE to the rebuilt table).
    await store.deleteUser('t', 'u1');
    expect((store.db.prepare('SELECT count(*) AS n FROM user_emails').get() as { n: number }).n).toBe(0);
    expect((await store.listMembers('t', 'g')).map((m) => m.value)).toEqual(['u2', 'u3']);
    await store.deleteUser('t', 'u2');
    expect((await store.listMembers('t', 'g')).map((m) => m.value)).toEqual(['u3']);
    expect((await store.listMembers('t2', 'g')).map((m) => m.value)).toEqual(['u2']);
    await expect(store.changeGroup('t', 'g', { members: [{ op: 'add', ids: ['u2'] }] })).rejects.toMatchObject({ code: 'invalid_members' });
    await store.deleteGroup('t', 'g');
    // Only tenant t2's membership is left.
    expect((store.db.prepare('SELECT count(*) AS n FROM group_members').get() as { n: number }).n).toBe(1);
  } finally {
    await store.close();
  }
});
