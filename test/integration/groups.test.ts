// Groups over real HTTP against a real SQLite file: membership as set operations, PATCH variants (RFC 7644, Entra,
// DronaHQ), all-or-nothing refusal of bad member references, and member references per mount.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { sqliteOnly } from '../helpers/postgres';
import type { Store } from '../../src/store/types';
import {
  GROUP_SCHEMA, group, PATCH_SCHEMA, scim, startGateway, user, type TestGateway, expectScimError } from '../helpers/gateway';

let gw: TestGateway;
let t: string;
let other: string;

beforeAll(async () => {
  gw = await startGateway();
  t = await gw.token('groups-a');
  other = await gw.token('groups-b');
});
afterAll(async () => { await gw.close(); });

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

async function newUser(label: string, extra: Record<string, unknown> = {}, token = t): Promise<{ id: string; userName: string }> {
  const res = await scim('POST', `${gw.api}/Users`, token, user(`${unique(label)}@example.com`, extra));
  expect(res.status).toBe(201);
  return res.body;
}

async function newUsers(n: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await newUser(`${label}${i}`)).id);
  return ids;
}

async function newGroup(label: string, members: string[] = [], token = t, base = gw.api) {
  const res = await scim('POST', `${base}/Groups`, token, group(unique(label), members));
  expect(res.status).toBe(201);
  return res.body;
}

async function getGroup(id: string, base = gw.api, token = t) {
  const res = await scim('GET', `${base}/Groups/${id}`, token);
  expect(res.status).toBe(200);
  return res.body;
}

/** Sorted member ids of a group as the server reports them now. */
async function membersOf(id: string): Promise<string[]> {
  const g = await getGroup(id);
  return ((g.members ?? []) as { value: string }[]).map((m) => m.value).sort();
}

const sorted = (ids: string[]) => [...ids].sort();

function patch(ops: unknown[]) {
  return { schemas: [PATCH_SCHEMA], Operations: ops };
}


