// A CTS-style fault campaign on real nodes (Heartbeat's and Pacemaker's
// Cluster Test Suite, in miniature): two (or three) real `tandem` daemons in
// network namespaces with two links, fencing on, one resource group per
// node (native VIP + a Heartbeat resource.d script each), each node's state
// directory on its own small tmpfs, and a seeded schedule of faults:
// SIGKILL, SIGSTOP/SIGCONT, one link cut, all links cut (partition + heal),
// random packet loss (nftables in the node's namespace), graceful restart,
// agent start/monitor failing, agent stop hanging, fence agent failing or
// slow while the peer dies, admin standby, state directory full (ENOSPC),
// and without netem (this kernel has none): delay + jitter, duplication and
// reordering through a userspace relay in the node's links
// (test/cts/impair.ts), and clock steps through libfaketime: CLOCK_REALTIME
// stepped by seconds to hours (NTP), or both clocks jumped forward (a resumed
// VM) on the one node whose daemon fakes CLOCK_MONOTONIC too.
//
// Checked from outside, continuously and after each step:
//   once      at no instant does a group's VIP sit in two namespaces, or its
//             resource run on two nodes (sampled A-B-A every ~100 ms, so a
//             move between the two reads is not mistaken for an overlap)
//   held      within settle_ms of the heal, every group runs on exactly one
//             node: VIP in its namespace, resource running, status "running"
//   alive     no daemon exits unless the campaign or a fence killed it
//   kernel    a node's status says "running" exactly where the VIP is, and
//             a client namespace on the same LAN gets echo replies from it
//   gen       every start of a node's daemon has a generation greater than
//             all its earlier ones; with the state directory full a start
//             is refused (fatal, generation file unchanged), a running
//             daemon keeps answering `status` and `tandem events`
//   steady    delay, duplicate, reorder and clock_step (daemon running) are
//             within what membership must tolerate: no node judged dead
//             (node_dead reason=deadtime) and nobody fenced
// Every violation carries the seed and step; `bun test/cts/run.ts --seed S
// --steps N` replays the same schedule (timing on a real machine varies, the
// faults and their order do not).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, preferredCommand, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, writeConfigDir } from "../../src/lab/netns.ts";
import { Prng } from "../sim/prng.ts";
import { Impairment } from "./impair.ts";

export const fault_kinds = [
  "sigkill",
  "sigstop",
  "cut_one",
  "partition",
  "loss",
  "restart",
  "agent_start_fail",
  "agent_monitor_fail",
  "agent_stop_hang",
  "fence_fail",
  "fence_slow",
  "standby",
  "disk_full",
  "delay",
  "duplicate",
  "reorder",
  "clock_step",
  "clock_jump",
] as const;
export type FaultKind = (typeof fault_kinds)[number];
/** the kinds before the relay and libfaketime (the default suite's slice keeps its schedule) */
export const classic_kinds: readonly FaultKind[] = fault_kinds.slice(0, fault_kinds.indexOf("disk_full") + 1);
/** faults after which no node may be judged dead and nobody fenced */
const steady_kinds: readonly string[] = ["delay", "duplicate", "reorder", "clock_step"];

