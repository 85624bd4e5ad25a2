// Row shapes of the delivery tables and their mapping to the store's types, shared by both backends.
import type { AttemptRow, DeliveryRow, DeliveryState, LinkKind, LinkRow } from './egress-types';
import type { EventType } from './events';

export interface DRow {
  target: string; seq: number; tenant: string; aggregate: string; type: EventType; state: DeliveryState;
  attempts: number; next_at: number; last_status: number | null; last_error: string | null; created: string; updated: string;
}

export function toDelivery(r: DRow): DeliveryRow {
  return {
    target: r.target, seq: r.seq, tenant: r.tenant, aggregate: r.aggregate, type: r.type, state: r.state,
    attempts: r.attempts, nextAt: r.next_at, lastStatus: r.last_status ?? undefined, lastError: r.last_error ?? undefined,
    created: r.created, updated: r.updated,
  };
}

export interface LRow { target: string; kind: LinkKind; scim_id: string; tenant: string; remote_id: string; source: LinkRow['source']; created: string }
export function toLink(r: LRow): LinkRow {
  return { target: r.target, kind: r.kind, scimId: r.scim_id, tenant: r.tenant, remoteId: r.remote_id, source: r.source, created: r.created };
}

const ERROR_LIMIT = 2000;
export function clip(s: string | undefined): string | null {
  if (s === undefined) return null;
  return s.length > ERROR_LIMIT ? `${s.slice(0, ERROR_LIMIT)}…` : s;
}

export interface ARow {
  id: number; target: string; aggregate: string; first_seq: number; last_seq: number; at: string; request: string | null;
  status: number | null; latency_ms: number | null; outcome: AttemptRow['outcome']; error: string | null;
}
export function toAttempt(a: ARow): AttemptRow {
  return {
    id: a.id, target: a.target, aggregate: a.aggregate, firstSeq: a.first_seq, lastSeq: a.last_seq, at: a.at,
    request: a.request ?? undefined, status: a.status ?? undefined, latencyMs: a.latency_ms ?? undefined,
    outcome: a.outcome, error: a.error ?? undefined,
  };
}
