// What a strict SCIM client finds (issue 19), on both mounts: root POST /.search applies its SearchRequest, every
// representation keeps `schemas` and `id` under `attributes`, canonical values are suggestions, removing the
// enterprise extension (or `active`) works, and every discovery document parses with a model that refuses unknown
// attributes (RFC 7643 §5–§7, RFC 7644 §3.4.2). Store-backed items run on both stores (PostgreSQL pass).
import { randomUUID } from 'node:crypto';
import {
  ENTERPRISE_SCHEMA as E, ERROR_SCHEMA, expectScimError, group, GROUP_SCHEMA, patchOp, scim, startGateway, user, USER_SCHEMA,
  type TestGateway,
} from '../helpers/gateway';

const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

let gw: TestGateway;
beforeAll(async () => { gw = await startGateway(); });
afterAll(async () => { await gw.close(); });

describe.each([['/api/scim/v2', 'api'], ['/sso/scim/v2', 'sso']] as const)('on %s', (_mount, key) => {
  const base = () => gw[key];
  let t: string;
  let alice: any;
  let bob: any;
  let team: any;
  beforeAll(async () => {
    t = await gw.token(`strict-${randomUUID().slice(0, 8)}`);
    alice = (await scim('POST', `${base()}/Users`, t, user('alice@example.com', { externalId: 'ext-a', [E]: { department: 'Sales' } }))).body;
    bob = (await scim('POST', `${base()}/Users`, t, user('bob@example.com', { externalId: 'ext-b' }))).body;
    team = (await scim('POST', `${base()}/Groups`, t, group('Team', [alice.id, bob.id], { externalId: 'ext-g' }))).body;
  });

  test('1. POST /.search applies filter, attributes and paging over Users and Groups; entries carry schemas; sortBy is a SCIM error', async () => {
    const one = await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter: 'userName eq "alice@example.com"' });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ schemas: [LIST], totalResults: 1, itemsPerPage: 1, startIndex: 1 });
    expect(one.body.Resources[0]).toMatchObject({ id: alice.id, schemas: [USER_SCHEMA, E], meta: { resourceType: 'User' } });
    const ext = await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter: 'externalId sw "ext-"', attributes: ['externalId'] });
    expect(ext.body.totalResults).toBe(3);
    expect(ext.body.Resources.map((r: any) => r.id)).toEqual([alice.id, bob.id, team.id]);
    const g = ext.body.Resources[2];
    expect(g).toEqual({ schemas: [GROUP_SCHEMA], id: team.id, externalId: 'ext-g' });
    const paged = await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter: 'externalId sw "ext-"', startIndex: 2, count: 2 });
    expect(paged.body).toMatchObject({ totalResults: 3, itemsPerPage: 2, startIndex: 2 });
    expect(paged.body.Resources.map((r: any) => r.id)).toEqual([bob.id, team.id]);
    const groupsOnly = await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter: 'displayName eq "Team"' });
    expect(groupsOnly.body.Resources.map((r: any) => r.meta.resourceType)).toEqual(['Group']);
    expectScimError(await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], sortBy: 'userName' }), 400, 'invalidValue');
    expectScimError(await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter: 'userName eq' }), 400, 'invalidFilter');
    // Another tenant's resources are never found.
    const other = await gw.token(`strict-other-${randomUUID().slice(0, 8)}`);
    expect((await scim('POST', `${base()}/.search`, other, { schemas: [SEARCH], filter: 'externalId sw "ext-"' })).body.totalResults).toBe(0);
  });

  test('1b. POST /.search: an attribute one type lacks is unassigned there, so or, not and value filters still find the other type', async () => {
    const search = async (filter: string) => {
      const res = await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter });
      expect(res.status).toBe(200);
      return res.body.Resources.map((r: any) => `${r.meta.resourceType}:${r.id}`);
    };
    // userName is a User's only, displayName both types have.
    expect(await search('displayName eq "Team" or userName eq "alice@example.com"')).toEqual([`User:${alice.id}`, `Group:${team.id}`]);
    // "not" of a test that no Group can pass holds for every Group.
    expect(await search('not (userName eq "alice@example.com")')).toEqual([`User:${bob.id}`, `Group:${team.id}`]);
    // members is a Group's only: no User has members, in a plain or a value filter.
    expect(await search(`members.value eq "${alice.id}"`)).toEqual([`Group:${team.id}`]);
    expect(await search(`members[value eq "${bob.id}"] or emails.value eq "nobody@example.com"`)).toEqual([`Group:${team.id}`]);
    // A filter no resource of either type can satisfy is an empty list, not an error.
    const none = await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter: 'userName pr and members pr' });
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ totalResults: 0, Resources: [] });
    // An attribute neither type has is still refused.
    const refused = await scim('POST', `${base()}/.search`, t, { schemas: [SEARCH], filter: 'displayName eq "Team" or shoeSize gt 9' });
    expectScimError(refused, 400, 'invalidFilter');
    expect(refused.body.detail).toContain('shoeSize');
  });

  test('2. attributes= keeps schemas and id on single resources, list entries and PATCH answers', async () => {
    expect((await scim('GET', `${base()}/Users/${alice.id}?attributes=externalId`, t)).body).toEqual({ schemas: [USER_SCHEMA, E], id: alice.id, externalId: 'ext-a' });
    expect((await scim('GET', `${base()}/Users/${bob.id}?attributes=externalId`, t)).body).toEqual({ schemas: [USER_SCHEMA], id: bob.id, externalId: 'ext-b' });
    expect((await scim('GET', `${base()}/Groups/${team.id}?attributes=externalId`, t)).body).toEqual({ schemas: [GROUP_SCHEMA], id: team.id, externalId: 'ext-g' });
    const list = await scim('GET', `${base()}/Users?attributes=externalId&filter=${encodeURIComponent('userName eq "bob@example.com"')}`, t);
    expect(list.body.Resources).toEqual([{ schemas: [USER_SCHEMA], id: bob.id, externalId: 'ext-b' }]);
    const patched = await scim('PATCH', `${base()}/Users/${bob.id}?attributes=id`, t, patchOp([{ op: 'replace', path: 'displayName', value: 'Bob' }]));
    expect(patched.body).toEqual({ schemas: [USER_SCHEMA], id: bob.id });
    const gp = await scim('PATCH', `${base()}/Groups/${team.id}?attributes=id`, t, patchOp([{ op: 'replace', path: 'displayName', value: 'Team' }]));
    expect(gp.body).toEqual({ schemas: [GROUP_SCHEMA], id: team.id });
    // Still right today: a PATCH without attributes answers 204 for a group.
    expect((await scim('PATCH', `${base()}/Groups/${team.id}`, t, patchOp([{ op: 'replace', path: 'displayName', value: 'Team' }]))).status).toBe(204);
  });

  test('3. any string type on roles, x509Certificates and emails; a number is still refused', async () => {
    const res = await scim('POST', `${base()}/Users`, t, user(`typed-${randomUUID().slice(0, 6)}@example.com`, {
      roles: [{ value: 'approver', type: 'Z' }], x509Certificates: [{ value: 'MIIB', type: 'signing' }], emails: [{ value: 'x@school.example', type: 'school' }],
    }));
    expect(res.status).toBe(201);
    expect([res.body.roles[0].type, res.body.x509Certificates[0].type, res.body.emails[0].type]).toEqual(['Z', 'signing', 'school']);
    expectScimError(await scim('POST', `${base()}/Users`, t, user(`n-${randomUUID().slice(0, 6)}@example.com`, { roles: [{ value: 'r', type: 7 }] })), 400, 'invalidValue');
  });

  test('4. remove of the whole enterprise extension removes it; a nested schemas key is ignored; no library text reaches the client', async () => {
    const u = (await scim('POST', `${base()}/Users`, t, user(`ext-${randomUUID().slice(0, 6)}@example.com`, { [E]: { department: 'R&D', costCenter: '7' } }))).body;
    const removed = await scim('PATCH', `${base()}/Users/${u.id}`, t, patchOp([{ op: 'remove', path: E }]));
    expect(removed.status).toBe(200);
    expect(removed.body[E]).toBeUndefined();
    expect(removed.body.schemas).toEqual([USER_SCHEMA]);
    expect((await scim('GET', `${base()}/Users/${u.id}`, t)).body[E]).toBeUndefined();
    // Again, with nothing left to remove: a no-op.
    expect((await scim('PATCH', `${base()}/Users/${u.id}`, t, patchOp([{ op: 'remove', path: E }]))).status).toBe(200);
    const added = await scim('PATCH', `${base()}/Users/${u.id}`, t, patchOp([{ op: 'add', path: E, value: { schemas: [E], department: 'Ops' } }]));
    expect(added.status).toBe(200);
    expect(added.body[E]).toEqual({ department: 'Ops' });
    const noPath = await scim('PATCH', `${base()}/Users/${u.id}`, t, patchOp([{ op: 'replace', value: { [E]: { schemas: [E], department: 'Legal' } } }]));
    expect(noPath.body[E]).toEqual({ department: 'Legal' });
    for (const r of [removed, added, noPath]) expect(JSON.stringify(r.body)).not.toMatch(/Cannot|undefined or null|not extensible/);
  });

  test('5. remove of active leaves it unassigned; a deactivated user stays deactivated for deprovisioning', async () => {
    const u = (await scim('POST', `${base()}/Users`, t, user(`act-${randomUUID().slice(0, 6)}@example.com`))).body;
    const res = await scim('PATCH', `${base()}/Users/${u.id}`, t, patchOp([{ op: 'remove', path: 'active' }]));
    expect(res.status).toBe(200);
    expect(res.body.active).toBeUndefined();
    expect((await scim('GET', `${base()}/Users/${u.id}`, t)).body.active).toBeUndefined();
    // Deprovisioning reads an unassigned `active` as the state before: still active here.
    const active = await scim('GET', `${base()}/Users?filter=${encodeURIComponent(`id eq "${u.id}" and active eq true`)}`, t);
    expect(active.body.totalResults).toBe(1);
    const v = (await scim('POST', `${base()}/Users`, t, user(`deact-${randomUUID().slice(0, 6)}@example.com`, { active: false }))).body;
    await scim('PATCH', `${base()}/Users/${v.id}`, t, patchOp([{ op: 'remove', path: 'active' }]));
    const found = await scim('GET', `${base()}/Users?filter=${encodeURIComponent(`id eq "${v.id}" and active eq false`)}`, t);
    expect(found.body.totalResults).toBe(1);
  });

  test('7. the Group schema advertises User members only, and a Group member is refused as before', async () => {
    const schema = (await scim('GET', `${base()}/Schemas/${GROUP_SCHEMA}`, t)).body;
    const members = schema.attributes.find((a: any) => a.name === 'members');
    expect(members.subAttributes.find((a: any) => a.name === 'type').canonicalValues).toEqual(['User']);
    expect(members.subAttributes.find((a: any) => a.name === '$ref').referenceTypes).toEqual(['User']);
    const res = await scim('PATCH', `${base()}/Groups/${team.id}`, t, patchOp([{ op: 'add', path: 'members', value: [{ value: team.id, type: 'Group' }] }]));
    expect(res.status).toBe(400);
    expect(res.body.schemas).toEqual([ERROR_SCHEMA]);
  });

  test('6. every discovery document parses with models that refuse unknown attributes, and every schema it names is published', async () => {
    const spc = (await scim('GET', `${base()}/ServiceProviderConfig`, t)).body;
    strict(spc, SPC_MODEL, 'ServiceProviderConfig');
    expect(spc.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    const types = (await scim('GET', `${base()}/ResourceTypes`, t)).body;
    strict(types, listModel(RESOURCE_TYPE_MODEL), 'ResourceTypes');
    const schemas = (await scim('GET', `${base()}/Schemas`, t)).body;
    strict(schemas, listModel(SCHEMA_MODEL), 'Schemas');
    const published = new Set(schemas.Resources.map((s: any) => s.id));
    for (const rt of types.Resources) {
      strict((await scim('GET', `${base()}/ResourceTypes/${rt.id}`, t)).body, RESOURCE_TYPE_MODEL, `ResourceTypes/${rt.id}`);
      for (const urn of [rt.schema, ...(rt.schemaExtensions ?? []).map((x: any) => x.schema)]) {
        expect(published.has(urn)).toBe(true);
        const one = await scim('GET', `${base()}/Schemas/${urn}`, t);
        expect(one.status).toBe(200);
        strict(one.body, SCHEMA_MODEL, `Schemas/${urn}`);
      }
    }
  });
});

