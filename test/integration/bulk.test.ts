// POST /Bulk (RFC 7644 §3.7) on both mounts: the RFC's own examples, bulkId references (forward, in paths, in
// PATCH values, circular), failOnErrors, per-operation versions and errors, limits, scopes, tenants, and each
// operation's own audit record and outbox events. Real gateway, real store (SQLite; PostgreSQL in the second pass).
import { randomUUID } from 'node:crypto';
import {
  ENTERPRISE_SCHEMA as ENTERPRISE, ERROR_SCHEMA, GROUP_SCHEMA, PATCH_SCHEMA, expectScimError, scim, startGateway, USER_SCHEMA,
  type TestGateway,
} from '../helpers/gateway';
import { BULK_RESPONSE } from '../../src/scim/bulk-request';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ bulk: { maxOperations: 200, maxPayloadSize: 64 * 1024 }, limits: { maxMembersPerRequest: 5 } });
});
afterAll(async () => { await gw.close(); });

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

function bulk(operations: unknown[], extra: Record<string, unknown> = {}) {
  return { schemas: [BULK_REQUEST], ...extra, Operations: operations };
}

function postUser(bulkId: string, userName: string, extra: Record<string, unknown> = {}) {
  return { method: 'POST', path: '/Users', bulkId, data: { schemas: [USER_SCHEMA], userName, ...extra } };
}

function idOf(location: string): string {
  return decodeURIComponent(location.slice(location.lastIndexOf('/') + 1));
}

const mounts = [['/api/scim/v2', 'api'], ['/sso/scim/v2', 'sso']] as const;

