// Message boundaries on a byte stream (serial lines). A UDP datagram is one
// message; a serial line is a stream of bytes that arrive in arbitrary
// pieces, may start in the middle of a message (a cable plugged in late, a
// peer restarted mid-write) and may carry noise. A Framer turns messages
// into bytes and bytes back into messages; it never throws on input and
// keeps a bounded buffer whatever the line delivers.
//
// Two framings, chosen per cluster with the codec:
//
// native (tandem <-> tandem), binary, 12 bytes of overhead:
//
//   off size field
//     0    4 sync marker 0x7E "TSL" (7E 54 53 4C)
//     4    2 payload length n (big-endian, 1..payload_bytes_max)
//     6    2 length check: n XOR 0xFFFF
//     8    n payload (a codec's frame, e.g. src/wire/native.ts)
//   8+n    4 CRC-32 (IEEE) of the payload, big-endian
//
//   The length check lets a corrupted length be rejected at once instead of
//   swallowing the next frames while the decoder waits for bytes that never
//   belong together; the CRC rejects a damaged payload before the codec's
//   MAC is computed and tells line noise apart from forged frames in the
//   counters. After any rejection the decoder resumes scanning one byte
//   after the rejected marker, so a good frame inside the rejected span is
//   still found.
//
// heartbeat (a mixed cluster with Heartbeat 3.0.6, lib/plugins/HBcomm/serial.c):
//   Heartbeat writes every message on a serial line in its classic text
//   form: a line ">>>", one `name=value` line per field (the auth field
//   included), a line "<<<", each line ended by "\n" (messages it holds as
//   netstrings, "###" ... "%%%", are converted to text before writing). It
//   reads lines (ended by "\n"), skips lines until one starting with ">>>",
//   and collects lines up to one starting with "<<<". Its tty strips the
//   8th bit (ISTRIP) and ignores CR (IGNCR), so only 7-bit text survives.
//   Encoding and decoding the fields is the Heartbeat codec's job
//   (src/wire/heartbeat.ts); this framer only finds the boundaries and
//   hands over ">>>\n...<<<\n" exactly as Heartbeat's serial_read() does.

/** Counters every framer keeps (monotonic; shown in `tandem status`). */
export interface FramerStats {
  /** complete messages handed to the receiver */
  frames_in: number;
  /** bytes that belonged to no accepted message (noise, truncated or rejected messages) */
  garbage_bytes: number;
  /** times the decoder dropped what it had and looked for the next message start */
  resyncs: number;
  /** messages that had a start and an end but failed the length check, CRC or size limit */
  rejected: number;
}

export interface Framer {
  readonly name: "native" | "heartbeat";
  /** Bytes to write for one message. Throws (a programming error) for a message the framing cannot carry. */
  encode(payload: Uint8Array): Uint8Array;
  /** Feeds bytes as they arrive; calls onMessage for each complete message, in order. */
  push(chunk: Uint8Array): void;
  /** Forgets a partial message (the line was closed and reopened); counts it as garbage. */
  reset(): void;
  readonly stats: FramerStats;
  /** bytes held while waiting for the rest of a message (bounded) */
  readonly buffered_bytes: number;
}

export type OnMessage = (payload: Uint8Array) => void;

export function emptyFramerStats(): FramerStats {
  return { frames_in: 0, garbage_bytes: 0, resyncs: 0, rejected: 0 };
}

// --- native --------------------------------------------------------------

export const native_sync = Uint8Array.of(0x7e, 0x54, 0x53, 0x4c);
const native_header_len = 8;
const native_trailer_len = 4;
export const native_overhead_bytes = native_header_len + native_trailer_len;

export class NativeFramer implements Framer {
  readonly name = "native";
  readonly stats = emptyFramerStats();
  /** pending bytes; never more than one largest frame plus one chunk */
  private buf = new Uint8Array(0);
  /** frames starting before this offset in buf were already delivered by lookahead() */
  private ahead_end = 0;

  constructor(
    private readonly onMessage: OnMessage,
    /** largest payload accepted or sent (the codec's frame_size_max) */
    readonly payload_bytes_max: number,
  ) {
    if (!(payload_bytes_max >= 1 && payload_bytes_max <= 0xffff)) throw new RangeError("payload_bytes_max must be 1..65535");
  }

  get buffered_bytes(): number {
    return this.buf.length;
  }

  encode(payload: Uint8Array): Uint8Array {
    const n = payload.length;
    if (n < 1 || n > this.payload_bytes_max) throw new RangeError(`serial frame payload of ${n} bytes (1..${this.payload_bytes_max})`);
    const out = new Uint8Array(native_overhead_bytes + n);
    const dv = new DataView(out.buffer);
    out.set(native_sync, 0);
    dv.setUint16(4, n);
    dv.setUint16(6, n ^ 0xffff);
    out.set(payload, native_header_len);
    dv.setUint32(native_header_len + n, Bun.hash.crc32(payload) >>> 0);
    return out;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.buf = this.buf.length === 0 ? chunk.slice() : concat(this.buf, chunk);
    this.drain();
  }

