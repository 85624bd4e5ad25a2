// Revocation checks on PostgreSQL, one query per event-loop turn. Every authenticated request asks whether its
// token's jti was revoked; identity providers send one token on many concurrent requests, so the lookups of one
// turn are answered together by one `jti = ANY(…)` query. The query starts after every request it answers has
// arrived, so a revocation committed before a request arrived is always seen.
import type { Pool } from 'pg';
import { mapError, prepared } from './pool';

const SQL = 'SELECT jti FROM revoked_tokens WHERE jti = ANY($1::text[])';

export class RevocationLookups {
  private pending = new Map<string, { resolve: (v: boolean) => void; reject: (e: unknown) => void }[]>();

  constructor(private readonly pool: Pool) {}

  isRevoked(jti: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const waiting = this.pending.get(jti);
      if (waiting) {
        waiting.push({ resolve, reject });
        return;
      }
      if (this.pending.size === 0) setImmediate(() => void this.flush());
      this.pending.set(jti, [{ resolve, reject }]);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    try {
      const revoked = new Set((await this.pool.query<{ jti: string }>({ ...prepared(SQL), values: [[...batch.keys()]] })).rows.map((r) => r.jti));
      for (const [jti, waiting] of batch) for (const w of waiting) w.resolve(revoked.has(jti));
    } catch (e) {
      const err = mapError(e);
      for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
    }
  }
}