describe.each(mounts)('Bulk on %s', (mountPath, key) => {
  const base = () => gw[key];
  let t: string;
  let tenant: string;
  beforeAll(async () => {
    tenant = unique('bulk');
    t = await gw.token(tenant);
  });

  test('RFC 7644 §3.7.2: a User and a Group that names it by bulkId; answers carry location, version, status', async () => {
    const alice = unique('Alice');
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      postUser('qwerty', alice),
      { method: 'POST', path: '/Groups', bulkId: 'ytrewq',
        data: { schemas: [GROUP_SCHEMA], displayName: 'Tour Guides', members: [{ type: 'User', value: 'bulkId:qwerty' }] } },
    ]));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/scim\+json/);
    expect(res.body.schemas).toEqual([BULK_RESPONSE]);
    const [u, g] = res.body.Operations;
    expect(u).toEqual({ location: expect.stringMatching(new RegExp(`^${gw.url}${mountPath}/Users/`)), method: 'POST', bulkId: 'qwerty', version: 'W/"1"', status: '201' });
    expect(g).toEqual({ location: expect.stringMatching(new RegExp(`^${gw.url}${mountPath}/Groups/`)), method: 'POST', bulkId: 'ytrewq', version: 'W/"1"', status: '201' });
    const group = await scim('GET', g.location, t);
    expect(group.body.members.map((m: any) => m.value)).toEqual([idOf(u.location)]);
    const user = await scim('GET', u.location, t);
    expect(user.body.userName).toBe(alice);
  });

  test('forward references: a Group before the User it names, a PATCH of a user by bulkId path, a manager by bulkId', async () => {
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      { method: 'POST', path: '/Groups', bulkId: 'g', data: { displayName: unique('fwd'), members: [{ value: 'bulkId:u1' }, { value: 'bulkId:u2' }] } },
      { method: 'PATCH', path: '/Users/bulkId:u1', data: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'Patched' }] } },
      postUser('u1', unique('u1'), { [ENTERPRISE]: { manager: { value: 'bulkId:u2' } } }),
      postUser('u2', unique('u2')),
      { method: 'PATCH', path: '/Groups/bulkId:g', data: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: 'bulkId:u3' }] }] } },
      postUser('u3', unique('u3')),
    ]));
    expect(res.status).toBe(200);
    const ops = res.body.Operations;
    expect(ops.map((o: any) => o.status)).toEqual(['201', '200', '201', '201', '204', '201']);
    const [g, patch, u1, u2, gpatch, u3] = ops;
    expect(idOf(patch.location)).toBe(idOf(u1.location));
    expect(patch.version).toBe('W/"2"');
    expect(gpatch).toEqual({ location: g.location, method: 'PATCH', version: 'W/"2"', status: '204' });
    const user1 = (await scim('GET', u1.location, t)).body;
    expect(user1.displayName).toBe('Patched');
    expect(user1[ENTERPRISE].manager.value).toBe(idOf(u2.location));
    const group = (await scim('GET', g.location, t)).body;
    expect(group.members.map((m: any) => m.value).sort()).toEqual([u1, u2, u3].map((o: any) => idOf(o.location)).sort());
  });

  test('RFC 7644 §3.7.1 circular references are answered 409, nothing of them is created; unknown bulkIds are 400', async () => {
    const a = unique('circA');
    const b = unique('circB');
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      { method: 'POST', path: '/Groups', bulkId: 'qwerty', data: { displayName: a, members: [{ type: 'Group', value: 'bulkId:ytrewq' }] } },
      { method: 'POST', path: '/Groups', bulkId: 'ytrewq', data: { displayName: b, members: [{ type: 'Group', value: 'bulkId:qwerty' }] } },
      postUser('self', unique('self'), { [ENTERPRISE]: { manager: { value: 'bulkId:self' } } }),
      postUser('lost', unique('lost'), { [ENTERPRISE]: { manager: { value: 'bulkId:nobody' } } }),
    ]));
    expect(res.status).toBe(200);
    const [ga, gb, self, lost] = res.body.Operations;
    for (const o of [ga, gb, self]) {
      expect(o.status).toBe('409');
      expect(o.response.schemas).toEqual([ERROR_SCHEMA]);
      expect(o.location).toBeUndefined();
    }
    expect(gb.response.detail).toMatch(/circular/);
    expect(lost.status).toBe('400');
    expect(lost.response.scimType).toBe('invalidValue');
    expect(lost.response.detail).toMatch(/bulkId:nobody/);
    for (const name of [a, b]) {
      const found = await scim('GET', `${base()}/Groups?filter=${encodeURIComponent(`displayName eq "${name}"`)}`, t);
      expect(found.body.totalResults).toBe(0);
    }
  });

  test('an operation that fails leaves nothing behind and the others still commit (the request is not atomic)', async () => {
    const taken = unique('taken');
    const first = await scim('POST', `${base()}/Bulk`, t, bulk([postUser('a', taken)]));
    expect(first.body.Operations[0].status).toBe('201');
    const ok = unique('ok');
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      postUser('dup', taken.toUpperCase()),
      { method: 'POST', path: '/Users', bulkId: 'bad', data: { displayName: 'no userName' } },
      { method: 'POST', path: '/Groups', bulkId: 'ghost', data: { displayName: unique('ghost'), members: [{ value: 'no-such-user' }] } },
      { method: 'POST', path: '/Groups', bulkId: 'dependent', data: { displayName: unique('dep'), members: [{ value: 'bulkId:dup' }] } },
      postUser('ok', ok),
      { method: 'DELETE', path: '/Users/no-such-user' },
      { method: 'PUT', path: '/Groups', data: { displayName: 'x' } },
      { method: 'GET', path: '/Users' },
    ]));
    const ops = res.body.Operations;
    expect(ops.map((o: any) => o.status)).toEqual(['409', '400', '400', '409', '201', '404', '400', '400']);
    expect(ops[0].response.scimType).toBe('uniqueness');
    expect(ops[1].response.scimType).toBe('invalidValue');
    expect(ops[2].response.scimType).toBe('invalidValue');
    expect(ops[3].response.detail).toMatch(/bulkId:dup.*failed/);
    expect(ops[5].location).toBe(`${gw.url}${mountPath}/Users/no-such-user`);
    expect(ops[6].response.scimType).toBe('invalidPath');
    expect(ops[7].response.scimType).toBe('invalidValue');
    for (const o of ops) if (o.response) expect(o.response.status).toBe(o.status);
    const groups = await scim('GET', `${base()}/Groups?filter=${encodeURIComponent('displayName sw "ghost" or displayName sw "dep"')}`, t);
    expect(groups.body.totalResults).toBe(0);
    const users = await scim('GET', `${base()}/Users?filter=${encodeURIComponent(`userName eq "${ok}"`)}`, t);
    expect(users.body.totalResults).toBe(1);
  });

  test('operations that run together fail alone: a taken userName among many POSTs, the same new userName twice', async () => {
    const taken = unique('round-taken');
    await scim('POST', `${base()}/Bulk`, t, bulk([postUser('t', taken)]));
    const names = Array.from({ length: 20 }, (_, i) => unique(`round${i}`));
    const twice = unique('twice');
    const ops = names.map((n, i) => postUser(`r${i}`, n));
    ops.splice(7, 0, postUser('taken', taken));
    ops.splice(12, 0, postUser('twice1', twice), postUser('twice2', twice.toUpperCase()));
    const res = await scim('POST', `${base()}/Bulk`, t, bulk(ops));
    const statuses = res.body.Operations.map((o: any) => `${o.bulkId} ${o.status}`);
    expect(statuses.filter((s: string) => !s.endsWith(' 201'))).toEqual(['taken 409', 'twice2 409']);
    expect(statuses).toHaveLength(23);
    const found = await scim('GET', `${base()}/Users?filter=${encodeURIComponent(`userName sw "round" or userName eq "${twice}"`)}&count=100`, t);
    expect(found.body.totalResults).toBe(22);
  });

  test('150 operations of one kind (more than one shared transaction on PostgreSQL) with failures among them', async () => {
    const taken = unique('many-taken');
    await scim('POST', `${base()}/Bulk`, t, bulk([postUser('t', taken)]));
    const prefix = unique('many');
    const ops = Array.from({ length: 150 }, (_, i) => (i % 37 === 36 ? postUser(`m${i}`, taken) : postUser(`m${i}`, `${prefix}-${i}`)));
    const res = await scim('POST', `${base()}/Bulk`, t, bulk(ops));
    const failed = res.body.Operations.filter((o: any) => o.status !== '201').map((o: any) => `${o.bulkId} ${o.status}`);
    expect(failed).toEqual(['m36 409', 'm73 409', 'm110 409', 'm147 409']);
    const found = await scim('GET', `${base()}/Users?filter=${encodeURIComponent(`userName sw "${prefix}-"`)}&count=1`, t);
    expect(found.body.totalResults).toBe(146);
    const audit = await gw.store.listAudit({ tenant, operation: 'create', limit: 500 });
    const ids = new Set(res.body.Operations.filter((o: any) => o.location).map((o: any) => idOf(o.location)));
    expect(audit.filter((a) => ids.has(a.resourceId))).toHaveLength(146);
  });

  test('failOnErrors: processing ends at that many errors; later operations are neither run nor answered', async () => {
    const names = [unique('f0'), unique('f1'), unique('f2'), unique('f3')];
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      postUser('f0', names[0]),
      { method: 'POST', path: '/Users', bulkId: 'e1', data: {} },
      postUser('f1', names[1]),
      { method: 'DELETE', path: '/Users/missing' },
      postUser('f2', names[2]),
      postUser('f3', names[3]),
    ], { failOnErrors: 2 }));
    expect(res.status).toBe(200);
    expect(res.body.Operations.map((o: any) => `${o.method} ${o.status}`)).toEqual(['POST 201', 'POST 400', 'POST 201', 'DELETE 404']);
    for (const [i, name] of names.entries()) {
      const found = await scim('GET', `${base()}/Users?filter=${encodeURIComponent(`userName eq "${name}"`)}`, t);
      expect(found.body.totalResults).toBe(i < 2 ? 1 : 0);
    }
    const one = await scim('POST', `${base()}/Bulk`, t, bulk([
      { method: 'DELETE', path: '/Users/missing' }, postUser('n', unique('never')),
    ], { failOnErrors: 1 }));
    expect(one.body.Operations).toHaveLength(1);
  });

  test('version: the operation\'s If-Match (PUT, PATCH, DELETE); a stale one is 412 and changes nothing', async () => {
    const created = await scim('POST', `${base()}/Bulk`, t, bulk([postUser('v', unique('ver')), {
      method: 'POST', path: '/Groups', bulkId: 'vg', data: { displayName: unique('verg') },
    }]));
    const [u, g] = created.body.Operations;
    const uid = idOf(u.location);
    const gid = idOf(g.location);
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      { method: 'PUT', path: `/Users/${uid}`, version: 'W/"1"', data: { userName: unique('ver2'), displayName: 'Two' } },
      { method: 'PATCH', path: `/Users/${uid}`, version: 'W/"1"', data: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'Stale' }] } },
      { method: 'PATCH', path: `/Groups/${gid}`, version: '1', data: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'G2' }] } },
      { method: 'DELETE', path: `/Groups/${gid}`, version: 'W/"1"' },
      { method: 'DELETE', path: `/Users/${uid}`, version: 'W/"2"' },
    ]));
    expect(res.body.Operations.map((o: any) => o.status)).toEqual(['200', '412', '204', '412', '204']);
    expect(res.body.Operations[0].version).toBe('W/"2"');
    expect(res.body.Operations[4]).toEqual({ location: u.location, method: 'DELETE', status: '204' });
    expect((await scim('GET', u.location, t)).status).toBe(404);
    const group = await scim('GET', g.location, t);
    expect(group.body.displayName).toBe('G2');
    expect(group.body.meta.version).toBe('W/"2"');
  });

  test('the member cap applies to each operation', async () => {
    const users = await scim('POST', `${base()}/Bulk`, t, bulk(Array.from({ length: 6 }, (_, i) => postUser(`m${i}`, unique(`m${i}`)))));
    const ids = users.body.Operations.map((o: any) => idOf(o.location));
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      { method: 'POST', path: '/Groups', bulkId: 'big', data: { displayName: unique('big'), members: ids.map((value: string) => ({ value })) } },
      { method: 'POST', path: '/Groups', bulkId: 'fits', data: { displayName: unique('fits'), members: ids.slice(0, 5).map((value: string) => ({ value })) } },
    ]));
    expect(res.body.Operations.map((o: any) => o.status)).toEqual(['400', '201']);
    expect(res.body.Operations[0].response.detail).toMatch(/at most 5/);
  });

  test('a tenant\'s operations never reach another tenant\'s resources', async () => {
    const other = await gw.token(unique('other'));
    const theirs = await scim('POST', `${base()}/Bulk`, other, bulk([postUser('x', unique('theirs'))]));
    const location = theirs.body.Operations[0].location;
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      { method: 'DELETE', path: `/Users/${idOf(location)}` },
      { method: 'POST', path: '/Groups', bulkId: 'steal', data: { displayName: unique('steal'), members: [{ value: idOf(location) }] } },
    ]));
    expect(res.body.Operations.map((o: any) => o.status)).toEqual(['404', '400']);
    expect((await scim('GET', location, other)).status).toBe(200);
  });

  test('each operation has its own audit record and outbox events, as if sent alone', async () => {
    const before = (await gw.store.egress.listOutbox({ tenant, order: 'desc', limit: 1 }))[0]?.seq ?? 0;
    const res = await scim('POST', `${base()}/Bulk`, t, bulk([
      postUser('au', unique('audit')),
      { method: 'POST', path: '/Groups', bulkId: 'ag', data: { displayName: unique('ag'), members: [{ value: 'bulkId:au' }] } },
      { method: 'PATCH', path: '/Users/bulkId:au', data: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }] } },
      { method: 'DELETE', path: '/Groups/bulkId:ag' },
    ]));
    expect(res.body.Operations.map((o: any) => o.status)).toEqual(['201', '201', '200', '204']);
    const uid = idOf(res.body.Operations[0].location);
    const gid = idOf(res.body.Operations[1].location);
    const audit = (await gw.store.listAudit({ tenant, limit: 10 })).reverse().slice(-4);
    expect(audit.map((a) => `${a.operation} ${a.resourceType} ${a.resourceId}`)).toEqual([
      `create User ${uid}`, `create Group ${gid}`, `patch User ${uid}`, `delete Group ${gid}`,
    ]);
    for (const a of audit) expect(a.mount).toBe(mountPath);
    const events = await gw.store.egress.listOutbox({ tenant, afterSeq: before, limit: 50 });
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['user.created', 'group.created', 'group.members_added', 'user.updated', 'user.deactivated', 'group.deleted']));
    expect(types.indexOf('group.created')).toBeLessThan(types.indexOf('user.deactivated'));
  });
});

