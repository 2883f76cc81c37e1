// bench/detection: how late does tandem declare a dead peer, and what does
// it cost to run? Two real daemons in network namespaces (two links each),
// per keepalive setting:
//   idle:  RSS (VmRSS, VmHWM) and CPU of node1 over IDLE_S seconds, peer up
//   kills: KILLS x (SIGKILL node2, wait for node1's node_dead, restart node2,
//          wait for the rejoin); lateness = declared - (last heard + deadtime),
//          as the survivor computes it on its monotonic clock (lateness_ms in
//          the node_dead event), and kill_to_dead_ms = the event's wall time
//          minus the kill's (ms resolution; includes deadtime).
//   heartbeat: in the same idle window, Debian's Heartbeat 3.0.6 in its own
//          two-node cluster (same links, keepalive, deadtime, warntime;
//          membership only, sha1): CPU and RSS of node1 summed over ALL of
//          its processes (master, FIFO reader, one write + one read child
//          per link), as an admin's `ps` shows them (shared pages counted
//          once per process). HEARTBEAT=0 skips it.
// CPU is utime+stime from /proc/PID/stat (all threads; clock ticks), which
// other load on the machine barely changes; wakeups/s = voluntary context
// switches of all threads (/proc/PID/task/*/status), i.e. how often the
// process went to sleep and was woken.
// Printed as a table; the README records a run. Targets (issue 3): lateness
// median <= 1 ms and p99 <= 5 ms; RSS <= 45 MB; idle CPU no higher than
// Heartbeat's at the same keepalive.
//
//   ./run bench                       # KILLS=40 IDLE_S=20 KEEPALIVES=10,50,100
//   KILLS=10 IDLE_S=5 ./run bench     # quick
//   KILLS=0 KEEPALIVES=100,500 ...    # idle cost only (WARMUP_S=30 before the idle window)
import { readdirSync, readFileSync } from "node:fs";
import { LabDaemon, preferredCommand } from "../src/lab/daemons.ts";
import { HeartbeatNode, heartbeatMissing } from "../src/lab/heartbeat.ts";
import { authkeys, type Cluster, createCluster, haCf, unavailableReason, writeConfigDir } from "../src/lab/netns.ts";

const kills = intEnv("KILLS", 40, 0, 10_000);
const idle_s = intEnv("IDLE_S", 20, 1, 3600);
const keepalives = (process.env.KEEPALIVES ?? "10,50,100").split(",").map((s) => Number(s));
const deadtime_factor = intEnv("DEADTIME_FACTOR", 5, 3, 100);
const with_heartbeat = process.env.HEARTBEAT !== "0";
// JSC compiles the hot paths during the first tens of seconds (JIT threads
// busy, code pages faulted in); a daemon runs for months, so idle cost is
// measured after this warm-up (both systems, same window)
const warmup_s = intEnv("WARMUP_S", 30, 0, 3600);

function intEnv(name: string, dflt: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`bench: ${name}=${v} must be an integer ${min}..${max}\n`);
    process.exit(2);
  }
  return n;
}

interface Row {
  keepalive_ms: number;
  deadtime_ms: number;
  kills: number;
  lateness_ms: number[];
  kill_to_dead_ms: number[];
  rss_kb: number;
  hwm_kb: number;
  /** RssAnon: the daemon's own memory; the rest of RSS is clean, shared executable pages */
  anon_kb: number;
  cpu_pct: number;
  /** voluntary context switches per second, all threads */
  wakeups_s: number;
  threads: number;
  /** node_dead events on node1 beyond the kills */
  false_deaths: number;
  /** Heartbeat 3.0.6's node1 over the same idle window, or why not */
  hb: Usage | string | null;
}

interface Usage {
  procs: number;
  rss_kb: number;
  anon_kb: number;
  cpu_pct: number;
  wakeups_s: number;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function procStatus(pid: number): { rss_kb: number; hwm_kb: number; anon_kb: number } {
  const t = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(t)?.[1] ?? Number.NaN);
  return { rss_kb: kb("VmRSS"), hwm_kb: kb("VmHWM"), anon_kb: kb("RssAnon") };
}

/** voluntary context switches per thread ("pid/tid" -> count) */
function switches(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(`${pid}/${tid}`, Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"))?.[1] ?? 0));
    } catch {
      // thread gone
    }
  }
  return out;
}

function threadCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

