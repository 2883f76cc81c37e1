// Per-file scratch directories for tests that write config dirs: one temp
// root per test file, removed after the file's tests, and a fresh empty
// subdirectory per call.
import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function scratchDirs(prefix: string): () => string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let count = 0;
  return () => {
    const d = join(root, `d${count++}`);
    mkdirSync(d);
    return d;
  };
}
