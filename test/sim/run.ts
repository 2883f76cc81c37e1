// Simulator command: `bun test/sim/run.ts [--placement] [--seeds N] [--from S] [--seed S]`.
// --placement runs the failover simulator (membership + placement) instead.
// Runs many seeds, prints a summary table, and for a failure the exact seed
// to replay ("reproduce with --seed=S"). Exit 1 on any violation.
import { runSeed } from "./cluster.ts";
import { runPlacement } from "./placement_run.ts";

function arg(name: string): number | null {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const i = process.argv.indexOf(`--${name}`);
  const v = hit ? hit.split("=")[1] : i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`usage: bun test/sim/run.ts [--seeds N] [--from S] [--seed S]  (bad --${name} ${v})`);
    process.exit(2);
  }
  return n;
}

const one = arg("seed");
const from = one ?? arg("from") ?? 1;
const count = one !== null ? 1 : (arg("seeds") ?? 1000);
if (process.argv.includes("--placement")) {
  // overrides of the swarm: --nodes N (2..8; quorum follows `quorum auto`), --fencing 0|1, --freezes 0|1
  const nodes = arg("nodes");
  const fencing = arg("fencing");
  const freezes = arg("freezes");
  if (nodes !== null && (nodes < 2 || nodes > 8)) {
    console.error("usage: --nodes 2..8");
    process.exit(2);
  }
  const opts = {
    ...(nodes !== null ? { nodes } : {}),
    ...(fencing !== null ? { fencing_required: fencing > 0 } : {}),
    ...(freezes !== null ? { freezes: freezes > 0 } : {}),
  };
  process.exit(runPlacement(from, count, process.argv.includes("--trace"), opts));
}
const t0 = performance.now();
let failed = 0;
let sim_ms = 0;
let events = 0;
let deaths = 0;
const faults: Record<string, number> = {};
for (let seed = from; seed < from + count; seed++) {
  const r = runSeed(seed);
  sim_ms += r.simulated_ms * r.options.nodes;
  events += r.events;
  deaths += r.deaths_declared;
  for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
  if (r.violations.length > 0) {
    failed++;
    console.log(`seed ${seed} FAILED (${JSON.stringify(r.options)}):`);
    for (const v of r.violations) console.log(`  ${v}`);
    console.log(`  reproduce with: bun test/sim/run.ts --seed=${seed}`);
  }
}
const wall_s = (performance.now() - t0) / 1000;
const node_hours = sim_ms / 3_600_000;
console.log("| seeds | failed | events | simulated node-hours | deaths declared | wall s | node-hours per CPU-minute |");
console.log("|---|---|---|---|---|---|---|");
console.log(
  `| ${count} | ${failed} | ${events} | ${node_hours.toFixed(1)} | ${deaths} | ${wall_s.toFixed(1)} | ${(node_hours / (wall_s / 60)).toFixed(0)} |`,
);
console.log(`faults: ${JSON.stringify(faults)}`);
process.exit(failed > 0 ? 1 : 0);
