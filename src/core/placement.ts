// Placement: which node runs which resource group. A pure state machine like
// core/membership.ts: `step(state, event, now_ms)` mutates `state` and returns
// actions; `announcement(state)` is the body of our next heartbeat;
// `nextDeadline(state)` says when to tick. No I/O, no clocks.
//
// Inputs are membership verdicts (node_up/node_dead), the peers' latest
// announcements (delivered only for frames membership accepted), agent
// results, admin commands and fencing results.
//
// Safety: a node runs the start agent for g only after
//   1. it is the target of g in its own view (see `target`),
//   2. it announced a claim (g = starting) and every peer that is up answered
//      with an announcement that acknowledges the claim's ann_seq and shows g
//      stopped/failed. The ack closes the race of two nodes deciding at once
//      from views of different age: a peer that has seen our claim never
//      claims g itself while our claim stands; two concurrent claims are
//      settled by a fixed rank (preferred node first, then node order),
//   3. no peer is in init (never heard: membership declares it dead at
//      initdead), and a dead peer is fenced when `fencing_required`.
// A peer declared dead holds nothing (unless fencing_required: until
// fence_done). The overlap this allows during a partition is Heartbeat R1's
// (split brain without STONITH); the simulator checks it is the only one.
//
// Target of g (computed alike on every node from the same announcements):
//   candidates = up nodes not shutting down and not blocked for g; those not
//   "demoted" (standby covering g, a peer's takeover covering g, or an earlier
//   failure of g there) first, demoted ones only if no other is left, so a
//   standby never strands a group. Then: auto_failback on (or legacy, which
//   Heartbeat 3.0.6 documents as failback for clusters with nodes that predate
//   the option; we treat it as on) and the preferred node a candidate ->
//   preferred; else a candidate already holding g (stickiness; several holders
//   after a partition heals -> preferred, else first in node order); else
//   preferred; else first candidate in node order.
//
// Adapter contract: deliver node_up/node_dead in membership's order, then
// peer_state only for a heartbeat newer (seq) than any seen from that
// incarnation (an older copy on another link must not roll a view back);
// initdead is membership's: a peer never heard blocks starts until it is
// declared dead.
//
// Quorum (cfg.quorum, for 3+ nodes; corosync's votequorum with one vote a
// node): this node's partition is quorate while self + peers up is a strict
// majority of cfg.nodes. Without quorum the target of every group is nobody
// (no_quorum_policy stop, Pacemaker's default: what runs here stops, nothing
// is claimed) or, with freeze, this node for what it runs now and nobody
// for the rest (nothing new starts, nothing restarts in place). Fencing is
// held by the fencing core, which hears the verdict through the `quorum`
// action. Two nodes keep the tie-break and fence_delay (corosync's two_node).
//
// Decisions:
// - standby and takeover are announced, persistent preferences (not one-shot
//   as in Heartbeat): every node must compute the same target, and a
//   one-shot takeover would be undone at once by auto_failback on. `none`
//   clears. A takeover resets our failure counts in its scope.
// - A fresh incarnation knows nothing of what its predecessor left running
//   (the daemon may have crashed with resources up), so it first stops every
//   group (OCF stop is idempotent), announcing them as stopping meanwhile.
// - Start and stop agents run one at a time (stops first, in reverse config
//   order; starts in config order); monitors run alongside.
// - A monitor failure restarts in place (stopping -> starting, never
//   announcing stopped, so no peer can claim in between) up to restarts_max,
//   then gives up: failures++ and the group is failed here.
// - failures (start failures + monitor give-ups) never decay: at
//   start_failures_max the node is blocked for g and says so; blocked
//   everywhere -> g stays stopped (logged unplaceable). `takeover` resets.
// - A failed stop leaves the resource in an unknown state: we keep announcing
//   stopping (peers stay off it) and retry every stop_retry_ms.
import {
  type Announcement,
  type GroupAnnouncement,
  type GroupStateName,
  GroupState,
  Scope,
  type ScopeName,
  bodySizeMax,
  body_size_max,
  failures_saturate,
  fnv1a32,
  ping_score_max,
  groups_max,
  isValidGroupId,
  nodes_max,
} from "./body.ts";
import type { DeadReason } from "./membership.ts";

export type AutoFailback = "on" | "off" | "legacy";

export interface PlacementConfig {
  self: string;
  /** every configured node, self included, in the shared order */
  nodes: string[];
  /** our membership generation: peers' acks name it */
  generation: number;
  /** monitor: this group's schedule (interval_ms 0 = never); absent: cfg.monitor's */
  groups: { id: string; preferred_node: string; monitor?: { interval_ms: number; timeout_ms: number } }[];
  auto_failback: AutoFailback;
  /** failures (start failures + monitor give-ups) after which a node stops trying g */
  start_failures_max: number;
  monitor: { interval_ms: number; timeout_ms: number; restarts_max: number };
  stop_retry_ms: number;
  /** a peer declared dead (deadtime) holds its groups until fence_done */
  fencing_required: boolean;
  /** ping nodes + ping groups configured (ipfail); 0 = none */
  ping_units: number;
  /** act only with a majority of `nodes` up (see the header); absent: false */
  quorum?: boolean;
  /** without quorum: stop what runs here (default) or keep it running */
  no_quorum_policy?: NoQuorumPolicy;
}

export type NoQuorumPolicy = "stop" | "freeze";

export type AgentOp = "start" | "stop" | "monitor";
export type AdminCommand = "standby" | "takeover";

export type PlacementEvent =
  | { type: "tick" }
  | { type: "node_up"; node: string; generation: number }
  | { type: "node_dead"; node: string; reason: DeadReason }
  /** the peer's latest announcement, from a frame membership accepted */
  | { type: "peer_state"; node: string; announcement: Announcement }
  | { type: "agent_done"; group: string; action: AgentOp; ok: boolean; detail: string }
  | { type: "admin"; command: AdminCommand; scope: ScopeName }
  | { type: "fence_done"; node: string }
  /** how many ping nodes/groups this node reaches now (ping_units > 0 only) */
  | { type: "connectivity"; score: number }
  /** graceful stop: stop every group, then ready_to_exit */
  | { type: "shutdown" };

export type LogEvent =
  | "takeover"
  | "failback"
  | "handover"
  | "standby"
  | "start_failed"
  | "monitor_failed"
  | "stop_failed"
  | "gave_up"
  | "conflict"
  | "unplaceable"
  | "config_mismatch"
  | "fence";

/**
 * Ordering: carry them out in the order given. `fence_node` comes before any
 * start it unblocks (the start waits for fence_done). `announce` means our
 * announcement changed: send a heartbeat soon (optional, speeds handshakes).
 */
