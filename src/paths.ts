// Locates files shipped beside the code (migrations), whether running from src/ (tests) or dist/src/ (built).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

export function projectRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'scimbridge') return (cached = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the scimbridge package root');
    dir = up;
  }
}
