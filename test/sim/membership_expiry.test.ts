// membership keeps expiry_floor_ms exact between scans where it can (a frame
// heard moves its terms to now + deadtime; see MembershipState.expiry_exact)
// and nextExpiry then answers without scanning. This checks, after every
// step of simulator schedules, that the answer equals a fresh scan's (a copy
// with the flag cleared) and that the floor never exceeds the true earliest
// timeout (expire must not be skipped when something is due).
import { describe, expect, test } from "bun:test";
import * as membership from "../../src/core/membership.ts";
import { runSeed } from "./cluster.ts";

describe("membership: the cached earliest timeout", () => {
  test("equals a fresh scan after every step", () => {
    let steps = 0;
    let cached = 0;
    const mismatches: string[] = [];
    for (let seed = 1; seed <= 40 && mismatches.length === 0; seed++) {
      runSeed(seed, {}, (s, ev, now) => {
        const out = membership.step(s, ev, now);
        steps++;
        if (s.expiry_exact) cached++;
        const fresh = structuredClone(s);
        fresh.expiry_exact = false;
        fresh.settle_until_ms = -Infinity;
        const want = membership.nextExpiry(fresh);
        const floor_ok = s.expiry_floor_ms <= want;
        const exact_ok = !s.expiry_exact || s.expiry_floor_ms === want;
        if ((!floor_ok || !exact_ok) && mismatches.length < 5) {
          mismatches.push(`seed ${seed} t=${now} ${JSON.stringify(ev)}: floor ${s.expiry_floor_ms} exact ${s.expiry_exact}, scan ${want}`);
        }
        return out;
      });
    }
    expect(mismatches).toEqual([]);
    expect(steps).toBeGreaterThan(50_000);
    expect(cached).toBeGreaterThan(steps / 4); // the cache has work to do
  }, 120_000);
});
