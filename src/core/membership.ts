// Membership: who is alive, over which links. A pure state machine in the
// style of etcd raft: `step(state, event, now_ms)` mutates `state` and returns
// the actions the adapter must carry out. No sockets, timers or clocks here:
// time is an input, and `nextDeadline(state)` tells the adapter when to call
// `step` with a `tick` next, so timers can be armed to the millisecond.
//
// Heartbeat's meaning of the timing knobs:
//   keepalive_ms  interval between our heartbeats
//   warntime_ms   a heartbeat arriving after a gap longer than this is "late"
//   deadtime_ms   a peer not heard for this long is declared dead, exactly then
//   initdead_ms   at start, a peer never heard is declared dead after this
//                 (boot-time network bring-up is slow)
// Stalls: a step that comes long after the previous one (SIGSTOP, a VM
// paused, a starved event loop) means this node was deaf, not that its peers
// were silent. With settle_after_stall_ms set, membership then declares
// nobody dead for that long: the datagrams that queued up meanwhile and the
// peers' next heartbeats are heard first (a stall is announced so the
// adapter can hold timer-driven actions such as fencing until `settled`).
// A link to a peer is up while it has carried a fresh packet from the peer
// within deadtime_ms; the peer is up while any link has.
import type { DropReason } from "../wire/types.ts";

export interface MembershipConfig {
  self: string;
  /** every configured node, self included */
  nodes: string[];
  /** link names, in config order */
  links: string[];
  generation: number;
  keepalive_ms: number;
  warntime_ms: number;
  deadtime_ms: number;
  initdead_ms: number;
  /** after a stall, judge no peer dead for this long (0 or absent: off); see the header */
  settle_after_stall_ms?: number;
}

export type PeerStateName = "init" | "up" | "dead";
export type DeadReason = "deadtime" | "left" | "restarted";

export interface LinkView {
  up: boolean;
  /** highest seq heard on this link in the peer's current generation */
  seq_max: number;
  last_heard_ms: number | null;
}

export interface PeerView {
  name: string;
  state: PeerStateName;
  generation: number;
  seq_max: number;
  last_heard_ms: number | null;
  /** generation that said goodbye; packets of it or older are stale */
  left_generation: number;
  links: Map<string, LinkView>;
  /** links' keys and values in the map's order (fixed at start): arrays iterate faster on every step */
  link_names: string[];
  link_list: LinkView[];
  late_count: number;
}

export interface MembershipState {
  cfg: MembershipConfig;
  started_ms: number;
  seq_out: number;
  next_send_ms: number;
  stopping: boolean;
  peers: Map<string, PeerView>;
  /** peers' values in the map's order (fixed at start) */
  peer_list: PeerView[];
  dropped: Record<string, number>;
  /** when the previous step ran; null before the first */
  last_step_ms: number | null;
  /** after a stall: no verdicts before this; -Infinity when not settling */
  settle_until_ms: number;
  /**
   * No peer or link times out before this: a lower bound of nextExpiry's
   * scan (lowered whenever a frame is heard, exact after each scan), so a
   * step between heartbeats skips expire's scan, which would find nothing.
   */
  expiry_floor_ms: number;
  /**
   * expiry_floor_ms is exact (what expiryScan would return): set by a scan;
   * kept by a frame heard, whose terms move to now + deadtime (the lowering
   * takes those in) unless a term it moves or removes was the earliest;
   * cleared then, and by a new generation or a goodbye. nextExpiry reuses
   * it instead of scanning again.
   */
  expiry_exact: boolean;
}

export type MembershipEvent =
  | { type: "tick" }
  /** an authenticated frame from a peer; `kind` from the wire codec */
  | { type: "frame"; kind: "heartbeat" | "leave"; from: string; link: string; generation: number; seq: number }
  /** a datagram the codec refused; counted only */
  | { type: "undecodable"; reason: DropReason; link: string }
  /** graceful local stop: say goodbye once, then stay quiet */
  | { type: "shutdown" }
  /** something peers should learn soon changed (placement's announcement): heartbeat now */
  | { type: "send_now" };

export type MembershipAction =
  | { type: "send"; kind: "heartbeat" | "leave"; seq: number }
  | { type: "node_up"; node: string; generation: number; rejoined: boolean }
  | {
      type: "node_dead";
      node: string;
      reason: DeadReason;
      last_heard_ms: number | null;
      /** declared time minus (last heard + deadtime); 0 for left/restarted */
      lateness_ms: number;
    }
  | { type: "link_up"; node: string; link: string }
  | { type: "link_down"; node: string; link: string }
  | { type: "late_heartbeat"; node: string; gap_ms: number }
  | { type: "drop"; reason: DropReason; from: string | null; link: string }
  /** this node did not run for gap_ms: no peer is judged dead before `settled` */
  | { type: "stall"; gap_ms: number; settle_ms: number }
  | { type: "settled" };

