// Heartbeat 3.0.6's authentication tokens (lib/plugins/HBauth/*.c), as
// text, exactly as Heartbeat prints them:
//   sha1  HMAC-SHA1(key, data), 40 lowercase hex digits
//   md5   HMAC-MD5(key, data), 32 lowercase hex digits
//   crc   the POSIX cksum CRC-32 (poly 0x04C11DB7, MSB first, init 0, no
//         length appended, result inverted), printf "%lx": no leading
//         zeros. Unkeyed: integrity only.
// Heartbeat has no sha256: an authkeys using it cannot talk to Heartbeat.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { AuthKey, AuthMethod } from "../config/types.ts";

export function hbAuthSupported(method: AuthMethod): boolean {
  return method === "crc" || method === "md5" || method === "sha1";
}

const cksum_table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function hbCrc(data: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < data.length; i++) crc = ((crc << 8) ^ cksum_table[((crc >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return ~crc >>> 0;
}

/** The token Heartbeat computes for `data` with `key`. */
export function hbAuthToken(key: AuthKey, data: Uint8Array): string {
  switch (key.method) {
    case "crc":
      return hbCrc(data).toString(16);
    case "md5":
    case "sha1":
      return createHmac(key.method, key.key).update(data).digest("hex");
    case "sha256":
      throw new Error("Heartbeat 3.0.6 has no sha256 authentication");
  }
}

export function hbAuthVerify(key: AuthKey, data: Uint8Array, token: string): boolean {
  if (!hbAuthSupported(key.method)) return false;
  const want = Buffer.from(hbAuthToken(key, data), "latin1");
  const got = Buffer.from(token, "latin1");
  return want.length === got.length && timingSafeEqual(want, got);
}
