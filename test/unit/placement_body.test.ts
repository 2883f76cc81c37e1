import { describe, expect, test } from "bun:test";
import { type Announcement, body_size_max, decodeBody, encodeBody } from "../../src/core/body.ts";
import { Prng } from "../sim/prng.ts";

const sample: Announcement = {
  nodes_hash: 0xdeadbeef,
  ann_seq: 42,
  shutting_down: true,
  standby: "local",
  takeover: "none",
  ping_score: 3,
  groups: [
    { id: "web", state: "running", failures: 0, blocked: false },
    { id: "IPaddr::10.0.0.1", state: "failed", failures: 3, blocked: true },
  ],
  acks: [{ node_index: 1, generation: 2 ** 53 - 1, ann_seq: 7 }],
};

describe("heartbeat body codec", () => {
  test("round trip", () => {
    const bytes = encodeBody(sample);
    expect(decodeBody(bytes)).toEqual({ ok: true, value: sample });
    expect(bytes.length).toBeLessThanOrEqual(body_size_max);
  });

  test("named refusals", () => {
    const bytes = encodeBody(sample);
    expect(decodeBody(new Uint8Array())).toEqual({ ok: false, reason: "empty" });
    expect(decodeBody(new Uint8Array([1, ...bytes.subarray(1)]))).toEqual({ ok: false, reason: "bad_version" });
    expect(decodeBody(new Uint8Array([...bytes, 0]))).toEqual({ ok: false, reason: "malformed" });
    expect(decodeBody(new Uint8Array(body_size_max + 1).fill(1))).toEqual({ ok: false, reason: "too_big" });
    const bad_state = bytes.slice();
    bad_state[14 + 1 + 3] = 9; // first group's state
    expect(decodeBody(bad_state)).toEqual({ ok: false, reason: "malformed" });
  });

  test("ping_score: null round-trips (255 on the wire), values saturate at 254", () => {
    expect(decodeBody(encodeBody({ ...sample, ping_score: null }))).toEqual({ ok: true, value: { ...sample, ping_score: null } });
    const big = decodeBody(encodeBody({ ...sample, ping_score: 1000 }));
    expect(big.ok && big.value.ping_score).toBe(254);
  });

  test("every truncation is refused, never thrown", () => {
    const bytes = encodeBody(sample);
    for (let n = 0; n < bytes.length; n++) expect(decodeBody(bytes.subarray(0, n)).ok).toBe(false);
  });

  test("fuzz: random mutations never throw, and accepted ones re-encode identically", () => {
    const r = new Prng(1234);
    const base = encodeBody(sample);
    for (let i = 0; i < 20_000; i++) {
      const b = base.slice(0, r.int(0, base.length + 4));
      for (let k = r.int(1, 4); k > 0; k--) if (b.length > 0) b[r.int(0, b.length - 1)] = r.int(0, 255);
      const d = decodeBody(b);
      if (d.ok) expect(encodeBody(d.value)).toEqual(b);
    }
  });

  test("encode asserts on values it cannot carry", () => {
    expect(() => encodeBody({ ...sample, groups: [{ id: "has space", state: "stopped", failures: 0, blocked: false }] })).toThrow();
    expect(() => encodeBody({ ...sample, ann_seq: -1 })).toThrow();
  });
});
