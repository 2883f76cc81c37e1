// bench/jitter: timing under load (issue 5). tandem, Heartbeat 3.0.6 and
// keepalived 2.2.7 side by side in their own namespaces (bench/labs.ts) under
// one host-wide stress-ng, the method of /work/shared/reference/anchors
// ("Under load": stress-soak.sh, stress-failover.sh).
//
//   jitter  clusters side by side: idle for --idle-s, then --load-s under
//           stress-ng. tcpdump -B 32768 on br0 in each lab's lan namespace
//           (kernel timestamps): inter-arrival of each node's heartbeats
//           (tandem: TNDM frames of kind heartbeat; Heartbeat: t=status;
//           keepalived: every VRRP advert, only the master sends), pooled per
//           cluster: p50/p99/p99.9/max and gaps over 2 x interval and over
//           deadtime (keepalived: node2's VRRPv3 master-down, 3 x advert +
//           skew). Also false failovers, tandem's late_heartbeat events, and
//           each tandem thread's run-queue wait (/proc/PID/task/TID/schedstat,
//           sampled every second: the largest wait in one second, and whose).
//   soak    the same side by side at deadtime 100 ms for --soak-minutes under
//           load after --soak-control-s idle: false failovers per system
//           (deaths / takeovers / MASTER transitions in the logs, the VIP seen
//           on the standby in 1 s polls). Target: none for tandem realtime on.
//   crash   stress-ng on; --runs crash failovers per system (the anchors'
//           SIGSTOP + cable + SIGKILL fault, 10 ms ICMP probe from a client,
//           bench/labs.ts failoverRuns): tandem 20/100, keepalived advert_int
//           0.1, Heartbeat 20/100. Targets: tandem median <= 110 ms and <= 0.4 x
//           keepalived's median in the same run.
// stress-ng (default `--cpu 2 --vm 2 --vm-bytes 1G --io 1`, --stress to change)
// is started by this process in its own session (so tandem and keepalived, in
// ours, do not share its scheduling autogroup; Heartbeat calls setsid()
// itself), with --timeout as a bound, and killed with its workers by PID when
// the phase ends, on any error, on SIGINT/SIGTERM and at exit. Loadavg is
// printed at every phase boundary (the machine is shared).
//
//   ./node_modules/.bin/bun bench/jitter.ts --quick       # ~5 min: 15 s + 20 s jitter, 1 min soak, 3 runs
//   ./node_modules/.bin/bun bench/jitter.ts               # full: 60 s + 120 s jitter, 15 min soak, 10 runs (~30 min)
//   options: --phases jitter,soak,crash --idle-s N --load-s N --soak-minutes M
//            --soak-control-s N --runs N --stress "ARGS" --json PATH --quick
//            --rr-timeslice-ms N   kernel.sched_rr_timeslice_ms for the run (restored)
// Writes bench/results/jitter-<date>.json unless --json says otherwise.
// Uses dist/tandem when newer than src/ ($TANDEM_BIN overrides), else src/main.ts.
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { preferredCommand } from "../src/lab/daemons.ts";
import type { Cluster, Proc } from "../src/lab/netns.ts";
import { unavailableReason } from "../src/lab/netns.ts";
import {
  cleanup_hooks,
  destroyCluster,
  f0,
  f1,
  failoverRuns,
  hasVip,
  type Lab,
  label,
  loadavg,
  log,
  makeLab,
  median,
  newCluster,
  nsPids,
  setRrTimeslice,
  pct,
  type RunResult,
  renderTable,
  type Setting,
  TandemLab,
} from "./labs.ts";

// ---------------------------------------------------------------------------
// Configurations

const jitter_settings: Setting[] = [
  { system: "tandem", keepalive_ms: 10, deadtime_ms: 30 },
  { system: "tandem", keepalive_ms: 10, deadtime_ms: 30, realtime: false },
  { system: "heartbeat", keepalive_ms: 10, deadtime_ms: 50 },
  { system: "heartbeat", keepalive_ms: 20, deadtime_ms: 100 },
  { system: "keepalived", advert_s: 0.01 },
  { system: "keepalived", advert_s: 0.1 },
];
const soak_settings: Setting[] = [
  { system: "tandem", keepalive_ms: 20, deadtime_ms: 100 },
  { system: "tandem", keepalive_ms: 20, deadtime_ms: 100, realtime: false },
  { system: "heartbeat", keepalive_ms: 20, deadtime_ms: 100 },
  { system: "keepalived", advert_s: 0.1 },
  { system: "keepalived", advert_s: 0.01 },
];
const crash_settings: Setting[] = [
  { system: "tandem", keepalive_ms: 20, deadtime_ms: 100 },
  { system: "keepalived", advert_s: 0.1 },
  { system: "heartbeat", keepalive_ms: 20, deadtime_ms: 100 },
];

