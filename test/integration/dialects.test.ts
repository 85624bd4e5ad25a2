// PATCH dialects replayed from the identity providers' own documentation (test/fixtures/dialects/*.json, each body
// with its source in "_source"), the RFC 7644 error answers for malformed PATCHes, ETags on PATCH, membership
// changes under concurrency, and large groups. Real gateway, real SQLite file, real HTTP.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  expectScimError, group, patchOp, scim, startGateway, user, USER_SCHEMA, type TestGateway,
} from '../helpers/gateway';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({ maxBodyBytes: 2 * 1024 * 1024 });
});
afterAll(async () => { await gw.close(); });

// ---- fixtures ---------------------------------------------------------------------------------------------

type Idp = 'rfc7644' | 'entra' | 'okta' | 'dronahq' | 'lenient';
const fixtureFiles = new Map<Idp, Record<string, any>>();

/**
 * A documented body, as documented, with "_source" stripped and the documented identifiers swapped for real
 * ones: every occurrence inside strings (paths, $ref) and, for DronaHQ's numeric ids, whole numbers.
 */
function body(idp: Idp, name: string, ids: Record<string, string> = {}): any {
  if (!fixtureFiles.has(idp)) {
    fixtureFiles.set(idp, JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'dialects', `${idp}.json`), 'utf8')));
  }
  const doc = fixtureFiles.get(idp)![name];
  if (!doc) throw new Error(`no fixture ${idp}.${name}`);
  expect(typeof doc._source).toBe('string');
  // Numeric keys stand for DronaHQ's numeric ids and replace whole numbers only, never digits inside strings.
  const keys = Object.keys(ids).filter((k) => !/^\d+$/.test(k)).sort((a, b) => b.length - a.length);
  const swap = (v: unknown): unknown => {
    if (typeof v === 'string') return keys.reduce((s, k) => s.split(k).join(ids[k]), v);
    if (typeof v === 'number' && ids[String(v)] !== undefined) return ids[String(v)];
    if (Array.isArray(v)) return v.map(swap);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).filter(([k]) => k !== '_source').map(([k, x]) => [k, swap(x)]));
    }
    return v;
  };
  return swap(doc);
}

// ---- helpers ----------------------------------------------------------------------------------------------

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
const sorted = (ids: string[]) => [...ids].sort();

async function tokenFor(label: string): Promise<string> {
  return gw.token(unique(label));
}

async function newUser(t: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await scim('POST', `${gw.api}/Users`, t, user(`${unique('u')}@example.com`, extra));
  expect(res.status).toBe(201);
  return res.body;
}

async function newUsers(t: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await newUser(t)).id);
  return ids;
}

/** Users written straight through the store (the same code POST /Users ends in), for groups of thousands. */
async function seedUsers(tenant: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const userName = `seed-${i}-${randomUUID().slice(0, 8)}@example.com`;
    const rec = await gw.store.createUser(tenant, {
      userName, active: true, emails: [], resource: { userName, active: true },
    });
    ids.push(rec.id);
  }
  return ids;
}

async function newGroup(t: string, members: string[] = [], base = gw.api): Promise<any> {
  const res = await scim('POST', `${base}/Groups`, t, group(unique('g'), members));
  expect(res.status).toBe(201);
  return res.body;
}

async function getGroup(t: string, id: string, base = gw.api): Promise<any> {
  const res = await scim('GET', `${base}/Groups/${id}`, t);
  expect(res.status).toBe(200);
  return res.body;
}

async function membersOf(t: string, id: string): Promise<string[]> {
  return sorted(((await getGroup(t, id)).members ?? []).map((m: any) => m.value));
}

async function getUser(t: string, id: string): Promise<any> {
  const res = await scim('GET', `${gw.api}/Users/${id}`, t);
  expect(res.status).toBe(200);
  return res.body;
}

function patchGroup(t: string, id: string, b: unknown, headers: Record<string, string> = {}, base = gw.api) {
  return scim('PATCH', `${base}/Groups/${id}`, t, b, headers);
}

function patchUser(t: string, id: string, b: unknown, headers: Record<string, string> = {}) {
  return scim('PATCH', `${gw.api}/Users/${id}`, t, b, headers);
}

/** A Group PATCH that succeeded without a body, with the ETag of the version it left. */
function expect204(res: { status: number; text: string; headers: Headers; body: any }) {
  if (res.status !== 204) throw new Error(`expected 204, got ${res.status}: ${res.text}`);
  expect(res.text).toBe('');
  expect(res.headers.get('etag')).toMatch(/^W\/"\d+"$/);
}

// ---- RFC 7644 ---------------------------------------------------------------------------------------------

