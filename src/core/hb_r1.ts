// Heartbeat 3.0.6's R1 resource protocol, translated for placement. Pure:
// `r1Step(state, event, now_ms)` mutates the state and returns the messages
// to send; `r1Sync` turns the peer's R1 state into the Announcement that
// core/placement.ts expects from a peer. No I/O, no clocks.
//
// A Heartbeat peer sends no tandem announcement (no tnd_body in its status),
// cannot acknowledge claims and keeps its own view of who holds what, coarse
// as R1 has it: `rsc_hold` none|local|foreign|all, where local = the groups
// whose preferred node (haresources' first word) is the sender, and
// `isstable` = it has nothing in progress. Facts from heartbeat/hb_resource.c
// (process_resources, req_our_resources, ask_for_resources, go_standby,
// hb_rsc_recover_dead_resources) and the scripts it runs (hb_standby,
// rc.d/hb_takeover, req_resource, rc.d/ip-request, mach_down).
//
// What replaces placement's claim/ack handshake with such a peer P (the
// translator grants every claim with a synthetic ack, and shows P as
// holding - "starting" or "running" - every group P may hold, so placement
// never claims those):
//   1. Until P's first `resource` report of its current incarnation, P may
//      hold anything (it acquires its local groups right after its
//      `starting` is answered). We ask with our own `starting` once.
//   2. A group covered by P's last report may be held by P.
//   3. While P reports isstable=0, it may be acquiring its local groups
//      (req_our_resources, its RQSTDELAY timer): they are P's.
//   4. P takes groups it does not hold only on our death, our `shutdone`,
//      or a standby exchange (`ask_resources` me/other/done), which goes
//      through us: the set being handed to P is P's from our `done` until
//      P's next report; the set P gives us is P's until P's `done`.
//   5. Groups we hold are not shown as P's unless P reports them (a real
//      conflict): P never takes a group we report holding (ours are in
//      every `resource` we send, on every change of hold or stability).
//      Not with legacy (rule 6), where we send no `resource`.
//   6. auto_failback legacy (Heartbeat's nice_failback off: no `resource`
//      or standby messages): P always owns its local groups; ours are P's
//      until P answers our `ip-request` for the group's key with
//      `ip-request-resp ok=OK`.
// A dead or departed P holds nothing (placement's rule, Heartbeat's too).
//
// Handing groups to P: placement stops a group whose target became P
// (auto_failback, our standby, P's hb_takeover) at once; once we are
// stable and P reports stable without it, we run the standby exchange as
// the giving side (me -> P answers other -> resource isstable=0, done ->
// P acquires, answers done), so that P acquires it. Heartbeat releases
// between other and done; we released before asking, so `done` follows
// `other` at once. P's hb_standby (me) is answered with other; after P's
// done we start what placement targets here, then send done.
// P's standby / takeover sets are kept as its announced standby / takeover
// scopes (tandem's persistent meaning) until P's next standby, takeover or
// restart, or our own `tandem standby|takeover` (the newer wish wins):
// Heartbeat's are one-shot, but a one-shot would be undone at once by
// tandem's auto_failback rule.
import { type Announcement, type GroupStateName, type ScopeName } from "./body.ts";

export type RscHold = "none" | "local" | "foreign" | "all";
/** Heartbeat's HB_NO_RSC / HB_LOCAL_RSC / HB_FOREIGN_RSC / HB_ALL_RSC */
const hold_bits: Record<RscHold, number> = { none: 0, local: 1, foreign: 2, all: 3 };
const hold_names: RscHold[] = ["none", "local", "foreign", "all"];

/** STANDBY_INIT_TO_MS is 10 s in Heartbeat; an unanswered `me` of ours is retried sooner */
export const ask_timeout_ms = 2_000;
/** an exchange whose other side never finishes is abandoned (Heartbeat: an hour; we retry) */
export const exchange_timeout_ms = 60_000;
/** legacy: a pending ip-request of ours is repeated this often */
export const ip_request_retry_ms = 5_000;
/** legacy: ip-requests of the peer waiting for our stop */
export const ip_requests_max = 32;

