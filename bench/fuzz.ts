// Long fuzzing run: `bun bench/fuzz.ts [--inputs N] [--seed S] [--target NAME] [--workers W] [--no-control]`
// N inputs (default 1,000,000) into every decoder (test/fuzz/targets.ts),
// targets spread over worker processes, then the control socket of a real
// daemon in a namespace. Prints one table: inputs, inputs/s, crashes,
// invariant violations, hangs, slowest input, heap growth; every finding
// with its replay command. Exit 1 on any finding.
import { cpus } from "node:os";
import { fuzzControl } from "../test/fuzz/control.ts";
import { type FuzzReport, replayCommand, runTarget } from "../test/fuzz/harness.ts";
import { targets } from "../test/fuzz/targets.ts";

function arg(name: string): string | null {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const i = process.argv.indexOf(`--${name}`);
  return hit ? hit.slice(name.length + 3) : i >= 0 ? (process.argv[i + 1] ?? null) : null;
}
function num(name: string, dflt: number): number {
  const v = arg(name);
  if (v === null) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`usage: bun bench/fuzz.ts [--inputs N] [--seed S] [--target NAME] [--workers W] [--no-control] (bad --${name} ${v})`);
    process.exit(2);
  }
  return n;
}

const inputs = num("inputs", 1_000_000);
const seed = num("seed", 1);
const only = arg("target");
const chosen = targets.filter((t) => only === null || t.name === only);
if (only !== null && only !== "control socket" && chosen.length === 0) {
  console.error(`no target ${JSON.stringify(only)}; targets: ${targets.map((t) => t.name).join(", ")}, control socket`);
  process.exit(2);
}

if (process.argv.includes("--worker")) {
  const names = JSON.parse(arg("names")!) as string[];
  for (const t of targets.filter((x) => names.includes(x.name))) console.log(JSON.stringify(runTarget(t, seed, inputs)));
  process.exit(0);
}

const reports: FuzzReport[] = [];
const t0 = performance.now();
if (chosen.length === 1 && !process.argv.includes("--workers")) {
  // replay / single target: in this process, findings in full
  reports.push(runTarget(chosen[0]!, seed, inputs));
} else if (chosen.length > 0) {
  const workers = Math.max(1, Math.min(num("workers", cpus().length), chosen.length));
  // round-robin by expected cost (the slow text parsers spread out)
  const shares: string[][] = Array.from({ length: workers }, () => []);
  chosen.forEach((t, i) => shares[i % workers]!.push(t.name));
  const procs = shares.map((names) =>
    Bun.spawn([process.execPath, import.meta.path, "--worker", "--names", JSON.stringify(names), "--inputs", String(inputs), "--seed", String(seed)], {
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  for (const p of procs) {
    const text = await new Response(p.stdout).text();
    if ((await p.exited) !== 0) {
      console.error(`a fuzz worker exited ${p.exitCode}: ${text.slice(-500)}`);
      process.exit(1);
    }
    for (const line of text.trim().split("\n")) if (line.startsWith("{")) reports.push(JSON.parse(line) as FuzzReport);
  }
}

// The control socket: a real daemon in a namespace (root only).
let control: { lines: number; s: number; bad: string[]; max_ms: number; alive: boolean } | null = null;
if ((only === null || only === "control socket") && !process.argv.includes("--no-control")) {
  const { unavailableReason, createCluster, haCf, authkeys, writeConfigDir } = await import("../src/lab/netns.ts");
  const { LabDaemon, preferredCommand, until } = await import("../src/lab/daemons.ts");
  const why = await unavailableReason();
  if (why) console.log(`control socket: skipped (${why})`);
  else {
    const c = await createCluster({ nodes: 2, links: 1 });
    try {
      const d = new LabDaemon(c, c.node(1), preferredCommand().argv);
      writeConfigDir(d.dir, haCf(c, { keepalive_ms: 100, deadtime_ms: 1000 }), authkeys("control-fuzz-secret"));
      await d.start();
      if ((await until(() => d.tryStatus(), 10_000)) === null) throw new Error(`control fuzz: the daemon does not answer status\n${d.output.slice(-10).join("\n")}`);
      const s0 = performance.now();
      const rep = await fuzzControl(d.socket, seed, inputs);
      const s = (performance.now() - s0) / 1000;
      const alive = d.running && (await d.tryStatus(3000)) !== null;
      control = { lines: rep.lines, s, bad: rep.bad_replies, max_ms: rep.max_reply_ms, alive };
      await d.stop();
    } finally {
      await c.destroy();
    }
  }
}

const wall_s = (performance.now() - t0) / 1000;
console.log(`fuzz: seed ${seed}, ${inputs} inputs per decoder, ${wall_s.toFixed(0)} s wall`);
console.log("| decoder | inputs | inputs/s | crashes | violations | hangs | slowest input ms | max heap growth |");
console.log("|---|---|---|---|---|---|---|---|");
let findings = 0;
for (const r of reports) {
  const by = (k: string) => r.findings.filter((f) => f.kind === k).length;
  findings += r.findings.length;
  console.log(`| ${r.target} | ${r.inputs} | ${((r.inputs / r.wall_ms) * 1000).toFixed(0)} | ${by("crash")} | ${by("violation")} | ${by("hang")} | ${r.max_input_ms.toFixed(1)} | ${(r.heap_growth_bytes / 1024 / 1024).toFixed(1)} MiB |`);
}
if (control) {
  findings += control.bad.length + (control.alive ? 0 : 1);
  console.log(`| control socket (real daemon, batches of 64) | ${control.lines} | ${(control.lines / control.s).toFixed(0)} | ${control.alive ? 0 : 1} | ${control.bad.length} | 0 | ${control.max_ms.toFixed(1)} per batch | n/a |`);
}
for (const r of reports) {
  for (const f of r.findings) {
    console.log(`${f.kind.toUpperCase()} ${r.target} input ${f.index}: ${f.message}\n  input: ${f.input_preview}\n  replay: ${replayCommand(r, f)}`);
  }
}
if (control && control.bad.length > 0) for (const b of control.bad) console.log(`CONTROL: ${b}\n  replay: ./node_modules/.bin/bun bench/fuzz.ts --target 'control socket' --seed ${seed} --inputs ${inputs}`);
if (control && !control.alive) console.log("CONTROL: the daemon stopped answering after the fuzz run");
process.exit(findings > 0 ? 1 : 0);