describe('RFC 7644 §3.5.2 example bodies on /Groups', () => {
  let t: string;
  beforeAll(async () => { t = await tokenFor('rfc'); });

  test('§3.5.2.1 add member (path "members", value array with display and $ref); adding it again is a 204 no-op', async () => {
    const [other, babs] = await newUsers(t, 2);
    const g = await newGroup(t, [other]);
    const add = body('rfc7644', 'addMember', { '2819c223...413861904646': babs, '2819c223-7f76-453a-919d-413861904646': babs });
    expect(add.Operations[0].value[0].value).toBe(babs);
    expect204(await patchGroup(t, g.id, add));
    expect(await membersOf(t, g.id)).toEqual(sorted([other, babs]));
    // Babs is already a member: still a success, and the membership is the same.
    expect204(await patchGroup(t, g.id, add));
    expect(await membersOf(t, g.id)).toEqual(sorted([other, babs]));
  });

  test('§3.5.2.2 remove a single member by members[value eq "id"]; removing one who is absent is a 204 no-op', async () => {
    const [other, babs] = await newUsers(t, 2);
    const g = await newGroup(t, [other, babs]);
    const remove = body('rfc7644', 'removeSingleMember', { '2819c223-7f76-...413861904646': babs });
    expect(remove.Operations[0].path).toBe(`members[value eq "${babs}"]`);
    expect204(await patchGroup(t, g.id, remove));
    expect(await membersOf(t, g.id)).toEqual([other]);
    expect204(await patchGroup(t, g.id, remove));
    expect(await membersOf(t, g.id)).toEqual([other]);
    // An id that names no user at all is also simply not a member.
    expect204(await patchGroup(t, g.id, body('rfc7644', 'removeSingleMember', { '2819c223-7f76-...413861904646': randomUUID() })));
    expect(await membersOf(t, g.id)).toEqual([other]);
  });

  test('§3.5.2.2 remove of "members" without a filter clears the group and keeps the group', async () => {
    const ids = await newUsers(t, 3);
    const g = await newGroup(t, ids);
    expect204(await patchGroup(t, g.id, body('rfc7644', 'removeAllMembers')));
    const after = await getGroup(t, g.id);
    expect(after.members ?? []).toEqual([]);
    expect(after.displayName).toBe(g.displayName);
  });

  test('§3.5.2.2 remove by filter (the RFC\'s own `value eq"…"` without a space) and add in one request', async () => {
    const [other, babs, james] = await newUsers(t, 3);
    const g = await newGroup(t, [other, babs]);
    const b = body('rfc7644', 'removeAndAddMember', { '2819c223...919d-413861904646': babs, '08e1d05d...473d93df9210': james });
    expect(b.Operations[0].path).toBe(`members[value eq"${babs}"]`);
    expect204(await patchGroup(t, g.id, b));
    expect(await membersOf(t, g.id)).toEqual(sorted([other, james]));
  });

  test('§3.5.2.2 replace all members as remove "members" + add', async () => {
    const [x, y, babs, james] = await newUsers(t, 4);
    const g = await newGroup(t, [x, y, babs]);
    expect204(await patchGroup(t, g.id, body('rfc7644', 'replaceAllMembersRemoveAdd', {
      '2819c223...413861904646': babs, '2819c223-7f76-453a-919d-413861904646': babs,
      '08e1d05d...473d93df9210': james, '08e1d05d-121c-4561-8b96-473d93df9210': james,
    })));
    expect(await membersOf(t, g.id)).toEqual(sorted([babs, james]));
  });

  test('§3.5.2.3 replace of "members" sets exactly the given list', async () => {
    const [x, babs, james] = await newUsers(t, 3);
    const g = await newGroup(t, [x, babs]);
    expect204(await patchGroup(t, g.id, body('rfc7644', 'replaceMembers', {
      '2819c223...413861904646': babs, '08e1d05d...473d93df9210': james,
    })));
    expect(await membersOf(t, g.id)).toEqual(sorted([babs, james]));
  });
});

// ---- Microsoft Entra ID -----------------------------------------------------------------------------------

