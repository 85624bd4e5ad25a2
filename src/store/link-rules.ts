// Configured group links (a target's `groups: [{match, remoteId}]`), resolved when a change commits: the store
// applies them inside the write's own transaction, so the link names the group the operator meant by the name (or
// externalId, or id) it had then, and later renames and already-queued events follow the stored link. Pure: both
// stores use it and keep only the SQL that writes the rows.

/** One configured mapping of one target. */
export interface GroupLinkRule {
  target: string;
  tenant: string;
  match: { id?: string; externalId?: string; displayName?: string };
  remoteId: string;
}

/** The attributes a rule can match on, as committed. */
export interface LinkableGroup {
  id: string;
  displayName?: string;
  externalId?: string;
}

export interface RuleLink {
  target: string;
  remoteId: string;
}

function ruleMatches(rule: GroupLinkRule, g: LinkableGroup): boolean {
  const m = rule.match;
  return (m.id !== undefined && m.id === g.id)
    || (m.externalId !== undefined && m.externalId === g.externalId)
    || (m.displayName !== undefined && m.displayName === g.displayName);
}

/**
 * The links the rules give this group of this tenant: at most one per target, the first matching rule in the
 * targets file's order. The store inserts each only where the target has no link for the group yet, so a stored
 * link (configured earlier, set by an admin, or created) always wins.
 */
export function linksFor(rules: readonly GroupLinkRule[], tenant: string, g: LinkableGroup): RuleLink[] {
  const out: RuleLink[] = [];
  for (const r of rules) {
    if (r.tenant !== tenant || !ruleMatches(r, g) || out.some((l) => l.target === r.target)) continue;
    out.push({ target: r.target, remoteId: r.remoteId });
  }
  return out;
}

/** The column each kind of match compares, for the start-up pass over existing groups. */
export function matchColumn(rule: GroupLinkRule): { column: 'id' | 'external_id' | 'display_name'; value: string } {
  const m = rule.match;
  if (m.id !== undefined) return { column: 'id', value: m.id };
  if (m.externalId !== undefined) return { column: 'external_id', value: m.externalId };
  return { column: 'display_name', value: m.displayName ?? '' };
}
