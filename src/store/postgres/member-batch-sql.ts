// The statement behind PostgreSQL's group commit of member changes (member-batch.ts): one call of the function that
// migration 009_member_batch.sql defines (what it takes, answers and locks is written there). A function because it
// must lock the groups before it reads their members: a single statement reads from the snapshot it started with,
// which is older than a lock it had to wait for.
//
// Parameters: $1 tenant, $2 time, $3 ids per event;
//   per request (arrays of equal length, request n is element n): $4 group ids, $5 ops ('add' | 'remove'),
//   $6 audited, $7 subjects, $8 jtis, $9 mounts, $10 operations, $11 request ids;
//   per requested member (arrays of equal length): $12 request numbers (1-based), $13 member ids.
export const MEMBER_BATCH_SQL = `SELECT n, missing, changed, grp, version::int AS version
  FROM scim_member_batch($1, $2, $3, $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[], $9::text[], $10::text[],
                         $11::text[], $12::int[], $13::text[])`;
