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

export function computeMac(key: AuthKey, data: Uint8Array): Uint8Array {
  if (key.method === "crc") {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, crc32(data));
    return out;
  }
  const mac = createHmac(key.method, key.key).update(data).digest();
  return new Uint8Array(mac.buffer, mac.byteOffset, mac.byteLength);
}

export function verifyMac(key: AuthKey, data: Uint8Array, mac: Uint8Array): boolean {
  const want = computeMac(key, data);
  if (want.length !== mac.length) return false;
  return timingSafeEqual(want, mac);
}
