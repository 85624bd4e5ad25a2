// Reconciliation: compare the target's groups with the gateway's (a dry run changes nothing), see the differences,
// then queue the repairs.
import { useState } from 'preact/hooks';
import { admin, query } from '../api';
import type { Difference, ReconcileReport } from '../types';
import { Empty, Failure, Num, Time } from '../ui';
import { TargetPicker } from './target-picker';

function Diff({ label, d }: { label: string; d: Difference }) {
  if (!d.count) return null;
  return <li>{label}: <Num n={d.count} /> <span class="small">({d.sample.join(', ')}{d.count > d.sample.length ? ', …' : ''})</span></li>;
}

export function ReconcilePage() {
  const [target, setTarget] = useState<string>();
  const [group, setGroup] = useState('');
  const [report, setReport] = useState<ReconcileReport>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState<'dry' | 'apply'>();
  const run = async (dryRun: boolean) => {
    setBusy(dryRun ? 'dry' : 'apply');
    setError(undefined);
    try {
      setReport(await admin<ReconcileReport>(`/reconcile/${encodeURIComponent(target!)}${query({ dryRun, group: group.trim() || undefined })}`, { method: 'POST' }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(undefined);
    }
  };
  const s = report?.summary;
  return (
    <section aria-labelledby="h-reconcile">
      <header class="page-head"><h1 id="h-reconcile">Reconciliation</h1></header>
      <div class="filters">
        <TargetPicker value={target} onChange={(t) => { setTarget(t); setReport(undefined); }} filter={(t) => t.kind !== 'webhook'} />
        <label>One group (optional)<input type="text" value={group} placeholder="SCIM group id" onInput={(e) => setGroup(e.currentTarget.value)} /></label>
        <button type="button" disabled={!target || !!busy} onClick={() => void run(true)}>{busy === 'dry' ? 'Comparing…' : 'Dry run'}</button>
        <button type="button" disabled={!target || !!busy || !report?.dryRun} onClick={() => void run(false)}
          title={report?.dryRun ? 'Queue the repair deliveries' : 'Run a dry run first'}>{busy === 'apply' ? 'Repairing…' : 'Apply repairs'}</button>
      </div>
      {error ? <Failure error={error} /> : null}
      {!report && !error && <Empty>Run a dry run to compare {target ?? 'a target'} with the gateway. Nothing changes until you apply.</Empty>}
      {report && s && (
        <div class="report" aria-live="polite">
          <p>
            <strong>{report.dryRun ? 'Dry run' : 'Repairs queued'}</strong> at <Time iso={report.finishedAt} />:{' '}
            <Num n={s.groups} /> linked groups, <Num n={s.inSync} /> in sync, <Num n={s.drift} /> drifted, <Num n={s.pending} /> pending,{' '}
            <Num n={s.missing} /> missing there, <Num n={s.errors} /> errors{report.dryRun ? '; nothing was changed.' : `; ${s.repairs} repair deliveries queued.`}
          </p>
          {report.groups.filter((g) => g.status !== 'in_sync').length === 0
            ? <Empty>Every linked group matches.</Empty>
            : (
              <ul class="groups">
                {report.groups.filter((g) => g.status !== 'in_sync').map((g) => (
                  <li key={g.groupId}>
                    <strong>{g.displayName ?? g.groupId}</strong> <code>{g.groupId}</code> → <code>{g.remoteId}</code>: {g.status.replace('_', ' ')}
                    {g.error && <span class="bad"> — {g.error}</span>}
                    <ul>
                      {g.name && <li>name: “{g.name.scim}” here, “{g.name.remote ?? ''}” there</li>}
                      <Diff label="missing there" d={g.missing} />
                      <Diff label="there but not in the group" d={g.extra} />
                      <Diff label="there with no user link (reported, never removed)" d={g.unlinked} />
                      {!g.membersCompared && g.status !== 'pending' && g.status !== 'missing' && g.status !== 'error' && <li>members not compared: the target's API lists none</li>}
                    </ul>
                  </li>
                ))}
              </ul>
            )}
        </div>
      )}
    </section>
  );
}