export type PlacementAction =
  | { type: "start_group"; group: string }
  | { type: "stop_group"; group: string }
  | { type: "monitor_group"; group: string; timeout_ms: number }
  /** held counts (placement's view just before) feed the split-brain tie-break */
  | { type: "fence_node"; node: string; reason: "dead" | "stop_failed"; self_held: number; peer_held: number }
  | { type: "announce"; ann_seq: number }
  /** quorum was gained or lost (cfg.quorum only; also once at the first step): hold or release fencing; comes first in its step */
  | { type: "quorum"; quorate: boolean; votes: number; needed: number }
  | { type: "log"; event: LogEvent; group: string | null; node: string | null; detail: string }
  | { type: "ready_to_exit" };

type PeerStatus = "init" | "up" | "dead";

interface PeerPlacement {
  name: string;
  index: number;
  status: PeerStatus;
  generation: number;
  /** latest announcement of its current generation; null until one arrives */
  ann: Announcement | null;
  fence: "none" | "pending" | "done";
  mismatch_logged: boolean;
  /** ann.groups in our group order (first entry with each id), valid while ann_groups_of === ann */
  ann_groups: (GroupAnnouncement | undefined)[];
  ann_groups_of: Announcement | null;
}

interface GroupRun {
  /** position in cfg.groups */
  index: number;
  id: string;
  preferred_node: string;
  state: GroupStateName;
  op: AgentOp | null;
  /** ann_seq of the announcement that first shows our claim; null when not claiming */
  claim_seq: number | null;
  /** where a withdrawn claim or a finished stop lands */
  rest: "stopped" | "failed";
  restart_after_stop: boolean;
  /** the current stop failed at least once: announced as stop_failed */
  stop_failed: boolean;
  failures: number;
  restarts: number;
  since_ms: number;
  next_monitor_ms: number | null;
  /** 0 = not monitored */
  monitor_interval_ms: number;
  monitor_timeout_ms: number;
  stop_retry_ms: number | null;
  last_failure: { at_ms: number; action: AgentOp; detail: string } | null;
  last_holder: string | null;
  conflict_logged: boolean;
  unplaceable_logged: boolean;
}

export interface PlacementState {
  cfg: PlacementConfig;
  self_index: number;
  nodes_hash: number;
  ann_seq: number;
  /** the announcement's content without acks, as small integers (see contentChanged) */
  ann_content: number[];
  standby: ScopeName;
  takeover: ScopeName;
  /** ping units reached; starts at 0 until the first report (no takeover blind) */
  ping_score: number;
  shutting_down: boolean;
  exit_announced: boolean;
  /** the quorum verdict last reported by a `quorum` action; null before the first */
  quorate_reported: boolean | null;
  peers: Map<string, PeerPlacement>;
  /** the peers by node index (null at self), and in node order: the same objects as `peers` */
  peer_at: (PeerPlacement | null)[];
  peer_list: PeerPlacement[];
  groups: GroupRun[];
  /** everything decide() reads, as of the last step (see decideInputsChanged) */
  decide_inputs: unknown[];
  /** the last decide() changed nothing and said nothing; it stays so on these inputs until quiet_until_ms */
  quiet: boolean;
  quiet_until_ms: number;
  /**
   * Counts the steps that may have changed the state; a step proven to
   * change nothing (see stepWith) leaves it. Nothing else mutates the state
   * (the adapter only steps and reads), so a result computed from the state
   * at one count holds while the count stands: nextDeadline and
   * announcementEquals keep theirs.
   */
  changes: number;
  /** nextDeadline's result at `changes` = deadline_of (-1: none) */
  deadline_of: number;
  deadline_ms: number;
  /** announcementEquals(s, equal_ann) was true at `changes` = equal_of (-1: none) */
  equal_ann: Announcement | null;
  equal_of: number;
}

export function validateConfig(cfg: PlacementConfig): string | null {
  if (!cfg.nodes.includes(cfg.self)) return `this node ${cfg.self} is not in the node list`;
  if (new Set(cfg.nodes).size !== cfg.nodes.length) return "duplicate node names";
  if (cfg.nodes.length > nodes_max) return `more than ${nodes_max} nodes`;
  if (cfg.groups.length > groups_max) return `more than ${groups_max} resource groups`;
  const ids = new Set<string>();
  for (const g of cfg.groups) {
    if (!isValidGroupId(g.id)) return `group id ${JSON.stringify(g.id)} must be 1..24 printable ASCII characters`;
    if (ids.has(g.id)) return `duplicate group id ${g.id}`;
    if (!cfg.nodes.includes(g.preferred_node)) return `group ${g.id}: preferred node ${g.preferred_node} is not a node`;
    if (g.monitor && !(g.monitor.interval_ms >= 0 && g.monitor.timeout_ms >= 1)) return `group ${g.id}: monitor interval must be >= 0 ms, timeout >= 1 ms`;
    ids.add(g.id);
  }
  if (bodySizeMax([...ids], cfg.nodes.length) > body_size_max) return "announcement would exceed body_size_max";
  if (!(cfg.start_failures_max >= 1 && cfg.start_failures_max < failures_saturate)) return "start_failures_max must be 1..254";
  if (!(cfg.monitor.interval_ms >= 1 && cfg.monitor.timeout_ms >= 1)) return "monitor interval/timeout must be >= 1 ms";
  if (!(cfg.monitor.restarts_max >= 0)) return "monitor restarts_max must be >= 0";
  if (!(cfg.stop_retry_ms >= 1)) return "stop_retry_ms must be >= 1";
  if (!(Number.isInteger(cfg.ping_units) && cfg.ping_units >= 0 && cfg.ping_units <= ping_score_max)) return `ping_units must be 0..${ping_score_max}`;
  if (cfg.no_quorum_policy !== undefined && cfg.no_quorum_policy !== "stop" && cfg.no_quorum_policy !== "freeze") return "no_quorum_policy must be stop or freeze";
  return null;
}

/** Every node must agree on these, or their targets differ: peers with another hash never ack. */
export function configHash(cfg: PlacementConfig): number {
  const groups = cfg.groups.map((g) => `${g.id}:${g.preferred_node}`).join(",");
  const failback = cfg.auto_failback === "off" ? "off" : "on";
  // ipfail on one node and off on another would compute different targets
  const ipfail = cfg.ping_units > 0 ? "|ipfail" : "";
  return fnv1a32(`${cfg.nodes.join(",")}|${groups}|${failback}${ipfail}`);
}

