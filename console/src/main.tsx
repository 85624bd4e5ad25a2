// The operator console: sign in with an admin token, then Targets, Deliveries, Links, Reconciliation and Audit, each
// a hash route (#/targets …) so the browser's back button and bookmarks work without the server knowing the routes.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { admin, ApiError, forgetToken, saveToken, savedToken, whenSignedOut } from './api';
import { AuditPage } from './pages/audit';
import { DeliveriesPage } from './pages/deliveries';
import { LinksPage } from './pages/links';
import { ReconcilePage } from './pages/reconcile';
import { TargetsPage } from './pages/targets';

const PAGES = [
  { path: 'targets', label: 'Targets' },
  { path: 'deliveries', label: 'Deliveries' },
  { path: 'links', label: 'Links' },
  { path: 'reconcile', label: 'Reconciliation' },
  { path: 'audit', label: 'Audit' },
] as const;

function route(): { page: string; params: URLSearchParams } {
  const [path, q] = location.hash.replace(/^#\/?/, '').split('?');
  return { page: PAGES.some((p) => p.path === path) ? path : 'targets', params: new URLSearchParams(q ?? '') };
}

function SignIn({ onSignedIn, reason }: { onSignedIn: () => void; reason?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim().replace(/^Bearer\s+/i, '');
    if (!t) return;
    setBusy(true);
    setError(undefined);
    try {
      await admin('/targets', { token: t });
      saveToken(t);
      setToken('');
      onSignedIn();
    } catch (err) {
      setError(err instanceof ApiError && err.signedOut
        ? `The gateway refused this token: ${err.message} It needs the "admin" scope (scimbridge token create --scope admin).`
        : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>scimbridge console</h1>
      <form onSubmit={submit}>
        <label for="token">Admin token</label>
        <p class="small" id="token-help">Paste a bearer token with the admin scope. It stays in this tab only (session storage) and is sent only to this gateway's /admin API.</p>
        <input id="token" type="password" autoComplete="off" spellcheck={false} aria-describedby="token-help" value={token}
          onInput={(e) => setToken(e.currentTarget.value)} autoFocus />
        <button type="submit" disabled={busy || !token.trim()}>{busy ? 'Checking…' : 'Sign in'}</button>
        {(error ?? reason) && <p class="failure" role="alert">{error ?? reason}</p>}
      </form>
    </main>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(!!savedToken());
  const [reason, setReason] = useState<string>();
  const [where, setWhere] = useState(route());
  useEffect(() => {
    const onHash = () => setWhere(route());
    addEventListener('hashchange', onHash);
    whenSignedOut((why) => { forgetToken(); setReason(`Signed out: ${why}`); setSignedIn(false); });
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (!signedIn) return <SignIn reason={reason} onSignedIn={() => { setReason(undefined); setSignedIn(true); }} />;
  const p = where.params;
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">scimbridge</span>
        <nav aria-label="Console pages">
          {PAGES.map((pg) => (
            <a key={pg.path} href={`#/${pg.path}`} aria-current={where.page === pg.path ? 'page' : undefined}>{pg.label}</a>
          ))}
        </nav>
        <button type="button" class="signout" onClick={() => { forgetToken(); setSignedIn(false); }}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {where.page === 'targets' && <TargetsPage />}
        {where.page === 'deliveries' && (
          <DeliveriesPage key={location.hash} initial={{ target: p.get('target') ?? undefined, state: p.get('state') ?? undefined, group: p.get('group') ?? undefined }} />
        )}
        {where.page === 'links' && <LinksPage />}
        {where.page === 'reconcile' && <ReconcilePage />}
        {where.page === 'audit' && <AuditPage />}
      </main>
    </>
  );
}

const root = document.getElementById('app')!;
root.textContent = ''; // the "Loading…" note the page shows before the script runs
render(<App />, root);
