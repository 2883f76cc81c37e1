// A deterministic simulator of failover (VOPR style): each node runs the real
// membership and placement cores on a drifting virtual clock; heartbeats carry
// the placement announcement encoded by the real body codec over lossy,
// delayed, duplicating, partitionable links. Agents take random time and
// fail, hang (until their timeout) or report monitor failures on demand.
// Faults: power-off crashes (resources die), daemon crashes (resources
// survive until the next incarnation's boot cleanup, or a fence), graceful
// stops, restarts, admin standby/takeover, symmetric and one-way partitions.
// Every rate derives from one seed, so a failing seed replays exactly.
//
// Invariants:
//   1. a start never overlaps a live resource on another node, unless the
//      starter has declared that node dead (or that node's start declared
//      the starter dead: the overlap began there); with fencing_required,
//      never.
//   2. after the heal (no faults, no loss, every node up), within a bound
//      every group that some up node may run is running on exactly one node,
//      and on its preferred node when auto_failback says so.
//   3. no core throws; queues and action lists stay bounded.
//   4. quorum (3+ nodes): no node starts a group or runs a fence while its
//      placement view lacks quorum, nor while its membership settles after
//      a stall (fence), nor when the peers it hears, counting those lost
//      less than membership needs to notice ago (deadtime, drift, delivery
//      delay), are no majority (ground truth: the links' cuts, who is up
//      and not frozen; a thawed node's view is stale, so at the thaw every
//      peer counts as just lost).
// Freezes (SIGSTOP): a frozen node's datagrams, agent and fence results
// queue up and are handled after it thaws, its membership first (a stall).
import { type Announcement, type BodyDecodeResult, decodeBody, encodeBody } from "../../src/core/body.ts";
import * as membership from "../../src/core/membership.ts";
import type { MembershipAction, MembershipEvent, MembershipState } from "../../src/core/membership.ts";
import * as placement from "../../src/core/placement.ts";
import * as fencing from "../../src/core/fencing.ts";
import type { FencingAction, FencingEvent, FencingState } from "../../src/core/fencing.ts";
import type { AutoFailback, PlacementAction, PlacementEvent, PlacementState } from "../../src/core/placement.ts";
import type { ScopeName } from "../../src/core/body.ts";
import { Prng } from "./prng.ts";
import { EventQueue, type Timer } from "./queue.ts";

export interface PlacementSwarm {
  nodes: number;
  links: number;
  groups: number;
  keepalive_ms: number;
  deadtime_ms: number;
  initdead_ms: number;
  duration_ms: number;
  loss_probability: number;
  duplicate_probability: number;
  one_way_delay_max_ms: number;
  fault_interval_ms: number;
  drift_ppm_max: number;
  auto_failback: AutoFailback;
  fencing_required: boolean;
  fence_delay_ms: number;
  /** one fence attempt takes up to this long */
  fence_ms_max: number;
  /** before the heal, an attempt fails with this probability */
  fence_fail_probability: number;
  wait_for_all: boolean;
  /** ping nodes/groups per node (ipfail); 0 = none */
  ping_units: number;
  /** act only with a majority (auto: 3+ nodes) */
  quorum: boolean;
  no_quorum_policy: "stop" | "freeze";
  /** the "freeze" fault (SIGSTOP for up to 3 deadtimes) is drawn */
  freezes: boolean;
  start_failures_max: number;
  monitor_interval_ms: number;
  restarts_max: number;
  agent_ms_max: number;
  agent_timeout_ms: number;
  start_fail_probability: number;
  stop_fail_probability: number;
  monitor_fail_probability: number;
  hang_probability: number;
}

export function placementSwarm(seed: number): PlacementSwarm {
  const r = new Prng(seed ^ 0x91ace);
  const keepalive_ms = r.pick([10, 50, 100, 1000]);
  const deadtime_ms = keepalive_ms * r.int(3, 8);
  const agent_ms_max = r.pick([1, keepalive_ms, deadtime_ms]);
  return {
    nodes: r.pick([2, 2, 2, 3]),
    links: r.int(1, 2),
    groups: r.int(1, 4),
    keepalive_ms,
    deadtime_ms,
    initdead_ms: deadtime_ms * r.int(1, 3),
    duration_ms: keepalive_ms * r.int(200, 600),
    loss_probability: r.pick([0, 0.01, 0.1, 0.3]),
    duplicate_probability: r.pick([0, 0.05]),
    one_way_delay_max_ms: r.int(0, Math.floor(keepalive_ms / 2)),
    fault_interval_ms: deadtime_ms * r.int(2, 20),
    drift_ppm_max: r.pick([0, 100, 1000]),
    auto_failback: r.pick(["on", "off", "legacy"] as const),
    fencing_required: r.chance(0.3),
    fence_delay_ms: r.int(0, deadtime_ms),
    start_failures_max: r.int(1, 3),
    monitor_interval_ms: keepalive_ms * r.int(2, 20),
    restarts_max: r.int(0, 2),
    agent_ms_max,
    agent_timeout_ms: agent_ms_max * 2 + keepalive_ms,
    start_fail_probability: r.pick([0, 0.05, 0.3]),
    stop_fail_probability: r.pick([0, 0.02, 0.2]),
    monitor_fail_probability: r.pick([0, 0.02, 0.1]),
    hang_probability: r.pick([0, 0.02]),
    // drawn last, so the fields above stay what they were for a seed
    fence_ms_max: r.pick([1, keepalive_ms, deadtime_ms * 2]),
    fence_fail_probability: r.pick([0, 0.2, 0.6]),
    wait_for_all: r.chance(0.5),
    ping_units: r.pick([0, 0, 1, 2]),
    quorum: false, // set below: tandem's `quorum auto`
    no_quorum_policy: r.pick(["stop", "stop", "freeze"] as const),
    freezes: r.chance(0.5),
  };
}