// ---- strict models (RFC 7643 §5, §6, §7; RFC 7644 §3.4.2 ListResponse) -----------------------------------------

type Model = { [key: string]: true | Model | [Model] };

const META: Model = { resourceType: true, created: true, lastModified: true, location: true, version: true };
const SUPPORTED: Model = { supported: true };
const SPC_MODEL: Model = {
  schemas: true, meta: META, documentationUri: true, patch: SUPPORTED, bulk: { supported: true, maxOperations: true, maxPayloadSize: true },
  filter: { supported: true, maxResults: true }, changePassword: SUPPORTED, sort: SUPPORTED, etag: SUPPORTED,
  authenticationSchemes: [{ type: true, name: true, description: true, specUri: true, documentationUri: true, primary: true }],
};
const RESOURCE_TYPE_MODEL: Model = {
  schemas: true, meta: META, id: true, name: true, description: true, endpoint: true, schema: true, schemaExtensions: [{ schema: true, required: true }],
};
const ATTRIBUTE: Model = {
  name: true, type: true, multiValued: true, description: true, required: true, canonicalValues: true, caseExact: true, mutability: true,
  returned: true, uniqueness: true, referenceTypes: true,
};
ATTRIBUTE.subAttributes = [ATTRIBUTE];
const SCHEMA_MODEL: Model = { schemas: true, meta: META, id: true, name: true, description: true, attributes: [ATTRIBUTE] };
const listModel = (item: Model): Model => ({ schemas: true, totalResults: true, itemsPerPage: true, startIndex: true, Resources: [item] });

/** Throws naming the first attribute the model does not know (a typed client's refusal). */
function strict(value: unknown, model: Model, where: string): void {
  expect(value && typeof value === 'object' && !Array.isArray(value)).toBe(true);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const m = model[k];
    if (m === undefined) throw new Error(`${where}: unknown attribute "${k}"`);
    if (m === true) continue;
    if (Array.isArray(m)) {
      expect(Array.isArray(v)).toBe(true);
      (v as unknown[]).forEach((x, i) => strict(x, m[0], `${where}.${k}[${i}]`));
    } else strict(v, m, `${where}.${k}`);
  }
}
