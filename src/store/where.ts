// WHERE clauses of the stores' list queries, written once: each query's conditions (`column op ?`, skipped when the
// value is undefined) and their rendering for either engine.
import type { AuditQuery } from './audit';
import type { AttemptQuery, DeliveryQuery, OutboxQuery } from './egress-types';

export type Conditions = [sql: string, value: unknown][];

/** `WHERE …` (or nothing) with its parameters; on PostgreSQL each `?` becomes `$n`, numbered from 1. */
export function where(pairs: Conditions, dialect: 'sqlite' | 'postgres'): { sql: string; params: unknown[] } {
  const used = pairs.filter(([, v]) => v !== undefined);
  const parts = used.map(([sql], i) => (dialect === 'postgres' ? sql.replace('?', `$${i + 1}`) : sql));
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params: used.map(([, v]) => v) };
}

export const deliveryConditions = (q: DeliveryQuery): Conditions => [
  ['target = ?', q.target], ['tenant = ?', q.tenant], ['state = ?', q.state], ['aggregate = ?', q.aggregate], ['seq < ?', q.beforeSeq],
];

export const outboxConditions = (q: OutboxQuery): Conditions => [
  ['tenant = ?', q.tenant], ['aggregate = ?', q.aggregate], ['seq > ?', q.afterSeq],
];

export const attemptConditions = (q: AttemptQuery): Conditions => [['target = ?', q.target], ['outcome = ?', q.outcome]];

export const auditConditions = (q: AuditQuery): Conditions => [
  ['tenant = ?', q.tenant], ['resource_type = ?', q.resourceType], ['resource_id = ?', q.resourceId], ['subject = ?', q.subject],
  ['operation = ?', q.operation], ['at >= ?', q.since], ['at < ?', q.until], ['seq < ?', q.beforeSeq],
];
