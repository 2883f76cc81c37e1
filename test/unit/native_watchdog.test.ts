// The addon's watchdog and sd_notify calls, without a watchdog device: every
// way of pointing `watchdog` at the wrong thing is refused with a clear errno
// and never arms anything. Feeding a real device is tested against softdog
// in a VM (test/vm/watchdog.test.ts): loading softdog here would arm a timer
// that resets this machine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { native } from "../../src/native/addon.ts";

const root = join(import.meta.dir, "../..");
const addon_path = join(root, "src/native/tandem.node");
let dir: string;

beforeAll(() => {
  const stale =
    !existsSync(addon_path) ||
    ["native/tandem.c", "native/watchdog.c", "native/tandem.h", "build.ts"].some((p) => statSync(join(root, p)).mtimeMs > statSync(addon_path).mtimeMs);
  if (stale) {
    const r = Bun.spawnSync([process.execPath, "run", "build.ts", "addon"], { cwd: root, stderr: "pipe", stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building the addon failed:\n${r.stdout}\n${r.stderr}`);
  }
  dir = mkdtempSync(join(tmpdir(), "tandem-wd-"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thrown(f: () => unknown): Error & { code?: string; syscall?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error("expected a throw");
}

describe("watchdogOpen refuses what is not a watchdog", () => {
  test("a missing path: ENOENT naming open", () => {
    const e = thrown(() => native.watchdogOpen(join(dir, "no-such-watchdog")));
    expect(e.code).toBe("ENOENT");
    expect(e.message).toContain("open: No such file or directory");
  });

  test("a regular file: ENODEV, not a character device (and the file is left untouched)", () => {
    const f = join(dir, "plain");
    writeFileSync(f, "");
    const e = thrown(() => native.watchdogOpen(f));
    expect(e.code).toBe("ENODEV");
    expect(e.message).toContain("not a character device");
    expect(statSync(f).size).toBe(0);
  });

  test("a FIFO without a reader: refused at once (ENXIO), no hang", () => {
    const f = join(dir, "fifo");
    expect(Bun.spawnSync(["mkfifo", f]).exitCode).toBe(0);
    const e = thrown(() => native.watchdogOpen(f));
    expect(e.code).toBe("ENXIO");
  });

  test("a FIFO with a reader: ENODEV, nothing written to it", async () => {
    const f = join(dir, "fifo2");
    expect(Bun.spawnSync(["mkfifo", f]).exitCode).toBe(0);
    const reader = Bun.spawn(["timeout", "10", "cat", f], { stdout: "pipe" });
    try {
      // the reader must have the FIFO open before we try
      let e: Error & { code?: string } | null = null;
      for (let i = 0; i < 200; i++) {
        e = thrown(() => native.watchdogOpen(f));
        if (e.code !== "ENXIO") break;
        await Bun.sleep(10);
      }
      expect(e?.code).toBe("ENODEV");
    } finally {
      reader.kill();
      await reader.exited;
    }
    expect(await new Response(reader.stdout).text()).toBe("");
  });

  test("a character device that is not a watchdog (/dev/null): ENOTTY from WDIOC_GETSUPPORT", () => {
    const e = thrown(() => native.watchdogOpen("/dev/null"));
    expect(e.code).toBe("ENOTTY");
    expect(e.message).toContain("not a watchdog device");
  });

  test("bad arguments are TypeErrors/RangeErrors, not crashes", () => {
    expect(() => native.watchdogOpen(42 as unknown as string)).toThrow(TypeError);
    expect(() => native.watchdogOpen("")).toThrow(RangeError);
    expect(() => native.watchdogOpen("/dev/null\0x")).toThrow(TypeError);
    expect(() => native.watchdogKeepalive(-1)).toThrow(RangeError);
    expect(() => native.watchdogSetTimeout(0, 0)).toThrow(RangeError);
    expect(() => native.watchdogClose(1.5, true)).toThrow(TypeError);
    expect(() => native.watchdogClose(99999, "yes" as unknown as boolean)).toThrow(TypeError);
  });

  test("ioctls on an fd that is not a watchdog fail with the errno", () => {
    const fd = require("node:fs").openSync("/dev/null", "w") as number;
    try {
      expect(thrown(() => native.watchdogGetTimeout(fd)).code).toBe("ENOTTY");
      expect(thrown(() => native.watchdogSetTimeout(fd, 5)).code).toBe("ENOTTY");
      // keepalive falls back to a one-byte write, which /dev/null accepts
      native.watchdogKeepalive(fd);
    } finally {
      require("node:fs").closeSync(fd);
    }
  });
});

describe("notifySend: sd_notify datagrams", () => {
  test("to a path socket and to an abstract (@) socket", () => {
    const path = join(dir, "notify.sock");
    const abstract = `@tandem-test-${process.pid}-${Date.now()}`;
    const fds = [native.notifyBind(path), native.notifyBind(abstract)];
    try {
      expect(native.notifyRecv(fds[0]!)).toBeNull();
      native.notifySend(path, "READY=1\nSTATUS=hello");
      native.notifySend(abstract, "WATCHDOG=1");
      expect(native.notifyRecv(fds[0]!)).toBe("READY=1\nSTATUS=hello");
      expect(native.notifyRecv(fds[1]!)).toBe("WATCHDOG=1");
      expect(native.notifyRecv(fds[1]!)).toBeNull();
    } finally {
      for (const fd of fds) native.closeFd(fd);
    }
  });

  test("no listener: ENOENT / ECONNREFUSED, never a hang", () => {
    expect(thrown(() => native.notifySend(join(dir, "nobody.sock"), "READY=1")).code).toBe("ENOENT");
    expect(thrown(() => native.notifySend(`@tandem-nobody-${process.pid}`, "READY=1")).code).toBe("ECONNREFUSED");
  });

  test("bad paths and messages are refused", () => {
    expect(() => native.notifySend("relative.sock", "READY=1")).toThrow(RangeError);
    expect(() => native.notifySend(`/${"x".repeat(200)}`, "READY=1")).toThrow(RangeError);
    expect(() => native.notifySend("/run/x", "")).toThrow(RangeError);
    expect(() => native.notifySend("/run/x", "x".repeat(5000))).toThrow(RangeError);
  });
});
