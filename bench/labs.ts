// bench/labs: the three systems of the benchmarks (tandem, Heartbeat 3.0.6,
// keepalived 2.2.7) as labs in fresh namespaces, the crash-failover run
// (the anchors' SIGSTOP + cable + SIGKILL fault under a 10 ms ICMP probe),
// cleanup of everything we started, and table/statistics helpers. Used by
// bench/failover.ts (issue 4) and bench/jitter.ts (issue 5).
//
// Lab, per system and setting: createCluster() namespaces (prefix
// tdm<pid>r<hex>-, so `sweep` cleans up after a crash): node1, node2 and a
// client on one bridge (192.0.2.0/26), the VIP 192.0.2.50/26 on veth-a.
//   tandem     haresources `node1 192.0.2.50/26/veth-a` (native IP + GARP), ucast
//   heartbeat  R1, haresources `node1 IPaddr::192.0.2.50/26/veth-a`, ucast, sha1,
//              each node `unshare --mount --uts --ipc` with its own hostname,
//              /etc/ha.d, /var/lib/heartbeat and a tmpfs /run (src/lab/heartbeat.ts)
//   keepalived VRRPv3, both BACKUP + nopreempt, priority 150/100, `-n` (foreground)
//   All: auto_failback off / nopreempt, so the VIP stays where it went.
// Importing this module installs SIGINT/SIGTERM/exit handlers that kill every
// process in our namespaces (by PID) and delete them; `cleanup_hooks` adds
// synchronous cleanups of one's own (run first).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, preferredCommand, until } from "../src/lab/daemons.ts";
import { HeartbeatNode, heartbeatMissing } from "../src/lab/heartbeat.ts";
import { authkeys, type Cluster, createCluster, type Host, haCf, ipv4, type Proc, run, writeConfigDir } from "../src/lab/netns.ts";
import { monoMs, setFifo } from "./icmp_probe.ts";

export const VIP = ipv4(0, 50);
export const VIP_CIDR = `${VIP}/26`;
export const IFACE = "veth-a";
const probe_script = join(import.meta.dir, "icmp_probe.ts");
const bun = process.execPath;

export type SystemName = "tandem" | "heartbeat" | "keepalived";
export const all_systems: SystemName[] = ["tandem", "heartbeat", "keepalived"];

export interface Setting {
  system: SystemName;
  /** heartbeat-style keepalive / deadtime (tandem, heartbeat) */
  keepalive_ms?: number;
  deadtime_ms?: number;
  /** keepalived advert_int in seconds */
  advert_s?: number;
  /** tandem, heartbeat: false writes `realtime off` (both default to on) */
  realtime?: boolean;
}

export function label(s: Setting): string {
  if (s.system === "keepalived") return `advert_int ${s.advert_s}`;
  return `${s.keepalive_ms}/${s.deadtime_ms} ms${s.realtime === false ? " realtime off" : ""}`;
}

/** deadtime-like bound: tandem/heartbeat deadtime; keepalived VRRPv3 master-down = 3 x advert (+ skew) */
export function deadtimeOf(s: Setting): number {
  return s.system === "keepalived" ? 3 * s.advert_s! * 1000 : s.deadtime_ms!;
}