/** libfaketime (Debian package faketime), or null */
export function libfaketime(): string | null {
  for (const p of ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1"]) if (existsSync(p)) return p;
  return null;
}

export interface CampaignOptions {
  seed: number;
  steps: number;
  /** a group must be held again this long after the heal */
  settle_ms?: number;
  log?: (line: string) => void;
  kinds?: readonly FaultKind[];
  /** cluster size: 2 (default) or 3 */
  nodes?: number;
  /** daemons at ha.cf's default `realtime on` instead of `realtime off` */
  realtime?: boolean;
}

export interface CampaignResult {
  seed: number;
  steps: number;
  faults: Record<string, number>;
  violations: string[];
  /** per fault kind: ms from the heal until every group was held again */
  recover_ms: Record<string, number[]>;
  fenced: number;
  wall_ms: number;
  log_tail: string;
  /** disk_full steps: starts refused with a full state directory, events write errors seen in status, `tandem events` answers */
  disk: { refused_starts: number; write_errors_seen: number; events_cli_ok: number };
  /** delay/duplicate/reorder steps: frames the relays delayed, duplicated, held back; duplicates and stale frames the daemons dropped as replays */
  net: { delayed: number; duplicated: number; reordered: number; replay_dropped: number };
  /** clock steps: restarts with a stepped clock; clock_jump: death verdicts (either side), stalls the jumped node logged, fences */
  clock: { steps_seen: number; stepped_restarts: number; jump_deaths: number; jump_stalls: number; jump_fences: number };
}

/** each node's state directory: a tmpfs this small (generation, events.jsonl, rsctmp; history stays far below it in a campaign) */
export const state_dir_bytes = 4 << 20;

/** one group per node, preferred there */
function groupsFor(n: number): { id: string; vip: string; preferred: string }[] {
  return Array.from({ length: n }, (_, k) => ({ id: `g${k + 1}`, vip: ipv4(0, 50 + k), preferred: `node${k + 1}` }));
}

/** Fill a directory's file system until ENOSPC (bounded by its size); returns the bytes written. */
function fillUntilFull(file: string, max_bytes: number): number {
  const fd = openSync(file, "w", 0o600);
  const page = Buffer.alloc(4096, 0x78);
  let written = 0;
  try {
    for (let k = 0; k <= max_bytes / page.length + 16; k++) written += writeSync(fd, page);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Heartbeat resource.d script: `ctsres GROUP start|stop|status`, obeying CTL/NODE.GROUP.OP ("fail" or "hang"). */
function ctsres(node: string, ctl: string): string {
  return `#!/bin/sh
# CTS resource for ${node}: the running marker is the resource; control files inject faults.
g=$1; op=$2; ctl=${ctl}; mark=$ctl/run.${node}.$g
fault=$(cat "$ctl/${node}.$g.$op" 2>/dev/null)
if [ "$fault" = hang ]; then echo $$ >> "$ctl/hang.${node}"; sleep 6; exit 1; fi
case $op in
  start) [ "$fault" = fail ] && { echo "cts: start of $g fails (control file)" >&2; exit 1; }; : > "$mark"; exit 0 ;;
  stop) [ "$fault" = fail ] && exit 1; rm -f "$mark"; exit 0 ;;
  status) if [ "$fault" != fail ] && [ -e "$mark" ]; then echo running; else echo "$g is not running"; fi; exit 0 ;;
esac
exit 1
`;
}

/**
 * Fence agent (fence-agents stdin protocol): "power off" the target as a BMC
 * would: SIGKILL its daemon and its hanging agents (PIDs the campaign and the
 * script recorded), remove its VIPs and running markers. CTL/fence.fail makes
 * it fail, CTL/fence.slow makes it take that many seconds first.
 * action=status answers as a BMC would: OFF only while the target is powered
 * off (CTL/off.TARGET, from a fence until the campaign starts it again), ON
 * otherwise (a killed daemon's machine is still on; tandem's fence delay
 * trusts an OFF).
 */
/** ha.cf deadtime of the campaign's clusters */
const cts_deadtime_ms = 800;
/** the cut is two `ip` commands, and the agent logs a little after it starts */
const quorum_slack_ms = 300;

function ctsFence(ctl: string, groups: { vip: string }[]): string {
  return `#!/bin/sh
action= target= ns=
while IFS= read -r line; do
  case "$line" in
    action=*) action=\${line#action=} ;;
    target=*) target=\${line#target=} ;;
    ns=*) ns=\${line#ns=} ;;
  esac
done
ctl=${ctl}
if [ "$action" = status ]; then
  if [ -e $ctl/off.$target ]; then echo "Status: OFF"; exit 2; fi
  echo "Status: ON"; exit 0
fi
[ -e $ctl/fence.slow ] && sleep "$(cat $ctl/fence.slow)"
if [ -e $ctl/fence.fail ]; then echo "ERROR: Failed: Unable to connect (cts control file)" >&2; exit 1; fi
# recorded before the kill, so the campaign never sees a fenced daemon's exit as a crash
echo "$(date +%s.%N) $target $(ip netns identify 2>/dev/null)" >> $ctl/fenced.log
pid=$(cat $ctl/pid.$target 2>/dev/null)
[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
for p in $(cat $ctl/hang.$target 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
rm -f $ctl/hang.$target $ctl/run.$target.*
${groups.map((g) => `ip -n "$ns" addr del ${g.vip}/26 dev ${ifaceName(0)} 2>/dev/null`).join("\n")}
touch $ctl/off.$target
echo "Success: Powered OFF"
exit 0
`;
}

interface GroupView {
  vip: boolean[];
  marker: boolean[];
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const r = new Prng(opts.seed);
  const settle_ms = opts.settle_ms ?? 30_000;
  const kinds = opts.kinds ?? fault_kinds;
  const log = opts.log ?? (() => {});
  const t_start = performance.now();
  const res: CampaignResult = {
    seed: opts.seed,
    steps: 0,
    faults: {},
    violations: [],
    recover_ms: {},
    fenced: 0,
    wall_ms: 0,
    log_tail: "",
    disk: { refused_starts: 0, write_errors_seen: 0, events_cli_ok: 0 },
    net: { delayed: 0, duplicated: 0, reordered: 0, replay_dropped: 0 },
    clock: { steps_seen: 0, stepped_restarts: 0, jump_deaths: 0, jump_stalls: 0, jump_fences: 0 },
  };
  const n = opts.nodes ?? 2;
  if (n !== 2 && n !== 3) throw new Error(`nodes must be 2 or 3, not ${n}`);
  const groups = groupsFor(n);
  const all = Array.from({ length: n }, (_, k) => k);
  let step = 0;
  let kind: FaultKind | "boot" = "boot";
  const violation = (msg: string) => {
    const line = `seed ${opts.seed} step ${step} (${kind}): ${msg}`;
    if (res.violations.length < 50) res.violations.push(line);
    log(`VIOLATION ${line}`);
  };

  const c: Cluster = await createCluster({ nodes: n, links: 2, client: true });
  const node_names = c.nodes.map((h) => h.name);
  const ctl = join(c.tmp, "cts");
  mkdirSync(ctl, { recursive: true });
  const d: LabDaemon[] = [];
  /** daemons the campaign stopped or killed on purpose (their exit is no crash) */
  const expected_down = new Set<number>();
  let sampler_on = true;
  let sampler: Promise<void> = Promise.resolve();
  const auto_failback = r.pick(["on", "off"] as const);
  /** relays in place during a delay/duplicate/reorder step (removed at the heal, or in finally) */
  let relays: Impairment[] = [];
  // Clock faults: every daemon runs under libfaketime with its own offset file
  // (re-read at most once a second). One node's daemon (seed % n) fakes
  // CLOCK_MONOTONIC too and takes the clock_jump steps (forward only); the
  // others fake only CLOCK_REALTIME and take the clock_step ones.
  const clock_faults = kinds.includes("clock_step") || kinds.includes("clock_jump");
  const faketime = clock_faults ? libfaketime() : null;
  if (clock_faults && !faketime) throw new Error("clock_step/clock_jump need libfaketime: apt-get install faketime (./run's setup installs it)");
  const mono_node = kinds.includes("clock_jump") ? opts.seed % n : -1;
  /** current offset of each node's clocks, seconds */
  const clock_offset_s = all.map(() => 0);
  try {
    const fence_path = join(ctl, "fence_cts");
    writeFileSync(fence_path, ctsFence(ctl, groups), { mode: 0o755 });
    const text = haCf(c, {
      keepalive_ms: 100,
      deadtime_ms: cts_deadtime_ms,
      initdead_ms: 2000,
      auto_failback,
      extra: [
        ...c.nodes.map((h) => `fence ${h.name} ${fence_path} target=${h.name} ns=${h.ns}`),
        "fence_timeout 15",
        "fence_delay 2",
        // SCHED_RR daemons on a 2-vCPU machine shared with other suites
        // starved the campaign's own observer (a 2 s agent start, a daemon
        // exit seen late); the invariants here are about decisions, not
        // scheduling (bench/jitter.ts measures realtime)
        ...(opts.realtime ? [] : ["realtime off"]),
      ],
    });
    for (const h of c.nodes) {
      const x = new LabDaemon(c, h, preferredCommand().argv);
      writeConfigDir(x.dir, text, authkeys("cts-campaign-secret"));
      if (faketime) {
        const file = join(ctl, `clock.${h.name}`);
        writeFileSync(file, "+0\n");
        x.env = {
          LD_PRELOAD: faketime,
          FAKETIME_TIMESTAMP_FILE: file,
          FAKETIME_CACHE_DURATION: "1",
          ...(d.length === mono_node ? {} : { FAKETIME_DONT_FAKE_MONOTONIC: "1" }),
        };
      }
      await c.mountTmpfs(x.state_dir, state_dir_bytes);
      mkdirSync(join(x.dir, "resource.d"), { recursive: true });
      writeFileSync(join(x.dir, "resource.d/ctsres"), ctsres(h.name, ctl), { mode: 0o755 });
      chmodSync(join(x.dir, "resource.d/ctsres"), 0o755);
      writeFileSync(
        join(x.dir, "haresources"),
        groups.map((g) => `# tandem: monitor interval=1s timeout=5s\n${g.preferred} ${g.vip}/26/${ifaceName(0)} ctsres::${g.id}`).join("\n") + "\n",
      );
      d.push(x);
    }
    log(
      `seed ${opts.seed}: ${n} nodes, 2 links, fencing on, auto_failback ${auto_failback}, realtime ${opts.realtime ? "on" : "off"}, state dirs on ${state_dir_bytes >> 20} MiB tmpfs${faketime ? `, clocks faked (${mono_node >= 0 ? `node${mono_node + 1} monotonic too` : "realtime only"})` : ""}, ${opts.steps} steps`,
    );

    const fencedNodes = (): string[] =>
      existsSync(join(ctl, "fenced.log")) ? readFileSync(join(ctl, "fenced.log"), "utf8").trim().split("\n").map((l) => l.split(" ")[1]!) : [];
    /** "node2 by node1" per fence since index from (the agent runs in the fencing node's namespace) */
    /** [wall seconds, target, fencing node] per fence since index from */
    const fenceRecords = (from: number): [number, string, string][] =>
      existsSync(join(ctl, "fenced.log"))
        ? readFileSync(join(ctl, "fenced.log"), "utf8").trim().split("\n").slice(from).map((l) => {
            const [t, target, ns] = l.split(" ");
            return [Number(t), target!, c.nodes.find((h) => h.ns === ns)?.name ?? "?"];
          })
        : [];
    const fenceLines = (from: number): string[] =>
      existsSync(join(ctl, "fenced.log"))
        ? readFileSync(join(ctl, "fenced.log"), "utf8").trim().split("\n").slice(from).map((l) => {
            const [, target, ns] = l.split(" ");
            return `${target} by ${c.nodes.find((h) => h.ns === ns)?.name ?? "?"}`;
          })
        : [];

    /** highest generation each node's daemon has started with */
    const generations = new Map<number, number>();
    /** fence log length when each node's daemon last started: a fence after it explains the daemon's death */
    const fence_mark = new Map<number, number>();
    const start = async (i: number) => {
      const from = d[i]!.events.length;
      fence_mark.set(i, fencedNodes().length);
      rmSync(join(ctl, `off.${node_names[i]}`), { force: true }); // powered on again (the fence agent's status)
      await d[i]!.start(20_000);
      writeFileSync(join(ctl, `pid.${node_names[i]}`), String(d[i]!.proc!.pid));
      expected_down.delete(i);
      const g = Number(d[i]!.events.slice(from).find((e) => e.event === "started")?.fields.generation);
      const before = generations.get(i) ?? 0;
      if (!(g > before)) violation(`${node_names[i]} started with generation ${g}, not above its earlier ${before}`);
      else generations.set(i, g);
    };
    await Promise.all(all.map(start));

    const vipsOf = async (i: number): Promise<string> => (await c.exec(c.nodes[i]!.ns, ["ip", "-4", "-o", "addr", "show", "dev", ifaceName(0)], 5000)).stdout;
    // Reads node1..nodeN, then node1..nodeN-1 again (A-B-A for two nodes): a
    // VIP counts as present on a node only if every read of it saw it, so a
    // move between two reads is not mistaken for an overlap.
    const view = async (): Promise<GroupView[]> => {
      const reads: string[][] = all.map(() => []);
      for (const i of all) reads[i]!.push(await vipsOf(i));
      for (const i of all.slice(0, -1)) reads[i]!.push(await vipsOf(i));
      const marks = new Set(readdirSync(ctl).filter((f) => f.startsWith("run.")));
      return groups.map((g) => {
        const has = (s: string) => s.includes(` ${g.vip}/26 `);
        return {
          vip: reads.map((rs) => rs.every(has)),
          marker: node_names.map((nn) => marks.has(`run.${nn}.${g.id}`)),
        };
      });
    };

    // "once": continuous sampling
    let last_double = "";
    sampler = (async () => {
      while (sampler_on) {
        try {
          const v = await view();
          v.forEach((gv, gi) => {
            const g = groups[gi]!;
            const key = `${step}:${g.id}`;
            const at = (xs: boolean[]) => xs.flatMap((x, k) => (x ? [node_names[k]] : []));
            if (at(gv.vip).length > 1 && last_double !== `${key}:vip`) {
              last_double = `${key}:vip`;
              violation(`${g.id}'s VIP ${g.vip} is in ${at(gv.vip).join(" and ")}`);
            }
            if (at(gv.marker).length > 1 && last_double !== `${key}:res`) {
              last_double = `${key}:res`;
              violation(`${g.id}'s resource runs on ${at(gv.marker).join(" and ")}`);
            }
          });
        } catch (e) {
          if (sampler_on) log(`sampler: ${(e as Error).message}`);
        }
        await Bun.sleep(100);
      }
    })();

    const statuses = () => Promise.all(d.map((x) => (x.running ? x.tryStatus(2000) : Promise.resolve(null))));
    type GroupRow = { id: string; state: string };

    /** every group runs on exactly one node, kernel and status agree, every daemon sees every other up */
    const converged = async (): Promise<string | null> => {
      const st = await statuses();
      const silent = st.flatMap((s, i) => (s === null ? [`${node_names[i]} (${d[i]!.running ? "running" : "not running"})`] : []));
      if (silent.length > 0) return `no status from ${silent.join(", ")}`;
      for (const [i, s] of st.entries()) {
        for (const j of all) if (j !== i && s!.nodes.find((x) => x.name === node_names[j])?.state !== "up") return `${node_names[i]} does not see ${node_names[j]} up`;
      }
      const v = await view();
      for (const [gi, g] of groups.entries()) {
        // status lists groups in haresources order
        const rows = st.map((s) => ((s as unknown as { groups: GroupRow[] }).groups ?? [])[gi]);
        const running = rows.map((x) => x?.state === "running");
        const where = v[gi]!.vip.flatMap((x, i) => (x ? [i] : []));
        if (where.length !== 1) return `${g.id}: VIP on ${where.length} nodes`;
        if (!v[gi]!.marker[where[0]!]) return `${g.id}: resource not running where the VIP is`;
        for (const i of all) if (running[i] !== v[gi]!.vip[i]) return `${g.id}: ${node_names[i]} status ${rows[i]?.state} but VIP ${v[gi]!.vip[i] ? "present" : "absent"}`;
      }
      return null;
    };

    const boot_ok = await until(async () => (await converged()) === null, 30_000, 200);
    if (!boot_ok) violation(`cluster did not settle after boot: ${await converged()}`);

    const nftLoss = async (i: number, percent: number) => {
      const ns = c.nodes[i]!.ns;
      await c.exec(ns, ["nft", "add", "table", "inet", "cts"]);
      await c.exec(ns, ["nft", "add chain inet cts in { type filter hook input priority 0; }"]);
      await c.exec(ns, ["nft", "add", "rule", "inet", "cts", "in", "udp", "dport", "694", "numgen", "random", "mod", "100", "<", String(percent), "drop"]);
    };
    const nftClear = async (i: number) => {
      await c.exec(c.nodes[i]!.ns, ["nft", "delete", "table", "inet", "cts"]);
    };

    const replays = async () => {
      let sum = 0;
      for (const x of d) sum += x.running ? ((await x.tryStatus(2000))?.counters?.dropped?.replay ?? 0) : 0;
      return sum;
    };
    const setClock = (j: number, offset_s: number) => {
      clock_offset_s[j] = offset_s;
      writeFileSync(join(ctl, `clock.${node_names[j]}`), `${offset_s < 0 ? "-" : "+"}${Math.abs(offset_s)}\n`);
    };

    for (step = 1; step <= opts.steps; step++) {
      kind = r.pick(kinds);
      let i = r.int(0, n - 1);
      // clock faults go to a node whose daemon fakes the right clocks
      if (kind === "clock_jump") i = mono_node;
      if (kind === "clock_step" && i === mono_node) i = (i + 1) % n;
      const victim = node_names[i]!;
      const hold_ms = r.int(500, 2500);
      res.faults[kind] = (res.faults[kind] ?? 0) + 1;
      const fenced_before = fencedNodes().length;
      /** wall seconds when the fault began (quorum check below) */
      const injected_s = Date.now() / 1000;
      log(`step ${step}: ${kind} on ${victim}, hold ${hold_ms} ms`);
      const cut_link = r.int(0, 1);
      const loss = r.pick([30, 60, 90]);
      const group = r.pick(groups);
      const ctlfile = (op: string) => join(ctl, `${victim}.${group.id}.${op}`);
      const filler = join(d[i]!.state_dir, "cts.filler");
      /** the daemon was stopped with SIGTERM: no fence to wait for */
      let graceful = kind === "restart";
      const ev_from = d.map((x) => x.events.length);
      let replay_before = 0;
      // ---- inject ----
      switch (kind) {
        case "sigkill":
          expected_down.add(i);
          d[i]!.kill("SIGKILL");
          break;
        case "sigstop":
          d[i]!.kill("SIGSTOP");
          break;
        case "cut_one":
          await c.cut(victim, cut_link);
          break;
        case "partition":
          await c.cut(victim, 0);
          await c.cut(victim, 1);
          break;
        case "loss":
          await nftLoss(i, loss);
          break;
        case "restart":
          expected_down.add(i);
          await d[i]!.stop();
          break;
        case "agent_start_fail":
          writeFileSync(ctlfile("start"), "fail");
          writeFileSync(ctlfile("status"), "fail"); // it dies, and cannot start again here
          break;
        case "agent_monitor_fail":
          writeFileSync(ctlfile("status"), "fail");
          break;
        case "agent_stop_hang":
          writeFileSync(ctlfile("stop"), "hang");
          writeFileSync(ctlfile("status"), "fail"); // a monitor failure makes it stop
          break;
        case "fence_fail":
          writeFileSync(join(ctl, "fence.fail"), "");
          expected_down.add(i);
          d[i]!.kill("SIGKILL");
          break;
        case "fence_slow":
          writeFileSync(join(ctl, "fence.slow"), String(r.int(1, 4)));
          expected_down.add(i);
          d[i]!.kill("SIGKILL");
          break;
        case "standby":
          await d[i]!.tryStatus(); // nothing to inject if it does not answer
          await adminLine(d[i]!, "standby", "all");
          break;
        case "delay":
        case "duplicate":
        case "reorder": {
          // drawn here only, so --kinds without these replays old schedules
          const p =
            kind === "delay"
              ? (() => {
                  const delay_ms = r.int(20, 300);
                  return { delay_ms, jitter_ms: r.int(0, Math.min(100, delay_ms)) };
                })()
              : kind === "duplicate"
                ? { dup_pct: r.pick([20, 50, 100]) }
                : { reorder_pct: r.pick([10, 30, 50]), reorder_ms: r.int(20, 300) };
          const way = r.pick(["both", "out", "in"] as const);
          replay_before = await replays();
          for (const link of [0, 1]) relays.push(await Impairment.insert(c, victim, link, opts.seed * 100_000 + step * 2 + link));
          for (const x of relays) await x.set(way === "both" ? { out: p, in: p } : { [way]: p });
          log(`step ${step}: ${victim}'s links ${way === "both" ? "both ways" : way === "out" ? "outbound" : "inbound"}: ${JSON.stringify(p)}`);
          break;
        }
        case "clock_step": {
          const by_s = r.pick([-10_800, -3600, -600, -30, -5, 5, 30, 600, 3600, 10_800]);
          const how = r.pick(["running", "restart"] as const);
          setClock(i, clock_offset_s[i]! + by_s);
          log(`step ${step}: ${victim}'s CLOCK_REALTIME stepped ${by_s > 0 ? "+" : ""}${by_s} s${how === "restart" ? ", then a graceful restart with it" : ""}`);
          // the daemon's own timestamps show the step (an `admin` line, logged by a no-op `standby none`)
          const skew_s = await until(async () => {
            const from = d[i]!.events.length;
            await adminLine(d[i]!, "standby", "none");
            const e = await d[i]!.waitEvent({ event: "admin" }, 1000, from);
            const s = e ? (e.t - Date.now()) / 1000 : NaN;
            return Math.abs(s - clock_offset_s[i]!) < 2 ? `${s.toFixed(1)}` : null;
          }, 5000, 300);
          if (skew_s !== null) res.clock.steps_seen++;
          log(`step ${step}: ${victim}'s log timestamps ${skew_s !== null ? `now ${skew_s} s off` : "do not show the step within 5 s"}`);
          if (how === "restart") {
            await Bun.sleep(1200); // libfaketime re-reads the file once a second
            expected_down.add(i);
            graceful = true;
            await d[i]!.stop();
            const from = d[i]!.events.length;
            await start(i);
            const g = Number(d[i]!.events.slice(from).find((e) => e.event === "started")?.fields.generation);
            const now_s = Math.floor(Date.now() / 1000);
            // a clock stepped forward shows in the generation (max(stored + 1, unix seconds))
            if (clock_offset_s[i]! > 60 && g >= now_s + clock_offset_s[i]! - 60) log(`step ${step}: ${victim} restarted with generation ${g} (its clock is ${clock_offset_s[i]} s ahead)`);
            res.clock.stepped_restarts++;
          }
          break;
        }
        case "clock_jump": {
          const by_s = r.pick([1, 2, 5, 30, 600]);
          setClock(i, clock_offset_s[i]! + by_s);
          log(`step ${step}: ${victim}'s CLOCK_MONOTONIC and CLOCK_REALTIME jump +${by_s} s (a resumed VM)`);
          // the offset file is re-read within a second or two: the jump is seen when the daemon logs the stall
          await d[i]!.waitEvent({ event: "stall" }, 5000, ev_from[i]);
          break;
        }
        case "disk_full": {
          const how = r.pick(["busy", "restart", "kill"] as const);
          const bytes = fillUntilFull(filler, state_dir_bytes);
          log(`step ${step}: ${victim}'s state directory full (${bytes} bytes of filler), then ${how}`);
          if (how === "busy") {
            await adminLine(d[i]!, "standby", "all");
          } else {
            // a start now must be refused: the generation cannot be persisted
            const gen_file = join(d[i]!.state_dir, "generation");
            const gen_before = readFileSync(gen_file, "utf8");
            expected_down.add(i);
            if (how === "restart") {
              graceful = true;
              await d[i]!.stop();
            } else {
              d[i]!.kill("SIGKILL");
              // the node is "powered off" by a peer before it "boots" again
              await until(() => fencedNodes().slice(fenced_before).includes(victim), 10_000, 100);
            }
            const from = d[i]!.events.length;
            let started = false;
            try {
              await d[i]!.start(10_000);
              started = true;
            } catch {
              // expected
            }
            const fatal = d[i]!.events.slice(from).find((e) => e.event === "fatal");
            // a refused start logs `fatal` and then exits: give it a moment
            if (!started) await until(() => !d[i]!.running, 5000, 50);
            if (started || d[i]!.running) {
              violation(`${victim}'s daemon started with a full state directory (a generation it could not persist)`);
              await d[i]!.stop();
            } else if (!fatal || !/cannot persist generation/.test(fatal.line)) {
              violation(`${victim}'s daemon did not say why it cannot start: ${d[i]!.output.slice(-3).join(" | ")}`);
            } else {
              res.disk.refused_starts++;
            }
            if (readFileSync(gen_file, "utf8") !== gen_before) violation(`${victim}'s generation file changed while the start was refused`);
          }
          break;
        }
      }
      if (kind === "disk_full" && d[i]!.running) {
        // history to write while nothing can be written: groups move away and
        // back, a few times (about 1 KiB of history each; the last page of
        // events.jsonl still takes what fits in it)
        const cycles = Math.min(6, Math.max(3, Math.round(hold_ms / 400)));
        for (let k = 0; k < cycles; k++) {
          await Bun.sleep(200);
          await adminLine(d[i]!, "standby", "none");
          await Bun.sleep(200);
          if (k < cycles - 1) await adminLine(d[i]!, "standby", "all");
        }
      } else {
        // a clock file is read at most once a second: hold past that
        await Bun.sleep(kind === "clock_step" || kind === "clock_jump" ? Math.max(hold_ms, 1500) : hold_ms);
      }
      if (kind === "disk_full") {
        // still full: a running daemon answers status and `tandem events`, and says what it could not write
        for (const j of all) {
          if (!d[j]!.running) continue;
          const st = (await d[j]!.tryStatus(3000)) as unknown as { events?: { write_errors: number } } | null;
          if (st === null) violation(`${node_names[j]} does not answer status with ${victim}'s state directory full`);
          else if (j === i) {
            const size = existsSync(join(d[i]!.state_dir, "events.jsonl")) ? statSync(join(d[i]!.state_dir, "events.jsonl")).size : 0;
            log(`step ${step}: ${victim} answers status while full: events write_errors ${st.events?.write_errors}, events.jsonl ${size} bytes`);
            if ((st.events?.write_errors ?? 0) > 0) res.disk.write_errors_seen++;
          }
        }
        if (d[i]!.running) {
          const ev = await c.exec(c.nodes[i]!.ns, [...preferredCommand().argv, "events", "--json", "--limit", "5", "--socket", d[i]!.socket], 10_000);
          if (ev.code !== 0) violation(`tandem events fails with the state directory full (exit ${ev.code}): ${ev.stderr.slice(0, 300)}`);
          else res.disk.events_cli_ok++;
        }
      }
      // ---- heal ----
      if (kind === "sigstop") d[i]!.kill("SIGCONT");
      if (kind === "cut_one") await c.restore(victim, cut_link);
      if (kind === "partition") {
        await c.restore(victim, 0);
        await c.restore(victim, 1);
      }
      if (kind === "loss") await nftClear(i);
      if (relays.length > 0) {
        for (const x of relays) {
          const st = await x.stats().catch(() => null);
          for (const dir of st ? [st.out, st.in] : []) {
            res.net.delayed += dir.counters.delayed;
            res.net.duplicated += dir.counters.duplicated;
            res.net.reordered += dir.counters.reordered;
          }
          await x.remove();
        }
        relays = [];
      }
      if (kind === "clock_step") setClock(i, 0); // NTP steps it back
      if (kind === "standby") await adminLine(d[i]!, "standby", "none");
      if (kind === "disk_full") {
        rmSync(filler, { force: true });
      }
      for (const f of readdirSync(ctl)) if (/^node\d\.g\d\.|^fence\.(fail|slow)$/.test(f)) rmSync(join(ctl, f), { force: true });
      // A node whose daemon died is "powered off" by its peer's fence before
      // it "reboots": wait (bounded) for the fence, as a real reboot would.
      const t_heal = performance.now();
      for (const j of all) {
        if (!d[j]!.running && expected_down.has(j) && !graceful) await until(() => fencedNodes().slice(fenced_before).includes(node_names[j]!), 10_000, 100);
      }
      // ---- settle ----
      // Restart whatever is down (fenced, killed or stopped by us); any other exit is a crash.
      const revive = async () => {
        for (const j of all) {
          if (d[j]!.running) continue;
          // a fence decided in an earlier step may land in this one (fence_delay, retries)
          const fenced = fencedNodes().slice(Math.min(fenced_before, fence_mark.get(j) ?? 0)).includes(node_names[j]!);
          if (!expected_down.has(j) && !fenced) {
            violation(`${node_names[j]}'s daemon exited (${d[j]!.proc?.exit_code ?? d[j]!.proc?.signal}) without being killed or fenced:\n${d[j]!.output.slice(-8).join("\n")}`);
          }
          try {
            await start(j);
          } catch (e) {
            violation(`${node_names[j]} does not restart: ${(e as Error).message.slice(0, 500)}`);
          }
        }
      };
      await revive();
      const ok = await until(async () => {
        await revive();
        return (await converged()) === null;
      }, settle_ms, 200);
      const fenced_nodes = fencedNodes().slice(fenced_before);
      res.fenced += fenced_nodes.length;
      const deaths = d.flatMap((x, j) => x.events.slice(ev_from[j]).filter((e) => e.event === "node_dead" && e.fields.reason === "deadtime").map((e) => `${node_names[j]} judged ${e.fields.node} dead (last heard ${e.fields.last_heard_ms_ago} ms ago)`));
      if (steady_kinds.includes(kind)) {
        if (deaths.length > 0) {
          // what both daemons logged during the step (without the per-frame replay drops)
          const lines = d.map((x, j) => `--- ${node_names[j]}\n${x.events.slice(ev_from[j]).filter((e) => e.event !== "drop").slice(-25).map((e) => e.line).join("\n")}`);
          violation(`false death: ${deaths.join("; ")}\n${lines.join("\n")}`);
        }
        if (fenced_nodes.length > 0) violation(`fenced without cause: ${fenceLines(fenced_before).join(", ")}`);
      }
      if (kind === "delay" || kind === "duplicate" || kind === "reorder") res.net.replay_dropped += Math.max(0, (await replays()) - replay_before);
      if (kind === "clock_jump") {
        res.clock.jump_deaths += deaths.length;
        res.clock.jump_fences += fenced_nodes.length;
        const stalls = d[i]!.events.slice(ev_from[i]).filter((e) => e.event === "stall");
        res.clock.jump_stalls += stalls.length;
        log(`step ${step}: after the jump: ${stalls.length ? `stall gap_ms=${stalls[0]!.fields.gap_ms}` : "no stall logged"}; ${deaths.length ? deaths.join("; ") : "no death verdict"}`);
      }
      // quorum (3 nodes): a node cut off or stopped is a minority of one and
      // must fence nobody once it can know: within deadtime of the cut its
      // view still has its peers up (an attempt decided before the cut, a
      // retry, may run then), after that never. A stopped node fences nothing
      // on waking (its membership settles first). Times are when the fence
      // agent logged, after any fence.slow sleep.
      if (n >= 3 && (kind === "partition" || kind === "sigstop")) {
        for (const [t, target, by] of fenceRecords(fenced_before)) {
          if (by !== victim) continue;
          const after_ms = Math.round((t - injected_s) * 1000);
          const allowed_ms = kind === "partition" ? cts_deadtime_ms + quorum_slack_ms : 0;
          if (after_ms > allowed_ms) {
            // what the victim decided from the fault on: deaths, quorum, stalls, fences
            const trail = d[i]!.output
              .filter((l) => Date.parse(l.slice(0, 24)) >= injected_s * 1000 - 2000 && /node_dead|node_up|quorum|stall|fence_/.test(l))
              .slice(0, 40);
            violation(`no quorum: ${victim} (${kind}, a minority of one) fenced ${target} ${after_ms} ms after the fault began\n${trail.join("\n")}`);
          }
          else log(`step ${step}: ${victim} fenced ${target} ${after_ms} ms into the ${kind}, before its deadtime (${cts_deadtime_ms} ms) could tell it so`);
        }
      }
      if (!ok) {
        violation(`not settled ${settle_ms} ms after the heal: ${await converged()}\n${d.map((x) => `--- ${x.name}\n${x.output.slice(-12).join("\n")}`).join("\n")}`);
        // put the cluster back for the next step: restart every daemon
        for (const j of all) {
          expected_down.add(j);
          await d[j]!.stop();
          if (!(await until(() => !d[j]!.running, 10_000))) {
            violation(`${node_names[j]}'s daemon does not exit after SIGTERM and SIGKILL`);
            break;
          }
        }
        if (d.some((x) => x.running)) break; // cannot put the cluster back: end the campaign here
        await Promise.all(all.map(start));
        await until(async () => (await converged()) === null, settle_ms, 200);
      } else {
        const ms = performance.now() - t_heal;
        // the client reaches every VIP at its holder (ARP followed the move)
        for (const g of groups) {
          const reached = await until(async () => (await c.exec(c.node("client").ns, ["ping", "-c", "1", "-W", "1", g.vip], 5000)).code === 0, 5000, 100);
          if (!reached) {
            // what the client's ARP cache says against the holder's MAC (a gratuitous ARP lost on a cut link leaves a stale entry)
            const neigh = (await c.exec(c.node("client").ns, ["ip", "neigh", "show", g.vip], 5000)).stdout.trim();
            const holder = (await view())[groups.indexOf(g)]!.vip.findIndex((x) => x);
            const mac = holder >= 0 ? /link\/ether (\S+)/.exec((await c.exec(c.nodes[holder]!.ns, ["ip", "link", "show", "dev", ifaceName(0)], 5000)).stdout)?.[1] : "none";
            violation(`the client cannot reach ${g.id}'s VIP ${g.vip} after the cluster settled (held by ${node_names[holder] ?? "nobody"}, MAC ${mac}; client neighbour entry: ${neigh || "none"})`);
          }
        }
        (res.recover_ms[kind] ??= []).push(ms);
        log(`step ${step}: settled ${ms.toFixed(0)} ms after the heal${fenced_nodes.length ? ` (fenced: ${fenceLines(fenced_before).join(", ")})` : ""}`);
      }
      res.steps = step;
    }
  } finally {
    sampler_on = false;
    await sampler;
    for (const x of relays) await x.remove().catch(() => {});
    res.log_tail = d.map((x) => `--- ${x.name}\n${x.output.slice(-20).join("\n")}`).join("\n");
    for (const x of d) await x.stop().catch(() => {});
    await c.destroy();
    res.wall_ms = performance.now() - t_start;
  }
  return res;
}

/** One control-socket request (JSON line), as `tandem standby` sends it. */
async function adminLine(d: LabDaemon, cmd: string, scope: string): Promise<void> {
  const net = await import("node:net");
  await new Promise<void>((resolve) => {
    const s = net.createConnection(d.socket);
    const done = () => {
      clearTimeout(t);
      s.destroy();
      resolve();
    };
    const t = setTimeout(done, 3000);
    s.on("error", done);
    s.on("data", done);
    s.on("connect", () => s.write(`${JSON.stringify({ cmd, scope })}\n`));
  });
}
