// MemberDelta nets the membership steps of one request, so egress sees only what changed in the end.
import { MemberDelta, MEMBER_IDS_PER_EVENT } from '../../src/store/events';

test('one step keeps its ids as they are', () => {
  const d = new MemberDelta();
  const ids = ['a', 'b', 'c'];
  d.noteAdded(ids);
  expect(d.changed).toBe(true);
  expect(d.added).toEqual(ids);
  expect(d.removed).toEqual([]);
});

test('a step that changed nothing leaves the delta unchanged', () => {
  const d = new MemberDelta();
  d.noteAdded([]);
  d.noteRemoved([]);
  expect(d.changed).toBe(false);
  expect(d.events('g')).toEqual([]);
});

test('remove then add of the same member nets to nothing; the others stay', () => {
  const d = new MemberDelta();
  d.noteRemoved(['a', 'b']);
  d.noteAdded(['a', 'c']);
  expect(d.added).toEqual(['c']);
  expect(d.removed).toEqual(['b']);
});

test('add then remove of the same member nets to nothing', () => {
  const d = new MemberDelta();
  d.noteAdded(['a']);
  d.noteRemoved(['a']);
  expect(d.changed).toBe(false);
  expect(d.events('g')).toEqual([]);
});

test('three steps net in order (replace = remove the rest, add the new)', () => {
  const d = new MemberDelta();
  d.noteAdded(['x']);
  d.noteRemoved(['a', 'x']);
  d.noteAdded(['a', 'y']);
  expect(d.added.sort()).toEqual(['y']);
  expect(d.removed).toEqual([]);
});

test('events split large changes by MEMBER_IDS_PER_EVENT, removals first', () => {
  const d = new MemberDelta();
  const ids = Array.from({ length: MEMBER_IDS_PER_EVENT + 1 }, (_, i) => `u${i}`);
  d.noteAdded(ids);
  d.noteRemoved(['gone', 'u0']);
  const ev = d.events('g');
  expect(ev.map((e) => [e.type, (e.payload.userIds as string[]).length])).toEqual([
    ['group.members_removed', 1],
    ['group.members_added', MEMBER_IDS_PER_EVENT],
  ]);
  expect(ev[0].payload.userIds).toEqual(['gone']);
});