export function log(s: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${s}\n`);
}

// ---------------------------------------------------------------------------
// Processes: everything a system starts lives in one of our node namespaces.
// Heartbeat and keepalived fork children that no Proc tracks, so cleanup kills
// every PID inside our own namespaces (and nothing else).

export const live_clusters = new Set<Cluster>();

export async function nsPids(ns: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", ns]);
  return r.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
}

export function nsPidsSync(ns: string): number[] {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8", timeout: 5000 });
  return (r.stdout ?? "").split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
}

export function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
}

/** SIGKILL everything in a namespace of ours, bounded wait until it is empty. */
export async function killNs(ns: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const pids = await nsPids(ns);
    if (pids.length === 0) return;
    signal(pids, "SIGKILL");
    await Bun.sleep(50);
  }
  log(`warning: processes left in ${ns}: ${(await nsPids(ns)).join(" ")}`);
}

export async function destroyCluster(c: Cluster): Promise<void> {
  for (const h of [...c.nodes, c.client!]) if (h) signal(await nsPids(h.ns), "SIGTERM");
  await Bun.sleep(200);
  for (const h of [...c.nodes, c.client!]) if (h) await killNs(h.ns);
  await c.destroy();
  live_clusters.delete(c);
}

/** synchronous extra cleanups (e.g. a load generator), run first on SIGINT/SIGTERM/exit */
export const cleanup_hooks = new Set<() => void>();

function runHooks(): void {
  for (const h of cleanup_hooks) {
    try {
      h();
    } catch {
      // every hook gets its turn
    }
  }
}

/**
 * kernel.sched_rr_timeslice_ms for this run, restored on every exit path.
 * Machine-wide: how long one busy real-time thread may keep a CPU from
 * others of its priority (tandem's heartbeat loop, its JIT and GC threads,
 * the peer's, Heartbeat's processes). 0 leaves it as it is.
 */
export function setRrTimeslice(ms: number): { before: string; now: string; note: string } {
  const rr_path = "/proc/sys/kernel/sched_rr_timeslice_ms";
  const before = readFileSync(rr_path, "utf8").trim();
  if (ms > 0) {
    writeFileSync(rr_path, `${ms}\n`);
    const restore = () => writeFileSync(rr_path, `${before}\n`);
    cleanup_hooks.add(restore);
    process.on("exit", restore);
  }
  const now = readFileSync(rr_path, "utf8").trim();
  return { before, now, note: `sched_rr_timeslice_ms ${now}${ms > 0 ? ` (was ${before}, restored at exit)` : ""}` };
}

export function destroyAllSync(): void {
  runHooks();
  for (const c of live_clusters) {
    for (const h of [...c.nodes, c.client]) if (h) signal(nsPidsSync(h.ns), "SIGKILL");
    c.destroySync();
  }
  live_clusters.clear();
}

let stopping = false;
for (const [sig, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: killing the daemons and removing the namespaces`);
    runHooks();
    void Promise.all([...live_clusters].map((c) => destroyCluster(c).catch(() => undefined))).finally(() => {
      destroyAllSync();
      process.exit(code);
    });
  });
}
process.on("exit", destroyAllSync);

export async function newCluster(): Promise<Cluster> {
  const c = await createCluster({ nodes: 2, links: 1, client: true, signals: false });
  live_clusters.add(c);
  return c;
}

export async function macOf(h: Host): Promise<string> {
  const r = await run(["ip", "-n", h.ns, "-o", "link", "show", IFACE]);
  return /link\/ether ([0-9a-f:]{17})/.exec(r.stdout)?.[1] ?? "?";
}

export async function hasVip(c: Cluster, h: Host): Promise<boolean> {
  const r = await run(["ip", "-n", h.ns, "-4", "addr", "show", "dev", IFACE]);
  return r.stdout.includes(` ${VIP}/`);
}

// ---------------------------------------------------------------------------
// One system in one cluster.

export abstract class Lab {
  constructor(
    readonly c: Cluster,
    readonly s: Setting,
  ) {}
  abstract prepare(): Promise<void>;
  /** start both nodes; resolves when node1 holds the VIP and node2 is its standby */
  abstract startAll(timeout_ms: number): Promise<void>;
  /** start a (cleaned) node again; resolves when it is the standby of `holder` */
  abstract rejoin(h: Host, holder: Host, timeout_ms: number): Promise<void>;
  /** log lines that mean a failover happened (deaths, takeovers, MASTER), counted per node */
  abstract failoverEvents(): number;
  /** late-heartbeat style warnings so far (informational) */
  abstract warnings(): number;
  /** the last log lines of each node, for a run that went wrong */
  tail(_n: number): string[] {
    return [];
  }
  /** extra per-run facts after a fault at t0 (wall ms) */
  breakdown(_survivor: Host, _t0_wall: number): Record<string, number> {
    return {};
  }
  node(i: number): Host {
    return this.c.nodes[i - 1]!;
  }
  other(h: Host): Host {
    return h === this.c.nodes[0] ? this.c.nodes[1]! : this.c.nodes[0]!;
  }
}

