// The reconciliation report as text, for the CLI (the admin API and `--json` answer the report object itself).
import type { Difference, GroupReport, ReconcileReport } from './reconcile';

function listed(d: Difference): string {
  const more = d.count > d.sample.length ? `, … ${d.count - d.sample.length} more` : '';
  return `${d.count} (${d.sample.join(', ')}${more})`;
}

function groupLines(g: GroupReport): string[] {
  const head = `  ${g.groupId} "${g.displayName ?? '?'}" → ${g.remoteId}: ${g.status.replace('_', ' ')}`;
  switch (g.status) {
    case 'pending': return [`${head} (deliveries still open for it; left alone)`];
    case 'missing':
    case 'error': return [`${head}: ${g.error}`];
    default: break;
  }
  const lines = [head];
  if (g.name) lines.push(`    name: "${g.name.scim}" here, "${g.name.remote ?? ''}" there`);
  if (g.description) lines.push(`    description: ${JSON.stringify(g.description.scim ?? null)} here, ${JSON.stringify(g.description.remote ?? null)} there`);
  if (!g.membersCompared) {
    lines.push('    members not compared: the target\'s API has no member listing'
      + (g.repushed !== undefined ? `; ${g.repushed} members re-sent through its add endpoint` : '; a repair re-sends every member'));
  } else {
    if (g.missing.count) lines.push(`    missing there: ${listed(g.missing)}`);
    if (g.extra.count) lines.push(`    there but not in the group: ${listed(g.extra)}`);
    if (g.unlinked.count) lines.push(`    there with no user link (reported, never removed): ${listed(g.unlinked)}`);
  }
  if (g.repairs) lines.push(`    repairs queued: ${g.repairs}`);
  return lines;
}

export function reportText(r: ReconcileReport): string {
  const s = r.summary;
  const head = `target ${r.target} (tenant ${r.tenant}): ${s.groups} linked groups: ${s.inSync} in sync, ${s.drift} drift, `
    + `${s.pending} pending, ${s.missing} missing there, ${s.errors} errors; `
    + (r.dryRun ? 'dry run: nothing was changed' : `repair events queued: ${s.repairs}`);
  return [head, ...r.groups.flatMap(groupLines)].join('\n') + '\n';
}
