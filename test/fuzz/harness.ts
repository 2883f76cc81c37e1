// Runs one fuzz target for N inputs from one seed and reports: inputs,
// inputs/s, crashes (throws the decoder does not document), invariant
// violations, the slowest input, heap growth. The whole sequence derives
// from the seed, so `--seed S --inputs I+1` replays a finding at input I.
import { FuzzViolation, type FuzzTarget, type Input } from "./targets.ts";
import { Prng } from "./mutate.ts";

export interface Finding {
  index: number;
  kind: "crash" | "violation" | "hang";
  message: string;
  input_preview: string;
}

export interface FuzzReport {
  target: string;
  seed: number;
  inputs: number;
  wall_ms: number;
  max_input_ms: number;
  heap_growth_bytes: number;
  findings: Finding[];
}

/**
 * One input taking more than this much CPU is a hang (a decoder loops on
 * input size, not time). CPU, not wall time: on a loaded machine a stalled
 * process is not a hung decoder (a 2.4 s wall-clock "hang" replayed in 0.02 ms).
 */
export const input_ms_max = 2000;
const findings_max = 20;

function preview(x: Input): string {
  const s = typeof x === "string" ? JSON.stringify(x.slice(0, 80)) : Buffer.from(x.subarray(0, 48)).toString("hex");
  return `${typeof x === "string" ? `text[${x.length}]` : `bytes[${x.length}]`} ${s}`;
}

function heapUsed(): number {
  Bun.gc(true);
  return process.memoryUsage().heapUsed;
}

export function runTarget(t: FuzzTarget, seed: number, inputs: number, opts: { time_max_ms?: number } = {}): FuzzReport {
  const r = new Prng(seed);
  const inst = t.setup();
  const findings: Finding[] = [];
  // warm-up outside the measurement: JIT, lazily built tables
  const warm = new Prng(seed ^ 0x5a5a);
  for (let i = 0; i < 50; i++) {
    try {
      inst.run(inst.input(warm), warm);
    } catch {
      // judged in the real run
    }
  }
  const heap0 = heapUsed();
  let heap_max = heap0;
  const t0 = performance.now();
  let max_input_ms = 0;
  let i = 0;
  for (; i < inputs; i++) {
    const input = inst.input(r);
    const cpu0 = process.cpuUsage();
    const s0 = performance.now();
    try {
      inst.run(input, r);
    } catch (e) {
      if (!(e instanceof FuzzViolation) && inst.allowed?.(e)) {
        // documented error
      } else if (findings.length < findings_max) {
        findings.push({
          index: i,
          kind: e instanceof FuzzViolation ? "violation" : "crash",
          message: e instanceof Error ? `${e.name}: ${e.message}\n${(e.stack ?? "").split("\n").slice(1, 4).join("\n")}` : String(e),
          input_preview: preview(input),
        });
      }
    }
    const ms = performance.now() - s0;
    if (ms > max_input_ms) max_input_ms = ms;
    if (ms > input_ms_max && findings.length < findings_max) {
      const cpu = process.cpuUsage(cpu0);
      const cpu_ms = (cpu.user + cpu.system) / 1000;
      if (cpu_ms > input_ms_max) findings.push({ index: i, kind: "hang", message: `${cpu_ms.toFixed(0)} ms CPU (${ms.toFixed(0)} ms wall) for one input`, input_preview: preview(input) });
    }
    if ((i & 0x3fff) === 0x3fff) heap_max = Math.max(heap_max, heapUsed());
    if (opts.time_max_ms !== undefined && performance.now() - t0 > opts.time_max_ms) {
      i++;
      break;
    }
  }
  const wall_ms = performance.now() - t0;
  heap_max = Math.max(heap_max, heapUsed());
  return { target: t.name, seed, inputs: i, wall_ms, max_input_ms, heap_growth_bytes: heap_max - heap0, findings };
}

export function replayCommand(rep: FuzzReport, f: Finding): string {
  return `./node_modules/.bin/bun bench/fuzz.ts --target '${rep.target}' --seed ${rep.seed} --inputs ${f.index + 1}`;
}
