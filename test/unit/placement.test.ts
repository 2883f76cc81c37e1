import { describe, expect, test } from "bun:test";
import {
  type PlacementAction,
  type PlacementConfig,
  type PlacementEvent,
  type PlacementState,
  announcement,
  initialState,
  nextDeadline,
  statusView,
  step,
  validateConfig,
} from "../../src/core/placement.ts";

const base = (self: string, over: Partial<PlacementConfig> = {}): PlacementConfig => ({
  self,
  nodes: ["a", "b"],
  generation: self === "a" ? 10 : 20,
  groups: [
    { id: "g1", preferred_node: "a" },
    { id: "g2", preferred_node: "b" },
  ],
  auto_failback: "off",
  start_failures_max: 2,
  monitor: { interval_ms: 1000, timeout_ms: 500, restarts_max: 1 },
  stop_retry_ms: 200,
  fencing_required: false,
  ping_units: 0,
  ...over,
});

/** Two cores and a hand-cranked network: `sync` exchanges announcements until quiet. */
class Pair {
  a: PlacementState;
  b: PlacementState;
  now = 0;
  log: { node: string; a: PlacementAction }[] = [];
  constructor(over: Partial<PlacementConfig> = {}) {
    this.a = initialState(base("a", over), 0);
    this.b = initialState(base("b", over), 0);
  }
  core(n: string): PlacementState {
    return n === "a" ? this.a : this.b;
  }
  ev(n: string, e: PlacementEvent): PlacementAction[] {
    const acts = step(this.core(n), e, this.now);
    for (const a of acts) this.log.push({ node: n, a });
    return acts;
  }
  /** complete every pending agent op successfully */
  agents(n: string, ok: (op: string, g: string) => boolean = () => true): void {
    for (let i = 0; i < 50; i++) {
      const g = this.core(n).groups.find((x) => x.op !== null);
      if (!g) return;
      this.ev(n, { type: "agent_done", group: g.id, action: g.op!, ok: ok(g.op!, g.id), detail: "test" });
    }
    throw new Error("agents did not settle");
  }
  up(): void {
    this.ev("a", { type: "node_up", node: "b", generation: 20 });
    this.ev("b", { type: "node_up", node: "a", generation: 10 });
  }
  sync(rounds = 6): void {
    for (let i = 0; i < rounds; i++) {
      this.agents("a");
      this.agents("b");
      if (this.b.peers.get("a")!.status === "up") this.ev("b", { type: "peer_state", node: "a", announcement: announcement(this.a) });
      if (this.a.peers.get("b")!.status === "up") this.ev("a", { type: "peer_state", node: "b", announcement: announcement(this.b) });
    }
  }
  state(n: string): Record<string, string> {
    return Object.fromEntries(this.core(n).groups.map((g) => [g.id, g.state]));
  }
  starts(n: string): string[] {
    return this.log.filter((l) => l.node === n && l.a.type === "start_group").map((l) => (l.a as { group: string }).group);
  }
  events(kind: string): string[] {
    return this.log.filter((l) => l.a.type === "log" && l.a.event === kind).map((l) => `${l.node}:${(l.a as { group: string | null }).group}`);
  }
}

