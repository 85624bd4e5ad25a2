// Coalescing of a group's access events (deprovisioning): a deactivation withdraws, a reactivation restores, an
// identity-provider removal in between is an ordinary removal, and a target that keeps memberships ignores both.
import { coalesce } from '../../src/egress/plan';
import type { QueuedEvent } from '../../src/store/egress-types';
import type { EventType } from '../../src/store/events';

let seq = 0;
const ev = (type: EventType, userIds: string[]): QueuedEvent => ({ seq: ++seq, type, payload: { groupId: 'g', userIds }, attempts: 0, occurredAt: '' });

test('a deactivation removes and is marked withdrawn; a later reactivation restores', () => {
  const off = coalesce('group:g', [ev('group.members_added', ['a', 'b']), ev('group.members_deactivated', ['a'])], { deprovision: true });
  expect(off).toMatchObject({ add: ['b'], remove: ['a'], withdrawn: ['a'] });
  const back = coalesce('group:g', [ev('group.members_deactivated', ['a']), ev('group.members_reactivated', ['a'])], { deprovision: true });
  expect(back).toMatchObject({ add: ['a'], remove: [], withdrawn: [] });
});

test('removed by the identity provider while inactive: an ordinary removal, not restored', () => {
  const set = coalesce('group:g', [ev('group.members_deactivated', ['d']), ev('group.members_removed', ['d'])], { deprovision: true });
  expect(set).toMatchObject({ add: [], remove: ['d'], withdrawn: [] });
});

test('without deprovisioning the access events change nothing', () => {
  const set = coalesce('group:g', [ev('group.members_deactivated', ['a']), ev('group.members_reactivated', ['b'])]);
  expect(set).toMatchObject({ add: [], remove: [], withdrawn: [] });
  expect(set.seqs).toHaveLength(2);
});

test('a group deletion drops the withdrawals before it', () => {
  const set = coalesce('group:g', [ev('group.members_deactivated', ['a']), { ...ev('group.deleted', []), payload: { id: 'g' } }], { deprovision: true });
  expect(set).toMatchObject({ add: [], remove: [], withdrawn: [] });
  expect(set.deleted).toEqual({ id: 'g', displayName: undefined, externalId: undefined, description: undefined });
});
