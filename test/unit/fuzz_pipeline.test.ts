// Hostile datagrams through the real decode -> core pipeline: nothing that
// fails authentication, and no replay, may change membership state.
import { expect, test } from "bun:test";
import type { AuthKey, AuthKeys } from "../../src/config/types.ts";
import { initialState, type MembershipState, step } from "../../src/core/membership.ts";
import { NativeCodec } from "../../src/wire/native.ts";
import { Prng } from "../sim/prng.ts";

const key: AuthKey = { index: 1, method: "sha256", key: "k", line: 2 };
const auth: AuthKeys = { file: "authkeys", active: key, keys: new Map([[1, key]]) };
const codec = new NativeCodec(auth);

function membershipSnapshot(s: MembershipState): string {
  return JSON.stringify([...s.peers.values()].map((p) => ({ ...p, links: [...p.links] })));
}

function feed(s: MembershipState, bytes: Uint8Array, now: number): void {
  const r = codec.decode(bytes);
  if (!r.ok) step(s, { type: "undecodable", reason: r.reason, link: "l1" }, now);
  else step(s, { type: "frame", kind: r.frame.kind as "heartbeat", from: r.frame.node, link: "l1", generation: r.frame.generation, seq: r.frame.seq }, now);
}

test("random, mutated and replayed datagrams never change membership", () => {
  const s = initialState(
    { self: "a", nodes: ["a", "b"], links: ["l1"], generation: 1, keepalive_ms: 100, warntime_ms: 1e8, deadtime_ms: 1e9, initdead_ms: 1e9 },
    0,
  );
  const captured = [1, 2, 3].map((seq) => codec.encode({ kind: "heartbeat", node: "b", generation: 5, seq, body: new Uint8Array() }));
  for (const c of captured) feed(s, c, 1);
  const before = membershipSnapshot(s);
  const rng = new Prng(99);
  for (let i = 0; i < 50_000; i++) {
    let b: Uint8Array;
    const mode = i % 3;
    if (mode === 0) {
      b = new Uint8Array(rng.int(0, 1500)).map(() => rng.int(0, 255));
    } else {
      b = rng.pick(captured).slice();
      if (mode === 1) b[rng.int(0, b.length - 1)] ^= 1 << rng.int(0, 7); // one flipped bit
      // mode 2: an exact replay of an old, authentic packet
    }
    feed(s, b, 2);
  }
  expect(membershipSnapshot(s)).toBe(before);
  expect(s.dropped.replay).toBeGreaterThan(10_000);
  expect(s.dropped.bad_mac).toBeGreaterThan(10_000);
});
