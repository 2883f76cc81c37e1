// bench/failover: service failover of tandem against Heartbeat 3.0.6 and
// keepalived 2.2.7, the same lab and the same method for all three (that of
// /work/shared/reference/anchors), printed as a table (issue 4).
//
// Lab, per system and setting, fresh each time: bench/labs.ts (shared with
// bench/jitter.ts).
// Run: the client pings the VIP every 10 ms (bench/icmp_probe.ts, raw socket,
// SCHED_FIFO 1). Fault on the holder: its processes are listed, T0, SIGSTOP
// all of them, its cable is pulled (bridge-side veth down), T1, SIGKILL.
//   failover_ms  T0 -> first echo reply for a request sent after T1
//   overhead_ms  failover_ms - deadtime (tandem; the takeover's own cost)
//   tandem also: detect_ms (T0 -> survivor's node_dead), ip_ms (T0 -> its
//   resource_ok start of the IP), from the daemon's log (ms resolution).
// Then the dead node is cleaned (VIP removed), its cable restored, its daemon
// restarted as the standby, and the next run fails the other way.
// Stability: the candidate settings run side by side, idle, for M minutes;
// any death / takeover / MASTER transition in the logs, or the VIP seen on
// the standby (1 s polls), is a false failover. The tightest candidate with
// none is that system's "tightest stable" setting.
//
//   ./node_modules/.bin/bun bench/failover.ts                  # full: 10 runs, 15 min stability
//   ./node_modules/.bin/bun bench/failover.ts --quick          # 3 runs, 1 min stability
//   ./node_modules/.bin/bun bench/failover.ts --runs 5 --systems tandem,keepalived --settings 10/30,tightest
//   options: --runs N  --systems tandem,heartbeat,keepalived
//            --settings 100/500,20/100,10/30,tightest  --stability-minutes M (0: skip, assume the
//            defaults below)  --json PATH  --quick
//            --tandem-candidates 2/6,5/15,10/30,20/100   tandem's stability candidates (KA/DT ms)
//            --rr-timeslice-ms N   kernel.sched_rr_timeslice_ms for the run (restored at exit)
// Uses dist/tandem when newer than src/ ($TANDEM_BIN overrides), else src/main.ts.
// Targets: overhead median <= 5 ms, p99 <= 20 ms; at matched settings tandem's
// median no worse than the peer's; tightest stable vs tightest stable, tandem's
// median <= 0.4 x keepalived's.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { preferredCommand } from "../src/lab/daemons.ts";
import { unavailableReason } from "../src/lab/netns.ts";
import { all_systems, deadtimeOf, destroyCluster, f0, f1, failoverRuns, hasVip, type Lab, label, loadavg, log, makeLab, median, newCluster, pct, type RunResult, renderTable, setRrTimeslice, type Setting, type SystemName } from "./labs.ts";

// Stability candidates, tightest first; the first with no false failover wins.
const candidates: Record<SystemName, Setting[]> = {
  tandem: [
    { system: "tandem", keepalive_ms: 5, deadtime_ms: 15 },
    { system: "tandem", keepalive_ms: 10, deadtime_ms: 30 },
    { system: "tandem", keepalive_ms: 20, deadtime_ms: 100 },
  ],
  heartbeat: [
    { system: "heartbeat", keepalive_ms: 10, deadtime_ms: 50 },
    { system: "heartbeat", keepalive_ms: 20, deadtime_ms: 100 },
  ],
  keepalived: [
    { system: "keepalived", advert_s: 0.01 },
    { system: "keepalived", advert_s: 0.1 },
  ],
};
/** used when the stability window is skipped (the anchors' findings; tandem's guess) */
const assumed_tightest: Record<SystemName, Setting> = {
  tandem: candidates.tandem[1]!,
  heartbeat: candidates.heartbeat[1]!,
  keepalived: candidates.keepalived[1]!,
};

const matched: Record<string, Setting[]> = {
  "100/500": [
    { system: "tandem", keepalive_ms: 100, deadtime_ms: 500 },
    { system: "heartbeat", keepalive_ms: 100, deadtime_ms: 500 },
  ],
  "20/100": [
    { system: "tandem", keepalive_ms: 20, deadtime_ms: 100 },
    { system: "heartbeat", keepalive_ms: 20, deadtime_ms: 100 },
  ],
  "10/30": [
    { system: "tandem", keepalive_ms: 10, deadtime_ms: 30 },
    { system: "keepalived", advert_s: 0.01 },
  ],
};

// ---------------------------------------------------------------------------
// Stability: candidates side by side, idle.

interface StabilityRow {
  setting: Setting;
  minutes: number;
  false_failovers: number;
  vip_on_standby_polls: number;
  warnings: number;
  error?: string;
}

