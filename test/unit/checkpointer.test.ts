// The background checkpointer keeps the WAL bounded while the writing connection never checkpoints itself.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BackgroundCheckpointer } from '../../src/store/sqlite/checkpointer';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'ckpt-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function openWriter(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  return db;
}

/** Writes `chunks` transactions of about 256 KiB each, pausing `pauseMs` between them (0: only yield a turn). */
async function writeChunks(db: Database.Database, chunks: number, pauseMs = 15, afterCommit = () => {}): Promise<void> {
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  const body = 'x'.repeat(4096);
  for (let c = 0; c < chunks; c++) {
    db.transaction(() => { for (let i = 0; i < 64; i++) insert.run(body); })();
    afterCommit();
    await (pauseMs ? sleep(pauseMs) : new Promise((r) => setImmediate(r)));
  }
}

test('without it the WAL grows with every write; with it the WAL is reused and stays small', async () => {
  const plain = openWriter(path.join(dir, 'plain.db'));
  await writeChunks(plain, 64);
  const plainWal = statSync(path.join(dir, 'plain.db-wal')).size;
  plain.close();

  const file = path.join(dir, 'bg.db');
  const db = openWriter(file);
  const failures: unknown[] = [];
  const ckpt = new BackgroundCheckpointer({ file, synchronous: 'NORMAL', thresholdBytes: 1024 * 1024, intervalMs: 10,
    onFailure: (e) => failures.push(e) });
  await writeChunks(db, 64);
  await ckpt.close();
  const bgWal = statSync(`${file}-wal`).size;
  expect(failures).toEqual([]);
  expect(plainWal).toBeGreaterThan(16 * 1024 * 1024);
  expect(bgWal).toBeLessThan(plainWal / 2);
  expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(64 * 64);
  db.close();
});

test('under writes with no pause, the writer finishes what the background run left and the WAL stays bounded', async () => {
  const file = path.join(dir, 'busy.db');
  const db = openWriter(file);
  db.pragma('busy_timeout = 5000');
  const ckpt = new BackgroundCheckpointer({ file, synchronous: 'NORMAL', thresholdBytes: 512 * 1024, intervalMs: 5,
    inlineAfterFrames: 128, onFailure: (e) => { throw e; } });
  let inline = 0;
  const finish = () => {
    if (ckpt.takeInlineDue()) {
      inline++;
      db.pragma('wal_checkpoint(RESTART)');
    }
  };
  await writeChunks(db, 4, 50, finish); // the worker starts
  await writeChunks(db, 200, 0, finish);
  await ckpt.close();
  // 204 chunks of 256 KiB: 51 MiB through the WAL without a checkpoint.
  expect(statSync(`${file}-wal`).size).toBeLessThan(20 * 1024 * 1024);
  expect(inline).toBeGreaterThan(0);
  db.close();
});

test('close() with no worker started returns at once, and a failing worker hands checkpoints back', async () => {
  const file = path.join(dir, 'idle.db');
  const db = openWriter(file);
  const idle = new BackgroundCheckpointer({ file, synchronous: 'NORMAL', onFailure: () => undefined });
  await idle.close();

  // A path that is not a database: the worker's connection fails and the owner is told.
  const failed = new Promise<unknown>((resolve) => {
    const ckpt = new BackgroundCheckpointer({ file: path.join(dir, 'missing', 'nope.db'), synchronous: 'NORMAL',
      thresholdBytes: 0, intervalMs: 5, onFailure: resolve });
    void ckpt;
  });
  expect(String(await failed)).toMatch(/directory|open|exist/i);
  db.close();
});
