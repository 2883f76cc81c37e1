// src/daemon/pages.ts and the addon's dropPages: the daemon unmaps the
// runtime's read-only file pages after start-up (RSS), without losing data
// and, when memory is locked, locking the ranges again on fault.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ptr } from "bun:ffi";
import { native } from "../../src/native/addon.ts";
import { droppable, pagesPolicy, parseSmaps, releaseIdlePages, releaseIdlePagesLogged } from "../../src/daemon/pages.ts";

const root = join(import.meta.dir, "../..");
const addon_path = join(root, "src/native/tandem.node");
let dir: string;

beforeAll(() => {
  const stale = !existsSync(addon_path) || ["native/tandem.c", "native/tandem.h"].some((p) => statSync(join(root, p)).mtimeMs > statSync(addon_path).mtimeMs);
  if (stale) {
    const r = Bun.spawnSync([process.execPath, "run", "build.ts", "addon"], { cwd: root, stderr: "pipe", stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building the addon failed:\n${r.stdout}\n${r.stderr}`);
  }
  dir = mkdtempSync(join(tmpdir(), "tandem-pages-"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Rss (kB) of this process's mappings of `path`, from /proc/self/smaps */
function rssOf(path: string): number {
  return parseSmaps(require("node:fs").readFileSync("/proc/self/smaps", "utf8"))
    .filter((m) => m.path === path)
    .reduce((a, m) => a + m.rss_kb, 0);
}

const sample = `00400000-00600000 r-xp 00001000 fe:00 1234                               /usr/bin/tandem
Size:               2048 kB
Rss:                 512 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me lo lf
00600000-00700000 rw-p 00201000 fe:00 1234                               /usr/bin/tandem
Rss:                 100 kB
Anonymous:             8 kB
VmFlags: rd wr mr mw me ac lo lf
00700000-00800000 r--p 00000000 00:00 0
Rss:                  64 kB
Anonymous:            64 kB
VmFlags: rd mr mw me ac
7f0000000000-7f0000001000 r--p 00002000 fe:00 99                         /usr/lib/libc.so.6
Rss:                   4 kB
Anonymous:             4 kB
VmFlags: rd mr mw me
7f0000100000-7f0000200000 r--s 00000000 00:05 7                          /dev/mem
Rss:                   4 kB
Anonymous:             0 kB
VmFlags: rd sh mr mw me io pf
7f0000300000-7f0000301000 r--p 00000000 fe:00 5                          /lib/unused.so
Rss:                   0 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
`;

describe("which mappings", () => {
  test("parseSmaps reads ranges, paths, Rss, Anonymous and VmFlags", () => {
    const m = parseSmaps(sample);
    expect(m.length).toBe(6);
    expect(m[0]).toEqual({ start: 0x400000, end: 0x600000, perms: "r-xp", path: "/usr/bin/tandem", rss_kb: 512, anon_kb: 0, flags: ["rd", "ex", "mr", "mw", "me", "lo", "lf"] });
    expect(m[2]!.path).toBe(""); // inode 0: anonymous
  });

  test("only clean, read-only file pages: not writable, not copy-on-write, not devices, not anonymous, not empty", () => {
    expect(droppable(parseSmaps(sample)).map((m) => m.start)).toEqual([0x400000]);
  });
});

describe("dropPages (real mappings)", () => {
  test("unmaps resident pages of a file mapping; the data reads back unchanged", () => {
    const path = join(dir, "data");
    const size = 64 * 4096;
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7) & 0xff;
    writeFileSync(path, bytes);
    const m = Bun.mmap(path);
    let sum = 0;
    for (let i = 0; i < size; i += 4096) sum += m[i]!;
    expect(rssOf(path)).toBe(size / 1024);
    native.dropPages(ptr(m), size, false);
    expect(rssOf(path)).toBe(0);
    let again = 0;
    for (let i = 0; i < size; i += 4096) again += m[i]!;
    expect(again).toBe(sum);
    expect(Buffer.from(m).equals(Buffer.from(bytes))).toBe(true);
    expect(rssOf(path)).toBe(size / 1024);
  });

  test("refuses a range that is not page-aligned", () => {
    expect(() => native.dropPages(4097, 4096, false)).toThrow(/page-aligned/);
    expect(() => native.dropPages(4096, 100, false)).toThrow(/page-aligned/);
    expect(() => native.dropPages(-4096, 4096, false)).toThrow(RangeError);
  });
});

describe("releaseIdlePages", () => {
  test("in this process: the runtime's pages go, the process runs on", () => {
    const r = releaseIdlePages();
    expect(r.errors).toEqual([]);
    expect(r.mappings).toBeGreaterThan(0);
    expect(r.dropped_kb).toBeGreaterThan(1024);
    expect(r.rss_after_kb).toBeLessThan(r.rss_before_kb);
    expect(JSON.stringify({ still: "running" })).toBe('{"still":"running"}');
  });

  test("with memory locked (mlockall MCL_ONFAULT, as realtime on): dropped, and locked again on fault", () => {
    if (process.getuid?.() !== 0) return; // mlockall needs root or an unlimited RLIMIT_MEMLOCK
    // a child: this test runner's memory is not to be locked
    const script = `
      const { native } = await import(${JSON.stringify(join(root, "src/native/addon.ts"))});
      const { releaseIdlePages, parseSmaps } = await import(${JSON.stringify(join(root, "src/daemon/pages.ts"))});
      const c = native.constants;
      native.mlockall(c.MCL_CURRENT | c.MCL_FUTURE | c.MCL_ONFAULT);
      const r = releaseIdlePages();
      const exe = require("node:fs").readlinkSync("/proc/self/exe");
      const text = parseSmaps(require("node:fs").readFileSync("/proc/self/smaps", "utf8")).filter((m) => m.path === exe && m.perms === "r-xp");
      console.log(JSON.stringify({ r, text_flags: text.map((m) => m.flags), text_rss_kb: text.reduce((a, m) => a + m.rss_kb, 0) }));
    `;
    const p = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    expect(p.stderr.toString()).toBe("");
    const out = JSON.parse(p.stdout.toString());
    expect(out.r.errors).toEqual([]);
    expect(out.r.rss_after_kb).toBeLessThan(out.r.rss_before_kb);
    // the code running now came back, and is locked again
    expect(out.text_rss_kb).toBeGreaterThan(0);
    expect(out.text_flags.length).toBeGreaterThan(0);
    for (const f of out.text_flags) expect(f).toEqual(expect.arrayContaining(["lo", "lf"]));
  });

  test("policy: by default only when memory is not locked; TANDEM_PAGES=release|keep decide; anything else is named", () => {
    expect(pagesPolicy(undefined, false)).toEqual({ release: true });
    expect(pagesPolicy(undefined, true)).toEqual({ release: false });
    expect(pagesPolicy("", true)).toEqual({ release: false });
    expect(pagesPolicy("release", true)).toEqual({ release: true });
    expect(pagesPolicy("keep", false)).toEqual({ release: false });
    expect(pagesPolicy("yes", true)).toEqual({ release: false, problem: "TANDEM_PAGES=yes is not release or keep; using the default" });
  });

  test("the daemon's call: locked memory keeps its pages (no event), unlocked releases them (one event)", () => {
    const was = process.env.TANDEM_PAGES;
    delete process.env.TANDEM_PAGES;
    try {
      const events: [string, Record<string, string | number>][] = [];
      releaseIdlePagesLogged("startup", true, (n, f) => events.push([n, f]));
      expect(events).toEqual([]);
      releaseIdlePagesLogged("startup", false, (n, f) => events.push([n, f]));
      expect(events.length).toBe(1);
      expect(events[0]![0]).toBe("pages_released");
      expect(events[0]![1].when).toBe("startup");
      expect(events[0]![1].mappings as number).toBeGreaterThan(0);
      expect(events[0]![1].errors).toBeUndefined();
    } finally {
      if (was !== undefined) process.env.TANDEM_PAGES = was;
    }
  });
});