export interface R1Config {
  self: string;
  peer: string;
  /** our index in the shared node list and our generation: the synthetic acks name them */
  self_index: number;
  generation: number;
  /** placement's configHash: the synthetic announcement must carry it */
  nodes_hash: number;
  groups: { id: string; preferred_node: string }[];
  auto_failback: "on" | "off" | "legacy";
  /** a fence device is configured for the peer */
  fencing: boolean;
}

/** A Heartbeat message, as the wire adapter parsed it (strings as sent). */
export type R1Message =
  | { t: "starting" }
  | { t: "resource"; rsc_hold: string | null; full: boolean; isstable: boolean | null; info: string | null }
  | { t: "ask_resources"; rsc_hold: string | null; info: string | null }
  | { t: "hb_takeover"; rsc_hold: string | null }
  | { t: "ip-request"; ipaddr: string | null }
  | { t: "ip-request-resp"; ipaddr: string | null; weown: boolean | null; ok: string | null }
  | { t: "stonith"; node: string | null; result: string | null };

/** Our side, from placement after every step. */
export interface LocalSnapshot {
  /** our current ann_seq: the synthetic ack names it */
  ann_seq: number;
  shutting_down: boolean;
  groups: { id: string; state: GroupStateName; target: string | null }[];
}

export type R1Event =
  | { type: "peer_up"; generation: number }
  /** dead (deadtime), left (shutdone) or restarted: it holds nothing of this incarnation */
  | { type: "peer_gone"; reason: "dead" | "left" | "restarted" }
  | { type: "fenced" }
  /** `tandem standby|takeover` here: it supersedes the peer's last standby/takeover */
  | { type: "local_admin" }
  | { type: "message"; msg: R1Message }
  | { type: "local"; snap: LocalSnapshot };

export type R1Action =
  /** fields in Heartbeat's order (t first); dest: addressed to one node */
  | { type: "send"; fields: [string, string][]; dest: string | null }
  | { type: "log"; event: string; detail: string };

type Exchange =
  /** we hand `set` (relative to us) to the peer */
  | { kind: "we_give"; set: number; phase: "asked" | "done_sent"; since_ms: number }
  /** the peer hands `set` (relative to it) to us */
  | { kind: "they_give"; set: number; phase: "releasing" | "acquiring"; since_ms: number };

export interface R1State {
  cfg: R1Config;
  up: boolean;
  generation: number;
  /** the peer's last report, relative to it; null: none in this incarnation */
  report: { hold: number; stable: boolean; shutting_down: boolean } | null;
  /** sets (relative to the peer) it may be acquiring until its next report */
  stale: number;
  standby: number;
  takeover: number;
  exchange: Exchange | null;
  next_ask_ms: number;
  /** what our last `resource` said */
  last_sent: { hold: number; stable: boolean } | null;
  starting_sent: boolean;
  /** legacy, owner side: keys the peer asked for, answered once we stopped them */
  ip_requests: { key: string; had: boolean }[];
  /** legacy, requester side: keys the peer gave us, and when we last asked */
  ip_granted: Set<string>;
  ip_asked_ms: Map<string, number>;
  ann_seq: number;
  ann_key: string;
  last_snap: LocalSnapshot | null;
}

export function r1Initial(cfg: R1Config): R1State {
  if (cfg.self === cfg.peer) throw new Error("hb_r1: the peer cannot be this node");
  return {
    cfg,
    up: false,
    generation: 0,
    report: null,
    stale: 0,
    standby: 0,
    takeover: 0,
    exchange: null,
    next_ask_ms: 0,
    last_sent: null,
    starting_sent: false,
    ip_requests: [],
    ip_granted: new Set(),
    ip_asked_ms: new Map(),
    ann_seq: 0,
    ann_key: "",
    last_snap: null,
  };
}

export function parseHold(s: string | null): number | null {
  if (s === "failback") return hold_bits.local; // hb_takeover failback: "my local ones back"
  return s !== null && s in hold_bits ? hold_bits[s as RscHold] : null;
}

export function holdName(bits: number): RscHold {
  return hold_names[bits & 3]!;
}

/** The same set seen from the other node: local and foreign swap. */
export function flip(bits: number): number {
  return ((bits & 1) << 1) | ((bits & 2) >> 1);
}

