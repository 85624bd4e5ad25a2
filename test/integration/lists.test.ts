// List requests over real HTTP against a real SQLite file: filters (every operator, logic, nesting, escapes,
// case rules, URNs, value paths, errors), paging, sorting, attribute selection and POST .search.
import {
  ERROR_SCHEMA, group, PATCH_SCHEMA, scim, startGateway, user, USER_SCHEMA, type TestGateway,
} from '../helpers/gateway';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const SEARCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

let gw: TestGateway;
/** A second gateway advertising maxResults 5, for paging. */
let small: TestGateway;
let t: string;
let pt: string;

/** Fixture users by label; the tenant holds nothing else. */
const U: Record<string, any> = {};
const G: Record<string, any> = {};
const byId = new Map<string, string>();
const PAGED: string[] = [];

beforeAll(async () => {
  gw = await startGateway();
  small = await startGateway({ maxResults: 5 });
  t = await gw.token('lists');
  pt = await small.token('paging');

  const fixtures: [string, Record<string, unknown>][] = [
    ['alice', user('alice@corp.example', {
      displayName: 'Alice Anderson', externalId: 'EXT-Alice', name: { givenName: 'Alice', familyName: 'Anderson' },
      emails: [{ value: 'alice@corp.example', type: 'work', primary: true }, { value: 'alice@home.example', type: 'home' }],
      schemas: [USER_SCHEMA, ENTERPRISE], [ENTERPRISE]: { department: 'R&D', employeeNumber: '100' },
    })],
    ['bob', user('bob@corp.example', {
      displayName: 'Bob Brown', externalId: 'ext-bob', active: false, name: { familyName: 'Brown' },
      emails: [{ value: 'Bob@Corp.Example', type: 'work' }],
      schemas: [USER_SCHEMA, ENTERPRISE], [ENTERPRISE]: { department: 'Sales' },
    })],
    ['carol', user('carol@other.example', {
      displayName: 'Carol Clark', name: { familyName: 'Clark' },
      // The work address is not @corp; the home one is: a value path must match within one element.
      emails: [{ value: 'carol@personal.example', type: 'work' }, { value: 'carol@corp.example', type: 'home' }],
    })],
    ['dave', user('o"neil', {})],
    ['eve', user('Eve.Upper@Corp.Example', {
      displayName: 'eve evans', externalId: 'EXT-EVE', active: false, name: { familyName: 'Evans' },
      emails: [{ value: 'eve@corp.example', type: 'work' }],
    })],
  ];
  for (const [label, body] of fixtures) {
    const res = await scim('POST', `${gw.api}/Users`, t, body);
    if (res.status !== 201) throw new Error(`fixture ${label}: ${res.status} ${res.text}`);
    U[label] = res.body;
    byId.set(res.body.id, label);
  }
  // A later write to dave, so his lastModified is the newest.
  const patched = await scim('PATCH', `${gw.api}/Users/${U.dave.id}`, t, {
    schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'nickName', value: 'Davey' }],
  });
  if (patched.status !== 200) throw new Error(`patch dave: ${patched.status} ${patched.text}`);
  U.dave = patched.body;

  for (const [label, members] of [['Engineering', [U.alice.id, U.bob.id]], ['Sales', [U.carol.id]], ['Empty Team', []]] as const) {
    const res = await scim('POST', `${gw.api}/Groups`, t, group(label, [...members], { externalId: `G-${label}` }));
    if (res.status !== 201) throw new Error(`fixture group ${label}: ${res.status} ${res.text}`);
    G[label] = res.body;
    byId.set(res.body.id, label);
  }

  for (let i = 1; i <= 12; i++) {
    const res = await scim('POST', `${small.api}/Users`, pt, user(`page-${String(i).padStart(2, '0')}@example.com`));
    if (res.status !== 201) throw new Error(`paging fixture ${i}: ${res.status} ${res.text}`);
    PAGED.push(res.body.id);
  }
});
afterAll(async () => {
  await gw?.close();
  await small?.close();
});

function checkList(res: { status: number; headers: Headers; body: any; text: string }) {
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
  expect(res.body.schemas).toEqual([LIST_SCHEMA]);
  const resources = res.body.Resources ?? [];
  expect(res.body.itemsPerPage).toBe(resources.length);
  expect(typeof res.body.totalResults).toBe('number');
  return resources as any[];
}