describe('POST and GET /Groups', () => {
  test('201 with members carrying value, display, type "User" and a $ref on the same mount', async () => {
    const alice = await newUser('alice', { displayName: 'Alice A' });
    const bob = await newUser('bob');
    for (const base of [gw.api, gw.sso]) {
      const displayName = unique('created');
      const res = await scim('POST', `${base}/Groups`, t, group(displayName, [alice.id, bob.id], { externalId: `ext-${displayName}` }));
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
      const g = res.body;
      expect(g.schemas).toEqual([GROUP_SCHEMA]);
      expect(g.displayName).toBe(displayName);
      expect(g.externalId).toBe(`ext-${displayName}`);
      expect(g.meta.resourceType).toBe('Group');
      expect(g.meta.location).toBe(`${base}/Groups/${g.id}`);
      expect(res.headers.get('location')).toBe(g.meta.location);
      expect(g.meta.version).toBe('W/"1"');
      expect(res.headers.get('etag')).toBe('W/"1"');
      expect(g.members).toHaveLength(2);
      const byId = Object.fromEntries(g.members.map((m: any) => [m.value, m]));
      // display: the user's displayName, else its userName.
      expect(byId[alice.id]).toEqual({ value: alice.id, display: 'Alice A', type: 'User', $ref: `${base}/Users/${alice.id}` });
      expect(byId[bob.id]).toEqual({ value: bob.id, display: bob.userName, type: 'User', $ref: `${base}/Users/${bob.id}` });

      // GET on the other mount: the same members, $ref on that mount.
      const otherBase = base === gw.api ? gw.sso : gw.api;
      const read = await getGroup(g.id, otherBase);
      expect(read.meta.location).toBe(`${otherBase}/Groups/${g.id}`);
      for (const m of read.members) {
        expect(m.type).toBe('User');
        expect(m.$ref).toBe(`${otherBase}/Users/${m.value}`);
      }
      expect(read.members.map((m: any) => m.value).sort()).toEqual(sorted([alice.id, bob.id]));
    }
  });

  test('a group without members has no members attribute', async () => {
    const g = await newGroup('empty');
    expect(g.members === undefined || (Array.isArray(g.members) && g.members.length === 0)).toBe(true);
    expect(await membersOf(g.id)).toEqual([]);
  });

  test('duplicate member values are stored once', async () => {
    const u = await newUser('dup');
    const g = await newGroup('dup', [u.id, u.id]);
    expect(await membersOf(g.id)).toEqual([u.id]);
  });

  test('missing displayName → 400', async () => {
    expectScimError(await scim('POST', `${gw.api}/Groups`, t, { schemas: [GROUP_SCHEMA] }), 400);
  });

  test('unknown id → 404', async () => {
    expectScimError(await scim('GET', `${gw.api}/Groups/${randomUUID()}`, t), 404);
  });

  test('?excludedAttributes=members and ?attributes=displayName omit members on GET', async () => {
    const ids = await newUsers(2, 'excl');
    const g = await newGroup('excl', ids);
    const excluded = await scim('GET', `${gw.api}/Groups/${g.id}?excludedAttributes=members`, t);
    expect(excluded.status).toBe(200);
    expect(excluded.body.members).toBeUndefined();
    expect(excluded.body.displayName).toBe(g.displayName);
    const only = await scim('GET', `${gw.api}/Groups/${g.id}?attributes=displayName`, t);
    expect(only.body.members).toBeUndefined();
    expect(only.body.displayName).toBe(g.displayName);
    expect(only.body.id).toBe(g.id);
    const withMembers = await scim('GET', `${gw.api}/Groups/${g.id}?attributes=members`, t);
    expect(withMembers.body.members.map((m: any) => m.value).sort()).toEqual(sorted(ids));
    // Lists as well.
    const list = await scim('GET', `${gw.api}/Groups?excludedAttributes=members&filter=${encodeURIComponent(`id eq "${g.id}"`)}`, t);
    expect(list.body.Resources).toHaveLength(1);
    expect(list.body.Resources[0].members).toBeUndefined();
    // Excluding members in a read never changed them.
    expect(await membersOf(g.id)).toEqual(sorted(ids));
  });
});

describe('PUT /Groups/:id', () => {
  test('with members: the stored list becomes exactly the given one', async () => {
    const [a, b, c, d] = await newUsers(4, 'put');
    const g = await newGroup('put', [a, b, c]);
    const res = await scim('PUT', `${gw.api}/Groups/${g.id}`, t, group(g.displayName, [b, d]));
    expect(res.status).toBe(200);
    expect(res.body.members.map((m: any) => m.value).sort()).toEqual(sorted([b, d]));
    expect(res.body.meta.version).toBe('W/"2"');
    expect(await membersOf(g.id)).toEqual(sorted([b, d]));
    // members: [] empties the group.
    const empty = await scim('PUT', `${gw.api}/Groups/${g.id}`, t, group(g.displayName, []));
    expect(empty.status).toBe(200);
    expect(await membersOf(g.id)).toEqual([]);
  });

  test('PUT replaces attributes: a renamed group, externalId dropped when omitted', async () => {
    const g = (await scim('POST', `${gw.api}/Groups`, t, group(unique('put-attrs'), [], { externalId: 'x-1' }))).body;
    const newName = unique('put-attrs-renamed');
    const res = await scim('PUT', `${gw.sso}/Groups/${g.id}`, t, group(newName));
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe(newName);
    expect(res.body.externalId).toBeUndefined();
    expect(res.body.meta.location).toBe(`${gw.sso}/Groups/${g.id}`);
  });

  test('without a "members" key the membership is kept', async () => {
    const ids = await newUsers(3, 'keep');
    const g = await newGroup('keep', ids);
    const newName = unique('keep-renamed');
    const res = await scim('PUT', `${gw.api}/Groups/${g.id}`, t, { schemas: [GROUP_SCHEMA], displayName: newName });
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe(newName);
    expect(res.body.members.map((m: any) => m.value).sort()).toEqual(sorted(ids));
    expect(await membersOf(g.id)).toEqual(sorted(ids));
  });

  test('unknown member ids → 400 invalidValue listing them; nothing applied', async () => {
    const [a, b] = await newUsers(2, 'put-bad');
    const g = await newGroup('put-bad', [a]);
    const ghost1 = `ghost-${randomUUID()}`;
    const ghost2 = `ghost-${randomUUID()}`;
    const res = await scim('PUT', `${gw.api}/Groups/${g.id}`, t, group(unique('renamed'), [b, ghost1, ghost2]));
    expectScimError(res, 400, 'invalidValue');
    expect(res.body.detail).toContain(ghost1);
    expect(res.body.detail).toContain(ghost2);
    expect(res.body.detail).not.toContain(b);
    const after = await getGroup(g.id);
    expect(after.displayName).toBe(g.displayName);
    expect(after.meta.version).toBe('W/"1"');
    expect(await membersOf(g.id)).toEqual([a]);
  });

  test('PUT to an unknown id → 404', async () => {
    expectScimError(await scim('PUT', `${gw.api}/Groups/${randomUUID()}`, t, group(unique('nope'))), 404);
  });
});

