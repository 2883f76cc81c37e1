// Quorum for 3+ nodes (placement + fencing), and membership's settle after a
// stall: the pure cores driven by hand, and ha.cf's `quorum` /
// `no_quorum_policy` directives.
import { describe, expect, test } from "bun:test";
import { checkHaCf, quorumRequired } from "../../src/config/hacf.ts";
import { quorumLine } from "../../src/cli/check.ts";
import { type FencingAction, type FencingConfig, fencingDeadline, fencingStep, initialFencing } from "../../src/core/fencing.ts";
import * as membership from "../../src/core/membership.ts";
import {
  type PlacementAction,
  type PlacementConfig,
  type PlacementEvent,
  type PlacementState,
  announcement,
  initialState,
  quorumView,
  step,
} from "../../src/core/placement.ts";

const names = ["a", "b", "c"];

const pcfg = (self: string, over: Partial<PlacementConfig> = {}): PlacementConfig => ({
  self,
  nodes: names,
  generation: 10 + names.indexOf(self),
  groups: [{ id: "g1", preferred_node: "a" }],
  auto_failback: "off",
  start_failures_max: 2,
  monitor: { interval_ms: 100_000, timeout_ms: 500, restarts_max: 1 },
  stop_retry_ms: 200,
  fencing_required: false,
  ping_units: 0,
  quorum: true,
  ...over,
});

/** Three placement cores on a hand-cranked network; `cut` nodes hear nobody and nobody hears them. */
class Trio {
  s: Record<string, PlacementState> = {};
  now = 0;
  acts: Record<string, PlacementAction[]> = { a: [], b: [], c: [] };
  constructor(over: Partial<PlacementConfig> = {}) {
    for (const n of names) this.s[n] = initialState(pcfg(n, over), 0);
  }
  ev(n: string, e: PlacementEvent): PlacementAction[] {
    const out = step(this.s[n]!, e, this.now);
    this.acts[n]!.push(...out);
    return out;
  }
  agents(n: string): void {
    for (let i = 0; i < 20; i++) {
      const g = this.s[n]!.groups.find((x) => x.op !== null);
      if (!g) return;
      this.ev(n, { type: "agent_done", group: g.id, action: g.op!, ok: true, detail: "test" });
    }
  }
  allUp(): void {
    for (const n of names) for (const m of names) if (n !== m) this.ev(n, { type: "node_up", node: m, generation: 10 + names.indexOf(m) });
  }
  /** exchange announcements among `among` until quiet */
  sync(among = names): void {
    for (let round = 0; round < 30; round++) {
      for (const n of among) this.agents(n);
      for (const n of among) for (const m of among) if (n !== m) this.ev(n, { type: "peer_state", node: m, announcement: announcement(this.s[m]!) });
    }
  }
  state(n: string): string {
    return this.s[n]!.groups[0]!.state;
  }
}