export function initialState(cfg: PlacementConfig, now_ms: number): PlacementState {
  const problem = validateConfig(cfg);
  if (problem) throw new Error(`placement config: ${problem}`);
  const peers = new Map<string, PeerPlacement>();
  cfg.nodes.forEach((name, index) => {
    if (name === cfg.self) return;
    peers.set(name, {
      name,
      index,
      status: "init",
      generation: 0,
      ann: null,
      fence: "none",
      mismatch_logged: false,
      ann_groups: cfg.groups.map(() => undefined),
      ann_groups_of: null,
    });
  });
  const groups: GroupRun[] = cfg.groups.map((g, index) => ({
    index,
    id: g.id,
    preferred_node: g.preferred_node,
    state: "stopping", // boot cleanup: see the header
    op: null,
    claim_seq: null,
    rest: "stopped",
    restart_after_stop: false,
    failures: 0,
    restarts: 0,
    since_ms: now_ms,
    next_monitor_ms: null,
    monitor_interval_ms: g.monitor?.interval_ms ?? cfg.monitor.interval_ms,
    monitor_timeout_ms: g.monitor?.timeout_ms ?? cfg.monitor.timeout_ms,
    stop_retry_ms: null,
    stop_failed: false,
    last_failure: null,
    last_holder: null,
    conflict_logged: false,
    unplaceable_logged: false,
  }));
  const s: PlacementState = {
    cfg,
    self_index: cfg.nodes.indexOf(cfg.self),
    nodes_hash: configHash(cfg),
    ann_seq: 1,
    ann_content: new Array<number>(4 + 3 * groups.length).fill(-2),
    standby: "none",
    takeover: "none",
    ping_score: 0,
    shutting_down: false,
    exit_announced: false,
    quorate_reported: null,
    peers,
    peer_at: cfg.nodes.map((name) => peers.get(name) ?? null),
    peer_list: [...peers.values()],
    groups,
    decide_inputs: [],
    quiet: false,
    quiet_until_ms: -Infinity,
    changes: 0,
    deadline_of: -1,
    deadline_ms: Infinity,
    equal_ann: null,
    equal_of: -1,
  };
  contentChanged(s);
  return s;
}

export function step(s: PlacementState, ev: PlacementEvent, now_ms: number): PlacementAction[] {
  return stepWith(s, ev, now_ms, true);
}

/** step() that always runs decide(): the reference for the test that skipping a quiet one is exact. */
export function stepDecidingAlways(s: PlacementState, ev: PlacementEvent, now_ms: number): PlacementAction[] {
  return stepWith(s, ev, now_ms, false);
}

function stepWith(s: PlacementState, ev: PlacementEvent, now_ms: number, skip_quiet: boolean): PlacementAction[] {
  const out: PlacementAction[] = [];
  // untouched: this event changed nothing decide() reads (a tick; a peer's
  // announcement already held, which moved no last_holder and asked no fence)
  let untouched = false;
  switch (ev.type) {
    case "tick":
      untouched = true;
      break;
    case "node_up":
      onNodeUp(s, ev.node, ev.generation);
      break;
    case "node_dead":
      onNodeDead(s, ev.node, ev.reason, out);
      break;
    case "peer_state":
      untouched = !onPeerState(s, ev.node, ev.announcement, out);
      break;
    case "agent_done":
      onAgentDone(s, ev, now_ms, out);
      break;
    case "admin":
      onAdmin(s, ev.command, ev.scope, out);
      break;
    case "fence_done":
      onFenceDone(s, ev.node);
      break;
    case "connectivity":
      s.ping_score = Math.max(0, Math.min(s.cfg.ping_units, Math.floor(ev.score)));
      break;
    case "shutdown":
      s.shutting_down = true;
      break;
  }
  if (s.cfg.quorum) {
    // (isQuorate first: the view is an object, built only for the action)
    if (isQuorate(s) !== s.quorate_reported) {
      const q = quorumView(s);
      s.quorate_reported = q.quorate;
      // first: a fence_node of this same step must meet the new verdict
      out.unshift({ type: "quorum", quorate: q.quorate, votes: q.votes, needed: q.needed });
      untouched = false;
    }
  }
  // decide() is a function of its inputs and of `now` only through the
  // stop-retry and monitor deadlines (quiet_until_ms). If the last decide
  // changed nothing and said nothing, and its inputs are still the same (a
  // tick between heartbeats, an unchanged announcement), it would do the
  // same again: nothing. Skipping it is exact, and keeps a quiet cluster's
  // steps cheap.
  // While quiet, decide_inputs holds the inputs as the previous step left
  // them (a quiet step either recorded them or skipped decide), and only
  // steps change the state: after an untouched event they are unchanged,
  // so the comparison (75 inputs and more) would find nothing.
  const inputs_changed = untouched && s.quiet ? false : decideInputsChanged(s);
  if (inputs_changed || !s.quiet || !(now_ms < s.quiet_until_ms) || !skip_quiet) {
    const said = out.length;
    decide(s, now_ms, out);
    // (an acting decide is not quiet, and the next step records its inputs anyway)
    s.quiet = out.length === said && !decideInputsChanged(s);
    if (s.quiet) s.quiet_until_ms = quietUntil(s);
    untouched = false;
  }
  if (!untouched) s.changes++;
  assert(out.length <= 9 + 6 * s.groups.length + 2 * s.peers.size, "action bound");
  return out;
}

/**
 * Record everything decide() and its helpers read (objects by identity:
 * announcements are values, never changed in place) in s.decide_inputs;
 * did any of it change since the last call?
 */
function decideInputsChanged(s: PlacementState): boolean {
  const x = s.decide_inputs;
  const cfg = s.cfg;
  let k = 0;
  let c = false;
  let v: unknown;
  // update(x, k++, v) written out: a call per input cost a sixth of a step
  v = cfg;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.self;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.nodes;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.auto_failback;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.start_failures_max;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.ping_units;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.generation;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.fencing_required;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.quorum;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = cfg.no_quorum_policy;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.self_index;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.ann_seq;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.standby;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.takeover;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.ping_score;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.shutting_down;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.exit_announced;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  v = s.groups.length;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  for (const g of s.groups) {
    v = g.id;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.preferred_node;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.state;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.op;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.claim_seq;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.rest;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.restart_after_stop;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.stop_failed;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.failures;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.restarts;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.next_monitor_ms;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.monitor_interval_ms;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.monitor_timeout_ms;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.stop_retry_ms;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.last_holder;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.conflict_logged;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = g.unplaceable_logged;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
  }
  v = s.peer_list.length;
  if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
  k++;
  for (const p of s.peer_list) {
    v = p.status;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = p.generation;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = p.ann;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
    v = p.fence;
    if (x[k] !== v && (x[k] === x[k] || v === v)) (x[k] = v), (c = true);
    k++;
  }
  if (x.length !== k) {
    x.length = k;
    c = true;
  }
  return c;
}

