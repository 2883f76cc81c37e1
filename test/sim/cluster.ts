// A deterministic cluster simulator (in the spirit of TigerBeetle's VOPR):
// the real membership core, a virtual clock per node (offset + drift), a
// packet simulator per link (loss, delay, duplication, reordering through
// delay jitter, partitions) and node faults (crash, graceful stop, restart,
// scheduling stalls). Every fault rate is derived from one seed, so a
// failing seed replays exactly.
import {
  type MembershipAction,
  type MembershipEvent,
  type MembershipState,
  initialState,
  nextDeadline,
  step,
} from "../../src/core/membership.ts";
import { Prng } from "./prng.ts";
import { EventQueue, type Timer } from "./queue.ts";

export interface SwarmOptions {
  nodes: number;
  links: number;
  keepalive_ms: number;
  deadtime_ms: number;
  warntime_ms: number;
  initdead_ms: number;
  duration_ms: number;
  /** quiet tail: no faults, no loss, everyone up; views must converge in it */
  heal_ms: number;
  loss_probability: number;
  duplicate_probability: number;
  one_way_delay_min_ms: number;
  one_way_delay_max_ms: number;
  /** mean time between faults (crash, stop, restart, partition, stall) */
  fault_interval_ms: number;
  stall_max_ms: number;
  drift_ppm_max: number;
  timer_jitter_max_ms: number;
}

export function swarmOptions(seed: number): SwarmOptions {
  const r = new Prng(seed ^ 0x5eed);
  const keepalive_ms = r.pick([10, 20, 50, 100, 200, 1000]);
  const deadtime_ms = keepalive_ms * r.int(3, 10);
  const delay_max = r.int(0, Math.floor(keepalive_ms / 2));
  return {
    nodes: r.pick([2, 2, 2, 3, 4]),
    links: r.int(1, 3),
    keepalive_ms,
    deadtime_ms,
    warntime_ms: Math.floor((keepalive_ms + deadtime_ms) / 2),
    initdead_ms: deadtime_ms * r.int(1, 4),
    duration_ms: keepalive_ms * r.int(200, 1200),
    heal_ms: deadtime_ms * 4 + keepalive_ms * 4,
    loss_probability: r.pick([0, 0.01, 0.1, 0.3, 0.6]),
    duplicate_probability: r.pick([0, 0.01, 0.1]),
    one_way_delay_min_ms: r.int(0, delay_max),
    one_way_delay_max_ms: delay_max,
    fault_interval_ms: deadtime_ms * r.int(2, 40),
    stall_max_ms: r.pick([0, keepalive_ms, deadtime_ms * 2]),
    drift_ppm_max: r.pick([0, 100, 1000]),
    timer_jitter_max_ms: r.pick([0, 1, 3]),
  };
}

type FrameEvent = Extract<MembershipEvent, { type: "frame" }>;
type SimEvent =
  | { kind: "wake"; node: number; token: number }
  /** a delivery: the frame event itself, shared by every copy; receiver, sender and link ride in the queue's aux (deliverAux) */
  | FrameEvent
  | { kind: "fault" }
  | { kind: "check_dead"; observer: number; peer: number; peer_incarnation: number };


interface SimNode {
  name: string;
  up: boolean;
  incarnation: number;
  generation: number;
  core: MembershipState | null;
  offset_ms: number;
  drift: number;
  stalled_until: number;
  wake_token: number;
  /** the node's wake-up entry in the queue, moved when re-armed (see queue.ts) */
  timer: Timer<SimEvent>;
  /** local arrival time of the newest frame (highest seq) from each peer */
  last_arrival_local: ({ generation: number; seq: number; at: number } | undefined)[];
}

export interface SimResult {
  seed: number;
  options: SwarmOptions;
  violations: string[];
  events: number;
  simulated_ms: number;
  deaths_declared: number;
  faults: Record<string, number>;
}

/** Hook so tests can prove the simulator catches a broken core. */
export type StepFn = typeof step;

const events_max = 5_000_000;
/** shared: cores never mutate events */
const tick: MembershipEvent = { type: "tick" };

/** a copy's receiver, sender and link, beside the shared frame event in the queue */
const deliverAux = (to: number, from: number, link: number): number => (to << 8) | (from << 4) | link;
const isFrame = (ev: SimEvent): ev is FrameEvent => ev.kind === "heartbeat" || ev.kind === "leave";

