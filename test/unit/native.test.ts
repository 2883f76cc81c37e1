// The native addon, loaded from source through src/native/addon.ts.
// Builds src/native/tandem.node first if it is missing or stale.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { native, type PeerCred } from "../../src/native/addon.ts";

const root = join(import.meta.dir, "../..");
const addon_path = join(root, "src/native/tandem.node");
let dir: string;

function addonIsStale(): boolean {
  if (!existsSync(addon_path)) return true;
  const out = statSync(addon_path).mtimeMs;
  return ["native/tandem.c", "native/tandem.h", "build.ts"].some((p) => statSync(join(root, p)).mtimeMs > out);
}

beforeAll(() => {
  if (addonIsStale()) {
    const r = Bun.spawnSync([process.execPath, "run", "build.ts", "addon"], { cwd: root, stderr: "pipe", stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building the addon failed:\n${r.stdout}\n${r.stderr}`);
  }
  dir = mkdtempSync(join(tmpdir(), "tandem-native-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Listens on a fresh Unix socket; resolves with the credentials of the first connection. */
async function serveOnce(path: string): Promise<{ server: net.Server; cred: Promise<PeerCred> }> {
  let deliver!: (c: PeerCred) => void;
  let fail!: (e: unknown) => void;
  const cred = new Promise<PeerCred>((res, rej) => {
    deliver = res;
    fail = rej;
  });
  const server = net.createServer((conn) => {
    try {
      const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd !== "number") throw new Error(`no fd on the accepted connection: ${fd}`);
      deliver(native.peerCred(fd));
    } catch (e) {
      fail(e);
    }
    conn.end("bye\n");
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(path, () => res());
  });
  return { server, cred };
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((res) => server.close(() => res()));
}

function expectThrows(fn: () => unknown, ctor: ErrorConstructor, re?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ctor);
  if (re) expect((caught as Error).message).toMatch(re);
}

describe("native addon", () => {
  test("version names the addon and its build", () => {
    expect(native.version()).toMatch(/^tandem-native \d+\.\d+\.\d+ \(N-API \d+, /);
  });

  test("constants", () => {
    const c = native.constants;
    expect(c.MCL_CURRENT).toBe(1);
    expect(c.MCL_FUTURE).toBe(2);
    expect(c.MCL_ONFAULT).toBe(4);
    expect(Object.isFrozen(c)).toBe(true);
  });

  test("peerCred of a connection from this process", async () => {
    const path = join(dir, "self.sock");
    const { server, cred } = await serveOnce(path);
    const client = net.connect(path);
    client.on("data", () => {});
    client.on("error", () => {});
    try {
      expect(await cred).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    } finally {
      client.destroy();
      await closeServer(server);
    }
  });

  // The listening socket's SO_PEERCRED would also name this process, so a
  // child's pid proves `_handle.fd` is the accepted connection.
  test("peerCred of a connection from a child process names the child", async () => {
    const path = join(dir, "child.sock");
    const { server, cred } = await serveOnce(path);
    const child = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const s = require("node:net").connect(${JSON.stringify(path)}); s.on("data", () => s.end()); s.on("close", () => process.exit(0)); setTimeout(() => process.exit(3), 10000);`,
      ],
      { stdout: "inherit", stderr: "inherit" },
    );
    try {
      const c = await cred;
      expect(c.pid).toBe(child.pid);
      expect(c.pid).not.toBe(process.pid);
      expect(c.uid).toBe(process.getuid!());
      expect(await child.exited).toBe(0);
    } finally {
      child.kill();
      await closeServer(server);
    }
  });

  test("peerCred of another user's connection reports that uid", async () => {
    if (process.getuid!() !== 0) return; // needs root to switch uid
    const path = join(dir, "nobody.sock");
    const { server, cred } = await serveOnce(path);
    chmodSync(dir, 0o755);
    chmodSync(path, 0o777);
    const child = spawn(
      process.execPath,
      ["-e", `const s = require("node:net").connect(${JSON.stringify(path)}); s.on("data", () => s.end()); s.on("close", () => process.exit(0));`],
      { uid: 65534, gid: 65534, stdio: "inherit" },
    );
    try {
      const c = await cred;
      expect(c).toEqual({ pid: child.pid!, uid: 65534, gid: 65534 });
    } finally {
      child.kill();
      await closeServer(server);
    }
  });

  test("peerCred on a bad fd throws the errno", () => {
    const file = join(dir, "plain");
    writeFileSync(file, "x");
    const fd = openSync(file, "r");
    try {
      let e: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
      try {
        native.peerCred(fd);
      } catch (err) {
        e = err as typeof e;
      }
      expect(e).toBeInstanceOf(Error);
      expect(e!.code).toBe("ENOTSOCK");
      expect(e!.errno).toBe(-88);
      expect(e!.syscall).toBe("getsockopt(SO_PEERCRED)");
      expect(e!.message).toMatch(/ENOTSOCK/);
    } finally {
      closeSync(fd);
    }
    expectThrows(() => native.peerCred(fd), Error, /EBADF/);
  });

  test("mlockall with MCL_ONFAULT locks, or fails with a clean errno", () => {
    const { MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT } = native.constants;
    const vmlck = () => Number(/^VmLck:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    const rss_before = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    try {
      native.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
    } catch (e) {
      expect(["EPERM", "ENOMEM", "EAGAIN"]).toContain((e as { code?: string }).code);
      expect((e as Error).message).toMatch(/^mlockall: /);
      return;
    }
    try {
      expect(vmlck()).toBeGreaterThan(0);
      expect(native.memlockInfo().lockedBytes).toBeGreaterThan(0);
      // ONFAULT: locking did not fault in the whole address space.
      const rss_after = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
      expect(rss_after).toBeLessThan(rss_before + 256 * 1024);
    } finally {
      native.munlockall();
    }
    expect(vmlck()).toBe(0);
    expect(native.memlockInfo().lockedBytes).toBe(0);
  });

  test("mlockall refuses flags without MCL_ONFAULT or with unknown bits", () => {
    const { MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT } = native.constants;
    expectThrows(() => native.mlockall(MCL_CURRENT | MCL_FUTURE), RangeError, /MCL_ONFAULT/);
    expectThrows(() => native.mlockall(MCL_CURRENT), RangeError, /MCL_ONFAULT/);
    expectThrows(() => native.mlockall(0), RangeError);
    expectThrows(() => native.mlockall(MCL_ONFAULT), RangeError);
    expectThrows(() => native.mlockall(MCL_CURRENT | MCL_ONFAULT | 64), RangeError);
    expect(native.memlockInfo().lockedBytes).toBe(0);
  });

  test("memlockInfo reports the rlimit", () => {
    const m = native.memlockInfo();
    expect(m.limitSoft).toBeGreaterThanOrEqual(0);
    expect(m.limitHard).toBeGreaterThanOrEqual(m.limitSoft);
  });

  test("setScheduler rr then other, or a clean EPERM", () => {
    expect(native.schedInfo()).toEqual({ policy: "other", priority: 0, resetOnFork: false });
    try {
      native.setScheduler("rr", 1);
    } catch (e) {
      expect((e as { code?: string }).code).toBe("EPERM");
      expect((e as Error).message).toMatch(/^sched_setscheduler: .*\(EPERM\)$/);
      return;
    }
    try {
      expect(native.schedInfo()).toEqual({ policy: "rr", priority: 1, resetOnFork: true });
      // RESET_ON_FORK: a spawned child (a resource agent) runs as SCHED_OTHER.
      const stat = Bun.spawnSync(["cat", "/proc/self/stat"]).stdout.toString();
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      expect(fields[41 - 3]).toBe("0"); // field 41 = policy; fields[0] is field 3
    } finally {
      native.setScheduler("other", 0);
    }
    expect(native.schedInfo()).toMatchObject({ policy: "other", priority: 0 });
  });

  test("setScheduler and schedInfo on another thread of this process by its id", () => {
    const tids = readdirSync("/proc/self/task").map(Number);
    const other = tids.find((t) => t !== process.pid);
    if (other === undefined) return; // a single-threaded runtime: nothing to address
    expect(native.schedInfo(other).policy).toBe("other");
    try {
      native.setScheduler("rr", 1, other);
    } catch (e) {
      expect((e as { code?: string }).code).toBe("EPERM");
      return;
    }
    try {
      expect(native.schedInfo(other)).toEqual({ policy: "rr", priority: 1, resetOnFork: true });
      expect(native.schedInfo().policy).toBe("other"); // the calling thread is untouched
    } finally {
      native.setScheduler("other", 0, other);
    }
    expect(native.schedInfo(other).policy).toBe("other");
    // a thread id that is not ours (pid 1's) is refused before any syscall
    expect(() => native.setScheduler("rr", 1, 1)).toThrow(RangeError);
    expect(() => native.schedInfo(1)).toThrow(/not a thread of this process/);
    expect(() => native.schedInfo(-5)).toThrow(RangeError);
  });

  test("bad arguments throw TypeError or RangeError, never crash", () => {
    const n = native as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const bad of [undefined, null, "3", 1.5, Number.NaN, Number.POSITIVE_INFINITY, {}, [], 3n, Symbol("x"), () => 3]) {
      expectThrows(() => n.peerCred!(bad), TypeError, /fd must be an integer/);
      expectThrows(() => n.mlockall!(bad), TypeError, /flags must be an integer/);
      expectThrows(() => n.setScheduler!("rr", bad), TypeError, /priority/);
      expectThrows(() => n.setScheduler!(bad, 1), TypeError, /policy/);
    }
    expectThrows(() => n.peerCred!(), TypeError);
    expectThrows(() => n.setScheduler!(), TypeError);
    expectThrows(() => n.peerCred!(-1), RangeError);
    expectThrows(() => n.peerCred!(2 ** 31), RangeError);
    expectThrows(() => n.peerCred!(2 ** 53), RangeError);
    expectThrows(() => n.mlockall!(-1), RangeError);
    for (const p of ["fifo", "RR", "", "rr\0", "other\0x", "r".repeat(1000)]) {
      expectThrows(() => n.setScheduler!(p, 1), TypeError, /policy must be "rr" or "other"/);
    }
    expectThrows(() => n.setScheduler!("rr", 0), RangeError, /1\.\.99/);
    expectThrows(() => n.setScheduler!("rr", 100), RangeError, /1\.\.99/);
    expectThrows(() => n.setScheduler!("other", 1), RangeError, /0\.\.0/);
    // Extra arguments are ignored.
    expect(typeof n.version!(1, 2, 3)).toBe("string");
    expect(native.schedInfo().policy).toBe("other");
  });

  test("a missing addon does not break importing the loader; calls explain why", () => {
    const tmp = mkdtempSync(join(dir, "noaddon-"));
    copyFileSync(join(root, "src/native/addon.ts"), join(tmp, "addon.ts"));
    const script = `
      import { native, nativeLoadError } from "./addon.ts";
      console.log("imported");
      for (let i = 0; i < 2; i++) { try { native.version(); console.log("loaded?"); } catch (e) { console.log("ERR " + e.message); } }
      console.log("loadError " + (nativeLoadError() instanceof Error));`;
    writeFileSync(join(tmp, "main.ts"), script);
    const r = Bun.spawnSync([process.execPath, "main.ts"], { cwd: tmp, stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString();
    expect(r.exitCode).toBe(0);
    expect(out).toStartWith("imported\n");
    expect(out).toContain("ERR cannot load the native addon (");
    expect(out).toContain("build.ts addon");
    expect(out.match(/^ERR /gm)?.length).toBe(2);
    expect(out).toContain("loadError true");
  });
});