/** The first instant decide() could act on unchanged inputs: a stop retry or a monitor falling due. */
function quietUntil(s: PlacementState): number {
  let t = Infinity;
  for (const g of s.groups) {
    if (g.op !== null) continue;
    if (g.state === "stopping" && g.stop_retry_ms !== null) t = Math.min(t, g.stop_retry_ms);
    if (g.state === "running" && g.next_monitor_ms !== null) t = Math.min(t, g.next_monitor_ms);
  }
  return t;
}

/** When the adapter must call step({type:"tick"}) next (ms, same clock). */
export function nextDeadline(s: PlacementState): number {
  if (s.deadline_of === s.changes) return s.deadline_ms; // no step changed anything since
  let t = Infinity;
  const slot_free = !busy(s); // a retry waiting for the slot wakes on agent_done, not on time
  for (const g of s.groups) {
    if (g.op !== null) continue;
    if (g.state === "running" && g.next_monitor_ms !== null) t = Math.min(t, g.next_monitor_ms);
    if (g.state === "stopping" && g.stop_retry_ms !== null && slot_free) t = Math.min(t, g.stop_retry_ms);
  }
  s.deadline_of = s.changes;
  s.deadline_ms = t;
  return t;
}

/** The body of our next heartbeat. */
export function announcement(s: PlacementState): Announcement {
  const acks = [];
  for (const p of s.peer_list) {
    if (p.status === "up" && p.ann) acks.push({ node_index: p.index, generation: p.generation, ann_seq: p.ann.ann_seq });
  }
  return {
    nodes_hash: s.nodes_hash,
    ann_seq: s.ann_seq,
    shutting_down: s.shutting_down,
    standby: s.standby,
    takeover: s.takeover,
    ping_score: s.cfg.ping_units > 0 ? s.ping_score : null,
    groups: s.groups.map((g) => ({
      id: g.id,
      state: g.state === "stopping" && g.stop_failed ? "stop_failed" : g.state,
      failures: Math.min(g.failures, failures_saturate),
      blocked: g.failures >= s.cfg.start_failures_max,
    })),
    acks,
  };
}

/**
 * Would announcement(s) equal `a` field by field? The same fields, computed
 * the same way, without building one: an adapter that re-sends unchanged
 * announcements as the same bytes asks this on every heartbeat. Keep it in
 * step with announcement() (test/sim/announce_equal.test.ts compares them).
 */
export function announcementEquals(s: PlacementState, a: Announcement): boolean {
  // the same (unchanged: announcements are values) `a` found equal, and no step changed anything since
  if (a === s.equal_ann && s.equal_of === s.changes) return true;
  if (!announcementEqualsScan(s, a)) return false;
  s.equal_ann = a;
  s.equal_of = s.changes;
  return true;
}

function announcementEqualsScan(s: PlacementState, a: Announcement): boolean {
  if (a.nodes_hash !== s.nodes_hash || a.ann_seq !== s.ann_seq || a.shutting_down !== s.shutting_down) return false;
  if (a.standby !== s.standby || a.takeover !== s.takeover || a.ping_score !== (s.cfg.ping_units > 0 ? s.ping_score : null)) return false;
  const groups = s.groups;
  if (a.groups.length !== groups.length) return false;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    const x = a.groups[i]!;
    if (x.id !== g.id || x.state !== (g.state === "stopping" && g.stop_failed ? "stop_failed" : g.state)) return false;
    if (x.failures !== Math.min(g.failures, failures_saturate) || x.blocked !== g.failures >= s.cfg.start_failures_max) return false;
  }
  let k = 0;
  for (const p of s.peer_list) {
    if (!(p.status === "up" && p.ann)) continue;
    const y = a.acks[k++];
    if (y === undefined || y.node_index !== p.index || y.generation !== p.generation || y.ann_seq !== p.ann.ann_seq) return false;
  }
  return k === a.acks.length;
}

// ---- events ----

function onNodeUp(s: PlacementState, node: string, generation: number): void {
  const p = s.peers.get(node);
  if (!p) return;
  // Wait for a fresh announcement of this incarnation before trusting anything.
  if (p.status !== "up" || p.generation !== generation) p.ann = null;
  p.status = "up";
  p.generation = generation;
  p.fence = "none";
}

function onNodeDead(s: PlacementState, node: string, reason: DeadReason, out: PlacementAction[]): void {
  const p = s.peers.get(node);
  if (!p || p.status === "dead") return;
  const peer_held = p.ann ? p.ann.groups.filter((x) => !isRest(x.state)).length : 0;
  p.ann = null;
  // restarted: alive in a new incarnation, whose boot cleanup stops what the
  // old one left; it holds everything until its first announcement says so.
  if (reason === "restarted") {
    p.status = "init";
    return;
  }
  p.status = "dead";
  // left: it stopped everything before saying goodbye.
  if (s.cfg.fencing_required && reason === "deadtime") {
    if (p.fence === "pending") return; // already asked (a failed stop): the same fence covers it
    p.fence = "pending";
    out.push({ type: "fence_node", node, reason: "dead", self_held: selfHeld(s), peer_held });
    log(out, "fence", null, node, "declared dead: its groups wait for fence_done");
  } else p.fence = "none";
}

/** Did it change anything decide() reads (the announcement held, a last_holder, a fence asked)? */
function onPeerState(s: PlacementState, node: string, a: Announcement, out: PlacementAction[]): boolean {
  const p = s.peers.get(node);
  if (!p || p.status !== "up") return false;
  if (a.nodes_hash !== s.nodes_hash) {
    if (!p.mismatch_logged) log(out, "config_mismatch", null, node, "different nodes/groups/auto_failback: never starting while it is up");
    p.mismatch_logged = true;
    return false;
  }
  if (p.ann && a.ann_seq < p.ann.ann_seq) return false; // older content: keep the newer
  let changed = p.ann !== a;
  p.ann = a;
  // the index is a function of the announcement (our group ids are fixed)
  if (p.ann_groups_of !== a) indexAnnouncement(s, p);
  for (let gi = 0; gi < s.groups.length; gi++) {
    const st = p.ann_groups[gi]?.state;
    if (st === "running" || st === "starting") {
      const g = s.groups[gi]!;
      if (g.last_holder !== node) {
        g.last_holder = node;
        changed = true;
      }
    }
  }
  // Escalation: a failed stop leaves resources in an unknown state there.
  // Fence the node, then its groups are free (onFenceDone).
  if (!s.cfg.fencing_required || p.fence !== "none") return changed;
  let failed: GroupAnnouncement | undefined; // the first stop_failed group (a loop: no closure per peer_state)
  for (const x of a.groups) {
    if (x.state === "stop_failed") {
      failed = x;
      break;
    }
  }
  if (failed) {
    p.fence = "pending";
    out.push({ type: "fence_node", node, reason: "stop_failed", self_held: selfHeld(s), peer_held: a.groups.filter((x) => !isRest(x.state)).length });
    log(out, "fence", failed.id, node, "failed to stop: fencing it before anyone runs its groups");
    return true;
  }
  return changed;
}