type Query = Record<string, string | number | undefined>;

async function list(type: 'Users' | 'Groups', query: Query, base = gw.api, token = t) {
  const entries: [string, string][] = [];
  for (const [k, v] of Object.entries(query)) if (v !== undefined) entries.push([k, String(v)]);
  const qs = new URLSearchParams(entries).toString();
  return scim('GET', `${base}/${type}${qs ? `?${qs}` : ''}`, token);
}

/** Labels of the users (or groups) a filter matches, sorted; also checks the list's counters. */
async function match(filter: string, type: 'Users' | 'Groups' = 'Users'): Promise<string[]> {
  const res = await list(type, { filter });
  const resources = checkList(res);
  expect(res.body.totalResults).toBe(resources.length);
  return resources.map((r) => byId.get(r.id) ?? `?${r.id}`).sort();
}

async function expectInvalidFilter(filter: string, type: 'Users' | 'Groups' = 'Users') {
  const res = await list(type, { filter });
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
  expect(res.body.schemas).toEqual([ERROR_SCHEMA]);
  expect(res.body.status).toBe('400');
  expect(res.body.scimType).toBe('invalidFilter');
}

const ALL = ['alice', 'bob', 'carol', 'dave', 'eve'];

describe('filter: every operator on userName (caseExact false)', () => {
  test.each([
    ['userName eq "alice@corp.example"', ['alice']],
    ['userName eq "ALICE@Corp.EXAMPLE"', ['alice']],
    ['userName eq "eve.upper@corp.example"', ['eve']],
    ['userName ne "alice@corp.example"', ['bob', 'carol', 'dave', 'eve']],
    ['userName ne "ALICE@CORP.EXAMPLE"', ['bob', 'carol', 'dave', 'eve']],
    ['userName co "corp"', ['alice', 'bob', 'eve']],
    ['userName co "CORP"', ['alice', 'bob', 'eve']],
    ['userName sw "B"', ['bob']],
    ['userName sw "eve.UPPER"', ['eve']],
    ['userName ew ".EXAMPLE"', ['alice', 'bob', 'carol', 'eve']],
    ['userName ew "neil"', ['dave']],
    ['userName pr', ALL],
    ['userName gt "carol@other.example"', ['dave', 'eve']],
    ['userName ge "carol@other.example"', ['carol', 'dave', 'eve']],
    ['userName lt "bob@corp.example"', ['alice']],
    ['userName le "BOB@CORP.EXAMPLE"', ['alice', 'bob']],
    ['userName eq "nobody@corp.example"', []],
  ])('%s', async (filter, expected) => {
    expect(await match(filter)).toEqual(expected);
  });
});