describe('Microsoft Entra ID', () => {
  let t: string;
  beforeAll(async () => { t = await tokenFor('entra'); });

  describe('groups', () => {
    test('"Add" members with "$ref": null (tutorial: Update Group [Add Members])', async () => {
      const [a, b] = await newUsers(t, 2);
      const g = await newGroup(t, [a]);
      expect204(await patchGroup(t, g.id, body('entra', 'updateGroupAddMembers', { f648f8d5ea4e4cd38e9c: b })));
      expect(await membersOf(t, g.id)).toEqual(sorted([a, b]));
    });

    test('"Remove" with path "members" and a value array removes only those (tutorial and default dialect)', async () => {
      const [a, b, c, d] = await newUsers(t, 4);
      const g = await newGroup(t, [a, b, c, d]);
      expect204(await patchGroup(t, g.id, body('entra', 'updateGroupRemoveMembers', { f648f8d5ea4e4cd38e9c: b })));
      expect(await membersOf(t, g.id)).toEqual(sorted([a, c, d]));
      expect204(await patchGroup(t, g.id, body('entra', 'removeMemberDefault', { u1091: c })));
      expect(await membersOf(t, g.id)).toEqual(sorted([a, d]));
      // With aadOptscim062020 Entra sends the RFC form instead.
      expect204(await patchGroup(t, g.id, body('entra', 'removeMemberFlag', { '7f4bc1a3-285e-48ae-8202-5accb43efb0e': a })));
      expect(await membersOf(t, g.id)).toEqual([d]);
    });

    test('"Replace" of displayName (tutorial: Update Group [Non-member attributes]) keeps the members', async () => {
      const ids = await newUsers(t, 2);
      const g = await newGroup(t, ids);
      expect204(await patchGroup(t, g.id, body('entra', 'updateGroupNonMember')));
      const after = await getGroup(t, g.id);
      expect(after.displayName).toBe('1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName');
      expect(sorted(after.members.map((m: any) => m.value))).toEqual(sorted(ids));
    });

    test('no-path "Replace" {"displayName"} together with "Add" and "Remove" of members in one PATCH', async () => {
      const [a, b, c] = await newUsers(t, 3);
      const g = await newGroup(t, [a, b]);
      const name = unique('entra-renamed');
      const res = await patchGroup(t, g.id, patchOp([
        { op: 'Replace', value: { displayName: name } },
        { op: 'Add', path: 'members', value: [{ $ref: null, value: c }] },
        { op: 'Remove', path: 'members', value: [{ $ref: null, value: a }] },
      ]));
      expect204(res);
      const after = await getGroup(t, g.id);
      expect(after.displayName).toBe(name);
      expect(sorted(after.members.map((m: any) => m.value))).toEqual(sorted([b, c]));
      expect(res.headers.get('etag')).toBe(after.meta.version);
    });
  });

  describe('users', () => {
    test('filtered "Replace" emails[type eq "work"].value replaces the work email when there is one (tutorial)', async () => {
      const u = await newUser(t, {
        name: { givenName: 'Given', familyName: 'Family' },
        emails: [{ value: 'old-work@example.com', type: 'work', primary: true }, { value: 'home@example.com', type: 'home' }],
      });
      const res = await patchUser(t, u.id, body('entra', 'updateUserMultiValued'));
      expect(res.status).toBe(200);
      expect(res.body.name).toEqual({ givenName: 'Given', familyName: 'updatedFamilyName' });
      expect(res.body.emails).toHaveLength(2);
      expect(res.body.emails).toEqual(expect.arrayContaining([
        expect.objectContaining({ type: 'work', value: 'updatedEmail@microsoft.com', primary: true }),
        expect.objectContaining({ type: 'home', value: 'home@example.com' }),
      ]));
      // The email index follows: the new address is found, the old one is not.
      const found = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`emails.value eq "updatedEmail@microsoft.com" and id eq "${u.id}"`)}`, t);
      expect(found.body.totalResults).toBe(1);
    });

    test('the same filtered "Replace" on a user WITHOUT a work email adds one', async () => {
      const u = await newUser(t, { emails: [{ value: 'only-home@example.com', type: 'home' }] });
      const res = await patchUser(t, u.id, body('entra', 'updateUserMultiValued'));
      expect(res.status).toBe(200);
      expect(res.body.emails).toHaveLength(2);
      expect(res.body.emails).toEqual(expect.arrayContaining([
        expect.objectContaining({ type: 'work', value: 'updatedEmail@microsoft.com' }),
        expect.objectContaining({ type: 'home', value: 'only-home@example.com' }),
      ]));
      const none = await newUser(t);
      const res2 = await patchUser(t, none.id, body('entra', 'updateUserMultiValued'));
      expect(res2.status).toBe(200);
      expect(res2.body.emails).toEqual([expect.objectContaining({ type: 'work', value: 'updatedEmail@microsoft.com' })]);
    });

    test('"Replace" of userName (tutorial: single-valued properties)', async () => {
      const u = await newUser(t);
      const res = await patchUser(t, u.id, body('entra', 'updateUserSingleValued'));
      expect(res.status).toBe(200);
      expect(res.body.userName).toBe('5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');
    });

    test('deactivation: tutorial (boolean, Operations before schemas), default dialect ("False"), flag dialect', async () => {
      const u = await newUser(t);
      let res = await patchUser(t, u.id, body('entra', 'disableUser'));
      expect(res.status).toBe(200);
      expect(res.body.active).toBe(false);
      for (const name of ['disableUserDefault', 'disableUserFlag']) {
        expect((await patchUser(t, u.id, patchOp([{ op: 'Replace', path: 'active', value: 'True' }]))).body.active).toBe(true);
        res = await patchUser(t, u.id, body('entra', name));
        expect(res.status).toBe(200);
        expect(res.body.active).toBe(false);
      }
      const f = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`id eq "${u.id}" and active eq false`)}`, t);
      expect(f.body.totalResults).toBe(1);
    });

    test('string booleans inside a no-path value: {"active":"False"} and {"active":"True"}', async () => {
      const u = await newUser(t);
      let res = await patchUser(t, u.id, patchOp([{ op: 'Replace', value: { active: 'False', 'name.familyName': 'Off' } }]));
      expect(res.status).toBe(200);
      expect(res.body.active).toBe(false);
      expect(res.body.name.familyName).toBe('Off');
      res = await patchUser(t, u.id, patchOp([{ op: 'Replace', value: { active: 'True' } }]));
      expect(res.body.active).toBe(true);
      expect((await getUser(t, u.id)).active).toBe(true);
    });

    test('"Add" of a single-valued string attribute (nickName, default dialect)', async () => {
      const u = await newUser(t);
      const res = await patchUser(t, u.id, body('entra', 'addSingleValueDefault'));
      expect(res.status).toBe(200);
      expect(res.body.nickName).toBe('Babs');
    });

    test('six "Replace" operations incl. a filtered path and a URN path (default dialect)', async () => {
      const u = await newUser(t, { emails: [{ value: 'before@example.com', type: 'work' }] });
      const res = await patchUser(t, u.id, body('entra', 'replaceMultipleDefault'));
      expect(res.status).toBe(200);
      const r = res.body;
      expect(r.displayName).toBe('Pvlo');
      expect(r.emails).toEqual([expect.objectContaining({ type: 'work', value: 'TestBcwqnm@test.microsoft.com' })]);
      expect(r.name).toEqual({ givenName: 'Gtfd', familyName: 'Pkqf' });
      expect(r.externalId).toBe('Eqpj');
      expect(r[ENTERPRISE]).toEqual({ employeeNumber: 'Eqpj' });
      expect(await getUser(t, u.id)).toEqual(r);
    });

    test('no-path "replace" whose keys are attribute paths ("name.givenName", URN-qualified) (flag dialect)', async () => {
      const u = await newUser(t, { displayName: 'Before', name: { givenName: 'G0', familyName: 'F0', middleName: 'M' } });
      const res = await patchUser(t, u.id, body('entra', 'replaceMultipleFlag'));
      expect(res.status).toBe(200);
      const r = res.body;
      expect(r.displayName).toBe('Bjfe');
      // Dotted keys change only that sub-attribute.
      expect(r.name).toEqual({ givenName: 'Kkom', familyName: 'Unua', middleName: 'M' });
      expect(r[ENTERPRISE]).toEqual({ employeeNumber: 'Aklq' });
      expect(r.emails).toEqual([expect.objectContaining({ type: 'work', value: 'TestMhvaes@test.microsoft.com' })]);
      expect(r.schemas).toEqual(expect.arrayContaining([USER_SCHEMA, ENTERPRISE]));
    });

    test('no-path "Replace" with emails[type eq "work"].value, URN department and URN manager keys', async () => {
      const mgr = await newUser(t);
      const u = await newUser(t, { emails: [{ value: 'w0@example.com', type: 'work' }, { value: 'h0@example.com', type: 'home' }] });
      const res = await patchUser(t, u.id, patchOp([{
        op: 'Replace',
        value: {
          'emails[type eq "work"].value': 'w1@example.com',
          [`${ENTERPRISE}:department`]: 'Research',
          [`${ENTERPRISE}:manager`]: mgr.id,
        },
      }]));
      expect(res.status).toBe(200);
      expect(res.body.emails).toHaveLength(2);
      expect(res.body.emails).toEqual(expect.arrayContaining([
        expect.objectContaining({ type: 'work', value: 'w1@example.com' }),
        expect.objectContaining({ type: 'home', value: 'h0@example.com' }),
      ]));
      expect(res.body[ENTERPRISE]).toEqual({ department: 'Research', manager: { value: mgr.id } });
    });

    test('"Add" of manager as documented (tutorial Example 5: path "manager", array with $ref and value)', async () => {
      const mgr = await newUser(t);
      const u = await newUser(t);
      const b = body('entra', 'addManager', { '00aa00aa-bb11-cc22-dd33-44ee44ee44ee': mgr.id });
      expect(b.Operations[0].path).toBe('manager');
      const res = await patchUser(t, u.id, b);
      expect(res.status).toBe(200);
      expect(res.body[ENTERPRISE].manager.value).toBe(mgr.id);
      expect((await getUser(t, u.id))[ENTERPRISE].manager.value).toBe(mgr.id);
    });

    test('"Add" of manager as [{"value":id}], as {"value":id} and as a bare id; "Replace" with "" or null clears it', async () => {
      const [m1, m2, m3] = [await newUser(t), await newUser(t), await newUser(t)];
      const u = await newUser(t);
      const mgrPath = `${ENTERPRISE}:manager`;
      for (const [value, id] of [[[{ value: m1.id }], m1.id], [{ value: m2.id }, m2.id], [m3.id, m3.id]] as const) {
        const res = await patchUser(t, u.id, patchOp([{ op: 'Add', path: mgrPath, value }]));
        expect(res.status).toBe(200);
        expect(res.body[ENTERPRISE].manager).toEqual({ value: id });
      }
      // Not documented by Microsoft (its known-issues page says null values are not provisioned); what Entra-built
      // clients send to clear a reference attribute: an empty value.
      let res = await patchUser(t, u.id, patchOp([{ op: 'Replace', path: mgrPath, value: '' }]));
      expect(res.status).toBe(200);
      expect(res.body[ENTERPRISE]?.manager).toBeUndefined();
      await patchUser(t, u.id, patchOp([{ op: 'Add', path: mgrPath, value: m1.id }]));
      res = await patchUser(t, u.id, patchOp([{ op: 'Replace', path: 'manager', value: null }]));
      expect(res.status).toBe(200);
      expect(res.body[ENTERPRISE]?.manager).toBeUndefined();
      expect((await getUser(t, u.id))[ENTERPRISE]?.manager).toBeUndefined();
    });
  });
});

