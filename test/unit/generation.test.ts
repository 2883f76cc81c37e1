// The per-boot generation (src/daemon/generation.ts) on a real, tiny tmpfs:
// a full state directory must make nextGeneration refuse (the daemon then
// exits with `fatal`) and leave the stored value alone, so the next start
// with space back still gets a generation above every earlier one.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nextGeneration, StateDirError } from "../../src/daemon/generation.ts";

const base = mkdtempSync(join(tmpdir(), "tandem-gen-"));
const mnt = join(base, "state");
mkdirSync(mnt);
const mounted = process.getuid?.() === 0 && spawnSync("mount", ["-t", "tmpfs", "-o", "size=65536", "tandem-gen-test", mnt]).status === 0;
afterAll(() => {
  if (mounted) spawnSync("umount", ["-l", mnt]);
  rmSync(base, { recursive: true, force: true });
});

describe("nextGeneration", () => {
  test("strictly increasing across starts in the same second, and above a stored value ahead of the clock", () => {
    const dir = join(base, "plain");
    const now = 1_800_000_000;
    expect(nextGeneration(dir, now)).toBe(now);
    expect(nextGeneration(dir, now)).toBe(now + 1);
    expect(nextGeneration(dir, now)).toBe(now + 2);
    // the clock stepped back an hour: the stored value still wins
    expect(nextGeneration(dir, now - 3600)).toBe(now + 3);
    expect(readFileSync(join(dir, "generation"), "utf8")).toBe(`${now + 3}\n`);
  });

  (mounted ? test : test.skip)("a full state directory (ENOSPC) is refused with a clear error and the stored generation is kept", () => {
    const now = 1_800_000_000;
    expect(nextGeneration(mnt, now)).toBe(now);
    const filler = join(mnt, "filler");
    const fd = openSync(filler, "w");
    let full = false;
    try {
      for (let k = 0; k < 64; k++) writeSync(fd, Buffer.alloc(4096));
    } catch (e) {
      full = (e as NodeJS.ErrnoException).code === "ENOSPC";
    } finally {
      closeSync(fd);
    }
    expect(full).toBe(true);
    let err: unknown = null;
    try {
      nextGeneration(mnt, now);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDirError);
    expect((err as Error).message).toContain(`cannot persist generation in ${join(mnt, "generation")}: ENOSPC`);
    expect((err as Error).message).toContain("not starting with a generation that could repeat");
    expect(readFileSync(join(mnt, "generation"), "utf8")).toBe(`${now}\n`);
    // space back: the next start gets the value after the last persisted one
    rmSync(filler);
    expect(nextGeneration(mnt, now)).toBe(now + 1);
  });

  test("a state directory that cannot be created is a StateDirError", () => {
    const file = join(base, "not-a-dir");
    writeFileSync(file, "x");
    expect(() => nextGeneration(join(file, "sub"))).toThrow(StateDirError);
  });
});