/** Sampled at the start and end of an idle window. */
class Window {
  private t0 = performance.now();
  private c0: number;
  private w0: Map<string, number>;
  constructor(private pids: number[]) {
    this.c0 = sum(pids, cpuTicks);
    this.w0 = new Map(pids.flatMap((p) => [...switches(p)]));
  }
  end(): Usage {
    const secs = (performance.now() - this.t0) / 1000;
    const st = this.pids.map(procStatus);
    // per thread: a thread that ended during the window takes its count
    // with it (not counted), one that started counts from zero
    let woke = 0;
    for (const p of this.pids) for (const [k, n] of switches(p)) woke += n - (this.w0.get(k) ?? 0);
    return {
      procs: this.pids.length,
      rss_kb: st.reduce((a, x) => a + x.rss_kb, 0),
      anon_kb: st.reduce((a, x) => a + x.anon_kb, 0),
      cpu_pct: ((sum(this.pids, cpuTicks) - this.c0) / 100 / secs) * 100,
      wakeups_s: woke / secs,
    };
  }
}

function sum(pids: number[], f: (pid: number) => number): number {
  return pids.reduce((a, p) => a + f(p), 0);
}

/** Heartbeat 3.0.6 on both nodes of its own cluster, membership only: node1's processes once node2 is up, or why not. */
async function startHeartbeat(keepalive_ms: number, deadtime_ms: number, warntime_ms: number): Promise<{ c: Cluster; hb: HeartbeatNode[]; pids: number[] } | string> {
  const missing = heartbeatMissing();
  if (missing) return missing;
  const c = await createCluster({ nodes: 2, links: 2 });
  const hb = c.nodes.map((h) => new HeartbeatNode(c, h));
  try {
    for (const [i, h] of c.nodes.entries()) {
      const peer = c.nodes[1 - i]!;
      // per node, ucast to the peer on each link, as bench/labs.ts
      const media = peer.links.map((l) => `ucast ${l.iface} ${l.v4}`);
      await hb[i]!.configure({
        ha_cf: [`keepalive ${keepalive_ms}ms`, `warntime ${warntime_ms}ms`, `deadtime ${deadtime_ms}ms`, "initdead 3000ms", "udpport 694", ...media, "auto_failback off", "node node1", "node node2", ""].join("\n"),
        authkeys: "auth 1\n1 sha1 bench-secret\n",
      });
    }
    for (const n of hb) n.start();
    const deadline = performance.now() + 30_000;
    while (!hb[0]!.logged(/Status update for node node2: status active|node2.*status active/)) {
      if (performance.now() > deadline) throw new Error(`heartbeat: node1 never saw node2 active:\n${hb[0]!.log().split("\n").slice(-10).join("\n")}`);
      await Bun.sleep(100);
    }
    // node1's own processes: its master and descendants (nothing else runs in its namespace)
    const pids = (await hb[0]!.pids()).filter((p) => {
      try {
        // its long-lived processes (comm "heartbeat"), not the scripts it runs now and then
        return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "heartbeat";
      } catch {
        return false;
      }
    });
    return { c, hb, pids };
  } catch (e) {
    for (const n of hb) await n.kill();
    await c.destroy();
    throw e;
  }
}

/** utime+stime of a process, in clock ticks (USER_HZ = 100 on Linux). */
function cpuTicks(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0; // gone
  }
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(rest[11]) + Number(rest[12]);
}

