// Fencing decisions, pure: when and whom to fence, with what delay, how to
// retry, and when a fence counts as done. No I/O: the daemon runs the fence
// agents (src/fencing/) and feeds their results back; the simulator feeds
// simulated ones.
//
// Rules:
// - Placement asks (`request`) when a peer is declared dead while fencing is
//   configured, or when a live peer announces a failed stop (escalation).
//   Its groups stay down until `fenced` comes out of here.
// - Split brain: both nodes alive, every link cut, both ask. The node that
//   holds more groups (ties: the earlier node in ha.cf's `node` order) fences
//   at once; the other waits delay_ms first, so the holder wins and keeps
//   its groups (Pacemaker's pcmk_delay_base / priority-fencing-delay). If the
//   links heal during the delay, the request is cancelled: no fence at all.
// - A failed attempt retries with exponential backoff (retry_initial_ms,
//   doubling to retry_max_ms), forever: the groups stay down rather than run
//   twice, and status says so loudly. Only a success or an admin's
//   `fence-confirm` ends it.
// - wait_for_all: a node that has seen no peer at all since it booted does
//   not fence and does not start a dead peer's groups (corosync's
//   wait_for_all, for two nodes). This stops the fence death-match where a
//   fenced node reboots into a still-cut network and fences the survivor.
//   Seeing any peer releases it (with three or more nodes, a peer that
//   died meanwhile is then fenced as usual); `fence-confirm` (the admin saw
//   it off) or an admin `takeover` (fence it now) overrides.
// - Ping nodes: a node that reaches none of its ping nodes does not fence
//   (it is probably the one cut off). Attempts wait, and start when the
//   ping nodes answer again.
// - Quorum (3+ nodes, `quorum_required`): a node whose partition lacks a
//   majority of the configured nodes fences nobody; due attempts wait, and
//   start when quorum returns. A dead peer is fenced no sooner than
//   quorum_settle_ms after it was declared dead: peers are declared dead one
//   by one as their deadlines pass, so an isolated node still counts the
//   peers it has not yet declared dead; after a deadtime every peer lost in
//   the same cut is dead too, and quorum is judged on that settled view.
//   Likewise when quorum returns (a heal: the first peer heard brings it
//   back before the others are heard), what waited for it waits that long
//   again.
// - Stall: after a long gap in this node's own loop (membership's `stall`)
//   its view is stale: no attempt starts until membership has `settled`.
// - Already off: when the split-brain delay starts for a dead peer, the
//   adapter is asked for the peer's power status (read-only: fence-agents'
//   action=status, never `off`). A peer its fence device reports OFF cannot
//   be in a fence race, so OFF while the delay still runs counts as fenced
//   at once (fence_ok, "already off"). ON, unknown, an error or a late
//   answer change nothing: the delay runs out as before. Not with
//   quorum_required: there the delay is also quorum's settle, which a power
//   status cannot shorten.
// - A peer seen alive again cancels a delay or a backoff. An attempt already
//   running cannot be recalled: if it succeeds the peer is off, and that
//   counts as fenced.

export type FenceReason = "dead" | "stop_failed";
export type FencePhase = "idle" | "waiting_for_all" | "delay" | "running" | "backoff" | "done";

export interface FencingConfig {
  self: string;
  /** every configured node, self included, in ha.cf order (the tie-break) */
  nodes: string[];
  /** split brain: the node that should lose waits this long before fencing */
  delay_ms: number;
  retry_initial_ms: number;
  retry_max_ms: number;
  wait_for_all: boolean;
  /** 3+ nodes: fence only while this node's partition has a majority (absent: false) */
  quorum_required?: boolean;
  /** quorum: a dead peer waits at least this long (deadtime) before its fence starts */
  quorum_settle_ms?: number;
}

export type FencingEvent =
  | { type: "tick" }
  /** placement wants `node` fenced; held counts are placement's view right before */
  | { type: "request"; node: string; reason: FenceReason; self_held: number; peer_held: number }
  /** membership heard `node` alive */
  | { type: "peer_up"; node: string }
  /** the adapter's verdict on the attempt it was asked to run */
  | { type: "result"; node: string; ok: boolean; detail: string }
  /** admin: `tandem fence-confirm NODE` — the node is known to be off */
  | { type: "confirm"; node: string }
  /** admin: `tandem takeover` — fence peers held back by wait_for_all now */
  | { type: "override" }
  /** ping nodes configured and none reachable (true), or reachable again */
  | { type: "connectivity"; isolated: boolean }
  /** placement's quorum verdict (quorum_required only) */
  | { type: "quorum"; quorate: boolean }
  /** membership: this node stalled (true) and its view is stale, or settled again */
  | { type: "stall"; settling: boolean }
  /** the adapter's answer to fence_status_check `check`: off true/false, or null (unknown, error, timeout) */
  | { type: "fence_status_result"; node: string; check: number; off: boolean | null; detail: string };