export class TandemLab extends Lab {
  d = new Map<string, LabDaemon>();
  async prepare(): Promise<void> {
    const cmd = preferredCommand().argv;
    // FAILOVER_TANDEM_HACF: extra ha.cf lines ("a;b"), for experiments such as `realtime off`
    const extra = (process.env.FAILOVER_TANDEM_HACF ?? "").split(";").filter((l) => l.trim() !== "");
    if (this.s.realtime === false) extra.push("realtime off");
    const hacf = haCf(this.c, { keepalive_ms: this.s.keepalive_ms!, deadtime_ms: this.s.deadtime_ms!, extra });
    const secret = `bench-${crypto.randomUUID()}`;
    for (const h of this.c.nodes) {
      const d = new LabDaemon(this.c, h, cmd);
      writeConfigDir(d.dir, hacf, authkeys(secret));
      writeFileSync(join(d.dir, "haresources"), `node1 ${VIP_CIDR}/${IFACE}\n`);
      this.d.set(h.name, d);
    }
  }
  private async holds(st: Awaited<ReturnType<LabDaemon["tryStatus"]>>, holder: string, running: boolean): Promise<boolean> {
    const g = (st as { groups?: { holder?: string | null; state?: string }[] } | null)?.groups?.[0];
    return g?.holder === holder && (!running || g.state === "running");
  }
  async startAll(timeout_ms: number): Promise<void> {
    for (const d of this.d.values()) await d.start();
    const [n1, n2] = [this.d.get("node1")!, this.d.get("node2")!];
    const ok = await until(async () => (await this.holds(await n1.tryStatus(), "node1", true)) && (await this.holds(await n2.tryStatus(), "node1", false)) && (await hasVip(this.c, this.node(1))), timeout_ms);
    if (!ok) throw new Error(`tandem ${label(this.s)}: node1 did not hold the group within ${timeout_ms} ms`);
  }
  async rejoin(h: Host, holder: Host, timeout_ms: number): Promise<void> {
    const d = this.d.get(h.name)!;
    const hd = this.d.get(holder.name)!;
    const from = hd.events.length;
    await d.start();
    const up = await hd.waitEvent({ event: "node_up", node: h.name }, timeout_ms, from);
    if (!up) throw new Error(`tandem: ${holder.name} did not see ${h.name} rejoin`);
    const ok = await until(async () => this.holds(await d.tryStatus(), holder.name, false), timeout_ms);
    if (!ok) throw new Error(`tandem: rejoined ${h.name} does not show ${holder.name} holding the group`);
  }
  failoverEvents(): number {
    let n = 0;
    for (const d of this.d.values()) n += d.events.filter((e) => e.event === "node_dead").length;
    return n;
  }
  warnings(): number {
    let n = 0;
    for (const d of this.d.values()) n += d.events.filter((e) => e.event === "late_heartbeat").length;
    return n;
  }
  override tail(n: number): string[] {
    return [...this.d.values()].flatMap((d) => d.output.slice(-n));
  }
  override breakdown(survivor: Host, t0_wall: number): Record<string, number> {
    const d = this.d.get(survivor.name)!;
    const after = d.events.filter((e) => e.t >= t0_wall - 1);
    const dead = after.find((e) => e.event === "node_dead");
    const ip = after.find((e) => e.event === "resource_ok" && e.fields.action === "start");
    const out: Record<string, number> = {};
    if (dead) {
      out.detect_ms = dead.t - t0_wall;
      out.last_heard_ms_ago = Number(dead.fields.last_heard_ms_ago);
      out.lateness_ms = Number(dead.fields.lateness_ms);
    }
    if (ip) {
      out.ip_ms = ip.t - t0_wall;
      out.ip_agent_ms = Number(ip.fields.ms);
    }
    return out;
  }
}

