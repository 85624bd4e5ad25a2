// The order Bulk operations run in and how bulkId references resolve (src/scim/bulk-plan.ts), without a server.
import { conflictKeys, planExecution, referencesOf, resolveReferences } from '../../src/scim/bulk-plan';
import type { BulkOperation } from '../../src/scim/bulk-request';

function post(index: number, bulkId: string, data: unknown = {}): BulkOperation {
  return { index, method: 'POST', bulkId, resourceType: 'User', data };
}

test('references are found in paths and at any depth of data, each once; other strings are not references', () => {
  const op: BulkOperation = {
    index: 0, method: 'PATCH', resourceType: 'Group', id: 'bulkId:g',
    data: { Operations: [{ op: 'add', path: 'members', value: [{ value: 'bulkId:a' }, { value: 'bulkId:b' }, { value: 'bulkId:a' }] }], note: 'bulkId:', x: 'id bulkId:c' },
  };
  expect(referencesOf(op).sort()).toEqual(['a', 'b', 'g']);
  expect(resolveReferences(op.data, new Map([['a', 'ID-A']]))).toEqual({
    Operations: [{ op: 'add', path: 'members', value: [{ value: 'ID-A' }, { value: 'bulkId:b' }, { value: 'ID-A' }] }], note: 'bulkId:', x: 'id bulkId:c',
  });
});

test('request order, except that an operation runs after the POSTs it refers to', () => {
  const ops = [post(0, 'g', { members: [{ value: 'bulkId:u' }] }), post(1, 'x'), post(2, 'u')];
  expect(planExecution(ops).order).toEqual([2, 0, 1]);
});

test('cycles and self-references are unresolvable (409); a reference to no POST is 400', () => {
  const ops = [
    post(0, 'a', { m: 'bulkId:b' }), post(1, 'b', { m: 'bulkId:a' }), post(2, 's', { m: 'bulkId:s' }), post(3, 'n', { m: 'bulkId:zz' }),
  ];
  const plan = planExecution(ops);
  expect([...plan.unresolvable.entries()].sort()).toEqual([[1, { status: 409, bulkId: 'a' }], [2, { status: 409, bulkId: 's' }], [3, { status: 400, bulkId: 'zz' }]]);
  expect(plan.order.sort()).toEqual([0, 1, 2, 3]);
});

test('a chain of 20,000 forward references is planned without overflowing the stack', () => {
  const n = 20_000;
  const ops = Array.from({ length: n }, (_, i) => post(i, `b${i}`, i + 1 < n ? { manager: { value: `bulkId:b${i + 1}` } } : {}));
  const order = planExecution(ops).order;
  expect(order[0]).toBe(n - 1);
  expect(order[n - 1]).toBe(0);
});

test('conflict keys: the resource, and any userName a write would set (case-insensitively)', () => {
  expect(conflictKeys(post(0, 'a', { userName: 'Bob' }), undefined)).toEqual(['User:userName:bob']);
  const patch: BulkOperation = {
    index: 1, method: 'PATCH', resourceType: 'User', id: 'u1',
    data: { Operations: [{ op: 'replace', path: 'userName', value: 'A' }, { op: 'replace', value: { userName: 'B' } }] },
  };
  expect(conflictKeys(patch, 'u1')).toEqual(['User:id:u1', 'User:userName:a', 'User:userName:b']);
  expect(conflictKeys({ index: 2, method: 'DELETE', resourceType: 'Group', id: 'g' }, 'g')).toEqual(['Group:id:g']);
});