describe("placement quorum (3 nodes)", () => {
  test("a node alone has no quorum at boot: it starts nothing, and says so once", () => {
    const t = new Trio();
    const out = t.ev("a", { type: "tick" });
    expect(out).toContainEqual({ type: "quorum", quorate: false, votes: 1, needed: 2 });
    t.ev("a", { type: "node_dead", node: "b", reason: "deadtime" });
    t.ev("a", { type: "node_dead", node: "c", reason: "deadtime" });
    t.agents("a");
    t.ev("a", { type: "tick" });
    expect(t.state("a")).toBe("stopped");
    expect(t.acts.a!.filter((x) => x.type === "quorum")).toHaveLength(1);
    expect(t.acts.a!.some((x) => x.type === "start_group")).toBe(false);
  });

  test("the majority takes over; the isolated holder stops (no_quorum_policy stop)", () => {
    const t = new Trio();
    t.allUp();
    t.sync();
    expect(t.state("a")).toBe("running");
    expect(quorumView(t.s.a!)).toEqual({ required: true, quorate: true, votes: 3, needed: 2, total: 3 });
    // cut a off: each side declares the other dead
    t.ev("a", { type: "node_dead", node: "b", reason: "deadtime" });
    expect(t.state("a")).toBe("running"); // 2 of 3: still quorate
    const lost = t.ev("a", { type: "node_dead", node: "c", reason: "deadtime" });
    expect(lost).toContainEqual({ type: "quorum", quorate: false, votes: 1, needed: 2 });
    expect(lost).toContainEqual({ type: "stop_group", group: "g1" });
    t.agents("a");
    expect(t.state("a")).toBe("stopped");
    for (const n of ["b", "c"]) t.ev(n, { type: "node_dead", node: "a", reason: "deadtime" });
    t.sync(["b", "c"]);
    expect([t.state("b"), t.state("c")].sort()).toEqual(["running", "stopped"]);
    // the heal: a rejoins and stays off (auto_failback off)
    for (const n of ["b", "c"]) t.ev(n, { type: "node_up", node: "a", generation: 10 });
    t.ev("a", { type: "node_up", node: "b", generation: 11 });
    expect(t.acts.a!.at(-1)).toEqual({ type: "quorum", quorate: true, votes: 2, needed: 2 });
    t.ev("a", { type: "node_up", node: "c", generation: 12 });
    t.sync();
    expect(names.filter((n) => t.state(n) === "running")).toHaveLength(1);
    expect(t.state("a")).toBe("stopped");
  });

  test("freeze keeps what runs here, restarts nothing and claims nothing", () => {
    const t = new Trio({ no_quorum_policy: "freeze" });
    t.allUp();
    t.sync();
    t.ev("a", { type: "node_dead", node: "b", reason: "deadtime" });
    const out = t.ev("a", { type: "node_dead", node: "c", reason: "deadtime" });
    expect(out.some((x) => x.type === "stop_group")).toBe(false);
    expect(t.state("a")).toBe("running");
    // a monitor failure without quorum: stopped, not restarted in place
    t.now = 200_000;
    t.ev("a", { type: "tick" });
    t.ev("a", { type: "agent_done", group: "g1", action: "monitor", ok: false, detail: "not running" });
    t.agents("a");
    expect(t.state("a")).toBe("stopped");
    expect(t.acts.a!.filter((x) => x.type === "start_group")).toHaveLength(1); // the first start only
  });

  test("two nodes: quorum off (corosync two_node): a survivor takes over", () => {
    const s = initialState(pcfg("b", { nodes: ["a", "b"], quorum: false }), 0);
    const out = step(s, { type: "node_dead", node: "a", reason: "deadtime" }, 0);
    out.push(...step(s, { type: "agent_done", group: "g1", action: "stop", ok: true, detail: "boot cleanup" }, 1));
    expect(out.some((x) => x.type === "quorum")).toBe(false);
    expect(quorumView(s).quorate).toBe(true);
    expect(out).toContainEqual({ type: "start_group", group: "g1" });
  });
});

const fcfg = (over: Partial<FencingConfig> = {}): FencingConfig => ({
  self: "a",
  nodes: names,
  delay_ms: 5000,
  retry_initial_ms: 1000,
  retry_max_ms: 8000,
  wait_for_all: false,
  quorum_required: true,
  quorum_settle_ms: 3000,
  ...over,
});

const runs = (acts: FencingAction[]) => acts.filter((x) => x.type === "run").map((x) => x.node);

