// "Is this token revoked?" is asked on every SCIM request, and an identity provider sends the same token every time:
// on PostgreSQL that was a query for every turn of requests, a third of the database's work under a member-PATCH
// load. Here the answer is remembered while a connection of our own LISTENs for changes to revoked_tokens
// (migration 010's trigger notifies at every commit that writes it, whoever writes it), and everything remembered
// is forgotten at each notification. While that connection is down nothing is remembered and every check queries,
// as before. An answer is kept only when no notification arrived while it was being read, so a revocation that
// commits during a lookup is never hidden. Remembered answers also expire after REMEMBER_MS, a bound on any
// notification lost in ways the connection does not report.
import type pg from 'pg';

const CHANNEL = 'scimbridge_revocations';
const TRIGGER = 'revoked_tokens_notify';
const REMEMBER_MS = 60_000;
const MAX_REMEMBERED = 10_000;
/** Waits before reconnecting the listener after successive failures (the last repeats). */
const RETRY_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000];

export class RevocationCache {
  private readonly known = new Map<string, { revoked: boolean; until: number }>();
  /** Counts notifications and listener state changes: an answer read across a change is not kept. */
  private epoch = 0;
  private listening = false;
  private client: pg.Client | undefined;
  private started = false;
  private closed = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;

  /**
   * @param open a new connection outside the pool, for LISTEN
   * @param lookup the database's answer for one jti (lookups of one turn may share a query)
   */
  constructor(private readonly open: () => pg.Client, private readonly lookup: (jti: string) => Promise<boolean>) {}

  async isRevoked(jti: string): Promise<boolean> {
    if (!this.started) this.listen();
    const now = Date.now();
    const hit = this.listening ? this.known.get(jti) : undefined;
    if (hit && hit.until > now) return hit.revoked;
    const epoch = this.epoch;
    const revoked = await this.lookup(jti);
    if (this.listening && epoch === this.epoch) {
      if (this.known.size >= MAX_REMEMBERED) this.known.delete(this.known.keys().next().value as string);
      this.known.set(jti, { revoked, until: now + REMEMBER_MS });
    }
    return revoked;
  }

  /** Whether answers are being remembered (the listener is up). */
  get active(): boolean {
    return this.listening;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    if (client) await client.end().catch(() => undefined);
  }

  /** Forgets every answer (and any lookup under way); also called by this replica right after it revokes. */
  forget(): void {
    this.epoch++;
    this.known.clear();
  }

  private listen(): void {
    this.started = true;
    if (this.closed) return;
    const client = this.open();
    this.client = client;
    const down = (): void => {
      if (this.client !== client) return; // already replaced, or closed
      this.client = undefined;
      this.listening = false;
      this.forget();
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.retry = setTimeout(() => this.listen(), RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)]);
      this.retry.unref();
    };
    client.on('error', down);
    client.on('end', down);
    client.on('notification', (n) => {
      if (n.channel === CHANNEL) this.forget();
    });
    void (async () => {
      try {
        await client.connect();
        // Without the trigger (a database not yet migrated) no one would tell us of revocations: stay uncached.
        const trigger = await client.query('SELECT 1 FROM pg_trigger WHERE tgname = $1', [TRIGGER]);
        if (!trigger.rowCount) throw new Error(`trigger ${TRIGGER} is missing`);
        await client.query(`LISTEN ${CHANNEL}`);
        if (this.client !== client) return;
        // Lookups that began before we listened may have missed a notification: they are not kept.
        this.forget();
        this.listening = true;
        this.failures = 0;
      } catch {
        down();
      }
    })();
  }
}