/** The set bit of g relative to `node`. */
function bitOf(g: { preferred_node: string }, node: string): number {
  return g.preferred_node === node ? hold_bits.local : hold_bits.foreign;
}

function isRest(st: GroupStateName): boolean {
  return st === "stopped" || st === "failed";
}

/** What we hold, relative to us: every group not at rest (starting and stopping included). */
export function ourHold(s: R1State, snap: LocalSnapshot): number {
  let bits = 0;
  for (const g of snap.groups) {
    const cfg = s.cfg.groups.find((c) => c.id === g.id);
    if (cfg && !isRest(g.state)) bits |= bitOf(cfg, s.cfg.self);
  }
  return bits;
}

function agentsIdle(snap: LocalSnapshot): boolean {
  return snap.groups.every((g) => g.state === "stopped" || g.state === "failed" || g.state === "running");
}

/** Heartbeat's hb_rsc_isstable for us: nothing in progress, no exchange, not stopping. */
export function ourStable(s: R1State, snap: LocalSnapshot): boolean {
  return !snap.shutting_down && s.exchange === null && agentsIdle(snap);
}

/** May the peer hold g (rules 1-6 of the header)? */
export function peerMayHold(s: R1State, g: { id: string; preferred_node: string }): boolean {
  if (!s.up) return false;
  const rel = bitOf(g, s.cfg.peer);
  if (s.cfg.auto_failback === "legacy") return rel === hold_bits.local || !s.ip_granted.has(g.id);
  if (s.report === null) return true;
  if (s.report.hold & rel) return true;
  if (s.stale & rel) return true;
  const x = s.exchange;
  // rule 3, except while it gives groups to us: then it is unstable until our `done`
  if (!s.report.stable && rel === hold_bits.local && x?.kind !== "they_give") return true;
  if (x?.kind === "they_give" && x.phase === "releasing" && x.set & rel) return true;
  if (x?.kind === "we_give" && x.phase === "done_sent" && flip(x.set) & rel) return true;
  return false;
}

/**
 * Adapter loop (ResourceManager, the unit tests): after any event, repeat
 * { r1Sync -> if changed, placement peer_state } then r1Step(local) with
 * placement's fresh snapshot, until nothing changes (a few rounds).
 */
export function r1Step(s: R1State, ev: R1Event, now_ms: number): R1Action[] {
  const out: R1Action[] = [];
  switch (ev.type) {
    case "peer_up":
      if (!s.up || ev.generation !== s.generation) resetPeer(s, ev.generation);
      s.up = true;
      break;
    case "peer_gone":
      onGone(s, ev.reason, out);
      break;
    case "fenced":
      send(out, [["t", "stonith"], ["node", s.cfg.peer], ["result", "OK"]]);
      break;
    case "message":
      if (s.up) onMessage(s, ev.msg, now_ms, out);
      break;
    case "local_admin":
      s.standby = 0;
      s.takeover = 0;
      break;
    case "local":
      s.last_snap = ev.snap;
      break;
  }
  // Only on a fresh snapshot: after a message, the adapter first feeds
  // r1Sync's announcement to placement, whose targets this then reads.
  if (ev.type === "local" && s.up) progress(s, ev.snap, now_ms, out);
  return out;
}

function resetPeer(s: R1State, generation: number): void {
  s.generation = generation;
  // placement dropped the old incarnation's announcement: the new one must reach it even if it reads the same
  s.ann_key = "";
  s.report = null;
  s.stale = 0;
  s.standby = 0;
  s.takeover = 0;
  s.exchange = null;
  s.next_ask_ms = 0;
  s.last_sent = null;
  s.ip_requests = [];
  s.ip_granted.clear();
  s.ip_asked_ms.clear();
}

function onGone(s: R1State, reason: "dead" | "left" | "restarted", out: R1Action[]): void {
  if (!s.up) return;
  const held = s.report?.hold ?? 3;
  s.up = false;
  resetPeer(s, s.generation);
  // hb_rsc_recover_dead_resources: say whether STONITH was needed (for the record and the API clients)
  if (reason === "dead" && !s.cfg.fencing) {
    const result = held === 0 ? "unneeded" : "n_stnth";
    send(out, [["t", "stonith"], ["node", s.cfg.peer], ["result", result]]);
    if (result === "n_stnth") log(out, "hb_r1_no_stonith", `${s.cfg.peer} declared dead: no STONITH device configured, its groups are taken over unfenced (as Heartbeat does)`);
  }
}

