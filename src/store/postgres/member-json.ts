// A group's members as SCIM JSON for GET /Groups/{id} on PostgreSQL: one COPY of (member id, display) rows in member
// order, in binary, turned into JSON bytes as they arrive (member-json-encoder.ts). One statement, so one snapshot
// of the group however long the client takes; COPY's stream stops reading the socket while the HTTP response is
// full, so memory stays flat. The database only reads the rows: composing the JSON there took most of its time, and
// decoding it into JS strings most of ours.
import { escapeLiteral, type Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { MemberJsonEncoder } from './member-json-encoder';
import { mapError } from './pool';

/** COPY takes no parameters: the tenant and group id are quoted literals (both already free of U+0000). */
function memberRowsCopy(tenant: string, groupId: string): string {
  // Planned for these values (COPY is never a generic plan): a big group merge-joins users in rid order, a small one
  // looks each user up.
  return `COPY (SELECT m.member_id, COALESCE(u.display_name, u.user_name)
                FROM group_members m JOIN users u ON u.rid = m.member_rid
                WHERE m.tenant = ${escapeLiteral(tenant)} AND m.group_id = ${escapeLiteral(groupId)}
                ORDER BY m.member_rid) TO STDOUT (FORMAT binary)`;
}

export async function* memberJsonByCopy(pool: Pool, tenant: string, groupId: string, ref: string): AsyncGenerator<Buffer> {
  let client;
  try {
    client = await pool.connect();
  } catch (e) {
    throw mapError(e);
  }
  // A COPY left unfinished (the reader stopped, or it failed) leaves the connection mid-protocol: destroy it.
  let finished = false;
  try {
    const encoder = new MemberJsonEncoder(ref);
    const rows = client.query(copyTo(memberRowsCopy(tenant, groupId)));
    try {
      for await (const chunk of rows) {
        const json = encoder.push(chunk as Buffer);
        if (json.length) yield json;
      }
    } catch (e) {
      throw mapError(e);
    }
    encoder.end();
    finished = true;
  } finally {
    client.release(finished ? undefined : true);
  }
}