describe('filter: other attributes', () => {
  test.each([
    // displayName, caseExact false, absent for dave
    ['displayName eq "bob brown"', ['bob']],
    ['displayName ne "Bob Brown"', ['alice', 'carol', 'dave', 'eve']],
    ['displayName co "AN"', ['alice', 'eve']],
    ['displayName sw "carol"', ['carol']],
    ['displayName ew "EVANS"', ['eve']],
    ['displayName pr', ['alice', 'bob', 'carol', 'eve']],
    ['not (displayName pr)', ['dave']],
    ['displayName gt "c"', ['carol', 'eve']],
    ['displayName le "bob brown"', ['alice', 'bob']],
    // externalId, caseExact true
    ['externalId eq "EXT-Alice"', ['alice']],
    ['externalId eq "ext-alice"', []],
    ['externalId eq "EXT-ALICE"', []],
    ['externalId sw "EXT"', ['alice', 'eve']],
    ['externalId sw "ext"', ['bob']],
    ['externalId co "-"', ['alice', 'bob', 'eve']],
    ['externalId ew "bob"', ['bob']],
    ['externalId ew "BOB"', []],
    ['externalId pr', ['alice', 'bob', 'eve']],
    ['externalId ne "EXT-Alice"', ['bob', 'carol', 'dave', 'eve']],
    ['externalId gt "EXT-B"', ['bob', 'eve']],
    ['externalId lt "EXT-B"', ['alice']],
    // active (boolean)
    ['active eq true', ['alice', 'carol', 'dave']],
    ['active eq false', ['bob', 'eve']],
    ['active ne true', ['bob', 'eve']],
    ['active pr', ALL],
    // emails.value (multi-valued, caseExact false)
    ['emails.value eq "bob@corp.example"', ['bob']],
    ['emails.value eq "BOB@CORP.EXAMPLE"', ['bob']],
    ['emails.value co "@corp"', ['alice', 'bob', 'carol', 'eve']],
    ['emails.value sw "ALICE@"', ['alice']],
    ['emails.value ew "@home.example"', ['alice']],
    ['emails.value ne "bob@corp.example"', ['alice', 'carol', 'dave', 'eve']],
    ['emails.value gt "d"', ['eve']],
    ['emails.value pr', ['alice', 'bob', 'carol', 'eve']],
    ['emails pr', ['alice', 'bob', 'carol', 'eve']],
    ['emails co "home"', ['alice']],
    ['emails.type eq "HOME"', ['alice', 'carol']],
    ['emails.primary eq true', ['alice']],
    // name.familyName (no column: answered from the stored JSON), caseExact false
    ['name.familyName eq "anderson"', ['alice']],
    ['name.familyName eq "ANDERSON"', ['alice']],
    ['name.familyName ne "Anderson"', ['bob', 'carol', 'dave', 'eve']],
    ['name.familyName co "ar"', ['carol']],
    ['name.familyName sw "b"', ['bob']],
    ['name.familyName ew "S"', ['eve']],
    ['name.familyName pr', ['alice', 'bob', 'carol', 'eve']],
    ['name.familyName gt "Clark"', ['eve']],
    ['name.familyName le "brown"', ['alice', 'bob']],
    ['nickName eq "Davey"', ['dave']],
    // enterprise extension attributes by URN (JSON fallback)
    [`${ENTERPRISE}:department eq "r&d"`, ['alice']],
    [`${ENTERPRISE}:department pr`, ['alice', 'bob']],
    [`${ENTERPRISE}:employeeNumber eq "100"`, ['alice']],
  ])('%s', async (filter, expected) => {
    expect(await match(filter)).toEqual(expected);
  });

  test('id eq / ne / pr', async () => {
    expect(await match(`id eq "${U.carol.id}"`)).toEqual(['carol']);
    expect(await match(`id ne "${U.carol.id}"`)).toEqual(['alice', 'bob', 'dave', 'eve']);
    expect(await match(`id eq "${U.carol.id.toUpperCase()}"`)).toEqual([]);
    expect(await match(`id eq "${U.carol.id}" or id eq "${U.eve.id}"`)).toEqual(['carol', 'eve']);
    expect(await match('id pr')).toEqual(ALL);
  });

  test('meta.created: gt ge lt le eq', async () => {
    const c = (label: string) => U[label].meta.created as string;
    expect(await match(`meta.created gt "${c('alice')}"`)).toEqual(['bob', 'carol', 'dave', 'eve']);
    expect(await match(`meta.created ge "${c('alice')}"`)).toEqual(ALL);
    expect(await match(`meta.created lt "${c('carol')}"`)).toEqual(['alice', 'bob']);
    expect(await match(`meta.created le "${c('carol')}"`)).toEqual(['alice', 'bob', 'carol']);
    expect(await match(`meta.created eq "${c('bob')}"`)).toEqual(['bob']);
    expect(await match(`meta.created gt "${c('bob')}" and meta.created lt "${c('eve')}"`)).toEqual(['carol', 'dave']);
    expect(await match('meta.created gt "2000-01-01T00:00:00Z"')).toEqual(ALL);
    expect(await match('meta.created lt "2000-01-01T00:00:00Z"')).toEqual([]);
    expect(await match('meta.created pr')).toEqual(ALL);
  });

  test('meta.lastModified: only the user written last is newer than everyone\'s creation', async () => {
    expect(Date.parse(U.dave.meta.lastModified)).toBeGreaterThan(Date.parse(U.eve.meta.created));
    expect(await match(`meta.lastModified gt "${U.eve.meta.lastModified}"`)).toEqual(['dave']);
    expect(await match(`meta.lastModified ge "${U.dave.meta.lastModified}"`)).toEqual(['dave']);
    expect(await match(`meta.lastModified lt "${U.dave.meta.lastModified}"`)).toEqual(['alice', 'bob', 'carol', 'eve']);
    expect(await match(`meta.lastModified le "${U.alice.meta.lastModified}"`)).toEqual(['alice']);
  });

  test('an escaped quote inside a value: userName eq "o\\"neil"', async () => {
    expect(await match('userName eq "o\\"neil"')).toEqual(['dave']);
    expect(await match('userName sw "o\\""')).toEqual(['dave']);
    expect(await match('userName co "\\"ne"')).toEqual(['dave']);
  });

  test('attribute names are case-insensitive', async () => {
    expect(await match('UserName eq "alice@corp.example"')).toEqual(['alice']);
    expect(await match('USERNAME eq "alice@corp.example"')).toEqual(['alice']);
    expect(await match('EMAILS.VALUE eq "bob@corp.example"')).toEqual(['bob']);
    expect(await match('Emails.Value co "@home"')).toEqual(['alice']);
    expect(await match('ACTIVE eq false')).toEqual(['bob', 'eve']);
    expect(await match('NAME.FAMILYNAME eq "clark"')).toEqual(['carol']);
    expect(await match('externalID eq "ext-bob"')).toEqual(['bob']);
    expect(await match('META.CREATED ge "2000-01-01T00:00:00Z"')).toEqual(ALL);
    expect(await match('emails[TYPE eq "work" and VALUE co "@corp"]')).toEqual(['alice', 'bob', 'eve']);
  });

  test('operators are case-insensitive', async () => {
    expect(await match('userName EQ "alice@corp.example"')).toEqual(['alice']);
    expect(await match('userName Sw "b" OR userName sw "c"')).toEqual(['bob', 'carol']);
    expect(await match('NOT (active eq true) AND displayName PR')).toEqual(['bob', 'eve']);
  });

  test('URN-qualified attribute names', async () => {
    expect(await match(`${USER_SCHEMA}:userName eq "alice@corp.example"`)).toEqual(['alice']);
    expect(await match(`${USER_SCHEMA.toUpperCase()}:USERNAME eq "alice@corp.example"`)).toEqual(['alice']);
    expect(await match(`${USER_SCHEMA}:emails.value eq "eve@corp.example"`)).toEqual(['eve']);
    expect(await match(`${USER_SCHEMA}:name.familyName eq "Brown"`)).toEqual(['bob']);
    expect(await match(`${USER_SCHEMA}:emails[type eq "work" and value co "@corp"]`)).toEqual(['alice', 'bob', 'eve']);
    expect(await match('urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "sales"', 'Groups')).toEqual(['Sales']);
  });

  test('value path: emails[type eq "work" and value co "@corp"] matches within one element', async () => {
    expect(await match('emails[type eq "work" and value co "@corp"]')).toEqual(['alice', 'bob', 'eve']);
    expect(await match('emails[type eq "home" and value co "@corp"]')).toEqual(['carol']);
    expect(await match('emails[type eq "work" or type eq "home"]')).toEqual(['alice', 'bob', 'carol', 'eve']);
    expect(await match('emails[not (type eq "work")]')).toEqual(['alice', 'carol']);
    expect(await match('emails[value pr]')).toEqual(['alice', 'bob', 'carol', 'eve']);
    expect(await match('emails[primary eq true]')).toEqual(['alice']);
    expect(await match('emails[type eq "work" and value co "@corp"] and active eq false')).toEqual(['bob', 'eve']);
    expect(await match('not (emails[type eq "work"])')).toEqual(['dave']);
  });

  test('Groups: displayName (caseExact false), externalId, members.value, members[value eq], members pr', async () => {
    expect(await match('displayName eq "engineering"', 'Groups')).toEqual(['Engineering']);
    expect(await match('DisplayName sw "E"', 'Groups')).toEqual(['Empty Team', 'Engineering']);
    expect(await match('displayName co "team"', 'Groups')).toEqual(['Empty Team']);
    expect(await match('displayName ne "Sales"', 'Groups')).toEqual(['Empty Team', 'Engineering']);
    expect(await match('externalId eq "G-Sales"', 'Groups')).toEqual(['Sales']);
    expect(await match('externalId eq "g-sales"', 'Groups')).toEqual([]);
    expect(await match(`members.value eq "${U.alice.id}"`, 'Groups')).toEqual(['Engineering']);
    expect(await match(`members.value eq "${U.carol.id}" or members.value eq "${U.bob.id}"`, 'Groups')).toEqual(['Engineering', 'Sales']);
    expect(await match(`members.value ne "${U.alice.id}"`, 'Groups')).toEqual(['Empty Team', 'Sales']);
    expect(await match(`members[value eq "${U.carol.id}"]`, 'Groups')).toEqual(['Sales']);
    expect(await match(`MEMBERS.VALUE eq "${U.bob.id}"`, 'Groups')).toEqual(['Engineering']);
    expect(await match('members pr', 'Groups')).toEqual(['Engineering', 'Sales']);
    expect(await match('not (members pr)', 'Groups')).toEqual(['Empty Team']);
    expect(await match(`id eq "${G.Sales.id}"`, 'Groups')).toEqual(['Sales']);
    expect(await match(`meta.created gt "${G.Engineering.meta.created}"`, 'Groups')).toEqual(['Empty Team', 'Sales']);
    expect(await match(`meta.lastModified le "${G.Engineering.meta.lastModified}"`, 'Groups')).toEqual(['Engineering']);
  });
});