async function stability(settings: Setting[], minutes: number): Promise<StabilityRow[]> {
  const labs: { lab: Lab | null; s: Setting; error?: string; mark: number; vip_polls: number }[] = [];
  try {
    for (const s of settings) {
      try {
        const c = await newCluster();
        const lab = makeLab(c, s);
        labs.push({ lab, s, mark: 0, vip_polls: 0 });
        await lab.prepare();
        await lab.startAll(60_000);
      } catch (e) {
        labs[labs.length - 1]!.error = (e as Error).message.split("\n")[0];
        log(`stability: ${s.system} ${label(s)} did not start: ${(e as Error).message}`);
      }
    }
    await Bun.sleep(2000);
    for (const l of labs) if (l.lab && !l.error) l.mark = l.lab.failoverEvents();
    const warn0 = labs.map((l) => (l.lab && !l.error ? l.lab.warnings() : 0));
    log(`stability: ${labs.filter((l) => !l.error).length} clusters idle for ${minutes} min`);
    const end = performance.now() + minutes * 60_000;
    let next_report = performance.now() + 60_000;
    while (performance.now() < end) {
      for (const l of labs) {
        if (!l.lab || l.error) continue;
        if (await hasVip(l.lab.c, l.lab.node(2))) l.vip_polls++;
      }
      if (performance.now() >= next_report) {
        next_report += 60_000;
        log(`stability: ${labs.map((l) => `${l.s.system} ${label(l.s)}: ${l.lab && !l.error ? l.lab.failoverEvents() - l.mark : "-"}`).join(", ")}`);
      }
      await Bun.sleep(1000);
    }
    return labs.map((l, i) => ({
      setting: l.s,
      minutes,
      false_failovers: l.lab && !l.error ? l.lab.failoverEvents() - l.mark : -1,
      vip_on_standby_polls: l.vip_polls,
      warnings: l.lab && !l.error ? l.lab.warnings() - warn0[i]! : 0,
      error: l.error,
    }));
  } finally {
    for (const l of labs) if (l.lab) await destroyCluster(l.lab.c);
  }
}


interface Measured {
  group: string;
  setting: Setting;
  results: RunResult[];
  warnings: number;
  false_failovers: number;
  loadavg_start: string;
  loadavg_end: string;
}

function ok(m: Measured): number[] {
  return m.results.map((r) => r.failover_ms).filter((x): x is number => x !== null);
}


function groupTable(ms: Measured[]): string {
  const tandem = ms.find((m) => m.setting.system === "tandem");
  const tmed = tandem ? median(ok(tandem)) : Number.NaN;
  const rows = ms.map((m) => {
    const v = ok(m);
    const dt = deadtimeOf(m.setting);
    const over = v.map((x) => x - dt);
    const isT = m.setting.system === "tandem";
    const okr = m.results.filter((r) => r.failover_ms !== null);
    const num = (f: (r: RunResult) => unknown) => okr.map(f).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
    const after = num((r) => r.after_deadline_ms);
    const det = num((r) => r.detect_ms);
    const ip_after_dead = num((r) => (typeof r.ip_ms === "number" && typeof r.detect_ms === "number" ? r.ip_ms - r.detect_ms : null));
    const garp = num((r) => r.garp_ms);
    const garp_after = num((r) => r.garp_after_deadline_ms);
    const garp_after_ip = num((r) => (typeof r.ip_ms === "number" && typeof r.garp_ms === "number" ? r.garp_ms - r.ip_ms : null));
    return [
      m.setting.system,
      label(m.setting),
      `${v.length}/${m.results.length}`,
      `${f0(Math.min(...v))} / ${f0(median(v))} / ${f0(pct(v, 99))} / ${f0(Math.max(...v))}`,
      `${f0(median(garp))}`,
      isT ? `${f1(median(over))} / ${f1(pct(over, 99))}` : "",
      isT && after.length ? `${f1(median(after))} / ${f1(pct(after, 99))}` : "",
      isT && garp_after.length ? `${f1(median(garp_after))} / ${f1(pct(garp_after, 99))}` : "",
      isT && det.length ? `${f0(median(det))} / ${f0(median(ip_after_dead))} / ${f0(median(garp_after_ip))}` : "",
      isT || !Number.isFinite(tmed) ? "" : `${(tmed / median(v)).toFixed(2)}`,
      `${m.loadavg_start}`,
    ];
  });
  return renderTable(["system", "settings", "runs ok", "failover ms min / median / p99 / max", "GARP at client ms median", "failover - deadtime ms median / p99", "reply after deadline ms median / p99", "GARP after deadline ms median / p99", "median ms: fault->dead / dead->IP up / IP up->GARP", "tandem/peer median", "loadavg start"], rows);
}

