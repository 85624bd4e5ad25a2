// Applies migrations/sqlite/NNN_name.sql in order, each in its own transaction, recorded in schema_migrations.
import { readFileSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { migrationFiles } from '../migration-files';

export function migrateSqlite(db: Database.Database): string[] {
  // SQLite's table-rebuild procedure: foreign keys off while a migration drops and renames tables (a DROP TABLE
  // would otherwise cascade to its children), checked in full before the migration commits, then back on.
  // The pragma is a no-op inside a transaction, so it is set here, around them.
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    return applyPending(db);
  } finally {
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
  }
}

function applyPending(db: Database.Database): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: string }[]).map((r) => r.version),
  );
  const done: string[] = [];
  for (const m of migrationFiles('sqlite')) {
    if (applied.has(m.version)) continue;
    const sql = readFileSync(m.file, 'utf8');
    // IMMEDIATE takes the write lock first, so two processes starting together apply each file once.
    const apply = db.transaction(() => {
      const again = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
      if (again) return false;
      db.exec(sql);
      const broken = db.pragma('foreign_key_check') as { table: string; parent: string }[];
      if (broken.length) {
        throw new Error(`migration ${m.version} leaves ${broken.length} rows whose foreign key names no row (first: ${broken[0].table} → ${broken[0].parent})`);
      }
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, new Date().toISOString());
      return true;
    });
    if (apply.immediate()) done.push(m.version);
  }
  return done;
}

export function pendingMigrations(db: Database.Database): string[] {
  const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
  const applied = has
    ? new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: string }[]).map((r) => r.version))
    : new Set<string>();
  return migrationFiles('sqlite').map((m) => m.version).filter((v) => !applied.has(v));
}