export function validateConfig(cfg: MembershipConfig): string | null {
  if (!cfg.nodes.includes(cfg.self)) return `this node ${cfg.self} is not in the node list`;
  if (cfg.links.length === 0) return "no links";
  if (!(cfg.keepalive_ms >= 1)) return "keepalive_ms must be >= 1";
  if (!(cfg.deadtime_ms > cfg.keepalive_ms)) return "deadtime_ms must exceed keepalive_ms";
  if (!(cfg.initdead_ms >= cfg.deadtime_ms)) return "initdead_ms must be >= deadtime_ms";
  if (!Number.isSafeInteger(cfg.generation) || cfg.generation < 1) return "generation must be a positive integer";
  if (cfg.settle_after_stall_ms !== undefined && !(cfg.settle_after_stall_ms >= 0)) return "settle_after_stall_ms must be >= 0";
  return null;
}

export function initialState(cfg: MembershipConfig, now_ms: number): MembershipState {
  const problem = validateConfig(cfg);
  if (problem) throw new Error(`membership config: ${problem}`);
  const peers = new Map<string, PeerView>();
  for (const name of cfg.nodes) {
    if (name === cfg.self) continue;
    const links = new Map<string, LinkView>();
    for (const l of cfg.links) links.set(l, { up: false, seq_max: 0, last_heard_ms: null });
    peers.set(name, {
      name,
      state: "init",
      generation: 0,
      seq_max: 0,
      last_heard_ms: null,
      left_generation: 0,
      links,
      link_names: [...links.keys()],
      link_list: [...links.values()],
      late_count: 0,
    });
  }
  const expiry_floor_ms = peers.size > 0 ? now_ms + cfg.initdead_ms : Infinity;
  return { cfg, started_ms: now_ms, seq_out: 0, next_send_ms: now_ms, stopping: false, peers, peer_list: [...peers.values()], dropped: {}, last_step_ms: null, settle_until_ms: -Infinity, expiry_floor_ms, expiry_exact: false };
}

export function step(s: MembershipState, ev: MembershipEvent, now_ms: number): MembershipAction[] {
  const out: MembershipAction[] = [];
  if (noteStall(s, now_ms, out)) {
    // Timers first, except for the sender of a frame: its frame proves it is
    // alive now. The adapter reads ready datagrams before a deadline's tick,
    // so a peer heard in time is never declared dead (and never flaps); after
    // a long stall that is not enough (the timer can run before the socket is
    // read, CTS seed 910), hence the settle in noteStall.
    // Nothing can time out before the floor (expire would push nothing).
    if (now_ms >= s.expiry_floor_ms) expire(s, now_ms, out, ev.type === "frame" && isFresh(s, ev) ? ev : null);
  }
  switch (ev.type) {
    case "tick":
      break;
    case "frame":
      onFrame(s, ev, now_ms, out);
      break;
    case "undecodable":
      count(s, ev.reason);
      out.push({ type: "drop", reason: ev.reason, from: null, link: ev.link });
      break;
    case "send_now":
      // at most one extra heartbeat per call; the cadence resumes after it
      s.next_send_ms = Math.min(s.next_send_ms, now_ms);
      break;
    case "shutdown":
      if (!s.stopping) {
        s.stopping = true;
        out.push({ type: "send", kind: "leave", seq: ++s.seq_out });
      }
      break;
  }
  if (!s.stopping && now_ms >= s.next_send_ms) {
    out.push({ type: "send", kind: "heartbeat", seq: ++s.seq_out });
    // Keep a steady cadence, but never burst to catch up after a stall.
    s.next_send_ms += s.cfg.keepalive_ms;
    if (s.next_send_ms <= now_ms) s.next_send_ms = now_ms + s.cfg.keepalive_ms;
  }
  return out;
}

/**
 * The gap since the previous step: this node is deaf while it does not run,
 * so after a gap longer than a heartbeat plus half the margin to deadtime
 * (the daemon steps at least every keepalive_ms), verdicts wait
 * settle_after_stall_ms. May timers be judged now?
 */
function noteStall(s: MembershipState, now_ms: number, out: MembershipAction[]): boolean {
  const settle_ms = s.cfg.settle_after_stall_ms ?? 0;
  const last = s.last_step_ms;
  s.last_step_ms = last === null ? now_ms : Math.max(last, now_ms);
  if (settle_ms <= 0) return true;
  const gap_ms = last === null ? 0 : now_ms - last;
  if (!s.stopping && gap_ms > stallMs(s.cfg)) {
    s.settle_until_ms = now_ms + settle_ms;
    out.push({ type: "stall", gap_ms, settle_ms });
  }
  if (now_ms < s.settle_until_ms) return false;
  if (s.settle_until_ms !== -Infinity) {
    s.settle_until_ms = -Infinity;
    out.push({ type: "settled" });
  }
  return true;
}

