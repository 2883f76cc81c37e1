// The simulator at scale: `bun bench/sim_scale.ts [--schedules N] [--from S] [--workers W]`
// runs N seeded schedules (default 100,000) across every core decision and
// prints one table. Replay one: `bun bench/sim_scale.ts --seed S [--trace]`.
//
// A seed's class is seed % 10, so a seed alone replays:
//   0-2 membership   test/sim/cluster.ts: the membership core, 2-4 nodes, 1-3
//                    links, loss/dup/reorder/partitions/stalls/drift
//   3-5 placement    test/sim/placement_sim.ts: membership + placement +
//                    fencing core (fencing drawn per seed, 30%), ping/ipfail,
//                    standby/takeover/crossing admins, auto_failback
//                    on/off/legacy, failing/hanging agents, crashes
//   6-7 fencing      the same with fencing_required forced: fence before
//                    takeover, split-brain delay, failing/slow fence agents,
//                    wait_for_all; no group may ever run twice
//   8-9 long-haul    placement swarm at Heartbeat-like timing (keepalive 1-2 s,
//                    deadtime 3-8x), 20-60 min per schedule, a fault every
//                    few minutes: the steady state between faults
// Schedules are spread over worker processes (one per core by default); CPU
// time is each worker's own user+system time, so "per CPU-minute" does not
// depend on how many cores ran.
// Workers run with a 64 MiB young-generation budget (JavaScriptCore's
// largeHeapSize, unless BUN_JSC_largeHeapSize is set): at the default 8 MiB
// a run spends about a tenth of its CPU in some 30 garbage collections per
// second, each with a fixed cost of a few ms although nearly everything it
// finds is dead. It changes when memory is reclaimed, nothing simulated.
import { cpus } from "node:os";
import { type ClassName, classOf, classOptions, classes } from "../test/sim/classes.ts";
import { runSeed } from "../test/sim/cluster.ts";
import { runPlacementSeed } from "../test/sim/placement_sim.ts";

interface One {
  cls: ClassName;
  violations: string[];
  simulated_ms: number;
  events: number;
  options: unknown;
}

function runOne(seed: number, trace: ((l: string) => void) | null = null): One {
  const cls = classOf(seed);
  if (cls === "membership") {
    const r = runSeed(seed);
    return { cls, violations: r.violations, simulated_ms: r.simulated_ms, events: r.events, options: r.options };
  }
  const r = runPlacementSeed(seed, classOptions(seed), undefined, trace);
  return { cls, violations: r.violations, simulated_ms: r.simulated_ms, events: r.events, options: r.options };
}

interface Tally {
  schedules: number;
  events: number;
  simulated_ms: number;
  cpu_ms: number;
  violations: { seed: number; first: string }[];
}

const blank = (): Tally => ({ schedules: 0, events: 0, simulated_ms: 0, cpu_ms: 0, violations: [] });

function arg(name: string): number | null {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const i = process.argv.indexOf(`--${name}`);
  const v = hit ? hit.split("=")[1] : i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`usage: bun bench/sim_scale.ts [--schedules N] [--from S] [--workers W] | --seed S [--trace]  (bad --${name} ${v})`);
    process.exit(2);
  }
  return n;
}

const replay = arg("seed");
if (replay !== null) {
  const trace = process.argv.includes("--trace") ? (l: string) => console.log(l) : null;
  const r = runOne(replay, trace);
  console.log(`seed ${replay} class ${r.cls}: ${r.events} events, ${(r.simulated_ms / 1000).toFixed(1)} s simulated`);
  console.log(`options: ${JSON.stringify(r.options)}`);
  for (const v of r.violations) console.log(`  VIOLATION ${v}`);
  process.exit(r.violations.length > 0 ? 1 : 0);
}

const from = arg("from") ?? 1;
const count = arg("schedules") ?? 100_000;

