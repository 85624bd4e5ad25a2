// Turns the binary COPY output of (member id, display) rows into SCIM member JSON, byte for byte what
// JSON.stringify({ value, $ref: ref + value, type: 'User', display }) writes, objects joined by commas. It works on
// bytes: the rows' text arrives as UTF-8 and leaves as UTF-8, never becoming a JS string (decoding and re-encoding
// 17 MB of members cost more than building them). A field with a character JSON must escape (", \, control
// characters) is the rare case and goes through JSON.stringify.
//
// Binary COPY (PostgreSQL "COPY … TO STDOUT (FORMAT binary)"): an 11-byte signature, a 32-bit flags word and a
// 32-bit header-extension length (then that many bytes); each row a 16-bit field count, then per field a 32-bit
// length (-1 for NULL) and its bytes; a 16-bit -1 ends the data. Integers are big-endian.

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_LENGTH = SIGNATURE.length + 8;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const VALUE = ascii('{"value":');
const REF = ascii(',"$ref":');
const TYPE = ascii(',"type":"User"');
const DISPLAY = ascii(',"display":');
const CLOSE = ascii('}');

/** Whether bytes start..end are a JSON string's contents as they are (no ", \ or control character). */
function plain(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === QUOTE || c === BACKSLASH || c < 0x20) return false;
  }
  return true;
}

export class MemberJsonEncoder {
  private rest: Buffer | undefined;
  private started = false;
  private ended = false;
  private rows = 0;
  private out = Buffer.allocUnsafe(0);
  private at = 0;
  private readonly ref: Buffer;
  private readonly refPlain: boolean;

  constructor(private readonly refText: string) {
    this.ref = Buffer.from(refText);
    this.refPlain = plain(this.ref, 0, this.ref.length);
  }

  /** The JSON of the rows complete in what has arrived so far (possibly empty); the first has no leading comma. */
  push(chunk: Buffer): Buffer {
    const b = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    this.out = Buffer.allocUnsafe(Math.max(256, b.length * 3));
    this.at = 0;
    let pos = 0;
    if (!this.started) {
      if (b.length < HEADER_LENGTH) return this.keep(b, 0);
      if (!b.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not binary COPY data');
      const extension = b.readInt32BE(SIGNATURE.length + 4);
      if (b.length < HEADER_LENGTH + extension) return this.keep(b, 0);
      pos = HEADER_LENGTH + extension;
      this.started = true;
    }
    while (!this.ended && pos + 2 <= b.length) {
      const fields = b.readInt16BE(pos);
      if (fields === -1) {
        this.ended = true;
        pos += 2;
        break;
      }
      if (fields !== 2) throw new Error(`expected 2 fields per member row, got ${fields}`);
      // Field 1: the member id (never NULL); field 2: the display (NULL when the user has neither name).
      let p = pos + 2;
      if (p + 4 > b.length) break;
      const idLength = b.readInt32BE(p);
      const id = p + 4;
      p = id + idLength;
      if (p + 4 > b.length) break;
      const displayLength = b.readInt32BE(p);
      const display = p + 4;
      p = display + Math.max(0, displayLength);
      if (p > b.length) break;
      this.row(b, id, id + idLength, displayLength < 0 ? -1 : display, display + displayLength);
      pos = p;
    }
    return this.keep(b, pos);
  }

  /** Throws unless the data ended with COPY's trailer (a stream cut short must not pass as a whole group). */
  end(): void {
    if (!this.ended) throw new Error('binary COPY data ended early');
  }

  private keep(b: Buffer, pos: number): Buffer {
    if (pos < b.length) this.rest = Buffer.from(b.subarray(pos)); // a copy: the chunk itself is not kept alive
    return this.out.subarray(0, this.at);
  }

  private row(b: Buffer, idStart: number, idEnd: number, displayStart: number, displayEnd: number): void {
    if (this.rows++ > 0) this.byte(COMMA);
    this.bytes(VALUE, 0, VALUE.length);
    const idPlain = plain(b, idStart, idEnd);
    this.string(b, idStart, idEnd, idPlain);
    this.bytes(REF, 0, REF.length);
    if (this.refPlain && idPlain) {
      this.byte(QUOTE);
      this.bytes(this.ref, 0, this.ref.length);
      this.bytes(b, idStart, idEnd);
      this.byte(QUOTE);
    } else {
      const json = Buffer.from(JSON.stringify(this.refText + b.toString('utf8', idStart, idEnd)));
      this.bytes(json, 0, json.length);
    }
    this.bytes(TYPE, 0, TYPE.length);
    if (displayStart >= 0) {
      this.bytes(DISPLAY, 0, DISPLAY.length);
      this.string(b, displayStart, displayEnd, plain(b, displayStart, displayEnd));
    }
    this.bytes(CLOSE, 0, CLOSE.length);
  }

  private string(b: Buffer, start: number, end: number, isPlain: boolean): void {
    if (isPlain) {
      this.byte(QUOTE);
      this.bytes(b, start, end);
      this.byte(QUOTE);
      return;
    }
    const json = Buffer.from(JSON.stringify(b.toString('utf8', start, end)));
    this.bytes(json, 0, json.length);
  }

  private room(n: number): void {
    if (this.at + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.at + n));
    this.out.copy(bigger, 0, 0, this.at);
    this.out = bigger;
  }

  private byte(c: number): void {
    this.room(1);
    this.out[this.at++] = c;
  }

  private bytes(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.room(n);
    // Fields are short: a loop beats a native copy call at these sizes.
    if (n < 64) {
      const out = this.out;
      let at = this.at;
      for (let i = start; i < end; i++) out[at++] = src[i];
      this.at = at;
    } else {
      src.copy(this.out, this.at, start, end);
      this.at += n;
    }
  }
}
