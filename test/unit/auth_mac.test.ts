// src/wire/auth.ts signs with buffers kept per key (Bun's one-shot hashes):
// its MACs must be node:crypto's HMACs byte for byte, for every method, key
// length (a key longer than the 64-byte block is hashed first) and data
// length (past the scratch buffer it falls back to createHmac).
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import type { AuthKey } from "../../src/config/types.ts";
import { computeMac, crc32, macInto, verifyMac } from "../../src/wire/auth.ts";

const methods = ["sha256", "sha1", "md5"] as const;
const keys = ["k", "a-long-random-secret", "x".repeat(64), "y".repeat(65), "z".repeat(200), "ünïcødé key"];
const lengths = [0, 1, 63, 64, 65, 200, 1400, 2048, 2049, 70_000];

function data(n: number, seed: number): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (i * 31 + seed * 7) & 0xff;
  return d;
}

describe("HMAC with reused buffers", () => {
  for (const method of methods) {
    test(`${method}: equals createHmac for every key and data length`, () => {
      for (const [ki, k] of keys.entries()) {
        const key: AuthKey = { index: 1, method, key: k, line: 2 };
        for (const n of lengths) {
          const d = data(n, ki);
          const want = new Uint8Array(createHmac(method, k).update(d).digest());
          expect(computeMac(key, d)).toEqual(want);
          // twice: the kept buffers must not carry state from one call to the next
          expect(computeMac(key, d)).toEqual(want);
          expect(verifyMac(key, d, want)).toBe(true);
          const bad = want.slice();
          bad[0]! ^= 1;
          expect(verifyMac(key, d, bad)).toBe(false);
          expect(verifyMac(key, d, want.subarray(1))).toBe(false);
        }
      }
    });
  }

  test("macInto writes into a subarray of the frame being signed", () => {
    const key: AuthKey = { index: 1, method: "sha256", key: "secret", line: 2 };
    const frame = data(100 + 32, 3);
    macInto(key, frame.subarray(0, 100), frame.subarray(100));
    expect(frame.subarray(100)).toEqual(new Uint8Array(createHmac("sha256", "secret").update(frame.subarray(0, 100)).digest()));
    expect(() => macInto(key, frame.subarray(0, 100), frame.subarray(99))).toThrow(RangeError);
  });

  test("crc: CRC-32, big-endian", () => {
    const key: AuthKey = { index: 1, method: "crc", key: "", line: 2 };
    const d = new TextEncoder().encode("123456789");
    expect(crc32(d)).toBe(0xcbf43926);
    expect(computeMac(key, d)).toEqual(new Uint8Array([0xcb, 0xf4, 0x39, 0x26]));
  });
});

describe("native codec: u64 fields read as two u32 halves", () => {
  const k: AuthKey = { index: 1, method: "sha256", key: "s3cret", line: 2 };
  const auth = { file: "authkeys", active: k, keys: new Map([[1, k]]) };
  test("round trip up to 2^53-1, and the same bytes as BigInt writes", async () => {
    const { NativeCodec } = await import("../../src/wire/native.ts");
    const c = new NativeCodec(auth);
    for (const [generation, seq] of [[0, 0], [1, 2 ** 32 - 1], [2 ** 32, 2 ** 32 + 1], [Number.MAX_SAFE_INTEGER, 2 ** 40 + 5]] as const) {
      const bytes = c.encode({ kind: "heartbeat", node: "node1", generation, seq, body: new Uint8Array([1, 2]) });
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      expect(dv.getBigUint64(8)).toBe(BigInt(generation));
      expect(dv.getBigUint64(16)).toBe(BigInt(seq));
      expect(c.decode(bytes)).toEqual({ ok: true, frame: { kind: "heartbeat", node: "node1", generation, seq, body: new Uint8Array([1, 2]) } });
    }
  });
  test("a generation or seq past 2^53-1 is malformed, even correctly signed", async () => {
    const { NativeCodec } = await import("../../src/wire/native.ts");
    const c = new NativeCodec(auth);
    for (const off of [8, 16]) {
      const bytes = c.encode({ kind: "heartbeat", node: "node1", generation: 5, seq: 6, body: new Uint8Array() });
      new DataView(bytes.buffer).setBigUint64(off, BigInt(Number.MAX_SAFE_INTEGER) + 1n);
      macInto(k, bytes.subarray(0, bytes.length - 32), bytes.subarray(bytes.length - 32));
      expect(c.decode(bytes)).toEqual({ ok: false, reason: "malformed", node: "node1" });
    }
  });
});
