// Applies migrations/postgres/NNN_name.sql in order, each in its own transaction, recorded in schema_migrations.
// A session-level advisory lock serialises replicas that start together: the first applies, the others wait and
// then find everything recorded.
import { readFileSync } from 'node:fs';
import type { Pool, PoolClient } from 'pg';
import { migrationFiles } from '../migration-files';

/** Arbitrary constant naming "scimbridge migrations" among advisory locks. */
const MIGRATION_LOCK_KEY = 0x5c1b_0001;

async function applied(client: PoolClient): Promise<Set<string>> {
  const r = await client.query<{ version: string }>('SELECT version FROM schema_migrations');
  return new Set(r.rows.map((x) => x.version));
}

export async function migratePostgres(pool: Pool): Promise<string[]> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
      const done: string[] = [];
      const have = await applied(client);
      for (const m of migrationFiles('postgres')) {
        if (have.has(m.version)) continue;
        const sql = readFileSync(m.file, 'utf8');
        await client.query('BEGIN');
        try {
          await client.query(sql);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, new Date().toISOString()]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw e;
        }
        done.push(m.version);
      }
      return done;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => { broken = true; });
    }
  } catch (e) {
    broken = true;
    throw e;
  } finally {
    // A client whose session may still hold the lock (or is broken) is destroyed rather than reused.
    client.release(broken ? true : undefined);
  }
}

export async function pendingPostgresMigrations(pool: Pool): Promise<string[]> {
  const has = await pool.query(`SELECT to_regclass('schema_migrations') IS NOT NULL AS has`);
  const done = has.rows[0].has
    ? new Set((await pool.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version))
    : new Set<string>();
  return migrationFiles('postgres').map((m) => m.version).filter((v) => !done.has(v));
}
