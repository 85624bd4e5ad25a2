// The Targets page's chart: backlog (open deliveries) as a line and throughput (deliveries finished per sample) as
// bars, over the samples the worker keeps (target_samples). SVG attributes only: the page's CSP allows no inline style.
import type { Sample } from './types';
import { localTime, num } from './format';
import { Num } from './ui';

const W = 240;
const H = 48;

export function BacklogChart({ samples }: { samples: Sample[] }) {
  if (samples.length < 2) {
    return <p class="empty small">No chart yet: the delivery worker records a sample a minute; one appears after two.</p>;
  }
  const backlog = samples.map((s) => s.pending + s.inFlight);
  const done = samples.slice(1).map((s, i) => Math.max(0, s.done - samples[i].done));
  const maxB = Math.max(1, ...backlog);
  const maxD = Math.max(1, ...done);
  const step = W / (samples.length - 1);
  const line = backlog.map((b, i) => `${(i * step).toFixed(1)},${(H - (b / maxB) * (H - 2) - 1).toFixed(1)}`).join(' ');
  const first = samples[0].at;
  const last = samples[samples.length - 1].at;
  const label = `Backlog from ${num(backlog[0])} to ${num(backlog[backlog.length - 1])} open deliveries (peak ${num(Math.max(...backlog))}); `
    + `${num(done.reduce((a, b) => a + b, 0))} finished between ${localTime(first)} and ${localTime(last)}`;
  return (
    <figure class="chart-box">
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={label}>
      <title>{label}</title>
      {done.map((d, i) => (
        <rect key={i} class="bar" x={(i + 0.5) * step - step * 0.4} width={Math.max(1, step * 0.8)} y={H - (d / maxD) * H} height={(d / maxD) * H} />
      ))}
      <polyline class="line" points={line} fill="none" />
    </svg>
    <figcaption class="small"><span class="key-line">—</span> open deliveries (peak <Num n={Math.max(...backlog)} />) · <span class="key-bar">▮</span> delivered per sample (peak <Num n={Math.max(0, ...done)} />), last hour</figcaption>
    </figure>
  );
}