function onAgentDone(
  s: PlacementState,
  ev: Extract<PlacementEvent, { type: "agent_done" }>,
  now_ms: number,
  out: PlacementAction[],
): void {
  const g = s.groups.find((x) => x.id === ev.group);
  assert(g !== undefined, `agent_done for unknown group ${ev.group}`);
  assert(g.op === ev.action, `agent_done ${ev.action} for ${g.id} while ${g.op ?? "idle"}`);
  g.op = null;
  if (ev.action === "start") return startDone(s, g, ev.ok, ev.detail, now_ms, out);
  if (ev.action === "stop") return stopDone(s, g, ev.ok, ev.detail, now_ms, out);
  monitorDone(s, g, ev.ok, ev.detail, now_ms, out);
}

function startDone(s: PlacementState, g: GroupRun, ok: boolean, detail: string, now_ms: number, out: PlacementAction[]): void {
  assert(g.state === "starting", "start finished outside starting");
  if (ok) {
    setState(g, "running", now_ms);
    g.next_monitor_ms = nextMonitor(g, now_ms);
    return;
  }
  g.failures++;
  g.last_failure = { at_ms: now_ms, action: "start", detail };
  log(out, "start_failed", g.id, null, `${detail} (failure ${g.failures} of ${s.cfg.start_failures_max})`);
  beginStop(g, "failed", now_ms); // cleanup: a failed start may leave parts running
}

function stopDone(s: PlacementState, g: GroupRun, ok: boolean, detail: string, now_ms: number, out: PlacementAction[]): void {
  assert(g.state === "stopping", "stop finished outside stopping");
  if (!ok) {
    g.last_failure = { at_ms: now_ms, action: "stop", detail };
    g.stop_retry_ms = now_ms + s.cfg.stop_retry_ms;
    g.stop_failed = true;
    const next = s.cfg.fencing_required ? "announced as stop_failed: the peers fence this node" : "still announced as stopping";
    log(out, "stop_failed", g.id, null, `${detail}: ${next}, retrying`);
    return;
  }
  g.stop_retry_ms = null;
  g.stop_failed = false;
  // Not while a peer we see up holds g too (a partition healed into a
  // conflict): then it is an ordinary stop, and the target rule decides.
  if (g.restart_after_stop && !s.shutting_down && !heldByPeer(s, g) && isQuorate(s)) {
    // Restart in place: never announced stopped, so no peer can have claimed.
    g.restart_after_stop = false;
    setState(g, "starting", now_ms);
    g.op = "start";
    out.push({ type: "start_group", group: g.id });
    return;
  }
  g.restart_after_stop = false;
  setState(g, g.rest, now_ms);
}

function monitorDone(s: PlacementState, g: GroupRun, ok: boolean, detail: string, now_ms: number, out: PlacementAction[]): void {
  assert(g.state === "running", "monitor finished outside running");
  if (ok) {
    g.next_monitor_ms = nextMonitor(g, now_ms);
    return;
  }
  g.last_failure = { at_ms: now_ms, action: "monitor", detail };
  g.restarts++;
  if (g.restarts <= s.cfg.monitor.restarts_max) {
    log(out, "monitor_failed", g.id, null, `${detail}: restart ${g.restarts} of ${s.cfg.monitor.restarts_max}`);
    beginStop(g, "stopped", now_ms);
    g.restart_after_stop = true;
    return;
  }
  g.failures++;
  g.restarts = 0;
  log(out, "gave_up", g.id, null, `${detail}: restarts exhausted, failure ${g.failures} of ${s.cfg.start_failures_max}`);
  beginStop(g, "failed", now_ms);
}

function onAdmin(s: PlacementState, command: AdminCommand, scope: ScopeName, out: PlacementAction[]): void {
  if (command === "standby") {
    s.standby = scope;
    if (scope !== "none") s.takeover = "none";
    log(out, "standby", null, null, `standby ${scope}`);
    return;
  }
  s.takeover = scope;
  if (scope === "none") return;
  s.standby = "none";
  for (const g of s.groups) {
    if (!covers(scope, g, s.cfg.self)) continue;
    g.failures = 0;
    g.restarts = 0;
    g.unplaceable_logged = false;
    if (g.state === "failed") g.state = "stopped";
    if (g.rest === "failed") g.rest = "stopped";
  }
  log(out, "takeover", null, null, `takeover ${scope} requested`);
}

function onFenceDone(s: PlacementState, node: string): void {
  const p = s.peers.get(node);
  if (!p || p.fence !== "pending") return;
  p.fence = "done";
  // Fenced while membership still heard it (a failed-stop escalation): it is
  // off now, whatever its last heartbeats said.
  if (p.status !== "dead") {
    p.status = "dead";
    p.ann = null;
  }
}

/** groups we hold or may hold (anything not at rest) */
function selfHeld(s: PlacementState): number {
  return s.groups.filter((g) => !isRest(g.state)).length;
}

// ---- decisions ----

function decide(s: PlacementState, now_ms: number, out: PlacementAction[]): void {
  const targets: (string | null)[] = [];
  const views = fillNodeViews(s);
  const quorate = isQuorate(s);
  for (const g of s.groups) targets.push(quorate ? chooseTarget(s, g, views) : noQuorumTarget(s, g));
  stopPass(s, targets, now_ms, out);
  claimPass(s, targets, now_ms);
  startPass(s, now_ms, out);
  monitorPass(s, now_ms, out);
  notePass(s, targets, out);
  if (contentChanged(s)) {
    s.ann_seq++;
    out.push({ type: "announce", ann_seq: s.ann_seq });
  }
  for (const g of s.groups) assert(g.claim_seq === null || g.claim_seq <= s.ann_seq, "claim ahead of announcement");
  if (s.shutting_down && !s.exit_announced && s.groups.every((g) => g.op === null && isRest(g.state))) {
    s.exit_announced = true;
    out.push({ type: "ready_to_exit" });
  }
}

