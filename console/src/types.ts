// The shapes the /admin API answers (src/admin/routes.ts), as far as the console reads them.
export type DeliveryState = 'pending' | 'in_flight' | 'done' | 'skipped' | 'dead';

interface Health {
  pending: number; inFlight: number; done: number; skipped: number; dead: number;
  oldestOpenMs?: number; lastSuccessAt?: string; lastFailureAt?: string;
}

export interface Target {
  name: string; kind: string; tenant: string; baseUrl?: string; enabled: boolean; health: Health;
}

export interface Sample { at: string; pending: number; inFlight: number; dead: number; done: number; skipped: number }

export interface Delivery {
  target: string; seq: number; tenant: string; aggregate: string; type: string; state: DeliveryState; attempts: number;
  nextAt: number; lastStatus?: number; lastError?: string; created: string; updated: string;
}

interface Attempt {
  id: number; at: string; request?: string; status?: number; latencyMs?: number; outcome: string; error?: string;
  firstSeq: number; lastSeq: number;
}

export interface DeliveryDetail { delivery: Delivery; payload: Record<string, unknown>; attempts: Attempt[] }

export interface Link { target: string; kind: 'group' | 'user'; scimId: string; tenant: string; remoteId: string; source: string; created: string }

export interface AuditRecord {
  seq: number; at: string; tenant: string; subject?: string; mount: string; operation: string;
  resourceType: 'User' | 'Group'; resourceId: string; requestId?: string; summary: Record<string, unknown>;
}

export interface Difference { count: number; sample: string[] }

interface GroupReport {
  groupId: string; displayName?: string; remoteId: string; status: string; error?: string; membersCompared: boolean;
  missing: Difference; extra: Difference; unlinked: Difference; repairs: number; repushed?: number;
  name?: { scim: string; remote?: string };
}

export interface ReconcileReport {
  target: string; tenant: string; dryRun: boolean; startedAt: string; finishedAt: string; groups: GroupReport[];
  summary: { groups: number; inSync: number; drift: number; pending: number; missing: number; errors: number; repairs: number };
}
