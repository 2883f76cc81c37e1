// build.ts end to end: the addon is embedded in dist/tandem and loads from
// the compiled binary on a machine without Bun or a compiler (a copy of the
// binary, an empty PATH, a fresh TMPDIR).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");
const bun = process.execPath;
let dir: string;
let build: { code: number | null; out: string };

function run(argv: string[], env: Record<string, string>, cwd: string) {
  const r = Bun.spawnSync(argv, { cwd, env, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tandem-build-"));
  const r = run([bun, "run", "build.ts"], { ...process.env } as Record<string, string>, root);
  build = { code: r.code, out: r.stdout + r.stderr };
}, 180_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("build.ts", () => {
  test("builds the addon and dist/tandem", () => {
    if (build.code !== 0) throw new Error(`bun run build.ts failed:\n${build.out}`);
    expect(build.out).toMatch(/addon: (built|.* is up to date)/);
    expect(build.out).toContain("bin: built dist/tandem");
  });

  test("does not rebuild an up-to-date addon", () => {
    const r = run([bun, "run", "build.ts", "addon"], { ...process.env } as Record<string, string>, root);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("addon: src/native/tandem.node is up to date");
  });

  test("an unknown target is a usage error", () => {
    const bad = run([bun, "run", "build.ts", "nonsense"], { ...process.env } as Record<string, string>, root);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("usage: bun run build.ts");
  });

  test("a missing compiler is a clear error naming the apt packages", () => {
    const copy = join(dir, "nocc");
    mkdirSync(join(copy, "native"), { recursive: true });
    mkdirSync(join(copy, "src/native"), { recursive: true });
    for (const f of ["build.ts", "native/tandem.c", "native/ip.c", "native/watchdog.c", "native/serial.c", "native/drbd.c", "native/tandem.h"]) copyFileSync(join(root, f), join(copy, f));
    const r = run([bun, "run", "build.ts", "addon"], { PATH: join(dir, "nowhere") }, copy);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("build.ts: no C compiler");
    expect(r.stderr).toContain("apt-get install gcc");
    const r2 = run([bun, "run", "build.ts", "addon"], { PATH: process.env.PATH ?? "", CC: "no-such-cc" }, copy);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("$CC=no-such-cc not found");
  });

  test("the copied binary runs `version` with the embedded addon, no bun in PATH, fresh TMPDIR", () => {
    if (build.code !== 0) throw new Error("build failed (see the first test)");
    const bin_dir = join(dir, "bin");
    const empty_path = join(dir, "empty-path");
    const tmp = join(dir, "tmp");
    for (const d of [bin_dir, empty_path, tmp]) mkdirSync(d);
    copyFileSync(join(root, "dist/tandem"), join(bin_dir, "tandem"));
    const r = run([join(bin_dir, "tandem"), "version"], { PATH: empty_path, TMPDIR: tmp }, dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tandem \S+ \(addon tandem-native \d+\.\d+\.\d+ \(N-API \d+, [^)]*\)\)\n$/);
    // Bun unpacked the addon into our TMPDIR to dlopen() it.
    expect(readdirSync(tmp).some((f) => f.endsWith(".node"))).toBe(true);
  });

  // Needs root and a kernel that lets us mount a tmpfs; skipped otherwise.
  test("a noexec TMPDIR degrades `version` and names the fix", () => {
    if (build.code !== 0) throw new Error("build failed (see the first test)");
    if (process.getuid?.() !== 0) return;
    const mnt = join(dir, "noexec");
    mkdirSync(mnt);
    const m = run(["mount", "-t", "tmpfs", "-o", "noexec,nosuid,size=16m", "tandem-noexec", mnt], { PATH: process.env.PATH ?? "" }, dir);
    if (m.code !== 0) return;
    try {
      const r = run([join(root, "dist/tandem"), "version"], { PATH: "/nonexistent", TMPDIR: mnt }, dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("(addon unavailable: cannot load the native addon (");
      expect(r.stdout).toContain("TMPDIR=/var/lib/tandem");
    } finally {
      run(["umount", mnt], { PATH: process.env.PATH ?? "" }, dir);
    }
  });
});
