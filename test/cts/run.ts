// The long CTS campaign: `bun test/cts/run.ts [--steps N] [--seed S] [--campaigns C]
// [--nodes 2|3] [--realtime] [--kinds a,b,...]` (`./run cts`). Runs C campaigns of N fault steps each (seeds S, S+1, ...)
// on real daemons in namespaces and prints one summary table: steps, faults
// by kind, violations, max and median time to recover per fault kind.
// Replay a violation with the seed it prints: --seed S --steps N.
import { fault_kinds, runCampaign, type CampaignResult, type FaultKind } from "./campaign.ts";

const usage = "usage: bun test/cts/run.ts [--steps N] [--seed S] [--campaigns C] [--nodes 2|3] [--realtime] [--kinds KIND,...] [--quiet]";

function num(name: string, dflt: number): number {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const i = process.argv.indexOf(`--${name}`);
  const v = hit ? hit.split("=")[1] : i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`${usage} (bad --${name} ${v})`);
    process.exit(2);
  }
  return n;
}

const steps = num("steps", 200);
const seed = num("seed", 1);
const campaigns = num("campaigns", 1);
const nodes = num("nodes", 2);
if (nodes !== 2 && nodes !== 3) {
  console.error(`${usage} (--nodes ${nodes}: 2 or 3)`);
  process.exit(2);
}
const realtime = process.argv.includes("--realtime");
const ki = process.argv.indexOf("--kinds");
let kinds: FaultKind[] | undefined;
if (ki >= 0) {
  kinds = (process.argv[ki + 1] ?? "").split(",") as FaultKind[];
  const bad = kinds.filter((k) => !(fault_kinds as readonly string[]).includes(k));
  if (bad.length > 0 || kinds.length === 0) {
    console.error(`${usage} (unknown fault kind ${bad.join(",") || "(none)"}; known: ${fault_kinds.join(",")})`);
    process.exit(2);
  }
}
const quiet = process.argv.includes("--quiet");
const results: CampaignResult[] = [];
for (let k = 0; k < campaigns; k++) {
  const r = await runCampaign({ seed: seed + k, steps, nodes, realtime, kinds, log: quiet ? undefined : (l) => console.log(`[${((performance.now()) / 1000).toFixed(1)}s] ${l}`) });
  results.push(r);
}

const faults: Record<string, number> = {};
const rec: Record<string, number[]> = {};
let total_steps = 0;
let fenced = 0;
let wall = 0;
const disk = { refused_starts: 0, write_errors_seen: 0, events_cli_ok: 0 };
const net = { delayed: 0, duplicated: 0, reordered: 0, replay_dropped: 0 };
const clock = { steps_seen: 0, stepped_restarts: 0, jump_deaths: 0, jump_stalls: 0, jump_fences: 0 };
const violations: string[] = [];
for (const r of results) {
  total_steps += r.steps;
  fenced += r.fenced;
  wall += r.wall_ms;
  violations.push(...r.violations);
  for (const k of Object.keys(disk) as (keyof typeof disk)[]) disk[k] += r.disk[k];
  for (const k of Object.keys(net) as (keyof typeof net)[]) net[k] += r.net[k];
  for (const k of Object.keys(clock) as (keyof typeof clock)[]) clock[k] += r.clock[k];
  for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
  for (const [k, v] of Object.entries(r.recover_ms)) (rec[k] ??= []).push(...v);
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
console.log(`\nCTS: ${campaigns} campaign(s) of ${nodes} nodes (realtime ${realtime ? "on" : "off"}) from seed ${seed}, ${total_steps} steps, ${fenced} fence actions, ${violations.length} violations, ${(wall / 1000).toFixed(0)} s`);
console.log("| fault | injected | settled | median recover ms | max recover ms |");
console.log("|---|---|---|---|---|");
for (const k of fault_kinds) {
  if (!faults[k]) continue;
  const xs = rec[k] ?? [];
  console.log(`| ${k} | ${faults[k]} | ${xs.length} | ${med(xs).toFixed(0)} | ${xs.length ? Math.max(...xs).toFixed(0) : "-"} |`);
}
if (faults.disk_full) {
  console.log(`disk_full: ${disk.refused_starts} starts refused with the state directory full, ${disk.write_errors_seen} busy steps with events write errors in status, ${disk.events_cli_ok} \`tandem events\` answers while full`);
}
if (faults.delay || faults.duplicate || faults.reorder) {
  console.log(`relay: ${net.delayed} frames delayed, ${net.duplicated} duplicated, ${net.reordered} held back to reorder; ${net.replay_dropped} dropped by the daemons as replays (duplicates, stale)`);
}
if (faults.clock_step || faults.clock_jump) {
  console.log(`clocks: clock_step seen in the daemon's log timestamps ${clock.steps_seen}/${faults.clock_step ?? 0}, ${clock.stepped_restarts} restarts with a stepped CLOCK_REALTIME; clock_jump: ${clock.jump_stalls} stalls logged by the jumped node, ${clock.jump_deaths} death verdicts, ${clock.jump_fences} fences`);
}
for (const v of violations) console.log(`VIOLATION ${v}`);
if (violations.length > 0) {
  console.log(`replay: ./node_modules/.bin/bun test/cts/run.ts --seed <seed above> --steps ${steps} --nodes ${nodes}${realtime ? " --realtime" : ""}${kinds ? ` --kinds ${kinds.join(",")}` : ""}`);
  console.log(results.find((r) => r.violations.length > 0)?.log_tail ?? "");
}
process.exit(violations.length > 0 ? 1 : 0);
