// Deliveries: filtered by target, state and group, newest first, a page at a time (the API's beforeSeq cursor);
// each opens to its attempts, and dead, done or skipped ones can be sent again.
import { useState } from 'preact/hooks';
import { admin, query, replayDeadLetters } from '../api';
import type { Delivery, DeliveryDetail, DeliveryState, Target } from '../types';
import { ActionButton, Empty, Failure, Loading, Num, StateBadge, Time, useLoad, usePaged } from '../ui';

const PAGE = 50;
const STATES: DeliveryState[] = ['pending', 'in_flight', 'done', 'skipped', 'dead'];
const ERROR_SHOWN = 300;

export interface DeliveryFilter { target?: string; state?: string; group?: string }

function Attempts({ target, seq }: { target: string; seq: number }) {
  const load = useLoad(() => admin<DeliveryDetail>(`/deliveries/${encodeURIComponent(target)}/${seq}`), [target, seq]);
  const [replayed, setReplayed] = useState(false);
  if (load.error) return <Failure error={load.error} retry={load.reload} />;
  if (!load.data) return <Loading />;
  const d = load.data;
  return (
    <div class="detail">
      <p>
        Event <code>{d.delivery.type}</code> for <code>{d.delivery.aggregate}</code>, {d.attempts.length ? `${d.attempts.length} attempt(s)` : 'not attempted yet'}.
        {' '}{['dead', 'done', 'skipped'].includes(d.delivery.state) && !replayed && (
          <ActionButton label="Replay" done={() => { setReplayed(true); load.reload(); }}
            run={async () => { await admin(`/deliveries/${encodeURIComponent(target)}/${seq}/replay`, { method: 'POST' }); return 'queued again'; }} />
        )}
        {replayed && <span role="status" class="ok">Replay queued again: the worker sends it on its next pass (refresh to follow it).</span>}
      </p>
      {d.attempts.length > 0 && (
        <table class="attempts">
          <caption class="sr-only">Attempts of delivery {seq}</caption>
          <thead><tr><th scope="col">When</th><th scope="col">Request</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Outcome</th><th scope="col">Response or error</th></tr></thead>
          <tbody>
            {d.attempts.map((a) => (
              <tr key={a.id}>
                <td><Time iso={a.at} /></td>
                <td><code>{a.request ?? '—'}</code></td>
                <td class="num">{a.status ?? '—'}</td>
                <td class="num">{a.latencyMs === undefined ? '—' : `${Math.round(a.latencyMs)} ms`}</td>
                <td><span class={`badge outcome-${a.outcome}`}>{a.outcome}</span></td>
                <td class="wrap" title={a.error}>{a.error ? (a.error.length > ERROR_SHOWN ? `${a.error.slice(0, ERROR_SHOWN)}…` : a.error) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function DeliveriesPage({ initial }: { initial: DeliveryFilter }) {
  const [filter, setFilter] = useState<DeliveryFilter>(initial);
  const [draft, setDraft] = useState<DeliveryFilter>(initial);
  const [open, setOpen] = useState<string>();
  const targets = useLoad(() => admin<{ targets: Target[] }>('/targets'), []);
  const list = usePaged<Delivery>(async (beforeSeq) => {
    const { deliveries } = await admin<{ deliveries: Delivery[] }>(`/deliveries${query({ ...filter, limit: PAGE, beforeSeq })}`);
    return { rows: deliveries, next: deliveries.length === PAGE ? deliveries[PAGE - 1].seq : undefined };
  }, [filter.target, filter.state, filter.group]);
  const rows = list.rows;

  const apply = (e: Event) => {
    e.preventDefault();
    setOpen(undefined);
    setFilter({ ...draft });
    location.hash = `#/deliveries${query({ target: draft.target, state: draft.state, group: draft.group })}`;
  };
  return (
    <section aria-labelledby="h-deliveries">
      <header class="page-head"><h1 id="h-deliveries">Deliveries</h1></header>
      <form class="filters" onSubmit={apply}>
        <label>Target
          <select value={draft.target ?? ''} onChange={(e) => setDraft({ ...draft, target: e.currentTarget.value || undefined })}>
            <option value="">all targets</option>
            {targets.data?.targets.map((t) => <option key={t.name} value={t.name}>{t.name}</option>)}
          </select>
        </label>
        <label>State
          <select value={draft.state ?? ''} onChange={(e) => setDraft({ ...draft, state: e.currentTarget.value || undefined })}>
            <option value="">any state</option>
            {STATES.map((s) => <option key={s} value={s}>{s.replace('_', ' ')}</option>)}
          </select>
        </label>
        <label>Group id
          <input type="text" value={draft.group ?? ''} placeholder="SCIM group id" onInput={(e) => setDraft({ ...draft, group: e.currentTarget.value || undefined })} />
        </label>
        <button type="submit">Show</button>
        <button type="button" onClick={list.reload}>Refresh</button>
        {filter.target && (
          <ActionButton label={`Replay all dead letters of ${filter.target}`} done={list.reload} run={() => replayDeadLetters(filter.target!)} />
        )}
      </form>
      {list.error ? <Failure error={list.error} retry={list.reload} /> : null}
      {!list.error && !list.loading && !rows.length && (
        <Empty>No deliveries match. Widen the filter (any state, all targets), or check that the identity provider's changes reach the gateway.</Empty>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="deliveries">
            <thead><tr><th scope="col">Seq</th><th scope="col">Target</th><th scope="col">Resource</th><th scope="col">Event</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Last status</th><th scope="col">Updated</th><th scope="col"><span class="sr-only">Details</span></th></tr></thead>
            <tbody>
              {rows.map((d) => {
                const key = `${d.target}/${d.seq}`;
                return [
                  <tr key={key} class={`row-${d.state}`}>
                    <td class="num">{d.seq}</td>
                    <td>{d.target}</td>
                    <td><code>{d.aggregate}</code></td>
                    <td>{d.type}</td>
                    <td><StateBadge state={d.state} /></td>
                    <td class="num"><Num n={d.attempts} /></td>
                    <td class="num" title={d.lastError}>{d.lastStatus ?? (d.lastError ? 'error' : '—')}</td>
                    <td><Time iso={d.updated} /></td>
                    <td>
                      <button type="button" aria-expanded={open === key} onClick={() => setOpen(open === key ? undefined : key)}>
                        {open === key ? 'Hide' : 'Attempts'}
                      </button>
                    </td>
                  </tr>,
                  open === key && (
                    <tr key={`${key}-detail`} class="detail-row"><td colSpan={9}><Attempts target={d.target} seq={d.seq} /></td></tr>
                  ),
                ];
              })}
            </tbody>
          </table>
        </div>
      )}
      {list.loading && <Loading />}
      {list.more && !list.loading && <button type="button" class="more" onClick={list.older}>Older deliveries</button>}
    </section>
  );
}
