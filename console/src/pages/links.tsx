// Links: which SCIM group or user is which object at a target; set one by hand, or remove it.
import { useState } from 'preact/hooks';
import { admin, query } from '../api';
import type { Link } from '../types';
import { ActionButton, Empty, Failure, Loading, Time, useLoad } from '../ui';
import { TargetPicker } from './target-picker';

interface LinksAnswer { links: Link[]; withheld: { groupId: string; userId: string; reason: string }[] }

export function LinksPage() {
  const [target, setTarget] = useState<string>();
  const [kind, setKind] = useState<'group' | 'user'>('group');
  const [form, setForm] = useState({ scimId: '', remoteId: '' });
  const [saveError, setSaveError] = useState<unknown>();
  const load = useLoad(() => (target ? admin<LinksAnswer>(`/links/${encodeURIComponent(target)}${query({ kind })}`) : Promise.resolve(undefined)), [target, kind]);
  const save = async (e: Event) => {
    e.preventDefault();
    setSaveError(undefined);
    try {
      await admin(`/links/${encodeURIComponent(target!)}/${kind}/${encodeURIComponent(form.scimId.trim())}`, { method: 'PUT', body: { remoteId: form.remoteId.trim() } });
      setForm({ scimId: '', remoteId: '' });
      load.reload();
    } catch (err) {
      setSaveError(err);
    }
  };
  return (
    <section aria-labelledby="h-links">
      <header class="page-head"><h1 id="h-links">Links</h1></header>
      <div class="filters">
        <TargetPicker value={target} onChange={setTarget} filter={(t) => t.kind !== 'webhook'} />
        <fieldset class="segmented">
          <legend class="sr-only">Kind</legend>
          {(['group', 'user'] as const).map((k) => (
            <label key={k}><input type="radio" name="kind" value={k} checked={kind === k} onChange={() => setKind(k)} /> {k} links</label>
          ))}
        </fieldset>
      </div>
      {target && (
        <form class="filters" onSubmit={save} aria-label="Set a link">
          <label>SCIM {kind} id<input required type="text" value={form.scimId} onInput={(e) => setForm({ ...form, scimId: e.currentTarget.value })} /></label>
          <label>Id at {target}<input required type="text" value={form.remoteId} onInput={(e) => setForm({ ...form, remoteId: e.currentTarget.value })} /></label>
          <button type="submit">Set link</button>
          {saveError ? <Failure error={saveError} /> : null}
        </form>
      )}
      {load.error ? <Failure error={load.error} retry={load.reload} />
        : !target || !load.data ? <Loading />
        : !load.data.links.length ? <Empty>No {kind} links for {target} yet. They appear when the gateway creates or finds the {kind} there, or when you set one above.</Empty>
        : (
          <div class="table-wrap">
            <table>
              <thead><tr><th scope="col">SCIM id</th><th scope="col">Id at target</th><th scope="col">Source</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {load.data.links.map((l) => (
                  <tr key={l.scimId}>
                    <td><code>{l.scimId}</code></td>
                    <td><code>{l.remoteId}</code></td>
                    <td>{l.source}</td>
                    <td><Time iso={l.created} /></td>
                    <td>
                      <ActionButton label="Remove" kind="danger" confirm={`Remove the link of ${l.scimId}? Changes stop reaching ${target} for it until it is linked again.`}
                        done={load.reload}
                        run={async () => { await admin(`/links/${encodeURIComponent(target)}/${kind}/${encodeURIComponent(l.scimId)}`, { method: 'DELETE' }); return 'removed'; }} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      {load.data && load.data.withheld.length > 0 && (
        <p class="small">{load.data.withheld.length} membership(s) of inactive users are withheld from {target} (it removes deactivated users).</p>
      )}
    </section>
  );
}
