// The daemon: a thin loop around the pure core, like raft's node.go around
// RawNode. Inputs (datagrams, timer, signals, control requests) become core
// events; the actions that come back are carried out here. The only timer is
// the core's next deadline, armed to the millisecond.
import { networkInterfaces, hostname } from "node:os";
import { parseArgs } from "node:util";
import { loadConfig } from "../config/load.ts";
import { quorumRequired } from "../config/hacf.ts";
import { formatDiagnostic, hasErrors, type HaConfig, type LinkSpec } from "../config/types.ts";
import {
  type MembershipAction,
  type MembershipEvent,
  type MembershipState,
  initialState,
  nextDeadline,
  nextExpiry,
  statusView,
  step,
} from "../core/membership.ts";
import { LinkError, UdpTransport } from "../links/udp.ts";
// Subsystems only some configurations use (serial links, ping nodes, the
// watchdog, Heartbeat's wire format, resource groups and fencing) are
// imported when ha.cf asks for them: a daemon runs for months, and code it
// never runs should not sit in its heap (module records, functions).
import type { SerialTransport } from "../links/serial.ts";
import type { PingMonitor } from "../links/ping.ts";
import { applyRealtime, type RealtimeStatus, reapply as reapplyRealtime, refresh as refreshRealtime } from "./realtime.ts";

/** how often threads Bun started since are moved to SCHED_RR (realtime on) */
const realtime_reapply_ms = 2_000;
import { NativeCodec } from "../wire/native.ts";
import type { HeartbeatCodec } from "../wire/heartbeat.ts";
import type { str } from "../wire/hb_msg.ts";
import type { Codec, Frame, WireMessage } from "../wire/types.ts";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ScopeName } from "../core/body.ts";
import { startControlServer } from "./control.ts";
import type { ResourceManager } from "./resources.ts";
import { nextGeneration, StateDirError } from "./generation.ts";
import { Logger, stderrIsJournal } from "./log.ts";
import { Ops } from "./ops.ts";
import { status_schema_version, type StatusV2 } from "./status_schema.ts";
import type { LoopHook, Watchdog } from "./watchdog.ts";
import { SystemdNotifier } from "./notify.ts";
import { releaseIdlePagesLogged } from "./pages.ts";
import { DrbdControl } from "./drbd_control.ts";
import { DrbdOutdater } from "./drbd_outdate.ts";
import type { DrbdStatusReader } from "./drbd_status.ts";
import { shouldSelfFence, type SelfFenceReason } from "../core/selffence.ts";

export const ExitCode = {
  ok: 0,
  config: 1,
  usage: 2,
  runtime: 3,
} as const;

export const defaults = {
  dir: "/etc/ha.d",
  state_dir: "/var/lib/tandem",
  socket: "/run/tandem/tandem.sock",
} as const;

export { status_schema_version };

/** How far before an expiry deadline the timer is armed (setTimeout fires up to ~0.3 ms late). */
const timer_slack_ms = 0.5;

const startup_gc_delay_ms = 2_000;
/** JSC compiles the hot paths in the first tens of seconds (README, Benchmarks) */
const settled_pages_delay_ms = 30_000;
/** realtime on: how long the allocator gets to return start-up garbage before memory is locked */
const pre_lock_purge_ms = 150;

/** A graceful stop waits this long for the groups to stop before leaving anyway. */
const shutdown_resources_ms_max = 120_000;

const daemon_usage = `usage: tandem daemon [--dir DIR] [--state-dir DIR] [--socket PATH] [--node NAME] [--init-dir DIR]
  --dir DIR        Heartbeat configuration directory (default ${defaults.dir})
  --state-dir DIR  where the generation counter lives (default ${defaults.state_dir})
  --socket PATH    control socket (default ${defaults.socket})
  --node NAME      this node's name (default: uname -n)
  --init-dir DIR   where haresources scripts not in DIR/resource.d are looked for (default /etc/init.d)
  --syslog-prefix  start log lines with <N>, their syslog priority (automatic when stderr is the journal)`;

export interface DaemonOptions {
  dir: string;
  state_dir: string;
  socket: string;
  node: string;
  /** as tandem check --init-dir; undefined: /etc/init.d */
  init_dir?: string;
  /** `<N>` priority prefixes on stderr lines (systemd's SyslogLevelPrefix) */
  syslog_prefix?: boolean;
}