// ---- Okta -------------------------------------------------------------------------------------------------

describe('Okta', () => {
  let t: string;
  beforeAll(async () => { t = await tokenFor('okta'); });

  test('group rename: "replace" with a value carrying the group\'s own "id" and "displayName"', async () => {
    const created = await scim('POST', `${gw.api}/Groups`, t, body('okta', 'createGroup'));
    expect(created.status).toBe(201);
    expect(created.body.displayName).toBe('Test SCIMv2');
    const [a] = await newUsers(t, 1);
    const g = created.body;
    // Give it another name first, so that the replayed rename (to "Test SCIMv2") is seen to apply.
    expect204(await patchGroup(t, g.id, patchOp([
      { op: 'add', path: 'members', value: [{ value: a }] }, { op: 'replace', path: 'displayName', value: 'interim' },
    ])));
    expect((await getGroup(t, g.id)).displayName).toBe('interim');
    expect204(await patchGroup(t, g.id, body('okta', 'renameGroup', { 'abf4dd94-a4c0-4f67-89c9-76b03340cb9b': g.id })));
    const after = await getGroup(t, g.id);
    expect(after.displayName).toBe('Test SCIMv2');
    expect(after.id).toBe(g.id);
    expect(after.members.map((m: any) => m.value)).toEqual([a]);
  });

  test('the same body with a DIFFERENT "id" → 400 mutability and nothing applied', async () => {
    const [a] = await newUsers(t, 1);
    const g = await newGroup(t, [a]);
    const b = body('okta', 'renameGroup', { 'abf4dd94-a4c0-4f67-89c9-76b03340cb9b': randomUUID() });
    b.Operations.push({ op: 'add', path: 'members', value: [{ value: (await newUser(t)).id }] });
    expectScimError(await patchGroup(t, g.id, b), 400, 'mutability');
    const after = await getGroup(t, g.id);
    expect(after.displayName).toBe(g.displayName);
    expect(after.meta.version).toBe(g.meta.version);
    expect(after.members.map((m: any) => m.value)).toEqual([a]);
  });

  test('membership PATCH: remove through members[value eq "x"] and add through path "members" in one request', async () => {
    const [keep, leaving, joining] = await newUsers(t, 3);
    const g = await newGroup(t, [keep, leaving]);
    expect204(await patchGroup(t, g.id, body('okta', 'updateMembershipPatch', {
      '89bb1940-b905-4575-9e7f-6f887cfb368e': leaving, '23a35c27-23d3-4c03-b4c5-6443c09e7173': joining,
    })));
    const after = await getGroup(t, g.id);
    expect(sorted(after.members.map((m: any) => m.value))).toEqual(sorted([keep, joining]));
    // display comes from the user, not from what Okta sent.
    expect(after.members.find((m: any) => m.value === joining).display).not.toBe('test.user@okta.local');
  });

  test('full push: "replace" of members sets exactly the list; "replace" with [] empties the group', async () => {
    const [x, a, b] = await newUsers(t, 3);
    const g = await newGroup(t, [x, a]);
    expect204(await patchGroup(t, g.id, body('okta', 'replaceMembers', {
      '23a35c27-23d3-4c03-b4c5-6443c09e7173': a, '89bb1940-b905-4575-9e7f-6f887cfb368e': b,
    })));
    expect(await membersOf(t, g.id)).toEqual(sorted([a, b]));
    expect204(await patchGroup(t, g.id, patchOp([{ op: 'replace', path: 'members', value: [] }])));
    expect(await membersOf(t, g.id)).toEqual([]);
    expect((await getGroup(t, g.id)).displayName).toBe(g.displayName);
  });

  test('PUT /Groups/{id} with Okta\'s body sets displayName and exactly its members', async () => {
    const [x, y, a] = await newUsers(t, 3);
    const g = await newGroup(t, [x, y]);
    const res = await scim('PUT', `${gw.api}/Groups/${g.id}`, t, body('okta', 'updateMembershipPut', { '23a35c27-23d3-4c03-b4c5-6443c09e7173': a }));
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe('Test SCIMv2');
    expect(res.body.members.map((m: any) => m.value)).toEqual([a]);
    expect(await membersOf(t, g.id)).toEqual([a]);
  });

  test('user deactivation: no-path "replace" {"active": false}', async () => {
    const u = await newUser(t, { displayName: 'Okta Person' });
    const res = await patchUser(t, u.id, body('okta', 'deactivateUser'));
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(false);
    expect(res.body.displayName).toBe('Okta Person');
    expect((await getUser(t, u.id)).active).toBe(false);
  });
});