  reset(): void {
    if (this.buf.length > 0) {
      this.stats.garbage_bytes += this.buf.length;
      this.stats.resyncs++;
    }
    this.buf = new Uint8Array(0);
    this.ahead_end = 0;
  }

  private drain(): void {
    let pos = 0;
    const b = this.buf;
    // Each iteration consumes at least one byte or stops: bounded by b.length.
    while (pos < b.length) {
      const at = findSync(b, pos);
      if (at < 0) {
        // Keep a tail that may be the start of a marker split across chunks.
        const keep = syncPrefixTail(b);
        this.skip(b.length - keep - pos);
        pos = b.length - keep;
        break;
      }
      if (at > pos) this.skip(at - pos);
      pos = at;
      if (b.length - pos < native_header_len) break;
      const dv = new DataView(b.buffer, b.byteOffset + pos);
      const n = dv.getUint16(4);
      if ((dv.getUint16(6) ^ 0xffff) !== n || n < 1 || n > this.payload_bytes_max) {
        this.reject(1);
        pos += 1;
        continue;
      }
      const total = native_overhead_bytes + n;
      if (b.length - pos < total) {
        this.lookahead(b, pos);
        break;
      }
      const payload = b.subarray(pos + native_header_len, pos + native_header_len + n);
      if (dv.getUint32(native_header_len + n) !== Bun.hash.crc32(payload) >>> 0) {
        this.reject(1);
        pos += 1;
        continue;
      }
      const seen = pos < this.ahead_end;
      pos += total;
      if (seen) continue;
      this.stats.frames_in++;
      this.onMessage(payload.slice());
    }
    this.buf = pos === 0 ? b : b.slice(pos);
    this.ahead_end = Math.max(0, this.ahead_end - pos);
  }

  /**
   * A frame at `pos` is still arriving. Its header may be noise that passed
   * the length check; at 19200 baud a 1400-byte span takes 0.7 s to fill,
   * so complete, CRC-valid frames inside the span are delivered now rather
   * than after the outer one fails. Marked in ahead_end so that the rescan
   * after a failure does not deliver them twice. (Should the outer frame
   * prove genuine, the inner ones were forged by chance inside its payload;
   * the codec drops them as bad MACs or replays.)
   */
  private lookahead(b: Uint8Array, pos: number): void {
    let q = Math.max(pos + 1, this.ahead_end);
    // Each iteration advances q by at least one byte: bounded by b.length.
    while (q < b.length) {
      const at = findSync(b, q);
      if (at < 0 || b.length - at < native_header_len) return;
      const dv = new DataView(b.buffer, b.byteOffset + at);
      const n = dv.getUint16(4);
      const total = native_overhead_bytes + n;
      if ((dv.getUint16(6) ^ 0xffff) !== n || n < 1 || n > this.payload_bytes_max || b.length - at < total) {
        q = at + 1;
        continue;
      }
      const payload = b.subarray(at + native_header_len, at + native_header_len + n);
      if (dv.getUint32(native_header_len + n) !== Bun.hash.crc32(payload) >>> 0) {
        q = at + 1;
        continue;
      }
      this.stats.frames_in++;
      this.onMessage(payload.slice());
      this.ahead_end = at + total;
      q = at + total;
    }
  }

  private skip(n: number): void {
    if (n <= 0) return;
    this.stats.garbage_bytes += n;
    this.stats.resyncs++;
  }

  /** A marker that did not start a valid frame: its first byte is garbage. */
  private reject(n: number): void {
    this.stats.rejected++;
    this.stats.garbage_bytes += n;
    this.stats.resyncs++;
  }
}

/** Index of the next marker (or of a marker prefix ending the buffer) at or after `from`; -1 if none. */
function findSync(b: Uint8Array, from: number): number {
  for (let i = b.indexOf(native_sync[0]!, from); i >= 0; i = b.indexOf(native_sync[0]!, i + 1)) {
    let ok = true;
    for (let k = 1; k < 4; k++) {
      if (i + k >= b.length) return i; // a marker prefix at the end: wait for more
      if (b[i + k] !== native_sync[k]) {
        ok = false;
        break;
      }
    }
    if (ok) return i;
  }
  return -1;
}

