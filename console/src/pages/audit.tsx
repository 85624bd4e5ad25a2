// Audit: who changed what through SCIM or the admin API, newest first, filtered, a page at a time (the API's cursor).
import { useState } from 'preact/hooks';
import { admin, query } from '../api';
import { isoFromLocal } from '../format';
import type { AuditRecord } from '../types';
import { Empty, Failure, Loading, Time, usePaged } from '../ui';

const PAGE = 50;
const OPERATIONS = ['create', 'replace', 'patch', 'delete', 'reconcile'];

interface Filter { resourceType: string; resourceId: string; subject: string; operation: string; since: string; until: string }
const NONE: Filter = { resourceType: '', resourceId: '', subject: '', operation: '', since: '', until: '' };

function summary(s: Record<string, unknown>): string {
  const parts = Object.entries(s).map(([k, v]) => (Array.isArray(v) ? `${k}: ${v.length > 3 ? `${v.slice(0, 3).join(', ')} … (${v.length})` : v.join(', ')}` : `${k}: ${JSON.stringify(v)}`));
  return parts.join('; ') || '—';
}

export function AuditPage() {
  const [draft, setDraft] = useState<Filter>(NONE);
  const [filter, setFilter] = useState<Filter>(NONE);
  const list = usePaged<AuditRecord>(async (beforeSeq) => {
    const r = await admin<{ records: AuditRecord[]; next: number | null }>(`/audit${query({
      resourceType: filter.resourceType, resourceId: filter.resourceId.trim(), subject: filter.subject.trim(), operation: filter.operation,
      since: isoFromLocal(filter.since), until: isoFromLocal(filter.until), limit: PAGE, beforeSeq,
    })}`);
    return { rows: r.records, next: r.next ?? undefined };
  }, [filter]);
  const rows = list.rows;
  const field = (k: keyof Filter) => ({ value: draft[k], onInput: (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value }) });
  return (
    <section aria-labelledby="h-audit">
      <header class="page-head"><h1 id="h-audit">Audit trail</h1></header>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); setFilter({ ...draft }); }}>
        <label>Resource
          <select value={draft.resourceType} onChange={(e) => setDraft({ ...draft, resourceType: e.currentTarget.value })}>
            <option value="">Users and Groups</option><option value="User">Users</option><option value="Group">Groups</option>
          </select>
        </label>
        <label>Resource id<input type="text" {...field('resourceId')} /></label>
        <label>Subject<input type="text" {...field('subject')} placeholder="token subject" /></label>
        <label>Operation
          <select value={draft.operation} onChange={(e) => setDraft({ ...draft, operation: e.currentTarget.value })}>
            <option value="">any</option>
            {OPERATIONS.map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        </label>
        <label>Since<input type="datetime-local" step="1" {...field('since')} /></label>
        <label>Until<input type="datetime-local" step="1" {...field('until')} /></label>
        <button type="submit">Show</button>
        <button type="button" onClick={() => { setDraft(NONE); setFilter(NONE); }}>Clear</button>
      </form>
      {list.error ? <Failure error={list.error} retry={list.reload} /> : null}
      {!list.error && !list.loading && !rows.length && <Empty>No audit records match. Clear the filter, or widen the time range.</Empty>}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="audit">
            <thead><tr><th scope="col">When</th><th scope="col">Operation</th><th scope="col">Resource</th><th scope="col">Subject</th><th scope="col">Mount</th><th scope="col">Request</th><th scope="col">Summary</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.seq}>
                  <td><Time iso={r.at} /></td>
                  <td>{r.operation}</td>
                  <td>{r.resourceType} <code>{r.resourceId}</code></td>
                  <td>{r.subject ?? '—'}</td>
                  <td><code>{r.mount}</code></td>
                  <td><code class="small">{r.requestId ?? '—'}</code></td>
                  <td class="wrap">{summary(r.summary)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.loading && <Loading />}
      {list.more && !list.loading && <button type="button" class="more" onClick={list.older}>Older records</button>}
    </section>
  );
}