/** heartbeat interval of a setting, ms */
function intervalOf(s: Setting): number {
  return s.system === "keepalived" ? s.advert_s! * 1000 : s.keepalive_ms!;
}
/** the gap that makes the peer act: deadtime, or node2's VRRPv3 master-down (3 x advert + (256 - 100) / 256 x advert) */
function deadGapOf(s: Setting): number {
  return s.system === "keepalived" ? (3 + 156 / 256) * s.advert_s! * 1000 : s.deadtime_ms!;
}

// ---------------------------------------------------------------------------
// Load: one stress-ng for the whole machine, ours by PID.

/** every descendant of pid (PPID walk over /proc, bounded) */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const todo = [...(children.get(pid) ?? [])];
  while (todo.length > 0 && out.length < 1000) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

function killAll(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // gone
    }
  }
}

class Stress {
  private pid: number | null = null;
  private exited: Promise<void> | null = null;
  private hook = () => this.killSync();
  constructor(readonly args: string[]) {}

  /** start stress-ng bounded by timeout_s; resolves once its workers run */
  async start(timeout_s: number): Promise<void> {
    if (this.pid !== null) throw new Error("stress-ng already running");
    // detached: its own session and so its own scheduling autogroup (see the header)
    const p = spawn("stress-ng", [...this.args, "--timeout", `${Math.ceil(timeout_s)}s`], { detached: true, stdio: "ignore" });
    if (p.pid === undefined) throw new Error("stress-ng did not start (is it installed? ./run setup installs it)");
    this.pid = p.pid;
    this.exited = new Promise((r) => p.once("exit", () => r()));
    cleanup_hooks.add(this.hook);
    for (let i = 0; i < 50 && descendants(this.pid).length < 3; i++) await Bun.sleep(100);
    log(`stress-ng ${this.args.join(" ")} running (pid ${this.pid}, ${descendants(this.pid).length} workers; bound ${Math.ceil(timeout_s)} s)`);
  }

  /** TERM (stress-ng stops its workers), bounded wait, then KILL whatever of ours is left */
  async stop(): Promise<void> {
    if (this.pid === null) return;
    const pid = this.pid;
    const kids = descendants(pid);
    killAll([pid], "SIGTERM");
    await Promise.race([this.exited, Bun.sleep(5000)]);
    killAll([pid, ...kids, ...descendants(pid)], "SIGKILL");
    for (let i = 0; i < 50 && kids.some(alive); i++) await Bun.sleep(100);
    this.pid = null;
    cleanup_hooks.delete(this.hook);
    log(`stress-ng stopped (loadavg ${loadavg()})`);
  }