describe("fencing quorum", () => {
  test("without quorum nobody is fenced; the attempt starts when quorum returns", () => {
    const s = initialFencing(fcfg(), 0);
    // quorate (b up), c declared dead: the tie-break winner still waits the settle
    fencingStep(s, { type: "quorum", quorate: true }, 0);
    const req = fencingStep(s, { type: "request", node: "c", reason: "dead", self_held: 1, peer_held: 0 }, 0);
    expect(runs(req)).toEqual([]);
    expect(fencingDeadline(s)).toBe(3000);
    // b is declared dead within the settle: quorum lost, the fence is held
    fencingStep(s, { type: "quorum", quorate: false }, 1000);
    expect(fencingDeadline(s)).toBe(Infinity);
    const due = fencingStep(s, { type: "tick" }, 3000);
    expect(runs(due)).toEqual([]);
    expect(due.some((x) => x.type === "log" && x.event === "fence_no_quorum")).toBe(true);
    expect(runs(fencingStep(s, { type: "tick" }, 60_000))).toEqual([]);
    // quorum back (the first peer heard after a heal): one settle more, so c can be heard too
    expect(runs(fencingStep(s, { type: "quorum", quorate: true }, 61_000))).toEqual([]);
    expect(fencingDeadline(s)).toBe(64_000);
    expect(runs(fencingStep(s, { type: "tick" }, 64_000))).toEqual(["c"]);
  });

  test("a heal: quorum back with one peer, the other heard within the settle is not fenced", () => {
    const s = initialFencing(fcfg(), 0);
    fencingStep(s, { type: "quorum", quorate: true }, 0);
    fencingStep(s, { type: "request", node: "b", reason: "dead", self_held: 1, peer_held: 0 }, 0);
    fencingStep(s, { type: "quorum", quorate: false }, 20); // c declared dead too: cut off
    expect(runs(fencingStep(s, { type: "tick" }, 3000))).toEqual([]);
    expect(runs(fencingStep(s, { type: "quorum", quorate: true }, 5000))).toEqual([]); // c heard first
    const back = fencingStep(s, { type: "peer_up", node: "b" }, 5100);
    expect(back.some((x) => x.type === "log" && x.event === "fence_cancelled")).toBe(true);
    expect(runs(fencingStep(s, { type: "tick" }, 8000))).toEqual([]);
  });

  test("a stall holds attempts until membership has settled", () => {
    const s = initialFencing(fcfg({ quorum_required: false }), 0);
    fencingStep(s, { type: "request", node: "b", reason: "dead", self_held: 1, peer_held: 0 }, 0); // wins: runs at once
    fencingStep(s, { type: "result", node: "b", ok: false, detail: "timeout" }, 10);
    expect(fencingDeadline(s)).toBe(1010);
    const held = fencingStep(s, { type: "stall", settling: true }, 2000);
    held.push(...fencingStep(s, { type: "tick" }, 2000));
    expect(runs(held)).toEqual([]);
    expect(held.some((x) => x.type === "log" && x.event === "fence_stalled")).toBe(true);
    expect(runs(fencingStep(s, { type: "stall", settling: false }, 2200))).toEqual(["b"]);
  });

  test("a failed stop is fenced only with quorum too", () => {
    const s = initialFencing(fcfg(), 0);
    expect(runs(fencingStep(s, { type: "request", node: "b", reason: "stop_failed", self_held: 0, peer_held: 1 }, 0))).toEqual([]);
    expect(runs(fencingStep(s, { type: "quorum", quorate: true }, 5))).toEqual([]);
    expect(runs(fencingStep(s, { type: "tick" }, 3005))).toEqual(["b"]);
  });
});

