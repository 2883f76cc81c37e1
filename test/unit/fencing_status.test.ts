// The fence delay's power status check (core/fencing.ts, "Already off"):
// OFF while the delay runs fences at once; anything else, or any stale
// answer, leaves the delay as it was.
import { describe, expect, test } from "bun:test";
import { type FencingAction, type FencingConfig, fencingDeadline, fencingStep, initialFencing } from "../../src/core/fencing.ts";

const cfg = (over: Partial<FencingConfig> = {}): FencingConfig => ({
  self: "b",
  nodes: ["a", "b"],
  delay_ms: 5000,
  retry_initial_ms: 1000,
  retry_max_ms: 8000,
  wait_for_all: true,
  ...over,
});

type Check = Extract<FencingAction, { type: "fence_status_check" }>;
const checks = (acts: FencingAction[]) => acts.filter((a): a is Check => a.type === "fence_status_check");
const has = (acts: FencingAction[], type: string) => acts.some((a) => a.type === type);
const logged = (acts: FencingAction[], event: string) => acts.some((a) => a.type === "log" && a.event === event);

/** b (not the holder) sees a die: the delay starts with one status check */
function delayed(over: Partial<FencingConfig> = {}) {
  const s = initialFencing(cfg(over), 0);
  fencingStep(s, { type: "peer_up", node: "a" }, 0);
  const acts = fencingStep(s, { type: "request", node: "a", reason: "dead", self_held: 0, peer_held: 1 }, 1000);
  return { s, acts, check: checks(acts)[0] };
}
const answer = (check: number, off: boolean | null) => ({ type: "fence_status_result" as const, node: "a", check, off, detail: "Status: X" });

describe("fence delay: power status check", () => {
  test("the delay asks for a read-only status once, never a run", () => {
    const { acts, check } = delayed();
    expect(logged(acts, "fence_delay")).toBe(true);
    expect(checks(acts)).toHaveLength(1);
    expect(check!.node).toBe("a");
    expect(has(acts, "run")).toBe(false);
  });

  test("OFF during the delay: fenced at once, logged fence_ok already off, no run", () => {
    const { s, check } = delayed();
    const acts = fencingStep(s, answer(check!.check, true), 1300);
    expect(acts.filter((a) => a.type === "fenced")).toEqual([{ type: "fenced", node: "a", by: "agent" }]);
    expect(acts.some((a) => a.type === "log" && a.event === "fence_ok" && /already off/.test(a.detail))).toBe(true);
    expect(has(acts, "run")).toBe(false);
    expect(s.peers.get("a")!.phase).toBe("done");
    expect(s.peers.get("a")!.attempts).toBe(0);
    expect(fencingDeadline(s)).toBe(Infinity);
  });

  for (const off of [false, null]) {
    test(`${off === false ? "ON" : "unknown"}: the delay runs out as before, then a real attempt`, () => {
      const { s, check } = delayed();
      const acts = fencingStep(s, answer(check!.check, off), 1300);
      expect(acts).toEqual([]);
      expect(s.peers.get("a")!.phase).toBe("delay");
      expect(fencingDeadline(s)).toBe(6000);
      expect(has(fencingStep(s, { type: "tick" }, 5999), "run")).toBe(false);
      expect(fencingStep(s, { type: "tick" }, 6000).filter((a) => a.type === "run")).toEqual([{ type: "run", node: "a", attempt: 1 }]);
      // a second answer (OFF) to the same, spent check changes nothing
      expect(fencingStep(s, answer(check!.check, true), 6100)).toEqual([]);
    });
  }

  test("late: an OFF after the delay ended (attempt running) is ignored; the attempt decides", () => {
    const { s, check } = delayed();
    expect(has(fencingStep(s, { type: "tick" }, 6000), "run")).toBe(true);
    expect(fencingStep(s, answer(check!.check, true), 6500)).toEqual([]);
    expect(s.peers.get("a")!.phase).toBe("running");
    const res = fencingStep(s, { type: "result", node: "a", ok: false, detail: "timeout" }, 7000);
    expect(logged(res, "fence_failed")).toBe(true);
    expect(s.peers.get("a")!.phase).toBe("backoff");
    expect(fencingStep(s, answer(check!.check, true), 7100)).toEqual([]);
    expect(s.peers.get("a")!.phase).toBe("backoff");
  });

  test("an OFF after the peer came back alive is ignored, also in the next delay", () => {
    const { s, check } = delayed();
    expect(logged(fencingStep(s, { type: "peer_up", node: "a" }, 2000), "fence_cancelled")).toBe(true);
    expect(fencingStep(s, answer(check!.check, true), 2100)).toEqual([]);
    expect(s.peers.get("a")!.phase).toBe("idle");
    // it dies again: a new delay with a new check; the old answer is stale
    const again = fencingStep(s, { type: "request", node: "a", reason: "dead", self_held: 0, peer_held: 1 }, 3000);
    const check2 = checks(again)[0]!;
    expect(check2.check).not.toBe(check!.check);
    expect(fencingStep(s, answer(check!.check, true), 3100)).toEqual([]);
    expect(s.peers.get("a")!.phase).toBe("delay");
    expect(has(fencingStep(s, answer(check2.check, true), 3200), "fenced")).toBe(true);
  });

  test("the holder fences at once and asks nothing", () => {
    const s = initialFencing(cfg({ self: "a" }), 0);
    fencingStep(s, { type: "peer_up", node: "b" }, 0);
    const acts = fencingStep(s, { type: "request", node: "b", reason: "dead", self_held: 1, peer_held: 0 }, 1000);
    expect(has(acts, "run")).toBe(true);
    expect(checks(acts)).toHaveLength(0);
  });

  test("held back (no ping node reachable): an OFF does not bypass the hold", () => {
    const { s, check } = delayed();
    fencingStep(s, { type: "connectivity", isolated: true }, 1100);
    expect(fencingStep(s, answer(check!.check, true), 1200)).toEqual([]);
    expect(s.peers.get("a")!.phase).toBe("delay");
  });

  test("quorum_required: no status check (the delay is also quorum's settle)", () => {
    const s = initialFencing(cfg({ nodes: ["a", "b", "c"], quorum_required: true, quorum_settle_ms: 3000 }), 0);
    fencingStep(s, { type: "peer_up", node: "a" }, 0);
    const acts = fencingStep(s, { type: "request", node: "a", reason: "dead", self_held: 0, peer_held: 1 }, 1000);
    expect(logged(acts, "fence_delay")).toBe(true);
    expect(checks(acts)).toHaveLength(0);
  });

  test("an answer for an unknown node or check 0 is ignored", () => {
    const { s } = delayed();
    expect(fencingStep(s, { type: "fence_status_result", node: "zz", check: 1, off: true, detail: "" }, 1200)).toEqual([]);
    expect(fencingStep(s, answer(0, true), 1200)).toEqual([]);
    expect(s.peers.get("a")!.phase).toBe("delay");
  });
});
