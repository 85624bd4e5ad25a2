// A root /.search filter as it reads for one resource type (filter.ts filterForType): attributes the type lacks are
// unassigned, the rest of the filter is resolved as parseFilter resolves it.
import { filterForType, parseFilter, parseFilterText, type ResourceKind } from '../../src/scim/filter';

const forType = (kind: ResourceKind, text: string) => filterForType(kind, parseFilterText(text));

describe('filterForType', () => {
  test('a filter naming only attributes the type has resolves as parseFilter resolves it', () => {
    const text = 'displayName eq "Team" and externalId sw "ext-"';
    expect(forType('Group', text)).toEqual({ filter: parseFilter('Group', text), missing: new Set() });
  });

  test('a test of an attribute the type lacks becomes its value for an unassigned attribute, and folds away', () => {
    expect(forType('Group', 'userName eq "a" or displayName eq "T"').filter).toEqual(parseFilter('Group', 'displayName eq "T"'));
    expect(forType('Group', 'userName eq "a" and displayName eq "T"').filter).toBe(false);
    expect(forType('Group', 'not (userName eq "a")').filter).toBe(true);
    expect(forType('Group', 'userName ne "a"').filter).toBe(true);
    expect(forType('Group', 'userName eq null').filter).toBe(true);
    expect(forType('Group', 'userName ne null').filter).toBe(false);
    expect(forType('Group', 'userName pr').filter).toBe(false);
    expect(forType('User', 'members[value eq "x"] or userName sw "a"').filter).toEqual(parseFilter('User', 'userName sw "a"'));
    expect(forType('Group', 'emails[type eq "work"]')).toEqual({ filter: false, missing: new Set(['emails']) });
  });

  test('values keep their quotes and escapes', () => {
    const kept = 'displayName eq "a \\"quoted\\" \\\\ name" or (externalId co "x" and not (displayName ew "y"))';
    expect(forType('Group', `${kept} or userName eq "z"`).filter).toEqual(parseFilter('Group', kept));
  });

  test('any other problem of the filter is still a 400 invalidFilter', () => {
    expect(() => parseFilterText('userName eq')).toThrow(expect.objectContaining({ scimType: 'invalidFilter' }));
    expect(() => forType('Group', 'displayName gt true')).toThrow(expect.objectContaining({ scimType: 'invalidFilter' }));
  });
});