export function runSeed(seed: number, opts: Partial<SwarmOptions> = {}, step_fn: StepFn = step): SimResult {
  const o = { ...swarmOptions(seed), ...opts };
  const r = new Prng(seed);
  const q = new EventQueue<SimEvent>((ev) => (isFrame(ev) ? 0 : 1));
  const violations: string[] = [];
  const faults: Record<string, number> = {};
  const converge_at = o.duration_ms + o.initdead_ms + o.keepalive_ms + o.one_way_delay_max_ms + o.deadtime_ms;
  const end_ms = converge_at + o.keepalive_ms;
  const link_names = Array.from({ length: o.links }, (_, i) => `l${i}`);
  const names = Array.from({ length: o.nodes }, (_, i) => `n${i}`);
  // cut[link][a*n+b]: link cut from a to b (asymmetric partitions allowed)
  const cut = link_names.map(() => new Array<boolean>(o.nodes * o.nodes).fill(false));
  let now = 0;
  let deaths = 0;
  let healed = false;

  const nodes: SimNode[] = names.map((name, i) => ({
    name,
    up: false,
    incarnation: 0,
    generation: r.int(1, 1000),
    core: null,
    offset_ms: r.int(0, 1_000_000),
    drift: (r.next() * 2 - 1) * o.drift_ppm_max * 1e-6,
    stalled_until: 0,
    wake_token: 0,
    timer: q.timer({ kind: "wake", node: i, token: 0 }),
    last_arrival_local: names.map(() => undefined),
  }));
  const local = (n: SimNode, t: number) => n.offset_ms + t * (1 + n.drift);
  const fail = (msg: string) => {
    if (violations.length < 20) violations.push(`t=${now.toFixed(3)}ms ${msg}`);
  };

  function boot(i: number): void {
    const n = nodes[i]!;
    n.up = true;
    n.incarnation++;
    n.generation += r.int(1, 3);
    n.core = initialState(
      {
        self: n.name,
        nodes: names,
        links: link_names,
        generation: n.generation,
        keepalive_ms: o.keepalive_ms,
        warntime_ms: o.warntime_ms,
        deadtime_ms: o.deadtime_ms,
        initdead_ms: o.initdead_ms,
      },
      local(n, now),
    );
    apply(i, tick);
  }

  function down(i: number): void {
    const n = nodes[i]!;
    n.up = false;
    n.core = null;
    n.wake_token++;
    // every observer must notice within this bound (in-flight copies, drift, stalls, timer jitter)
    const bound =
      (o.deadtime_ms + o.one_way_delay_max_ms) * (1 + 3 * o.drift_ppm_max * 1e-6) + o.stall_max_ms + o.timer_jitter_max_ms + 2;
    for (let j = 0; j < nodes.length; j++) {
      if (j !== i) q.push(now + bound, { kind: "check_dead", observer: j, peer: i, peer_incarnation: n.incarnation });
    }
  }

  function apply(i: number, ev: MembershipEvent): void {
    const n = nodes[i]!;
    if (!n.core) return;
    const t = local(n, now);
    let actions: MembershipAction[];
    try {
      actions = step_fn(n.core, ev, t);
    } catch (e) {
      fail(`${n.name} core threw: ${(e as Error).stack}`);
      n.core = null;
      return;
    }
    for (const a of actions) act(i, a, t);
    schedule(i);
  }

  function act(i: number, a: MembershipAction, t: number): void {
    const n = nodes[i]!;
    if (a.type === "send") {
      for (let l = 0; l < o.links; l++) {
        // one frame event per link, shared by every copy (cores never mutate events)
        const ev: FrameEvent = { type: "frame", kind: a.kind, from: names[i]!, link: link_names[l]!, generation: nodes[i]!.generation, seq: a.seq };
        for (let j = 0; j < nodes.length; j++) if (j !== i) transmit(i, j, l, ev);
      }
    } else if (a.type === "node_dead" && a.reason === "deadtime") {
      deaths++;
      const peer = names.indexOf(a.node);
      const arrival = n.last_arrival_local[peer];
      // Safety: never declared dead while its packets arrive within deadtime.
      if (arrival && t - arrival.at < o.deadtime_ms) {
        fail(`${n.name} declared ${a.node} dead ${(t - arrival.at).toFixed(3)}ms after a packet arrived (deadtime ${o.deadtime_ms})`);
      }
    }
  }

  function transmit(from: number, to: number, l: number, ev: FrameEvent): void {
    if (cut[l]![from * o.nodes + to]) return;
    const lossy = !healed;
    const copies = lossy && r.chance(o.duplicate_probability) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      if (lossy && r.chance(o.loss_probability)) continue;
      const delay = o.one_way_delay_min_ms + r.next() * (o.one_way_delay_max_ms - o.one_way_delay_min_ms);
      q.push(now + delay, ev, 0, deliverAux(to, from, l));
    }
  }

  function schedule(i: number): void {
    const n = nodes[i]!;
    if (!n.core) return;
    const deadline_local = nextDeadline(n.core);
    if (!Number.isFinite(deadline_local)) return;
    const wait_local = Math.max(0, deadline_local - local(n, now));
    const jitter = o.timer_jitter_max_ms > 0 ? r.next() * o.timer_jitter_max_ms : 0;
    // local -> global: invert the drift, and never wake before the local deadline
    const at = now + wait_local / (1 + n.drift) + jitter + 1e-9;
    // the timer's own event gets the new token: a wake-up re-queued by a stall
    // is a copy (below), so it stays stale
    (n.timer.ev as Extract<SimEvent, { kind: "wake" }>).token = ++n.wake_token;
    q.arm(n.timer, at, q.reserve());
  }

  function fault(): void {
    const i = r.int(0, nodes.length - 1);
    const n = nodes[i]!;
    const kind = r.pick(["crash", "stop", "restart", "partition", "heal", "stall", "oneway"] as const);
    faults[kind] = (faults[kind] ?? 0) + 1;
    if (kind === "crash" && n.up) down(i);
    else if (kind === "stop" && n.up) {
      apply(i, { type: "shutdown" });
      down(i);
    } else if (kind === "restart" && !n.up) boot(i);
    else if (kind === "partition" || kind === "oneway") {
      const l = r.int(0, o.links - 1);
      for (let j = 0; j < nodes.length; j++) {
        if (j === i) continue;
        cut[l]![i * o.nodes + j] = true;
        if (kind === "partition") cut[l]![j * o.nodes + i] = true;
      }
    } else if (kind === "heal") for (const c of cut) c.fill(false);
    else if (kind === "stall" && n.up && o.stall_max_ms > 0) n.stalled_until = now + r.next() * o.stall_max_ms;
  }

  function healAll(): void {
    healed = true;
    for (const c of cut) c.fill(false);
    for (let i = 0; i < nodes.length; i++) {
      nodes[i]!.stalled_until = 0;
      if (!nodes[i]!.up) boot(i);
      else schedule(i); // re-arm a timer that a stall had pushed back
    }
  }

  function checkConverged(): void {
    for (const a of nodes) {
      for (let j = 0; j < nodes.length; j++) {
        const b = nodes[j]!;
        if (a === b) continue;
        const view = a.core?.peers.get(b.name);
        if (!view || view.state !== "up" || view.generation !== b.generation) {
          fail(`no convergence: ${a.name} sees ${b.name} as ${view?.state} gen ${view?.generation} (actual ${b.generation})`);
        }
      }
    }
  }

  for (let i = 0; i < nodes.length; i++) if (i === 0 || r.chance(0.8)) boot(i);
  for (let t = r.next() * o.fault_interval_ms; t < o.duration_ms; t += r.next() * 2 * o.fault_interval_ms) {
    q.pushSorted(t, { kind: "fault" }); // in time order: kept outside the heap
  }
  let heal_done = false;
  let events = 0;
  for (;;) {
    // The heal comes before the first event at or after duration_ms, which
    // stays queued where it was (not re-queued behind what the heal queues).
    if (!heal_done && q.peekAt() >= o.duration_ms) {
      now = o.duration_ms;
      heal_done = true;
      healAll();
      q.push(converge_at, { kind: "fault" }); // placeholder marker handled below
      continue;
    }
    const item = q.pop();
    if (!item || item.at > end_ms) break;
    if (++events > events_max) {
      fail("event budget exhausted (livelock?)");
      break;
    }
    now = item.at;
    const ev = item.ev;
    const aux = item.aux;
    if (ev.kind === "fault") {
      if (heal_done) checkConverged();
      else fault();
      continue;
    }
    if (ev.kind === "check_dead") {
      const obs = nodes[ev.observer]!;
      const peer = nodes[ev.peer]!;
      const view = obs.core?.peers.get(peer.name);
      if (now < obs.stalled_until) {
        q.push(obs.stalled_until + o.timer_jitter_max_ms + 1, ev); // judge it once it has run again
        continue;
      }
      if (obs.up && !peer.up && peer.incarnation === ev.peer_incarnation && view?.state === "up") {
        fail(`${obs.name} still sees crashed ${peer.name} up past the detection bound`);
      }
      continue;
    }
    const to = ev.kind === "wake" ? ev.node : aux >> 8;
    const n = nodes[to]!;
    if (now < n.stalled_until) {
      // a stalled process handles nothing until it runs again (a wake-up as a
      // copy: the timer's event object is re-armed with new tokens in place)
      if (ev.kind === "wake") q.push(n.stalled_until, { ...ev }, 1);
      else q.push(n.stalled_until, ev, 0, aux);
      continue;
    }
    if (ev.kind === "wake") {
      if (ev.token === n.wake_token) apply(ev.node, tick);
    } else if (n.core) {
      const from = (aux >> 4) & 15;
      // Only new evidence counts: a duplicate or a late reordered copy
      // says nothing about the sender being alive now.
      const prev = n.last_arrival_local[from];
      const same_gen = prev !== undefined && prev.generation === ev.generation;
      if (prev === undefined) n.last_arrival_local[from] = { generation: ev.generation, seq: ev.seq, at: local(n, now) };
      else if (!same_gen || ev.seq > prev.seq) {
        prev.generation = ev.generation;
        prev.seq = ev.seq;
        prev.at = local(n, now);
      }
      apply(to, ev);
    }
  }
  return { seed, options: o, violations, events, simulated_ms: now, deaths_declared: deaths, faults };
}