describe('filter: logic', () => {
  test.each([
    ['userName sw "a" or userName sw "b"', ['alice', 'bob']],
    ['active eq true and emails.value co "@corp"', ['alice', 'carol']],
    ['not (active eq true)', ['bob', 'eve']],
    ['not (userName sw "a" or userName sw "b")', ['carol', 'dave', 'eve']],
    ['userName sw "a" or userName sw "b" and active eq true', ['alice']],
    ['active eq false and userName sw "b" or userName sw "c"', ['bob', 'carol']],
    ['((userName sw "a" or userName sw "c") and (active eq false or (emails.value co "corp" and not (externalId pr))))', ['carol']],
    ['((userName sw "a" or userName sw "e") and (active eq true or (emails.value co "corp" and not (displayName pr))))', ['alice']],
    ['((userName sw "a" or userName sw "b") and (active eq false or (name.familyName pr and not (externalId eq "x"))))', ['alice', 'bob']],
    ['(((((userName eq "o\\"neil")))))', ['dave']],
    ['not (not (active eq false))', ['bob', 'eve']],
    ['externalId pr and not (externalId sw "EXT")', ['bob']],
  ])('%s', async (filter, expected) => {
    expect(await match(filter)).toEqual(expected);
  });

  test('a pathological filter (16 parenthesised OR pairs joined by AND) answers 200 with the right result', async () => {
    const pairs: string[] = [];
    for (let i = 1; i <= 16; i++) {
      // In each pair exactly one side holds for alice and neither for anyone else (except where noted).
      pairs.push(i % 2 === 0
        ? `(userName eq "a${i}" or userName eq "alice@corp.example")`
        : `(userName eq "alice@corp.example" or userName eq "b${i}")`);
    }
    expect(await match(pairs.join(' and '))).toEqual(['alice']);

    const mixed: string[] = [];
    for (let i = 1; i <= 16; i++) mixed.push(`(userName eq "a${i}" or userName eq "b${i}")`);
    const none = await list('Users', { filter: mixed.join(' and ') });
    expect(checkList(none)).toEqual([]);
    expect(none.body.totalResults).toBe(0);

    const wide: string[] = [];
    for (let i = 1; i <= 16; i++) wide.push(`(active eq true or active eq false)`);
    expect(await match(wide.join(' and '))).toEqual(ALL);
  });
});

