import { describe, expect, test } from "bun:test";
import {
  type FencingAction,
  type FencingConfig,
  type FencingEvent,
  type FencingState,
  fencingDeadline,
  fencingStatus,
  fencingStep,
  initialFencing,
  winsTieBreak,
} from "../../src/core/fencing.ts";

const cfg = (self: string, over: Partial<FencingConfig> = {}): FencingConfig => ({
  self,
  nodes: ["a", "b"],
  delay_ms: 5000,
  retry_initial_ms: 1000,
  retry_max_ms: 8000,
  wait_for_all: true,
  ...over,
});

class Core {
  s: FencingState;
  now = 0;
  constructor(c: FencingConfig) {
    this.s = initialFencing(c, 0);
  }
  ev(e: FencingEvent): FencingAction[] {
    return fencingStep(this.s, e, this.now);
  }
  /** advance to the next deadline and tick */
  advance(): FencingAction[] {
    const t = fencingDeadline(this.s);
    if (t === Infinity) return [];
    this.now = t;
    return this.ev({ type: "tick" });
  }
  phase(n = "b"): string {
    return this.s.peers.get(n)!.phase;
  }
}
const runs = (acts: FencingAction[]) => acts.filter((a) => a.type === "run").map((a) => (a as { node: string }).node);
const fenced = (acts: FencingAction[]) => acts.filter((a) => a.type === "fenced");
const dead = (self_held: number, peer_held: number): FencingEvent => ({ type: "request", node: "b", reason: "dead", self_held, peer_held });