// ---------------------------------------------------------------------------
// CLI

const usage = `usage: bun bench/failover.ts [--runs N] [--systems tandem,heartbeat,keepalived]
       [--settings 100/500,20/100,10/30,tightest] [--stability-minutes M] [--quick] [--json PATH]
       [--tandem-candidates KA/DT,...] [--rr-timeslice-ms N]`;

function parseCli(argv: string[]) {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        runs: { type: "string" },
        systems: { type: "string" },
        settings: { type: "string" },
        "stability-minutes": { type: "string" },
        quick: { type: "boolean" },
        json: { type: "string" },
        "tandem-candidates": { type: "string" },
        "rr-timeslice-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`bench/failover: ${(e as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const bad = (m: string): never => {
    process.stderr.write(`bench/failover: ${m}\n${usage}\n`);
    process.exit(2);
  };
  const quick = values.quick === true;
  const int = (name: string, dflt: number, lo: number, hi: number): number => {
    const v = values[name];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (typeof v !== "string" || !/^\d+(\.\d+)?$/.test(v) || n < lo || n > hi) bad(`--${name} must be a number ${lo}..${hi}, got ${JSON.stringify(v)}`);
    return n;
  };
  const runs = int("runs", quick ? 3 : 10, 1, 200);
  const stab = int("stability-minutes", quick ? 1 : 15, 0, 240);
  const systems = String(values.systems ?? all_systems.join(",")).split(",");
  for (const s of systems) if (!all_systems.includes(s as SystemName)) bad(`unknown system ${s} (tandem, heartbeat, keepalived)`);
  const known = [...Object.keys(matched), "tightest"];
  const settings = String(values.settings ?? known.join(",")).split(",");
  for (const s of settings) if (!known.includes(s)) bad(`unknown setting ${s} (${known.join(", ")})`);
  // 0: leave the kernel's SCHED_RR slice as it is
  const rr_timeslice_ms = int("rr-timeslice-ms", 0, 0, 1000);
  if (values["tandem-candidates"] !== undefined) {
    const list: Setting[] = [];
    for (const c of String(values["tandem-candidates"]).split(",")) {
      const m = /^(\d{1,4})\/(\d{1,5})$/.exec(c);
      if (!m || Number(m[1]) < 1 || Number(m[2]) <= Number(m[1])) bad(`--tandem-candidates wants KA/DT in ms with DT > KA >= 1, tightest first, got ${JSON.stringify(c)}`);
      list.push({ system: "tandem", keepalive_ms: Number(m![1]), deadtime_ms: Number(m![2]) });
    }
    candidates.tandem = list;
  }
  return { runs, stab, systems: systems as SystemName[], settings, json: values.json as string | undefined, rr_timeslice_ms };
}


