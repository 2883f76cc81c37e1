import { describe, expect, test } from "bun:test";
import type { AuthKey, AuthKeys, AuthMethod } from "../../src/config/types.ts";
import { crc32 } from "../../src/wire/auth.ts";
import { NativeCodec } from "../../src/wire/native.ts";
import type { Frame } from "../../src/wire/types.ts";
import { Prng } from "../sim/prng.ts";

function keys(method: AuthMethod, key = "s3cret", index = 1): AuthKeys {
  const k: AuthKey = { index, method, key, line: 2 };
  return { file: "authkeys", active: k, keys: new Map([[index, k]]) };
}
const hb: Frame = { kind: "heartbeat", node: "node1", generation: 1700000000, seq: 42, body: new Uint8Array() };

describe("native codec", () => {
  for (const m of ["crc", "md5", "sha1", "sha256"] as AuthMethod[]) {
    test(`round trip with ${m}`, () => {
      const c = new NativeCodec(keys(m));
      const r = c.decode(c.encode(hb));
      expect(r).toEqual({ ok: true, frame: hb });
    });
  }
  test("crc32 matches the standard check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });
  test("wrong key is a bad_mac, wrong index an unknown_key", () => {
    const bytes = new NativeCodec(keys("sha256", "a")).encode(hb);
    expect(new NativeCodec(keys("sha256", "b")).decode(bytes)).toMatchObject({ ok: false, reason: "bad_mac" });
    expect(new NativeCodec(keys("sha256", "a", 2)).decode(bytes)).toMatchObject({ ok: false, reason: "unknown_key" });
  });
  test("every single-bit flip is rejected", () => {
    const c = new NativeCodec(keys("sha256"));
    const bytes = c.encode({ ...hb, body: new Uint8Array([1, 2, 3]) });
    for (let i = 0; i < bytes.length * 8; i++) {
      const b = bytes.slice();
      b[i >> 3]! ^= 1 << (i & 7);
      expect(c.decode(b).ok).toBe(false);
    }
  });
  test("truncation at every length is rejected", () => {
    const c = new NativeCodec(keys("sha1"));
    const bytes = c.encode(hb);
    for (let n = 0; n < bytes.length; n++) expect(c.decode(bytes.subarray(0, n)).ok).toBe(false);
  });
  test("named limits", () => {
    const c = new NativeCodec(keys("sha256"));
    expect(c.decode(new Uint8Array(2000))).toMatchObject({ reason: "too_big" });
    expect(c.decode(new Uint8Array(3))).toMatchObject({ reason: "short" });
    expect(() => c.encode({ ...hb, body: new Uint8Array(1500) })).toThrow();
    expect(() => c.encode({ ...hb, node: "bad name" })).toThrow();
  });
  test("fuzz: random and mutated datagrams never throw and never decode", () => {
    const c = new NativeCodec(keys("sha256"));
    const good = c.encode(hb);
    const rng = new Prng(1234);
    for (let i = 0; i < 20000; i++) {
      let b: Uint8Array;
      if (i % 2 === 0) {
        b = new Uint8Array(rng.int(0, 1500));
        for (let j = 0; j < b.length; j++) b[j] = rng.int(0, 255);
      } else {
        b = good.slice(0, rng.int(0, good.length + 10));
        const flips = rng.int(1, 4);
        for (let j = 0; j < flips && b.length > 0; j++) b[rng.int(0, b.length - 1)] = rng.int(0, 255);
      }
      const r = c.decode(b);
      if (r.ok) expect(b).toEqual(good); // only an unmodified copy may pass
    }
  });
});
