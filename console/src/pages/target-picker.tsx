// The target choice the Links and Reconciliation pages start from (only the targets this token may see).
import { useEffect } from 'preact/hooks';
import { admin } from '../api';
import type { Target } from '../types';
import { Empty, Failure, Loading, useLoad } from '../ui';

export function TargetPicker({ value, onChange, filter }: { value?: string; onChange: (name: string) => void; filter?: (t: Target) => boolean }) {
  const load = useLoad(() => admin<{ targets: Target[] }>('/targets'), []);
  const first = load.data?.targets.find(filter ?? (() => true))?.name;
  // The first target is chosen once the list is in, so the page below has something to show.
  useEffect(() => { if (!value && first) onChange(first); }, [value, first]);
  if (load.error) return <Failure error={load.error} retry={load.reload} />;
  if (!load.data) return <Loading />;
  const targets = load.data.targets.filter(filter ?? (() => true));
  if (!targets.length) return <Empty>No target here takes this: targets are set in the gateway's TARGETS_FILE.</Empty>;
  return (
    <label>Target
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {targets.map((t) => <option key={t.name} value={t.name}>{t.name} ({t.kind})</option>)}
      </select>
    </label>
  );
}