async function main(): Promise<number> {
  const o = parseCli(process.argv.slice(2));
  const why = await unavailableReason();
  if (why) {
    process.stderr.write(`bench/failover: needs root and network namespaces: ${why}\n`);
    return 1;
  }
  const started = new Date();
  const cmd = preferredCommand();
  const rr_note = `; ${setRrTimeslice(o.rr_timeslice_ms).note}`;
  const extra = process.env.FAILOVER_TANDEM_HACF ? ` + ha.cf "${process.env.FAILOVER_TANDEM_HACF}"` : "";
  console.log(`failover benchmark ${started.toISOString()}: tandem = ${cmd.why}${extra}; runs=${o.runs} stability=${o.stab} min${rr_note}; nproc ${navigator.hardwareConcurrency}; loadavg ${loadavg()}`);

  // 1. stability window: decides the tightest stable setting per system
  const tightest: Record<SystemName, { s: Setting; how: string }> = {
    tandem: { s: assumed_tightest.tandem, how: "assumed" },
    heartbeat: { s: assumed_tightest.heartbeat, how: "assumed" },
    keepalived: { s: assumed_tightest.keepalived, how: "assumed" },
  };
  let stab_rows: StabilityRow[] = [];
  if (o.stab > 0 && o.settings.includes("tightest")) {
    const cands = o.systems.flatMap((s) => candidates[s]);
    stab_rows = await stability(cands, o.stab);
    for (const sys of o.systems) {
      const good = stab_rows.find((r) => r.setting.system === sys && !r.error && r.false_failovers === 0 && r.vip_on_standby_polls === 0);
      if (good) tightest[sys] = { s: good.setting, how: `no false failover in ${o.stab} min` };
      else tightest[sys] = { s: candidates[sys].at(-1)!, how: `NO candidate stable in ${o.stab} min; loosest used` };
    }
    console.log(`\nstability: ${stab_rows.length} clusters side by side, idle, ${o.stab} min (loadavg now ${loadavg()})`);
    console.log(
      renderTable(
        ["system", "settings", "false failovers", "VIP on standby (1 s polls)", "late warnings"],
        stab_rows.map((r) => [r.setting.system, label(r.setting), r.error ? `did not start: ${r.error}` : String(r.false_failovers), String(r.vip_on_standby_polls), String(r.warnings)]),
      ),
    );
  }

  // 2. failover runs per setting group
  const groups: { name: string; settings: Setting[] }[] = [];
  for (const g of o.settings) {
    const list = g === "tightest" ? o.systems.map((s) => tightest[s].s) : matched[g]!;
    groups.push({ name: g === "tightest" ? "tightest stable" : `matched ${g}`, settings: list.filter((s) => o.systems.includes(s.system)) });
  }
  const measured: Measured[] = [];
  const tables: string[] = [];
  for (const g of groups) {
    const ms: Measured[] = [];
    for (const s of g.settings) {
      const la0 = loadavg();
      log(`${g.name}: ${s.system} ${label(s)}, ${o.runs} runs (loadavg ${la0})`);
      try {
        const r = await failoverRuns(s, o.runs);
        ms.push({ group: g.name, setting: s, ...r, loadavg_start: la0, loadavg_end: loadavg() });
      } catch (e) {
        log(`${g.name}: ${s.system} ${label(s)} FAILED: ${(e as Error).message}`);
        ms.push({ group: g.name, setting: s, results: [], warnings: 0, false_failovers: 0, loadavg_start: la0, loadavg_end: loadavg() });
      }
    }
    measured.push(...ms);
    const t = groupTable(ms);
    const notes = ms.map((m) => `${m.setting.system}: ${m.false_failovers} false failover events, ${m.warnings} late warnings, loadavg end ${m.loadavg_end}`).join("; ");
    const how = g.name === "tightest stable" ? `\n(${o.systems.map((s) => `${s} ${label(tightest[s].s)}: ${tightest[s].how}`).join("; ")})` : "";
    tables.push(`\n${g.name}${how}\n${t}\n${notes}`);
    console.log(tables.at(-1));
  }

  // 3. targets
  console.log("\ntargets:");
  const tandemAll = measured.filter((m) => m.setting.system === "tandem");
  const over = tandemAll.flatMap((m) => ok(m).map((x) => x - deadtimeOf(m.setting)));
  if (over.length) console.log(`  tandem failover - deadtime, all runs (n=${over.length}): median ${f1(median(over))} ms (target <= 5), p99 ${f1(pct(over, 99))} ms (target <= 20)`);
  // stricter: from the survivor's own deadline (last heard + deadtime), not from the fault
  const after = tandemAll.flatMap((m) => m.results.map((r) => r.after_deadline_ms).filter((x): x is number => typeof x === "number"));
  const garp_after = tandemAll.flatMap((m) => m.results.map((r) => r.garp_after_deadline_ms).filter((x): x is number => typeof x === "number"));
  if (garp_after.length) console.log(`  tandem GARP at the client after the deadline, all runs (n=${garp_after.length}): median ${f1(median(garp_after))} ms, p99 ${f1(pct(garp_after, 99))} ms (no 10 ms probe quantisation)`);
  if (after.length) console.log(`  tandem reply after the deadline, all runs (n=${after.length}): median ${f1(median(after))} ms (target <= 5), p99 ${f1(pct(after, 99))} ms (target <= 20)`);
  for (const g of groups) {
    const ms = measured.filter((m) => m.group === g.name);
    const t = ms.find((m) => m.setting.system === "tandem");
    if (!t) continue;
    for (const p of ms.filter((m) => m !== t)) {
      const ratio = median(ok(t)) / median(ok(p));
      const want = g.name === "tightest stable" && p.setting.system === "keepalived" ? 0.4 : 1;
      console.log(`  ${g.name}: tandem ${label(t.setting)} median ${f1(median(ok(t)))} ms vs ${p.setting.system} ${label(p.setting)} ${f1(median(ok(p)))} ms: ratio ${ratio.toFixed(2)} (target <= ${want}) ${ratio <= want ? "met" : "MISSED"}`);
    }
  }
  console.log(`loadavg start ${measured[0]?.loadavg_start ?? "-"}, end ${loadavg()}`);
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ started: started.toISOString(), tandem: cmd.why, runs: o.runs, stability_minutes: o.stab, stability: stab_rows, measured }, null, 1));
    console.log(`wrote ${o.json}`);
  }
  return 0;
}

process.exitCode = await main();