/** Heartbeat R1 per node: its own /etc/ha.d, /var/lib/heartbeat and /run (src/lab/heartbeat.ts), as in the anchors lab. */
export class HeartbeatLab extends Lab {
  nodes = new Map<string, HeartbeatNode>();
  private hbOf(h: Host): HeartbeatNode {
    let n = this.nodes.get(h.name);
    if (!n) this.nodes.set(h.name, (n = new HeartbeatNode(this.c, h, join(this.c.tmp, h.name))));
    return n;
  }
  private logOf(h: Host): string[] {
    return this.hbOf(h).log().split("\n");
  }
  async prepare(): Promise<void> {
    const missing = heartbeatMissing();
    if (missing) throw new Error(`heartbeat: ${missing}`);
    const k = this.s.keepalive_ms!;
    const dt = this.s.deadtime_ms!;
    const warn = Math.round((3 * dt) / 5); // the anchors' ratio: 300 of 500, 60 of 100
    for (const h of this.c.nodes) {
      const peer = this.other(h);
      await this.hbOf(h).configure({
        ha_cf: [
          `# written by bench/labs.ts for ${h.name}`,
          `keepalive ${k}ms`,
          `warntime ${warn}ms`,
          `deadtime ${dt}ms`,
          "initdead 3000ms",
          "udpport 694",
          `ucast ${IFACE} ${peer.links[0]!.v4}`,
          "auto_failback off",
          "node node1",
          "node node2",
          ...(this.s.realtime === false ? ["realtime off"] : []),
          "",
        ].join("\n"),
        authkeys: "auth 1\n1 sha1 bench-failover-secret\n",
        haresources: `node1 IPaddr::${VIP_CIDR}/${IFACE}\n`,
      });
    }
  }
  private start(h: Host): void {
    this.hbOf(h).start();
  }
  private acquired(h: Host, from: number): boolean {
    return this.logOf(h).slice(from).some((l) => l.includes("Initial resource acquisition complete"));
  }
  async startAll(timeout_ms: number): Promise<void> {
    this.start(this.node(1));
    this.start(this.node(2));
    const ok = await until(async () => this.acquired(this.node(1), 0) && this.acquired(this.node(2), 0) && (await hasVip(this.c, this.node(1))), timeout_ms, 100);
    if (!ok) {
      for (const h of this.c.nodes) log(`${h.name} ha-log tail:\n${this.logOf(h).slice(-15).join("\n")}\n${this.hbOf(h).proc?.lines.slice(-5).join("\n")}`);
      throw new Error(`heartbeat ${label(this.s)}: cluster did not come up within ${timeout_ms} ms`);
    }
  }
  async rejoin(h: Host, holder: Host, timeout_ms: number): Promise<void> {
    const from = this.logOf(h).length - 1;
    this.start(h);
    const ok = await until(() => this.acquired(h, from), timeout_ms, 100);
    if (!ok) throw new Error(`heartbeat: ${h.name} did not rejoin within ${timeout_ms} ms:\n${this.logOf(h).slice(-10).join("\n")}`);
    if (!(await hasVip(this.c, holder))) throw new Error(`heartbeat: VIP left ${holder.name} during ${h.name}'s rejoin`);
  }
  failoverEvents(): number {
    let n = 0;
    for (const h of this.c.nodes) n += this.logOf(h).filter((l) => /: is dead|takeover complete/.test(l)).length;
    return n;
  }
  warnings(): number {
    let n = 0;
    for (const h of this.c.nodes) n += this.logOf(h).filter((l) => l.includes("Late heartbeat")).length;
    return n;
  }
}

export class KeepalivedLab extends Lab {
  lines = new Map<string, string[]>();
  private dir(h: Host): string {
    return join(this.c.tmp, h.name);
  }
  async prepare(): Promise<void> {
    if (!Bun.which("keepalived")) throw new Error("keepalived is not installed");
    for (const h of this.c.nodes) {
      mkdirSync(this.dir(h), { recursive: true });
      this.lines.set(h.name, []);
      const prio = h.name === "node1" ? 150 : 100;
      writeFileSync(
        join(this.dir(h), "keepalived.conf"),
        `# written by bench/labs.ts for ${h.name}
global_defs {
  router_id ${h.name}
  vrrp_version 3
}
vrrp_instance VI_1 {
  state BACKUP
  nopreempt
  interface ${IFACE}
  virtual_router_id 51
  priority ${prio}
  advert_int ${this.s.advert_s}
  virtual_ipaddress {
    ${VIP_CIDR} dev ${IFACE}
  }
}
`,
      );
    }
    const t = spawnSync("keepalived", ["-t", "-f", join(this.dir(this.node(1)), "keepalived.conf")], { encoding: "utf8", timeout: 10_000 });
    const out = `${t.stdout}${t.stderr}`;
    if (/not valid|outside range|ignoring/i.test(out)) throw new Error(`keepalived rejected the configuration:\n${out}`);
  }
  private start(h: Host): void {
    const d = this.dir(h);
    rmSync(join(d, "keepalived.pid"), { force: true });
    rmSync(join(d, "vrrp.pid"), { force: true });
    const buf = this.lines.get(h.name)!;
    this.c.spawn(h.ns, ["keepalived", "-n", "-l", "-G", "-D", "-P", "-f", join(d, "keepalived.conf"), "-p", join(d, "keepalived.pid"), "-r", join(d, "vrrp.pid")], {
      on_line: (l) => {
        if (buf.length < 100_000) buf.push(l); // bounded: the bench's runs log far less
      },
    });
  }
  private seen(h: Host, from: number, what: string): boolean {
    return this.lines.get(h.name)!.slice(from).some((l) => l.includes(what));
  }
  async startAll(timeout_ms: number): Promise<void> {
    // node1 first: with nopreempt both start as BACKUP, and whoever times out first wins
    this.start(this.node(1));
    if (!(await until(() => hasVip(this.c, this.node(1)), timeout_ms))) throw new Error(`keepalived ${label(this.s)}: node1 did not become MASTER`);
    await this.rejoin(this.node(2), this.node(1), timeout_ms);
  }
  async rejoin(h: Host, holder: Host, timeout_ms: number): Promise<void> {
    const from = this.lines.get(h.name)!.length;
    this.start(h);
    const ok = await until(() => this.seen(h, from, "Entering BACKUP STATE"), timeout_ms);
    if (!ok) throw new Error(`keepalived: ${h.name} did not enter BACKUP:\n${this.lines.get(h.name)!.slice(-10).join("\n")}`);
    if (!(await hasVip(this.c, holder))) throw new Error(`keepalived: VIP left ${holder.name} during ${h.name}'s rejoin`);
  }
  failoverEvents(): number {
    let n = 0;
    for (const ls of this.lines.values()) n += ls.filter((l) => l.includes("Entering MASTER STATE")).length;
    return n;
  }
  warnings(): number {
    return 0;
  }
}

