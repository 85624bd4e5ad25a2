// Group commit on SQLite: writes queued together share one transaction, and a write that fails after it has
// written leaves nothing behind while the others in its batch still commit.
// one pass only: SQLite's group commit (scripts/test-postgres.js leaves it out of the PostgreSQL pass).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GroupCommit } from '../../src/store/sqlite/group-commit';
import { SqliteStore } from '../../src/store/sqlite';
import { StoreError } from '../../src/store/errors';

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'group-commit-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function openDb(): Database.Database {
  const db = new Database(path.join(dir, 'gc.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  return db;
}

function counting(db: Database.Database) {
  const seen = { commits: 0, contexts: [] as (string | undefined)[] };
  const gc = new GroupCommit<string>(db, {
    enter: (c) => seen.contexts.push(c),
    leave: () => undefined,
    committed: () => { seen.commits++; },
  });
  return { gc, seen };
}

describe('GroupCommit', () => {
  test('writes queued in one turn of the event loop commit together, each answered with its own value', async () => {
    const db = openDb();
    const { gc, seen } = counting(db);
    const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const values = await Promise.all(['a', 'b', 'c'].map((k, i) => gc.run(() => ins.run(k, i).changes, `ctx-${k}`)));
    expect(values).toEqual([1, 1, 1]);
    expect(seen.commits).toBe(1);
    expect(seen.contexts).toEqual(['ctx-a', 'ctx-b', 'ctx-c']);
    expect(db.prepare('SELECT k, v FROM t ORDER BY k').all()).toEqual([{ k: 'a', v: 0 }, { k: 'b', v: 1 }, { k: 'c', v: 2 }]);
    db.close();
  });

  test('a write that fails after writing leaves nothing; the rest of its batch commits', async () => {
    const db = openDb();
    const { gc, seen } = counting(db);
    const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const results = await Promise.allSettled([
      gc.run(() => ins.run('first', 1)),
      gc.run(() => {
        ins.run('half', 2);
        throw new Error('refused after writing');
      }),
      gc.run(() => ins.run('last', 3)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('refused after writing');
    expect(db.prepare('SELECT k FROM t ORDER BY k').all()).toEqual([{ k: 'first' }, { k: 'last' }]);
    // The batch ran twice (once fast, once with a savepoint per write) and committed once.
    expect(seen.commits).toBe(1);
    expect(db.inTransaction).toBe(false);
    db.close();
  });

  test('a lone failing write is answered with its own error and leaves nothing', async () => {
    const db = openDb();
    const { gc } = counting(db);
    const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    await gc.run(() => ins.run('x', 1));
    await expect(gc.run(() => { ins.run('y', 2); ins.run('x', 3); })).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(db.prepare('SELECT k FROM t ORDER BY k').all()).toEqual([{ k: 'x' }]);
    expect(db.inTransaction).toBe(false);
    // The next write is unaffected.
    await gc.run(() => ins.run('z', 4));
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 2 });
    db.close();
  });
});

describe('SqliteStore membership writes in one batch', () => {
  test('a member list naming an unknown user refuses only its own write, short or long', async () => {
    const store = new SqliteStore({ kind: 'sqlite', file: path.join(dir, 'store.db'), synchronous: 'NORMAL' });
    await store.migrate();
    try {
      const users: string[] = [];
      for (let i = 0; i < 150; i++) {
        users.push((await store.createUser('t', { userName: `u${i}`, active: true, emails: [], resource: { userName: `u${i}` } })).id);
      }
      const group = async (name: string) => (await store.createGroup('t', { displayName: name, resource: { displayName: name } }, [])).group.id;
      const [g1, g2, g3, g4] = [await group('one'), await group('two'), await group('three'), await group('four')];
      // g2 already holds the first 20 users: its long add is partly a no-op and must name only the new rows.
      await store.changeGroup('t', g2, { members: [{ op: 'add', ids: users.slice(0, 20) }] });
      const results = await Promise.allSettled([
        store.changeGroup('t', g1, { members: [{ op: 'add', ids: [users[0]] }] }),
        store.changeGroup('t', g2, { members: [{ op: 'add', ids: users.slice(0, 150) }] }),
        store.changeGroup('t', g3, { members: [{ op: 'add', ids: [users[1], 'no-such-user'] }] }),
        store.changeGroup('t', g4, { members: [{ op: 'add', ids: [...users.slice(0, 120), 'no-such-user'] }] }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
      for (const r of results.slice(2)) {
        const e = (r as PromiseRejectedResult).reason as StoreError;
        expect(e.code).toBe('invalid_members');
        expect(e.message).toContain('no-such-user');
      }
      expect((results[1] as PromiseFulfilledResult<{ added: string[] }>).value.added.sort()).toEqual(users.slice(20, 150).sort());
      expect((await store.listMembers('t', g1)).map((m) => m.value)).toEqual([users[0]]);
      expect(await store.listMembers('t', g2)).toHaveLength(150);
      expect(await store.listMembers('t', g3)).toEqual([]);
      expect(await store.listMembers('t', g4)).toEqual([]);
      // Refused writes left no events: the outbox holds g1's add and g2's two adds (130 new ids in one event).
      const events = store.db.prepare("SELECT aggregate FROM outbox WHERE type = 'group.members_added' ORDER BY seq").pluck().all();
      expect(events).toEqual([`group:${g2}`, `group:${g1}`, `group:${g2}`]);
      // Versions moved only for the groups that changed.
      expect((await store.getGroup('t', g3))?.version).toBe(1);
      expect((await store.getGroup('t', g4))?.version).toBe(1);
    } finally {
      await store.close();
    }
  });
});
