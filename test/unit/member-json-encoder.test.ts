// The binary COPY → member JSON encoder behind PostgreSQL's GET /Groups/{id}, fed by hand-built COPY data cut at
// every byte: the output must be what JSON.stringify writes, whatever the chunking.
import { MemberJsonEncoder } from '../../src/store/postgres/member-json-encoder';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}
function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}
function field(v: string | null): Buffer {
  if (v === null) return int32(-1);
  const b = Buffer.from(v);
  return Buffer.concat([int32(b.length), b]);
}

/** COPY … (FORMAT binary) of (id, display) rows, with a header extension of `extension` bytes. */
function copyData(rows: [string, string | null][], extension = 0): Buffer {
  return Buffer.concat([
    SIGNATURE, int32(0), int32(extension), Buffer.alloc(extension, 7),
    ...rows.flatMap(([id, display]) => [int16(2), field(id), field(display)]),
    int16(-1),
  ]);
}

function expected(ref: string, rows: [string, string | null][]): string {
  return rows.map(([value, display]) => JSON.stringify({ value, $ref: ref + value, type: 'User', ...(display !== null ? { display } : {}) })).join(',');
}

function encode(ref: string, data: Buffer, cuts: number[]): string {
  const e = new MemberJsonEncoder(ref);
  const out: Buffer[] = [];
  let from = 0;
  for (const at of [...cuts, data.length]) {
    out.push(e.push(data.subarray(from, at)));
    from = at;
  }
  e.end();
  return Buffer.concat(out).toString('utf8');
}

const ROWS: [string, string | null][] = [
  ['6f1c6a52-6a55-4c38-9a53-1f7c2d4f9a01', 'Ada Lovelace'],
  ['no-display', null],
  ['quote"and\\backslash', 'Tab\tnewline\ncontrol\u0001 del\u007f'],
  ['b', 'Zoë 東京 😀 \u2028 </script>'],
  ['', ''],
];

test('every cut of the data gives JSON.stringify\'s bytes', () => {
  const ref = 'https://gw.example/api/scim/v2/Users/';
  const data = copyData(ROWS, 3);
  const want = expected(ref, ROWS);
  for (let at = 0; at <= data.length; at++) expect(encode(ref, data, [at])).toBe(want);
  for (let a = 0; a < data.length; a += 7) for (let b = a; b <= data.length; b += 11) expect(encode(ref, data, [a, b])).toBe(want);
});

test('a ref that JSON must escape', () => {
  const ref = 'https://gw.example/"odd\\path"/Users/';
  expect(encode(ref, copyData(ROWS), [])).toBe(expected(ref, ROWS));
});

test('no rows, and many rows in two chunks', () => {
  expect(encode('r/', copyData([]), [])).toBe('');
  const many: [string, string | null][] = Array.from({ length: 5000 }, (_, i) => [`id-${i}`, i % 3 ? `User ${i}` : null]);
  const data = copyData(many);
  const e = new MemberJsonEncoder('r/');
  const out = [e.push(data.subarray(0, 1000)), e.push(data.subarray(1000))];
  e.end();
  expect(Buffer.concat(out).toString()).toBe(expected('r/', many));
});

test('data cut short, or not binary COPY, is an error, never a shorter group', () => {
  const data = copyData(ROWS);
  const e = new MemberJsonEncoder('r/');
  e.push(data.subarray(0, data.length - 2));
  expect(() => e.end()).toThrow('ended early');
  expect(() => new MemberJsonEncoder('r/').push(Buffer.from('id\tdisplay\n, not binary COPY data'))).toThrow('not binary COPY');
  const three = Buffer.concat([SIGNATURE, int32(0), int32(0), int16(3), field('a'), field('b'), field('c'), int16(-1)]);
  expect(() => new MemberJsonEncoder('r/').push(three)).toThrow('2 fields');
});