export type FencingAction =
  | { type: "run"; node: string; attempt: number }
  | { type: "fenced"; node: string; by: "agent" | "admin" }
  /** read-only power status of `node` (never an off); answer with fence_status_result carrying `check` */
  | { type: "fence_status_check"; node: string; check: number }
  | { type: "log"; node: string; event: FencingLogEvent; detail: string };

export type FencingLogEvent =
  | "fence_requested"
  | "fence_delay"
  | "fence_start"
  | "fence_ok"
  | "fence_failed"
  | "fence_cancelled"
  | "fence_confirmed"
  | "fence_isolated"
  | "fence_no_quorum"
  | "fence_stalled"
  | "wait_for_all";

export interface NodeFencing {
  phase: FencePhase;
  reason: FenceReason | null;
  /** attempts in the current request, 0 before the first */
  attempts: number;
  /** when the delay or backoff ends (phase delay|backoff) */
  next_at_ms: number | null;
  /** the peer came back while an attempt was running */
  seen_while_running: boolean;
  /** seen alive since this node booted (wait_for_all) */
  seen: boolean;
  /** an attempt is due but held back: no ping node, no quorum or a stall */
  held: boolean;
  /** split-brain tie-break of the current request: no fence delay for us */
  wins: boolean;
  since_ms: number;
  /** the status check the current delay may accept, 0 if none (a later answer for an older one is stale) */
  status_check: number;
  last_result: { at_ms: number; ok: boolean; detail: string } | null;
}

export interface FencingState {
  cfg: FencingConfig;
  peers: Map<string, NodeFencing>;
  /** peers' keys and values in the map's order (fixed at start): arrays iterate faster on every step */
  peer_names: string[];
  peer_list: NodeFencing[];
  /** cannot reach any ping node: hold every attempt */
  isolated: boolean;
  /** this node's partition has quorum (always true without quorum_required) */
  quorate: boolean;
  /** after a stall, until membership settles: hold every attempt */
  settling: boolean;
  /** numbers status checks, so an answer is matched to the delay that asked */
  checks_issued: number;
}

/** bounds the retry backoff's exponent so the arithmetic never overflows */
const backoff_doublings_max = 30;

export function validateFencingConfig(cfg: FencingConfig): string | null {
  if (!cfg.nodes.includes(cfg.self)) return `this node ${cfg.self} is not in the node list`;
  if (!(cfg.delay_ms >= 0)) return "delay_ms must be >= 0";
  if (!(cfg.retry_initial_ms >= 1 && cfg.retry_max_ms >= cfg.retry_initial_ms)) return "need 1 <= retry_initial_ms <= retry_max_ms";
  if (cfg.quorum_settle_ms !== undefined && !(cfg.quorum_settle_ms >= 0)) return "quorum_settle_ms must be >= 0";
  return null;
}

export function initialFencing(cfg: FencingConfig, now_ms: number): FencingState {
  const problem = validateFencingConfig(cfg);
  if (problem) throw new Error(`fencing config: ${problem}`);
  const peers = new Map<string, NodeFencing>();
  for (const n of cfg.nodes) {
    if (n === cfg.self) continue;
    peers.set(n, {
      phase: "idle",
      reason: null,
      attempts: 0,
      next_at_ms: null,
      seen_while_running: false,
      seen: false,
      held: false,
      wins: false,
      since_ms: now_ms,
      status_check: 0,
      last_result: null,
    });
  }
  return { cfg, peers, peer_names: [...peers.keys()], peer_list: [...peers.values()], isolated: false, quorate: !cfg.quorum_required, settling: false, checks_issued: 0 };
}