// ---- lenient readings (lenient.json) ----------------------------------------------------------------------

describe('lenient readings of real bodies', () => {
  let t: string;
  beforeEach(async () => { t = await tokenFor('lenient'); });

  test('OneLogin: "emails" (and "phoneNumbers") as one object in POST, PUT and PATCH are one-element lists', async () => {
    const created = await scim('POST', `${gw.api}/Users`, t, body('lenient', 'oneloginCreateUser'));
    expect(created.status).toBe(201);
    expect(created.body.emails).toEqual([{ value: 'onelogin.user@example.com', primary: true }]);
    expect(created.body.phoneNumbers).toEqual([{ value: '+1 415 555 0100', type: 'work' }]);
    const found = await scim('GET', `${gw.sso}/Users?filter=${encodeURIComponent('emails.value eq "onelogin.user@example.com"')}`, t);
    expect(found.body.totalResults).toBe(1);
    const id = created.body.id;
    const patched = await patchUser(t, id, body('lenient', 'oneloginReplaceEmails'));
    expect(patched.status).toBe(200);
    expect(patched.body.emails).toEqual([{ value: 'onelogin.new@example.com', primary: true }]);
    expect(patched.body.phoneNumbers).toContainEqual({ value: '+1 415 555 0199', type: 'mobile' });
    const put = await scim('PUT', `${gw.api}/Users/${id}`, t, { ...body('lenient', 'oneloginCreateUser'), emails: { value: 'put@example.com' } });
    expect(put.status).toBe(200);
    expect((await getUser(t, id)).emails).toEqual([{ value: 'put@example.com' }]);
    // A lone member object is a one-member list too.
    const g = await scim('POST', `${gw.api}/Groups`, t, group(unique('lone'), [], { members: { value: id } }));
    expect(g.status).toBe(201);
    expect(g.body.members.map((m: any) => m.value)).toEqual([id]);
  });

  test('types outside the canonical values are stored and returned as sent; a type of the wrong JSON type is still 400', async () => {
    const created = await scim('POST', `${gw.api}/Users`, t, body('lenient', 'nonCanonicalTypes'));
    expect(created.status).toBe(201);
    const u = await getUser(t, created.body.id);
    expect(u.emails.map((e: any) => e.type)).toEqual(['Work', 'internet', 'school']);
    expect(u.phoneNumbers[0].type).toBe('Mobile');
    expect(u.roles).toEqual([{ value: 'approver', type: 'Z', primary: true }]);
    expect(u.x509Certificates[0].type).toBe('signing');
    // caseExact false: "work" finds "Work".
    const found = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('emails[type eq "work"]')}`, t);
    expect(found.body.Resources.map((r: any) => r.id)).toEqual([created.body.id]);
    const patched = await patchUser(t, created.body.id, patchOp([{ op: 'add', path: 'roles', value: [{ value: 'other', type: 'anything' }] }]));
    expect(patched.status).toBe(200);
    expect(patched.body.roles.map((r: any) => r.type)).toEqual(['Z', 'anything']);
    for (const bad of [{ emails: [{ value: 'n@example.com', type: 5 }] }, { roles: [{ value: 'r', type: true }] }]) {
      expectScimError(await scim('POST', `${gw.api}/Users`, t, user(`${unique('bad')}@example.com`, bad)), 400, 'invalidValue');
    }
    // Discovery still advertises the suggestions.
    const schema = await scim('GET', `${gw.api}/Schemas/${USER_SCHEMA}`, t);
    const emailType = schema.body.attributes.find((a: any) => a.name === 'emails').subAttributes.find((a: any) => a.name === 'type');
    expect(emailType.canonicalValues).toEqual(['work', 'home', 'other']);
  });

  test('string booleans inside complex multi-valued attributes: POST, PUT and PATCH store booleans', async () => {
    const created = await scim('POST', `${gw.api}/Users`, t, body('lenient', 'stringBooleansNested'));
    expect(created.status).toBe(201);
    const u = await getUser(t, created.body.id);
    expect(u.active).toBe(true);
    expect(u.emails[0].primary).toBe(true);
    expect(u.roles[0].primary).toBe(false);
    expect(u.addresses[0].primary).toBe(true);
    const put = await scim('PUT', `${gw.api}/Users/${u.id}`, t, { ...body('lenient', 'stringBooleansNested'), roles: [{ value: 'reader', primary: 'True' }] });
    expect(put.status).toBe(200);
    expect((await getUser(t, u.id)).roles[0].primary).toBe(true);
    const patched = await patchUser(t, u.id, body('lenient', 'stringBooleansNestedPatch'));
    expect(patched.status).toBe(200);
    expect(patched.body.roles.find((r: any) => r.value === 'writer').primary).toBe(true);
    expect(patched.body.addresses[0].primary).toBe(false);
    const primary = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('emails[primary eq true]')}`, t);
    expect(primary.body.totalResults).toBe(1);
  });
});