export function parseDaemonArgs(argv: string[]): DaemonOptions | string {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        dir: { type: "string" },
        "state-dir": { type: "string" },
        socket: { type: "string" },
        node: { type: "string" },
        "init-dir": { type: "string" },
        "syslog-prefix": { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    });
    return {
      dir: values.dir ?? defaults.dir,
      state_dir: values["state-dir"] ?? defaults.state_dir,
      socket: values.socket ?? defaults.socket,
      node: values.node ?? hostname(),
      init_dir: values["init-dir"],
      syslog_prefix: values["syslog-prefix"] ?? false,
    };
  } catch (e) {
    return `tandem daemon: ${(e as Error).message}\n${daemon_usage}`;
  }
}

/** The canonical link name: the ha.cf directive, normalised. */
export function linkName(spec: LinkSpec): string {
  switch (spec.kind) {
    case "ucast":
      return `ucast ${spec.iface} ${spec.addr}`;
    case "bcast":
      return `bcast ${spec.iface}`;
    case "mcast":
      return `mcast ${spec.iface} ${spec.group} ${spec.port}`;
    case "mcast6":
      return `mcast6 ${spec.iface} ${spec.group} ${spec.port}`;
    case "serial":
      return `serial ${spec.device}`;
  }
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) out.add(a.address);
  return out;
}

/** Heartbeat ignores a ucast line naming this node's own address, so one ha.cf serves both nodes. */
export function linksForThisNode(cfg: HaConfig, local: Set<string>): LinkSpec[] {
  return cfg.links
    .filter((l) => !(l.kind === "ucast" && local.has(l.addr)))
    .map((l) => ({ ...l, name: linkName(l) }));
}

