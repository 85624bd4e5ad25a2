// Rewrites a User PatchOp from an identity provider's dialect into the RFC 7644 form scimmy applies.
// Microsoft Entra ID: attribute paths as keys of a no-path value, "True"/"False" strings, manager given as an
// array or a bare id, and filtered replaces of emails/phones that the user does not have yet (which Entra expects
// to add). Okta and RFC bodies pass through unchanged.
import { parse } from 'scim2-parse-filter';
import { badRequest } from './errors';
import { patchOperations } from './patch-op';
import { ENTERPRISE, normaliseResource, normaliseUserPatchValue } from './normalize';

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';

type Op = { op: string; path?: string; value?: unknown; [k: string]: unknown };

/** A key of a no-path value that is really a path: dotted, filtered, or URN-qualified down to an attribute. */
function isPathKey(key: string): boolean {
  if (key === ENTERPRISE || key === CORE) return false;
  if (key.startsWith('urn:')) return true; // urn:...:User:department, urn:...:User:manager.value
  return key.includes('.') || key.includes('[');
}

/** Enterprise extension attributes no core User attribute shares a name with. */
const ENTERPRISE_ONLY = ['employeenumber', 'costcenter', 'organization', 'division', 'department', 'manager'];

/**
 * Entra sends some enterprise attributes without their URN (its documented manager update uses path "manager").
 * RFC 7644 §3.10 wants extension attributes fully qualified; since these names are unambiguous, qualify them.
 */
function qualifyEnterprise(path: string): string {
  if (path.includes(':')) return path;
  const head = path.split(/[.[]/)[0].toLowerCase();
  return ENTERPRISE_ONLY.includes(head) ? `${ENTERPRISE}:${path}` : path;
}

function stripCore(path: string): string {
  return path.startsWith(`${CORE}:`) ? path.slice(CORE.length + 1) : path;
}

function fixManager(op: Op): void {
  if (!op.path || !/(^|:)manager$/i.test(op.path) || op.op.toLowerCase() === 'remove') return;
  let v = op.value;
  if (Array.isArray(v)) v = v[0];
  if (typeof v === 'string') v = v === '' ? undefined : { value: v };
  if (v === undefined || v === null) {
    // Entra clears a manager with an empty value: that is a remove.
    op.op = 'remove';
    delete op.value;
    return;
  }
  op.value = v;
}

/** emails[type eq "work"].value → { attr: "emails", match: {type: "work"}, sub: "value" } when that simple. */
function simpleFilteredPath(path: string): { attr: string; match: Record<string, unknown>; sub?: string } | undefined {
  const m = /^([A-Za-z][\w-]*)\[(.+)\](?:\.([A-Za-z][\w-]*))?$/.exec(path);
  if (!m) return undefined;
  let f;
  try {
    f = parse(m[2]);
  } catch {
    return undefined;
  }
  const match: Record<string, unknown> = {};
  const visit = (n: typeof f): boolean => {
    if (n.op === 'and') return n.filters.every(visit);
    if (n.op === 'eq' && !n.attrPath.includes('.')) {
      match[n.attrPath] = n.compValue;
      return true;
    }
    return false;
  };
  return visit(f) ? { attr: m[1], match, sub: m[3] } : undefined;
}

function matches(item: unknown, match: Record<string, unknown>): boolean {
  if (!item || typeof item !== 'object') return false;
  const o = item as Record<string, unknown>;
  return Object.entries(match).every(([k, v]) => {
    const key = Object.keys(o).find((x) => x.toLowerCase() === k.toLowerCase());
    const have = key ? o[key] : undefined;
    return typeof have === 'string' && typeof v === 'string' ? have.toLowerCase() === v.toLowerCase() : have === v;
  });
}

/**
 * A replace/add through a filter that matches nothing on the user becomes an add of a new element carrying the
 * filter's values (Entra: `replace emails[type eq "work"].value` on a user without a work email).
 */
function addWhenNoTarget(op: Op, current: Record<string, unknown>): Op {
  const kind = op.op.toLowerCase();
  if (!op.path || (kind !== 'replace' && kind !== 'add')) return op;
  const p = simpleFilteredPath(stripCore(op.path));
  if (!p) return op;
  const key = Object.keys(current).find((k) => k.toLowerCase() === p.attr.toLowerCase());
  const list = key ? current[key] : undefined;
  if (Array.isArray(list) && list.some((item) => matches(item, p.match))) return op;
  const element: Record<string, unknown> = { ...p.match };
  if (p.sub) element[p.sub] = op.value;
  else if (op.value && typeof op.value === 'object' && !Array.isArray(op.value)) Object.assign(element, op.value);
  else throw badRequest('invalidValue', `"${op.path}" needs an object value`);
  return { op: 'add', path: p.attr, value: [element] };
}

/** The PatchOp in RFC 7644 form; undefined when every operation it had turned out to be a no-op (nothing to apply). */
export function normaliseUserPatch(message: unknown, current: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!message || typeof message !== 'object' || Array.isArray(message)) return message as Record<string, unknown>;
  const m = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
  patchOperations(m);
  const out: Op[] = [];
  for (const op of m.Operations as Op[]) {
    if (typeof op.path === 'string' && op.path.trim().toLowerCase() === ENTERPRISE.toLowerCase() && String(op.op).toLowerCase() === 'remove') {
      out.push(...removeExtension(current));
      continue;
    }
    if (op.path === undefined && op.value && typeof op.value === 'object' && !Array.isArray(op.value)) {
      const value = op.value as Record<string, unknown>;
      const rest: Record<string, unknown> = {};
      const split: Op[] = [];
      for (const [k, v] of Object.entries(value)) {
        if (isPathKey(k)) split.push({ op: op.op, path: k, value: v });
        else rest[k] = v;
      }
      normaliseResource('User', rest);
      if (Object.keys(rest).length || !split.length) out.push({ ...op, value: rest });
      out.push(...split.map((s) => prepareOp(s, current)));
      continue;
    }
    out.push(prepareOp(op, current));
  }
  if ((m.Operations as Op[]).length && !out.length) return undefined;
  m.Operations = out;
  return m;
}

/**
 * `remove` of the whole enterprise extension (RFC 7644 §3.5.2.2 with the extension's URN as path): a remove of each
 * extension attribute the user has; none when it has no extension data (a no-op, as removing an absent value is).
 */
function removeExtension(current: Record<string, unknown>): Op[] {
  const key = Object.keys(current).find((k) => k.toLowerCase() === ENTERPRISE.toLowerCase());
  const ext = key === undefined ? undefined : current[key];
  if (!ext || typeof ext !== 'object' || Array.isArray(ext)) return [];
  return Object.keys(ext).filter((k) => k !== 'schemas').map((k) => ({ op: 'remove', path: `${ENTERPRISE}:${k}` }));
}

function prepareOp(op: Op, current: Record<string, unknown>): Op {
  if (op.path !== undefined && typeof op.path === 'string') {
    op.path = qualifyEnterprise(op.path);
    if (op.value !== undefined) op.value = normaliseUserPatchValue(op.path, op.value);
    fixManager(op);
    return addWhenNoTarget(op, current);
  }
  return op;
}
