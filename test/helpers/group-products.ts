// The three group APIs seen one way, for suites that run the same scenario against each: a view over each product's
// emulator (ids as strings; its request log and faults as they are) and the calls each documents.
import type { Emulator } from '../fixtures/emulators/common';
import { startKonstantlyEmulator } from '../fixtures/emulators/konstantly';
import { startSelfCommunityEmulator } from '../fixtures/emulators/selfcommunity';
import { startTimeslotEmulator } from '../fixtures/emulators/timeslot';

export type Call = { method: string; path: string; query: Record<string, unknown>; body: unknown };

/** A product's emulator seen the same way for all three: ids as strings (the group APIs use integer group ids). */
export type View = Emulator & {
  addUser(email: string): string;
  addGroup(name: string): string;
  members(group: string): string[];
  name(group: string): string | undefined;
  groupNamed(name: string): string | undefined;
  /** Whether the group is gone (deleted or, at Timeslot, soft-deleted). */
  deleted(group: string): boolean;
  /** Drift behind the gateway's back, as an admin working in the product would make it (no API call, no log entry). */
  drift: Drift;
};

interface Drift {
  addMember(group: string, user: string): void;
  removeMember(group: string, user: string): void;
  rename(group: string, name: string): void;
}

/** How to change one product's state directly. */
type Membership = (group: number) => { add(user: string): void; delete(user: string): void };

interface GroupEmulator extends Emulator {
  readonly groups: Map<number, { id: number; name: string }>;
  addUser(email: string): number | string;
  addGroup(name: string): number;
  members(group: number): (number | string)[];
  group(group: number): { name: string } | undefined;
}

/** A view over the emulator (its request log and faults as they are). */
function view(em: GroupEmulator, deleted: (group: number) => boolean, membership: Membership): View {
  const drift: Drift = {
    addMember: (g, u) => membership(Number(g)).add(u),
    removeMember: (g, u) => membership(Number(g)).delete(u),
    rename: (g, name) => { em.groups.get(Number(g))!.name = name; },
  };
  return Object.assign(Object.create(em) as Emulator, {
    drift,
    addUser: (email: string) => String(em.addUser(email)),
    addGroup: (name: string) => String(em.addGroup(name)),
    members: (g: string) => em.members(Number(g)).map(String),
    name: (g: string) => em.group(Number(g))?.name,
    groupNamed: (name: string) => { const g = [...em.groups.values()].find((x) => x.name === name); return g && String(g.id); },
    deleted: (g: string) => deleted(Number(g)),
  });
}

/** One product: its emulator, the calls it documents. */
export interface Product {
  kind: 'selfcommunity' | 'timeslot' | 'konstantly';
  auth: [header: string, value: string];
  start(): Promise<View>;
  /** The lookup by e-mail, the member add (ids as the API takes them), one removal, a rename, a create, a delete. */
  search(email: string): Call;
  add(group: string, users: string[]): Call;
  remove(group: string, user: string): Call;
  rename(group: string, name: string): Call;
  create(name: string): Call;
  del(group: string): Call;
  /** Status of a successful member add. */
  addStatus: number;
}

const num = Number;

/** SelfCommunity, Timeslot and Konstantly, their emulators accepting `credential`. */
export function groupProducts(CRED: string): Product[] {
  return [
    {
      kind: 'selfcommunity', auth: ['authorization', `Bearer ${CRED}`], addStatus: 204,
      start: async () => {
        const em = await startSelfCommunityEmulator({ credential: CRED });
        return view(em, (g) => em.group(g) === undefined, (g) => {
          const set = em.groups.get(g)!.members;
          return { add: (u) => set.add(Number(u)), delete: (u) => set.delete(Number(u)) };
        });
      },
      search: (email) => ({ method: 'GET', path: '/api/v2/account/search/', query: { email }, body: undefined }),
      add: (g, users) => ({ method: 'POST', path: `/api/v2/group/${g}/subscribe/`, query: {}, body: { users: users.map(num) } }),
      remove: (g, u) => ({ method: 'DELETE', path: `/api/v2/group/${g}/subscribe/`, query: { user: u }, body: undefined }),
      rename: (g, name) => ({ method: 'PATCH', path: `/api/v2/group/${g}/`, query: {}, body: { name } }),
      create: (name) => ({ method: 'POST', path: '/api/v2/group/', query: {}, body: { name, privacy: 'private' } }),
      del: (g) => ({ method: 'DELETE', path: `/api/v2/group/${g}/`, query: {}, body: undefined }),
    },
    {
      kind: 'timeslot', auth: ['authorization', `Token token=${CRED}`], addStatus: 201,
      start: async () => {
        const em = await startTimeslotEmulator({ credential: CRED });
        return view(em, (g) => em.group(g)?.deletedAt != null, (g) => { // Timeslot soft-deletes
          const m = em.groups.get(g)!.memberships;
          return { add: (u) => m.set(Number(u), '111'), delete: (u) => m.delete(Number(u)) };
        });
      },
      search: (email) => ({ method: 'GET', path: '/v1/search/user', query: { query: email, attr: 'email' }, body: undefined }),
      add: (g, users) => ({ method: 'POST', path: `/v1/groups/${g}/members`, query: {}, body: { invitees: users.map(num) } }),
      remove: (g, u) => ({ method: 'DELETE', path: `/v1/groups/${g}/members/${u}`, query: {}, body: undefined }),
      rename: (g, name) => ({ method: 'PATCH', path: `/v1/groups/${g}`, query: {}, body: { name } }),
      create: (name) => ({ method: 'POST', path: '/v1/groups', query: {}, body: { name } }),
      del: (g) => ({ method: 'DELETE', path: `/v1/groups/${g}`, query: {}, body: undefined }),
    },
    {
      kind: 'konstantly', auth: ['x-api-key', CRED], addStatus: 200,
      start: async () => {
        const em = await startKonstantlyEmulator({ credential: CRED });
        return view(em, (g) => em.group(g) === undefined, (g) => {
          const set = em.groups.get(g)!.members;
          return { add: (u) => set.add(u), delete: (u) => set.delete(u) };
        });
      },
      // The e-mail is one encoded path segment ("@" → %40).
      search: (email) => ({ method: 'GET', path: `/openapi/v1/users/byEmail/${encodeURIComponent(email)}`, query: {}, body: undefined }),
      add: (g, users) => ({ method: 'POST', path: `/openapi/v1/groups/${g}/users`, query: {}, body: { users } }),
      remove: (g, u) => ({ method: 'DELETE', path: `/openapi/v1/groups/${g}/users/${u}`, query: {}, body: undefined }),
      rename: (g, name) => ({ method: 'PATCH', path: `/openapi/v1/groups/${g}`, query: {}, body: { name } }),
      create: (name) => ({ method: 'POST', path: '/openapi/v1/groups', query: {}, body: { name } }),
      del: (g) => ({ method: 'DELETE', path: `/openapi/v1/groups/${g}`, query: {}, body: undefined }),
    },
  ];
  }