/** placementSwarm with the overrides, and quorum as `quorum auto` derives it unless given. */
export function swarmWith(seed: number, opts: Partial<PlacementSwarm>): PlacementSwarm {
  const o = { ...placementSwarm(seed), ...opts };
  if (opts.quorum === undefined) o.quorum = o.nodes >= 3;
  return o;
}

type AgentOp = placement.AgentOp;
type SimEvent =
  | { kind: "wake"; node: number; token: number }
  /** every copy of a frame: the receiver and link of each ride in the queue's aux (see deliverAux) */
  | Frame
  | { kind: "agent"; node: number; incarnation: number; group: number; op: AgentOp; ok: boolean; detail: string }
  | { kind: "fence"; requester: number; incarnation: number; target: number; ok: boolean }
  /** a read-only power status query of `target` answers (ground truth read at the answer) */
  | { kind: "status"; requester: number; incarnation: number; target: number; check: number; fails: boolean }
  | { kind: "fault" }
  | { kind: "thaw"; node: number; incarnation: number }
  | { kind: "converge" };

/** A heartbeat or goodbye as sent: one object queued for all its copies. */
interface Frame {
  kind: "deliver";
  from: number;
  frame_kind: "heartbeat" | "leave";
  generation: number;
  seq: number;
  body: Uint8Array;
  /** the membership event of its copies on each link (cores never mutate events, so copies share it) */
  on_link: MembershipEvent[];
}

// Events without fields are shared (cores never mutate events).
const tick = { type: "tick" } as const;

/** a copy's receiver and link, as the queue's aux beside the shared Frame */
const deliverAux = (to: number, link: number): number => to * 8 + link;


interface SimNode {
  name: string;
  up: boolean;
  /** ground truth for a power status query: the machine is on (a daemon crash, a stop or a freeze leave it on) */
  powered: boolean;
  incarnation: number;
  generation: number;
  mem: MembershipState | null;
  pl: PlacementState | null;
  fc: FencingState | null;
  offset_ms: number;
  drift: number;
  wake_token: number;
  /** the node's wake-up entry in the queue (one per node, moved when re-armed) */
  timer: Timer<SimEvent>;
  /** insertion number of the last schedule() call since the queue was last flushed; -1 if none */
  wake_order: number;
  /** the last body sent, the announcement it encodes and (once a peer needed it) its decoding and peer_state event */
  sent: { ann: Announcement; body: Uint8Array; decoded: BodyDecodeResult | null; peer_state: PlacementEvent | null } | null;
  /** ground truth: the resource may be active (set at start, cleared by a successful stop or power-off) */
  active: boolean[];
  /** per group: the nodes this one saw dead at its last start of it */
  started_over: Set<number>[];
  /** ping units this node reaches (ground truth, survives reboots) */
  ping_score: number;
  /** SIGSTOPped until this sim time (-Infinity: running); its events wait in `backlog` (aux beside) */
  frozen_until: number;
  backlog: SimEvent[];
  backlog_aux: number[];
  /** ground truth, per peer: can this node hear it now (up, not frozen, a link uncut that way) */
  audible: boolean[];
  /** per peer: until when it was last audible (-Infinity: never) */
  audible_until: number[];
}

export interface PlacementResult {
  seed: number;
  options: PlacementSwarm;
  violations: string[];
  events: number;
  simulated_ms: number;
  faults: Record<string, number>;
  logs: Record<string, number>;
  starts: number;
}

export type PlacementStepFn = typeof placement.step;

const events_max = 3_000_000;
const queue_size_max = 100_000;

