// The fast slice of the decoder fuzzers (test/fuzz/targets.ts): every decoder
// gets a few thousand random, mutated and structure-aware inputs from a fixed
// seed (FUZZ_SEED=N to vary). `bun bench/fuzz.ts` runs 10^6 per decoder.
import { describe, expect, test } from "bun:test";
import { runTarget, replayCommand } from "../fuzz/harness.ts";
import { type FuzzTarget, targets } from "../fuzz/targets.ts";

const seed = Number(process.env.FUZZ_SEED ?? 1);
const inputs = 2000;

describe(`decoder fuzz (FUZZ_SEED=${seed})`, () => {
  for (const t of targets) {
    test(`${t.name}: ${t.contract}`, () => {
      // a fixed count, not a time budget: the same inputs on any machine (~0.1-1 s CPU per decoder)
      const rep = runTarget(t, seed, inputs);
      const shown = rep.findings.map((f) => `${f.kind} at input ${f.index}: ${f.message}\n  ${f.input_preview}\n  replay: ${replayCommand(rep, f)}`);
      expect(shown).toEqual([]);
      expect(rep.inputs).toBe(inputs);
    }, 30_000);
  }

  // The harness must be able to fail.
  test("an undocumented throw is reported as a crash, a documented one is not", () => {
    const bad: FuzzTarget = {
      name: "throws",
      contract: "",
      setup: () => ({
        input: (r) => new Uint8Array([r.int(0, 255)]),
        run: (x) => {
          if ((x as Uint8Array)[0]! > 200) throw new TypeError("boom");
          if ((x as Uint8Array)[0]! < 10) throw new RangeError("documented");
        },
        allowed: (e) => e instanceof RangeError,
      }),
    };
    const rep = runTarget(bad, 1, 500);
    expect(rep.findings.length).toBeGreaterThan(0);
    expect(rep.findings.every((f) => f.kind === "crash" && f.message.includes("boom"))).toBe(true);
  });
});
