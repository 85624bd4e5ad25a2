// Users over real HTTP against a real SQLite file: create, read, replace, patch, delete, the enterprise extension,
// and userName uniqueness (case-insensitive, per tenant).
import { randomUUID } from 'node:crypto';
import { PATCH_SCHEMA, scim, startGateway, user, USER_SCHEMA, type TestGateway, expectScimError } from '../helpers/gateway';
import { sqliteOnly } from '../helpers/postgres';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

let gw: TestGateway;
let t: string;

beforeAll(async () => {
  gw = await startGateway();
  t = await gw.token('users-a');
});
afterAll(async () => { await gw.close(); });

/** A userName no other test uses. */
const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}@example.com`;

async function create(body: Record<string, unknown>, token = t, base = gw.api) {
  const res = await scim('POST', `${base}/Users`, token, body);
  expect(res.status).toBe(201);
  return res.body;
}


describe('POST /Users', () => {
  test('201 with the user, a Location header equal to meta.location and ETag W/"1"', async () => {
    const userName = unique('create');
    const res = await scim('POST', `${gw.api}/Users`, t, user(userName, { displayName: 'Created User' }));
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    const u = res.body;
    expect(typeof u.id).toBe('string');
    expect(u.id.length).toBeGreaterThan(0);
    expect(u.userName).toBe(userName);
    expect(u.displayName).toBe('Created User');
    expect(u.active).toBe(true);
    expect(u.schemas).toContain(USER_SCHEMA);
    expect(u.meta.resourceType).toBe('User');
    expect(u.meta.location).toBe(`${gw.api}/Users/${u.id}`);
    expect(res.headers.get('location')).toBe(u.meta.location);
    expect(u.meta.version).toBe('W/"1"');
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(Date.parse(u.meta.created)).not.toBeNaN();
    expect(u.meta.lastModified).toBe(u.meta.created);
  });

  test('on the /sso mount the Location names the /sso mount', async () => {
    const res = await scim('POST', `${gw.sso}/Users`, t, user(unique('sso-create')));
    expect(res.status).toBe(201);
    expect(res.body.meta.location).toBe(`${gw.sso}/Users/${res.body.id}`);
    expect(res.headers.get('location')).toBe(res.body.meta.location);
  });

  test('a user created without "active" counts as active (filter active eq true finds it)', async () => {
    const body: Record<string, unknown> = user(unique('no-active'));
    delete body.active;
    const u = await create(body);
    // The representation echoes what was sent (no "active"); the indexed flag defaults to true.
    expect([undefined, true]).toContain(u.active);
    const f = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`id eq "${u.id}" and active eq true`)}`, t);
    expect(f.body.totalResults).toBe(1);
  });

  test('"active":"False" (Entra string boolean) on POST is stored as false', async () => {
    const u = await create(user(unique('str-bool'), { active: 'False' }));
    expect(u.active).toBe(false);
    const read = await scim('GET', `${gw.api}/Users/${u.id}`, t);
    expect(read.body.active).toBe(false);
  });

  test('name, emails, externalId and displayName round-trip', async () => {
    const userName = unique('full');
    const body = user(userName, {
      externalId: 'ext-Full-1',
      displayName: 'Ada Lovelace',
      name: { givenName: 'Ada', familyName: 'Lovelace', formatted: 'Ada Lovelace', middleName: 'King' },
      emails: [
        { value: 'ada@work.example.com', type: 'work', primary: true },
        { value: 'ada@home.example.com', type: 'home' },
      ],
    });
    const created = await create(body);
    const read = await scim('GET', `${gw.sso}/Users/${created.id}`, t);
    expect(read.status).toBe(200);
    const u = read.body;
    expect(u.externalId).toBe('ext-Full-1');
    expect(u.displayName).toBe('Ada Lovelace');
    expect(u.name).toEqual({ givenName: 'Ada', familyName: 'Lovelace', formatted: 'Ada Lovelace', middleName: 'King' });
    expect(u.emails).toHaveLength(2);
    expect(u.emails).toEqual(expect.arrayContaining([
      expect.objectContaining({ value: 'ada@work.example.com', type: 'work', primary: true }),
      expect.objectContaining({ value: 'ada@home.example.com', type: 'home' }),
    ]));
  });

  test('the enterprise extension round-trips (employeeNumber, department, manager.value)', async () => {
    const manager = await create(user(unique('manager')));
    const created = await create({
      schemas: [USER_SCHEMA, ENTERPRISE],
      userName: unique('employee'),
      [ENTERPRISE]: { employeeNumber: 'E-1001', department: 'Research', manager: { value: manager.id } },
    });
    expect(created.schemas).toEqual(expect.arrayContaining([USER_SCHEMA, ENTERPRISE]));
    expect(created[ENTERPRISE]).toMatchObject({ employeeNumber: 'E-1001', department: 'Research', manager: { value: manager.id } });
    const read = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(read.body.schemas).toContain(ENTERPRISE);
    expect(read.body[ENTERPRISE]).toMatchObject({ employeeNumber: 'E-1001', department: 'Research', manager: { value: manager.id } });
  });

  // Reads the SQLite row directly (gw.store.db); test/integration/postgres.test.ts checks the same on PostgreSQL.
  sqliteOnly('password is accepted but never returned, and never stored', async () => {
    const created = await scim('POST', `${gw.api}/Users`, t, user(unique('pw'), { password: 'S3cret-Passw0rd!' }));
    expect(created.status).toBe(201);
    expect(created.body.password).toBeUndefined();
    expect(created.text).not.toContain('S3cret-Passw0rd!');
    const read = await scim('GET', `${gw.api}/Users/${created.body.id}`, t);
    expect(read.body.password).toBeUndefined();
    expect(read.text).not.toContain('S3cret-Passw0rd!');
    const listed = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`id eq "${created.body.id}"`)}`, t);
    expect(listed.body.Resources).toHaveLength(1);
    expect(listed.text).not.toContain('S3cret-Passw0rd!');
    const row = gw.store.db.prepare('SELECT resource FROM users WHERE id = ?').get(created.body.id) as { resource: string };
    expect(row.resource).not.toContain('S3cret-Passw0rd!');
    // Neither does a PUT or a PATCH that sets one.
    const put = await scim('PUT', `${gw.api}/Users/${created.body.id}`, t, user(created.body.userName, { password: 'Other-Pw-123!' }));
    expect(put.status).toBe(200);
    expect(put.text).not.toContain('Other-Pw-123!');
    const patch = await scim('PATCH', `${gw.api}/Users/${created.body.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'password', value: 'Third-Pw-456!' }],
    });
    expect([200, 204]).toContain(patch.status);
    expect(patch.text).not.toContain('Third-Pw-456!');
  });

  test('a misspelled attribute is ignored, the rest is kept', async () => {
    const res = await scim('POST', `${gw.api}/Users`, t, user(unique('typo'), { displayNmae: 'Typo', displayName: 'Right' }));
    expect(res.status).toBe(201);
    expect(res.body.displayNmae).toBeUndefined();
    expect(res.body.displayName).toBe('Right');
    const read = await scim('GET', `${gw.api}/Users/${res.body.id}`, t);
    expect(read.body.displayNmae).toBeUndefined();
    expect(read.text).not.toContain('displayNmae');
  });

  test('missing userName → 400', async () => {
    const res = await scim('POST', `${gw.api}/Users`, t, { schemas: [USER_SCHEMA], displayName: 'No Name' });
    expectScimError(res, 400);
  });

  test('empty userName → 400', async () => {
    const res = await scim('POST', `${gw.api}/Users`, t, user(''));
    expectScimError(res, 400);
  });

  test('a body that is a JSON array → 400 invalidSyntax', async () => {
    const res = await scim('POST', `${gw.api}/Users`, t, [user(unique('array'))]);
    expectScimError(res, 400, 'invalidSyntax');
  });

  test('a body that is a JSON string or number → 400 invalidSyntax', async () => {
    expectScimError(await scim('POST', `${gw.api}/Users`, t, '"just a string"'), 400);
    expectScimError(await scim('POST', `${gw.api}/Users`, t, '42'), 400);
  });
});

