// Seeded mutations for the decoder fuzzers: byte-level (flips, interesting
// values, inserts, deletes, splices, truncation, length fields) and
// line/token-level for text formats. Same seed, same inputs.
import { Prng } from "../sim/prng.ts";

export { Prng };

const interesting8 = [0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x3a, 0x2c, 0x3e, 0x3c, 0x23, 0x3d];
const interesting16 = [0, 1, 0x7fff, 0x8000, 0xffff, 1400, 1401, 0x100];

export function randomBytes(r: Prng, len_max = 2048): Uint8Array {
  const b = new Uint8Array(r.int(0, len_max));
  for (let i = 0; i < b.length; i++) b[i] = (r.next() * 256) | 0;
  return b;
}

/** 1-4 byte-level mutations of `input` (never modifies it). */
export function mutateBytes(r: Prng, input: Uint8Array, corpus: readonly Uint8Array[], len_max = 1 << 16): Uint8Array {
  let b = input.slice();
  const n = r.int(1, 4);
  for (let k = 0; k < n; k++) {
    const at = r.int(0, b.length);
    switch (r.int(0, 9)) {
      case 0: // bit flip
        if (b.length > 0) b[Math.min(at, b.length - 1)]! ^= 1 << r.int(0, 7);
        break;
      case 1: // interesting byte
        if (b.length > 0) b[Math.min(at, b.length - 1)] = r.pick(interesting8);
        break;
      case 2: { // interesting 16-bit value (length fields), both byte orders
        if (b.length < 2) break;
        const p = Math.min(at, b.length - 2);
        const v = r.pick(interesting16);
        const be = r.chance(0.5);
        b[p] = be ? v >> 8 : v & 0xff;
        b[p + 1] = be ? v & 0xff : v >> 8;
        break;
      }
      case 3: // insert random bytes
        b = concat(b.subarray(0, at), randomBytes(r, 16), b.subarray(at));
        break;
      case 4: // delete a range
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + r.int(1, 32))));
        break;
      case 5: { // duplicate a range
        const len = r.int(1, 64);
        b = concat(b.subarray(0, at), b.subarray(at, at + len), b.subarray(at));
        break;
      }
      case 6: { // splice with another corpus entry
        const o = corpus.length > 0 ? r.pick(corpus) : b;
        const p = r.int(0, o.length);
        b = concat(b.subarray(0, at), o.subarray(p));
        break;
      }
      case 7: // truncate
        b = b.slice(0, at);
        break;
      case 8: // ASCII digits: length prefixes of text formats
        if (b.length > 0) b[Math.min(at, b.length - 1)] = 0x30 + r.int(0, 9);
        break;
      default: // random byte
        if (b.length > 0) b[Math.min(at, b.length - 1)] = r.int(0, 255);
    }
    if (b.length > len_max) b = b.slice(0, len_max);
  }
  return b;
}

/** Line/token-level mutation of a text file, with target-specific words. */
export function mutateText(r: Prng, text: string, words: readonly string[]): string {
  const lines = text.split("\n");
  const n = r.int(1, 4);
  for (let i = 0; i < n; i++) {
    const at = r.int(0, lines.length);
    switch (r.int(0, 8)) {
      case 0: lines.splice(at, 1); break;
      case 1: lines.splice(at, 0, Array.from({ length: r.int(1, 6) }, () => r.pick(words)).join(r.pick([" ", "\t", ",", "  "]))); break;
      case 2: lines.splice(at, 0, lines[r.int(0, lines.length - 1)] ?? ""); break;
      case 3: {
        const l = lines[at] ?? "";
        const p = r.int(0, l.length);
        lines[at] = l.slice(0, p) + r.pick(words) + l.slice(p + r.int(0, 3));
        break;
      }
      case 4: lines[at] = (lines[at] ?? "").split(/\s+/).map((w) => (r.chance(0.3) ? r.pick(words) : w)).join(" "); break;
      case 5: lines[at] = `${lines[at] ?? ""}\r`; break;
      case 6: lines.length = Math.min(lines.length, at); break;
      case 7: { // swap two lines
        const j = r.int(0, lines.length - 1);
        const t = lines[at] ?? "";
        lines[at] = lines[j] ?? "";
        lines[j] = t;
        break;
      }
      default: lines[at] = String.fromCharCode(...Array.from({ length: r.int(0, 40) }, () => r.int(0, 0x110))); break;
    }
  }
  return lines.join("\n");
}

/** Words any text format may meet: edge numbers, units, separators, odd characters. */
export const common_words = [
  "0", "-1", "1", "15", "16", "2s", "500ms", "1.5", ".5", "1e9", "99999999999999999999", "NaN", "0x10", "1us", "-0",
  "on", "off", "yes", "*", "#", ",", "=", "::", "/", "\t", "\r", "\0", "\uFFFD", "é", "🙂", "x".repeat(300),
  "__proto__", "constructor", "toString", "hasOwnProperty", "node1", "node2", "192.0.2.1", "192.0.2.50/24/eth0",
];

export function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
