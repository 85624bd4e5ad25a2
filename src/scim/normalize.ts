// Input normalisation before scimmy validates a body. Entra ID sends booleans as "True"/"False" strings;
// RFC 7643 wants JSON booleans, so strings that spell a boolean are converted for boolean attributes only.
import SCIMMY from 'scimmy';

interface Attr { name: string; type: string; config: { multiValued?: boolean }; subAttributes?: Attr[] }

function booleanString(v: unknown): boolean | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  return s === 'true' ? true : s === 'false' ? false : undefined;
}

function fixAttrs(obj: Record<string, unknown>, attrs: Attr[]): void {
  for (const key of Object.keys(obj)) {
    const attr = attrs.find((a) => a.name.toLowerCase() === key.toLowerCase());
    if (!attr) continue;
    const v = obj[key];
    if (attr.type === 'boolean') {
      const b = booleanString(v);
      if (b !== undefined) obj[key] = b;
    } else if (attr.type === 'complex' && attr.subAttributes) {
      const items = Array.isArray(v) ? v : [v];
      for (const item of items) {
        if (item && typeof item === 'object' && !Array.isArray(item)) fixAttrs(item as Record<string, unknown>, attr.subAttributes);
      }
    }
  }
}

/** Mutates a parsed JSON body in place (it is ours: freshly parsed from the request). */
export function normaliseBooleans(kind: 'User' | 'Group', body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  const o = body as Record<string, unknown>;
  const core = (kind === 'User' ? SCIMMY.Schemas.User : SCIMMY.Schemas.Group).definition.attributes as unknown as Attr[];
  fixAttrs(o, core);
  if (kind === 'User') {
    const urn = SCIMMY.Schemas.EnterpriseUser.definition.id;
    const ext = o[urn];
    if (ext && typeof ext === 'object') fixAttrs(ext as Record<string, unknown>, SCIMMY.Schemas.EnterpriseUser.definition.attributes as unknown as Attr[]);
  }
}