export function makeLab(c: Cluster, s: Setting): Lab {
  switch (s.system) {
    case "tandem":
      return new TandemLab(c, s);
    case "heartbeat":
      return new HeartbeatLab(c, s);
    case "keepalived":
      return new KeepalivedLab(c, s);
  }
}

// ---------------------------------------------------------------------------
// Failover runs.

export interface RunResult {
  run: number;
  from: string;
  failover_ms: number | null;
  fault_window_ms: number;
  replies_before: number;
  note?: string;
  [k: string]: number | string | null | undefined;
}

export class Probe {
  sends = new Map<number, number>();
  replies = new Map<number, number>();
  /** ARP packets from the VIP seen at the client (bounded) */
  arps: { op: number; mac: string; t: number }[] = [];
  proc: Proc;
  constructor(c: Cluster) {
    this.proc = c.spawn(c.client!.ns, [bun, probe_script, VIP, "--interval-ms", "10", "--duration-s", "120", "--rt", "1"], {
      on_line: (l) => {
        const a = /^A (\d+) ([0-9a-f:]{17}) ([\d.]+)$/.exec(l);
        if (a && this.arps.length < 10_000) this.arps.push({ op: Number(a[1]), mac: a[2]!, t: Number(a[3]) });
        const m = /^([SR]) (\d+) ([\d.]+)$/.exec(l);
        if (!m) return;
        const map = m[1] === "S" ? this.sends : this.replies;
        if (!map.has(Number(m[2]))) map.set(Number(m[2]), Number(m[3]));
      },
    });
  }
  repliesBefore(t: number): number {
    let n = 0;
    for (const r of this.replies.values()) if (r < t) n++;
    return n;
  }
  /** first reply (mono ms) to a request sent at or after t1 */
  firstReplyAfter(t1: number): number | null {
    let best: number | null = null;
    for (const [seq, ts] of this.sends) {
      if (ts < t1) continue;
      const r = this.replies.get(seq);
      if (r !== undefined && (best === null || r < best)) best = r;
    }
    return best;
  }
}

/**
 * `runs` crash failovers in one fresh cluster, alternating direction. With
 * `partial`, an error ends the series and is returned with the runs so far
 * (a loaded machine can make a rejoin fail); otherwise it is thrown.
 */
