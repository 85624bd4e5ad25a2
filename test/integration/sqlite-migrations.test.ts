// Upgrading a SQLite file keeps its data: a database written by the first two migrations, with members, is
// carried through every later migration with every membership intact.
// one pass only: SQLite migrations only (scripts/test-postgres.js leaves it out of the PostgreSQL pass).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrateSqlite, migrationFiles } from '../../src/store/sqlite/migrate';
import { SqliteStore } from '../../src/store/sqlite';

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mig-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('memberships written before migration 003 survive it, and deletes still take them along', async () => {
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
  expect(migrateSqlite(db)).toEqual(migrationFiles('sqlite').filter((f) => f.version >= '003').map((f) => f.version));
  db.close();

  const store = new SqliteStore({ kind: 'sqlite', file, synchronous: 'NORMAL' });
  try {
    expect((await store.listMembers('t', 'g')).map((m) => m.value)).toEqual(['u1', 'u2', 'u3']);
    await store.deleteUser('t', 'u2');
    expect((await store.listMembers('t', 'g')).map((m) => m.value)).toEqual(['u1', 'u3']);
    await expect(store.changeGroup('t', 'g', { members: [{ op: 'add', ids: ['u2'] }] })).rejects.toMatchObject({ code: 'invalid_members' });
    await store.deleteGroup('t', 'g');
    expect((store.db.prepare('SELECT count(*) AS n FROM group_members').get() as { n: number }).n).toBe(0);
  } finally {
    await store.close();
  }
});