async function measure(keepalive_ms: number): Promise<Row> {
  const deadtime_ms = keepalive_ms * deadtime_factor;
  const c = await createCluster({ nodes: 2, links: 2 });
  try {
    const cmd = preferredCommand().argv;
    const text = haCf(c, { keepalive_ms, deadtime_ms, warntime_ms: Math.floor((keepalive_ms + deadtime_ms) / 2) });
    const [n1, n2] = c.nodes.map((h) => {
      const d = new LabDaemon(c, h, cmd);
      writeConfigDir(d.dir, text, authkeys("bench-secret"));
      return d;
    }) as [LabDaemon, LabDaemon];
    await n1.start();
    await n2.start();
    if (!(await n1.waitEvent({ event: "node_up", node: "node2" }, 10_000))) throw new Error("node2 never came up on node1");
    const warntime_ms = Math.floor((keepalive_ms + deadtime_ms) / 2);
    let hb: Awaited<ReturnType<typeof startHeartbeat>> | null = null;
    let hb_usage: Usage | string | null = null;
    let idle: Usage;
    try {
      if (with_heartbeat) {
        try {
          hb = await startHeartbeat(keepalive_ms, deadtime_ms, warntime_ms);
        } catch (e) {
          hb = (e as Error).message.split("\n")[0]!;
        }
      }
      await Bun.sleep(Math.max(2, warmup_s) * 1000);
      const pid = n1.proc!.pid;
      // one window for both: the same load on the machine
      const w = new Window([pid]);
      const hw = hb && typeof hb !== "string" ? new Window(hb.pids) : null;
      await Bun.sleep(idle_s * 1000);
      idle = w.end();
      hb_usage = hw ? hw.end() : typeof hb === "string" ? hb : null;
    } finally {
      if (hb && typeof hb !== "string") {
        for (const n of hb.hb) await n.kill();
        await hb.c.destroy();
      }
    }
    const pid = n1.proc!.pid;
    const { rss_kb, hwm_kb, anon_kb } = procStatus(pid);
    const threads = threadCount(pid);

    const lateness_ms: number[] = [];
    const kill_to_dead_ms: number[] = [];
    for (let i = 0; i < kills; i++) {
      // let the heartbeat cadence settle after the rejoin: a kill right after
      // a restart would measure initdead handling, not deadtime
      await Bun.sleep(deadtime_ms + 50 + ((i * 7) % keepalive_ms));
      const from = n1.events.length;
      const killed_at = Date.now();
      n2.kill("SIGKILL");
      const dead = await n1.waitEvent({ event: "node_dead", node: "node2" }, deadtime_ms + 5000, from);
      if (!dead) throw new Error(`kill ${i}: node1 did not declare node2 dead`);
      if (dead.fields.reason !== "deadtime") throw new Error(`kill ${i}: unexpected reason ${dead.fields.reason}`);
      lateness_ms.push(Number(dead.fields.lateness_ms));
      kill_to_dead_ms.push(dead.t - killed_at);
      await n2.proc!.exited;
      const up_from = n1.events.length;
      await n2.start();
      if (!(await n1.waitEvent({ event: "node_up", node: "node2" }, 10_000, up_from))) throw new Error(`kill ${i}: node2 did not rejoin`);
    }
    // a death nobody caused (a stall under load): reported, not fatal, with its line
    const deaths = n1.events.filter((e) => e.event === "node_dead");
    const false_deaths = deaths.length - kills;
    if (false_deaths !== 0) process.stderr.write(`  keepalive ${keepalive_ms} ms: ${false_deaths} node_dead events nobody caused:\n${deaths.map((e) => `    ${e.line}`).join("\n")}\n`);
    return { keepalive_ms, deadtime_ms, kills, lateness_ms, kill_to_dead_ms, rss_kb, hwm_kb, anon_kb, cpu_pct: idle.cpu_pct, wakeups_s: idle.wakeups_s, threads, hb: hb_usage, false_deaths };
  } finally {
    await c.destroy();
  }
}

function table(rows: Row[]): string {
  const head = [
    "keepalive",
    "deadtime",
    "kills",
    "false deaths",
    "lateness p50",
    "p99",
    "max",
    "kill->dead p50",
    "RSS",
    "peak RSS",
    "anon",
    "idle CPU",
    "wakeups/s",
    "Heartbeat RSS (procs)",
    "HB anon",
    "HB idle CPU",
    "HB wakeups/s",
  ];
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");
  const body = rows.map((r) => [
    `${r.keepalive_ms} ms`,
    `${r.deadtime_ms} ms`,
    String(r.kills),
    String(r.false_deaths),
    `${f(pct(r.lateness_ms, 50))} ms`,
    `${f(pct(r.lateness_ms, 99))} ms`,
    `${f(Math.max(...r.lateness_ms))} ms`,
    r.kills > 0 ? `${pct(r.kill_to_dead_ms, 50).toFixed(0)} ms` : "-",
    `${(r.rss_kb / 1024).toFixed(1)} MB`,
    `${(r.hwm_kb / 1024).toFixed(1)} MB`,
    `${(r.anon_kb / 1024).toFixed(1)} MB`,
    `${r.cpu_pct.toFixed(2)}%`,
    r.wakeups_s.toFixed(0),
    ...(typeof r.hb === "object" && r.hb !== null
      ? [`${(r.hb.rss_kb / 1024).toFixed(1)} MB (${r.hb.procs})`, `${(r.hb.anon_kb / 1024).toFixed(1)} MB`, `${r.hb.cpu_pct.toFixed(2)}%`, r.hb.wakeups_s.toFixed(0)]
      : ["-", "-", "-", "-"]),
  ]);
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return [line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

const why = await unavailableReason();
if (why) {
  process.stderr.write(`bench: needs root and network namespaces: ${why}\n`);
  process.exit(1);
}
const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`tandem detection benchmark: ${preferredCommand().why}; kills=${kills} idle=${idle_s}s after ${warmup_s}s warm-up; deadtime=${deadtime_factor}x keepalive; loadavg ${load}`);
const rows: Row[] = [];
for (const k of keepalives) {
  if (!Number.isInteger(k) || k < 1) {
    process.stderr.write(`bench: KEEPALIVES must be integers (ms), got ${k}\n`);
    process.exit(2);
  }
  rows.push(await measure(k));
  process.stderr.write(`  keepalive ${k} ms done\n`);
}
console.log(table(rows));
for (const r of rows) if (typeof r.hb === "string") console.log(`keepalive ${r.keepalive_ms} ms: Heartbeat not measured: ${r.hb}`);
console.log(`tandem: one process (${rows.map((r) => r.threads).join("/")} threads); loadavg at the end ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