function onMessage(s: R1State, m: R1Message, now_ms: number, out: R1Action[]): void {
  switch (m.t) {
    case "starting":
      // process_resources(T_STARTING): answer with what we hold and whether we are stable
      if (s.last_snap) sendResource(s, s.last_snap, out, null, true);
      return;
    case "resource":
      return onResource(s, m);
    case "ask_resources":
      return onAsk(s, m, now_ms, out);
    case "hb_takeover": {
      const set = parseHold(m.rsc_hold);
      if (set === null || set === 0) return log(out, "hb_r1_ignored", `hb_takeover with rsc_hold=${m.rsc_hold}`);
      // rc.d/hb_takeover: we go standby for the complement, i.e. P takes `set` (relative to it)
      s.takeover = set;
      s.standby = 0;
      log(out, "hb_r1_takeover", `${s.cfg.peer} takes over its ${holdName(set)} groups`);
      return;
    }
    case "ip-request": {
      if (m.ipaddr === null) return;
      const g = s.cfg.groups.find((x) => x.id === m.ipaddr);
      const snap = s.last_snap;
      const had = Boolean(g && snap && !isRest(snap.groups.find((x) => x.id === g.id)?.state ?? "stopped"));
      if (s.ip_requests.length >= ip_requests_max) s.ip_requests.shift();
      s.ip_requests = s.ip_requests.filter((r) => r.key !== m.ipaddr);
      s.ip_requests.push({ key: m.ipaddr, had });
      return;
    }
    case "ip-request-resp":
      if (m.ipaddr !== null && m.ok === "OK") s.ip_granted.add(m.ipaddr);
      return;
    case "stonith":
      log(out, "hb_r1_stonith", `${s.cfg.peer} reports STONITH of ${m.node ?? "?"}: ${m.result ?? "?"}`);
      return;
  }
}

function onResource(s: R1State, m: Extract<R1Message, { t: "resource" }>): void {
  const n = parseHold(m.rsc_hold);
  if (n === null) return;
  const prev = s.report;
  const shutdown = m.info === "shutdown";
  // Heartbeat reports rsc_hold=none info=shutdown as its shutdown starts,
  // before it releases anything (hb_signal_giveup_resources); what it held
  // stays its until `shutdone` or its death. HB_UPD_RSC: a full update
  // replaces, a partial one (mach_down's) adds.
  const hold = shutdown ? (prev?.hold ?? hold_bits.all) : m.full || !prev ? n : n === 0 ? 0 : n | prev.hold;
  const stable = m.isstable ?? prev?.stable ?? false;
  s.report = { hold, stable, shutting_down: shutdown };
  if (m.isstable !== null) s.stale = 0;
}

function onAsk(s: R1State, m: Extract<R1Message, { t: "ask_resources" }>, now_ms: number, out: R1Action[]): void {
  if (s.cfg.auto_failback === "legacy") return log(out, "hb_r1_ignored", "ask_resources: standby needs auto_failback on or off (Heartbeat: nice_failback)");
  const set = parseHold(m.rsc_hold) ?? hold_bits.all;
  const x = s.exchange;
  const snap = s.last_snap;
  if (m.info === "me") {
    // the peer wants to go standby for `set` (relative to it): hb_standby, or its auto failback
    if (x !== null || !snap || !ourStable(s, snap)) {
      log(out, "hb_r1_ignored", `standby request [${holdName(set)}] from ${s.cfg.peer}: our resources are in flux (it retries)`);
      return;
    }
    s.exchange = { kind: "they_give", set, phase: "releasing", since_ms: now_ms };
    s.standby = set;
    s.takeover = 0;
    send(out, [["t", "ask_resources"], ["rsc_hold", holdName(set)], ["info", "other"]]);
    log(out, "hb_r1_standby", `${s.cfg.peer} goes standby [${holdName(set)}]: we take them when it is done`);
    return;
  }
  if (m.info === "other") {
    // it agrees to take our `set`: we released before asking, so we are done at once
    const give = x?.kind === "we_give" ? x.set : flip(set);
    if (snap) sendResource(s, snap, out, "standby", false);
    send(out, [["t", "ask_resources"], ["rsc_hold", holdName(give)], ["info", "done"]]);
    s.exchange = { kind: "we_give", set: give, phase: "done_sent", since_ms: now_ms };
    return;
  }
  if (m.info === "done") {
    if (x?.kind === "they_give" && x.phase === "releasing") {
      x.phase = "acquiring";
      x.since_ms = now_ms;
    } else if (x?.kind === "we_give" && x.phase === "done_sent") {
      s.stale |= flip(x.set);
      s.exchange = null;
      log(out, "hb_r1_handed", `${s.cfg.peer} acquired our ${holdName(x.set)} groups`);
    }
  }
}

