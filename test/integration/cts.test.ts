// CTS slice for the default suite: a short seeded fault campaign on real
// daemons (test/cts/campaign.ts). `./run cts` runs the long one with a
// summary table. CTS_SEED=N picks another schedule; a violation prints its
// seed and step and the daemons' logs.
import { expect, test } from "bun:test";
import { classic_kinds, runCampaign } from "../cts/campaign.ts";
import { netnsAvailable } from "./support.ts";

const seed = Number(process.env.CTS_SEED ?? 7);
const steps = Number(process.env.CTS_STEPS ?? 10);

if (netnsAvailable("cts.test.ts")) {
  test(`CTS campaign: seed ${seed}, ${steps} fault steps, no group twice, every group back, no crash, status = kernel`, async () => {
    const lines: string[] = [];
    // the relay and clock kinds have their own tests (impair.test.ts, clock.test.ts)
    const r = await runCampaign({ seed, steps, kinds: classic_kinds, log: (l) => lines.push(l) });
    process.stderr.write(`  cts: ${r.steps} steps ${JSON.stringify(r.faults)}, ${r.fenced} fenced, ${(r.wall_ms / 1000).toFixed(0)} s\n`);
    expect(r.violations, `${lines.join("\n")}\n${r.log_tail}\nreplay: bun test/cts/run.ts --seed ${seed} --steps ${steps}`).toEqual([]);
    expect(r.steps).toBe(steps);
  }, 240_000);
}
