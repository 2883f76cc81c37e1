// The R1 translator (src/core/hb_r1.ts) driving the real placement core:
// tandem is node2, the Heartbeat peer node1; Heartbeat's side is played by
// hand with the messages Heartbeat 3.0.6 sends (hb_resource.c, hb_standby,
// rc.d/hb_takeover, req_resource). Agents finish when the test says so.
import { describe, expect, test } from "bun:test";
import {
  announcement,
  configHash,
  initialState,
  step,
  statusView,
  type PlacementAction,
  type PlacementConfig,
  type PlacementEvent,
  type PlacementState,
} from "../../src/core/placement.ts";
import { flip, holdName, parseHold, peerMayHold, r1Initial, r1Step, r1Sync, type R1Action, type R1Event, type R1Message, type R1State, type LocalSnapshot } from "../../src/core/hb_r1.ts";

type Fb = "on" | "off" | "legacy";

class Harness {
  pl: PlacementState;
  r1: R1State;
  now = 0;
  sent: [string, string][][] = [];
  logs: string[] = [];
  /** agents running: group -> op */
  running = new Map<string, string>();

  constructor(auto_failback: Fb, groups = [{ id: "vip1", preferred_node: "node1" }, { id: "vip2", preferred_node: "node2" }], boot_done = true) {
    const cfg: PlacementConfig = {
      self: "node2",
      nodes: ["node1", "node2"],
      generation: 7,
      groups,
      auto_failback,
      start_failures_max: 3,
      monitor: { interval_ms: 1_000_000, timeout_ms: 1000, restarts_max: 0 },
      stop_retry_ms: 1000,
      fencing_required: false,
      ping_units: 0,
    };
    this.pl = initialState(cfg, 0);
    this.r1 = r1Initial({ self: "node2", peer: "node1", self_index: 1, generation: 7, nodes_hash: configHash(cfg), groups, auto_failback, fencing: false });
    // boot cleanup: every group is being stopped
    this.feed({ type: "tick" });
    if (boot_done) this.finishAll();
  }

  snap(): LocalSnapshot {
    return { ann_seq: announcement(this.pl).ann_seq, shutting_down: this.pl.shutting_down, groups: statusView(this.pl).map((g) => ({ id: g.id, state: g.state, target: g.target })) };
  }

  private act(actions: PlacementAction[]): void {
    for (const a of actions) {
      if (a.type === "start_group") this.running.set(a.group, "start");
      if (a.type === "stop_group") this.running.set(a.group, "stop");
    }
  }

  r1ev(ev: R1Event): void {
    this.r1Act(r1Step(this.r1, ev, this.now));
  }

  private r1Act(acts: R1Action[]): void {
    for (const a of acts) {
      if (a.type === "send") this.sent.push(a.fields);
      else this.logs.push(`${a.event}: ${a.detail}`);
    }
  }

  /** placement event, then the translator loop as the ResourceManager runs it */
  feed(ev: PlacementEvent): void {
    this.act(step(this.pl, ev, this.now));
    this.sync();
  }

  sync(): void {
    for (let i = 0; i < 6; i++) {
      const { ann, changed } = r1Sync(this.r1, this.snap());
      if (ann && changed) this.act(step(this.pl, { type: "peer_state", node: "node1", announcement: ann }, this.now));
      const before = this.sent.length;
      this.r1Act(r1Step(this.r1, { type: "local", snap: this.snap() }, this.now));
      if (!changed && this.sent.length === before) return;
    }
  }

  peerUp(generation = 100): void {
    this.r1ev({ type: "peer_up", generation });
    this.feed({ type: "node_up", node: "node1", generation });
  }

  peerDead(reason: "deadtime" | "left" = "deadtime"): void {
    this.r1ev({ type: "peer_gone", reason: reason === "left" ? "left" : "dead" });
    this.feed({ type: "node_dead", node: "node1", reason });
  }

  msg(m: R1Message): void {
    this.r1ev({ type: "message", msg: m });
    this.sync();
  }

  report(hold: string, stable: boolean, info: string | null = null): void {
    this.msg({ t: "resource", rsc_hold: hold, full: true, isstable: stable, info });
  }

  finishAll(ok = true): void {
    for (let i = 0; i < 10 && this.running.size > 0; i++) {
      const [group, op] = [...this.running][0]!;
      this.running.delete(group);
      this.feed({ type: "agent_done", group, action: op as "start" | "stop", ok, detail: "" });
    }
  }

  state(id: string): string {
    return statusView(this.pl).find((g) => g.id === id)!.state;
  }