describe('GET /Users/:id', () => {
  test('200 with the user and its ETag', async () => {
    const created = await create(user(unique('get')));
    const res = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(created.id);
    expect(res.body.userName).toBe(created.userName);
    expect(res.body.meta).toEqual(created.meta);
    expect(res.headers.get('etag')).toBe('W/"1"');
  });

  test('an unknown id → 404 SCIM error', async () => {
    expectScimError(await scim('GET', `${gw.api}/Users/${randomUUID()}`, t), 404);
  });
});

describe('PUT /Users/:id', () => {
  test('replaces the user: omitted attributes are gone, version increments', async () => {
    const created = await create(user(unique('put'), {
      displayName: 'Before', externalId: 'ext-put', name: { givenName: 'B', familyName: 'Fore' },
      emails: [{ value: 'before@example.com', type: 'work' }],
    }));
    const newName = unique('put-renamed');
    const res = await scim('PUT', `${gw.api}/Users/${created.id}`, t, user(newName, {
      displayName: 'After', emails: [{ value: 'after@example.com', type: 'home', primary: true }], active: false,
    }));
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(created.id);
    expect(res.body.userName).toBe(newName);
    expect(res.body.displayName).toBe('After');
    expect(res.body.active).toBe(false);
    expect(res.body.externalId).toBeUndefined();
    expect(res.body.name).toBeUndefined();
    expect(res.body.emails).toEqual([expect.objectContaining({ value: 'after@example.com', type: 'home', primary: true })]);
    expect(res.body.meta.version).toBe('W/"2"');
    expect(res.headers.get('etag')).toBe('W/"2"');
    expect(res.body.meta.created).toBe(created.meta.created);
    expect(Date.parse(res.body.meta.lastModified)).toBeGreaterThan(Date.parse(created.meta.lastModified));
    expect(res.body.meta.location).toBe(`${gw.api}/Users/${created.id}`);

    const read = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(read.body).toEqual(res.body);

    // The old email no longer matches a filter; the new one does.
    const old = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('emails.value eq "before@example.com"')}`, t);
    expect(old.body.totalResults).toBe(0);
    const cur = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('emails.value eq "after@example.com"')}`, t);
    expect(cur.body.Resources.map((r: any) => r.id)).toEqual([created.id]);

    const again = await scim('PUT', `${gw.api}/Users/${created.id}`, t, user(newName));
    expect(again.body.meta.version).toBe('W/"3"');
  });

  test('PUT to an unknown id → 404', async () => {
    expectScimError(await scim('PUT', `${gw.api}/Users/${randomUUID()}`, t, user(unique('put-404'))), 404);
  });

  test('PUT with a JSON array body → 400 invalidSyntax', async () => {
    const created = await create(user(unique('put-array')));
    expectScimError(await scim('PUT', `${gw.api}/Users/${created.id}`, t, [user(created.userName)]), 400, 'invalidSyntax');
  });

  test('PUT without userName → 400 and the user is unchanged', async () => {
    const created = await create(user(unique('put-nouser')));
    const res = await scim('PUT', `${gw.api}/Users/${created.id}`, t, { schemas: [USER_SCHEMA], displayName: 'x' });
    expectScimError(res, 400);
    const read = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(read.body.meta.version).toBe('W/"1"');
    expect(read.body.userName).toBe(created.userName);
  });
});

