// The daemon's side of placement: feeds core/placement.ts the membership
// verdicts, the peers' announcements and agent results, and carries out
// what it returns (run a group's agents, send a heartbeat soon, log). Like
// the membership loop in daemon.ts, it holds no policy of its own.
import type { HaConfig, HaResources } from "../config/types.ts";
import { type Announcement, decodeBody, encodeBody, fnv1a32, isValidGroupId, type ScopeName } from "../core/body.ts";
import type { MembershipAction } from "../core/membership.ts";
import {
  type AdminCommand,
  announcement,
  configHash,
  initialState,
  nextDeadline,
  type PlacementAction,
  type PlacementConfig,
  type PlacementEvent,
  type PlacementState,
  statusView,
  step,
} from "../core/placement.ts";
import {
  type FencingAction,
  type FencingEvent,
  type FencingState,
  fencingDeadline,
  fencingStatus,
  fencingStep,
  initialFencing,
} from "../core/fencing.ts";
import type { FenceAction, Fencer } from "../fencing/types.ts";
import { type LocalSnapshot, type R1Action, type R1Event, type R1Message, type R1State, r1Initial, r1Step, r1Sync } from "../core/hb_r1.ts";
import type { HbDelivered } from "../wire/heartbeat.ts";
import { GroupRunner } from "./groups.ts";
import { quorumRequired } from "../config/hacf.ts";
import type { Logger } from "./log.ts";

/** Defaults for what haresources does not say (Heartbeat R1 never monitored). */
const start_failures_max = 3;
const monitor_restarts_max = 2;
const stop_retry_ms = 5_000;
/** translator rounds per event (each feeds placement once); 2-3 are needed */
const r1_rounds_max = 6;
/** a failed fence is retried after 1 s, doubling up to a minute, until it works */
const fence_retry_initial_ms = 1_000;
const fence_retry_max_ms = 60_000;
/** reboot, as Pacemaker's stonith-action: the fenced node comes back and rejoins */
const fence_action: FenceAction = "reboot";

/**
 * The id a group has on the wire: the haresources id when it fits the
 * announcement (1..24 printable characters), else a prefix and a hash, the
 * same on every node for the same haresources line.
 */
export function wireGroupId(id: string): string {
  if (isValidGroupId(id)) return id;
  const printable = id.replace(/[^\x21-\x7e]/g, "_");
  return `${printable.slice(0, 15)}~${fnv1a32(id).toString(16).padStart(8, "0")}`;
}

export class ResourceManager {
  private s: PlacementState;
  private runners = new Map<string, GroupRunner>();
  /** wire id -> haresources id, for logs and status */
  private names = new Map<string, string>();
  private exit_waiters: (() => void)[] = [];
  /** null when no fence device is configured (Heartbeat R1 behaviour) */
  private fc: FencingState | null = null;
  private fencer: Fencer | null = null;
  ready_to_exit = false;
  /** Heartbeat 3.0.6 peers (`wire heartbeat`, no tnd_body in their status): their R1 state */
  private r1 = new Map<string, R1State>();
  private r1_syncing = false;
  /** sends a Heartbeat message (the daemon's codec); set when the wire is heartbeat */
  hbSend: ((fields: [string, string][], dest: string | null) => void) | null = null;
  /** groups placement logged in conflict (a peer runs them too): re-announced here if this node keeps them */
  private contested = new Set<string>();
  /** ha.cf arp_refresh: one announcement per held IP this often; 0 = off */
  private arp_refresh_ms = 0;
  private next_refresh_ms = Infinity;

  private constructor(
    cfg: PlacementConfig,
    runners: GroupRunner[],
    private log: Logger,
    private sendSoon: () => void,
    private changed: () => void,
    fencing: { fencer: Fencer; hacf: HaConfig } | null,
  ) {
    this.s = initialState(cfg, performance.now());
    if (fencing) {
      this.fencer = fencing.fencer;
      this.fc = initialFencing(
        {
          self: cfg.self,
          nodes: cfg.nodes,
          delay_ms: fencing.hacf.fence_delay_ms,
          retry_initial_ms: fence_retry_initial_ms,
          retry_max_ms: fence_retry_max_ms,
          wait_for_all: fencing.hacf.wait_for_all,
          quorum_required: quorumRequired(fencing.hacf),
          // the rest of a partition is declared dead within a deadtime of the first
          quorum_settle_ms: fencing.hacf.deadtime_ms,
        },
        performance.now(),
      );
    }
    for (const r of runners) {
      this.runners.set(wireGroupId(r.id), r);
      this.names.set(wireGroupId(r.id), r.id);
    }
  }