/** A gap between steps longer than this is a stall (see noteStall). */
export function stallMs(cfg: MembershipConfig): number {
  return cfg.keepalive_ms + (cfg.deadtime_ms - cfg.keepalive_ms) / 2;
}

/** When the adapter must call step({type:"tick"}) next (ms, same clock). */
export function nextDeadline(s: MembershipState): number {
  return Math.min(s.stopping ? Infinity : s.next_send_ms, nextExpiry(s));
}

/**
 * The earliest instant a peer or link times out. Unlike the send cadence,
 * these deadlines are measured (detection lateness), so adapters arm them
 * with sub-millisecond care.
 */
export function nextExpiry(s: MembershipState): number {
  if (s.settle_until_ms !== -Infinity) return s.settle_until_ms; // verdicts wait for the settle's end
  if (s.expiry_exact) return s.expiry_floor_ms;
  // exact, so also a floor: expire would find nothing before it
  s.expiry_floor_ms = expiryScan(s);
  s.expiry_exact = true;
  return s.expiry_floor_ms;
}

/** The earliest instant a peer or link times out, settle aside. */
function expiryScan(s: MembershipState): number {
  let t = Infinity;
  const peers = s.peer_list;
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i]!;
    if (p.state === "init") t = Math.min(t, s.started_ms + s.cfg.initdead_ms);
    if (p.state === "up" && p.last_heard_ms !== null) t = Math.min(t, p.last_heard_ms + s.cfg.deadtime_ms);
    const links = p.link_list;
    for (let k = 0; k < links.length; k++) {
      const l = links[k]!;
      if (l.up && l.last_heard_ms !== null) t = Math.min(t, l.last_heard_ms + s.cfg.deadtime_ms);
    }
  }
  return t;
}

function expire(s: MembershipState, now_ms: number, out: MembershipAction[], spared: FrameEvent | null): void {
  const { deadtime_ms, initdead_ms } = s.cfg;
  const peers = s.peer_list;
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i]!;
    const is_sender = p.name === spared?.from;
    const links = p.link_list;
    for (let k = 0; k < links.length; k++) {
      const l = links[k]!;
      const name = p.link_names[k]!;
      if (is_sender && name === spared?.link) continue;
      if (l.up && l.last_heard_ms !== null && now_ms >= l.last_heard_ms + deadtime_ms) {
        l.up = false;
        out.push({ type: "link_down", node: p.name, link: name });
      }
    }
    if (is_sender) continue;
    if (p.state === "up" && p.last_heard_ms !== null && now_ms >= p.last_heard_ms + deadtime_ms) {
      p.state = "dead";
      const lateness_ms = now_ms - (p.last_heard_ms + deadtime_ms);
      out.push({ type: "node_dead", node: p.name, reason: "deadtime", last_heard_ms: p.last_heard_ms, lateness_ms });
    } else if (p.state === "init" && now_ms >= s.started_ms + initdead_ms) {
      p.state = "dead";
      const lateness_ms = now_ms - (s.started_ms + initdead_ms);
      out.push({ type: "node_dead", node: p.name, reason: "deadtime", last_heard_ms: null, lateness_ms });
    }
  }
  s.expiry_floor_ms = expiryScan(s); // exact again: read after this pass's changes
  s.expiry_exact = true;
}

type FrameEvent = Extract<MembershipEvent, { type: "frame" }>;

/** Would onFrame accept this frame as new evidence of life? (replays spare nobody) */
function isFresh(s: MembershipState, ev: FrameEvent): boolean {
  const p = s.peers.get(ev.from);
  const link = p?.links.get(ev.link);
  if (!p || !link || ev.generation <= p.left_generation || ev.generation < p.generation) return false;
  return ev.generation > p.generation || ev.seq > link.seq_max;
}