describe("fencing core", () => {
  test("tie-break: more groups wins, then ha.cf node order", () => {
    expect(winsTieBreak(cfg("a"), "b", 1, 0)).toBe(true);
    expect(winsTieBreak(cfg("b"), "a", 0, 1)).toBe(false);
    expect(winsTieBreak(cfg("b"), "a", 2, 1)).toBe(true);
    expect(winsTieBreak(cfg("a"), "b", 1, 1)).toBe(true);
    expect(winsTieBreak(cfg("b"), "a", 1, 1)).toBe(false);
  });

  test("the holder fences at once; the other waits the delay", () => {
    const holder = new Core(cfg("a"));
    holder.ev({ type: "peer_up", node: "b" });
    expect(runs(holder.ev(dead(1, 0)))).toEqual(["b"]);
    expect(holder.phase()).toBe("running");

    const other = new Core(cfg("b"));
    other.ev({ type: "peer_up", node: "a" });
    expect(runs(other.ev({ type: "request", node: "a", reason: "dead", self_held: 0, peer_held: 1 }))).toEqual([]);
    expect(other.phase("a")).toBe("delay");
    expect(fencingDeadline(other.s)).toBe(5000);
    other.now = 4999;
    expect(runs(other.ev({ type: "tick" }))).toEqual([]);
    expect(runs(other.advance())).toEqual(["a"]);
  });

  test("links heal during the delay: cancelled, no fence at all", () => {
    const c = new Core(cfg("b"));
    c.ev({ type: "peer_up", node: "a" });
    c.ev({ type: "request", node: "a", reason: "dead", self_held: 0, peer_held: 1 });
    c.now = 100;
    const acts = c.ev({ type: "peer_up", node: "a" });
    expect(acts.some((a) => a.type === "log" && a.event === "fence_cancelled")).toBe(true);
    expect(c.phase("a")).toBe("idle");
    expect(fencingDeadline(c.s)).toBe(Infinity);
  });

  test("failure retries with doubling backoff up to the cap; success ends it", () => {
    const c = new Core(cfg("a"));
    c.ev({ type: "peer_up", node: "b" });
    c.ev(dead(1, 0));
    const gaps: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = c.now;
      expect(fenced(c.ev({ type: "result", node: "b", ok: false, detail: "timeout" }))).toEqual([]);
      expect(c.phase()).toBe("backoff");
      expect(runs(c.advance())).toEqual(["b"]);
      gaps.push(c.now - t0);
    }
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(c.s.peers.get("b")!.attempts).toBe(7);
    expect(fenced(c.ev({ type: "result", node: "b", ok: true, detail: "off" }))).toEqual([{ type: "fenced", node: "b", by: "agent" }]);
    expect(c.phase()).toBe("done");
  });

  test("wait_for_all: a peer never seen is not fenced until confirmed or overridden", () => {
    const c = new Core(cfg("a"));
    expect(runs(c.ev(dead(0, 0)))).toEqual([]);
    expect(c.phase()).toBe("waiting_for_all");
    expect(fencingDeadline(c.s)).toBe(Infinity);
    expect(runs(c.ev({ type: "override" }))).toEqual(["b"]);

    const d = new Core(cfg("a"));
    d.ev(dead(0, 0));
    expect(fenced(d.ev({ type: "confirm", node: "b" }))).toEqual([{ type: "fenced", node: "b", by: "admin" }]);

    const off = new Core(cfg("a", { wait_for_all: false }));
    expect(runs(off.ev(dead(0, 0)))).toEqual(["b"]);
  });

  test("wait_for_all with three nodes: seeing any peer releases the fence of one still dead", () => {
    const c = new Core(cfg("a", { nodes: ["a", "b", "c"] }));
    c.ev({ type: "request", node: "c", reason: "dead", self_held: 0, peer_held: 0 });
    expect(c.phase("c")).toBe("waiting_for_all");
    expect(runs(c.ev({ type: "peer_up", node: "b" }))).toEqual(["c"]);
    // later deaths are fenced as usual
    expect(runs(c.ev({ type: "request", node: "b", reason: "dead", self_held: 1, peer_held: 0 }))).toEqual(["b"]);
  });

  test("a peer back while an attempt runs: success still counts, failure stops retrying", () => {
    const c = new Core(cfg("a"));
    c.ev({ type: "peer_up", node: "b" });
    c.ev(dead(1, 0));
    c.ev({ type: "peer_up", node: "b" });
    expect(fenced(c.ev({ type: "result", node: "b", ok: true, detail: "off" }))).toHaveLength(1);

    const d = new Core(cfg("a"));
    d.ev({ type: "peer_up", node: "b" });
    d.ev(dead(1, 0));
    d.ev({ type: "peer_up", node: "b" });
    d.ev({ type: "result", node: "b", ok: false, detail: "x" });
    expect(d.phase()).toBe("idle");
  });

  test("a failed stop is fenced at once, whoever holds more", () => {
    const c = new Core(cfg("b"));
    c.ev({ type: "peer_up", node: "a" });
    expect(runs(c.ev({ type: "request", node: "a", reason: "stop_failed", self_held: 0, peer_held: 3 }))).toEqual(["a"]);
  });

  test("duplicate requests and stale results change nothing; status reports the phase", () => {
    const c = new Core(cfg("a"));
    c.ev({ type: "peer_up", node: "b" });
    c.ev(dead(1, 0));
    expect(runs(c.ev(dead(1, 0)))).toEqual([]);
    expect(c.s.peers.get("b")!.attempts).toBe(1);
    c.ev({ type: "result", node: "b", ok: true, detail: "off" });
    expect(fenced(c.ev({ type: "result", node: "b", ok: true, detail: "off" }))).toEqual([]);
    expect(c.ev({ type: "request", node: "zz", reason: "dead", self_held: 0, peer_held: 0 })).toEqual([]);
    const st = fencingStatus(c.s, 10);
    expect(st[0]).toMatchObject({ node: "b", phase: "done", attempts: 1, last_result: { ok: true } });
    // the node comes back (rebooted): a later death is a new fence
    c.ev({ type: "peer_up", node: "b" });
    expect(runs(c.ev(dead(1, 0)))).toEqual(["b"]);
  });

  test("a node that reaches no ping node holds its fences until it does", () => {
    const c = new Core(cfg("a"));
    c.ev({ type: "peer_up", node: "b" });
    c.ev({ type: "connectivity", isolated: true });
    const acts = c.ev(dead(1, 0));
    expect(runs(acts)).toEqual([]);
    expect(acts.filter((a) => a.type === "log" && a.event === "fence_isolated")).toHaveLength(1);
    expect(fencingDeadline(c.s)).toBe(Infinity);
    c.now = 50_000;
    expect(c.ev({ type: "tick" })).toEqual([]); // logged once, not on every tick
    expect(runs(c.ev({ type: "connectivity", isolated: false }))).toEqual(["b"]);
  });

  test("bad config is refused", () => {
    expect(() => initialFencing(cfg("z"), 0)).toThrow(/not in the node list/);
    expect(() => initialFencing(cfg("a", { retry_initial_ms: 0 }), 0)).toThrow(/retry/);
  });
});