/** Stops first, last group first: one start/stop agent at a time. */
function stopPass(s: PlacementState, targets: (string | null)[], now_ms: number, out: PlacementAction[]): void {
  for (let i = s.groups.length - 1; i >= 0; i--) {
    const g = s.groups[i]!;
    if (g.op !== null) continue;
    const leave = g.state === "running" && targets[i] !== s.cfg.self;
    const due = g.state === "stopping" && (g.stop_retry_ms === null || now_ms >= g.stop_retry_ms);
    if (!leave && !due) continue;
    if (busy(s)) return;
    if (leave) {
      logHandover(s, g, targets[i]!, out);
      beginStop(g, "stopped", now_ms);
    }
    g.stop_retry_ms = null;
    g.op = "stop";
    out.push({ type: "stop_group", group: g.id });
  }
}

function claimPass(s: PlacementState, targets: (string | null)[], now_ms: number): void {
  for (let i = 0; i < s.groups.length; i++) {
    const g = s.groups[i]!;
    if (g.op !== null) continue;
    if (g.claim_seq !== null && shouldWithdraw(s, g, targets[i]!)) {
      g.claim_seq = null;
      setState(g, g.rest, now_ms);
    } else if (isRest(g.state) && targets[i] === s.cfg.self && mayClaim(s, g)) {
      g.rest = g.state as "stopped" | "failed";
      setState(g, "starting", now_ms);
      g.claim_seq = s.ann_seq + 1; // the announcement this step produces
    }
  }
}

function startPass(s: PlacementState, now_ms: number, out: PlacementAction[]): void {
  for (const g of s.groups) {
    if (g.op !== null || g.claim_seq === null || !claimGranted(s, g)) continue;
    if (busy(s)) return;
    g.claim_seq = null;
    g.since_ms = now_ms;
    g.op = "start";
    if (g.last_holder !== null && g.last_holder !== s.cfg.self) log(out, "takeover", g.id, g.last_holder, `from ${g.last_holder}`);
    out.push({ type: "start_group", group: g.id });
  }
}

function monitorPass(s: PlacementState, now_ms: number, out: PlacementAction[]): void {
  for (const g of s.groups) {
    if (g.op !== null || g.state !== "running" || g.next_monitor_ms === null || now_ms < g.next_monitor_ms) continue;
    g.op = "monitor";
    out.push({ type: "monitor_group", group: g.id, timeout_ms: g.monitor_timeout_ms });
  }
}

/** Conflicts and unplaceable groups: logged once per episode. */
function notePass(s: PlacementState, targets: (string | null)[], out: PlacementAction[]): void {
  for (let i = 0; i < s.groups.length; i++) {
    const g = s.groups[i]!;
    let other: PeerPlacement | undefined;
    if (g.state === "running") {
      for (const p of s.peer_list) {
        if (p.status === "up" && peerGroupAt(p, g)?.state === "running") {
          other = p;
          break;
        }
      }
    }
    const conflict = other !== undefined;
    if (conflict && !g.conflict_logged) {
      log(out, "conflict", g.id, other.name, `running on ${other.name} too: ${targets[i] ?? "nobody"} keeps it`);
    }
    g.conflict_logged = conflict;
    const unplaceable = targets[i] === null && !s.shutting_down && everyoneBlocked(s, g);
    if (unplaceable && !g.unplaceable_logged) log(out, "unplaceable", g.id, null, "blocked on every node: stays stopped");
    g.unplaceable_logged = unplaceable;
  }
}

function logHandover(s: PlacementState, g: GroupRun, to: string | null, out: PlacementAction[]): void {
  if (to === null) return;
  const failback = to === g.preferred_node && s.cfg.auto_failback !== "off";
  log(out, failback ? "failback" : "handover", g.id, to, `stopping for ${to}`);
}

function nextMonitor(g: GroupRun, now_ms: number): number | null {
  return g.monitor_interval_ms > 0 ? now_ms + g.monitor_interval_ms : null;
}

/** The stop agent itself is issued by stopPass, one start/stop agent at a time. */
function beginStop(g: GroupRun, rest: "stopped" | "failed", now_ms: number): void {
  g.rest = rest;
  g.next_monitor_ms = null;
  g.stop_retry_ms = null;
  setState(g, "stopping", now_ms);
}

// ---- quorum ----

export interface QuorumView {
  /** cfg.quorum: without it every partition counts as quorate */
  required: boolean;
  quorate: boolean;
  /** self plus the peers up */
  votes: number;
  /** a strict majority of the configured nodes */
  needed: number;
  total: number;
}

/** Self plus the peers up. */
function quorumVotes(s: PlacementState): number {
  let votes = 1;
  for (const p of s.peer_list) if (p.status === "up") votes++;
  return votes;
}

/** A strict majority of the configured nodes. */
const quorumNeeded = (s: PlacementState): number => Math.floor(s.cfg.nodes.length / 2) + 1;

/** quorumView(s).quorate, without building the view (every step asks) */
function isQuorate(s: PlacementState): boolean {
  return s.cfg.quorum !== true || quorumVotes(s) >= quorumNeeded(s);
}

export function quorumView(s: PlacementState): QuorumView {
  const votes = quorumVotes(s);
  const needed = quorumNeeded(s);
  const required = s.cfg.quorum === true;
  return { required, quorate: !required || votes >= needed, votes, needed, total: s.cfg.nodes.length };
}

/** Without quorum: freeze keeps what runs (or is starting) here, stop keeps nothing. */
function noQuorumTarget(s: PlacementState, g: GroupRun): string | null {
  if (s.cfg.no_quorum_policy !== "freeze") return null;
  const holds = g.state === "running" || (g.state === "starting" && g.op === "start");
  return holds ? s.cfg.self : null;
}

// ---- the start rule ----

/** May we announce a claim on g? Every up peer shows g at rest, nobody is in init or unfenced. */
function mayClaim(s: PlacementState, g: GroupRun): boolean {
  if (s.shutting_down) return false;
  for (const p of s.peer_list) {
    if (!peerClear(p)) return false;
    if (p.status === "up" && !isRest(peerGroupAt(p, g)?.state ?? "stopped")) return false;
  }
  return true;
}