/** After every event: our `resource` on change, exchanges moving on, asks. */
function progress(s: R1State, snap: LocalSnapshot, now_ms: number, out: R1Action[]): void {
  const x = s.exchange;
  if (x && now_ms - x.since_ms > (x.kind === "we_give" && x.phase === "asked" ? ask_timeout_ms : exchange_timeout_ms)) {
    log(out, "hb_r1_exchange_timeout", `${x.kind} ${holdName(x.set)} (${x.phase}): no answer from ${s.cfg.peer}`);
    s.exchange = null;
    s.next_ask_ms = now_ms + ask_timeout_ms;
  }
  if (x?.kind === "they_give" && x.phase === "acquiring" && acquired(s, snap, x.set)) {
    s.exchange = null;
    send(out, [["t", "ask_resources"], ["rsc_hold", holdName(x.set)], ["info", "done"]]);
  }
  if (s.cfg.auto_failback === "legacy") legacy(s, snap, now_ms, out);
  else if (!s.starting_sent) {
    // our `starting`: the peer answers with its report
    s.starting_sent = true;
    send(out, [["t", "starting"]]);
  }
  const hold = ourHold(s, snap);
  const stable = ourStable(s, snap);
  // during an exchange its own messages say what changes (Heartbeat's do too)
  if (s.cfg.auto_failback !== "legacy" && s.exchange === null && (s.last_sent === null || s.last_sent.hold !== hold || s.last_sent.stable !== stable)) {
    sendResource(s, snap, out, null, false);
  }
  maybeGive(s, snap, now_ms, out);
}

/** They gave us `set` (relative to them): every group of it placement targets here runs, nothing in progress. */
function acquired(s: R1State, snap: LocalSnapshot, set: number): boolean {
  if (!agentsIdle(snap)) return false;
  return snap.groups.every((g) => {
    const cfg = s.cfg.groups.find((c) => c.id === g.id);
    if (!cfg || !(bitOf(cfg, s.cfg.peer) & set)) return true;
    return g.target !== s.cfg.self || g.state === "running";
  });
}

/** Groups placement wants on the peer, stopped here and not the peer's yet: run the standby exchange. */
function maybeGive(s: R1State, snap: LocalSnapshot, now_ms: number, out: R1Action[]): void {
  if (s.cfg.auto_failback === "legacy" || s.exchange !== null || now_ms < s.next_ask_ms) return;
  if (!s.report?.stable || s.report.shutting_down || !ourStable(s, snap)) return;
  let set = 0;
  for (const g of snap.groups) {
    const cfg = s.cfg.groups.find((c) => c.id === g.id);
    if (!cfg || !isRest(g.state) || g.target !== s.cfg.peer || peerMayHold(s, cfg)) continue;
    set |= bitOf(cfg, s.cfg.self);
  }
  if (set === 0) return;
  s.exchange = { kind: "we_give", set, phase: "asked", since_ms: now_ms };
  send(out, [["t", "ask_resources"], ["rsc_hold", holdName(set)], ["info", "me"]]);
  log(out, "hb_r1_standby", `handing our ${holdName(set)} groups to ${s.cfg.peer}`);
}