describe('filter: errors', () => {
  test.each([
    'nickNamez eq "x"',
    'emails.bogus eq "x"',
    'name.nope eq "x"',
    'groups.value eq "x"',
    `${ENTERPRISE}:nope eq "x"`,
    'urn:example:unknown:userName eq "x"',
    'phoneNumbers[type eq "work"]',
    'emails[nope eq "x"]',
  ])('unknown attribute %s → 400 invalidFilter', async (filter) => {
    await expectInvalidFilter(filter);
  });

  test('a User attribute on Groups → 400 invalidFilter', async () => {
    await expectInvalidFilter('userName eq "x"', 'Groups');
    await expectInvalidFilter('emails[type eq "work"]', 'Groups');
  });

  test.each([
    '(userName eq "a"',
    'userName eq "a")',
    '((userName eq "a") or (userName eq "b")',
    'userName eq',
    'userName eq alice',
    'userName eq "unterminated',
    'userName zz "a"',
    'userName eq "a" and',
    'and userName eq "a"',
    'emails[type eq "work"',
    '',
  ])('bad syntax %j → 400 invalidFilter', async (filter) => {
    await expectInvalidFilter(filter);
  });

  test.each([
    'active eq "yes"',
    'active gt true',
    'meta.created eq "yesterday"',
    'meta.created co "2024"',
  ])('a value of the wrong type %s → 400 invalidFilter', async (filter) => {
    await expectInvalidFilter(filter);
  });
});