// ---- DronaHQ ----------------------------------------------------------------------------------------------

describe('DronaHQ', () => {
  let t: string;
  beforeAll(async () => { t = await tokenFor('drona'); });

  test('the documented body (no schemas, no Operations) is the desired list: 200 with the group on its mount', async () => {
    const [stays, leaves, joins] = await newUsers(t, 3);
    const g = await newGroup(t, [stays, leaves]);
    const b = body('dronahq', 'updateGroup', { 3: stays, 4: joins });
    expect(b).toEqual({ members: [{ value: stays, display: 'user3@example.com' }, { value: joins, display: 'user4@example.com' }] });
    const res = await patchGroup(t, g.id, b, {}, gw.sso);
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(g.id);
    expect(res.body.meta.location).toBe(`${gw.sso}/Groups/${g.id}`);
    expect(res.headers.get('etag')).toBe(res.body.meta.version);
    expect(sorted(res.body.members.map((m: any) => m.value))).toEqual(sorted([stays, joins]));
    for (const m of res.body.members) expect(m.$ref).toBe(`${gw.sso}/Users/${m.value}`);
    expect(await membersOf(t, g.id)).toEqual(sorted([stays, joins]));
    const empty = await patchGroup(t, g.id, { members: [] }, {}, gw.sso);
    expect(empty.status).toBe(200);
    expect(empty.body.members ?? []).toEqual([]);
    expect(await membersOf(t, g.id)).toEqual([]);
  });

  test('replayed literally, its numeric member values are refused: 400 invalidValue, nothing applied', async () => {
    const [a] = await newUsers(t, 1);
    const g = await newGroup(t, [a]);
    expectScimError(await patchGroup(t, g.id, body('dronahq', 'updateGroup')), 400, 'invalidValue');
    const after = await getGroup(t, g.id);
    expect(after.meta.version).toBe(g.meta.version);
    expect(after.members.map((m: any) => m.value)).toEqual([a]);
  });
});

// ---- malformed PATCH --------------------------------------------------------------------------------------

describe('malformed PATCH → 400 with the RFC 7644 scimType, nothing applied', () => {
  let t: string;
  let members: string[];
  let g: any;
  let u: any;
  beforeAll(async () => {
    t = await tokenFor('bad');
    members = await newUsers(t, 2);
    g = await newGroup(t, members);
    u = await newUser(t, { displayName: 'Unchanged', emails: [{ value: 'same@example.com', type: 'work' }] });
  });

  afterEach(async () => {
    const gAfter = await getGroup(t, g.id);
    expect(gAfter.meta.version).toBe(g.meta.version);
    expect(gAfter.displayName).toBe(g.displayName);
    expect(sorted(gAfter.members.map((m: any) => m.value))).toEqual(sorted(members));
    expect(await getUser(t, u.id)).toEqual(u);
  });

  test('missing "Operations" → invalidSyntax (Group and User)', async () => {
    const b = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'] };
    expectScimError(await patchGroup(t, g.id, b), 400, 'invalidSyntax');
    expectScimError(await patchUser(t, u.id, b), 400, 'invalidSyntax');
    expectScimError(await patchUser(t, u.id, patchOp([])), 400, 'invalidSyntax');
  });

  test('op "copy" → invalidSyntax (Group and User)', async () => {
    expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'copy', path: 'displayName', value: 'x' }])), 400, 'invalidSyntax');
    expectScimError(await patchUser(t, u.id, patchOp([{ op: 'copy', path: 'displayName', value: 'x' }])), 400, 'invalidSyntax');
  });

  test('unknown path "nosuchattr" → invalidPath (User and Group)', async () => {
    expectScimError(await patchUser(t, u.id, patchOp([{ op: 'replace', path: 'nosuchattr', value: 'x' }])), 400, 'invalidPath');
    expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'replace', path: 'nosuchattr', value: 'x' }])), 400, 'invalidPath');
  });

  test('"remove" without a path → noTarget (RFC 7644 §3.5.2.2), for Group and User', async () => {
    const g400 = await patchGroup(t, g.id, patchOp([{ op: 'remove' }]));
    expectScimError(g400, 400, 'noTarget');
    expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'Remove', value: { members: [{ value: members[0] }] } }])), 400, 'noTarget');
    expectScimError(await patchUser(t, u.id, patchOp([{ op: 'remove' }])), 400, 'noTarget');
  });

  test('a member value that is not a string → invalidValue', async () => {
    for (const value of [[{ value: 42 }], [{ value: null }], [{ value: { id: members[0] } }], [{ display: 'no value' }], [7]]) {
      expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value }])), 400, 'invalidValue');
    }
  });

  test('replace of "id" with another value → mutability (Group and User, with and without a path)', async () => {
    expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'replace', path: 'id', value: randomUUID() }])), 400, 'mutability');
    expectScimError(await patchUser(t, u.id, patchOp([{ op: 'replace', path: 'id', value: randomUUID() }])), 400, 'mutability');
    expectScimError(await patchUser(t, u.id, patchOp([{ op: 'replace', value: { id: randomUUID(), displayName: 'nope' } }])), 400, 'mutability');
  });

  test('members[display eq "x"] → invalidFilter; an unparsable member filter too', async () => {
    expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'remove', path: 'members[display eq "x"]' }])), 400, 'invalidFilter');
    expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'remove', path: 'members[value eq ]' }])), 400, 'invalidFilter');
  });

  test('a valid rename and an invalid member in one request → nothing applied, either order', async () => {
    const rename = { op: 'replace', path: 'displayName', value: unique('must-not-stick') };
    expectScimError(await patchGroup(t, g.id, patchOp([rename, { op: 'add', path: 'members', value: [{ value: 5 }] }])), 400, 'invalidValue');
    expectScimError(await patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: randomUUID() }] }, rename])), 400, 'invalidValue');
    // A valid member change and an invalid path: the member change is not applied either.
    const [extra] = await newUsers(t, 1);
    expectScimError(await patchGroup(t, g.id, patchOp([
      { op: 'add', path: 'members', value: [{ value: extra }] }, { op: 'replace', path: 'nosuchattr', value: 1 },
    ])), 400, 'invalidPath');
  });
});

