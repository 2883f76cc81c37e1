// `bun test/sim/run.ts --placement [--seeds N] [--from S] [--seed S] [--nodes N] [--fencing 0|1] [--freezes 0|1] [--trace]`:
// the failover simulator over many seeds; a failure prints its seed to replay.
import { type PlacementSwarm, runPlacementSeed } from "./placement_sim.ts";

export function runPlacement(from: number, count: number, trace: boolean, opts: Partial<PlacementSwarm> = {}): number {
  const t0 = performance.now();
  let failed = 0;
  let sim_ms = 0;
  let events = 0;
  let starts = 0;
  const faults: Record<string, number> = {};
  const logs: Record<string, number> = {};
  const tracer = trace ? (line: string) => console.log(line) : null;
  for (let seed = from; seed < from + count; seed++) {
    const r = runPlacementSeed(seed, opts, undefined, tracer);
    sim_ms += r.simulated_ms * r.options.nodes;
    events += r.events;
    starts += r.starts;
    for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.logs)) logs[k] = (logs[k] ?? 0) + v;
    if (r.violations.length === 0) continue;
    failed++;
    console.log(`seed ${seed} FAILED (${JSON.stringify(r.options)}):`);
    for (const v of r.violations) console.log(`  ${v}`);
    const extra = Object.entries(opts).map(([k, v]) => ` --${k.replace(/_/g, "-")} ${v}`).join("");
    console.log(`  reproduce with: bun test/sim/run.ts --placement --seed=${seed}${extra} [--trace]`);
  }
  const wall_s = (performance.now() - t0) / 1000;
  console.log("| seeds | failed | events | group starts | simulated node-hours | wall s | seeds/s |");
  console.log("|---|---|---|---|---|---|---|");
  console.log(
    `| ${count} | ${failed} | ${events} | ${starts} | ${(sim_ms / 3_600_000).toFixed(1)} | ${wall_s.toFixed(1)} | ${(count / wall_s).toFixed(0)} |`,
  );
  console.log(`faults: ${JSON.stringify(faults)}`);
  console.log(`placement logs: ${JSON.stringify(logs)}`);
  return failed > 0 ? 1 : 0;
}