/** auto_failback legacy: ip-request / ip-request-resp per group key. */
function legacy(s: R1State, snap: LocalSnapshot, now_ms: number, out: R1Action[]): void {
  // owner side (rc.d/ip-request): answer once the group is stopped here
  s.ip_requests = s.ip_requests.filter((r) => {
    const g = snap.groups.find((x) => x.id === r.key);
    if (g && !isRest(g.state) && g.target !== s.cfg.self) return true; // still stopping for it
    const weown = r.had && (!g || isRest(g.state));
    send(out, [["t", "ip-request-resp"], ["ipaddr", r.key], ["weown", weown ? "yes" : "no"], ["ok", g && !isRest(g.state) ? "NO" : "OK"]], s.cfg.peer);
    return false;
  });
  // requester side (req_resource): our local groups the peer may hold
  for (const g of snap.groups) {
    const cfg = s.cfg.groups.find((c) => c.id === g.id);
    if (!cfg || cfg.preferred_node !== s.cfg.self || !isRest(g.state) || g.target !== s.cfg.self) continue;
    if (s.ip_granted.has(g.id) || now_ms < (s.ip_asked_ms.get(g.id) ?? -Infinity) + ip_request_retry_ms) continue;
    s.ip_asked_ms.set(g.id, now_ms);
    send(out, [["t", "ip-request"], ["ipaddr", g.id]]);
  }
}

function sendResource(s: R1State, snap: LocalSnapshot, out: R1Action[], info: string | null, force_unstable: boolean): void {
  const hold = ourHold(s, snap);
  const stable = !force_unstable && ourStable(s, snap);
  s.last_sent = { hold, stable };
  const fields: [string, string][] = [["t", "resource"], ["rsc_hold", holdName(hold)], ["rtype", "full"], ["isstable", stable ? "1" : "0"]];
  if (info) fields.push(["info", info]);
  else if (snap.shutting_down) fields.push(["info", "shutdown"]);
  send(out, fields);
}

/**
 * The peer as placement sees it: its groups (rules 1-6), its standby and
 * takeover, and an ack of our current announcement once it has reported
 * (it cannot ack; the rules above stand in for its answer). Null while it
 * is not up. `changed`: different from the last one returned.
 */
export function r1Sync(s: R1State, snap: LocalSnapshot): { ann: Announcement | null; changed: boolean } {
  s.last_snap = snap;
  if (!s.up) return { ann: null, changed: false };
  const clear = s.cfg.auto_failback === "legacy" || s.report !== null;
  const groups = s.cfg.groups.map((cfg) => {
    const ours = snap.groups.find((x) => x.id === cfg.id);
    const we_hold = ours !== undefined && !isRest(ours.state);
    const reported = s.report !== null && (s.report.hold & bitOf(cfg, s.cfg.peer)) !== 0;
    let state: GroupStateName = "stopped";
    // rule 5; not in legacy, where we send no reports: a group the peer may
    // hold stays its while ours is in flux (our boot cleanup stopping a group
    // the peer took over must not read as the peer not holding it)
    if (we_hold && !(s.cfg.auto_failback === "legacy" && peerMayHold(s, cfg))) state = reported ? "running" : "stopped";
    else if (peerMayHold(s, cfg)) state = reported && s.report!.stable ? "running" : "starting";
    return { id: cfg.id, state, failures: 0, blocked: false };
  });
  const body = {
    shutting_down: s.report?.shutting_down ?? false,
    standby: scopeName(s.standby),
    takeover: scopeName(s.takeover),
    groups,
    acks: clear ? [{ node_index: s.cfg.self_index, generation: s.cfg.generation, ann_seq: snap.ann_seq }] : [],
  };
  const key = JSON.stringify(body);
  const changed = key !== s.ann_key;
  if (changed) {
    s.ann_key = key;
    s.ann_seq++;
  }
  return { ann: { nodes_hash: s.cfg.nodes_hash, ann_seq: s.ann_seq, ping_score: null, ...body }, changed };
}

function scopeName(bits: number): ScopeName {
  return (["none", "local", "foreign", "all"] as const)[bits & 3]!;
}

function send(out: R1Action[], fields: [string, string][], dest: string | null = null): void {
  out.push({ type: "send", fields, dest });
}

function log(out: R1Action[], event: string, detail: string): void {
  out.push({ type: "log", event, detail });
}
