// The placement simulator re-sends an unchanged announcement as the same
// bytes, and asks placement.announcementEquals (no allocation) instead of
// building announcement() to compare. This checks the two agree: after every
// placement step of simulator schedules, announcementEquals(state, previous)
// must say what comparing announcement(state) with the previous one says
// (the node's announcement after its previous step), and hold for the
// announcement the state gives now.
import { describe, expect, test } from "bun:test";
import type { Announcement } from "../../src/core/body.ts";
import * as placement from "../../src/core/placement.ts";
import { classOptions } from "./classes.ts";
import { runPlacementSeed } from "./placement_sim.ts";

describe("placement: announcementEquals", () => {
  test("agrees with comparing announcement() field by field", () => {
    let same = 0;
    let differ = 0;
    const mismatches: string[] = [];
    for (const seed of [3, 4, 5, 6, 7, 13, 16, 17, 8, 19]) {
      const last = new Map<placement.PlacementState, Announcement>();
      runPlacementSeed(seed, { ...classOptions(seed), ...(seed % 10 >= 8 ? { duration_ms: 600_000 } : {}) }, (s, ev, now) => {
        const out = placement.step(s, ev, now);
        const a = placement.announcement(s);
        const prev = last.get(s);
        if (prev !== undefined) {
          const want = JSON.stringify(a) === JSON.stringify(prev);
          if (want) same++;
          else differ++;
          if (placement.announcementEquals(s, prev) !== want && mismatches.length < 5) {
            mismatches.push(`seed ${seed} t=${now}: ${JSON.stringify(a)} vs ${JSON.stringify(prev)}, announcementEquals said ${!want}`);
          }
        }
        if (!placement.announcementEquals(s, a) && mismatches.length < 5) mismatches.push(`seed ${seed} t=${now}: not equal to its own announcement`);
        last.set(s, a);
        return out;
      });
    }
    expect(mismatches).toEqual([]);
    expect(same).toBeGreaterThan(1000);
    expect(differ).toBeGreaterThan(100); // both answers were exercised
  }, 120_000);
});