function onFrame(s: MembershipState, ev: FrameEvent, now_ms: number, out: MembershipAction[]): void {
  const p = s.peers.get(ev.from);
  const link = p?.links.get(ev.link);
  if (!p || !link) return reject(s, out, ev.from === s.cfg.self ? null : "unknown_node", ev);
  if (ev.generation <= p.left_generation || ev.generation < p.generation) return reject(s, out, "old_generation", ev);
  if (ev.generation > p.generation) {
    s.expiry_exact = false; // a peer up is dead now: its term goes
    newGeneration(p, ev.generation, out);
  }
  // Per-link replay window: each copy of a heartbeat travels every link with
  // the same seq, so freshness is judged per link; a copy already seen on
  // another link still proves this link works.
  if (ev.seq <= link.seq_max) return reject(s, out, "replay", ev);
  link.seq_max = ev.seq;
  // the link's term moves to now + deadtime: was it the earliest?
  if (link.up && link.last_heard_ms !== null && link.last_heard_ms + s.cfg.deadtime_ms <= s.expiry_floor_ms) s.expiry_exact = false;
  link.last_heard_ms = now_ms;
  // the link (and maybe the peer, heard at this same instant) now expires at now + deadtime
  if (now_ms + s.cfg.deadtime_ms < s.expiry_floor_ms) s.expiry_floor_ms = now_ms + s.cfg.deadtime_ms;
  if (!link.up) {
    link.up = true;
    out.push({ type: "link_up", node: p.name, link: ev.link });
  }
  if (ev.seq <= p.seq_max) return; // duplicate across links: liveness already counted
  p.seq_max = ev.seq;
  if (ev.kind === "leave") {
    s.expiry_exact = false; // every term of the peer goes
    return peerLeft(p, now_ms, out);
  }
  // the peer's term moves to now + deadtime (up): was it the earliest?
  if (p.state === "init" ? s.started_ms + s.cfg.initdead_ms <= s.expiry_floor_ms : p.state === "up" && p.last_heard_ms !== null && p.last_heard_ms + s.cfg.deadtime_ms <= s.expiry_floor_ms) {
    s.expiry_exact = false;
  }
  const gap_ms = p.last_heard_ms === null ? 0 : now_ms - p.last_heard_ms;
  if (p.state === "up" && gap_ms > s.cfg.warntime_ms) {
    p.late_count++;
    out.push({ type: "late_heartbeat", node: p.name, gap_ms });
  }
  p.last_heard_ms = now_ms;
  if (p.state !== "up") {
    const rejoined = p.state === "dead";
    p.state = "up";
    out.push({ type: "node_up", node: p.name, generation: p.generation, rejoined });
  }
}

/** The peer restarted (or we first hear it): forget the old incarnation. */
function newGeneration(p: PeerView, generation: number, out: MembershipAction[]): void {
  if (p.state === "up") {
    p.state = "dead";
    out.push({ type: "node_dead", node: p.name, reason: "restarted", last_heard_ms: p.last_heard_ms, lateness_ms: 0 });
  }
  p.generation = generation;
  p.seq_max = 0;
  for (const l of p.links.values()) l.seq_max = 0;
}

function peerLeft(p: PeerView, now_ms: number, out: MembershipAction[]): void {
  p.left_generation = p.generation;
  for (const [name, l] of p.links) {
    if (l.up) out.push({ type: "link_down", node: p.name, link: name });
    l.up = false;
  }
  if (p.state !== "dead") {
    p.state = "dead";
    out.push({ type: "node_dead", node: p.name, reason: "left", last_heard_ms: p.last_heard_ms, lateness_ms: 0 });
  }
  p.last_heard_ms = now_ms;
}

function reject(s: MembershipState, out: MembershipAction[], reason: DropReason | null, ev: FrameEvent): void {
  if (reason === null) return; // our own packet looped back by bcast/mcast
  count(s, reason);
  out.push({ type: "drop", reason, from: ev.from, link: ev.link });
}

function count(s: MembershipState, reason: DropReason): void {
  s.dropped[reason] = (s.dropped[reason] ?? 0) + 1;
}

export interface NodeStatus {
  name: string;
  state: PeerStateName | "self";
  generation: number;
  last_heard_ms_ago: number | null;
  late_count: number;
  links: { name: string; state: "up" | "down"; last_heard_ms_ago: number | null }[];
}

export function statusView(s: MembershipState, now_ms: number): NodeStatus[] {
  const ago = (t: number | null) => (t === null ? null : Math.max(0, Math.round(now_ms - t)));
  const out: NodeStatus[] = [];
  for (const name of s.cfg.nodes) {
    const p = s.peers.get(name);
    if (!p) {
      out.push({ name, state: "self", generation: s.cfg.generation, last_heard_ms_ago: 0, late_count: 0, links: [] });
      continue;
    }
    out.push({
      name,
      state: p.state,
      generation: p.generation,
      last_heard_ms_ago: ago(p.last_heard_ms),
      late_count: p.late_count,
      links: [...p.links].map(([ln, l]) => ({ name: ln, state: l.up ? "up" : "down", last_heard_ms_ago: ago(l.last_heard_ms) })),
    });
  }
  return out;
}