describe('paging (gateway with maxResults 5, 12 users)', () => {
  const page = async (query: Record<string, string | number>) => {
    const res = await list('Users', query, small.api, pt);
    const resources = checkList(res);
    expect(res.body.totalResults).toBe(12);
    return { body: res.body, ids: resources.map((r) => r.id) };
  };

  test('startIndex and count are 1-based and walk the list in creation order', async () => {
    const p1 = await page({ startIndex: 1, count: 5 });
    expect(p1.ids).toEqual(PAGED.slice(0, 5));
    expect(p1.body.startIndex).toBe(1);
    expect(p1.body.itemsPerPage).toBe(5);
    const p2 = await page({ startIndex: 6, count: 5 });
    expect(p2.ids).toEqual(PAGED.slice(5, 10));
    expect(p2.body.startIndex).toBe(6);
    const p3 = await page({ startIndex: 11, count: 5 });
    expect(p3.ids).toEqual(PAGED.slice(10));
    expect(p3.body.itemsPerPage).toBe(2);
    const odd = await page({ startIndex: 3, count: 2 });
    expect(odd.ids).toEqual(PAGED.slice(2, 4));
  });

  test('count=0 returns totalResults only', async () => {
    const p = await page({ count: 0 });
    expect(p.ids).toEqual([]);
    expect(p.body.itemsPerPage).toBe(0);
    expect(p.body.totalResults).toBe(12);
  });

  test('a negative count is treated as 0', async () => {
    const p = await page({ count: -3 });
    expect(p.ids).toEqual([]);
    expect(p.body.totalResults).toBe(12);
  });

  test('startIndex beyond the total → empty Resources with the exact totalResults', async () => {
    for (const startIndex of [13, 100]) {
      const p = await page({ startIndex, count: 5 });
      expect(p.ids).toEqual([]);
      expect(p.body.itemsPerPage).toBe(0);
      expect(p.body.totalResults).toBe(12);
    }
  });

  test('startIndex below 1 is treated as 1', async () => {
    for (const startIndex of [0, -7]) {
      const p = await page({ startIndex, count: 3 });
      expect(p.ids).toEqual(PAGED.slice(0, 3));
      expect(p.body.startIndex).toBe(1);
    }
  });

  test('count above maxResults is capped; no count means maxResults', async () => {
    const big = await page({ count: 100 });
    expect(big.ids).toEqual(PAGED.slice(0, 5));
    expect(big.body.itemsPerPage).toBe(5);
    const none = await page({});
    expect(none.ids).toEqual(PAGED.slice(0, 5));
    const later = await page({ startIndex: 9, count: 1000 });
    expect(later.ids).toEqual(PAGED.slice(8, 12));
  });

  test('paging combines with a filter; totalResults counts the filtered set', async () => {
    const res = await list('Users', { filter: 'userName sw "page-1"', startIndex: 2, count: 2 }, small.api, pt);
    const resources = checkList(res);
    // page-10, page-11, page-12 match.
    expect(res.body.totalResults).toBe(3);
    expect(resources.map((r) => r.id)).toEqual(PAGED.slice(10, 12));
  });

  test('a non-integer count or startIndex → 400', async () => {
    for (const q of [{ count: 'ten' }, { startIndex: '1.5' }] as Query[]) {
      const res = await list('Users', q, small.api, pt);
      expect(res.status).toBe(400);
      expect(res.body.schemas).toEqual([ERROR_SCHEMA]);
    }
  });
});