describe('PATCH /Users/:id', () => {
  test('replace userName answers 200 with the user, version increments', async () => {
    const created = await create(user(unique('patch')));
    const newName = unique('patched');
    const res = await scim('PATCH', `${gw.api}/Users/${created.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'userName', value: newName }],
    });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(created.id);
    expect(res.body.userName).toBe(newName);
    expect(res.body.meta.version).toBe('W/"2"');
    expect(res.headers.get('etag')).toBe('W/"2"');
    expect(res.body.meta.location).toBe(`${gw.api}/Users/${created.id}`);
    const read = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(read.body.userName).toBe(newName);
  });

  test('Entra-style capitalised "Replace" with "active":"False" sets active to false', async () => {
    const created = await create(user(unique('entra')));
    expect(created.active).toBe(true);
    const res = await scim('PATCH', `${gw.sso}/Users/${created.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(false);
    expect(res.body.meta.location).toBe(`${gw.sso}/Users/${created.id}`);
    const read = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(read.body.active).toBe(false);
    const filtered = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`id eq "${created.id}" and active eq false`)}`, t);
    expect(filtered.body.totalResults).toBe(1);
  });

  test('Entra-style pathless "Replace" with {"active":"True"} sets active back to true', async () => {
    const created = await create(user(unique('entra-nopath'), { active: false }));
    const res = await scim('PATCH', `${gw.api}/Users/${created.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'Replace', value: { active: 'True', displayName: 'Entra Person' } }],
    });
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(true);
    expect(res.body.displayName).toBe('Entra Person');
  });

  test('add and remove on attributes, including the enterprise extension by URN path', async () => {
    const created = await create(user(unique('patch-ext'), { displayName: 'Gone Soon' }));
    const res = await scim('PATCH', `${gw.api}/Users/${created.id}`, t, {
      schemas: [PATCH_SCHEMA],
      Operations: [
        { op: 'add', path: 'externalId', value: 'patched-ext' },
        { op: 'add', path: `${ENTERPRISE}:department`, value: 'Ops' },
        { op: 'add', path: `${ENTERPRISE}:employeeNumber`, value: '42' },
        { op: 'remove', path: 'displayName' },
        { op: 'add', path: 'name.familyName', value: 'Patchy' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.externalId).toBe('patched-ext');
    expect(res.body.displayName).toBeUndefined();
    expect(res.body.name).toEqual({ familyName: 'Patchy' });
    expect(res.body[ENTERPRISE]).toMatchObject({ department: 'Ops', employeeNumber: '42' });
    const read = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(read.body.externalId).toBe('patched-ext');
    expect(read.body[ENTERPRISE]).toMatchObject({ department: 'Ops', employeeNumber: '42' });
  });

  test('PATCH of an unknown id → 404', async () => {
    const res = await scim('PATCH', `${gw.api}/Users/${randomUUID()}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }],
    });
    expectScimError(res, 404);
  });

  test('PATCH with an invalid op → 400 and nothing changes', async () => {
    const created = await create(user(unique('bad-op')));
    const res = await scim('PATCH', `${gw.api}/Users/${created.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'explode', path: 'displayName', value: 'x' }],
    });
    expectScimError(res, 400);
    const read = await scim('GET', `${gw.api}/Users/${created.id}`, t);
    expect(read.body.meta.version).toBe('W/"1"');
  });
});