  static async create(o: {
    self: string;
    generation: number;
    hacf: HaConfig;
    haresources: HaResources;
    ha_dir: string;
    env: Record<string, string>;
    log: Logger;
    sendSoon: () => void;
    /** placement's deadline may have moved: re-arm the timer */
    changed: () => void;
    /** fences peers before their groups are taken over; null = no fencing */
    fencer?: Fencer | null;
  }): Promise<ResourceManager> {
    const groups = o.haresources.groups;
    const monitor = groups.find((g) => g.monitor.interval_ms > 0)?.monitor ?? { interval_ms: 10_000, timeout_ms: 20_000 };
    const cfg: PlacementConfig = {
      self: o.self,
      nodes: o.hacf.nodes,
      generation: o.generation,
      groups: groups.map((g) => ({ id: wireGroupId(g.id), preferred_node: g.preferred_node, monitor: { interval_ms: g.monitor.interval_ms, timeout_ms: g.monitor.timeout_ms } })),
      auto_failback: o.hacf.auto_failback,
      start_failures_max,
      monitor: { interval_ms: monitor.interval_ms || 10_000, timeout_ms: monitor.timeout_ms, restarts_max: monitor_restarts_max },
      stop_retry_ms,
      fencing_required: Boolean(o.fencer),
      ping_units: o.hacf.ping_nodes.length + o.hacf.ping_groups.length,
      quorum: quorumRequired(o.hacf),
      no_quorum_policy: o.hacf.no_quorum_policy,
    };
    const log_fields = (event: string, f: Record<string, string | number | boolean | null>) =>
      o.log.event(event, Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v ?? undefined])));
    const runners: GroupRunner[] = [];
    for (const g of groups) runners.push(await GroupRunner.create(g, { ha_dir: o.ha_dir, env: o.env, log: log_fields, arp: { count: o.hacf.arp_count, interval_ms: o.hacf.arp_interval_ms } }));
    const rm = new ResourceManager(cfg, runners, o.log, o.sendSoon, o.changed, o.fencer ? { fencer: o.fencer, hacf: o.hacf } : null);
    rm.arp_refresh_ms = o.hacf.arp_refresh_ms;
    if (rm.arp_refresh_ms > 0) rm.next_refresh_ms = performance.now() + rm.arp_refresh_ms;
    return rm;
  }

  /** The body of our next heartbeat. */
  body(): Uint8Array {
    return encodeBody(announcement(this.s));
  }

  nextDeadline(): number {
    return Math.min(nextDeadline(this.s), this.fc ? fencingDeadline(this.fc) : Infinity, this.next_refresh_ms);
  }

  /**
   * What a peer's status says it runs (wire heartbeat): tandem (a tnd_body)
   * or Heartbeat 3.0.6 (none). Called before membership hears the frame, so
   * that node_up reaches the R1 translator. A node replaced by the other
   * kind (a rolling migration) switches with its new incarnation.
   */
  notePeerKind(node: string, kind: "tandem" | "heartbeat"): void {
    const has = this.r1.has(node);
    if (kind === "tandem" && has) {
      this.r1.delete(node);
      this.log.event("hb_r1_peer", { node, kind });
    } else if (kind === "heartbeat" && !has && this.s.peers.has(node)) {
      const cfg = this.s.cfg;
      this.r1.set(
        node,
        r1Initial({
          self: cfg.self,
          peer: node,
          self_index: this.s.self_index,
          generation: cfg.generation,
          nodes_hash: configHash(cfg),
          groups: cfg.groups.map((g) => ({ id: g.id, preferred_node: g.preferred_node })),
          auto_failback: cfg.auto_failback,
          fencing: cfg.fencing_required,
        }),
      );
      this.log.event("hb_r1_peer", { node, kind });
    }
  }

  /** A Heartbeat peer's resource message (starting, resource, ask_resources, ...). */
  onHbMessage(m: HbDelivered): void {
    const r = this.r1.get(m.from);
    if (!r) return;
    const v = m.view;
    let msg: R1Message | null = null;
    if (v.type === "starting") msg = { t: "starting" };
    else if (v.type === "resource") msg = { t: "resource", rsc_hold: v.rsc_hold, full: v.full, isstable: v.isstable, info: v.info };
    else if (v.type === "ask_resources") msg = { t: "ask_resources", rsc_hold: v.rsc_hold, info: v.info };
    else if (v.type === "hb_takeover") msg = { t: "hb_takeover", rsc_hold: v.rsc_hold };
    // Heartbeat names a group by its haresources key (req_resource, rc.d/ip-request); placement and the translator by its wire id
    else if (v.type === "ip-request") msg = { t: "ip-request", ipaddr: v.ipaddr === null ? null : wireGroupId(v.ipaddr) };
    else if (v.type === "ip-request-resp") msg = { t: "ip-request-resp", ipaddr: v.ipaddr === null ? null : wireGroupId(v.ipaddr), weown: v.weown, ok: v.ok };
    else if (v.type === "stonith") msg = { t: "stonith", node: v.node, result: v.result };
    if (!msg) return;
    this.r1Feed(m.from, { type: "message", msg });
    this.changed();
  }

  /** Membership's verdicts, in its order. */
  onMembership(a: MembershipAction): void {
    const r1 = this.r1.has(a.type === "node_up" || a.type === "node_dead" ? a.node : "");
    if (r1 && a.type === "node_dead") this.r1Feed(a.node, { type: "peer_gone", reason: a.reason === "deadtime" ? "dead" : a.reason === "left" ? "left" : "restarted" });
    if (a.type === "node_up") {
      this.fcFeed({ type: "peer_up", node: a.node });
      this.feed({ type: "node_up", node: a.node, generation: a.generation });
    }
    else if (a.type === "node_dead") this.feed({ type: "node_dead", node: a.node, reason: a.reason });
    // A Heartbeat peer's translator learns of it after placement: placement
    // drops announcements of a node it does not have up yet, and the
    // translator sends one only when its content changes (a restarted peer
    // whose synthetic announcement came out the same was never placed again).
    if (r1 && a.type === "node_up") this.r1Feed(a.node, { type: "peer_up", generation: a.generation });
    // The network is back (a peer, or one of its links): what this node
    // started while cut off was announced into the void (RELIABILITY.md,
    // "VIP not re-announced after a partition").
    if (a.type === "node_up") this.reannounce(`node_up ${a.node}`);
    else if (a.type === "link_up") this.reannounce(`link_up ${a.node} ${a.link}`);
  }

  /**
   * Announce the built-in IPs of every group running here again (or of
   * `only`). I/O policy, not placement: it changes no holder and is
   * idempotent; NativeIp bounds it per address (one burst in flight, bursts
   * at least reannounce_gap_ms apart).
   */
  private reannounce(reason: string | null, count?: number, only?: string): void {
    for (const g of statusView(this.s)) {
      if (g.state !== "running" || (only !== undefined && g.id !== only)) continue;
      this.runners.get(g.id)?.reannounce(reason, count);
    }
  }

  /** A conflict over a group ended and this node kept it: the loser may have answered ARP for it meanwhile. */
  private checkContested(): void {
    const self = this.s.cfg.self;
    for (const g of statusView(this.s)) {
      if (!this.contested.has(g.id)) continue;
      if (g.state !== "running" && g.state !== "starting") this.contested.delete(g.id);
      else if (g.state === "running" && g.holders.every((h) => h === self)) {
        this.contested.delete(g.id);
        this.reannounce(`conflict over ${this.names.get(g.id) ?? g.id} resolved`, undefined, g.id);
      }
    }
  }

  /** A peer's announcement, from a heartbeat membership accepted as its newest. */
  onPeerBody(node: string, bytes: Uint8Array): void {
    const r = decodeBody(bytes);
    if (!r.ok) {
      this.log.event("drop", { reason: `body_${r.reason}`, from: node });
      return;
    }
    const ann: Announcement = r.value;
    this.feed({ type: "peer_state", node, announcement: ann });
  }

  tick(): void {
    this.fcFeed({ type: "tick" });
    this.feed({ type: "tick" });
    const now = performance.now();
    if (now >= this.next_refresh_ms) {
      this.next_refresh_ms = now + this.arp_refresh_ms;
      this.reannounce(null, 1); // keepalived's garp_master_refresh_repeat default: one
    }
  }

  admin(command: AdminCommand, scope: ScopeName): void {
    // takeover also overrides wait_for_all: fence the never-seen peers now
    if (command === "takeover" && scope !== "none") this.fcFeed({ type: "override" });
    for (const node of this.r1.keys()) this.r1Feed(node, { type: "local_admin" });
    this.feed({ type: "admin", command, scope });
  }

  /** The ping monitor's score: ipfail in placement, no fencing while isolated. */
  connectivity(score: number): void {
    this.fcFeed({ type: "connectivity", isolated: score === 0 });
    this.feed({ type: "connectivity", score });
  }

  /** Membership stalled (its view is stale: hold fencing) or settled again. */
  stalled(settling: boolean): void {
    this.fcFeed({ type: "stall", settling });
  }

  /** `tandem fence-confirm NODE`: the admin has seen it powered off. */
  fenceConfirm(node: string): string | null {
    if (!this.fc) return "no fence devices configured: nothing waits for a confirmation";
    if (!this.fc.peers.has(node)) return `${node} is not a peer of this node (peers: ${[...this.fc.peers.keys()].join(", ")})`;
    this.fcFeed({ type: "confirm", node });
    return null;
  }

  fencingStatus(): object[] {
    return this.fc ? fencingStatus(this.fc, performance.now()) : [];
  }

  /** Stop every group (the peers take them over as they go), then resolve. */
  shutdown(): Promise<void> {
    const done = new Promise<void>((res) => this.exit_waiters.push(res));
    this.feed({ type: "shutdown" });
    return done;
  }

  status(): object[] {
    return statusView(this.s).map((g) => ({ ...g, name: this.names.get(g.id) ?? g.id }));
  }

  private fcFeed(ev: FencingEvent): void {
    if (!this.fc) return;
    for (const a of fencingStep(this.fc, ev, performance.now())) this.fcAct(a);
    this.changed();
  }

  private fcAct(a: FencingAction): void {
    switch (a.type) {
      case "log":
        this.log.event(a.event, { node: a.node, detail: a.detail });
        return;
      case "fenced":
        if (this.r1.has(a.node)) this.r1Feed(a.node, { type: "fenced" });
        this.feed({ type: "fence_done", node: a.node });
        return;
      case "fence_status_check":
        this.fencer!.powerStatus(a.node).then(
          (r) => this.fcFeed({ type: "fence_status_result", node: a.node, check: a.check, off: r.off, detail: `${r.detail} (${r.duration_ms} ms)` }),
          (e) => this.fcFeed({ type: "fence_status_result", node: a.node, check: a.check, off: null, detail: (e as Error).message }),
        );
        return;
      case "run": {
        const fencer = this.fencer!;
        fencer.fence(a.node, fence_action).then(
          (r) => this.fcFeed({ type: "result", node: a.node, ok: r.ok, detail: `${r.device || "no device"}: ${r.detail} (${Math.round(r.duration_ms)} ms)` }),
          (e) => this.fcFeed({ type: "result", node: a.node, ok: false, detail: (e as Error).message }),
        );
        return;
      }
    }
  }

  private feed(ev: PlacementEvent): void {
    for (const a of step(this.s, ev, performance.now())) this.act(a);
    this.syncR1();
    if (this.contested.size > 0) this.checkContested();
    this.changed();
  }

  private snapshot(): LocalSnapshot {
    return {
      ann_seq: this.s.ann_seq,
      shutting_down: this.s.shutting_down,
      groups: statusView(this.s).map((g) => ({ id: g.id, state: g.state, target: g.target })),
    };
  }

  /** One event for a Heartbeat peer's translator, then the loop below. */
  private r1Feed(node: string, ev: R1Event): void {
    const r = this.r1.get(node);
    if (!r) return;
    this.r1Act(node, r1Step(r, ev, performance.now()));
    this.syncR1();
  }

  /**
   * The adapter loop of core/hb_r1.ts: the peer's synthetic announcement to
   * placement when it changed, then the translator on placement's fresh
   * state (replies, exchanges), until quiet; bounded rounds.
   */
  private syncR1(): void {
    if (this.r1.size === 0 || this.r1_syncing) return;
    this.r1_syncing = true;
    try {
      for (let round = 0; round < r1_rounds_max; round++) {
        let busy = false;
        for (const [node, r] of this.r1) {
          const { ann, changed } = r1Sync(r, this.snapshot());
          if (ann && changed) {
            busy = true;
            for (const a of step(this.s, { type: "peer_state", node, announcement: ann }, performance.now())) this.act(a);
          }
          const acts = r1Step(r, { type: "local", snap: this.snapshot() }, performance.now());
          if (acts.some((a) => a.type === "send")) busy = true;
          this.r1Act(node, acts);
        }
        if (!busy) return;
      }
    } finally {
      this.r1_syncing = false;
    }
  }

  private r1Act(node: string, acts: R1Action[]): void {
    for (const a of acts) {
      if (a.type === "log") this.log.event(a.event, { node, detail: a.detail });
      else if (this.hbSend) {
        // back to the haresources key: a shortened wire id names nothing to Heartbeat's ResourceManager
        const fields = a.fields.map(([k, v]): [string, string] => (k === "ipaddr" ? [k, this.names.get(v) ?? v] : [k, v]));
        this.log.event("hb_send", { node, msg: fields.map(([k, v]) => (k === "t" ? v : `${k}=${v}`)).join(" ") });
        this.hbSend(fields, a.dest);
      }
    }
  }

  private act(a: PlacementAction): void {
    switch (a.type) {
      case "start_group":
      case "stop_group":
      case "monitor_group":
        return this.runAgent(a);
      case "announce":
        return this.sendSoon();
      case "log":
        if (a.event === "conflict" && a.group !== null) this.contested.add(a.group);
        this.log.event(`group_${a.event}`, {
          group: a.group ? (this.names.get(a.group) ?? a.group) : undefined,
          node: a.node ?? undefined,
          detail: a.detail,
        });
        return;
      case "fence_node":
        this.fcFeed({ type: "request", node: a.node, reason: a.reason, self_held: a.self_held, peer_held: a.peer_held });
        return;
      case "quorum":
        this.log.event(a.quorate ? "quorum" : "quorum_lost", { votes: a.votes, needed: a.needed, policy: this.s.cfg.no_quorum_policy ?? "stop" });
        this.fcFeed({ type: "quorum", quorate: a.quorate });
        return;
      case "ready_to_exit":
        this.ready_to_exit = true;
        for (const w of this.exit_waiters.splice(0)) w();
        return;
    }
  }

  private runAgent(a: Extract<PlacementAction, { type: "start_group" | "stop_group" | "monitor_group" }>): void {
    const runner = this.runners.get(a.group);
    const action = a.type === "start_group" ? "start" : a.type === "stop_group" ? "stop" : "monitor";
    if (!runner) {
      this.feed({ type: "agent_done", group: a.group, action, ok: false, detail: "no such group" });
      return;
    }
    const work = action === "start" ? runner.start() : action === "stop" ? runner.stop() : runner.monitor();
    // A monitor that outlives its timeout is a failed monitor; the agents'
    // own timeouts bound start and stop.
    const bounded =
      a.type === "monitor_group"
        ? Promise.race([work, Bun.sleep(a.timeout_ms).then(() => ({ ok: false, detail: `monitor timed out after ${a.timeout_ms} ms` }))])
        : work;
    bounded.then(
      (r) => this.feed({ type: "agent_done", group: a.group, action, ok: r.ok, detail: r.detail }),
      (e) => this.feed({ type: "agent_done", group: a.group, action, ok: false, detail: (e as Error).message }),
    );
  }
}