describe('PATCH /Groups/:id', () => {
  test('add members (path "members") → 204, members added, version increments', async () => {
    const [a, b, c] = await newUsers(3, 'add');
    const g = await newGroup('add', [a]);
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'add', path: 'members', value: [{ value: b }, { value: c }] }]));
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(await membersOf(g.id)).toEqual(sorted([a, b, c]));
    expect((await getGroup(g.id)).meta.version).toBe('W/"2"');
    // Adding an existing member again is harmless.
    const again = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'add', path: 'members', value: [{ value: a }] }]));
    expect(again.status).toBe(204);
    expect(await membersOf(g.id)).toEqual(sorted([a, b, c]));
  });

  test('Entra-style "Add" with a pathless value {members:[...]}', async () => {
    const [a, b] = await newUsers(2, 'entra-add');
    const g = await newGroup('entra-add', [a]);
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'Add', value: { members: [{ value: b }] } }]));
    expect(res.status).toBe(204);
    expect(await membersOf(g.id)).toEqual(sorted([a, b]));
  });

  test('remove members by value list (path "members")', async () => {
    const [a, b, c] = await newUsers(3, 'rm');
    const g = await newGroup('rm', [a, b, c]);
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'remove', path: 'members', value: [{ value: a }, { value: c }] }]));
    expect(res.status).toBe(204);
    expect(await membersOf(g.id)).toEqual([b]);
  });

  test('remove members[value eq "x"] and members[value eq "x" or value eq "y"]', async () => {
    const [a, b, c, d] = await newUsers(4, 'rmf');
    const g = await newGroup('rmf', [a, b, c, d]);
    const one = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'remove', path: `members[value eq "${a}"]` }]));
    expect(one.status).toBe(204);
    expect(await membersOf(g.id)).toEqual(sorted([b, c, d]));
    const two = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'Remove', path: `members[value eq "${b}" or value eq "${d}"]` }]));
    expect(two.status).toBe(204);
    expect(await membersOf(g.id)).toEqual([c]);
    // Removing someone who is not a member is a no-op.
    const none = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'remove', path: `members[value eq "${a}"]` }]));
    expect(none.status).toBe(204);
    expect(await membersOf(g.id)).toEqual([c]);
  });

  test('remove of "members" with no value clears the group', async () => {
    const ids = await newUsers(3, 'clear');
    const g = await newGroup('clear', ids);
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'remove', path: 'members' }]));
    expect(res.status).toBe(204);
    expect(await membersOf(g.id)).toEqual([]);
    // Group itself is still there with its name.
    expect((await getGroup(g.id)).displayName).toBe(g.displayName);
  });

  test('replace members sets exactly the given list', async () => {
    const [a, b, c, d] = await newUsers(4, 'repl');
    const g = await newGroup('repl', [a, b]);
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'replace', path: 'members', value: [{ value: b }, { value: c }, { value: d }] }]));
    expect(res.status).toBe(204);
    expect(await membersOf(g.id)).toEqual(sorted([b, c, d]));
    const empty = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'replace', path: 'members', value: [] }]));
    expect(empty.status).toBe(204);
    expect(await membersOf(g.id)).toEqual([]);
  });

  test('replace displayName (Entra pathless form) keeps members', async () => {
    const ids = await newUsers(2, 'rename');
    const g = await newGroup('rename', ids);
    const newName = unique('renamed');
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'Replace', value: { id: g.id, displayName: newName } }]));
    expect(res.status).toBe(204);
    const after = await getGroup(g.id);
    expect(after.displayName).toBe(newName);
    expect(after.members.map((m: any) => m.value).sort()).toEqual(sorted(ids));
  });

  test('several operations in one request apply in order', async () => {
    const [a, b, c] = await newUsers(3, 'multi');
    const g = await newGroup('multi', [a]);
    const newName = unique('multi-renamed');
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([
      { op: 'add', path: 'members', value: [{ value: b }, { value: c }] },
      { op: 'remove', path: `members[value eq "${a}"]` },
      { op: 'replace', path: 'displayName', value: newName },
    ]));
    expect(res.status).toBe(204);
    const after = await getGroup(g.id);
    expect(after.displayName).toBe(newName);
    expect(after.members.map((m: any) => m.value).sort()).toEqual(sorted([b, c]));
  });

  test('204 by default; 200 with the group when ?attributes= or ?excludedAttributes= is given', async () => {
    const [a, b] = await newUsers(2, 'answer');
    const g = await newGroup('answer', [a]);
    const plain = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'add', path: 'members', value: [{ value: b }] }]));
    expect(plain.status).toBe(204);
    expect(plain.text).toBe('');

    const withAttrs = await scim('PATCH', `${gw.sso}/Groups/${g.id}?attributes=members,displayName`, t,
      patch([{ op: 'remove', path: `members[value eq "${b}"]` }]));
    expect(withAttrs.status).toBe(200);
    expect(withAttrs.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(withAttrs.body.id).toBe(g.id);
    expect(withAttrs.body.displayName).toBe(g.displayName);
    expect(withAttrs.body.members).toEqual([{ value: a, display: expect.any(String), type: 'User', $ref: `${gw.sso}/Users/${a}` }]);
    expect(withAttrs.body.meta?.location ?? `${gw.sso}/Groups/${g.id}`).toBe(`${gw.sso}/Groups/${g.id}`);

    const withExcluded = await scim('PATCH', `${gw.api}/Groups/${g.id}?excludedAttributes=members`, t,
      patch([{ op: 'add', path: 'members', value: [{ value: b }] }]));
    expect(withExcluded.status).toBe(200);
    expect(withExcluded.body.id).toBe(g.id);
    expect(withExcluded.body.displayName).toBe(g.displayName);
    expect(withExcluded.body.members).toBeUndefined();
    expect(withExcluded.body.meta.location).toBe(`${gw.api}/Groups/${g.id}`);
    expect(withExcluded.headers.get('etag')).toBe(withExcluded.body.meta.version);
    // The add still happened, even though the answer left members out.
    expect(await membersOf(g.id)).toEqual(sorted([a, b]));
  });

  test('PATCH with ?excludedAttributes=members that changes only attributes never changes the membership', async () => {
    const ids = await newUsers(3, 'excl-patch');
    const g = await newGroup('excl-patch', ids);
    const newName = unique('excl-patch-renamed');
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}?excludedAttributes=members`, t,
      patch([{ op: 'replace', path: 'displayName', value: newName }]));
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe(newName);
    expect(res.body.members).toBeUndefined();
    const pathless = await scim('PATCH', `${gw.api}/Groups/${g.id}?excludedAttributes=members`, t,
      patch([{ op: 'replace', value: { displayName: `${newName}-2`, externalId: 'ext-excl' } }]));
    expect(pathless.status).toBe(200);
    expect(pathless.body.members).toBeUndefined();
    expect(pathless.body.externalId).toBe('ext-excl');
    const after = await getGroup(g.id);
    expect(after.displayName).toBe(`${newName}-2`);
    expect(after.members.map((m: any) => m.value).sort()).toEqual(sorted(ids));
  });

  test('unknown member ids → 400 invalidValue listing them; nothing applied, even a rename in the same PATCH', async () => {
    const [a, b] = await newUsers(2, 'patch-bad');
    const g = await newGroup('patch-bad', [a]);
    const ghost = `ghost-${randomUUID()}`;
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([
      { op: 'replace', path: 'displayName', value: unique('should-not-stick') },
      { op: 'add', path: 'members', value: [{ value: b }, { value: ghost }] },
    ]));
    expectScimError(res, 400, 'invalidValue');
    expect(res.body.detail).toContain(ghost);
    expect(res.body.detail).not.toContain(b);
    const after = await getGroup(g.id);
    expect(after.displayName).toBe(g.displayName);
    expect(after.meta.version).toBe('W/"1"');
    expect(await membersOf(g.id)).toEqual([a]);

    // The same with replace, and with the members before the rename.
    const res2 = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([
      { op: 'replace', path: 'members', value: [{ value: ghost }] },
      { op: 'replace', value: { displayName: unique('nor-this') } },
    ]));
    expectScimError(res2, 400, 'invalidValue');
    expect(res2.body.detail).toContain(ghost);
    expect((await getGroup(g.id)).displayName).toBe(g.displayName);
    expect(await membersOf(g.id)).toEqual([a]);
  });

  test('another tenant\'s users are not valid members (POST, PUT, PATCH, DronaHQ); nothing applied', async () => {
    const mine = await newUser('mine');
    const theirs = await newUser('theirs', {}, other);
    const g = await newGroup('xt', [mine.id]);

    const displayName = unique('xt-post');
    const post = await scim('POST', `${gw.api}/Groups`, t, group(displayName, [mine.id, theirs.id]));
    expectScimError(post, 400, 'invalidValue');
    expect(post.body.detail).toContain(theirs.id);
    const listed = await scim('GET', `${gw.api}/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}`, t);
    expect(listed.body.totalResults).toBe(0);

    const put = await scim('PUT', `${gw.api}/Groups/${g.id}`, t, group(unique('xt-put'), [theirs.id]));
    expectScimError(put, 400, 'invalidValue');
    expect(put.body.detail).toContain(theirs.id);

    const p = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([
      { op: 'add', path: 'members', value: [{ value: theirs.id }] },
      { op: 'replace', path: 'displayName', value: unique('xt-patch') },
    ]));
    expectScimError(p, 400, 'invalidValue');
    expect(p.body.detail).toContain(theirs.id);

    const drona = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, { members: [{ value: theirs.id, display: 'x' }] });
    expectScimError(drona, 400, 'invalidValue');
    expect(drona.body.detail).toContain(theirs.id);

    const after = await getGroup(g.id);
    expect(after.displayName).toBe(g.displayName);
    expect(after.meta.version).toBe('W/"1"');
    expect(await membersOf(g.id)).toEqual([mine.id]);
  });

  test('POST with unknown member ids → 400 invalidValue listing every bad value, no group created', async () => {
    const u = await newUser('post-bad');
    const ghosts = [`ghost-${randomUUID()}`, `ghost-${randomUUID()}`, `ghost-${randomUUID()}`];
    const displayName = unique('post-bad');
    const res = await scim('POST', `${gw.api}/Groups`, t, group(displayName, [u.id, ...ghosts]));
    expectScimError(res, 400, 'invalidValue');
    for (const ghost of ghosts) expect(res.body.detail).toContain(ghost);
    expect(res.body.detail).not.toContain(u.id);
    const listed = await scim('GET', `${gw.api}/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}`, t);
    expect(listed.body.totalResults).toBe(0);
  });

  test('a member of another type than User → 400 invalidValue', async () => {
    const g = await newGroup('type');
    const inner = await newGroup('inner');
    const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'add', path: 'members', value: [{ value: inner.id, type: 'Group' }] }]));
    expectScimError(res, 400, 'invalidValue');
    expect(await membersOf(g.id)).toEqual([]);
  });

  test('PATCH of an unknown group → 404', async () => {
    const res = await scim('PATCH', `${gw.api}/Groups/${randomUUID()}`, t, patch([{ op: 'replace', path: 'displayName', value: 'x' }]));
    expectScimError(res, 404);
  });

  test('DronaHQ bare body {"members":[...]} sets the list exactly and answers 200 with the group', async () => {
    const [a, b, c] = await newUsers(3, 'drona');
    const g = await newGroup('drona', [a, b]);
    const res = await scim('PATCH', `${gw.sso}/Groups/${g.id}`, t, { members: [{ value: b, display: 'B' }, { value: c, display: 'C' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(res.body.id).toBe(g.id);
    expect(res.body.displayName).toBe(g.displayName);
    expect(res.body.meta.location).toBe(`${gw.sso}/Groups/${g.id}`);
    expect(res.body.members.map((m: any) => m.value).sort()).toEqual(sorted([b, c]));
    for (const m of res.body.members) expect(m.$ref).toBe(`${gw.sso}/Users/${m.value}`);
    expect(await membersOf(g.id)).toEqual(sorted([b, c]));
    // An empty list empties the group.
    const empty = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, { members: [] });
    expect(empty.status).toBe(200);
    expect(empty.body.members === undefined || empty.body.members.length === 0).toBe(true);
    expect(await membersOf(g.id)).toEqual([]);
  });
});

describe('DELETE and user removal', () => {
  test('DELETE /Groups/:id → 204, then 404; its users remain', async () => {
    const [a] = await newUsers(1, 'gdel');
    const g = await newGroup('gdel', [a]);
    const res = await scim('DELETE', `${gw.api}/Groups/${g.id}`, t);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectScimError(await scim('GET', `${gw.api}/Groups/${g.id}`, t), 404);
    expectScimError(await scim('DELETE', `${gw.api}/Groups/${g.id}`, t), 404);
    expectScimError(await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patch([{ op: 'remove', path: 'members' }])), 404);
    expect((await scim('GET', `${gw.api}/Users/${a}`, t)).status).toBe(200);
  });

  test('member pages: a cursor per page, an empty last page after an exact fit, no member twice across a delete', async () => {
    const ids = await newUsers(4, 'pages');
    const g = await newGroup('pages', ids);
    const first = await gw.store.pageMembers('groups-a', g.id, { limit: 2 });
    expect(first.members).toHaveLength(2);
    expect(first.next).toBeDefined();
    // A member of the first page leaves between pages: the second page still starts right after the first.
    expect((await scim('DELETE', `${gw.api}/Users/${first.members[0].value}`, t)).status).toBe(204);
    const second = await gw.store.pageMembers('groups-a', g.id, { after: first.next, limit: 2 });
    expect(second.members).toHaveLength(2);
    const third = await gw.store.pageMembers('groups-a', g.id, { after: second.next, limit: 2 });
    expect(third).toEqual({ members: [] });
    expect(sorted([...first.members, ...second.members].map((m) => m.value))).toEqual(sorted(ids));
    // Another tenant asking for the same group id sees nothing.
    expect(await gw.store.pageMembers('groups-b', g.id, { limit: 10 })).toEqual({ members: [] });
  });

  test('GET of a group over several member pages or chunks: every member once, in member order, valid JSON', async () => {
    const ids: string[] = [];
    const g0 = unique('g');
    for (let i = 0; i < 11; i++) {
      const round = (s: Store) => Array.from({ length: 1000 }, (_, k) => s.createUser('groups-a', {
        userName: `big${i}-${k}-${g0}@example.com`, active: true, emails: [], resource: { userName: `big${i}-${k}-${g0}@example.com` },
      }));
      ids.push(...(await gw.store.together((s) => Promise.all(round(s)))).map((u) => u.id));
    }
    const name = unique('big');
    const g = (await gw.store.createGroup('groups-a', { displayName: name, resource: { displayName: name } }, ids)).group;
    const res = await fetch(`${gw.api}/Groups/${g.id}`, { headers: { authorization: `Bearer ${t}` } });
    expect(res.status).toBe(200);
    const body = JSON.parse(await res.text()) as { id: string; members: { value: string; $ref: string }[] };
    expect(body.id).toBe(g.id);
    expect(body.members).toHaveLength(11_000);
    expect(body.members.map((m) => m.value)).toEqual((await gw.store.listMembers('groups-a', g.id)).map((m) => m.value));
    expect(body.members[10_999].$ref).toBe(`${gw.api}/Users/${body.members[10_999].value}`);

    // Clients that go away mid-stream: the gateway stops reading for them (on PostgreSQL each held a pooled
    // connection in the middle of a COPY, more than the pool has), and the next reader gets the whole group.
    for (let i = 0; i < 14; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${gw.api}/Groups/${g.id}`, { headers: { authorization: `Bearer ${t}` } }, (res) => {
          res.once('data', () => { req.destroy(); resolve(); });
        });
        req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
      });
    }
    const again = await fetch(`${gw.api}/Groups/${g.id}`, { headers: { authorization: `Bearer ${t}` } });
    expect(again.status).toBe(200);
    expect((JSON.parse(await again.text()) as { members: unknown[] }).members).toHaveLength(11_000);
  }, 120_000);

  sqliteOnly('deleting a group or a user leaves no membership rows behind (SQLite deletes them itself)', async () => {
    const [a, b] = await newUsers(2, 'rows');
    const g = await newGroup('rows', [a, b]);
    const rows = (sql: string, ...args: unknown[]) => (gw.store.db.prepare(sql).get(...args) as { n: number }).n;
    // Memberships are keyed by the users' and groups' integer rids (migration 005); read them before the deletes.
    const rid = (table: string, id: string) => (gw.store.db.prepare(`SELECT rid FROM ${table} WHERE id = ?`).get(id) as { rid: number }).rid;
    const [aRid, gRid] = [rid('users', a), rid('groups', g.id)];
    expect((await scim('DELETE', `${gw.api}/Users/${a}`, t)).status).toBe(204);
    expect(rows('SELECT count(*) AS n FROM group_members WHERE user_rid = ?', aRid)).toBe(0);
    expect(rows('SELECT count(*) AS n FROM group_members WHERE group_rid = ?', gRid)).toBe(1);
    expect((await scim('DELETE', `${gw.api}/Groups/${g.id}`, t)).status).toBe(204);
    expect(rows('SELECT count(*) AS n FROM group_members WHERE group_rid = ?', gRid)).toBe(0);
  });

  test('deleting a user removes it from every group', async () => {
    const [a, b] = await newUsers(2, 'udel');
    const g1 = await newGroup('udel1', [a, b]);
    const g2 = await newGroup('udel2', [a]);
    expect((await scim('DELETE', `${gw.api}/Users/${a}`, t)).status).toBe(204);
    expect(await membersOf(g1.id)).toEqual([b]);
    expect(await membersOf(g2.id)).toEqual([]);
    // The group's version moved, so a cached ETag no longer matches.
    expect((await getGroup(g1.id)).meta.version).not.toBe('W/"1"');
    const byMember = await scim('GET', `${gw.api}/Groups?filter=${encodeURIComponent(`members.value eq "${a}"`)}`, t);
    expect(byMember.body.totalResults).toBe(0);
    // And it can no longer be added.
    const res = await scim('PATCH', `${gw.api}/Groups/${g2.id}`, t, patch([{ op: 'add', path: 'members', value: [{ value: a }] }]));
    expectScimError(res, 400, 'invalidValue');
  });
});