export function runPlacementSeed(
  seed: number,
  opts: Partial<PlacementSwarm> = {},
  step_fn: PlacementStepFn = placement.step,
  trace: ((line: string) => void) | null = null,
): PlacementResult {
  const o = swarmWith(seed, opts);
  const r = new Prng(seed);
  const q = new EventQueue<SimEvent>((ev) => (ev.kind === "deliver" ? 0 : 1), queue_size_max);
  const violations: string[] = [];
  const faults: Record<string, number> = {};
  const logs: Record<string, number> = {};
  const names = Array.from({ length: o.nodes }, (_, i) => `n${i}`);
  const link_names = Array.from({ length: o.links }, (_, i) => `l${i}`);
  const groups = Array.from({ length: o.groups }, (_, i) => ({ id: `g${i}`, preferred_node: names[r.int(0, o.nodes - 1)]! }));
  const cut = link_names.map(() => new Array<boolean>(o.nodes * o.nodes).fill(false));
  const delay_max = o.one_way_delay_max_ms;
  const per_group_ms = o.agent_timeout_ms * 2 + o.keepalive_ms * 6 + delay_max * 4;
  const fence_retry_max_ms = o.deadtime_ms * 4;
  const fence_settle_ms = o.fence_delay_ms + fence_retry_max_ms + o.fence_ms_max * 2;
  const converge_at = o.duration_ms + o.initdead_ms + o.deadtime_ms * 2 + fence_settle_ms + (3 * o.groups + 3) * per_group_ms;
  let now = 0;
  let healed = false;
  let starts = 0;

  const nodes: SimNode[] = names.map((name, i) => ({
    name,
    up: false,
    powered: false,
    incarnation: 0,
    generation: r.int(1, 1000),
    mem: null,
    pl: null,
    fc: null,
    offset_ms: r.int(0, 1_000_000),
    drift: (r.next() * 2 - 1) * o.drift_ppm_max * 1e-6,
    wake_token: 0,
    timer: q.timer({ kind: "wake", node: i, token: 0 }),
    wake_order: -1,
    sent: null,
    active: groups.map(() => false),
    started_over: groups.map(() => new Set<number>()),
    ping_score: o.ping_units,
    frozen_until: -Infinity,
    backlog: [],
    backlog_aux: [],
    audible: names.map(() => false),
    audible_until: names.map(() => -Infinity),
  }));
  const quorum_needed = Math.floor(o.nodes / 2) + 1;
  const settle_ms = Math.min(o.deadtime_ms, 2 * o.keepalive_ms);
  // how long after it stops hearing a peer a node may still count it up
  const minority_lag_ms = o.deadtime_ms * (1 + 2 * o.drift_ppm_max * 1e-6) + delay_max + 1;
  const local = (n: SimNode) => n.offset_ms + now * (1 + n.drift);
  const fail = (msg: string) => {
    if (violations.length < 20) violations.push(`t=${now.toFixed(3)}ms ${msg}`);
  };

  function boot(i: number): void {
    const n = nodes[i]!;
    n.up = true;
    n.powered = true;
    n.incarnation++;
    n.generation += r.int(1, 3);
    const t = local(n);
    n.mem = membership.initialState(
      {
        self: n.name,
        nodes: names,
        links: link_names,
        generation: n.generation,
        keepalive_ms: o.keepalive_ms,
        warntime_ms: o.deadtime_ms,
        deadtime_ms: o.deadtime_ms,
        initdead_ms: o.initdead_ms,
        settle_after_stall_ms: settle_ms,
      },
      t,
    );
    n.pl = placement.initialState(
      {
        self: n.name,
        nodes: names,
        generation: n.generation,
        groups,
        auto_failback: o.auto_failback,
        start_failures_max: o.start_failures_max,
        monitor: { interval_ms: o.monitor_interval_ms, timeout_ms: o.agent_timeout_ms, restarts_max: o.restarts_max },
        stop_retry_ms: o.keepalive_ms * 2,
        fencing_required: o.fencing_required,
        ping_units: o.ping_units,
        quorum: o.quorum,
        no_quorum_policy: o.no_quorum_policy,
      },
      t,
    );
    n.fc = fencing.initialFencing(
      {
        self: n.name,
        nodes: names,
        delay_ms: o.fence_delay_ms,
        retry_initial_ms: o.keepalive_ms,
        retry_max_ms: fence_retry_max_ms,
        wait_for_all: o.wait_for_all,
        quorum_required: o.quorum,
        quorum_settle_ms: o.deadtime_ms,
      },
      t,
    );
    if (o.ping_units > 0) setPing(i, n.ping_score);
    updateMinority();
    plApply(i, tick);
    memApply(i, tick);
  }

  /** what the ping adapter would report after deadping */
  function setPing(i: number, score: number): void {
    nodes[i]!.ping_score = score;
    fcApply(i, { type: "connectivity", isolated: score === 0 });
    plApply(i, { type: "connectivity", score });
  }

  /** power off: resources die with the node */
  function powerOff(i: number): void {
    daemonGone(i);
    nodes[i]!.powered = false;
    nodes[i]!.active.fill(false);
  }

  /** the daemon is gone; resources it started stay active */
  function daemonGone(i: number): void {
    const n = nodes[i]!;
    n.up = false;
    n.mem = null;
    n.pl = null;
    n.fc = null;
    n.wake_token++;
    n.frozen_until = -Infinity;
    n.backlog.length = 0;
    n.backlog_aux.length = 0;
    updateMinority();
  }

  /**
   * Invariant 4's ground truth, after any change of who is up, frozen or cut:
   * which peers each node can hear (up, not frozen, a link uncut from them).
   */
  function updateMinority(): void {
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i]!;
      for (let j = 0; j < nodes.length; j++) {
        if (j === i) continue;
        if (n.audible[j]) n.audible_until[j] = now; // audible until this change
        const p = nodes[j]!;
        n.audible[j] = p.up && !frozen(p) && cut.some((c) => !c[j * o.nodes + i]);
      }
    }
  }

  /** Peers node i may still count up: audible now, or within membership's lag. */
  function mayCountUp(i: number): number {
    const n = nodes[i]!;
    let k = 0;
    for (let j = 0; j < nodes.length; j++) if (j !== i && (n.audible[j] || now - n.audible_until[j]! <= minority_lag_ms)) k++;
    return k;
  }

  function frozen(n: SimNode): boolean {
    return now < n.frozen_until;
  }

  /** Invariant 4 at a start or a fence run on node i. */
  function checkQuorum(i: number, what: string): void {
    if (!o.quorum) return;
    const n = nodes[i]!;
    const q = placement.quorumView(n.pl!);
    if (!q.quorate) fail(`${n.name} ${what} without quorum in its view (${q.votes} of ${q.total} votes)`);
    const may = mayCountUp(i) + 1;
    if (may < quorum_needed) fail(`${n.name} ${what} hearing a minority (${may} of ${o.nodes}, counting peers lost less than ${minority_lag_ms.toFixed(1)} ms ago)`);
  }

  function memApply(i: number, ev: MembershipEvent): MembershipAction[] {
    const n = nodes[i]!;
    if (!n.mem) return [];
    let acts: MembershipAction[];
    try {
      acts = membership.step(n.mem, ev, local(n));
    } catch (e) {
      fail(`${n.name} membership threw: ${(e as Error).stack}`);
      powerOff(i);
      return [];
    }
    for (const a of acts) {
      if (a.type === "send") send(i, a.kind, a.seq);
      else if (a.type === "node_up") {
        fcApply(i, { type: "peer_up", node: a.node });
        plApply(i, { type: "node_up", node: a.node, generation: a.generation });
      }
      else if (a.type === "node_dead") plApply(i, { type: "node_dead", node: a.node, reason: a.reason });
      else if (a.type === "stall") fcApply(i, { type: "stall", settling: true });
      else if (a.type === "settled") fcApply(i, { type: "stall", settling: false });
    }
    schedule(i);
    return acts;
  }

  function plApply(i: number, ev: PlacementEvent): void {
    const n = nodes[i]!;
    if (!n.pl) return;
    let acts: PlacementAction[];
    try {
      acts = step_fn(n.pl, ev, local(n));
    } catch (e) {
      fail(`${n.name} placement threw on ${ev.type}: ${(e as Error).stack}`);
      powerOff(i);
      return;
    }
    if (trace) {
      const shown = acts.filter((a) => a.type !== "announce" && a.type !== "monitor_group");
      if (ev.type !== "tick" || shown.length > 0) trace(`${now.toFixed(3)} ${n.name} ${JSON.stringify(ev).slice(0, 300)} -> ${JSON.stringify(shown)}`);
    }
    for (const a of acts) {
      if (!nodes[i]!.pl) return; // exited mid-list
      plAct(i, a);
    }
    schedule(i);
  }

  function plAct(i: number, a: PlacementAction): void {
    const n = nodes[i]!;
    if (a.type === "start_group") {
      const g = groupIndex(a.group);
      checkStart(i, g);
      checkQuorum(i, `starts g${g}`);
      starts++;
      n.active[g] = true;
      agent(i, g, "start");
    } else if (a.type === "stop_group") agent(i, groupIndex(a.group), "stop");
    else if (a.type === "monitor_group") agent(i, groupIndex(a.group), "monitor");
    else if (a.type === "fence_node") {
      if (!o.fencing_required) fail(`${n.name} asked to fence ${a.node} without fencing_required`);
      fcApply(i, { type: "request", node: a.node, reason: a.reason, self_held: a.self_held, peer_held: a.peer_held });
    } else if (a.type === "quorum") {
      logs[a.quorate ? "quorum" : "quorum_lost"] = (logs[a.quorate ? "quorum" : "quorum_lost"] ?? 0) + 1;
      fcApply(i, { type: "quorum", quorate: a.quorate });
    } else if (a.type === "log") logs[a.event] = (logs[a.event] ?? 0) + 1;
    else if (a.type === "ready_to_exit") {
      const held = groups.filter((_, g) => n.active[g]).map((g) => g.id);
      if (held.length > 0) fail(`${n.name} ready to exit while ${held.join(",")} active`);
      memApply(i, { type: "shutdown" }); // says goodbye
      daemonGone(i);
      // after the heal every node is up (invariant 2's premise): a graceful
      // stop that completes after it is followed by a start, as an admin would
      if (healed) boot(i);
    }
  }

  function fcApply(i: number, ev: FencingEvent): void {
    const n = nodes[i]!;
    if (!n.fc) return;
    let acts: FencingAction[];
    try {
      acts = fencing.fencingStep(n.fc, ev, local(n));
    } catch (e) {
      fail(`${n.name} fencing threw on ${ev.type}: ${(e as Error).stack}`);
      powerOff(i);
      return;
    }
    if (trace && acts.length > 0) trace(`${now.toFixed(3)} ${n.name} fencing ${JSON.stringify(ev)} -> ${JSON.stringify(acts)}`);
    for (const a of acts) {
      if (!nodes[i]!.fc) return; // fenced itself out of existence meanwhile
      if (a.type === "run") {
        checkQuorum(i, `fences ${a.node}`);
        if (n.mem && n.mem.settle_until_ms !== -Infinity) fail(`${n.name} fences ${a.node} while settling after a stall`);
        const ok = healed || !r.chance(o.fence_fail_probability);
        q.push(now + r.next() * o.fence_ms_max, { kind: "fence", requester: i, incarnation: n.incarnation, target: names.indexOf(a.node), ok });
      } else if (a.type === "fence_status_check") {
        // the device may fail to answer (unknown); the answer may come after the delay
        q.push(now + r.next() * o.fence_ms_max, { kind: "status", requester: i, incarnation: n.incarnation, target: names.indexOf(a.node), check: a.check, fails: r.chance(o.fence_fail_probability) });
      } else if (a.type === "fenced") plApply(i, { type: "fence_done", node: a.node });
      else {
        logs[a.event] = (logs[a.event] ?? 0) + 1;
        if (a.event === "fence_ok" && a.detail.startsWith("already off")) logs.fence_already_off = (logs.fence_already_off ?? 0) + 1;
      }
    }
    schedule(i);
  }

  /** Invariant 1, judged on ground truth at the instant a start begins. */
  function checkStart(i: number, g: number): void {
    const n = nodes[i]!;
    if (n.active[g]) fail(`${n.name} starts g${g} which is still active here`);
    const dead_here = new Set(names.flatMap((name, j) => (n.pl!.peers.get(name)?.status === "dead" ? [j] : [])));
    for (let j = 0; j < nodes.length; j++) {
      if (j === i || !nodes[j]!.active[g]) continue;
      const view = n.pl!.peers.get(names[j]!)!;
      // The overlap began with j's start if j then declared us dead (it
      // overrode our claim or hold); that start was the one to judge.
      const opened_by_other = nodes[j]!.started_over[g]!.has(i);
      if (o.fencing_required) fail(`${n.name} starts g${g} while active on ${names[j]} (fencing mode; view ${view.status}/${view.fence})`);
      else if (view.status !== "dead" && !opened_by_other) fail(`${n.name} starts g${g} while active on ${names[j]}, which it sees ${view.status}`);
    }
    n.started_over[g] = dead_here;
  }

  function agent(i: number, g: number, op: AgentOp): void {
    const n = nodes[i]!;
    const lossy = !healed;
    let ms = r.next() * o.agent_ms_max;
    let ok = true;
    let detail = "ok";
    if (lossy && r.chance(o.hang_probability)) {
      ms = o.agent_timeout_ms;
      ok = false;
      detail = "timeout";
    } else if (lossy && op === "start" && r.chance(o.start_fail_probability)) [ok, detail] = [false, "exit 1"];
    else if (lossy && op === "stop" && r.chance(o.stop_fail_probability)) [ok, detail] = [false, "exit 1"];
    else if (lossy && op === "monitor" && r.chance(o.monitor_fail_probability)) [ok, detail] = [false, "not running"];
    q.push(now + ms, { kind: "agent", node: i, incarnation: n.incarnation, group: g, op, ok, detail });
  }

  function send(from: number, kind: "heartbeat" | "leave", seq: number): void {
    const n = nodes[from]!;
    const body = kind === "heartbeat" && n.pl ? bodyOf(n, n.pl) : new Uint8Array();
    const from_name = names[from]!;
    const on_link: MembershipEvent[] = [];
    for (let l = 0; l < o.links; l++) on_link.push({ type: "frame", kind, from: from_name, link: link_names[l]!, generation: n.generation, seq });
    const frame: Frame = { kind: "deliver", from, frame_kind: kind, generation: n.generation, seq, body, on_link };
    for (let l = 0; l < o.links; l++) {
      for (let to = 0; to < nodes.length; to++) {
        if (to === from || cut[l]![from * o.nodes + to]) continue;
        const copies = !healed && r.chance(o.duplicate_probability) ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          if (!healed && r.chance(o.loss_probability)) continue;
          q.push(now + r.next() * delay_max, frame, 0, deliverAux(to, l));
        }
      }
    }
  }

  // Between changes a node announces the same thing in every heartbeat. An
  // announcement equal field by field to the last one sent is sent as the
  // same bytes, and a receiver of those bytes reuses their decoding: the
  // codec is pure, so encoding and decoding them again gives equal values.
  // Every announcement that differs goes through encodeBody and decodeBody.
  // (announcementEquals asks whether announcement() would equal the last
  // one sent without building it; the core keeps the two in step.)
  function bodyOf(n: SimNode, pl: PlacementState): Uint8Array {
    if (n.sent && placement.announcementEquals(pl, n.sent.ann)) return n.sent.body;
    const a = placement.announcement(pl);
    n.sent = { ann: a, body: encodeBody(a), decoded: null, peer_state: null };
    return n.sent.body;
  }

  function decodeFrom(from: number, body: Uint8Array): BodyDecodeResult {
    const sent = nodes[from]!.sent;
    if (sent === null || sent.body !== body) return decodeBody(body);
    sent.decoded ??= decodeBody(body);
    return sent.decoded;
  }

  /** The copy of `frame` on link `link` arrives at node `to`. */
  function deliver(frame: Frame, to: number, link: number): void {
    const n = nodes[to]!;
    if (!n.mem) return;
    const from = names[frame.from]!;
    const mem = n.mem;
    // peers.get(from), by position: peer_list is the other nodes in node order (fixed at start)
    const before = mem.peer_list[frame.from < to ? frame.from : frame.from - 1]!;
    const was_generation = before.generation;
    const was_seq_max = before.seq_max;
    memApply(to, frame.on_link[link]!);
    // the same view, unless the daemon is gone meanwhile (or gone and booted again: a new state)
    const after = n.mem === mem ? before : n.mem?.peers.get(from);
    // Only a frame newer than any seen from this incarnation carries news:
    // an older copy on another link must not roll the announcement back.
    const newer = after && after.seq_max === frame.seq && (was_generation !== after.generation || was_seq_max < frame.seq);
    if (!newer || frame.frame_kind !== "heartbeat" || after.state !== "up") return;
    const sent = nodes[frame.from]!.sent;
    if (sent !== null && sent.body === frame.body && sent.peer_state !== null) return plApply(to, sent.peer_state);
    const d = decodeFrom(frame.from, frame.body);
    if (!d.ok) return fail(`${n.name} could not decode ${from}'s body: ${d.reason}`);
    const peer_state: PlacementEvent = { type: "peer_state", node: from, announcement: d.value };
    // the same bytes from the same sender: every receiver gets the same event
    if (sent !== null && sent.body === frame.body) sent.peer_state = peer_state;
    plApply(to, peer_state);
  }

  // A node's cores are stepped several times per simulator event (a wake
  // ticks three of them, each followed by schedule()); only the last call's
  // wake-up stays live. So schedule() takes the insertion number that call's
  // push would have had, and flushWakes(), before the next event, computes
  // the deadline once and arms the node's timer with it. Exact: `now` does
  // not move in between, and every change to a node's cores ends in a
  // schedule() call, so the last call would have computed the same deadline.
  // (a count, not `dirty.length = 0`: truncating an array on every event was 5% of a run)
  const dirty: number[] = [];
  let dirty_n = 0;

  function schedule(i: number): void {
    const n = nodes[i]!;
    if (!n.mem || !n.pl) return;
    if (n.wake_order < 0) dirty[dirty_n++] = i;
    n.wake_order = q.reserve();
  }

  function flushWakes(): void {
    for (let k = 0; k < dirty_n; k++) {
      const i = dirty[k]!;
      const n = nodes[i]!;
      const order = n.wake_order;
      n.wake_order = -1;
      // gone since (its token moved on); booted again: schedule() came after
      if (!n.mem || !n.pl) continue;
      const deadline = Math.min(membership.nextDeadline(n.mem), placement.nextDeadline(n.pl), n.fc ? fencing.fencingDeadline(n.fc) : Infinity);
      if (!Number.isFinite(deadline)) continue;
      const wait = Math.max(0, deadline - local(n));
      // in place: a popped wake-up is handled before the next flush and never kept
      (n.timer.ev as Extract<SimEvent, { kind: "wake" }>).token = ++n.wake_token;
      q.arm(n.timer, now + wait / (1 + n.drift) + 1e-9, order);
    }
    dirty_n = 0;
  }

  function fence(ev: Extract<SimEvent, { kind: "fence" }>): void {
    const req = nodes[ev.requester]!;
    if (!req.up || req.incarnation !== ev.incarnation) return; // a dead requester fences nobody
    if (ev.ok) {
      if (nodes[ev.target]!.up || nodes[ev.target]!.active.some((x) => x)) faults.fenced = (faults.fenced ?? 0) + 1;
      powerOff(ev.target);
    } else faults.fence_failed = (faults.fence_failed ?? 0) + 1;
    fcApply(ev.requester, { type: "result", node: names[ev.target]!, ok: ev.ok, detail: ev.ok ? "off" : "agent failed" });
  }

  /** Honest status: a powered-off node reports OFF; a live one (partitioned, frozen, daemon gone) ON. */
  function powerStatus(ev: Extract<SimEvent, { kind: "status" }>): void {
    const req = nodes[ev.requester]!;
    if (!req.up || req.incarnation !== ev.incarnation) return;
    const off = ev.fails ? null : !nodes[ev.target]!.powered;
    if (off) faults.status_off = (faults.status_off ?? 0) + 1;
    fcApply(ev.requester, { type: "fence_status_result", node: names[ev.target]!, check: ev.check, off, detail: off === null ? "no answer" : off ? "OFF" : "ON" });
  }

  function fault(): void {
    const i = r.int(0, nodes.length - 1);
    const n = nodes[i]!;
    const kinds = ["crash", "daemon_crash", "stop", "restart", "restart", "partition", "oneway", "heal", "standby", "takeover", "crossing"] as const;
    const with_ping = o.ping_units > 0 ? [...kinds, "ping" as const] : kinds;
    const kind = r.pick(o.freezes ? [...with_ping, "freeze" as const, "freeze" as const] : with_ping);
    faults[kind] = (faults[kind] ?? 0) + 1;
    trace?.(`${now.toFixed(3)} FAULT ${kind} ${n.name}`);
    if (kind === "freeze") {
      if (n.up && !frozen(n)) {
        n.frozen_until = now + o.keepalive_ms + r.next() * 3 * o.deadtime_ms;
        q.push(n.frozen_until, { kind: "thaw", node: i, incarnation: n.incarnation });
        updateMinority();
      }
    } else if (kind === "crash" && n.up) powerOff(i);
    else if (kind === "daemon_crash" && n.up) daemonGone(i);
    else if (kind === "stop" && n.up) plApply(i, { type: "shutdown" });
    else if (kind === "restart" && !n.up) boot(i);
    else if (kind === "partition" || kind === "oneway") {
      const l = r.int(0, o.links - 1);
      for (let j = 0; j < nodes.length; j++) {
        if (j === i) continue;
        cut[l]![i * o.nodes + j] = true;
        if (kind === "partition") cut[l]![j * o.nodes + i] = true;
      }
    } else if (kind === "heal") for (const c of cut) c.fill(false);
    if (kind === "partition" || kind === "oneway" || kind === "heal") updateMinority();
    else if (kind === "ping" && o.ping_units > 0) setPing(i, r.int(0, o.ping_units));
    else if ((kind === "standby" || kind === "takeover") && n.up) {
      const scope = r.pick(["none", "all", "local", "foreign"] as ScopeName[]);
      // as the daemon (ResourceManager.admin): takeover also overrides wait_for_all
      if (kind === "takeover" && scope !== "none") fcApply(i, { type: "override" });
      plApply(i, { type: "admin", command: kind, scope });
    } else if (kind === "crossing") {
      // admins on every node at once: decisions from views of different age
      for (let j = 0; j < nodes.length; j++) {
        const command = r.pick(["standby", "takeover"] as const);
        const scope = r.pick(["none", "all", "local", "foreign"] as ScopeName[]);
        if (!nodes[j]!.up) continue;
        if (command === "takeover" && scope !== "none") fcApply(j, { type: "override" });
        plApply(j, { type: "admin", command, scope });
      }
    }
  }

  function healAll(): void {
    healed = true;
    for (const c of cut) c.fill(false);
    for (let i = 0; i < nodes.length; i++) if (frozen(nodes[i]!)) thaw({ kind: "thaw", node: i, incarnation: nodes[i]!.incarnation });
    updateMinority();
    for (let i = 0; i < nodes.length; i++) nodes[i]!.ping_score = o.ping_units;
    for (let i = 0; i < nodes.length; i++) if (!nodes[i]!.up) boot(i);
      else if (o.ping_units > 0) setPing(i, o.ping_units);
  }

  /** Invariant 2: one runner per runnable group, the preferred one when failback says so. */
  function checkConverged(): void {
    groups.forEach((grp, g) => {
      const live = nodes.filter((n) => n.up && n.pl && !n.pl.shutting_down);
      const runners = nodes.filter((n) => n.active[g]);
      // fenced nodes stay off: the rest may lack quorum, and then nothing starts
      if (o.quorum && nodes.filter((n) => n.up).length < quorum_needed) {
        if (o.no_quorum_policy === "stop" && runners.length > 0) fail(`${grp.id} active on [${runners.map((n) => n.name)}] without quorum (policy stop)`);
        if (runners.length > 1) fail(`${grp.id} active on [${runners.map((n) => n.name)}] without quorum`);
        return;
      }
      const runnable = live.some((n) => n.pl!.groups[g]!.failures < o.start_failures_max);
      const running = runners.filter((n) => n.pl?.groups[g]!.state === "running");
      if (!runnable) {
        if (runners.length > 0) fail(`unrunnable ${grp.id} active on ${runners.map((n) => n.name)}`);
        return;
      }
      if (runners.length !== 1 || running.length !== 1) {
        const states = nodes.map((n) => `${n.name}:${n.up ? n.pl?.groups[g]!.state : "down"}${n.active[g] ? "*" : ""}`);
        return fail(`no convergence: ${grp.id} active on [${runners.map((n) => n.name)}] (${states.join(" ")})`);
      }
      const want = failbackTarget(g, live);
      if (want && running[0]!.name !== want) fail(`no failback: ${grp.id} runs on ${running[0]!.name}, preferred ${want} is eligible`);
    });
  }

  /** The preferred node, when auto_failback on and nothing demotes it (an oracle independent of target()). */
  function failbackTarget(g: number, live: SimNode[]): string | null {
    if (o.auto_failback === "off") return null;
    const pref = live.find((n) => n.name === groups[g]!.preferred_node);
    if (!pref) return null;
    const preferred = groups[g]!.preferred_node;
    const covers = (scope: ScopeName, node: string) =>
      scope === "all" || (scope === "local" && preferred === node) || (scope === "foreign" && preferred !== node);
    const pg = pref.pl!.groups[g]!;
    if (pg.failures > 0 || covers(pref.pl!.standby, pref.name)) return null;
    if (live.some((n) => n !== pref && covers(n.pl!.takeover, n.name))) return null;
    return pref.name;
  }

  function groupIndex(id: string): number {
    const g = groups.findIndex((x) => x.id === id);
    if (g < 0) throw new Error(`unknown group ${id}`);
    return g;
  }

  for (let i = 0; i < nodes.length; i++) if (i === 0 || r.chance(0.8)) boot(i);
  // in time order, so kept outside the heap (queue.ts)
  for (let t = r.next() * o.fault_interval_ms; t < o.duration_ms; t += r.next() * 2 * o.fault_interval_ms) q.pushSorted(t, { kind: "fault" });
  q.pushSorted(converge_at, { kind: "converge" });
  let heal_done = false;
  let events = 0;
  for (;;) {
    flushWakes();
    // The heal comes before the first event at or after duration_ms, which
    // stays queued where it was (not re-queued behind what the heal queues).
    if (!heal_done && q.peekAt() >= o.duration_ms) {
      now = o.duration_ms;
      heal_done = true;
      healAll();
      continue;
    }
    const item = q.pop();
    if (!item) break;
    if (++events > events_max) {
      fail("event budget exhausted (livelock?)");
      break;
    }
    now = item.at;
    const ev = item.ev;
    const aux = item.aux;
    // Nearly every event is a delivery or a wake-up: those first, each with
    // one read of `kind` (events come in eight shapes, so each read is slow).
    const kind = ev.kind;
    if (kind === "deliver" || kind === "wake") {
      const i = kind === "deliver" ? aux >> 3 : (ev as Extract<SimEvent, { kind: "wake" }>).node;
      const n = nodes[i]!;
      // a frozen node handles nothing: its datagrams wait for the thaw (a wake-up is dropped: the thaw ticks)
      if (n.frozen_until > now && n.up) {
        if (kind === "deliver") {
          n.backlog.push(ev);
          n.backlog_aux.push(aux);
        }
        if (n.backlog.length > queue_size_max) fail("backlog bound");
      } else if (kind === "deliver") deliver(ev as Frame, i, aux & 7);
      else if ((ev as Extract<SimEvent, { kind: "wake" }>).token === n.wake_token) {
        fcApply(i, tick);
        plApply(i, tick);
        memApply(i, tick);
      }
      continue;
    }
    if (ev.kind === "converge") {
      checkConverged();
      break;
    }
    // a frozen node handles nothing: its results wait for the thaw
    const target = ev.kind === "fence" || ev.kind === "status" ? ev.requester : ev.kind === "fault" || ev.kind === "thaw" ? -1 : ev.node;
    if (target >= 0 && nodes[target]!.frozen_until > now && nodes[target]!.up) {
      nodes[target]!.backlog.push(ev);
      nodes[target]!.backlog_aux.push(aux);
      if (nodes[target]!.backlog.length > queue_size_max) fail("backlog bound");
      continue;
    }
    if (ev.kind === "thaw") {
      thaw(ev);
      continue;
    }
    if (ev.kind === "fault") fault();
    else if (ev.kind === "fence") fence(ev);
    else if (ev.kind === "status") powerStatus(ev);
    else if (ev.kind === "agent") agentDone(ev);
  }
  return { seed, options: o, violations, events, simulated_ms: now, faults, logs, starts };

  /** The node runs again: its timer fires first (membership sees the gap), then what queued up, in order. */
  function thaw(ev: Extract<SimEvent, { kind: "thaw" }>): void {
    const n = nodes[ev.node]!;
    if (!n.up || n.incarnation !== ev.incarnation || n.frozen_until === -Infinity) return; // thawed by the heal already
    n.frozen_until = -Infinity;
    updateMinority();
    // a thawed node knows nothing newer than its freeze: its stale view may count anyone for a while
    n.audible_until.fill(now);
    memApply(ev.node, tick);
    fcApply(ev.node, tick);
    plApply(ev.node, tick);
    const backlog = n.backlog.splice(0);
    const backlog_aux = n.backlog_aux.splice(0);
    for (let k = 0; k < backlog.length; k++) {
      const b = backlog[k]!;
      if (!n.up || n.incarnation !== ev.incarnation) return;
      if (b.kind === "deliver") deliver(b, backlog_aux[k]! >> 3, backlog_aux[k]! & 7);
      else if (b.kind === "agent") agentDone(b);
      else if (b.kind === "fence") fence(b);
      else if (b.kind === "status") powerStatus(b);
    }
  }

  function agentDone(ev: Extract<SimEvent, { kind: "agent" }>): void {
    const n = nodes[ev.node]!;
    if (!n.up || n.incarnation !== ev.incarnation) return; // its daemon is gone
    if (ev.op === "stop" && ev.ok) n.active[ev.group] = false;
    plApply(ev.node, { type: "agent_done", group: groups[ev.group]!.id, action: ev.op, ok: ev.ok, detail: ev.detail });
  }
}