export async function runDaemon(argv: string[]): Promise<number> {
  const opts = parseDaemonArgs(argv);
  if (typeof opts === "string") {
    process.stderr.write(`${opts}\n`);
    return ExitCode.usage;
  }
  const loaded = loadConfig({ dir: opts.dir, self_node: opts.node, init_dir: opts.init_dir });
  for (const d of loaded.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
  if (hasErrors(loaded.diagnostics) || !loaded.hacf || !loaded.authkeys) {
    process.stderr.write(`tandem daemon: configuration in ${opts.dir} has errors; run \`tandem check --dir ${opts.dir}\`\n`);
    return ExitCode.config;
  }
  const hacf = loaded.hacf;
  const journal = stderrIsJournal();
  const log = new Logger(opts.node, {
    logfile: hacf.logfile,
    debugfile: hacf.debugfile,
    debug_level: hacf.debug_level,
    priority_prefix: journal || opts.syslog_prefix,
    stderr_is_journal: journal,
    facility: hacf.logfacility,
    send_datagram: hacf.logfacility ? (await import("../native/addon.ts")).native.notifySend : undefined,
  });
  let generation: number;
  try {
    generation = nextGeneration(opts.state_dir);
  } catch (e) {
    if (!(e instanceof StateDirError)) throw e;
    log.event("fatal", { error: e.message });
    return ExitCode.runtime;
  }
  // the state directory exists now: the event history lives there
  const ops = new Ops({ node: opts.node, state_dir: opts.state_dir, log, metrics_listen: hacf.metrics_listen });
  log.addSink((r) => ops.onLog(r));
  const specs = linksForThisNode(hacf, localAddresses());
  if (specs.length === 0) {
    log.event("fatal", { error: "no usable heartbeat link for this node (every ucast line names this node's own address)" });
    return ExitCode.config;
  }
  let codec: Codec = new NativeCodec(loaded.authkeys);
  let hb_str: typeof str | null = null;
  if (hacf.wire === "heartbeat") {
    try {
      const { HeartbeatCodec } = await import("../wire/heartbeat.ts");
      const { loadOrCreateUuid } = await import("./hb_uuid.ts");
      hb_str = (await import("../wire/hb_msg.ts")).str;
      codec = new HeartbeatCodec({
        self: opts.node,
        nodes: hacf.nodes,
        auth: loaded.authkeys,
        uuid: loadOrCreateUuid(opts.state_dir),
        generation,
        deadtime_ms: hacf.deadtime_ms,
        // without groups we hold nothing: say so, or Heartbeat's resource logic waits for us
        answer_starting_none: !(loaded.haresources && loaded.haresources.groups.length > 0),
        log: (event, fields) => log.event(event, fields),
      });
    } catch (e) {
      log.event("fatal", { error: `wire heartbeat: ${(e as Error).message}` });
      return ExitCode.runtime;
    }
  }
  const d = new Daemon(opts, hacf, codec, generation, specs.map(linkName), log, ops);
  d.hb_str = hb_str;
  if (loaded.haresources && loaded.haresources.groups.length > 0) {
    try {
      const { ResourceManager } = await import("./resources.ts");
      const { devicesFor } = await import("../fencing/devices.ts");
      const { makeFencer } = await import("../fencing/fencer.ts");
      const rsctmp = join(opts.state_dir, "rsctmp");
      mkdirSync(rsctmp, { recursive: true, mode: 0o700 });
      d.rm = await ResourceManager.create({
        self: opts.node,
        generation,
        hacf,
        haresources: loaded.haresources,
        ha_dir: opts.dir,
        env: { HA_RSCTMP: rsctmp },
        log,
        sendSoon: () => d.sendSoon(),
        changed: () => {
          d.rearm();
          d.groupsChanged();
        },
        // Any fence device for a peer turns fencing on: dead peers' groups
        // then wait for a successful fence (a peer with no device never gets
        // one; `tandem check` says so).
        fencer: devicesFor(hacf, opts.node).length > 0 ? makeFencer(hacf, opts.node, log) : null,
      });
      if (hacf.wire === "heartbeat") d.rm.hbSend = (fields, dest) => d.sendHb(fields, dest);
      d.drbd_status = await (await import("./drbd_status.ts")).drbdStatusFor(loaded.haresources.groups);
    } catch (e) {
      log.event("fatal", { error: `resource groups: ${(e as Error).message}` });
      return ExitCode.config;
    }
  }
  // `tandem config push` from the peer: TCP on udpport, heartbeat addresses only (src/sync)
  const sync = await (await import("../sync/daemon_hook.ts")).startConfigSync(opts, hacf, specs, (e, f) => log.event(e, f));
  try {
    return await d.run(specs);
  } finally {
    sync?.close();
  }
}

class Daemon {
  private core: MembershipState;
  private udp: UdpTransport | null = null;
  private serial: SerialTransport | null = null;
  /** Heartbeat's field constructor (`wire heartbeat` only) */
  hb_str: typeof str | null = null;
  rm: ResourceManager | null = null;
  private send_soon_queued = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timer_at = Infinity;
  private stopping = false;
  /** the leave has been sent: no more heartbeats */
  private stopping_membership = false;
  private started_wall = new Date().toISOString();
  private done!: (code: number) => void;
  /** the watchdog device and systemd's watchdog: fed from the timer ticks below (startLiveness) */
  private wd: Watchdog | null = null;
  /** ping / ping_group nodes; null when none are configured */
  private ping: PingMonitor | null = null;
  /** -1 until the first report */
  private ping_score = -1;
  private realtime: RealtimeStatus | null = null;
  private notifier: SystemdNotifier | null = null;
  private hooks: LoopHook[] = [];
  private self_fence_reason: SelfFenceReason | null = null;
  private next_status_ms = 0;
  /** the next sweep moving new threads to SCHED_RR (realtime on) */
  private next_realtime_ms = Infinity;
  /** the groups did not stop in time: the watchdog is not disarmed at exit */
  private stop_incomplete = false;

  constructor(
    private opts: DaemonOptions,
    private hacf: HaConfig,
    private codec: Codec,
    private generation: number,
    link_names: string[],
    private log: Logger,
    private ops: Ops,
  ) {
    this.link_names = link_names;
    this.core = this.freshCore();
  }

  private link_names: string[];

  /**
   * Membership as of now. run() calls it again just before the links open:
   * initdead must count from when this node can hear its peers, not from
   * construction (start-up work in between, the pre-lock collection and
   * the allocator re-exec, took over a second on a loaded machine and
   * declared a peer dead before one datagram was read: both then ran the group).
   */
  private freshCore(): MembershipState {
    const h = this.hacf;
    return initialState(
      {
        self: this.opts.node,
        nodes: h.nodes,
        links: this.link_names,
        generation: this.generation,
        keepalive_ms: h.keepalive_ms,
        warntime_ms: h.warntime_ms,
        deadtime_ms: h.deadtime_ms,
        initdead_ms: h.initdead_ms,
        // after a stall (SIGSTOP, a paused VM), hear the queued datagrams and
        // the peers' next heartbeats before judging anyone dead
        settle_after_stall_ms: Math.min(h.deadtime_ms, 2 * h.keepalive_ms),
      },
      performance.now(),
    );
  }

  async run(specs: LinkSpec[]): Promise<number> {
    const finished = new Promise<number>((res) => (this.done = res));
    if (this.hacf.realtime) {
      // realtime locks memory (MCL_FUTURE): pages locked can never be given
      // back, and start-up garbage (config text, parse tables, module init)
      // would stay resident for good (before `started`: the control
      // socket must follow that event at once). Collect it and let the allocator
      // return the pages first (mimalloc purges freed pages after 100 ms).
      Bun.gc(true);
      await Bun.sleep(pre_lock_purge_ms);
    }
    this.log.event("started", {
      node: this.opts.node,
      generation: this.generation,
      keepalive_ms: this.hacf.keepalive_ms,
      deadtime_ms: this.hacf.deadtime_ms,
      links: specs.length,
    });
    // The loop that must not starve runs from here on.
    this.realtime = applyRealtime(this.hacf, this.log);
    let control: { close(): Promise<void> };
    try {
      control = await startControlServer({
        path: this.opts.socket,
        handle: (req) => this.handleControl(req),
        log: (msg: string) => this.log.event("control", { msg }),
      });
    } catch (e) {
      this.log.event("fatal", { error: `control socket ${this.opts.socket}: ${(e as Error).message}` });
      return ExitCode.runtime;
    }
    this.core = this.freshCore(); // initdead from here: see freshCore
    try {
      this.udp = await UdpTransport.open(specs.filter((l) => l.kind !== "serial"), {
        udpport: this.hacf.udpport,
        onDatagram: (name, bytes) => this.onDatagram(name, bytes),
        log: (msg: string) => this.log.event("link_error", { msg }),
      });
    } catch (e) {
      if (!(e instanceof LinkError)) throw e;
      this.log.event("fatal", { error: e.message });
      await control.close();
      return ExitCode.runtime;
    }
    // A missing or unplugged port is not fatal: the link stays down and is
    // retried, as a peer that is not there yet (src/links/serial.ts).
    const serial_specs = specs.flatMap((l) => (l.kind === "serial" ? [{ name: l.name, device: l.device }] : []));
    this.serial = serial_specs.length === 0 ? null : (await import("../links/serial.ts")).SerialTransport.open(
      serial_specs,
      {
        baud: this.hacf.baud,
        keepalive_ms: this.hacf.keepalive_ms,
        framing: this.codec.name === "native" ? "native" : "heartbeat",
        onDatagram: (name, bytes) => this.onDatagram(name, bytes),
        log: (event, fields) => this.log.event(event, fields as Record<string, string | number | boolean | null>),
      },
    );
    this.ops.status = () => this.status();
    this.ops.start();
    this.groupsChanged();
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => this.shutdown(sig));
    process.on("SIGHUP", () => this.log.event("sighup_ignored", { hint: "restart tandem to apply config changes" }));
    if (!(await this.startLiveness())) {
      this.udp?.close();
      await control.close();
      return ExitCode.runtime;
    }
    // Bun starts threads lazily (I/O pool, spawn): move newcomers to RR too,
    // from the heartbeat ticks (tickLiveness), not a timer of its own.
    this.next_realtime_ms = performance.now() + realtime_reapply_ms;
    if (this.hacf.ping_nodes.length + this.hacf.ping_groups.length > 0) {
      const { PingMonitor } = await import("../links/ping.ts");
      this.ping = new PingMonitor(
        this.hacf,
        (score) => {
          this.ping_score = score;
          this.rm?.connectivity(score);
        },
        (event, fields) => this.log.event(event, fields),
      );
      this.ping.start();
    }
    this.feed({ type: "tick" });
    // Start-up garbage (config text, parse tables, module init) would sit in
    // the heap until the next full collection, which an idle daemon rarely
    // triggers: collect once when it is settled.
    // Then unmap the runtime code that start-up touched and idle does not
    // run, and once more when the JIT has settled (src/daemon/pages.ts).
    const pages = (when: string) => releaseIdlePagesLogged(when, this.realtime?.memory_locked ?? false, (name, fields) => this.log.event(name, fields));
    const gc_timer = setTimeout(() => {
      Bun.gc(true);
      pages("startup");
    }, startup_gc_delay_ms);
    const pages_timer = setTimeout(() => pages("settled"), settled_pages_delay_ms);
    const code = await finished;
    clearTimeout(gc_timer);
    clearTimeout(pages_timer);
    this.wd?.close(code === ExitCode.ok && !this.stop_incomplete);
    this.ping?.close();
    await control.close();
    this.udp?.close();
    this.serial?.close();
    await this.ops.close();
    await this.log.close();
    return code;
  }

  private onDatagram(link: string, bytes: Uint8Array): void {
    const r = this.codec.decode(bytes);
    this.flushCodec();
    if (!r.ok) return this.feed({ type: "undecodable", reason: r.reason, link });
    // wire heartbeat: a status without tandem's announcement comes from Heartbeat 3.0.6 (R1 peer)
    if (r.frame && r.message?.type === "status") this.rm?.notePeerKind(r.frame.node, r.frame.body.length > 0 ? "tandem" : "heartbeat");
    if (r.frame) this.onFrame(link, r.frame);
    if (r.message) this.onWireMessage(r.message);
  }

  /** Send what the codec queued by itself (Heartbeat: acks, retransmissions, replies). */
  private flushCodec(): void {
    for (const b of this.codec.takeOutgoing?.() ?? []) this.broadcast(b);
  }

  /** On every link, as Heartbeat's send_to_all_media. */
  private broadcast(bytes: Uint8Array): void {
    for (const l of this.udp?.links ?? []) l.send(bytes);
    if (!this.serial?.links.length) return;
    const serial_bytes = this.codec.forSerial?.(bytes) ?? bytes;
    for (const l of this.serial.links) l.send(serial_bytes);
  }

  /** A Heartbeat peer's message (`wire heartbeat`): resource messages go to the R1 translator. */
  private onWireMessage(m: WireMessage): void {
    if (m.type === "status") return;
    this.log.event("hb_message", { node: m.from, type: m.type.slice(0, 64), seq: m.seq });
    this.rm?.onHbMessage(m);
  }

  /** The R1 translator's messages, numbered and signed by the codec, on every link. */
  sendHb(fields: [string, string][], dest: string | null): void {
    const str = this.hb_str;
    if (this.codec.name !== "heartbeat" || !str || this.stopping_membership) return;
    (this.codec as HeartbeatCodec).send(fields.map(([k, v]) => str(k, v)), dest);
    this.flushCodec();
  }

  private onFrame(link: string, f: Frame): void {
    // DRBD's outdate channel: its own replay window, checked against membership (src/core/outdate.ts)
    if (f.kind === "drbd_outdate_request" || f.kind === "drbd_outdate_reply") return this.outdater()?.onFrame(f);
    if (f.kind !== "heartbeat" && f.kind !== "leave") return;
    const before = this.core.peers.get(f.node);
    const seen = before ? { generation: before.generation, seq_max: before.seq_max } : null;
    this.feed({ type: "frame", kind: f.kind, from: f.node, link, generation: f.generation, seq: f.seq });
    if (this.log.debug_level >= 2) this.log.debug("frame", { kind: f.kind, from: f.node, link, generation: f.generation, seq: f.seq }, 2);
    if (this.core.peers.has(f.node)) this.ops.onFrame(f.node, link, f.generation, f.seq, performance.now());
    // Placement hears a peer's announcement only from its newest heartbeat:
    // an older copy arriving late on another link must not roll it back.
    const after = this.core.peers.get(f.node);
    const newest = after?.state === "up" && after.generation === f.generation && after.seq_max === f.seq;
    const repeat = seen !== null && seen.generation === f.generation && seen.seq_max >= f.seq;
    if (this.rm && f.kind === "heartbeat" && newest && !repeat && f.body.length > 0) this.rm.onPeerBody(f.node, f.body);
  }

  /** Placement changed its announcement: heartbeat now rather than at the next keepalive. */
  sendSoon(): void {
    if (this.send_soon_queued || this.stopping_membership) return;
    this.send_soon_queued = true;
    queueMicrotask(() => {
      this.send_soon_queued = false;
      this.feed({ type: "send_now" });
    });
  }

  rearm(): void {
    this.arm(performance.now());
  }

  /** Placement may have moved a group: history, takeover times, `since`. */
  groupsChanged(): void {
    if (this.rm) this.ops.groupsChanged(this.rm.status() as { name: string; state: string; holder: string | null }[]);
  }

  private feed(ev: MembershipEvent): void {
    const now = performance.now();
    let actions: MembershipAction[];
    actions = step(this.core, ev, now);
    for (const a of actions) this.act(a, now);
    if (ev.type === "tick") {
      this.rm?.tick();
      this.drbd_outdater?.tick();
      this.tickLiveness(now);
    }
    this.arm(now);
  }

  private act(a: MembershipAction, now: number): void {
    switch (a.type) {
      case "send": {
        const bytes = this.codec.encode({
          kind: a.kind,
          node: this.opts.node,
          generation: this.generation,
          seq: a.seq,
          body: a.kind === "heartbeat" && this.rm ? this.rm.body() : new Uint8Array(),
        });
        this.broadcast(bytes);
        if (a.kind === "leave") this.log.event("leave_sent", { seq: a.seq });
        break;
      }
      case "node_up":
        this.log.event("node_up", { node: a.node, generation: a.generation, rejoined: a.rejoined });
        this.rm?.onMembership(a);
        break;
      case "node_dead":
        this.log.event("node_dead", {
          node: a.node,
          reason: a.reason,
          last_heard_ms_ago: a.last_heard_ms === null ? null : Math.round(now - a.last_heard_ms),
          lateness_ms: a.lateness_ms.toFixed(3),
        });
        this.rm?.onMembership(a);
        break;
      case "link_up":
      case "link_down":
        this.log.event(a.type, { node: a.node, link: a.link });
        if (a.type === "link_up") this.rm?.onMembership(a); // held floating IPs are announced again
        break;
      case "late_heartbeat":
        this.log.event("late_heartbeat", { node: a.node, gap_ms: Math.round(a.gap_ms) });
        break;
      case "drop":
        this.log.event("drop", { reason: a.reason, from: a.from ?? undefined, link: a.link });
        break;
      case "stall":
        // this node was deaf: no verdicts, and no fencing on its stale view, until settled
        this.log.event("stall", { gap_ms: Math.round(a.gap_ms), settle_ms: a.settle_ms });
        this.rm?.stalled(true);
        break;
      case "settled":
        this.log.event("stall_settled", {});
        this.rm?.stalled(false);
        break;
    }
  }

  /** One timer, at the core's next deadline. */
  private arm(now: number): void {
    const at = Math.min(nextDeadline(this.core), this.rm?.nextDeadline() ?? Infinity, this.drbd_outdater?.nextDeadline() ?? Infinity, ...this.hooks.map((h) => h.nextDeadline()));
    if (at === this.timer_at && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timer_at = at;
    if (!Number.isFinite(at)) return;
    // setTimeout truncates to whole ms and fires ~0.2 ms after that. The
    // send cadence tolerates rounding up; an expiry (a peer going silent) is
    // what detection lateness measures, so it is armed just short of the
    // deadline and finished by onTimer.
    const precise = nextExpiry(this.core) <= at;
    const delay_ms = precise ? Math.floor(at - now - timer_slack_ms) : Math.ceil(at - now);
    this.timer = setTimeout(() => this.onTimer(precise ? at : null), Math.max(0, delay_ms));
  }

  private onTimer(expiry_at: number | null): void {
    this.timer = null;
    this.timer_at = Infinity;
    // Let datagrams that queued up during a stall be read before timeouts
    // are judged, so a peer heard in time is not declared dead; for an
    // expiry, keep yielding to I/O until the deadline (bounded: the timer
    // was armed at most timer_slack_ms + 1 ms early).
    const spin_until = expiry_at === null ? -Infinity : Math.min(expiry_at, performance.now() + timer_slack_ms + 1);
    const go = () => {
      if (performance.now() < spin_until) return void setImmediate(go);
      this.feed({ type: "tick" });
    };
    setImmediate(go);
  }

  private shutdown(signal: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log.event("stopping", { signal });
    this.notifier?.stopping(`stopping (${signal}): releasing groups`);
    if (!this.rm) return this.leave();
    // Keep heartbeating while the groups stop: peers see each one stopped in
    // our announcements and take it over in order, before we say goodbye.
    const bound = Bun.sleep(shutdown_resources_ms_max).then(() => "timeout");
    void Promise.race([this.rm.shutdown().then(() => "stopped"), bound]).then((how) => {
      if (how === "timeout") this.log.event("stop_timeout", { waited_ms: shutdown_resources_ms_max });
      if (how === "timeout") this.stop_incomplete = true;
      this.leave();
    });
  }

  private leave(): void {
    this.stopping_membership = true;
    this.feed({ type: "shutdown" });
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // give the leave datagram a moment to leave the host before sockets close
    setTimeout(() => this.done(ExitCode.ok), 20);
  }

  /**
   * Opens ha.cf's watchdog device and tells systemd we are ready. Both are
   * then fed from tickLiveness, i.e. from the same timer ticks that send
   * heartbeats: if that loop stalls, both stop. False: fatal, logged.
   */
  private async startLiveness(): Promise<boolean> {
    const now = performance.now();
    if (this.hacf.watchdog) {
      const { Watchdog, WatchdogError } = await import("./watchdog.ts");
      try {
        this.wd = Watchdog.open({ path: this.hacf.watchdog, keepalive_ms: this.hacf.keepalive_ms, log: this.log, now_ms: now });
      } catch (e) {
        if (!(e instanceof WatchdogError)) throw e;
        this.log.event("fatal", { error: e.message, fix: "load the driver (modprobe softdog) or remove the `watchdog` line from ha.cf" });
        return false;
      }
      const t = this.wd.deadline({ keepalive_ms: this.hacf.keepalive_ms, deadtime_ms: this.hacf.deadtime_ms, deadping_ms: this.hacf.deadping_ms });
      this.log.event("self_fence_timing", { reset_by_ms: t.reset_by_ms, peer_wait_min_ms: t.peer_wait_min_ms });
      this.hooks.push(this.wd);
    }
    this.notifier = SystemdNotifier.fromProcess(this.log, now);
    if (this.notifier) {
      this.hooks.push(this.notifier);
      this.notifier.ready(this.summary());
    }
    return true;
  }

  private tickLiveness(now: number): void {
    if (this.wd?.isFeeding) {
      const groups = (this.rm?.status() ?? []) as { state: string }[];
      const d = shouldSelfFence({
        holds_groups: groups.some((g) => g.state !== "stopped" && g.state !== "failed"),
        peer_reachable: [...this.core.peers.values()].some((p) => p.state === "up"),
        // No ping nodes (or no report yet): "unknown", which never self-fences
        // (a two-node cluster would reset its holder on every link cut).
        ping_reachable: !this.ping || this.ping_score < 0 ? "unknown" : this.ping_score > 0 ? "reachable" : "unreachable",
      });
      if (d.fence) this.wd.stopFeeding(d.reason);
      else if (d.reason !== this.self_fence_reason && d.reason === "cannot_tell") this.log.event("self_fence_undecided", { reason: d.reason });
      this.self_fence_reason = d.reason;
    }
    for (const h of this.hooks) h.tick(now);
    if (this.realtime?.requested && now >= this.next_realtime_ms) {
      this.next_realtime_ms = now + realtime_reapply_ms;
      reapplyRealtime(this.realtime);
    }
    if (this.notifier && now >= this.next_status_ms) {
      // at most once a second: STATUS= is for humans, ticks can be 10 ms apart
      this.next_status_ms = now + 1000;
      this.notifier.status(this.summary());
    }
  }

  /** systemd's STATUS= line. */
  private summary(): string {
    const peers = [...this.core.peers.values()];
    const up = peers.filter((p) => p.state === "up").length;
    const groups = (this.rm?.status() ?? []) as { state: string }[];
    const held = groups.filter((g) => g.state === "running").length;
    return `${up}/${peers.length} peers up, ${held}/${groups.length} groups running here${this.wd ? (this.wd.isFeeding ? ", watchdog fed" : ", watchdog NOT fed") : ""}`;
  }

  private handleControl(req: unknown): unknown {
    const cmd = typeof req === "object" && req !== null ? (req as { cmd?: unknown }).cmd : undefined;
    // DRBD's fence-peer / split-brain handlers (tandem drbd-fence-peer, src/cli/drbd.ts)
    if (typeof cmd === "string" && cmd.startsWith("drbd-")) return this.drbdControl().handle(cmd, req as object);
    this.log.debug("control_request", { cmd: typeof cmd === "string" ? cmd.slice(0, 64) : undefined });
    const ops_reply = typeof req === "object" && req !== null ? this.ops.handleControl(req as Record<string, unknown>) : undefined;
    if (ops_reply !== undefined) return ops_reply;
    // The control path is async (control.ts awaits the reply): DRBD's state is read on a worker thread, waited for at most drbd_status.ts's read_wait_ms.
    if (cmd === "status") return this.drbd_status ? this.drbd_status.refresh().then(() => ({ ok: true, status: this.status() })) : { ok: true, status: this.status() };
    if (cmd === "ping") return { ok: true };
    if (cmd === "standby" || cmd === "takeover") {
      const scope = (req as { scope?: unknown }).scope ?? "all";
      if (scope !== "all" && scope !== "local" && scope !== "foreign" && scope !== "none") {
        return { ok: false, error: `scope must be all, local, foreign or none, not ${JSON.stringify(scope)}` };
      }
      if (!this.rm) return { ok: false, error: "no resource groups configured (haresources)" };
      this.log.event("admin", { command: cmd, scope: scope as string });
      this.rm.admin(cmd, scope as ScopeName);
      return { ok: true };
    }
    if (cmd === "fence-confirm") {
      const node = (req as { node?: unknown }).node;
      if (typeof node !== "string" || node === "") return { ok: false, error: "fence-confirm needs the node's name" };
      if (!this.rm) return { ok: false, error: "no resource groups configured (haresources): nothing waits for a fence" };
      const problem = this.rm.fenceConfirm(node);
      if (problem) return { ok: false, error: problem };
      this.log.event("admin", { command: cmd, node });
      return { ok: true };
    }
    return { ok: false, error: `unknown command ${JSON.stringify(cmd)}; known: status, events, ping, standby, takeover, fence-confirm` };
  }

  private drbd_control: DrbdControl | null = null;
  /** haresources' DRBD resources for `tandem status` (null: none) */
  drbd_status: DrbdStatusReader | null = null;
  private drbdControl(): DrbdControl {
    this.drbd_control ??= new DrbdControl({
      self: this.opts.node,
      nodes: () => statusView(this.core, performance.now()),
      fencing: () => (this.rm?.fencingStatus() ?? []) as { node: string; phase: string }[],
      // dead by its goodbye in its current incarnation (membership's peerLeft), not by deadtime
      left: (node) => {
        const p = this.core.peers.get(node);
        return p !== undefined && p.state === "dead" && p.generation > 0 && p.left_generation === p.generation;
      },
      log: (event, fields) => this.log.event(event, fields),
      outdate: (resource, peer, fresh) => this.outdater()?.ask(resource, peer, fresh) ?? "wire heartbeat: Heartbeat's message format has no outdate request",
    });
    return this.drbd_control;
  }

  private drbd_outdater: DrbdOutdater | null = null;
  /** DRBD's outdate channel to the peers (native wire only: Heartbeat's format cannot carry it). */
  private outdater(): DrbdOutdater | null {
    if (this.codec.name !== "native") return null;
    this.drbd_outdater ??= new DrbdOutdater({
      self: this.opts.node,
      keepalive_ms: this.hacf.keepalive_ms,
      send: (kind, seq, body) => {
        if (!this.stopping_membership) this.broadcast(this.codec.encode({ kind, node: this.opts.node, generation: this.generation, seq, body }));
      },
      member: (node) => this.core.peers.get(node),
      log: (event, fields) => this.log.event(event, fields),
      changed: () => this.rearm(),
    });
    return this.drbd_outdater;
  }

  /** Membership's quorum: self and the peers up, against a majority of ha.cf's nodes. */
  private quorum(nodes: { state: string }[]): StatusV2["quorum"] {
    const votes = nodes.filter((n) => n.state === "self" || n.state === "up").length;
    const needed = Math.floor(nodes.length / 2) + 1;
    const required = quorumRequired(this.hacf);
    return { required, quorate: !required || votes >= needed, votes, needed, total: nodes.length, policy: this.hacf.no_quorum_policy };
  }

  status(): StatusV2 {
    const now = performance.now();
    const wall = (mono_ms: number) => new Date(performance.timeOrigin + mono_ms).toISOString();
    const nodes = statusView(this.core, now).map((n) => ({
      ...n,
      links: n.links.map((l) => ({ ...l, ...(this.ops.loss.counts(n.name, l.name) ?? { received: 0, lost: 0, loss_recent: null }) })),
    }));
    type RawGroup = { name: string; since_ms: number; last_failure: { at_ms: number; action: string; detail: string } | null };
    const groups = ((this.rm?.status() ?? []) as RawGroup[]).map(({ since_ms, last_failure, ...g }) => ({
      ...g,
      since: this.ops.group_since.has(g.name) ? new Date(this.ops.group_since.get(g.name)!).toISOString() : wall(since_ms),
      last_failure: last_failure ? { at: wall(last_failure.at_ms), action: last_failure.action, detail: last_failure.detail } : null,
    }));
    return {
      schema_version: status_schema_version,
      schema: status_schema_version,
      node: this.opts.node,
      generation: this.generation,
      started: this.started_wall,
      now: new Date().toISOString(),
      timing: {
        keepalive_ms: this.hacf.keepalive_ms,
        warntime_ms: this.hacf.warntime_ms,
        deadtime_ms: this.hacf.deadtime_ms,
        initdead_ms: this.hacf.initdead_ms,
      },
      nodes,
      groups,
      fencing: (this.rm?.fencingStatus() ?? []) as StatusV2["fencing"],
      quorum: this.quorum(nodes),
      watchdog: this.wd
        ? { device: this.hacf.watchdog!, feeding: this.wd.isFeeding, timeout_ms: this.wd.timeout_ms, feed_interval_ms: this.wd.interval_ms, self_fence: this.self_fence_reason }
        : null,
      events: { dir: this.opts.state_dir, dropped: this.ops.events.dropped, write_errors: this.ops.events.write_errors },
      metrics: this.ops.metrics_address ? { address: this.ops.metrics_address } : null,
      ping: this.ping?.status() ?? null,
      // reapply first: a thread Bun started since the last sweep is counted at RR, not as a gap
      realtime: this.realtime ? (reapplyRealtime(this.realtime), refreshRealtime(this.realtime)) : null,
      links: [...(this.udp?.links ?? []), ...(this.serial?.links ?? [])].map((l) => ({ name: l.name, ...l.stats() })),
      counters: {
        dropped: { ...this.core.dropped },
        unattributed_datagrams: this.udp?.unattributed ?? 0,
        ...("stats" in this.codec ? { wire: { format: this.codec.name, ...(this.codec.stats as object) } } : {}),
        log_lines_dropped: this.log.dropped_lines,
      },
      drbd: {
        ...(this.drbd_status?.section(this.drbd_control?.status() ?? null) ?? { resources: [], events: this.drbd_control?.status() ?? [] }),
        ...(this.drbd_outdater ? { outdates: this.drbd_outdater.status() } : {}),
      },
    };
  }
}
