// Input normalisation before scimmy validates a body: readings of real identity-provider bodies that mean one thing
// only, made into the RFC 7643 form. Entra ID sends booleans as "True"/"False" strings (converted for boolean
// attributes only); OneLogin sends a multi-valued attribute holding one value as that value alone
// (`"emails": {"value": …}`), read as a one-element list. Both apply at every depth, to POST and PUT bodies and to
// PATCH values.
import SCIMMY from 'scimmy';

interface Attr { name: string; type: string; config: { multiValued?: boolean }; subAttributes?: Attr[] }

/** The enterprise User extension's URN (RFC 7643 §4.3). */
export const ENTERPRISE = SCIMMY.Schemas.EnterpriseUser.definition.id;
const CORE_USER = SCIMMY.Schemas.User.definition.id;

function attributesOf(kind: 'User' | 'Group'): Attr[] {
  return (kind === 'User' ? SCIMMY.Schemas.User : SCIMMY.Schemas.Group).definition.attributes as unknown as Attr[];
}

function enterpriseAttributes(): Attr[] {
  return SCIMMY.Schemas.EnterpriseUser.definition.attributes as unknown as Attr[];
}

function booleanString(v: unknown): boolean | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  return s === 'true' ? true : s === 'false' ? false : undefined;
}

function find(attrs: Attr[], name: string): Attr | undefined {
  const lower = name.toLowerCase();
  return attrs.find((a) => a.name.toLowerCase() === lower);
}

/** One attribute's value, normalised; `whole` is false where the value is one element of a multi-valued attribute. */
function fixValue(attr: Attr, value: unknown, whole: boolean): unknown {
  let v = value;
  if (whole && attr.config.multiValued && v !== undefined && v !== null && !Array.isArray(v)) v = [v];
  if (attr.type === 'boolean') {
    if (Array.isArray(v)) return v.map((x) => booleanString(x) ?? x);
    return booleanString(v) ?? v;
  }
  if (attr.type === 'complex' && attr.subAttributes) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item && typeof item === 'object' && !Array.isArray(item)) fixAttrs(item as Record<string, unknown>, attr.subAttributes);
    }
  }
  return v;
}

function fixAttrs(obj: Record<string, unknown>, attrs: Attr[]): void {
  for (const key of Object.keys(obj)) {
    const attr = find(attrs, key);
    if (attr) obj[key] = fixValue(attr, obj[key], true);
  }
}

/**
 * The enterprise extension's object. A `schemas` key inside it (some clients repeat the resource's) is no attribute of
 * the extension: dropped, as a POST body's top-level `schemas` is read and not stored.
 */
function fixExtension(ext: Record<string, unknown>): void {
  for (const k of Object.keys(ext)) if (k.toLowerCase() === 'schemas') delete ext[k];
  fixAttrs(ext, enterpriseAttributes());
}

/** A POST/PUT body or a path-less PATCH value: mutated in place (it is ours, freshly parsed from the request). */
export function normaliseResource(kind: 'User' | 'Group', body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  const o = body as Record<string, unknown>;
  fixAttrs(o, attributesOf(kind));
  if (kind === 'User') {
    const key = Object.keys(o).find((k) => k.toLowerCase() === ENTERPRISE.toLowerCase());
    const ext = key === undefined ? undefined : o[key];
    if (ext && typeof ext === 'object' && !Array.isArray(ext)) fixExtension(ext as Record<string, unknown>);
  }
}

/**
 * The value of a User PATCH operation with a path, normalised for the attribute the path names:
 * `emails` (a whole multi-valued attribute: a lone object becomes a list), `emails[type eq "work"]` (one element),
 * `roles.primary` / `emails[…].primary` (a sub-attribute), the enterprise URN itself or `urn:…:User:department`.
 */
export function normaliseUserPatchValue(path: string, value: unknown): unknown {
  let rest = path.trim();
  let attrs = attributesOf('User');
  const lower = rest.toLowerCase();
  if (lower === ENTERPRISE.toLowerCase()) {
    if (value && typeof value === 'object' && !Array.isArray(value)) fixExtension(value as Record<string, unknown>);
    return value;
  }
  if (lower.startsWith(`${ENTERPRISE.toLowerCase()}:`)) {
    attrs = enterpriseAttributes();
    rest = rest.slice(ENTERPRISE.length + 1);
  } else if (lower.startsWith(`${CORE_USER.toLowerCase()}:`)) {
    rest = rest.slice(CORE_USER.length + 1);
  } else if (lower.startsWith('urn:')) {
    return value;
  }
  const m = /^([^.[\]]+)(\[[^\]]*\])?(?:\.([^.[\]]+))?$/.exec(rest);
  if (!m) return value;
  const attr = find(attrs, m[1]);
  if (!attr) return value;
  if (m[3] !== undefined) {
    const sub = attr.subAttributes ? find(attr.subAttributes, m[3]) : undefined;
    return sub ? fixValue(sub, value, true) : value;
  }
  // With a filter the value is for the matching elements, one at a time.
  return fixValue(attr, value, m[2] === undefined);
}