// ---- ETags on PATCH ---------------------------------------------------------------------------------------

describe('ETags on PATCH', () => {
  let t: string;
  beforeAll(async () => { t = await tokenFor('etag'); });

  test('a 204 Group PATCH carries the new version as ETag W/"n"', async () => {
    const [a, b] = await newUsers(t, 2);
    const g = await newGroup(t, [a]);
    expect(g.meta.version).toBe('W/"1"');
    const res = await patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: b }] }]));
    expect204(res);
    expect(res.headers.get('etag')).toBe('W/"2"');
    const rename = await patchGroup(t, g.id, patchOp([{ op: 'replace', path: 'displayName', value: unique('etag') }]));
    expect(rename.headers.get('etag')).toBe('W/"3"');
    expect((await getGroup(t, g.id)).meta.version).toBe('W/"3"');
  });

  test('If-Match with a stale version → 412 and nothing applied; with the current one → applied', async () => {
    const [a, b, c] = await newUsers(t, 3);
    const g = await newGroup(t, [a]);
    const stale = g.meta.version;
    expect204(await patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: b }] }])));
    const current = (await getGroup(t, g.id)).meta.version;
    for (const ops of [
      [{ op: 'add', path: 'members', value: [{ value: c }] }],
      [{ op: 'replace', path: 'displayName', value: 'stale-rename' }],
      [{ op: 'remove', path: 'members' }],
    ]) {
      expectScimError(await patchGroup(t, g.id, patchOp(ops), { 'if-match': stale }), 412);
    }
    const unchanged = await getGroup(t, g.id);
    expect(unchanged.meta.version).toBe(current);
    expect(unchanged.displayName).toBe(g.displayName);
    expect(sorted(unchanged.members.map((m: any) => m.value))).toEqual(sorted([a, b]));

    const ok = await patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: c }] }]), { 'if-match': current });
    expect204(ok);
    expect(ok.headers.get('etag')).not.toBe(current);
    expect(await membersOf(t, g.id)).toEqual(sorted([a, b, c]));
    expect((await getGroup(t, g.id)).meta.version).toBe(ok.headers.get('etag'));
  });

  test('User PATCH: If-Match stale → 412 unchanged; current → 200 with the new ETag', async () => {
    const u = await newUser(t, { displayName: 'Before' });
    const stale = u.meta.version;
    expect((await patchUser(t, u.id, patchOp([{ op: 'replace', path: 'displayName', value: 'Middle' }]))).status).toBe(200);
    expectScimError(await patchUser(t, u.id, patchOp([{ op: 'replace', path: 'displayName', value: 'Stale' }]), { 'if-match': stale }), 412);
    const mid = await getUser(t, u.id);
    expect(mid.displayName).toBe('Middle');
    const ok = await patchUser(t, u.id, patchOp([{ op: 'replace', path: 'displayName', value: 'After' }]), { 'if-match': mid.meta.version });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe(ok.body.meta.version);
    expect(ok.body.displayName).toBe('After');
  });
});

// ---- concurrency ------------------------------------------------------------------------------------------

describe('membership changes under concurrency', () => {
  let t: string;
  beforeAll(async () => { t = await tokenFor('conc'); });

  test('50 parallel single-member adds (different users) → exactly those 50 members', async () => {
    const ids = await newUsers(t, 50);
    const g = await newGroup(t);
    const results = await Promise.all(ids.map((id) => patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: id }] }]))));
    for (const r of results) expect204(r);
    expect(await membersOf(t, g.id)).toEqual(sorted(ids));
    // Every add moved the version once.
    expect((await getGroup(t, g.id)).meta.version).toBe('W/"51"');
  });

  test('50 parallel adds interleaved with 25 parallel removes of other pre-existing members → the exact final set', async () => {
    const existing = await newUsers(t, 40);
    const joining = await newUsers(t, 50);
    const g = await newGroup(t, existing);
    const leaving = existing.slice(0, 25);
    const requests: Promise<any>[] = [];
    for (let i = 0; i < 50; i++) {
      requests.push(patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: joining[i] }] }])));
      if (i < 25) {
        // Alternate the RFC filter form and Entra's value-list form.
        requests.push(patchGroup(t, g.id, patchOp([i % 2
          ? { op: 'remove', path: `members[value eq "${leaving[i]}"]` }
          : { op: 'Remove', path: 'members', value: [{ value: leaving[i] }] }])));
      }
    }
    for (const r of await Promise.all(requests)) expect204(r);
    expect(await membersOf(t, g.id)).toEqual(sorted([...existing.slice(25), ...joining]));
  });

  test('20 parallel renames each with a member add → every add present, final name one of those sent, no 412', async () => {
    const ids = await newUsers(t, 20);
    const g = await newGroup(t);
    const names = ids.map((_, i) => unique(`race-${i}`));
    const results = await Promise.all(ids.map((id, i) => patchGroup(t, g.id, patchOp([
      { op: 'replace', path: 'displayName', value: names[i] },
      { op: 'add', path: 'members', value: [{ value: id }] },
    ]))));
    for (const r of results) expect204(r);
    const after = await getGroup(t, g.id);
    expect(names).toContain(after.displayName);
    expect(sorted(after.members.map((m: any) => m.value))).toEqual(sorted(ids));
    expect(after.meta.version).toBe('W/"21"');
  });

  test('renames racing 60 member-only adds on one group never answer 412 to a client that sent no If-Match', async () => {
    const ids = await newUsers(t, 60);
    const g = await newGroup(t);
    const names = [0, 1, 2, 3, 4].map((i) => unique(`busy-${i}`));
    const results = await Promise.all([
      ...ids.map((id) => patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: id }] }]))),
      ...names.map((name) => patchGroup(t, g.id, patchOp([{ op: 'replace', value: { displayName: name } }]))),
    ]);
    for (const r of results) expect204(r);
    const after = await getGroup(t, g.id);
    expect(names).toContain(after.displayName);
    expect(sorted(after.members.map((m: any) => m.value))).toEqual(sorted(ids));
  });

  test('30 parallel PATCHes of one user (Entra and Okta forms) all succeed; the last write is one of them', async () => {
    const u = await newUser(t);
    const names = Array.from({ length: 30 }, (_, i) => `Parallel ${i}`);
    const results = await Promise.all(names.map((name, i) => patchUser(t, u.id, i % 2
      ? patchOp([{ op: 'Replace', path: 'displayName', value: name }])
      : patchOp([{ op: 'replace', value: { displayName: name } }]))));
    expect(results.map((r) => r.status)).toEqual(names.map(() => 200));
    const after = await getUser(t, u.id);
    expect(names).toContain(after.displayName);
    expect(after.meta.version).toBe('W/"31"');
  });

  test('concurrent PATCHes through both mounts on one group', async () => {
    const viaApi = await newUsers(t, 20);
    const viaSso = await newUsers(t, 20);
    const g = await newGroup(t);
    const results = await Promise.all([
      ...viaApi.map((id) => patchGroup(t, g.id, patchOp([{ op: 'add', path: 'members', value: [{ value: id }] }]), {}, gw.api)),
      ...viaSso.map((id) => patchGroup(t, g.id, patchOp([{ op: 'Add', path: 'members', value: [{ value: id }] }]), {}, gw.sso)),
    ]);
    for (const r of results) expect204(r);
    expect(await membersOf(t, g.id)).toEqual(sorted([...viaApi, ...viaSso]));
    const read = await getGroup(t, g.id, gw.sso);
    for (const m of read.members) expect(m.$ref).toBe(`${gw.sso}/Users/${m.value}`);
  });
});

