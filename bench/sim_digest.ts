// Equivalence check for simulator and core speed-ups:
//   bun bench/sim_digest.ts [--schedules N] [--from S] > digests.txt
// prints one line per seed: seed, class and a SHA-1 over every core step the
// schedule made (virtual time, node, the event, the actions returned and,
// for placement, the announcement after the step) and the run's totals
// (violations, faults, logs, starts, and the placement runs' simulated time;
// not the raw count of queue pops, which superseded timer entries used to
// inflate, nor the membership runs' end time, the time of the last pop,
// which such an entry could be). Two trees that
// print the same lines made the same decisions in the same order from the
// same random draws: `diff` the output of the old tree against the new one.
// The membership and fencing cores inside the placement simulator are
// covered through what they feed placement (node_up/node_dead, fence_done)
// and through the totals, which move with any change in random draws.
import { classOf, classOptions } from "../test/sim/classes.ts";
import { runSeed } from "../test/sim/cluster.ts";
import * as membership from "../src/core/membership.ts";
import * as placement from "../src/core/placement.ts";
import { runPlacementSeed } from "../test/sim/placement_sim.ts";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const n = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`usage: bun bench/sim_digest.ts [--schedules N] [--from S]  (bad --${name})`);
    process.exit(2);
  }
  return n;
}

const from = arg("from", 1);
const count = arg("schedules", 1000);
for (let seed = from; seed < from + count; seed++) {
  const h = new Bun.CryptoHasher("sha1");
  const cls = classOf(seed);
  let totals: unknown;
  if (cls === "membership") {
    const r = runSeed(seed, {}, (s, ev, now) => {
      const acts = membership.step(s, ev, now);
      h.update(`${s.cfg.self} ${now} ${JSON.stringify(ev)} ${JSON.stringify(acts)} ${membership.nextDeadline(s)}\n`);
      return acts;
    });
    totals = [r.deaths_declared, r.faults, r.violations];
  } else {
    const r = runPlacementSeed(seed, classOptions(seed), (s, ev, now) => {
      const acts = placement.step(s, ev, now);
      h.update(`${s.cfg.self} ${now} ${JSON.stringify(ev)} ${JSON.stringify(acts)} ${JSON.stringify(placement.announcement(s))} ${placement.nextDeadline(s)}\n`);
      return acts;
    });
    totals = [r.simulated_ms, r.starts, r.faults, r.logs, r.violations];
  }
  h.update(JSON.stringify(totals));
  console.log(`${seed} ${cls} ${h.digest("hex")}`);
}