describe('Bulk: the message as a whole', () => {
  let t: string;
  beforeAll(async () => { t = await gw.token(unique('whole')); });

  test('ServiceProviderConfig advertises bulk with the configured limits', async () => {
    for (const base of [gw.api, gw.sso]) {
      const spc = await scim('GET', `${base}/ServiceProviderConfig`, t);
      expect(spc.body.bulk).toEqual({ supported: true, maxOperations: 200, maxPayloadSize: 64 * 1024 });
    }
  });

  test('more than maxOperations, or a body over maxPayloadSize, is 413 tooLarge and runs nothing', async () => {
    const name = unique('over');
    const ops = Array.from({ length: 201 }, (_, i) => ({ method: 'DELETE', path: `/Users/${name}-${i}` }));
    const many = await scim('POST', `${gw.api}/Bulk`, t, bulk(ops));
    expectScimError(many, 413, 'tooLarge');
    expect(many.body.detail).toMatch(/maxOperations is 200/);
    const big = await scim('POST', `${gw.sso}/Bulk`, t, bulk([postUser('big', name, { displayName: 'x'.repeat(70 * 1024) })]));
    expectScimError(big, 413, 'tooLarge');
    expect(big.body.detail).toMatch(/maxPayloadSize \(65536 bytes\)/);
    const found = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`userName sw "${name}"`)}`, t);
    expect(found.body.totalResults).toBe(0);
  });

  test('what is not a BulkRequest is 400', async () => {
    expectScimError(await scim('POST', `${gw.api}/Bulk`, t, { schemas: [PATCH_SCHEMA], Operations: [] }), 400, 'invalidSyntax');
    expectScimError(await scim('POST', `${gw.api}/Bulk`, t, { schemas: [BULK_REQUEST] }), 400, 'invalidSyntax');
    expectScimError(await scim('POST', `${gw.api}/Bulk`, t, [1, 2]), 400, 'invalidSyntax');
    expectScimError(await scim('POST', `${gw.api}/Bulk`, t, bulk([], { failOnErrors: 0 })), 400, 'invalidValue');
    expectScimError(await scim('POST', `${gw.api}/Bulk`, t, bulk([], { failOnErrors: 'x' })), 400, 'invalidValue');
    const empty = await scim('POST', `${gw.api}/Bulk`, t, bulk([]));
    expect(empty.body).toEqual({ schemas: [BULK_RESPONSE], Operations: [] });
  });

  test('malformed operations are answered one by one', async () => {
    const res = await scim('POST', `${gw.api}/Bulk`, t, bulk([
      'not an object',
      { method: 'POST', path: '/Users', data: { userName: unique('nobulkid') } },
      { method: 'POST', path: '/Users/abc', bulkId: 'p', data: { userName: 'x' } },
      { method: 'PATCH', path: '/Widgets/1', data: {} },
      { method: 'PUT', path: '/Users/abc' },
      { method: 'POST', path: '/Users', bulkId: 'same', data: { userName: unique('same1') } },
      { method: 'POST', path: '/Users', bulkId: 'same', data: { userName: unique('same2') } },
      { method: 'DELETE', path: '/Users/%E0%A4%A' },
    ]));
    expect(res.body.Operations.map((o: any) => `${o.status} ${o.response?.scimType ?? ''}`)).toEqual([
      '400 invalidSyntax', '400 invalidValue', '400 invalidPath', '400 invalidPath', '400 invalidSyntax', '201 ',
      '400 invalidValue', '400 invalidPath',
    ]);
  });

  test('a read-only token is refused with 403; no token with 401', async () => {
    const read = await gw.token(unique('ro'), 'scim:read');
    expect((await scim('POST', `${gw.api}/Bulk`, read, bulk([postUser('r', unique('ro'))]))).status).toBe(403);
    expect((await scim('POST', `${gw.api}/Bulk`, undefined, bulk([]))).status).toBe(401);
  });

  test('as clients send it: lower-case keys and methods, paths without a slash, the members key in any case', async () => {
    const res = await scim('POST', `${gw.api}/Bulk`, t, {
      schemas: [BULK_REQUEST],
      operations: [
        { method: 'post', path: 'Users', bulkId: 'c1', data: { userName: unique('client'), emails: { value: 'c1@example.com', primary: 'true' } } },
        { Method: 'POST', Path: '/Groups/', BulkId: 'c2', Data: { displayName: unique('clientg'), Members: [{ value: 'bulkId:c1' }] } },
      ],
    });
    expect(res.body.Operations.map((o: any) => `${o.method} ${o.status} ${o.bulkId}`)).toEqual(['POST 201 c1', 'POST 201 c2']);
    const user = await scim('GET', res.body.Operations[0].location, t);
    expect(user.body.emails).toEqual([{ value: 'c1@example.com', primary: true }]);
    const group = await scim('GET', res.body.Operations[1].location, t);
    expect(group.body.members).toHaveLength(1);
  });
});