/** Has every up peer acknowledged our claim while showing g at rest? */
function claimGranted(s: PlacementState, g: GroupRun): boolean {
  assert(g.claim_seq !== null && g.state === "starting", "granting a claim we do not hold");
  for (const p of s.peer_list) {
    if (!peerClear(p)) return false;
    if (p.status !== "up") continue;
    const ack = p.ann!.acks.find((k) => k.node_index === s.self_index && k.generation === s.cfg.generation);
    if (!ack || ack.ann_seq < g.claim_seq) return false;
    if (!isRest(peerGroupAt(p, g)?.state ?? "stopped")) return false;
  }
  return true;
}

function shouldWithdraw(s: PlacementState, g: GroupRun, target_node: string | null): boolean {
  if (s.shutting_down || target_node !== s.cfg.self) return true;
  const mine = rank(s, g, s.cfg.self);
  for (const p of s.peer_list) {
    if (p.status !== "up" || !p.ann) continue;
    const st = peerGroupAt(p, g)?.state;
    if (st === "running" || st === "stopping" || st === "stop_failed") return true;
    if (st === "starting" && rank(s, g, p.name) < mine) return true; // two claims: the better rank keeps it
  }
  return false;
}

/** up with an announcement, or dead (and fenced when required) */
function peerClear(p: PeerPlacement): boolean {
  if (p.status === "init") return false;
  if (p.status === "up") return p.ann !== null;
  return p.fence !== "pending";
}

function rank(s: PlacementState, g: GroupRun, node: string): number {
  return node === g.preferred_node ? -1 : s.cfg.nodes.indexOf(node);
}

// ---- the target ----

interface NodeView {
  name: string;
  shutting_down: boolean;
  standby: ScopeName;
  takeover: ScopeName;
  state: GroupStateName;
  failures: number;
  blocked: boolean;
  /** null when ping nodes are not configured there */
  ping_score: number | null;
}

/** The node that should run g, from our view; null if none can. */
export function target(s: PlacementState, g: GroupRun): string | null {
  if (!isQuorate(s)) return noQuorumTarget(s, g);
  return chooseTarget(s, g, fillNodeViews(s));
}

/** target(), from fillNodeViews(s)'s n views (still in the scratch arrays). */
function chooseTarget(s: PlacementState, g: GroupRun, n: number): string | null {
  // Computed on every step for every group, so without allocating: the
  // views (viewsOf's, in node order) go into the scratch arrays below.
  fillGroupViews(s, g, n);
  // ipfail: a node that reaches fewer ping nodes than the best live node is
  // demoted, so the better-connected node wins. A node alone that reaches
  // none keeps what it holds but takes nothing over: it is probably the one
  // cut off, and its peer is alive behind the cut. (With peers up and all at
  // zero, the ping nodes are what failed: placement goes on as usual.)
  const pinged = s.cfg.ping_units > 0;
  let best_ping = pinged ? -Infinity : 0;
  if (pinged) for (let k = 0; k < n; k++) best_ping = Math.max(best_ping, v_ping[k]!);
  const alone = n === 1;
  // demoted also by another view's takeover covering g: count them once
  let takeovers = 0;
  for (let k = 0; k < n; k++) {
    v_covered[k] = v_takeover[k] !== "none" && covers(v_takeover[k]!, g, v_name[k]!);
    if (v_covered[k]) takeovers++;
  }
  let firsts = 0;
  for (let k = 0; k < n; k++) {
    const holds = v_state[k] === "starting" || v_state[k] === "running";
    const usable = !v_shutting[k] && !v_blocked[k] && (!pinged || !alone || v_ping[k]! > 0 || holds);
    const others_takeover = takeovers - (v_covered[k] ? 1 : 0) > 0;
    const demoted = v_failures[k]! > 0 || (v_standby[k] !== "none" && covers(v_standby[k]!, g, v_name[k]!)) || others_takeover;
    v_usable[k] = usable;
    v_first[k] = usable && !demoted && (!pinged || v_ping[k]! >= best_ping);
    if (v_first[k]) firsts++;
  }
  // candidates: the first choices, or every usable view if there are none
  const candidate = firsts > 0 ? v_first : v_usable;
  let first = -1;
  let preferred = -1;
  let holder = -1;
  for (let k = 0; k < n; k++) {
    if (!candidate[k]) continue;
    if (first < 0) first = k;
    if (v_name[k] === g.preferred_node) preferred = k;
    if (holder < 0 && (v_state[k] === "starting" || v_state[k] === "running")) holder = k;
  }
  if (first < 0) return null;
  if (preferred >= 0 && s.cfg.auto_failback !== "off") return v_name[preferred]!;
  if (holder >= 0) {
    const preferred_holds = preferred >= 0 && (v_state[preferred] === "starting" || v_state[preferred] === "running");
    return v_name[preferred_holds ? preferred : holder]!;
  }
  return v_name[preferred >= 0 ? preferred : first]!;
}

// Scratch for target(): view k's fields (viewsOf's NodeView, ping_score ?? 0).
// Cores run one step at a time, so one set of arrays serves every state.
// Packed (filled to nodes_max up front), so reads stay on the fast path.
const v_peer: (PeerPlacement | null)[] = new Array(nodes_max).fill(null);
const v_name: string[] = new Array(nodes_max).fill("");
const v_shutting: boolean[] = new Array(nodes_max).fill(false);
const v_standby: ScopeName[] = new Array(nodes_max).fill("none");
const v_takeover: ScopeName[] = new Array(nodes_max).fill("none");
const v_state: GroupStateName[] = new Array(nodes_max).fill("stopped");
const v_failures: number[] = new Array(nodes_max).fill(0);
const v_blocked: boolean[] = new Array(nodes_max).fill(false);
const v_ping: number[] = new Array(nodes_max).fill(0);
const v_usable: boolean[] = new Array(nodes_max).fill(false);
const v_first: boolean[] = new Array(nodes_max).fill(false);
const v_covered: boolean[] = new Array(nodes_max).fill(false);

/** The node-level fields of viewsOf(s, any g) into the scratch arrays; returns how many views. */
function fillNodeViews(s: PlacementState): number {
  let n = 0;
  const nodes = s.cfg.nodes;
  for (let k = 0; k < nodes.length; k++) {
    const name = nodes[k]!;
    if (name === s.cfg.self) {
      v_peer[n] = null;
      v_name[n] = name;
      v_shutting[n] = s.shutting_down;
      v_standby[n] = s.standby;
      v_takeover[n] = s.takeover;
      v_ping[n] = s.cfg.ping_units > 0 ? s.ping_score : 0;
      n++;
      continue;
    }
    const p = s.peer_at[k]!;
    const a = p.ann;
    if (p.status !== "up" || !a) continue;
    v_peer[n] = p;
    v_name[n] = name;
    v_shutting[n] = a.shutting_down;
    v_standby[n] = a.standby;
    v_takeover[n] = a.takeover;
    v_ping[n] = a.ping_score ?? 0;
    n++;
  }
  return n;
}