if (process.argv.includes("--worker")) {
  // A worker: seeds from+k, from+k+W, ...; one JSON line on stdout at the end.
  const k = arg("k") ?? 0;
  const w = arg("workers") ?? 1;
  const tallies: Record<string, Tally> = Object.fromEntries(classes.map((c) => [c, blank()]));
  // One CPU reading per schedule: each schedule is charged from the end of
  // the previous one's reading (so the loop's own bookkeeping counts too).
  let c0 = process.cpuUsage();
  for (let seed = from + k; seed < from + count; seed += w) {
    const r = runOne(seed);
    const c1 = process.cpuUsage();
    const t = tallies[r.cls]!;
    t.schedules++;
    t.events += r.events;
    t.simulated_ms += r.simulated_ms;
    t.cpu_ms += (c1.user + c1.system - c0.user - c0.system) / 1000;
    c0 = c1;
    if (r.violations.length > 0 && t.violations.length < 50) t.violations.push({ seed, first: r.violations[0]! });
  }
  console.log(JSON.stringify(tallies));
  process.exit(0);
}

const workers = Math.max(1, Math.min(arg("workers") ?? cpus().length, count));
const nursery_bytes = 64 * 1024 * 1024;
const t0 = performance.now();
const procs = Array.from({ length: workers }, (_, k) =>
  Bun.spawn(
    [process.execPath, import.meta.path, "--worker", "--from", String(from), "--schedules", String(count), "--k", String(k), "--workers", String(workers)],
    { stdout: "pipe", stderr: "inherit", env: { ...process.env, BUN_JSC_largeHeapSize: process.env.BUN_JSC_largeHeapSize ?? String(nursery_bytes) } },
  ),
);
const outs = await Promise.all(procs.map(async (p) => ({ text: await new Response(p.stdout).text(), code: await p.exited })));
const wall_s = (performance.now() - t0) / 1000;
const total: Record<string, Tally> = Object.fromEntries(classes.map((c) => [c, blank()]));
for (const o of outs) {
  if (o.code !== 0) {
    console.error(`a worker exited ${o.code}: ${o.text.slice(-500)}`);
    process.exit(1);
  }
  const t = JSON.parse(o.text.trim().split("\n").pop()!) as Record<string, Tally>;
  for (const c of classes) {
    const a = total[c]!;
    const b = t[c]!;
    a.schedules += b.schedules;
    a.events += b.events;
    a.simulated_ms += b.simulated_ms;
    a.cpu_ms += b.cpu_ms;
    a.violations.push(...b.violations);
  }
}

const all = blank();
for (const c of classes) {
  const t = total[c]!;
  all.schedules += t.schedules;
  all.events += t.events;
  all.simulated_ms += t.simulated_ms;
  all.cpu_ms += t.cpu_ms;
  all.violations.push(...t.violations);
}
const row = (name: string, t: Tally) => {
  const hours = t.simulated_ms / 3_600_000;
  const cpu_min = t.cpu_ms / 60_000;
  return `| ${name} | ${t.schedules} | ${(t.schedules / (t.cpu_ms / 1000)).toFixed(0)} | ${t.events} | ${hours.toFixed(0)} | ${(t.cpu_ms / 1000).toFixed(0)} | ${(hours / cpu_min).toFixed(0)} | ${t.violations.length} |`;
};
console.log(`sim_scale: ${count} schedules from seed ${from}, ${workers} workers, ${wall_s.toFixed(1)} s wall, ${(count / wall_s).toFixed(0)} schedules/s wall`);
console.log("| class | schedules | schedules per CPU-s | events | simulated cluster-hours | CPU s | cluster-hours per CPU-minute | violations |");
console.log("|---|---|---|---|---|---|---|---|");
for (const c of classes) console.log(row(c, total[c]!));
console.log(row("all", all));
for (const v of all.violations) {
  console.log(`VIOLATION seed ${v.seed} (${classOf(v.seed)}): ${v.first}`);
  console.log(`  replay: ./node_modules/.bin/bun bench/sim_scale.ts --seed ${v.seed} --trace`);
}
process.exit(all.violations.length > 0 ? 1 : 0);