describe('DELETE /Users/:id', () => {
  test('204 with no body, then GET/PUT/PATCH/DELETE → 404', async () => {
    const created = await create(user(unique('delete')));
    const res = await scim('DELETE', `${gw.api}/Users/${created.id}`, t);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectScimError(await scim('GET', `${gw.api}/Users/${created.id}`, t), 404);
    expectScimError(await scim('GET', `${gw.sso}/Users/${created.id}`, t), 404);
    expectScimError(await scim('PUT', `${gw.api}/Users/${created.id}`, t, user(created.userName)), 404);
    expectScimError(await scim('PATCH', `${gw.api}/Users/${created.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }],
    }), 404);
    expectScimError(await scim('DELETE', `${gw.api}/Users/${created.id}`, t), 404);
  });

  test('the userName of a deleted user can be used again', async () => {
    const userName = unique('reuse');
    const first = await create(user(userName));
    expect((await scim('DELETE', `${gw.api}/Users/${first.id}`, t)).status).toBe(204);
    const second = await create(user(userName));
    expect(second.id).not.toBe(first.id);
  });
});

describe('userName uniqueness', () => {
  test('POST of a userName differing only in case → 409 uniqueness with status "409"', async () => {
    const userName = `Case.Sensitive-${randomUUID().slice(0, 8)}@Example.com`;
    await create(user(userName));
    for (const variant of [userName, userName.toLowerCase(), userName.toUpperCase()]) {
      const res = await scim('POST', `${gw.api}/Users`, t, user(variant));
      expectScimError(res, 409, 'uniqueness');
      expect(res.body.status).toBe('409');
    }
    const listed = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`, t);
    expect(listed.body.totalResults).toBe(1);
  });

  test('PUT renaming onto another user\'s userName (other case) → 409 and nothing changes', async () => {
    const a = await create(user(unique('put-uniq-a')));
    const b = await create(user(unique('put-uniq-b'), { displayName: 'B' }));
    const res = await scim('PUT', `${gw.api}/Users/${b.id}`, t, user(a.userName.toUpperCase(), { displayName: 'B renamed' }));
    expectScimError(res, 409, 'uniqueness');
    const read = await scim('GET', `${gw.api}/Users/${b.id}`, t);
    expect(read.body.userName).toBe(b.userName);
    expect(read.body.displayName).toBe('B');
    expect(read.body.meta.version).toBe('W/"1"');
  });

  test('PATCH renaming onto another user\'s userName (other case) → 409 and nothing changes', async () => {
    const a = await create(user(unique('patch-uniq-a')));
    const b = await create(user(unique('patch-uniq-b')));
    const res = await scim('PATCH', `${gw.api}/Users/${b.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'userName', value: a.userName.toUpperCase() }],
    });
    expectScimError(res, 409, 'uniqueness');
    const read = await scim('GET', `${gw.api}/Users/${b.id}`, t);
    expect(read.body.userName).toBe(b.userName);
    expect(read.body.meta.version).toBe('W/"1"');
  });

  test('a user may change the case of its own userName', async () => {
    const a = await create(user(unique('self-case')));
    const res = await scim('PUT', `${gw.api}/Users/${a.id}`, t, user(a.userName.toUpperCase()));
    expect(res.status).toBe(200);
    expect(res.body.userName).toBe(a.userName.toUpperCase());
  });

  test('the same userName is allowed in another tenant', async () => {
    const userName = unique('two-tenants');
    const other = await gw.token('users-b');
    const a = await create(user(userName));
    const b = await create(user(userName), other);
    expect(b.id).not.toBe(a.id);
    // Each tenant sees its own one.
    const inA = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`, t);
    const inB = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`, other);
    expect(inA.body.Resources.map((r: any) => r.id)).toEqual([a.id]);
    expect(inB.body.Resources.map((r: any) => r.id)).toEqual([b.id]);
    // A rename in the other tenant onto a name taken only here is fine too.
    const c = await create(user(unique('two-tenants-c')));
    const renamed = await scim('PATCH', `${gw.api}/Users/${b.id}`, other, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'userName', value: c.userName }],
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body.userName).toBe(c.userName);
  });
});
