// Message authentication for the native codec, keyed by authkeys.
// sha256/sha1/md5 are HMACs; crc is an unkeyed CRC-32 (integrity only,
// as in Heartbeat: `tandem check` warns about it).
import { createHmac, timingSafeEqual } from "node:crypto";
import type { AuthKey, AuthMethod } from "../config/types.ts";

export const mac_len_by_method: Record<AuthMethod, number> = {
  crc: 4,
  md5: 16,
  sha1: 20,
  sha256: 32,
};

const crc_table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crc_table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// HMAC (RFC 2104) over Bun's one-shot hashes writing into buffers kept per
// key: a heartbeat is signed or checked with two hash calls and no
// allocation, where createHmac built a key object, an Hmac and a Buffer for
// every datagram (garbage at every keepalive, GC and allocator work at
// idle). Inputs longer than the scratch buffer (config push) use createHmac.
const hmac_block = 64; // sha256, sha1 and md5 all have 64-byte blocks
/** covers any datagram (frame_size_max 1400, Heartbeat's 64 KiB max is rarer: fallback) */
const hmac_scratch_max = 2048;

type OneShot = { hash(input: Uint8Array, into: Uint8Array): unknown };
const one_shot: Record<Exclude<AuthMethod, "crc">, OneShot> = {
  sha256: Bun.SHA256 as unknown as OneShot,
  sha1: Bun.SHA1 as unknown as OneShot,
  md5: Bun.MD5 as unknown as OneShot,
};

class Hmac {
  private h: OneShot;
  /** ipad-key || message */
  private inner: Uint8Array;
  /** opad-key || inner digest */
  private outer: Uint8Array;
  readonly len: number;
  constructor(method: Exclude<AuthMethod, "crc">, key: string) {
    this.h = one_shot[method];
    this.len = mac_len_by_method[method];
    let k: Uint8Array = new TextEncoder().encode(key);
    if (k.length > hmac_block) {
      const d = new Uint8Array(this.len);
      this.h.hash(k, d);
      k = d;
    }
    this.inner = new Uint8Array(hmac_block + hmac_scratch_max);
    this.outer = new Uint8Array(hmac_block + this.len);
    for (let i = 0; i < hmac_block; i++) {
      this.inner[i] = (k[i] ?? 0) ^ 0x36;
      this.outer[i] = (k[i] ?? 0) ^ 0x5c;
    }
  }
  /** false: data too long for the scratch buffer */
  into(data: Uint8Array, out: Uint8Array): boolean {
    if (data.length > hmac_scratch_max) return false;
    this.inner.set(data, hmac_block);
    const digest = this.outer.subarray(hmac_block);
    this.h.hash(this.inner.subarray(0, hmac_block + data.length), digest);
    this.h.hash(this.outer, out);
    return true;
  }
}

const hmacs = new WeakMap<AuthKey, Hmac>();
/** verifyMac's scratch: the largest MAC */
const want_scratch = new Uint8Array(32);

function hmacOf(key: AuthKey & { method: Exclude<AuthMethod, "crc"> }): Hmac {
  let h = hmacs.get(key);
  if (!h) hmacs.set(key, (h = new Hmac(key.method, key.key)));
  return h;
}

/** Writes the MAC of data into out (exactly mac_len_by_method[key.method] bytes). */
export function macInto(key: AuthKey, data: Uint8Array, out: Uint8Array): void {
  if (out.length !== mac_len_by_method[key.method]) throw new RangeError("macInto: wrong output length");
  if (key.method === "crc") {
    new DataView(out.buffer, out.byteOffset, 4).setUint32(0, crc32(data));
    return;
  }
  if (hmacOf(key as AuthKey & { method: Exclude<AuthMethod, "crc"> }).into(data, out)) return;
  out.set(createHmac(key.method, key.key).update(data).digest());
}

export function computeMac(key: AuthKey, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(mac_len_by_method[key.method]);
  macInto(key, data, out);
  return out;
}

export function verifyMac(key: AuthKey, data: Uint8Array, mac: Uint8Array): boolean {
  const len = mac_len_by_method[key.method];
  if (mac.length !== len) return false;
  const want = want_scratch.subarray(0, len);
  macInto(key, data, want);
  return timingSafeEqual(want, mac);
}