describe("membership settles after a stall", () => {
  const mcfg: membership.MembershipConfig = {
    self: "a",
    nodes: names,
    links: ["l1"],
    generation: 1,
    keepalive_ms: 100,
    warntime_ms: 250,
    deadtime_ms: 500,
    initdead_ms: 500,
    settle_after_stall_ms: 200,
  };
  const hb = (from: string, seq: number): membership.MembershipEvent => ({ type: "frame", kind: "heartbeat", from, link: "l1", generation: 7, seq });

  /** both peers up, ticking every keepalive until t=1000 */
  function running(): membership.MembershipState {
    const s = membership.initialState(mcfg, 0);
    let seq = 0;
    for (let t = 0; t <= 1000; t += 100) {
      membership.step(s, { type: "tick" }, t);
      seq++;
      membership.step(s, hb("b", seq), t + 1);
      membership.step(s, hb("c", seq), t + 2);
    }
    return s;
  }

  test("a 2.5 s stall: no verdict at the wake, the peer heard meanwhile stays up, the silent one dies at the settle's end", () => {
    const s = running();
    const wake = membership.step(s, { type: "tick" }, 3500);
    expect(wake[0]).toEqual({ type: "stall", gap_ms: 3500 - 1002, settle_ms: 200 });
    expect(wake.some((x) => x.type === "node_dead" || x.type === "link_down")).toBe(false);
    // b's queued heartbeat is read after the timer (the SIGSTOP case)
    expect(membership.step(s, hb("b", 100), 3501).some((x) => x.type === "node_dead")).toBe(false);
    expect(membership.nextExpiry(s)).toBe(3700);
    const end = membership.step(s, { type: "tick" }, 3700);
    expect(end.filter((x) => x.type === "node_dead").map((x) => (x as { node: string }).node)).toEqual(["c"]);
    expect(end).toContainEqual({ type: "settled" });
    expect(s.peers.get("b")!.state).toBe("up");
  });

  test("without settle_after_stall_ms the same wake declares both dead at once (the old behaviour)", () => {
    const s = membership.initialState({ ...mcfg, settle_after_stall_ms: undefined }, 0);
    let seq = 0;
    for (let t = 0; t <= 1000; t += 100) {
      membership.step(s, { type: "tick" }, t);
      seq++;
      membership.step(s, hb("b", seq), t + 1);
      membership.step(s, hb("c", seq), t + 2);
    }
    expect(membership.step(s, { type: "tick" }, 3500).filter((x) => x.type === "node_dead")).toHaveLength(2);
  });

  test("ordinary steps (gaps up to keepalive) never settle", () => {
    const s = running();
    expect(membership.stallMs(mcfg)).toBe(300);
    const acts = membership.step(s, { type: "tick" }, 1100);
    expect(acts.some((x) => x.type === "stall")).toBe(false);
    expect(s.settle_until_ms).toBe(-Infinity);
  });
});

describe("ha.cf quorum and no_quorum_policy", () => {
  const file = "/etc/ha.d/ha.cf";
  const hacf = (nodes: string, extra: string) => `node ${nodes}\nbcast eth1\nauto_failback off\n${extra}`;
  const diags = (text: string) => checkHaCf(text, file).diagnostics.map((d) => `${d.line}: ${d.severity}: ${d.message}`);

  test("auto: on with three nodes, off with two; check prints it", () => {
    const three = checkHaCf(hacf("a b c", ""), file).config!;
    const two = checkHaCf(hacf("a b", ""), file).config!;
    expect([three.quorum, three.no_quorum_policy]).toEqual(["auto", "stop"]);
    expect(quorumRequired(three)).toBe(true);
    expect(quorumRequired(two)).toBe(false);
    expect(quorumLine(three)).toBe("quorum: on (3 nodes, 2 votes needed): a partition without them fences nobody, takes nothing over and stops what it runs (stop)");
    expect(quorumLine(two)).toBeNull();
    const four = checkHaCf(hacf("a b c d", "no_quorum_policy freeze\n"), file).config!;
    expect(quorumLine(four)).toContain("4 nodes, 3 votes needed");
    expect(quorumLine(four)).toContain("(freeze)");
  });

  test("bad values name the line and the fix", () => {
    expect(diags(hacf("a b c", "quorum yes\n"))).toContain('4: error: quorum: `yes` is not auto, on or off: write e.g. `quorum auto` (on with 3 or more nodes)');
    expect(diags(hacf("a b c", "no_quorum_policy ignore\n"))).toContain('4: error: no_quorum_policy: `ignore` is not stop or freeze: write `no_quorum_policy stop` (Pacemaker\'s default) or `no_quorum_policy freeze`');
    expect(diags(hacf("a b c", "quorum on\nquorum off\n")).some((d) => d.startsWith("5: error: quorum: given twice"))).toBe(true);
    expect(diags(hacf("a b c", "quorum\n"))).toContain("4: error: quorum: needs a value, e.g. `quorum auto`");
  });

  test("risky combinations are warnings", () => {
    expect(diags(hacf("a b", "quorum on\n")).some((d) => d.startsWith("4: warning: quorum on with two nodes"))).toBe(true);
    expect(diags(hacf("a b c", "quorum off\n")).some((d) => d.startsWith("4: warning: quorum off with 3 nodes"))).toBe(true);
    expect(diags(hacf("a b", "no_quorum_policy freeze\n")).some((d) => d.startsWith("4: warning: no_quorum_policy has no effect"))).toBe(true);
  });
});
