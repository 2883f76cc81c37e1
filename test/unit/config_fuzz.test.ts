// Fuzz: seeded random and mutated ha.cf/authkeys never make the parsers throw,
// hang, or produce a malformed diagnostic. Reproduce with CONFIG_FUZZ_SEED=N.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAuthKeys } from "../../src/config/authkeys.ts";
import { checkHaCf, directives } from "../../src/config/hacf.ts";
import type { Diagnostic } from "../../src/config/types.ts";

const iterations = 3000;
const time_budget_ms = 20_000;
const seed = Number(process.env.CONFIG_FUZZ_SEED ?? Date.now() % 1_000_000);

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(s: number) {
  let a = s >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const fixtures = join(import.meta.dir, "../fixtures/config");
function corpus(file: string): string[] {
  const out: string[] = [];
  for (const group of ["good", "seeds", "bad", "warn"]) {
    for (const d of readdirSync(join(fixtures, group))) {
      try {
        out.push(readFileSync(join(fixtures, group, d, file), "utf8"));
      } catch {
        // this fixture has no such file
      }
    }
  }
  return out;
}

const words = [
  ...Object.keys(directives), "auth", "1", "15", "16", "-1", "0", "2s", "500ms", "1.5", ".5", "1e9", "99999999999999999999",
  "1us", "eth0", "eth0/1", "lo", "239.0.0.1", "ff02::1", "10.0.0.1", "fe80::1%eth0", "::", "256.1.1.1", "sha1", "sha256", "md5",
  "crc", "on", "off", "legacy", "yes", "*", "#", ",", "\t", "\r", "\0", "\uFFFD", "é", "🙂", "x".repeat(300), "__proto__", "constructor",
  "toString", "hasOwnProperty",
];

function mutate(rng: Rng, text: string): string {
  const lines = text.split("\n");
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const at = rng.int(lines.length + 1);
    switch (rng.int(8)) {
      case 0: lines.splice(at, 1); break;
      case 1: lines.splice(at, 0, Array.from({ length: 1 + rng.int(6) }, () => rng.pick(words)).join(rng.pick([" ", "\t", ",", "  "]))); break;
      case 2: lines.splice(at, 0, lines[rng.int(lines.length)] ?? ""); break;
      case 3: {
        const l = lines[at] ?? "";
        const p = rng.int(l.length + 1);
        lines[at] = l.slice(0, p) + rng.pick(words) + l.slice(p + rng.int(3));
        break;
      }
      case 4: lines[at] = (lines[at] ?? "").split(/\s+/).map((w) => (rng.next() < 0.3 ? rng.pick(words) : w)).join(" "); break;
      case 5: lines[at] = `${lines[at] ?? ""}\r`; break;
      case 6: lines.length = Math.min(lines.length, at); break;
      default: lines[at] = String.fromCharCode(...Array.from({ length: rng.int(40) }, () => rng.int(0x110))); break;
    }
  }
  return lines.join("\n");
}

function randomBytes(rng: Rng): Uint8Array {
  return new Uint8Array(rng.int(2048)).map(() => rng.int(256));
}

function checkShape(ds: Diagnostic[], line_count: number) {
  for (const d of ds) {
    expect(d.severity === "error" || d.severity === "warning").toBe(true);
    expect(Number.isInteger(d.line) && d.line >= 0 && d.line <= line_count).toBe(true);
    expect(typeof d.message === "string" && d.message.length > 0 && d.message.length < 2000).toBe(true);
  }
}

describe(`config fuzz (CONFIG_FUZZ_SEED=${seed})`, () => {
  test(`${iterations} mutated and random files: no throw, bounded time, well-formed diagnostics`, () => {
    const rng = prng(seed);
    const hacfs = corpus("ha.cf");
    const keys = corpus("authkeys");
    const started = performance.now();
    for (let i = 0; i < iterations; i++) {
      const kind = rng.int(10);
      const hacf = kind === 0 ? randomBytes(rng) : mutate(rng, rng.pick(hacfs));
      const auth = kind === 1 ? randomBytes(rng) : mutate(rng, rng.pick(keys));
      const lines_of = (x: string | Uint8Array) => (typeof x === "string" ? x : new TextDecoder().decode(x)).split("\n").length;
      try {
        const self = rng.next() < 0.5 ? rng.pick(["alice", "node1", "A", "Alice", ""]) : undefined;
        const h = checkHaCf(hacf, "ha.cf", { self_node: self });
        checkShape(h.diagnostics, lines_of(hacf));
        const hasErr = h.diagnostics.some((d) => d.severity === "error");
        expect(h.config === null).toBe(hasErr);
        const a = parseAuthKeys(auth, "authkeys");
        checkShape(a.diagnostics, lines_of(auth));
        if (a.keys) expect(a.keys.keys.get(a.keys.active.index)).toBe(a.keys.active);
      } catch (e) {
        throw new Error(`iteration ${i}: reproduce with CONFIG_FUZZ_SEED=${seed}: ${(e as Error).message}`);
      }
    }
    expect(performance.now() - started).toBeLessThan(time_budget_ms);
  }, 60_000);
});