export function fencingStep(s: FencingState, ev: FencingEvent, now_ms: number): FencingAction[] {
  const out: FencingAction[] = [];
  if (ev.type === "connectivity") {
    s.isolated = ev.isolated;
  } else if (ev.type === "quorum") {
    const regained = ev.quorate && !s.quorate;
    s.quorate = ev.quorate || !s.cfg.quorum_required;
    // Peers come back one by one too: quorum returns with the first one
    // heard after a heal, while the others are still unheard. What waited
    // for quorum waits one settle more, so those are heard and cancel it.
    if (regained) {
      const settle_ms = s.cfg.quorum_settle_ms ?? 0;
      for (const p of s.peers.values()) {
        if ((p.phase === "delay" || p.phase === "backoff") && p.next_at_ms !== null) p.next_at_ms = Math.max(p.next_at_ms, now_ms + settle_ms);
      }
    }
  } else if (ev.type === "stall") {
    s.settling = ev.settling;
  } else if (ev.type === "override") {
    for (const [node, p] of s.peers) if (p.phase === "waiting_for_all") begin(s, node, p, 0, now_ms, out);
  } else if (ev.type !== "tick") {
    const p = s.peers.get(ev.node);
    if (!p) return out;
    switch (ev.type) {
      case "request":
        onRequest(s, ev, p, now_ms, out);
        break;
      case "peer_up": {
        const first_seen = ![...s.peers.values()].some((x) => x.seen);
        p.seen = true;
        if (p.phase === "delay" || p.phase === "backoff" || p.phase === "waiting_for_all") {
          log(out, ev.node, "fence_cancelled", `alive again while ${p.phase === "delay" ? "in the fence delay" : p.phase}: not fencing`);
          setPhase(p, "idle", now_ms);
        } else if (p.phase === "running") p.seen_while_running = true;
        else if (p.phase === "done") setPhase(p, "idle", now_ms); // a new incarnation: a later death is a new fence
        if (first_seen) {
          // No longer alone since boot: peers still dead are fenced now.
          for (const [other, q] of s.peers) if (q.phase === "waiting_for_all") begin(s, other, q, q.wins ? 0 : s.cfg.delay_ms, now_ms, out);
        }
        break;
      }
      case "result":
        onResult(s, ev.node, p, ev.ok, ev.detail, now_ms, out);
        break;
      case "fence_status_result":
        onStatusResult(s, ev, p, now_ms, out);
        break;
      case "confirm":
        p.last_result = { at_ms: now_ms, ok: true, detail: "confirmed by the admin" };
        log(out, ev.node, "fence_confirmed", `admin confirmed it is off (was ${p.phase})`);
        setPhase(p, "done", now_ms);
        out.push({ type: "fenced", node: ev.node, by: "admin" });
        break;
    }
  }
  // Delays and backoffs that ran out start an attempt.
  for (let i = 0; i < s.peer_list.length; i++) {
    const p = s.peer_list[i]!;
    if ((p.phase === "delay" || p.phase === "backoff") && p.next_at_ms !== null && now_ms >= p.next_at_ms) {
      startAttempt(s, s.peer_names[i]!, p, now_ms, out);
    }
  }
  return out;
}

/** When fencingStep wants a tick; Infinity if never. */
export function fencingDeadline(s: FencingState): number {
  if (held(s) !== null) return Infinity; // the connectivity, quorum or stall event wakes us
  let t = Infinity;
  for (const p of s.peer_list) if ((p.phase === "delay" || p.phase === "backoff") && p.next_at_ms !== null) t = Math.min(t, p.next_at_ms);
  return t;
}

/** Does the split-brain tie-break make us the node that fences first? */
export function winsTieBreak(cfg: FencingConfig, peer: string, self_held: number, peer_held: number): boolean {
  if (self_held !== peer_held) return self_held > peer_held;
  return cfg.nodes.indexOf(cfg.self) < cfg.nodes.indexOf(peer);
}

function onRequest(
  s: FencingState,
  ev: Extract<FencingEvent, { type: "request" }>,
  p: NodeFencing,
  now_ms: number,
  out: FencingAction[],
): void {
  if (p.phase === "running" || p.phase === "delay" || p.phase === "backoff" || p.phase === "waiting_for_all") return; // already on it
  p.reason = ev.reason;
  p.attempts = 0;
  p.seen_while_running = false;
  // A failed stop is not a split brain: the peer is alive and asked for it.
  p.wins = ev.reason === "stop_failed" || winsTieBreak(s.cfg, ev.node, ev.self_held, ev.peer_held);
  if (ev.reason === "dead" && s.cfg.wait_for_all && ![...s.peers.values()].some((x) => x.seen)) {
    log(out, ev.node, "wait_for_all", "no peer seen since this node started: not fencing and not starting its groups; `tandem fence-confirm NODE` or `tandem takeover` to go on alone");
    setPhase(p, "waiting_for_all", now_ms);
    return;
  }
  let delay_ms = p.wins ? 0 : s.cfg.delay_ms;
  // quorum: let the rest of a partition be declared dead before judging it
  if (s.cfg.quorum_required && ev.reason === "dead") delay_ms = Math.max(delay_ms, s.cfg.quorum_settle_ms ?? 0);
  log(out, ev.node, "fence_requested", `${ev.reason === "dead" ? "declared dead" : "failed to stop a group"}; we hold ${ev.self_held}, it held ${ev.peer_held}`);
  begin(s, ev.node, p, delay_ms, now_ms, out);
}

