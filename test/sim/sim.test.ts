// Simulation layer: the real membership core under a seeded swarm of faults.
// `bun test/sim/run.ts --seeds 10000` runs thousands; CI runs a few hundred.
import { describe, expect, test } from "bun:test";
import { type MembershipEvent, step } from "../../src/core/membership.ts";
import { runSeed, type StepFn } from "./cluster.ts";

const seeds_default = Number(process.env.SIM_SEEDS ?? 400);

describe("simulator", () => {
  test(`${seeds_default} seeds hold every invariant`, () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= seeds_default; seed++) {
      const r = runSeed(seed);
      if (r.violations.length > 0) failures.push(`seed=${seed}: ${r.violations[0]} (replay: bun test/sim/run.ts --seed=${seed})`);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  test("a seed replays exactly", () => {
    expect(runSeed(77)).toEqual(runSeed(77));
  });

  // The simulator must be able to fail: broken cores are caught.
  test("catches a core that ignores heartbeats (false deaths)", () => {
    const deaf: StepFn = (s, ev, now) => {
      const f = ev as Extract<MembershipEvent, { type: "frame" }>;
      if (ev.type === "frame" && f.kind === "heartbeat" && f.seq % 3 === 0) return step(s, { type: "tick" }, now);
      return step(s, ev, now);
    };
    const caught = [1, 2, 3, 4, 5, 6, 7, 8].some((seed) =>
      runSeed(seed, { loss_probability: 0, keepalive_ms: 100, deadtime_ms: 250 }, deaf).violations.some((v) =>
        v.includes("declared"),
      ),
    );
    expect(caught).toBe(true);
  });

  test("catches a core that never declares death", () => {
    const immortal: StepFn = (s, ev, now) => {
      s.cfg.deadtime_ms = 1e12;
      return step(s, ev, now);
    };
    const r = runSeed(3, { fault_interval_ms: 2000 }, immortal);
    expect(r.violations.some((v) => v.includes("past the detection bound"))).toBe(true);
  });

  test("catches a core that forgets restarted peers (no convergence)", () => {
    const stale: StepFn = (s, ev, now) => {
      if (ev.type === "frame" && (s.peers.get(ev.from)?.generation ?? 0) > 0) {
        return step(s, { ...ev, generation: s.peers.get(ev.from)!.generation }, now);
      }
      return step(s, ev, now);
    };
    const caught = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].some((seed) =>
      runSeed(seed, {}, stale).violations.some((v) => v.includes("no convergence")),
    );
    expect(caught).toBe(true);
  });
});