describe('sorting', () => {
  const order = async (query: Record<string, string>, type: 'Users' | 'Groups' = 'Users') => {
    const resources = checkList(await list(type, query));
    return resources.map((r) => byId.get(r.id));
  };

  test('sortBy userName ascending (default) and descending, case-insensitively', async () => {
    const asc = ['alice', 'bob', 'carol', 'eve', 'dave']; // eve.upper@ < o"neil
    expect(await order({ sortBy: 'userName' })).toEqual(asc);
    expect(await order({ sortBy: 'userName', sortOrder: 'ascending' })).toEqual(asc);
    expect(await order({ sortBy: 'userName', sortOrder: 'descending' })).toEqual([...asc].reverse());
    expect(await order({ sortBy: 'UserName', sortOrder: 'DESCENDING' })).toEqual([...asc].reverse());
    expect(await order({ sortBy: `${USER_SCHEMA}:userName` })).toEqual(asc);
  });

  test('sortBy displayName puts users without one last', async () => {
    expect(await order({ sortBy: 'displayName' })).toEqual(['alice', 'bob', 'carol', 'eve', 'dave']);
  });

  test('sorting combines with filter and paging', async () => {
    const res = await list('Users', { filter: 'emails.value co "@corp"', sortBy: 'userName', sortOrder: 'descending', startIndex: 2, count: 2 });
    const resources = checkList(res);
    expect(res.body.totalResults).toBe(4);
    expect(resources.map((r) => byId.get(r.id))).toEqual(['carol', 'bob']);
  });

  test('Groups sort by displayName', async () => {
    expect(await order({ sortBy: 'displayName' }, 'Groups')).toEqual(['Empty Team', 'Engineering', 'Sales']);
    expect(await order({ sortBy: 'displayName', sortOrder: 'descending' }, 'Groups')).toEqual(['Sales', 'Engineering', 'Empty Team']);
  });

  test('an unknown sortBy → 400; a bad sortOrder → 400', async () => {
    for (const q of [{ sortBy: 'nickNamez' }, { sortBy: 'emails.value' }, { sortBy: 'userName', sortOrder: 'sideways' }] as Query[]) {
      const res = await list('Users', q);
      expect(res.status).toBe(400);
      expect(res.body.schemas).toEqual([ERROR_SCHEMA]);
      expect(res.body.status).toBe('400');
    }
  });
});

describe('attributes and excludedAttributes', () => {
  test('attributes=userName,emails returns only those (plus id)', async () => {
    const res = await list('Users', { filter: 'userName eq "alice@corp.example"', attributes: 'userName,emails' });
    const [r] = checkList(res);
    expect(r.id).toBe(U.alice.id);
    expect(r.userName).toBe('alice@corp.example');
    expect(r.emails).toHaveLength(2);
    expect(r.displayName).toBeUndefined();
    expect(r.name).toBeUndefined();
    expect(r.externalId).toBeUndefined();
    expect(r.active).toBeUndefined();
    expect(r[ENTERPRISE]).toBeUndefined();
  });

  test('attributes with a sub-attribute: emails.value', async () => {
    const [r] = checkList(await list('Users', { filter: `id eq "${U.alice.id}"`, attributes: 'emails.value' }));
    expect(r.id).toBe(U.alice.id);
    expect(r.emails.map((e: any) => e.value).sort()).toEqual(['alice@corp.example', 'alice@home.example']);
    for (const e of r.emails) expect(e.type).toBeUndefined();
    expect(r.userName).toBeUndefined();
    // Same on a single GET, and for name.familyName (alice carries enterprise data: this used to be a 400).
    const one = await scim('GET', `${gw.api}/Users/${U.alice.id}?attributes=name.familyName`, t);
    expect(one.status).toBe(200);
    expect(one.body.name).toEqual({ familyName: 'Anderson' });
    expect(one.body.userName).toBeUndefined();
  });

  test('attributes naming an enterprise extension attribute', async () => {
    const res = await scim('GET', `${gw.api}/Users/${U.alice.id}?attributes=userName,${ENTERPRISE}:department`, t);
    expect(res.status).toBe(200);
    expect(res.body.userName).toBe('alice@corp.example');
    expect(res.body[ENTERPRISE]).toEqual({ department: 'R&D' });
    expect(res.body.emails).toBeUndefined();
    const excluded = await scim('GET', `${gw.api}/Users/${U.alice.id}?excludedAttributes=${ENTERPRISE}:department`, t);
    expect(excluded.status).toBe(200);
    expect(excluded.body[ENTERPRISE]).toEqual({ employeeNumber: '100' });
    expect(excluded.body.emails).toHaveLength(2);
  });

  test('excludedAttributes=emails,name leaves the rest', async () => {
    const [r] = checkList(await list('Users', { filter: `id eq "${U.alice.id}"`, excludedAttributes: 'emails,name' }));
    expect(r.id).toBe(U.alice.id);
    expect(r.userName).toBe('alice@corp.example');
    expect(r.displayName).toBe('Alice Anderson');
    expect(r.emails).toBeUndefined();
    expect(r.name).toBeUndefined();
  });

  test('attributes on a single GET', async () => {
    const res = await scim('GET', `${gw.api}/Users/${U.bob.id}?attributes=displayName`, t);
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(U.bob.id);
    expect(res.body.displayName).toBe('Bob Brown');
    expect(res.body.userName).toBeUndefined();
  });

  test('list resources carry meta.location on the mount that was asked', async () => {
    for (const base of [gw.api, gw.sso]) {
      const resources = checkList(await list('Users', { filter: 'userName sw "a"' }, base));
      expect(resources[0].meta.location).toBe(`${base}/Users/${U.alice.id}`);
      const groups = checkList(await list('Groups', { filter: 'displayName eq "Engineering"' }, base));
      expect(groups[0].meta.location).toBe(`${base}/Groups/${G.Engineering.id}`);
      for (const m of groups[0].members) expect(m.$ref).toBe(`${base}/Users/${m.value}`);
    }
  });
});

