// The migration files of each backend (migrations/<kind>/NNN_name.sql), in version order; each backend's runner
// applies its own.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../paths';

export function migrationFiles(kind: 'sqlite' | 'postgres'): { version: string; file: string }[] {
  const dir = path.join(projectRoot(), 'migrations', kind);
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: f.replace(/\.sql$/, ''), file: path.join(dir, f) }));
}
