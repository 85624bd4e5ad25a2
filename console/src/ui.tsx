// Small parts every page uses: times with their UTC value on hover, numbers, the states of a load (loading, empty,
// failed with what to do), and a hook that loads from the API.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api';
import { localTime, num } from './format';

export function Time({ iso }: { iso?: string }) {
  if (!iso) return <span>—</span>;
  return <time dateTime={iso} title={`${iso} (UTC)`}>{localTime(iso)}</time>;
}

export function Num({ n }: { n?: number }) {
  return <span class="num">{num(n)}</span>;
}

export function Failure({ error, retry }: { error: unknown; retry?: () => void }) {
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof ApiError && error.status === 404
    ? 'It may belong to another tenant or no longer exist.'
    : error instanceof ApiError && error.status === 400 ? 'Check the filter values and try again.' : 'Try again in a moment.';
  return (
    <div class="failure" role="alert">
      <strong>That did not work:</strong> {message} {hint}
      {retry && <button type="button" onClick={retry}>Try again</button>}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function Loading() {
  return <p class="loading" aria-live="polite">Loading…</p>;
}

export interface Load<T> { data?: T; error?: unknown; loading: boolean; reload: () => void }

/** Loads fn() now and whenever a key changes; reload() asks again. */
export function useLoad<T>(fn: () => Promise<T>, keys: unknown[]): Load<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then((data) => live && setState({ data, loading: false }), (error) => live && setState({ error, loading: false }));
    return () => { live = false; };
  }, [...keys, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

/** A button for an action that calls the API: busy while it runs, then its outcome beside it. */
export function ActionButton({ label, run, done, confirm: ask, kind }: {
  label: string; run: () => Promise<string>; done?: () => void; confirm?: string; kind?: 'danger';
}) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string }>();
  const click = async () => {
    if (ask && !window.confirm(ask)) return;
    setBusy(true);
    setOutcome(undefined);
    try {
      setOutcome({ ok: true, text: await run() });
      done?.();
    } catch (e) {
      setOutcome({ ok: false, text: e instanceof Error ? e.message : String(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={kind} disabled={busy} onClick={click}>{busy ? `${label}…` : label}</button>
      {outcome && <span role="status" class={outcome.ok ? 'ok' : 'bad'}>{outcome.text}</span>}
    </span>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state.replace('_', ' ')}</span>;
}