  killSync(): void {
    if (this.pid === null) return;
    killAll([this.pid, ...descendants(this.pid)], "SIGKILL");
    this.pid = null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Capture: tcpdump on the lab's bridge, parsed here (pcap is simple).

interface Packet {
  /** wall-clock ms (kernel timestamp) */
  t: number;
  src: string;
}

class Capture {
  readonly file: string;
  proc: Proc | null = null;
  constructor(readonly c: Cluster) {
    this.file = join(c.tmp, "br0.pcap");
  }
  async start(): Promise<void> {
    // -B 32768: a big buffer, so a stalled tcpdump drops nothing (its count is checked)
    this.proc = this.c.spawn(this.c.lan_ns, ["tcpdump", "-i", "br0", "-n", "-B", "32768", "-s", "256", "-w", this.file, "udp port 694 or ip proto 112"]);
    const ok = await this.proc.waitLine(/listening on/, 10_000);
    if (!ok) throw new Error(`tcpdump did not start: ${this.proc.lines.slice(-3).join(" ")}`);
  }
  /** stop; returns tcpdump's "dropped by kernel" count */
  async stop(): Promise<number> {
    if (!this.proc) return 0;
    await this.proc.stop();
    const l = this.proc.lines.find((x) => /dropped by kernel/.test(x));
    return l ? Number(/(\d+) packets? dropped by kernel/.exec(l)?.[1] ?? 0) : 0;
  }
  /** heartbeats of the given system, in capture order */
  packets(system: Setting["system"]): Packet[] {
    const d = readFileSync(this.file);
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    if (d.length < 24) return [];
    const magic = dv.getUint32(0, true);
    const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
    const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
    if (dv.getUint32(20, le) !== 1) throw new Error(`${this.file}: link type ${dv.getUint32(20, le)}, expected Ethernet`);
    const out: Packet[] = [];
    const status = Buffer.from("t=status");
    let off = 24;
    while (off + 16 <= d.length) {
      const sec = dv.getUint32(off, le);
      const frac = dv.getUint32(off + 4, le);
      const incl = dv.getUint32(off + 8, le);
      const p = d.subarray(off + 16, off + 16 + incl);
      off += 16 + incl;
      if (p.length < 34 || p[12] !== 0x08 || p[13] !== 0x00) continue;
      const ip = p.subarray(14);
      const ihl = (ip[0]! & 0x0f) * 4;
      const proto = ip[9];
      const src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
      const t = sec * 1000 + frac / (nano ? 1e6 : 1e3);
      if (system === "keepalived") {
        if (proto === 112) out.push({ t, src });
        continue;
      }
      if (proto !== 17) continue;
      const u = ip.subarray(ihl + 8);
      if (system === "tandem") {
        // "TNDM", version 1, kind 1 = heartbeat (src/wire/native.ts)
        if (u.length > 6 && u[0] === 0x54 && u[1] === 0x4e && u[2] === 0x44 && u[3] === 0x4d && u[5] === 1) out.push({ t, src });
      } else {
        const i = u.indexOf(status);
        // netstring "(0)t=status," or classic "\nt=status\n"
        if (i > 0 && (u[i - 1] === 0x29 || u[i - 1] === 0x0a)) out.push({ t, src });
      }
    }
    return out;
  }
}

/** inter-arrival gaps per sender, for pairs that both fall in [from, to) */
function gaps(pk: Packet[], from: number, to: number): number[] {
  const last = new Map<string, number>();
  const out: number[] = [];
  for (const p of pk) {
    if (p.t < from || p.t >= to) continue;
    const l = last.get(p.src);
    if (l !== undefined) out.push(p.t - l);
    last.set(p.src, p.t);
  }
  return out;
}

/** gaps longer than `over_ms`, with the wall-clock time each ended (at most 50) */
function longGaps(pk: Packet[], from: number, to: number, over_ms: number): { end: string; ms: number }[] {
  const last = new Map<string, number>();
  const out: { end: string; ms: number }[] = [];
  for (const p of pk) {
    if (p.t < from || p.t >= to) continue;
    const l = last.get(p.src);
    if (l !== undefined && p.t - l > over_ms && out.length < 50) out.push({ end: new Date(p.t).toISOString(), ms: Math.round(p.t - l) });
    last.set(p.src, p.t);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Thread waits: /proc/PID/task/TID/schedstat field 2 is the time spent
// runnable but waiting for a CPU (ns), per thread.

interface ThreadWait {
  /** largest wait accumulated in one 1 s sample, ms, and whose */
  max_ms: number;
  thread: string;
  /** threads seen, and how many ran SCHED_RR / FIFO at the last sample */
  threads: number;
  threads_rt: number;
}

class WaitSampler {
  private prev = new Map<string, number>();
  readonly by_pid = new Map<number, ThreadWait>();
  sample(pids: number[]): void {
    for (const pid of pids) {
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      const w = this.by_pid.get(pid) ?? { max_ms: 0, thread: "-", threads: 0, threads_rt: 0 };
      let rt = 0;
      for (const tid of tids.slice(0, 256)) {
        try {
          const delay = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]) / 1e6;
          const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
          const policy = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38]);
          if (policy === 1 || policy === 2) rt++;
          const key = `${pid}/${tid}`;
          const p = this.prev.get(key);
          this.prev.set(key, delay);
          if (p !== undefined && delay - p > w.max_ms) {
            w.max_ms = delay - p;
            w.thread = `${readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()}(${tid})`;
          }
        } catch {
          // thread gone
        }
      }
      w.threads = tids.length;
      w.threads_rt = rt;
      this.by_pid.set(pid, w);
    }
  }
}

