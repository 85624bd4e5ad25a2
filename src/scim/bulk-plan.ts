// RFC 7644 §3.7.1–3.7.2: bulkId references and the order operations run in. Pure functions over the parsed
// request; bulk.ts runs what they plan.
//  - A reference is a string value "bulkId:<id>" anywhere in an operation's data (members[].value, manager.value,
//    a PATCH value) or as the id in its path. It names the resource the POST with that bulkId creates.
//  - Operations run in request order, except that an operation runs after the POSTs it refers to, wherever they
//    stand (forward references). A reference that closes a cycle (A refers to B, B to A, or an operation to
//    itself) cannot be resolved: that operation is answered 409, and those that depend on it fail with it.
//  - Consecutive operations that cannot affect each other run together (bulk.ts: one group commit on SQLite).
import type { BulkOperation } from './bulk-request';

const PREFIX = 'bulkid:';

function reference(v: string): string | undefined {
  return v.length > PREFIX.length && v.slice(0, PREFIX.length).toLowerCase() === PREFIX ? v.slice(PREFIX.length) : undefined;
}

/** The bulkIds an operation refers to (path id and data), each once, in the order met. */
export function referencesOf(op: BulkOperation): string[] {
  const found = new Set<string>();
  const fromPath = op.id === undefined ? undefined : reference(op.id);
  if (fromPath !== undefined) found.add(fromPath);
  const stack: unknown[] = [op.data];
  while (stack.length) {
    const node = stack.pop();
    if (typeof node === 'string') {
      const r = reference(node);
      if (r !== undefined) found.add(r);
    } else if (Array.isArray(node)) {
      for (const x of node) stack.push(x);
    } else if (node && typeof node === 'object') {
      for (const k in node) stack.push((node as Record<string, unknown>)[k]);
    }
  }
  return [...found];
}

/** A copy of `value` with every "bulkId:<id>" string replaced by the id its POST created. */
export function resolveReferences<T>(value: T, ids: ReadonlyMap<string, string>): T {
  const visit = (node: unknown): unknown => {
    if (typeof node === 'string') {
      const r = reference(node);
      return r !== undefined && ids.has(r) ? ids.get(r) : node;
    }
    if (Array.isArray(node)) return node.map(visit);
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = visit(v);
      return out;
    }
    return node;
  };
  return visit(value) as T;
}

export interface ExecutionPlan {
  /** Operation indexes in the order they run. */
  order: number[];
  /** Per operation, the bulkIds it refers to. */
  references: Map<number, string[]>;
  /** The POST that defines each bulkId. */
  definedBy: Map<string, number>;
  /** Operations answered without running: a reference to no POST (400), or one that closes a cycle (409). */
  unresolvable: Map<number, { status: 400 | 409; bulkId: string }>;
}

/** Depth-first over references (iterative: a chain of thousands of forward references must not overflow the stack). */
export function planExecution(ops: readonly BulkOperation[]): ExecutionPlan {
  const definedBy = new Map<string, number>();
  for (const op of ops) if (op.method === 'POST' && op.bulkId !== undefined && !op.invalid) definedBy.set(op.bulkId, op.index);
  const references = new Map<number, string[]>();
  for (const op of ops) if (!op.invalid) references.set(op.index, referencesOf(op));
  const unresolvable = new Map<number, { status: 400 | 409; bulkId: string }>();
  const state = new Map<number, 'visiting' | 'done'>();
  const order: number[] = [];

  for (const root of ops) {
    if (state.has(root.index)) continue;
    // Each frame: an operation and how many of its references have been followed.
    const stack: { index: number; next: number }[] = [{ index: root.index, next: 0 }];
    state.set(root.index, 'visiting');
    while (stack.length) {
      const frame = stack[stack.length - 1];
      const refs = references.get(frame.index) ?? [];
      if (frame.next < refs.length) {
        const bulkId = refs[frame.next++];
        const target = definedBy.get(bulkId);
        if (target === undefined) {
          if (!unresolvable.has(frame.index)) unresolvable.set(frame.index, { status: 400, bulkId });
        } else if (state.get(target) === 'visiting') {
          if (!unresolvable.has(frame.index)) unresolvable.set(frame.index, { status: 409, bulkId });
        } else if (!state.has(target)) {
          state.set(target, 'visiting');
          stack.push({ index: target, next: 0 });
        }
        continue;
      }
      state.set(frame.index, 'done');
      order.push(frame.index);
      stack.pop();
    }
  }
  return { order, references, definedBy, unresolvable };
}

/**
 * What an operation touches that another in the same round must not: its resource, and the unique userName it may
 * set. Two operations sharing a key run in separate rounds, in order, so the first one sent wins as it would alone.
 */
export function conflictKeys(op: BulkOperation, id: string | undefined): string[] {
  const keys: string[] = [];
  if (id !== undefined) keys.push(`${op.resourceType}:id:${id}`);
  if (op.resourceType === 'User') for (const name of userNamesIn(op)) keys.push(`User:userName:${name.toLowerCase()}`);
  return keys;
}

/** userName values a POST/PUT body or a PATCH (path "userName", or a path-less value) would set. */
function userNamesIn(op: BulkOperation): string[] {
  const names: string[] = [];
  const take = (o: unknown) => {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return;
    for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === 'username' && typeof v === 'string') names.push(v);
  };
  if (op.method !== 'PATCH') {
    take(op.data);
    return names;
  }
  const ops = op.data && typeof op.data === 'object' ? Object.entries(op.data).find(([k]) => k.toLowerCase() === 'operations')?.[1] : undefined;
  for (const o of Array.isArray(ops) ? ops : []) {
    if (!o || typeof o !== 'object') continue;
    const path = Object.entries(o).find(([k]) => k.toLowerCase() === 'path')?.[1];
    const value = Object.entries(o).find(([k]) => k.toLowerCase() === 'value')?.[1];
    if (path === undefined) take(value);
    else if (typeof path === 'string' && /(^|:)username$/i.test(path.trim()) && typeof value === 'string') names.push(value);
  }
  return names;
}