/** Length of the longest suffix of b that is a proper prefix of the marker. */
function syncPrefixTail(b: Uint8Array): number {
  for (let k = Math.min(3, b.length); k > 0; k--) {
    let ok = true;
    for (let j = 0; j < k; j++) {
      if (b[b.length - k + j] !== native_sync[j]) {
        ok = false;
        break;
      }
    }
    if (ok) return k;
  }
  return 0;
}

// --- Heartbeat 3.0.6 classic text on a serial line --------------------------

const LF = 0x0a;
const CR = 0x0d;
const hb_start = ">>>";
const hb_end = "<<<";

export class HeartbeatSerialFramer implements Framer {
  readonly name = "heartbeat";
  readonly stats = emptyFramerStats();
  /** the current line, without its "\n": line_len bytes of line_buf */
  private line_buf: Uint8Array;
  private line_len = 0;
  /** lines of the message being collected, or null while looking for ">>>" */
  private msg: string[] | null = null;
  private msg_bytes = 0;

  constructor(
    private readonly onMessage: OnMessage,
    /** largest message (from ">>>" through "<<<\n") accepted or sent */
    readonly message_bytes_max: number,
  ) {
    if (!(message_bytes_max >= 8)) throw new RangeError("message_bytes_max must be at least 8");
    this.line_buf = new Uint8Array(message_bytes_max + 1);
  }

  get buffered_bytes(): number {
    return this.msg_bytes + this.line_len;
  }

  /**
   * `payload` is a message in Heartbeat's classic text form, ">>>\n" ... "<<<\n",
   * 7-bit, as the Heartbeat codec produces it for serial media.
   */
  encode(payload: Uint8Array): Uint8Array {
    const text = new TextDecoder().decode(payload);
    if (!text.startsWith(`${hb_start}\n`) || !text.endsWith(`${hb_end}\n`)) {
      throw new RangeError("a Heartbeat serial message must start with \">>>\\n\" and end with \"<<<\\n\" (classic text form)");
    }
    if (payload.length > this.message_bytes_max) throw new RangeError(`Heartbeat serial message of ${payload.length} bytes (max ${this.message_bytes_max})`);
    for (const c of payload) {
      // Heartbeat's tty strips the 8th bit and drops CR: such bytes would arrive changed.
      if (c >= 0x80 || c === CR || c === 0) throw new RangeError("a Heartbeat serial message must be 7-bit text without CR or NUL");
    }
    return payload;
  }

  push(chunk: Uint8Array): void {
    for (const c of chunk) {
      if (c === CR) {
        // ignored, as Heartbeat's IGNCR does; counted as noise outside a message
        if (this.msg === null) this.garbage(1);
        continue;
      }
      if (c !== LF) {
        this.line_buf[this.line_len++] = c & 0x7f; // ISTRIP, as Heartbeat's tty
        if (this.line_len + this.msg_bytes > this.message_bytes_max) this.overflow();
        continue;
      }
      this.endLine();
    }
  }

  reset(): void {
    const n = this.buffered_bytes;
    if (n > 0) this.garbage(n);
    this.line_len = 0;
    this.msg = null;
    this.msg_bytes = 0;
  }

  private endLine(): void {
    const text = latin1.decode(this.line_buf.subarray(0, this.line_len));
    const len = this.line_len + 1;
    this.line_len = 0;
    if (text.startsWith(hb_start)) {
      // A start inside a message: the sender restarted mid-message; the
      // partial one is lost, the new one begins here (as in serial_read).
      if (this.msg !== null) this.garbage(this.msg_bytes);
      this.msg = [hb_start];
      this.msg_bytes = hb_start.length + 1;
      if (text.length > hb_start.length) this.garbage(text.length - hb_start.length);
      return;
    }
    if (this.msg === null && text.endsWith(hb_start)) {
      // noise just before the start line (Heartbeat itself would miss this message)
      this.garbage(len - hb_start.length - 1);
      this.msg = [hb_start];
      this.msg_bytes = hb_start.length + 1;
      return;
    }
    if (this.msg === null) {
      this.garbage(len);
      return;
    }
    this.msg.push(text);
    this.msg_bytes += len;
    if (!text.startsWith(hb_end)) return;
    const out = new TextEncoder().encode(`${this.msg.join("\n")}\n`);
    this.msg = null;
    this.msg_bytes = 0;
    this.stats.frames_in++;
    this.onMessage(out);
  }

  /** A message (or a line outside one) longer than the limit: drop it and look for the next ">>>". */
  private overflow(): void {
    if (this.msg !== null) this.stats.rejected++;
    this.garbage(this.msg_bytes + this.line_len);
    this.line_len = 0;
    this.msg = null;
    this.msg_bytes = 0;
  }

  private garbage(n: number): void {
    this.stats.garbage_bytes += n;
    this.stats.resyncs++;
  }
}

const latin1 = new TextDecoder("latin1");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