/** policy/priority/autogroup of every process in a namespace, e.g. "heartbeat RR1 ag7 x4" */
function schedSummary(pids: number[]): string {
  const seen = new Map<string, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const policy = ["OTHER", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE"][Number(f[38])] ?? f[38];
      const prio = Number(f[37]);
      const ag = /autogroup-(\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, "utf8"))?.[1] ?? "?";
      const k = `${comm} ${policy}${prio > 0 ? prio : ""} ag${ag}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    } catch {
      // gone
    }
  }
  return [...seen].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(", ");
}

// ---------------------------------------------------------------------------
// Side by side: every setting in its own cluster, one timeline, phases.

interface PhaseSpec {
  name: string;
  seconds: number;
  load: boolean;
}

interface PhaseRow {
  setting: Setting;
  phase: string;
  load: boolean;
  seconds: number;
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  over_2x: number;
  over_dead: number;
  false_failovers: number;
  vip_on_standby_polls: number;
  /** tandem: late_heartbeat events and their largest gap; Heartbeat: "Late heartbeat" lines */
  late: number;
  late_gap_max_ms: number | null;
  /** tandem: the largest one-second run-queue wait of any daemon thread */
  wait_max_ms: number | null;
  wait_thread: string | null;
  threads: string | null;
  loadavg_end: string;
  /** gaps over deadtime and when they ended: tells a machine-wide freeze (every system at once) from one system's */
  dead_gaps?: { end: string; ms: number }[];
  error?: string;
}

interface Running {
  s: Setting;
  lab: Lab | null;
  cap: Capture | null;
  error?: string;
  sched?: string;
}

async function sideBySide(what: string, settings: Setting[], phases: PhaseSpec[], stress: Stress): Promise<{ rows: PhaseRow[]; sched: Record<string, string>; dropped: Record<string, number> }> {
  const labs: Running[] = [];
  const rows: PhaseRow[] = [];
  try {
    for (const s of settings) {
      const r: Running = { s, lab: null, cap: null };
      labs.push(r);
      try {
        const c = await newCluster();
        r.lab = makeLab(c, s);
        await r.lab.prepare();
        await r.lab.startAll(60_000);
        r.cap = new Capture(c);
        await r.cap.start();
      } catch (e) {
        r.error = (e as Error).message.split("\n")[0];
        log(`${what}: ${s.system} ${label(s)} did not start: ${r.error}`);
      }
    }
    await Bun.sleep(2000);
    const up = labs.filter((l) => !l.error);
    for (const l of up) l.sched = schedSummary((await Promise.all(l.lab!.c.nodes.map((h) => nsPids(h.ns)))).flat());
    const marks: { start: number; end: number; events: number[]; warns: number[]; vip: number[]; la: string; late: { n: number; max: number }[]; waits: WaitSampler }[] = [];
    for (const ph of phases) {
      if (ph.seconds <= 0) continue;
      if (ph.load) await stress.start(ph.seconds + 30);
      try {
        log(`${what}: phase ${ph.name} (${ph.load ? "stress-ng" : "no load"}) ${ph.seconds} s, ${up.length} clusters, loadavg ${loadavg()}`);
        const m = { start: Date.now(), end: 0, events: up.map((l) => l.lab!.failoverEvents()), warns: up.map((l) => l.lab!.warnings()), vip: up.map(() => 0), la: "", late: up.map(() => ({ n: 0, max: 0 })), waits: new WaitSampler() };
        const tp = up.flatMap((l) => daemonPids(l.lab!));
        m.waits.sample(tp);
        const end = performance.now() + ph.seconds * 1000;
        let next_report = performance.now() + 60_000;
        while (performance.now() < end) {
          for (const [i, l] of up.entries()) if (await hasVip(l.lab!.c, l.lab!.node(2))) m.vip[i]!++;
          m.waits.sample(tp);
          if (performance.now() >= next_report) {
            next_report += 60_000;
            log(`${what} ${ph.name}: ${up.map((l, i) => `${l.s.system} ${label(l.s)}: ${l.lab!.failoverEvents() - m.events[i]!}`).join(", ")}; loadavg ${loadavg()}`);
          }
          await Bun.sleep(Math.min(1000, Math.max(1, end - performance.now())));
        }
        m.end = Date.now();
        m.la = loadavg();
        marks.push(m);
        for (const [i, l] of up.entries()) {
          const ev = l.lab!.failoverEvents() - m.events[i]!;
          const warn = l.lab!.warnings() - m.warns[i]!;
          const late = tandemLate(l.lab!, m.start, m.end);
          const waits = l.s.system === "tandem" ? [...m.waits.by_pid.entries()].filter(([pid]) => daemonPids(l.lab!).includes(pid)) : [];
          const worst = waits.reduce<[number, ThreadWait] | null>((a, b) => (a === null || b[1].max_ms > a[1].max_ms ? b : a), null);
          rows.push({
            setting: l.s,
            phase: ph.name,
            load: ph.load,
            seconds: ph.seconds,
            n: 0,
            p50: Number.NaN,
            p99: Number.NaN,
            p999: Number.NaN,
            max: Number.NaN,
            over_2x: 0,
            over_dead: 0,
            false_failovers: ev,
            vip_on_standby_polls: m.vip[i]!,
            late: warn,
            late_gap_max_ms: late ? late.max : null,
            wait_max_ms: worst ? worst[1].max_ms : null,
            wait_thread: worst ? worst[1].thread : null,
            threads: waits.length ? waits.map(([, w]) => `${w.threads_rt}/${w.threads} RT`).join(", ") : null,
            loadavg_end: m.la,
          });
        }
      } finally {
        if (ph.load) await stress.stop();
      }
    }
    const dropped: Record<string, number> = {};
    for (const l of up) {
      dropped[`${l.s.system} ${label(l.s)}`] = await l.cap!.stop();
      const pk = l.cap!.packets(l.s.system);
      for (const r of rows.filter((x) => x.setting === l.s)) {
        const m = marks[phases.filter((p) => p.seconds > 0).findIndex((p) => p.name === r.phase)]!;
        const g = gaps(pk, m.start, m.end);
        const iv = intervalOf(l.s);
        Object.assign(r, { n: g.length, p50: pct(g, 50), p99: pct(g, 99), p999: pct(g, 99.9), max: g.length ? g.reduce((a, b) => Math.max(a, b), 0) : Number.NaN, over_2x: g.filter((x) => x > 2 * iv).length, over_dead: g.filter((x) => x > deadGapOf(l.s)).length, dead_gaps: longGaps(pk, m.start, m.end, deadGapOf(l.s)) });
      }
    }
    for (const l of labs.filter((x) => x.error)) rows.push({ setting: l.s, phase: "-", load: false, seconds: 0, n: 0, p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN, over_2x: 0, over_dead: 0, false_failovers: -1, vip_on_standby_polls: 0, late: 0, late_gap_max_ms: null, wait_max_ms: null, wait_thread: null, threads: null, loadavg_end: loadavg(), error: l.error });
    const sched: Record<string, string> = {};
    for (const l of up) sched[`${l.s.system} ${label(l.s)}`] = l.sched ?? "";
    return { rows, sched, dropped };
  } finally {
    await stress.stop();
    for (const l of labs) if (l.lab) await destroyCluster(l.lab.c);
  }
}

/** tandem's daemon PIDs in a lab (none for the other systems) */
function daemonPids(lab: Lab): number[] {
  if (!(lab instanceof TandemLab)) return [];
  return [...lab.d.values()].map((d) => (d.running ? d.proc!.pid : null)).filter((p): p is number => p !== null);
}

/** tandem's late_heartbeat events in [from, to]: count and largest gap */
function tandemLate(lab: Lab, from: number, to: number): { n: number; max: number } | null {
  if (!(lab instanceof TandemLab)) return null;
  const ev = [...lab.d.values()].flatMap((d) => d.events).filter((e) => e.event === "late_heartbeat" && e.t >= from && e.t <= to);
  return { n: ev.length, max: ev.reduce((a, e) => Math.max(a, Number(e.fields.gap_ms) || 0), 0) };
}

/** gaps over 1 s in time order, every system together: a freeze of the whole machine shows as one line per system at the same moment */
function freezes(rows: PhaseRow[]): string {
  const all = rows.flatMap((r) => (r.dead_gaps ?? []).filter((g) => g.ms >= 1000).map((g) => ({ ...g, who: `${r.setting.system} ${label(r.setting)}` })));
  all.sort((a, b) => a.end.localeCompare(b.end));
  if (all.length === 0) return "gaps over 1 s: none";
  return `gaps over 1 s (end time, length, cluster):\n${all.slice(0, 40).map((g) => `  ${g.end} ${g.ms} ms ${g.who}`).join("\n")}`;
}

function jitterTable(rows: PhaseRow[]): string {
  return renderTable(
    ["system", "settings", "phase", "n", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "gaps > 2x", "gaps > dead", "false failovers", "VIP on standby", "late warnings (max gap ms)", "tandem threads: worst 1 s run-queue wait ms", "loadavg end"],
    rows.map((r) => [
      r.setting.system,
      label(r.setting),
      r.error ? "did not start" : `${r.phase}${r.load ? " (load)" : ""}`,
      String(r.n),
      f1(r.p50),
      f1(r.p99),
      f1(r.p999),
      f1(r.max),
      String(r.over_2x),
      `${r.over_dead} (> ${f1(deadGapOf(r.setting))})`,
      r.error ? r.error : String(r.false_failovers),
      String(r.vip_on_standby_polls),
      r.setting.system === "keepalived" ? "-" : `${r.late}${r.late_gap_max_ms ? ` (${r.late_gap_max_ms})` : ""}`,
      r.wait_max_ms === null ? "" : `${f1(r.wait_max_ms)} ${r.wait_thread} [${r.threads}]`,
      r.loadavg_end,
    ]),
  );
}

// ---------------------------------------------------------------------------
// Crash failovers under load.

interface CrashRow {
  setting: Setting;
  results: RunResult[];
  errors: string[];
  false_failovers: number;
  warnings: number;
  loadavg_start: string;
  loadavg_end: string;
}

async function crashes(runs: number, stress: Stress, settings: Setting[]): Promise<CrashRow[]> {
  const out: CrashRow[] = [];
  await stress.start(4 * 3600);
  try {
    await Bun.sleep(10_000); // the anchors' warm-up
    for (const s of settings) {
      const row: CrashRow = { setting: s, results: [], errors: [], false_failovers: 0, warnings: 0, loadavg_start: loadavg(), loadavg_end: "" };
      // a series can end early under load (a rejoin that times out): fresh clusters until `runs` (bounded)
      for (let attempt = 0; attempt < 4 && row.results.length < runs; attempt++) {
        log(`crash: ${s.system} ${label(s)}: ${runs - row.results.length} runs (attempt ${attempt + 1}, loadavg ${loadavg()})`);
        try {
          const r = await failoverRuns(s, runs - row.results.length, true);
          row.results.push(...r.results.map((x) => ({ ...x, run: row.results.length + x.run })));
          row.false_failovers += r.false_failovers;
          row.warnings += r.warnings;
          if (r.error) row.errors.push(r.error);
        } catch (e) {
          row.errors.push((e as Error).message.split("\n")[0]!);
        }
      }
      row.loadavg_end = loadavg();
      out.push(row);
    }
  } finally {
    await stress.stop();
  }
  return out;
}

function okMs(r: CrashRow): number[] {
  return r.results.map((x) => x.failover_ms).filter((x): x is number => x !== null);
}

function crashTable(rows: CrashRow[]): string {
  const ka = rows.find((r) => r.setting.system === "keepalived");
  const ka_med = ka ? median(okMs(ka)) : Number.NaN;
  return renderTable(
    ["system", "settings", "runs ok", "failover ms min / median / max", "GARP at client ms median", "tandem: fault->dead / dead->IP up ms median", "ratio to keepalived 0.1 median", "false failovers / late warnings", "loadavg start / end"],
    rows.map((r) => {
      const v = okMs(r);
      const num = (f: (x: RunResult) => unknown) => r.results.map(f).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
      const det = num((x) => x.detect_ms);
      const ip = num((x) => (typeof x.ip_ms === "number" && typeof x.detect_ms === "number" ? x.ip_ms - x.detect_ms : null));
      return [
        r.setting.system,
        label(r.setting),
        `${v.length}/${r.results.length}${r.errors.length ? ` (${r.errors.length} series cut short)` : ""}`,
        `${f0(Math.min(...v))} / ${f0(median(v))} / ${f0(Math.max(...v))}`,
        f0(median(num((x) => x.garp_ms))),
        det.length ? `${f0(median(det))} / ${f0(median(ip))}` : "",
        Number.isFinite(ka_med) ? (median(v) / ka_med).toFixed(2) : "-",
        `${r.false_failovers} / ${r.warnings}`,
        `${r.loadavg_start} / ${r.loadavg_end}`,
      ];
    }),
  );
}

// ---------------------------------------------------------------------------
// CLI

const usage = `usage: bun bench/jitter.ts [--phases jitter,soak,crash] [--systems tandem,heartbeat,keepalived] [--idle-s N] [--load-s N]
       [--soak-minutes M] [--soak-control-s N] [--runs N] [--stress "ARGS"] [--rr-timeslice-ms N] [--json PATH] [--quick]`;
const all_phases = ["jitter", "soak", "crash"];

function parseCli(argv: string[]) {
  let values: Record<string, string | boolean | undefined>;
  const bad = (m: string): never => {
    process.stderr.write(`bench/jitter: ${m}\n${usage}\n`);
    process.exit(2);
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        phases: { type: "string" },
        systems: { type: "string" },
        "idle-s": { type: "string" },
        "load-s": { type: "string" },
        "soak-minutes": { type: "string" },
        "soak-control-s": { type: "string" },
        runs: { type: "string" },
        stress: { type: "string" },
        "rr-timeslice-ms": { type: "string" },
        json: { type: "string" },
        quick: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return bad((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const num = (name: string, dflt: number, lo: number, hi: number): number => {
    const v = values[name];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (typeof v !== "string" || !/^\d+(\.\d+)?$/.test(v) || n < lo || n > hi) bad(`--${name} must be a number ${lo}..${hi}, got ${JSON.stringify(v)}`);
    return n;
  };
  const phases = String(values.phases ?? all_phases.join(",")).split(",");
  for (const p of phases) if (!all_phases.includes(p)) bad(`unknown phase ${JSON.stringify(p)} (jitter, soak, crash)`);
  const systems = String(values.systems ?? "tandem,heartbeat,keepalived").split(",");
  for (const x of systems) if (!["tandem", "heartbeat", "keepalived"].includes(x)) bad(`unknown system ${JSON.stringify(x)} (tandem, heartbeat, keepalived)`);
  const stress = String(values.stress ?? "--cpu 2 --vm 2 --vm-bytes 1G --io 1").split(/\s+/).filter((x) => x !== "");
  if (stress.some((a) => /^--timeout/.test(a))) bad("--stress must not set --timeout: the bench bounds stress-ng itself");
  return {
    phases,
    systems,
    idle_s: num("idle-s", quick ? 15 : 60, 0, 3600),
    load_s: num("load-s", quick ? 20 : 120, 1, 3600),
    soak_min: num("soak-minutes", quick ? 1 : 15, 0.1, 240),
    soak_control_s: num("soak-control-s", quick ? 0 : 60, 0, 3600),
    runs: num("runs", quick ? 3 : 10, 1, 100),
    /** kernel.sched_rr_timeslice_ms for the run (restored at exit); 0: leave it */
    rr_timeslice_ms: num("rr-timeslice-ms", 0, 0, 1000),
    stress,
    json: (values.json as string | undefined) ?? join(import.meta.dir, "results", `jitter-${new Date().toISOString().slice(0, 10)}.json`),
  };
}

async function main(): Promise<number> {
  const o = parseCli(process.argv.slice(2));
  const pick = (ss: Setting[]) => ss.filter((s) => o.systems.includes(s.system));
  const why = await unavailableReason();
  if (why) {
    process.stderr.write(`bench/jitter: needs root and network namespaces: ${why}\n`);
    return 1;
  }
  if (!Bun.which("stress-ng") || !Bun.which("tcpdump")) {
    process.stderr.write("bench/jitter: needs stress-ng and tcpdump (./run setup installs them)\n");
    return 1;
  }
  const started = new Date();
  const cmd = preferredCommand();
  const rr = setRrTimeslice(o.rr_timeslice_ms);
  const stress = new Stress(o.stress);
  console.log(`jitter benchmark ${started.toISOString()}: tandem = ${cmd.why}; phases ${o.phases.join(",")}; stress-ng ${o.stress.join(" ")}; ${rr.note}; nproc ${navigator.hardwareConcurrency}; loadavg ${loadavg()}`);
  const report: Record<string, unknown> = { started: started.toISOString(), tandem: cmd.why, stress: o.stress, options: o, sched_rr_timeslice_ms: Number(rr.now), loadavg_start: loadavg() };
  const save = () => {
    mkdirSync(join(import.meta.dir, "results"), { recursive: true });
    writeFileSync(o.json, JSON.stringify(report, null, 1));
  };

  if (o.phases.includes("jitter")) {
    const r = await sideBySide("jitter", pick(jitter_settings), [
      { name: "idle", seconds: o.idle_s, load: false },
      { name: "load", seconds: o.load_s, load: true },
    ], stress);
    console.log(`\njitter: inter-arrival of each node's heartbeats at the bridge (tcpdump, kernel timestamps), ${pick(jitter_settings).length} clusters side by side, ${o.idle_s} s idle then ${o.load_s} s under stress-ng`);
    console.log(jitterTable(r.rows));
    console.log(freezes(r.rows));
    console.log(`scheduling: ${Object.entries(r.sched).map(([k, v]) => `${k}: ${v}`).join("; ")}`);
    console.log(`tcpdump drops: ${Object.entries(r.dropped).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    report.jitter = r;
    save();
  }
  if (o.phases.includes("soak")) {
    const r = await sideBySide("soak", pick(soak_settings), [
      { name: "control", seconds: o.soak_control_s, load: false },
      { name: "soak", seconds: Math.round(o.soak_min * 60), load: true },
    ], stress);
    console.log(`\nsoak: deadtime 100 ms (keepalived: its master-down), ${pick(soak_settings).length} clusters side by side, ${o.soak_control_s} s idle then ${o.soak_min} min under stress-ng; no fault injected`);
    console.log(jitterTable(r.rows));
    console.log(freezes(r.rows));
    console.log(`scheduling: ${Object.entries(r.sched).map(([k, v]) => `${k}: ${v}`).join("; ")}`);
    const t = r.rows.find((x) => x.setting.system === "tandem" && x.setting.realtime !== false && x.load);
    if (t) console.log(`target: tandem 20/100 ms realtime on, false failovers under load: ${t.false_failovers} (target 0) ${t.false_failovers === 0 && t.vip_on_standby_polls === 0 ? "met" : "MISSED"}`);
    report.soak = r;
    save();
  }
  if (o.phases.includes("crash")) {
    const rows = await crashes(o.runs, stress, pick(crash_settings));
    console.log(`\ncrash failover under stress-ng (SIGSTOP + cable + SIGKILL on the holder; 10 ms ICMP probe; ${o.runs} runs per system, all under one stress-ng)`);
    console.log(crashTable(rows));
    const t = rows.find((r) => r.setting.system === "tandem");
    const ka = rows.find((r) => r.setting.system === "keepalived");
    if (t) {
      const m = median(okMs(t));
      console.log(`target: tandem median ${f1(m)} ms (target <= 110) ${m <= 110 ? "met" : "MISSED"}`);
      if (ka) {
        const ratio = m / median(okMs(ka));
        console.log(`target: tandem / keepalived advert_int 0.1 median ${ratio.toFixed(2)} (target <= 0.4) ${ratio <= 0.4 ? "met" : "MISSED"}`);
      }
    }
    for (const r of rows) for (const e of r.errors) console.log(`  ${r.setting.system} ${label(r.setting)}: series cut short: ${e}`);
    report.crash = rows;
    save();
  }
  report.loadavg_end = loadavg();
  save();
  console.log(`\nloadavg start ${report.loadavg_start}, end ${report.loadavg_end}; wrote ${o.json}`);
  return 0;
}

process.exitCode = await main();
