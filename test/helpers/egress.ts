// Helpers for the group-connector integration tests: SCIM writes in one line, the target's deliveries and
// attempts in commit order, an emulator's request log without headers, and a direct delivery of hand-made events
// (for changes SCIM cannot produce yet, e.g. group descriptions, which the gateway's Group schema drops).
import type { Emulator } from '../fixtures/emulators/common';
import { createLogger } from '../../src/log';
import type { DeliveryContext } from '../../src/egress/connector';
import { connectorFor } from '../../src/egress/connectors';
import { call } from '../../src/egress/http';
import { parseTargets } from '../../src/egress/targets';
import type { AttemptRecord, AttemptRow, DeliveryRow, QueuedEvent } from '../../src/store/egress-types';
import { group, patchOp, scim, user, type TestGateway } from './gateway';

export async function newUser(gw: TestGateway, t: string, userName: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await scim('POST', `${gw.api}/Users`, t, user(userName, extra));
  if (res.status !== 201) throw new Error(`POST /Users ${userName}: ${res.status} ${res.text}`);
  return res.body.id as string;
}

export async function newGroup(gw: TestGateway, t: string, displayName: string, members: string[] = [],
  extra: Record<string, unknown> = {}): Promise<string> {
  const res = await scim('POST', `${gw.api}/Groups`, t, group(displayName, members, extra));
  if (res.status !== 201) throw new Error(`POST /Groups ${displayName}: ${res.status} ${res.text}`);
  return res.body.id as string;
}

async function patch(gw: TestGateway, t: string, id: string, ops: unknown[]): Promise<void> {
  const res = await scim('PATCH', `${gw.api}/Groups/${id}`, t, patchOp(ops));
  if (res.status !== 200 && res.status !== 204) throw new Error(`PATCH /Groups/${id}: ${res.status} ${res.text}`);
}

export const renameGroup = (gw: TestGateway, t: string, id: string, displayName: string) =>
  patch(gw, t, id, [{ op: 'replace', path: 'displayName', value: displayName }]);

export const addToGroup = (gw: TestGateway, t: string, id: string, userIds: string[]) =>
  patch(gw, t, id, [{ op: 'add', path: 'members', value: userIds.map((value) => ({ value })) }]);

export const removeFromGroup = (gw: TestGateway, t: string, id: string, userId: string) =>
  patch(gw, t, id, [{ op: 'remove', path: `members[value eq "${userId}"]` }]);

export async function putGroup(gw: TestGateway, t: string, id: string, body: Record<string, unknown>): Promise<void> {
  const res = await scim('PUT', `${gw.api}/Groups/${id}`, t, body);
  if (res.status !== 200) throw new Error(`PUT /Groups/${id}: ${res.status} ${res.text}`);
}

export async function deleteGroup(gw: TestGateway, t: string, id: string): Promise<void> {
  const res = await scim('DELETE', `${gw.api}/Groups/${id}`, t);
  if (res.status !== 204) throw new Error(`DELETE /Groups/${id}: ${res.status} ${res.text}`);
}

/** The target's deliveries, oldest first. */
export async function deliveries(gw: TestGateway, target: string): Promise<DeliveryRow[]> {
  const rows = await gw.store.egress.listDeliveries({ target, limit: 1000 });
  return rows.sort((a, b) => a.seq - b.seq);
}

/**
 * The members added to groups, in the order the gateway hands them to the target (the order of the outbox events'
 * userIds; within one SCIM request the store does not keep the request's order), each mapped through `map`.
 */
export async function inAddedOrder<T>(gw: TestGateway, target: string, map: Record<string, T>): Promise<T[]> {
  const out: T[] = [];
  for (const d of await deliveries(gw, target)) {
    if (d.type !== 'group.members_added') continue;
    const { payload } = (await gw.store.egress.getDelivery(target, d.seq))!;
    for (const id of payload.userIds as string[]) if (id in map) out.push(map[id]);
  }
  return out;
}

/** Every attempt recorded for the target, in the order recorded. */
export async function attempts(gw: TestGateway, target: string): Promise<AttemptRow[]> {
  const byId = new Map<number, AttemptRow>();
  for (const d of await deliveries(gw, target)) {
    for (const a of (await gw.store.egress.getDelivery(target, d.seq))!.attempts) byId.set(a.id, a);
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** The emulator's request log without headers (assert on auth with `allAuthorized`, never by printing headers). */
export function calls(em: Emulator): { method: string; path: string; query: Record<string, unknown>; body: unknown }[] {
  return em.requests.map((r) => ({ method: r.method, path: r.path, query: r.query, body: r.body }));
}

/** True when every request carried exactly this header value (a boolean, so a failure prints no credential). */
export function allAuthorized(em: Emulator, header: string, value: string): boolean {
  return em.requests.length > 0 && em.requests.every((r) => r.headers[header] === value);
}

/**
 * Hands a batch of hand-made events straight to the target's connector, with the real HTTP layer and store, as the worker
 * would. Returns the attempts and the skips; throws what the connector throws.
 */
export async function deliverDirect(gw: TestGateway, target: Record<string, unknown>, aggregate: string, events: Omit<QueuedEvent, 'attempts' | 'occurredAt'>[]): Promise<{ attempts: Omit<AttemptRecord, 'target' | 'aggregate' | 'firstSeq' | 'lastSeq'>[]; skips: string[] }> {
  const [config] = parseTargets({ targets: [target] }, {}, ['100ms']);
  const connector = connectorFor(config);
  const recorded: Omit<AttemptRecord, 'target' | 'aggregate' | 'firstSeq' | 'lastSeq'>[] = [];
  const skips: string[] = [];
  const ctx: DeliveryContext = {
    target: config,
    batch: { target: config.name, tenant: config.tenant, aggregate, events: events.map((e) => ({ ...e, attempts: 0, occurredAt: new Date().toISOString() })) },
    store: gw.store,
    log: createLogger('silent'),
    call: (spec) => call(config.baseUrl, connector.authHeaders(), config.timeoutMs, spec, { record: (a) => recorded.push(a), pauseUntil: () => undefined }),
    noteSkip: (reason) => skips.push(reason),
    completed: () => undefined,
    noteDeprovisioned: () => undefined,
  };
  await connector.deliver(ctx);
  return { attempts: recorded, skips };
}

/**
 * Every table of the gateway's database as JSON text, by name, on either backend: for checks that nothing (a secret)
 * is stored anywhere.
 */
export async function databaseDump(gw: TestGateway): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const store = gw.store as unknown as { kind: 'sqlite' | 'postgres'; db?: import('better-sqlite3').Database; pool?: import('pg').Pool };
  if (store.kind === 'sqlite') {
    const db = store.db!;
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]) {
      out[name] = JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all());
    }
    return out;
  }
  const pool = store.pool!;
  const tables = await pool.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
  for (const { table_name: name } of tables.rows) out[name] = JSON.stringify((await pool.query(`SELECT * FROM "${name}"`)).rows);
  return out;
}
