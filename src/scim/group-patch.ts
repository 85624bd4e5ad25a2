// Splits a Group PatchOp into membership set operations (run in SQL, cost follows the request) and attribute
// operations (run by scimmy on the group without its members). Understands the RFC 7644 forms, Entra ID's and
// Okta's variants, and DronaHQ's bare {"members": [...]} body.
import { parse, type Filter as ParsedFilter } from 'scim2-parse-filter';
import type { MemberOp } from '../store/types';
import { badRequest } from './errors';
import { patchOperations, PATCH_SCHEMA, type PatchOperation } from './patch-op';

export { PATCH_SCHEMA };

const GROUP_URN = 'urn:ietf:params:scim:schemas:core:2.0:Group';

export interface GroupPatchPlan {
  /** Operations on anything but members, for scimmy. */
  attributeOps: PatchOperation[];
  memberOps: MemberOp[];
  /** DronaHQ's body: answered with 200 and the group. */
  dronahq: boolean;
}

/** Member values: [{value}], a single {value}, or (leniently) bare id strings. */
export function memberIds(value: unknown, where: string): string[] {
  const items = Array.isArray(value) ? value : [value];
  const ids: string[] = [];
  for (const item of items) {
    if (typeof item === 'string' && item !== '') {
      ids.push(item);
      continue;
    }
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      throw badRequest('invalidValue', `${where}: each member must be an object with a "value"`);
    }
    const m = item as Record<string, unknown>;
    // Attribute names are case-insensitive; the exact spelling is looked up first (bulk adds name thousands).
    const v = 'value' in m ? 'value' : keyIgnoringCase(m, 'value');
    if (!v || typeof m[v] !== 'string' || m[v] === '') {
      throw badRequest('invalidValue', `${where}: each member needs a non-empty string "value"`);
    }
    const typeKey = 'type' in m ? 'type' : keyIgnoringCase(m, 'type');
    if (typeKey && typeof m[typeKey] === 'string' && (m[typeKey] as string).toLowerCase() !== 'user') {
      throw badRequest('invalidValue', `${where}: only users can be members (type "${m[typeKey]}")`);
    }
    ids.push(m[v] as string);
  }
  return ids;
}

function keyIgnoringCase(o: Record<string, unknown>, name: string): string | undefined {
  for (const k in o) if (k.toLowerCase() === name) return k;
  return undefined;
}

function stripUrn(path: string): string {
  return path.toLowerCase().startsWith(GROUP_URN.toLowerCase() + ':') ? path.slice(GROUP_URN.length + 1) : path;
}

/** members[value eq "a" or value eq "b"] → ["a", "b"]; anything else is refused. */
function idsFromMemberFilter(text: string, where: string): string[] {
  let f: ParsedFilter;
  try {
    f = parse(text);
  } catch {
    throw badRequest('invalidFilter', `${where}: the filter "${text}" is not valid`);
  }
  const ids: string[] = [];
  const visit = (n: ParsedFilter): void => {
    if (n.op === 'or') return n.filters.forEach(visit);
    if (n.op === 'eq' && n.attrPath.toLowerCase() === 'value' && typeof n.compValue === 'string') {
      ids.push(n.compValue);
      return;
    }
    throw badRequest('invalidFilter', `${where}: member filters must be 'value eq "<id>"' joined by "or"`);
  };
  visit(f);
  return ids;
}

export function planGroupPatch(body: unknown): GroupPatchPlan {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalidSyntax', 'PATCH body must be a JSON object');
  const message = body as Record<string, unknown>;
  // DronaHQ: {"members": [...]} is the desired member list.
  if (!('Operations' in message) && Array.isArray(message.members)) {
    return { attributeOps: [], memberOps: [{ op: 'replace', ids: memberIds(message.members, 'members') }], dronahq: true };
  }
  const plan: GroupPatchPlan = { attributeOps: [], memberOps: [], dronahq: false };
  patchOperations(message).forEach((o, i) => {
    const where = `Operations[${i}]`;
    if (o.path === undefined) {
      const rest: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o.value as Record<string, unknown>)) {
        if (stripUrn(k).toLowerCase() === 'members') {
          const ids = memberIds(v, `${where}.value.members`);
          plan.memberOps.push(o.op === 'replace' ? { op: 'replace', ids } : { op: 'add', ids });
        } else rest[k] = v;
      }
      if (Object.keys(rest).length) plan.attributeOps.push({ op: o.op, value: rest });
      return;
    }
    const path = stripUrn(o.path.trim());
    const lower = path.toLowerCase();
    if (lower === 'members') {
      if (o.op === 'remove') {
        const empty = o.value === undefined || o.value === null || (Array.isArray(o.value) && o.value.length === 0);
        plan.memberOps.push(empty ? { op: 'removeAll' } : { op: 'remove', ids: memberIds(o.value, `${where}.value`) });
      } else if (o.op === 'add') {
        plan.memberOps.push({ op: 'add', ids: memberIds(o.value, `${where}.value`) });
      } else {
        const ids = o.value === null ? [] : memberIds(o.value, `${where}.value`);
        plan.memberOps.push(ids.length ? { op: 'replace', ids } : { op: 'removeAll' });
      }
      return;
    }
    const filtered = /^members\[(.*)\]$/i.exec(path);
    if (filtered) {
      if (o.op !== 'remove') throw badRequest('invalidPath', `${where}: only "remove" may target members by filter`);
      plan.memberOps.push({ op: 'remove', ids: idsFromMemberFilter(filtered[1], where) });
      return;
    }
    if (lower.startsWith('members.') || lower.startsWith('members[')) {
      throw badRequest('invalidPath', `${where}: member sub-attributes cannot be changed; add or remove members instead`);
    }
    plan.attributeOps.push(o);
  });
  return plan;
}
