// Canonical values as suggestions. RFC 7643 §7 defines canonicalValues as values "that MAY be used" and §2.3.1 lets
// a service provider accept others; §4.1.2 gives roles, entitlements and x509Certificates no canonical types at
// all. scimmy enforces every canonicalValues list as the only values allowed (case-sensitively, and an empty list
// as "nothing allowed"), so `emails[].type` "Work" or "internet" and every `roles[].type` were refused. Declared
// once, here: each list stays advertised in /Schemas as it is, any string passes and is stored as sent, and scimmy
// still refuses a value of the wrong JSON type (a number where a string belongs). Filters compare these values
// case-insensitively, as their caseExact false says (store/filter-sql.ts).
import SCIMMY from 'scimmy';

// An attribute, or (in an extended schema's attribute list) the extension's schema definition with its own attributes.
interface Attr { config?: { canonicalValues?: unknown }; subAttributes?: Attr[]; attributes?: Attr[] }

/** An Array (so scimmy and JSON see the list) whose membership test admits every value. */
class Suggestions extends Array<unknown> {
  override includes(): boolean {
    return true;
  }
}

function asSuggestions(list: unknown[]): unknown[] {
  return Object.setPrototypeOf([...list], Suggestions.prototype) as unknown[];
}

function relax(attrs: readonly Attr[]): void {
  for (const attr of attrs) {
    const values = attr.config?.canonicalValues;
    if (attr.config && Array.isArray(values) && !(values instanceof Suggestions)) attr.config.canonicalValues = asSuggestions(values);
    if (attr.subAttributes) relax(attr.subAttributes);
    if (attr.attributes) relax(attr.attributes);
  }
}

/** The User schema and its enterprise extension; idempotent. (Group members are validated by the gateway itself.) */
export function canonicalValuesAsSuggestions(): void {
  relax(SCIMMY.Schemas.User.definition.attributes as unknown as Attr[]);
  relax(SCIMMY.Schemas.EnterpriseUser.definition.attributes as unknown as Attr[]);
}