export async function failoverRuns(s: Setting, runs: number, partial = false): Promise<{ results: RunResult[]; warnings: number; false_failovers: number; error?: string }> {
  const c = await newCluster();
  const results: RunResult[] = [];
  let warnings = 0;
  let false_failovers = 0;
  let lab: Lab | null = null;
  try {
    lab = makeLab(c, s);
    await lab.prepare();
    await lab.startAll(60_000);
    await Bun.sleep(2000);
    let holder = lab.node(1);
    // failover events in the logs while nothing was done to the cluster are false failovers
    let settled = lab.failoverEvents();
    for (let i = 1; i <= runs; i++) {
      const standby = lab.other(holder);
      if (!(await hasVip(c, holder))) throw new Error(`run ${i}: VIP not on ${holder.name} before the fault`);
      const split = await hasVip(c, standby);
      const probe = new Probe(c);
      const got = await until(() => probe.replies.size >= 50, 5000, 20);
      if (!got) log(`run ${i}: only ${probe.replies.size} probe replies before the fault`);
      const events_before = lab.failoverEvents();
      // the fault, as the anchors lab: list, T0, SIGSTOP all, cable, T1, SIGKILL
      const old_mac = await macOf(holder);
      const pids = await nsPids(holder.ns);
      const port = holder.links[0]!.port;
      const rt = setFifo(1);
      const t0_wall = Date.now();
      const t0 = monoMs();
      signal(pids, "SIGSTOP");
      await run(["ip", "-n", c.lan_ns, "link", "set", port, "down"]);
      const t1 = monoMs();
      signal(pids, "SIGKILL");
      if (rt) setFifo(0);
      await killNs(holder.ns);
      const moved = await until(() => hasVip(c, standby), 30_000, 10);
      const answered = moved ? await until(() => probe.firstReplyAfter(t1), 10_000, 10) : null;
      await Bun.sleep(300);
      await probe.proc.stop();
      const garp = probe.arps.find((a) => a.t >= t0 && a.mac !== old_mac);
      const r: RunResult = {
        run: i,
        from: holder.name,
        failover_ms: answered === null ? null : answered - t0,
        fault_window_ms: t1 - t0,
        garp_ms: garp ? garp.t - t0 : null,
        replies_before: probe.repliesBefore(t0),
        ...lab.breakdown(standby, t0_wall),
      };
      // the survivor's deadline, from its own log: node_dead minus its lateness
      if (r.failover_ms !== null && typeof r.detect_ms === "number" && typeof r.lateness_ms === "number") {
        r.deadline_ms = r.detect_ms - r.lateness_ms;
        r.after_deadline_ms = r.failover_ms - r.deadline_ms;
        if (typeof r.garp_ms === "number") r.garp_after_deadline_ms = r.garp_ms - r.deadline_ms;
      }
      if (!moved) r.note = "no takeover within 30 s";
      else if (answered === null) r.note = "no ping reply within 10 s of the takeover";
      if (split) r.note = "VIP on both nodes before the fault";
      if (events_before !== settled) {
        r.note = `${events_before - settled} failover event(s) before this fault`;
        false_failovers += events_before - settled;
      }
      if (r.replies_before === 0) r.note = "no replies before the fault";
      if (r.note) r.failover_ms = null;
      results.push(r);
      if (r.note && process.env.FAILOVER_DEBUG) for (const l of lab.tail(Number(process.env.FAILOVER_DEBUG) || 20)) log(`  | ${l}`);
      const extra = Object.entries(r)
        .filter(([k]) => !["run", "from", "failover_ms", "note"].includes(k))
        .map(([k, v]) => `${k}=${typeof v === "number" ? Math.round(v * 10) / 10 : v}`)
        .join(" ");
      log(`${s.system} ${label(s)} run ${i}: ${holder.name} -> ${standby.name} failover_ms=${r.failover_ms?.toFixed(1) ?? "-"} ${extra}${r.note ? ` NOTE ${r.note}` : ""}`);
      // bring the dead node back as the standby; the VIP stays where it went
      await run(["ip", "-n", holder.ns, "addr", "del", VIP_CIDR, "dev", IFACE]);
      await run(["ip", "-n", c.lan_ns, "link", "set", port, "up"]);
      if (i < runs) {
        await lab.rejoin(holder, standby, 60_000);
        await Bun.sleep(2000);
        settled = lab.failoverEvents();
      }
      holder = standby;
    }
    warnings = lab.warnings();
  } catch (e) {
    if (!partial) throw e;
    warnings = lab?.warnings() ?? 0;
    return { results, warnings, false_failovers, error: (e as Error).message.split("\n")[0] };
  } finally {
    await destroyCluster(c);
  }
  return { results, warnings, false_failovers };
}

// ---------------------------------------------------------------------------
// Statistics and tables.

export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function renderTable(head: string[], body: string[][]): string {
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (c ?? "").padEnd(w[i]!)).join(" | ")} |`;
  return [line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...body.map(line)].join("\n");
}
export const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");
export const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
export const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