  /** the messages sent since `from`, as "t k=v ..." */
  since(from: number): string[] {
    return this.sent.slice(from).map((f) => f.map(([k, v]) => (k === "t" ? v : `${k}=${v}`)).join(" "));
  }

  tick(ms: number): void {
    this.now += ms;
    this.r1ev({ type: "local", snap: this.snap() });
    this.feed({ type: "tick" });
  }
}

describe("R1 sets", () => {
  test("names, flips, hb_takeover failback", () => {
    expect(parseHold("none")).toBe(0);
    expect(parseHold("all")).toBe(3);
    expect(parseHold("failback")).toBe(1);
    expect(parseHold("bogus")).toBeNull();
    expect(parseHold(null)).toBeNull();
    expect(holdName(flip(parseHold("local")!))).toBe("foreign");
    expect(holdName(flip(3))).toBe("all");
    expect(holdName(flip(0))).toBe("none");
  });
});

describe("R1 translator with placement (tandem = node2, Heartbeat = node1)", () => {
  test("start-up: nothing starts before the peer's report; starting is sent; then each takes its preferred group", () => {
    const h = new Harness("on");
    const mark = h.sent.length;
    h.peerUp();
    // no report yet: node1 may hold anything; we ask with `starting` and report ourselves
    expect(h.since(mark)).toEqual(["starting", "resource rsc_hold=none rtype=full isstable=1"]);
    expect(h.state("vip2")).toBe("stopped");
    expect(h.running.size).toBe(0);
    // Heartbeat answers our starting while it is itself starting: unstable, nothing held
    h.report("none", false);
    // its local group (vip1) may be being acquired: never ours; vip2 (ours) is free
    expect(h.state("vip1")).toBe("stopped");
    expect(h.state("vip2")).toBe("starting");
    expect(peerMayHold(h.r1, { id: "vip1", preferred_node: "node1" })).toBe(true);
    h.finishAll();
    expect(h.state("vip2")).toBe("running");
    const m2 = h.sent.length;
    h.report("local", true);
    expect(h.state("vip1")).toBe("stopped");
    expect(h.since(m2)).toEqual([]); // nothing changed on our side
    expect(h.r1.last_sent).toEqual({ hold: 1, stable: true });
  });

  test("a `starting` of the peer is answered with what we hold and whether we are stable", () => {
    const h = new Harness("off");
    h.peerUp();
    h.report("none", true);
    h.finishAll();
    // vip1's preferred node is up: with auto_failback off and nobody holding it, it is node1's to take
    expect(h.state("vip1")).toBe("stopped");
    expect(h.state("vip2")).toBe("running");
    const mark = h.sent.length;
    h.peerDead();
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    expect(h.since(mark)).toContain("stonith node=node1 result=unneeded");
    // restarted Heartbeat: its starting gets "all, stable"; auto_failback off: we keep both
    h.peerUp(101);
    const m2 = h.sent.length;
    h.msg({ t: "starting" });
    expect(h.since(m2)).toContain("resource rsc_hold=all rtype=full isstable=1");
    h.report("none", true);
    expect(h.state("vip1")).toBe("running");
    expect(h.state("vip2")).toBe("running");
  });

  test("killed peer that held groups: n_stnth, takeover", () => {
    const h = new Harness("on");
    h.peerUp();
    h.report("local", true);
    h.finishAll();
    expect(h.state("vip1")).toBe("stopped");
    const mark = h.sent.length;
    h.peerDead();
    expect(h.since(mark)[0]).toBe("stonith node=node1 result=n_stnth");
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
  });

  test("auto_failback on: the returning peer's group is released, then handed over with the standby exchange", () => {
    const h = new Harness("on");
    h.peerDead(); // never seen: initdead
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    h.peerUp(200);
    h.msg({ t: "starting" });
    h.finishAll(); // placement stopped vip1 for its preferred node at once
    expect(h.state("vip1")).toBe("stopped");
    expect(h.state("vip2")).toBe("running");
    // Heartbeat saw us holding its group when it started: it stays off it, reports none, stable
    const mark = h.sent.length;
    h.report("none", true);
    expect(h.since(mark)).toEqual(["ask_resources rsc_hold=foreign info=me"]);
    // it agrees: we are already done
    h.msg({ t: "ask_resources", rsc_hold: "local", info: "other" });
    expect(h.since(mark).slice(1)).toEqual(["resource rsc_hold=local rtype=full isstable=0 info=standby", "ask_resources rsc_hold=foreign info=done"]);
    // from our done on it may be acquiring vip1: never ours
    expect(peerMayHold(h.r1, { id: "vip1", preferred_node: "node1" })).toBe(true);
    const m2 = h.sent.length;
    h.msg({ t: "ask_resources", rsc_hold: "local", info: "done" });
    expect(h.since(m2)).toEqual(["resource rsc_hold=local rtype=full isstable=1"]);
    expect(peerMayHold(h.r1, { id: "vip1", preferred_node: "node1" })).toBe(true); // until its next report
    h.report("local", true);
    expect(h.state("vip1")).toBe("stopped");
    expect(h.r1.exchange).toBeNull();
  });

  test("an unanswered `me` is asked again after the timeout", () => {
    const h = new Harness("on");
    h.peerDead();
    h.finishAll();
    h.peerUp(200);
    h.report("none", true);
    h.finishAll();
    expect(h.since(0).filter((m) => m.endsWith("info=me")).length).toBe(1);
    h.tick(2500); // times out
    h.tick(2500); // asks again
    expect(h.since(0).filter((m) => m.endsWith("info=me")).length).toBe(2);
    expect(h.logs.some((l) => l.startsWith("hb_r1_exchange_timeout"))).toBe(true);
  });

  test("hb_standby on the peer: other, wait for its done, start, then done", () => {
    const h = new Harness("off");
    h.peerUp();
    h.report("local", true);
    h.finishAll();
    expect(h.state("vip2")).toBe("running");
    const mark = h.sent.length;
    h.msg({ t: "ask_resources", rsc_hold: "all", info: "me" });
    expect(h.since(mark)).toEqual(["ask_resources rsc_hold=all info=other"]);
    // it releases: reports nothing held, unstable; vip1 is still its until done
    h.report("none", false, "standby");
    expect(h.state("vip1")).toBe("stopped");
    expect(h.running.size).toBe(0);
    const m2 = h.sent.length;
    h.msg({ t: "ask_resources", rsc_hold: "all", info: "done" });
    expect(h.state("vip1")).toBe("starting");
    expect(h.since(m2)).toEqual([]); // done only after our start
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    expect(h.since(m2)).toEqual(["ask_resources rsc_hold=all info=done", "resource rsc_hold=all rtype=full isstable=1"]);
    // its standby stays in force (tandem's meaning): an idle report does not move vip1 back
    h.report("none", true);
    expect(h.state("vip1")).toBe("running");
    expect(h.pl.peers.get("node1")!.ann!.standby).toBe("all");
  });

  test("a standby request while our resources are in flux is ignored, as Heartbeat does", () => {
    const h = new Harness("off");
    h.peerUp();
    h.report("none", false);
    expect(h.state("vip2")).toBe("starting");
    const mark = h.sent.length;
    h.msg({ t: "ask_resources", rsc_hold: "all", info: "me" });
    expect(h.since(mark)).toEqual([]);
    expect(h.logs.some((l) => l.includes("in flux"))).toBe(true);
  });

  test("hb_takeover from the peer: our groups go to it through the exchange", () => {
    const h = new Harness("off");
    h.peerDead();
    h.finishAll();
    h.peerUp(300);
    h.report("none", true);
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    expect(h.state("vip2")).toBe("running");
    h.msg({ t: "hb_takeover", rsc_hold: "all" });
    h.finishAll();
    expect(h.state("vip1")).toBe("stopped");
    expect(h.state("vip2")).toBe("stopped");
    expect(h.since(0).at(-1)).toBe("ask_resources rsc_hold=all info=me");
    h.msg({ t: "ask_resources", rsc_hold: "all", info: "other" });
    h.msg({ t: "ask_resources", rsc_hold: "all", info: "done" });
    h.report("all", true);
    expect(h.state("vip1")).toBe("stopped");
    expect(h.state("vip2")).toBe("stopped");
  });

  test("tandem standby: released first, then handed over; never started while the peer may hold it", () => {
    const h = new Harness("off");
    h.peerUp();
    h.report("local", true);
    h.finishAll();
    h.feed({ type: "admin", command: "standby", scope: "all" });
    h.finishAll();
    expect(h.state("vip2")).toBe("stopped");
    expect(h.since(0).at(-1)).toBe("ask_resources rsc_hold=local info=me");
    h.msg({ t: "ask_resources", rsc_hold: "foreign", info: "other" });
    h.msg({ t: "ask_resources", rsc_hold: "foreign", info: "done" });
    h.report("all", true);
    expect(h.state("vip2")).toBe("stopped");
    // the peer dies: standby never strands a group
    h.peerDead();
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    expect(h.state("vip2")).toBe("running");
  });

  test("graceful stop: resource none, unstable, info=shutdown; peer shutdone: takeover", () => {
    const h = new Harness("off");
    h.peerUp();
    h.report("local", true);
    h.finishAll();
    h.report("none", false, "shutdown");
    expect(h.state("vip1")).toBe("stopped"); // not before its shutdone
    h.peerDead("left");
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    const mark = h.sent.length;
    h.peerUp(400);
    h.report("none", true);
    h.feed({ type: "shutdown" });
    expect(h.since(mark).some((m) => m.includes("info=shutdown") && m.includes("isstable=0"))).toBe(true);
  });

  test("graceful stop of a peer holding both groups: what it held stays its until shutdone", () => {
    // found in test/integration/heartbeat_resources under load: Heartbeat sends
    // rsc_hold=none info=shutdown before releasing; we took vip2 at once and the
    // VIP ran on both nodes until Heartbeat's stop reached it
    const h = new Harness("off");
    h.peerUp();
    h.report("all", true);
    h.finishAll();
    expect(h.state("vip2")).toBe("stopped");
    h.report("none", false, "shutdown");
    h.finishAll();
    expect(h.state("vip1")).toBe("stopped");
    expect(h.state("vip2")).toBe("stopped");
    h.peerDead("left");
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    expect(h.state("vip2")).toBe("running");
  });

  test("legacy: a Heartbeat peer that crashed and restarted gets its group back: we stop it first, then answer ok=OK", () => {
    // Heartbeat's req_resource asks once (ip-request) and takes the group only on ok=OK;
    // found in test/integration/heartbeat_legacy: the restarted peer's announcement read the
    // same as before its death, never reached placement, and the group ran on both nodes
    const h = new Harness("legacy");
    h.peerUp(100);
    h.finishAll();
    h.msg({ t: "ip-request-resp", ipaddr: "vip2", weown: false, ok: "OK" });
    h.finishAll();
    expect([h.state("vip1"), h.state("vip2")]).toEqual(["stopped", "running"]);
    h.peerDead();
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    // the old incarnation heard once more, then its restart (membership: node_dead reason=restarted)
    h.peerUp(100);
    h.r1ev({ type: "peer_gone", reason: "restarted" });
    h.feed({ type: "node_dead", node: "node1", reason: "restarted" });
    h.peerUp(101);
    expect(h.state("vip1")).toBe("stopping");
    const mark = h.sent.length;
    h.msg({ t: "ip-request", ipaddr: "vip1" });
    expect(h.since(mark)).toEqual([]); // not before our stop
    h.finishAll();
    expect(h.since(mark)).toEqual(["ip-request-resp ipaddr=vip1 weown=yes ok=OK"]);
    expect(h.state("vip2")).toBe("running");
  });

  test("legacy: restarted while the peer holds our group, we ask for it once our boot cleanup has stopped it, and start it only on ok=OK", () => {
    // found in test/integration/heartbeat_legacy: our cleanup's `stopping` read as
    // "we hold it" (rule 5), the peer was shown without it and we started it at once
    const h = new Harness("legacy", undefined, false);
    expect(h.state("vip2")).toBe("stopping");
    h.peerUp(100);
    h.finishAll();
    expect(h.state("vip2")).toBe("stopped");
    expect(h.since(0)).toEqual(["ip-request ipaddr=vip2"]);
    h.msg({ t: "ip-request-resp", ipaddr: "vip2", weown: true, ok: "OK" });
    expect(h.state("vip2")).toBe("starting");
  });

  test("legacy: its local groups are always its; ours after ip-request-resp; its ip-request answered after our stop", () => {
    const h = new Harness("legacy");
    h.peerDead();
    h.finishAll();
    expect(h.state("vip1")).toBe("running");
    h.peerUp(500);
    h.finishAll(); // vip1 goes back (legacy = on); vip2 stays: we hold it
    expect(h.state("vip1")).toBe("stopped");
    expect(h.state("vip2")).toBe("running");
    const mark = h.sent.length;
    h.msg({ t: "ip-request", ipaddr: "vip1" });
    expect(h.since(mark)).toEqual(["ip-request-resp ipaddr=vip1 weown=no ok=OK"]);
    // after a restart of ours, vip2 waits for the peer's answer
    const h2 = new Harness("legacy");
    h2.peerUp();
    expect(h2.state("vip2")).toBe("stopped");
    expect(h2.since(0)).toContain("ip-request ipaddr=vip2");
    h2.msg({ t: "ip-request-resp", ipaddr: "vip2", weown: true, ok: "OK" });
    expect(h2.state("vip2")).toBe("starting");
  });
});