describe('POST /.search', () => {
  test('POST /Users/.search with a SearchRequest body answers like GET /Users', async () => {
    const res = await scim('POST', `${gw.sso}/Users/.search`, t, {
      schemas: [SEARCH_SCHEMA],
      filter: 'emails[type eq "work" and value co "@corp"]',
      sortBy: 'userName',
      sortOrder: 'descending',
      startIndex: 1,
      count: 2,
      attributes: ['userName', 'emails'],
    });
    const resources = checkList(res);
    expect(res.body.totalResults).toBe(3);
    expect(resources.map((r) => byId.get(r.id))).toEqual(['eve', 'bob']);
    expect(resources[0].userName).toBe('Eve.Upper@Corp.Example');
    expect(resources[0].displayName).toBeUndefined();
    expect(resources[0].emails).toBeDefined();
  });

  test('POST /Users/.search with excludedAttributes and paging', async () => {
    const res = await scim('POST', `${gw.api}/Users/.search`, t, {
      schemas: [SEARCH_SCHEMA], filter: 'active eq true', excludedAttributes: ['emails'], startIndex: 2, count: 1, sortBy: 'userName',
    });
    const resources = checkList(res);
    expect(res.body.totalResults).toBe(3);
    expect(res.body.startIndex).toBe(2);
    expect(resources.map((r) => byId.get(r.id))).toEqual(['carol']);
    expect(resources[0].emails).toBeUndefined();
    expect(resources[0].meta.location).toBe(`${gw.api}/Users/${U.carol.id}`);
  });

  test('POST /Groups/.search', async () => {
    const res = await scim('POST', `${gw.api}/Groups/.search`, t, {
      schemas: [SEARCH_SCHEMA], filter: `members.value eq "${U.carol.id}"`,
    });
    const resources = checkList(res);
    expect(resources.map((r) => byId.get(r.id))).toEqual(['Sales']);
  });

  test('an empty SearchRequest lists everything; a bad filter is 400 invalidFilter', async () => {
    const all = await scim('POST', `${gw.api}/Users/.search`, t, { schemas: [SEARCH_SCHEMA] });
    expect(checkList(all)).toHaveLength(5);
    const bad = await scim('POST', `${gw.api}/Users/.search`, t, { schemas: [SEARCH_SCHEMA], filter: 'userName eq' });
    expect(bad.status).toBe(400);
    expect(bad.body.scimType).toBe('invalidFilter');
    const arr = await scim('POST', `${gw.api}/Users/.search`, t, [{ filter: 'userName pr' }]);
    expect(arr.status).toBe(400);
    expect(arr.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(arr.body.schemas).toEqual([ERROR_SCHEMA]);
    expect(arr.body.scimType).toBe('invalidSyntax');
  });
});
