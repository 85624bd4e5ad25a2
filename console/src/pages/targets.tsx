// Targets: each delivery target's health at a glance, its backlog and throughput over the last hour, and one click
// to send its dead letters again.
import { admin, replayDeadLetters } from '../api';
import { BacklogChart } from '../chart';
import { age } from '../format';
import type { Sample, Target } from '../types';
import { ActionButton, Empty, Failure, Loading, Num, Time, useLoad } from '../ui';

function Series({ target }: { target: string }) {
  const load = useLoad(() => admin<{ samples: Sample[] }>(`/targets/${encodeURIComponent(target)}/series?minutes=60`), [target]);
  if (load.error) return <span class="bad small">chart unavailable</span>;
  if (!load.data) return <span class="small">…</span>;
  return <BacklogChart samples={load.data.samples} />;
}

export function TargetsPage() {
  const load = useLoad(() => admin<{ targets: Target[] }>('/targets'), []);
  return (
    <section aria-labelledby="h-targets">
      <header class="page-head">
        <h1 id="h-targets">Targets</h1>
        <button type="button" onClick={load.reload}>Refresh</button>
      </header>
      {load.error ? <Failure error={load.error} retry={load.reload} />
        : !load.data ? <Loading />
        : !load.data.targets.length ? <Empty>This token's tenant has no delivery targets. Targets are set in the gateway's TARGETS_FILE.</Empty>
        : (
          <div class="cards">
            {load.data.targets.map((t) => {
              const h = t.health;
              const behind = h.pending + h.inFlight > 0;
              return (
                <article class={`card${h.dead ? ' has-dead' : ''}`} key={t.name} aria-labelledby={`t-${t.name}`}>
                  <h2 id={`t-${t.name}`}>{t.name} <span class="kind">{t.kind}</span>{!t.enabled && <span class="badge">disabled</span>}</h2>
                  <p class="small">tenant {t.tenant}{t.baseUrl ? ` · ${t.baseUrl}` : ''}</p>
                  <dl class="health">
                    <div><dt>Pending</dt><dd><Num n={h.pending} /></dd></div>
                    <div><dt>In flight</dt><dd><Num n={h.inFlight} /></dd></div>
                    <div class={h.dead ? 'bad' : ''}><dt>Dead</dt><dd><Num n={h.dead} /></dd></div>
                    <div><dt>Skipped</dt><dd><Num n={h.skipped} /></dd></div>
                    <div><dt>Delivered</dt><dd><Num n={h.done} /></dd></div>
                    <div class={behind ? 'warn' : ''}><dt>Oldest open</dt><dd>{age(h.oldestOpenMs)}</dd></div>
                    <div class="wide"><dt>Last success</dt><dd><Time iso={h.lastSuccessAt} /></dd></div>
                    <div class="wide"><dt>Last failure</dt><dd><Time iso={h.lastFailureAt} /></dd></div>
                  </dl>
                  <Series target={t.name} />
                  <p class="card-actions">
                    <a href={`#/deliveries?target=${encodeURIComponent(t.name)}&state=dead`}>Dead letters</a>
                    {h.dead > 0 && (
                      <ActionButton label={`Replay ${h.dead} dead`} done={load.reload}
                        run={() => replayDeadLetters(t.name)} />
                    )}
                  </p>
                </article>
              );
            })}
          </div>
        )}
    </section>
  );
}