/** The fields of viewsOf(s, g) that depend on g, for the n views fillNodeViews(s) found. */
function fillGroupViews(s: PlacementState, g: GroupRun, n: number): void {
  for (let k = 0; k < n; k++) {
    const p = v_peer[k]!;
    if (p === null) {
      v_state[k] = g.state;
      v_failures[k] = g.failures;
      v_blocked[k] = g.failures >= s.cfg.start_failures_max;
      continue;
    }
    const pg = peerGroupAt(p, g);
    v_state[k] = pg?.state ?? "stopped";
    v_failures[k] = pg?.failures ?? 0;
    v_blocked[k] = pg?.blocked ?? false;
  }
}

/** Self and every up peer with an announcement, in node order. */
function viewsOf(s: PlacementState, g: GroupRun): NodeView[] {
  const views: NodeView[] = [];
  for (const name of s.cfg.nodes) {
    if (name === s.cfg.self) {
      const blocked = g.failures >= s.cfg.start_failures_max;
      const ping_score = s.cfg.ping_units > 0 ? s.ping_score : null;
      views.push({ name, shutting_down: s.shutting_down, standby: s.standby, takeover: s.takeover, state: g.state, failures: g.failures, blocked, ping_score });
      continue;
    }
    const p = s.peers.get(name)!;
    if (p.status !== "up" || !p.ann) continue;
    const pg = peerGroupAt(p, g);
    const a = p.ann;
    views.push({
      name,
      shutting_down: a.shutting_down,
      standby: a.standby,
      takeover: a.takeover,
      state: pg?.state ?? "stopped",
      failures: pg?.failures ?? 0,
      blocked: pg?.blocked ?? false,
      ping_score: a.ping_score,
    });
  }
  return views;
}

/** Heartbeat's scopes, relative to `node`: local = groups it is the preferred node of. */
function covers(scope: ScopeName, g: { preferred_node: string }, node: string): boolean {
  if (scope === "all") return true;
  if (scope === "local") return g.preferred_node === node;
  if (scope === "foreign") return g.preferred_node !== node;
  return false;
}

function everyoneBlocked(s: PlacementState, g: GroupRun): boolean {
  const n = fillNodeViews(s);
  fillGroupViews(s, g, n);
  for (let k = 0; k < n; k++) if (!v_blocked[k]) return false;
  return true;
}

// ---- helpers ----

function heldByPeer(s: PlacementState, g: GroupRun): boolean {
  return s.peer_list.some((p) => p.status === "up" && !isRest(peerGroupAt(p, g)?.state ?? "stopped"));
}

function busy(s: PlacementState): boolean {
  for (const g of s.groups) if (g.op === "start" || g.op === "stop") return true;
  return false;
}

function isRest(state: GroupStateName): boolean {
  return state === "stopped" || state === "failed";
}

function peerGroup(p: PeerPlacement, id: string) {
  return p.ann?.groups.find((x) => x.id === id);
}

/** peerGroup(p, g.id), from the index built when the announcement arrived */
function peerGroupAt(p: PeerPlacement, g: GroupRun): GroupAnnouncement | undefined {
  const a = p.ann;
  if (a === null) return undefined;
  return p.ann_groups_of === a ? p.ann_groups[g.index] : peerGroup(p, g.id);
}

/** Index p.ann's groups by our group order; the first entry with an id wins, as with find(). */
function indexAnnouncement(s: PlacementState, p: PeerPlacement): void {
  const a = p.ann!;
  for (let gi = 0; gi < s.groups.length; gi++) {
    const id = s.groups[gi]!.id;
    let hit: GroupAnnouncement | undefined;
    for (const x of a.groups) {
      if (x.id === id) {
        hit = x;
        break;
      }
    }
    p.ann_groups[gi] = hit;
  }
  p.ann_groups_of = a;
}

function setState(g: GroupRun, state: GroupStateName, now_ms: number): void {
  if (g.state !== state) g.since_ms = now_ms;
  g.state = state;
}

/**
 * The announcement without acks: a change bumps ann_seq. Compared field by
 * field with what we announced last (what announcement() would build, the
 * group ids being fixed), so a step that changes nothing allocates nothing.
 */
function contentChanged(s: PlacementState): boolean {
  const c = s.ann_content;
  let changed = put(c, 0, s.shutting_down ? 1 : 0);
  changed = put(c, 1, Scope[s.standby]) || changed;
  changed = put(c, 2, Scope[s.takeover]) || changed;
  changed = put(c, 3, s.cfg.ping_units > 0 ? s.ping_score : -1) || changed;
  for (let i = 0; i < s.groups.length; i++) {
    const g = s.groups[i]!;
    changed = put(c, 4 + 3 * i, GroupState[g.state === "stopping" && g.stop_failed ? "stop_failed" : g.state]) || changed;
    changed = put(c, 5 + 3 * i, Math.min(g.failures, failures_saturate)) || changed;
    changed = put(c, 6 + 3 * i, g.failures >= s.cfg.start_failures_max ? 1 : 0) || changed;
  }
  return changed;
}

/** c[i] = v; did it change? (NaN equals NaN, as it did in the JSON key this replaces) */
function put(c: number[], i: number, v: number): boolean {
  const was = c[i]!;
  if (was === v || (was !== was && v !== v)) return false;
  c[i] = v;
  return true;
}

function log(out: PlacementAction[], event: LogEvent, group: string | null, node: string | null, detail: string): void {
  out.push({ type: "log", event, group, node, detail });
}

function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`placement: ${msg}`);
}

// ---- status ----

export interface GroupStatus {
  id: string;
  /** the node running (or starting) it, by announcements; null if none */
  holder: string | null;
  holders: string[];
  target: string | null;
  state: GroupStateName;
  since_ms: number;
  failures: number;
  blocked: boolean;
  last_failure: { at_ms: number; action: AgentOp; detail: string } | null;
}

export function statusView(s: PlacementState): GroupStatus[] {
  return s.groups.map((g) => {
    const holders = viewsOf(s, g)
      .filter((v) => v.state === "running" || v.state === "starting")
      .map((v) => v.name);
    return {
      id: g.id,
      holder: holders[0] ?? null,
      holders,
      target: target(s, g),
      state: g.state,
      since_ms: g.since_ms,
      failures: g.failures,
      blocked: g.failures >= s.cfg.start_failures_max,
      last_failure: g.last_failure,
    };
  });
}