function begin(s: FencingState, node: string, p: NodeFencing, delay_ms: number, now_ms: number, out: FencingAction[]): void {
  if (delay_ms <= 0) {
    startAttempt(s, node, p, now_ms, out);
    return;
  }
  const why = p.wins ? "so that quorum is judged on a settled view" : "so the node holding the groups can win a split brain";
  log(out, node, "fence_delay", `waiting ${delay_ms} ms ${why}`);
  setPhase(p, "delay", now_ms);
  p.next_at_ms = now_ms + delay_ms;
  // A dead peer that is powered off cannot race us: ask its device (read-only).
  if (!p.wins && p.reason === "dead" && !s.cfg.quorum_required) {
    p.status_check = ++s.checks_issued;
    out.push({ type: "fence_status_check", node, check: p.status_check });
  }
}

function onStatusResult(
  s: FencingState,
  ev: Extract<FencingEvent, { type: "fence_status_result" }>,
  p: NodeFencing,
  now_ms: number,
  out: FencingAction[],
): void {
  // Only the answer to this delay's own check, while it still runs and
  // nothing holds fencing back; anything else is stale and changes nothing.
  if (ev.check === 0 || ev.check !== p.status_check || p.phase !== "delay" || p.held || held(s) !== null) return;
  p.status_check = 0;
  if (ev.off !== true) return; // on or unknown: the delay runs out as before
  p.last_result = { at_ms: now_ms, ok: true, detail: `already off: ${ev.detail}` };
  log(out, ev.node, "fence_ok", `already off (power status during the fence delay, no fence race possible): ${ev.detail}`);
  setPhase(p, "done", now_ms);
  out.push({ type: "fenced", node: ev.node, by: "agent" });
}

/** Why attempts are held back now, or null. */
function held(s: FencingState): FencingLogEvent | null {
  if (s.settling) return "fence_stalled";
  if (!s.quorate) return "fence_no_quorum";
  if (s.isolated) return "fence_isolated";
  return null;
}

const held_detail: Record<string, string> = {
  fence_stalled: "this node was stalled and its view is stale: not fencing until membership has heard its peers again",
  fence_no_quorum: "this node's partition has no quorum (a majority of the configured nodes): not fencing until it has",
  fence_isolated: "this node reaches none of its ping nodes: not fencing until it does",
};

function startAttempt(s: FencingState, node: string, p: NodeFencing, now_ms: number, out: FencingAction[]): void {
  const why = held(s);
  if (why !== null) {
    // Due, but held: kept in delay and due, so it starts at once when the
    // ping nodes answer again, quorum returns or the stall has settled.
    if (!p.held) log(out, node, why, held_detail[why]!);
    p.held = true;
    if (p.phase !== "delay") setPhase(p, "delay", now_ms);
    p.next_at_ms = now_ms;
    return;
  }
  p.held = false;
  p.attempts++;
  setPhase(p, "running", now_ms);
  log(out, node, "fence_start", `attempt ${p.attempts}`);
  out.push({ type: "run", node, attempt: p.attempts });
}

function onResult(s: FencingState, node: string, p: NodeFencing, ok: boolean, detail: string, now_ms: number, out: FencingAction[]): void {
  if (p.phase !== "running") return; // confirmed meanwhile, or stale
  p.last_result = { at_ms: now_ms, ok, detail };
  if (ok) {
    log(out, node, "fence_ok", detail);
    setPhase(p, "done", now_ms);
    out.push({ type: "fenced", node, by: "agent" });
    return;
  }
  if (p.seen_while_running) {
    // It came back and the fence failed: it is alive, nothing to take over.
    log(out, node, "fence_cancelled", `attempt failed (${detail}) but it is alive again: not retrying`);
    setPhase(p, "idle", now_ms);
    return;
  }
  const backoff_ms = Math.min(s.cfg.retry_max_ms, s.cfg.retry_initial_ms * 2 ** Math.min(p.attempts - 1, backoff_doublings_max));
  log(out, node, "fence_failed", `attempt ${p.attempts} failed: ${detail}; retrying in ${backoff_ms} ms, its groups stay down`);
  setPhase(p, "backoff", now_ms);
  p.next_at_ms = now_ms + backoff_ms;
}

function setPhase(p: NodeFencing, phase: FencePhase, now_ms: number): void {
  if (p.phase !== phase) p.since_ms = now_ms;
  p.phase = phase;
  p.next_at_ms = null;
  if (phase !== "delay") p.status_check = 0;
  if (phase !== "running") p.seen_while_running = false;
}

function log(out: FencingAction[], node: string, event: FencingLogEvent, detail: string): void {
  out.push({ type: "log", node, event, detail });
}

/** For `tandem status`: one row per peer. */
export function fencingStatus(s: FencingState, now_ms: number) {
  return [...s.peers].map(([node, p]) => ({
    node,
    phase: p.phase,
    reason: p.reason,
    attempts: p.attempts,
    for_ms: Math.max(0, Math.round(now_ms - p.since_ms)),
    next_in_ms: p.next_at_ms === null ? null : Math.max(0, Math.round(p.next_at_ms - now_ms)),
    last_result: p.last_result,
  }));
}
