// The schedule classes of bench/sim_scale.ts: a seed's class is seed % 10,
// so a seed alone replays. Shared with bench/sim_digest.ts.
import { type PlacementSwarm, placementSwarm } from "./placement_sim.ts";
import { Prng } from "./prng.ts";

export const classes = ["membership", "placement", "fencing", "long-haul"] as const;
export type ClassName = (typeof classes)[number];

export function classOf(seed: number): ClassName {
  const m = seed % 10;
  return m < 3 ? "membership" : m < 6 ? "placement" : m < 8 ? "fencing" : "long-haul";
}

/** Heartbeat-like timing: every time in the seed's swarm scaled so keepalive is 1-2 s. */
export function longHaul(seed: number): Partial<PlacementSwarm> {
  const base = placementSwarm(seed);
  const r = new Prng(seed ^ 0x10a6);
  const scale = r.pick([1000, 2000]) / base.keepalive_ms;
  const o: Record<string, number> = {};
  for (const [k, v] of Object.entries(base)) if (typeof v === "number" && /_ms(_max)?$/.test(k)) o[k] = v * scale;
  o.duration_ms = r.int(20, 60) * 60_000;
  o.fault_interval_ms = r.int(2, 10) * 60_000;
  o.monitor_interval_ms = r.pick([10_000, 30_000, 60_000]);
  return o as Partial<PlacementSwarm>;
}

/** The swarm overrides of a placement-simulator class. */
export function classOptions(seed: number): Partial<PlacementSwarm> {
  const cls = classOf(seed);
  return cls === "fencing" ? { fencing_required: true } : cls === "long-haul" ? longHaul(seed) : {};
}