describe("placement core", () => {
  test("boot: cleanup stops, last group first, one at a time", () => {
    const s = initialState(base("a"), 0);
    expect(step(s, { type: "tick" }, 0).filter((x) => x.type === "stop_group")).toEqual([{ type: "stop_group", group: "g2" }]);
    const next = step(s, { type: "agent_done", group: "g2", action: "stop", ok: true, detail: "" }, 1);
    expect(next.filter((x) => x.type === "stop_group")).toEqual([{ type: "stop_group", group: "g1" }]);
    expect(announcement(s).groups.map((g) => g.state)).toEqual(["stopping", "stopped"]);
  });

  test("a peer in init blocks every start; its death at initdead unblocks", () => {
    const s = initialState(base("a"), 0);
    step(s, { type: "tick" }, 0);
    step(s, { type: "agent_done", group: "g2", action: "stop", ok: true, detail: "" }, 1);
    step(s, { type: "agent_done", group: "g1", action: "stop", ok: true, detail: "" }, 2);
    expect(s.groups.map((g) => g.state)).toEqual(["stopped", "stopped"]);
    const acts = step(s, { type: "node_dead", node: "b", reason: "deadtime" }, 3);
    expect(acts.filter((x) => x.type === "start_group").map((x) => (x as { group: string }).group)).toEqual(["g1"]);
  });

  test("both up: each preferred node starts its group only after the peer acked its claim", () => {
    const p = new Pair();
    p.up();
    p.agents("a");
    p.agents("b");
    expect(p.starts("a")).toEqual([]);
    p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) });
    p.ev("a", { type: "peer_state", node: "b", announcement: announcement(p.b) });
    expect(p.state("a").g1).toBe("starting"); // claimed
    expect(p.starts("a")).toEqual([]); // b has not seen the claim yet
    p.sync();
    expect(p.starts("a")).toEqual(["g1"]);
    expect(p.starts("b")).toEqual(["g2"]);
    expect(p.state("a")).toEqual({ g1: "running", g2: "stopped" });
    expect(statusView(p.b).map((g) => [g.id, g.holder])).toEqual([["g1", "a"], ["g2", "b"]]);
  });

  test("failover on death, no failback when off", () => {
    const p = new Pair();
    p.up();
    p.sync();
    p.ev("b", { type: "node_dead", node: "a", reason: "deadtime" });
    p.agents("b");
    expect(p.state("b")).toEqual({ g1: "running", g2: "running" });
    expect(p.events("takeover")).toContain("b:g1");
    // a comes back: g1 stays on b (stickiness)
    p.a = initialState(base("a", { generation: 11 }), 0);
    p.ev("a", { type: "node_up", node: "b", generation: 20 });
    p.ev("b", { type: "node_up", node: "a", generation: 11 });
    p.sync(10);
    expect(p.state("a")).toEqual({ g1: "stopped", g2: "stopped" });
    expect(p.state("b")).toEqual({ g1: "running", g2: "running" });
  });

  test("auto_failback on: the holder stops, then the preferred node starts", () => {
    for (const mode of ["on", "legacy"] as const) {
      const p = new Pair({ auto_failback: mode });
      p.up();
      p.sync();
      p.ev("b", { type: "node_dead", node: "a", reason: "deadtime" });
      p.agents("b");
      p.a = initialState(base("a", { generation: 11, auto_failback: mode }), 0);
      p.ev("a", { type: "node_up", node: "b", generation: 20 });
      p.ev("b", { type: "node_up", node: "a", generation: 11 });
      p.sync(10);
      expect(p.state("a")).toEqual({ g1: "running", g2: "stopped" });
      expect(p.state("b")).toEqual({ g1: "stopped", g2: "running" });
      expect(p.events("failback")).toEqual(["b:g1"]);
    }
  });

  test("fencing_required: a dead peer's groups wait for fence_done", () => {
    const p = new Pair({ fencing_required: true });
    p.up();
    p.sync();
    const acts = p.ev("b", { type: "node_dead", node: "a", reason: "deadtime" });
    // a held g1, b held g2: a tie, so the tie-break (node order) decides later
    expect(acts).toContainEqual({ type: "fence_node", node: "a", reason: "dead", self_held: 1, peer_held: 1 });
    expect(acts.some((x) => x.type === "start_group")).toBe(false);
    expect(p.ev("b", { type: "fence_done", node: "a" })).toContainEqual({ type: "start_group", group: "g1" });
  });

  test("fencing_required: a failed stop is announced and the peer fences that node, then takes over", () => {
    const p = new Pair({ fencing_required: true });
    p.up();
    p.sync();
    expect(p.state("a").g1).toBe("running");
    p.ev("a", { type: "admin", command: "standby", scope: "all" });
    p.agents("a", (op) => op !== "stop"); // every stop fails
    expect(announcement(p.a).groups.find((g) => g.id === "g1")!.state).toBe("stop_failed");
    const acts = p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) });
    expect(acts).toContainEqual({ type: "fence_node", node: "a", reason: "stop_failed", self_held: 1, peer_held: 1 });
    expect(acts.some((x) => x.type === "start_group")).toBe(false);
    // asked once, however many announcements repeat it
    expect(p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) }).some((x) => x.type === "fence_node")).toBe(false);
    expect(p.ev("b", { type: "fence_done", node: "a" })).toContainEqual({ type: "start_group", group: "g1" });
    // membership's later verdict on the fenced node asks for nothing more
    expect(p.ev("b", { type: "node_dead", node: "a", reason: "deadtime" }).some((x) => x.type === "fence_node")).toBe(false);
  });

  test("without fencing a failed stop stays announced and nobody starts the group", () => {
    const p = new Pair();
    p.up();
    p.sync();
    p.ev("a", { type: "admin", command: "standby", scope: "all" });
    p.agents("a", (op) => op !== "stop");
    const acts = p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) });
    expect(acts.some((x) => x.type === "fence_node" || (x.type === "start_group" && x.group === "g1"))).toBe(false);
  });

  test("ipfail: the node that loses its ping nodes hands its groups to the better-connected one", () => {
    const p = new Pair({ ping_units: 2 });
    p.ev("a", { type: "connectivity", score: 2 });
    p.ev("b", { type: "connectivity", score: 2 });
    p.up();
    p.sync();
    expect(p.state("a").g1).toBe("running");
    expect(p.state("b").g2).toBe("running");
    p.ev("a", { type: "connectivity", score: 1 }); // one of two ping nodes lost
    p.sync(10);
    expect(p.state("a").g1).toBe("stopped");
    expect(p.state("b").g1).toBe("running");
    expect(p.state("b").g2).toBe("running");
    // connectivity back: auto_failback off, so g1 stays where it is
    p.ev("a", { type: "connectivity", score: 2 });
    p.sync(10);
    expect(p.state("b").g1).toBe("running");
  });

  test("ipfail: a node that reaches no ping node keeps what it holds but takes nothing over", () => {
    const p = new Pair({ ping_units: 1 });
    p.ev("a", { type: "connectivity", score: 1 });
    p.ev("b", { type: "connectivity", score: 1 });
    p.up();
    p.sync();
    // the ping node dies: a notices first (demoted: g1 moves to b), then b;
    // with both at zero the ping node is what failed, and nothing stops
    p.ev("a", { type: "connectivity", score: 0 });
    p.sync(10);
    p.ev("b", { type: "connectivity", score: 0 });
    p.sync(10);
    expect([p.state("a").g1, p.state("b").g1, p.state("b").g2]).toEqual(["stopped", "running", "running"]);
    // then b dies: a, alone and cut off from the ping node, takes nothing over
    const acts = p.ev("a", { type: "node_dead", node: "b", reason: "deadtime" });
    expect(acts.some((x) => x.type === "start_group")).toBe(false);
    p.agents("a");
    expect(p.state("a")).toEqual({ g1: "stopped", g2: "stopped" });
    // until it reaches the ping node again
    p.ev("a", { type: "connectivity", score: 1 });
    p.agents("a");
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
  });

  test("ipfail: alone and isolated, a node keeps the groups it already runs", () => {
    const p = new Pair({ ping_units: 1 });
    p.ev("a", { type: "connectivity", score: 1 });
    p.ev("b", { type: "connectivity", score: 1 });
    p.up();
    p.sync();
    p.ev("a", { type: "node_dead", node: "b", reason: "deadtime" });
    p.agents("a");
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
    p.ev("a", { type: "connectivity", score: 0 });
    p.agents("a");
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
  });

  test("ipfail configured on one node only is a config mismatch", () => {
    expect(initialState(base("a", { ping_units: 1 }), 0).nodes_hash).not.toBe(initialState(base("a"), 0).nodes_hash);
  });

  test("a restarted peer holds everything until its new incarnation announces", () => {
    const p = new Pair({ fencing_required: true });
    p.up();
    p.sync();
    expect(p.ev("b", { type: "node_dead", node: "a", reason: "restarted" }).some((x) => x.type === "start_group" || x.type === "fence_node")).toBe(false);
    p.a = initialState(base("a", { generation: 11 }), 0);
    expect(p.ev("b", { type: "node_up", node: "a", generation: 11 }).some((x) => x.type === "start_group")).toBe(false);
    p.ev("a", { type: "node_up", node: "b", generation: 20 });
    p.sync(10);
    expect(p.state("a").g1).toBe("running"); // preferred and nobody held it any more
  });

  test("start failure: cleanup stop, then the peer takes over; blocked everywhere -> unplaceable", () => {
    const p = new Pair({ start_failures_max: 1 });
    p.up();
    p.sync(1);
    for (let i = 0; i < 10; i++) {
      p.agents("a", (op, g) => !(op === "start" && g === "g1"));
      p.agents("b", (op, g) => !(op === "start" && g === "g1"));
      p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) });
      p.ev("a", { type: "peer_state", node: "b", announcement: announcement(p.b) });
    }
    expect(p.starts("a").filter((g) => g === "g1").length).toBe(1);
    expect(p.starts("b").filter((g) => g === "g1").length).toBe(1);
    expect(p.state("a").g1).toBe("failed");
    expect(p.state("b").g1).toBe("failed");
    expect(p.events("unplaceable")).toContain("a:g1");
    // an admin takeover resets our count and runs it again
    p.ev("a", { type: "admin", command: "takeover", scope: "local" });
    p.sync(6);
    expect(p.state("a").g1).toBe("running");
  });

  test("each group keeps its own monitor schedule; interval 0 is never monitored", () => {
    const p = new Pair({
      groups: [
        { id: "g1", preferred_node: "a", monitor: { interval_ms: 0, timeout_ms: 500 } },
        { id: "g2", preferred_node: "a", monitor: { interval_ms: 300, timeout_ms: 100 } },
      ],
    });
    p.up();
    p.sync();
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
    expect(nextDeadline(p.a)).toBe(300);
    const monitors: PlacementAction[] = [];
    for (const t of [300, 600, 5000]) {
      p.now = t;
      monitors.push(...p.ev("a", { type: "tick" }).filter((x) => x.type === "monitor_group"));
      for (const g of p.a.groups.filter((x) => x.op === "monitor")) p.ev("a", { type: "agent_done", group: g.id, action: "monitor", ok: true, detail: "" });
    }
    expect(monitors).toEqual([
      { type: "monitor_group", group: "g2", timeout_ms: 100 },
      { type: "monitor_group", group: "g2", timeout_ms: 100 },
      { type: "monitor_group", group: "g2", timeout_ms: 100 },
    ]);
    expect(validateConfig(base("a", { groups: [{ id: "g1", preferred_node: "a", monitor: { interval_ms: 10, timeout_ms: 0 } }] }))).toContain("monitor");
  });

  test("monitor failure restarts in place, then gives up to the peer", () => {
    const p = new Pair();
    p.up();
    p.sync();
    p.now = 1000;
    expect(nextDeadline(p.a)).toBe(1000);
    expect(p.ev("a", { type: "tick" })).toContainEqual({ type: "monitor_group", group: "g1", timeout_ms: 500 });
    p.ev("a", { type: "agent_done", group: "g1", action: "monitor", ok: false, detail: "gone" });
    expect(p.ev("a", { type: "agent_done", group: "g1", action: "stop", ok: true, detail: "" })).toContainEqual({ type: "start_group", group: "g1" });
    p.ev("a", { type: "agent_done", group: "g1", action: "start", ok: true, detail: "" });
    p.now = 2000;
    p.ev("a", { type: "tick" });
    p.ev("a", { type: "agent_done", group: "g1", action: "monitor", ok: false, detail: "gone" });
    p.sync(8);
    expect(p.events("gave_up")).toEqual(["a:g1"]);
    expect(p.state("a").g1).toBe("failed");
    expect(p.state("b").g1).toBe("running");
  });

  test("a failed stop stays stopping (held) and is retried", () => {
    const p = new Pair();
    p.up();
    p.sync();
    p.ev("a", { type: "admin", command: "standby", scope: "all" });
    p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) });
    p.ev("a", { type: "agent_done", group: "g1", action: "stop", ok: false, detail: "busy" });
    expect(p.state("a").g1).toBe("stopping");
    p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) });
    expect(p.starts("b")).toEqual(["g2"]);
    p.now = 199;
    expect(nextDeadline(p.a)).toBe(200);
    p.now = 200;
    expect(p.ev("a", { type: "tick" })).toContainEqual({ type: "stop_group", group: "g1" });
  });

  test("standby moves groups, but never strands them; takeover pulls them back", () => {
    const p = new Pair();
    p.up();
    p.sync();
    p.ev("a", { type: "admin", command: "standby", scope: "all" });
    p.sync(10);
    expect(p.state("b")).toEqual({ g1: "running", g2: "running" });
    // b dies: a still runs everything although in standby
    p.ev("a", { type: "node_dead", node: "b", reason: "deadtime" });
    p.agents("a");
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
  });

  test("takeover foreign pulls the peer's groups here", () => {
    const p = new Pair();
    p.up();
    p.sync();
    p.ev("a", { type: "admin", command: "takeover", scope: "foreign" });
    p.sync(10);
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
    expect(p.state("b")).toEqual({ g1: "stopped", g2: "stopped" });
  });

  test("graceful shutdown stops in reverse order, then ready_to_exit; the peer takes over after", () => {
    const p = new Pair({ groups: [{ id: "g1", preferred_node: "a" }, { id: "g2", preferred_node: "a" }] });
    p.up();
    p.sync();
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
    expect(p.ev("a", { type: "shutdown" }).filter((x) => x.type === "stop_group")).toEqual([{ type: "stop_group", group: "g2" }]);
    p.ev("b", { type: "peer_state", node: "a", announcement: announcement(p.a) });
    expect(p.starts("b")).toEqual([]);
    p.agents("a");
    expect(p.log.some((l) => l.node === "a" && l.a.type === "ready_to_exit")).toBe(true);
    p.sync(6);
    expect(p.state("b")).toEqual({ g1: "running", g2: "running" });
  });

  test("conflict after a partition heals: the non-target stops", () => {
    const p = new Pair();
    p.up();
    p.sync();
    p.ev("a", { type: "node_dead", node: "b", reason: "deadtime" });
    p.ev("b", { type: "node_dead", node: "a", reason: "deadtime" });
    p.agents("a");
    p.agents("b");
    expect(p.state("a")).toEqual({ g1: "running", g2: "running" });
    expect(p.state("b")).toEqual({ g1: "running", g2: "running" });
    p.up();
    p.sync(10);
    expect(p.events("conflict").length).toBeGreaterThan(0);
    expect(p.state("a")).toEqual({ g1: "running", g2: "stopped" });
    expect(p.state("b")).toEqual({ g1: "stopped", g2: "running" });
  });

  test("two concurrent claims: the better rank keeps it", () => {
    // g3 prefers a node that is neither: rank by node order, a wins
    const over = { nodes: ["a", "b", "c"], groups: [{ id: "g3", preferred_node: "c" }], auto_failback: "on" as const };
    const a = initialState(base("a", over), 0);
    const b = initialState(base("b", over), 0);
    for (const [s, peer, gen] of [[a, "b", 20], [b, "a", 10]] as const) {
      step(s, { type: "node_dead", node: "c", reason: "deadtime" }, 0);
      step(s, { type: "node_up", node: peer, generation: gen }, 0);
      step(s, { type: "agent_done", group: "g3", action: "stop", ok: true, detail: "" }, 0);
    }
    // b goes standby but a has not heard it; b then clears it: both claim from different views
    const b_view_of_a = announcement(a);
    step(a, { type: "peer_state", node: "b", announcement: { ...announcement(b), standby: "all" } }, 0);
    step(b, { type: "peer_state", node: "a", announcement: { ...b_view_of_a, standby: "all" } }, 0);
    expect(a.groups[0]!.state).toBe("starting");
    expect(b.groups[0]!.state).toBe("starting");
    let started = 0;
    for (let i = 0; i < 4; i++) {
      started += step(a, { type: "peer_state", node: "b", announcement: announcement(b) }, 1).filter((x) => x.type === "start_group").length;
      started += step(b, { type: "peer_state", node: "a", announcement: announcement(a) }, 1).filter((x) => x.type === "start_group").length;
    }
    expect(started).toBe(1);
    expect([a.groups[0]!.op, b.groups[0]!.state]).toEqual(["start", "stopped"]);
  });

  test("a peer with another config never acks: nothing starts while it is up", () => {
    const p = new Pair();
    p.b = initialState(base("b", { auto_failback: "on" }), 0);
    p.up();
    p.sync(6);
    expect(p.starts("a")).toEqual([]);
    expect(p.events("config_mismatch")).toContain("a:null");
  });

  test("config validation", () => {
    expect(validateConfig(base("a"))).toBeNull();
    expect(validateConfig(base("z"))).toContain("not in the node list");
    expect(validateConfig(base("a", { groups: [{ id: "x", preferred_node: "q" }] }))).toContain("preferred node");
    expect(validateConfig(base("a", { groups: [{ id: "x", preferred_node: "a" }, { id: "x", preferred_node: "a" }] }))).toContain("duplicate");
    expect(validateConfig(base("a", { start_failures_max: 0 }))).toContain("start_failures_max");
  });
});
