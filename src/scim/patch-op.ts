// PatchOp bodies (RFC 7644 §3.5.2): the checks every resource's PATCH shares, before its own planning.
import { badRequest } from './errors';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export interface PatchOperation {
  op: 'add' | 'remove' | 'replace';
  path?: string;
  value?: unknown;
}

/**
 * The Operations of a PatchOp body, checked: "schemas" (when given) lists the PatchOp schema, each operation is an
 * object with add/remove/replace, a path that is a non-empty string, a value where the op needs one, and an object of
 * attributes as the value of an add/replace without a path. Anything else is a 400 with RFC 7644's scimType; scimmy
 * would throw TypeErrors (500) on several of these.
 */
export function patchOperations(message: Record<string, unknown>): PatchOperation[] {
  const schemas = message.schemas;
  if (schemas !== undefined && (!Array.isArray(schemas) || !schemas.includes(PATCH_SCHEMA))) {
    throw badRequest('invalidSyntax', `PATCH body must list the schema ${PATCH_SCHEMA}`);
  }
  const ops = message.Operations;
  if (!Array.isArray(ops) || ops.length === 0) throw badRequest('invalidSyntax', 'PATCH body needs a non-empty "Operations" array');
  return ops.map((raw, i) => {
    const where = `Operations[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('invalidSyntax', `${where} must be an object`);
    const o = raw as Record<string, unknown>;
    const op = typeof o.op === 'string' ? o.op.toLowerCase() : undefined;
    if (op !== 'add' && op !== 'remove' && op !== 'replace') {
      throw badRequest('invalidSyntax', `${where}: "op" must be add, remove or replace`);
    }
    if (o.path !== undefined && (typeof o.path !== 'string' || o.path.trim() === '')) {
      throw badRequest('invalidPath', `${where}: "path" must be a non-empty string`);
    }
    if (op !== 'remove' && !('value' in o)) throw badRequest('invalidSyntax', `${where}: "${op}" needs a "value"`);
    if (op === 'remove' && o.path === undefined) throw badRequest('noTarget', `${where}: "remove" needs a "path"`);
    if (o.path === undefined && (!o.value || typeof o.value !== 'object' || Array.isArray(o.value))) {
      throw badRequest('invalidValue', `${where}: without a path, "value" must be an object of attributes`);
    }
    return { op, path: o.path as string | undefined, value: o.value };
  });
}