// ---- large groups -----------------------------------------------------------------------------------------

describe('large groups', () => {
  test('PATCH ?excludedAttributes=members on a 2,000-member group → 200 without members; the count is unchanged', async () => {
    const tenant = unique('large');
    const t = await gw.token(tenant);
    const ids = await seedUsers(tenant, 2000);
    const created = await scim('POST', `${gw.api}/Groups?excludedAttributes=members`, t, group(unique('big'), ids));
    expect(created.status).toBe(201);
    expect(created.body.members).toBeUndefined();
    const id = created.body.id;
    const [extra] = await seedUsers(tenant, 1);

    const name = unique('big-renamed');
    const res = await patchGroup(t, id, patchOp([{ op: 'replace', value: { displayName: name } }, { op: 'add', path: 'members', value: [{ value: ids[0] }] }]));
    expect204(res);
    const excl = await scim('PATCH', `${gw.api}/Groups/${id}?excludedAttributes=members`, t, patchOp([
      { op: 'Replace', path: 'displayName', value: `${name}-2` },
      { op: 'Add', path: 'members', value: [{ value: extra }] },
      { op: 'Remove', path: 'members', value: [{ value: extra }] },
    ]));
    expect(excl.status).toBe(200);
    expect(excl.body.members).toBeUndefined();
    expect(excl.text).not.toContain(ids[1]);
    expect(excl.body.displayName).toBe(`${name}-2`);

    const withMembers = await scim('GET', `${gw.api}/Groups/${id}?attributes=members`, t);
    expect(withMembers.status).toBe(200);
    expect(withMembers.body.members).toHaveLength(2000);
    expect(new Set(withMembers.body.members.map((m: any) => m.value))).toEqual(new Set(ids));
    const byMember = await scim('GET', `${gw.api}/Groups?excludedAttributes=members&filter=${encodeURIComponent(`members.value eq "${ids[1999]}"`)}`, t);
    expect(byMember.body.Resources.map((r: any) => r.id)).toEqual([id]);
  }, 120_000);

  test('GET of a 12,000-member group streams every member once, valid JSON, $ref on the request\'s mount, ETag, 304', async () => {
    const tenant = unique('huge');
    const t = await gw.token(tenant);
    const ids = await seedUsers(tenant, 12_000);
    const created = await scim('POST', `${gw.api}/Groups?attributes=displayName`, t, group(unique('huge'), ids));
    expect(created.status).toBe(201);
    const id = created.body.id;

    const res = await scim('GET', `${gw.sso}/Groups/${id}`, t);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(() => JSON.parse(res.text)).not.toThrow();
    const g = res.body;
    expect(g.id).toBe(id);
    expect(g.meta.location).toBe(`${gw.sso}/Groups/${id}`);
    expect(g.members).toHaveLength(12_000);
    const seen = new Set<string>();
    for (const m of g.members) {
      expect(seen.has(m.value)).toBe(false);
      seen.add(m.value);
      if (m.$ref !== `${gw.sso}/Users/${m.value}`) throw new Error(`bad $ref ${m.$ref}`);
      if (m.type !== 'User') throw new Error(`bad type ${m.type}`);
    }
    expect(seen).toEqual(new Set(ids));
    const etag = res.headers.get('etag');
    expect(etag).toBe(g.meta.version);

    const cached = await scim('GET', `${gw.sso}/Groups/${id}`, t, undefined, { 'if-none-match': etag! });
    expect(cached.status).toBe(304);
    expect(cached.text).toBe('');
    // After a change the old tag no longer matches.
    expect204(await patchGroup(t, id, patchOp([{ op: 'remove', path: `members[value eq "${ids[0]}"]` }])));
    const fresh = await scim('GET', `${gw.api}/Groups/${id}`, t, undefined, { 'if-none-match': etag! });
    expect(fresh.status).toBe(200);
    expect(fresh.body.members).toHaveLength(11_999);
    for (const m of fresh.body.members.slice(0, 50)) expect(m.$ref).toBe(`${gw.api}/Users/${m.value}`);
  }, 180_000);
});
