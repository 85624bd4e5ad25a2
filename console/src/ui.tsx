// Small parts every page uses: times with their UTC value on hover, numbers, the states of a load (loading, empty,
// failed with what to do), and a hook that loads from the API.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
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

export interface Paged<T> { rows: T[]; more: boolean; error?: unknown; loading: boolean; older: () => void; reload: () => void }

/**
 * A list read a page at a time with the API's cursor: `page(cursor)` answers a page and the cursor of the next one
 * (none at the end); the first page is read now and whenever a key changes, older() appends the next.
 */
export function usePaged<T>(page: (cursor?: number) => Promise<{ rows: T[]; next?: number }>, keys: unknown[]): Paged<T> {
  const [state, setState] = useState<{ rows: T[]; next?: number; error?: unknown; loading: boolean }>({ rows: [], loading: true });
  // Only the newest read may answer: a slow page of an old filter must not land on the new one.
  const latest = useRef(0);
  const read = async (cursor?: number) => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    try {
      const r = await page(cursor);
      if (mine === latest.current) setState((s) => ({ rows: cursor === undefined ? r.rows : [...s.rows, ...r.rows], next: r.next, loading: false }));
    } catch (error) {
      if (mine === latest.current) setState((s) => ({ ...s, error, loading: false }));
    }
  };
  useEffect(() => { void read(); }, keys);
  return {
    rows: state.rows, more: state.next !== undefined, error: state.error, loading: state.loading,
    older: () => void read(state.next), reload: () => void read(),
  };
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
