// sd_notify from the real daemon: a receiving AF_UNIX datagram socket (the
// addon's notifyBind, as systemd's would be) and `tandem daemon` with
// $NOTIFY_SOCKET set. One node on loopback (127.0.0.2), no namespaces needed.
// Also the watchdog's start-up errors: a `watchdog` line naming something
// that is not a watchdog is fatal, with the fix in the log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { preferredCommand } from "../../src/lab/daemons.ts";
import { native } from "../../src/native/addon.ts";
import { parseNotifyEnv } from "../../src/daemon/notify.ts";

const tandem = preferredCommand();
let dir: string;
let port = 40_000 + (process.pid % 20_000);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tandem-notify-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configDir(name: string, extra: string[] = []): string {
  const d = join(dir, name);
  mkdirSync(join(d, "ha.d"), { recursive: true });
  mkdirSync(join(d, "state"), { recursive: true });
  port++;
  const hacf = ["node solo", "keepalive 100ms", "deadtime 500ms", "initdead 1", `udpport ${port}`, "ucast lo 127.0.0.2", "auto_failback off", ...extra];
  writeFileSync(join(d, "ha.d/ha.cf"), `${hacf.join("\n")}\n`);
  writeFileSync(join(d, "ha.d/authkeys"), "auth 1\n1 sha256 notify-test-secret-0123456789\n");
  chmodSync(join(d, "ha.d/authkeys"), 0o600);
  return d;
}

interface Run {
  proc: ReturnType<typeof Bun.spawn>;
  msgs: { t_ms: number; text: string }[];
  stderr: Promise<string>;
  /** bounded poll of the receiving socket until `pred` holds */
  until(pred: () => boolean, timeout_ms: number): Promise<boolean>;
  close(): Promise<void>;
}

function startDaemon(d: string, env: Record<string, string>, sock: string | null): Run {
  const fd = sock ? native.notifyBind(sock) : null;
  const t0 = performance.now();
  const proc = Bun.spawn([...tandem.argv, "daemon", "--dir", join(d, "ha.d"), "--state-dir", join(d, "state"), "--socket", join(d, "ctl.sock"), "--node", "solo"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TMPDIR: process.env.TMPDIR ?? "/tmp", ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const msgs: Run["msgs"] = [];
  const drain = () => {
    for (let i = 0; fd !== null && i < 1000; i++) {
      const m = native.notifyRecv(fd);
      if (m === null) break;
      msgs.push({ t_ms: performance.now() - t0, text: m });
    }
  };
  let closed = false;
  return {
    proc,
    msgs,
    stderr: new Response(proc.stderr as ReadableStream).text(),
    async until(pred, timeout_ms) {
      const end = performance.now() + timeout_ms;
      for (;;) {
        drain();
        if (pred()) return true;
        if (performance.now() > end) return false;
        await Bun.sleep(20);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (proc.exitCode === null) proc.kill("SIGKILL");
      await proc.exited;
      if (fd !== null) native.closeFd(fd);
    },
  };
}

describe("parseNotifyEnv", () => {
  test("socket forms, WATCHDOG_USEC halved, WATCHDOG_PID checked", () => {
    expect(parseNotifyEnv({}, 7)).toBeNull();
    expect(parseNotifyEnv({ NOTIFY_SOCKET: "relative" }, 7)).toBeNull();
    expect(parseNotifyEnv({ NOTIFY_SOCKET: "/run/systemd/notify" }, 7)).toEqual({ socket: "/run/systemd/notify", watchdog_interval_ms: null, watchdog_problem: null });
    expect(parseNotifyEnv({ NOTIFY_SOCKET: "@abs", WATCHDOG_USEC: "5000000" }, 7)?.watchdog_interval_ms).toBe(2500);
    expect(parseNotifyEnv({ NOTIFY_SOCKET: "@abs", WATCHDOG_USEC: "5000000", WATCHDOG_PID: "7" }, 7)?.watchdog_interval_ms).toBe(2500);
    const other = parseNotifyEnv({ NOTIFY_SOCKET: "@abs", WATCHDOG_USEC: "5000000", WATCHDOG_PID: "8" }, 7);
    expect(other?.watchdog_interval_ms).toBeNull();
    expect(other?.watchdog_problem).toContain("WATCHDOG_PID=8");
    expect(parseNotifyEnv({ NOTIFY_SOCKET: "@abs", WATCHDOG_USEC: "-1" }, 7)?.watchdog_problem).toContain("not a positive integer");
    expect(parseNotifyEnv({ NOTIFY_SOCKET: "@abs", WATCHDOG_USEC: "1e9" }, 7)?.watchdog_interval_ms).toBeNull();
  });
});

describe("the daemon speaks sd_notify", () => {
  for (const kind of ["path", "abstract"] as const) {
    test(`READY=1, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM (${kind} socket)`, async () => {
      const d = configDir(`notify-${kind}`);
      const sock = kind === "path" ? join(d, "notify.sock") : `@tandem-notify-test-${process.pid}`;
      const r = startDaemon(d, { NOTIFY_SOCKET: sock, WATCHDOG_USEC: "400000" }, sock);
      try {
        expect(await r.until(() => r.msgs.filter((m) => m.text === "WATCHDOG=1").length >= 5, 15_000)).toBe(true);
        expect(r.msgs[0]!.text).toMatch(/^READY=1\nSTATUS=0\/0 peers up, 0\/0 groups running here$/);
        const pings = r.msgs.filter((m) => m.text === "WATCHDOG=1").map((m) => m.t_ms);
        const gaps = pings.slice(1).map((t, i) => t - pings[i]!);
        // 200 ms apart; a loose bound only catches "not paced at all" (speed is not asserted here)
        for (const g of gaps) expect(g).toBeGreaterThan(100);
        r.proc.kill("SIGTERM");
        expect(await r.until(() => r.msgs.some((m) => m.text.startsWith("STOPPING=1\n")), 5000)).toBe(true);
        expect(await r.proc.exited).toBe(0);
        const stderr = await r.stderr;
        expect(stderr).toContain("systemd_ready watchdog_interval_ms=200");
      } finally {
        await r.close();
      }
    });
  }

  test("WATCHDOG_PID naming another process: READY but no WATCHDOG=1, and it says why", async () => {
    const d = configDir("notify-otherpid");
    const sock = join(d, "notify.sock");
    const r = startDaemon(d, { NOTIFY_SOCKET: sock, WATCHDOG_USEC: "200000", WATCHDOG_PID: "1" }, sock);
    try {
      expect(await r.until(() => r.msgs.some((m) => m.text.startsWith("READY=1")), 10_000)).toBe(true);
      await r.until(() => false, 800);
      expect(r.msgs.filter((m) => m.text === "WATCHDOG=1")).toEqual([]);
      r.proc.kill("SIGTERM");
      expect(await r.proc.exited).toBe(0);
      expect(await r.stderr).toContain("systemd_watchdog_ignored why=");
    } finally {
      await r.close();
    }
  });

  test("no NOTIFY_SOCKET: runs as before; a socket nobody listens on: logged, not fatal", async () => {
    const d = configDir("notify-nobody");
    const r = startDaemon(d, { NOTIFY_SOCKET: join(d, "nobody.sock") }, null);
    try {
      await Bun.sleep(1000);
      expect(r.proc.exitCode).toBeNull();
      r.proc.kill("SIGTERM");
      expect(await r.proc.exited).toBe(0);
      expect(await r.stderr).toContain("systemd_notify_error");
    } finally {
      await r.close();
    }
  });
});

describe("watchdog start-up errors are fatal and say what to do", () => {
  for (const [what, path, code] of [
    ["a missing device", "/dev/tandem-no-such-watchdog", "ENOENT"],
    ["a character device that is not a watchdog", "/dev/null", "ENOTTY"],
  ] as const) {
    test(what, async () => {
      const d = configDir(`wd-${code}`, [`watchdog ${path}`]);
      const r = startDaemon(d, {}, null);
      try {
        const exit = await Promise.race([r.proc.exited, Bun.sleep(10_000).then(() => "timeout" as const)]);
        expect(exit).toBe(3);
        const stderr = await r.stderr;
        expect(stderr).toContain(`fatal error="watchdog ${path}:`);
        expect(stderr).toContain(`(${code})`);
        expect(stderr).toContain("modprobe softdog");
      } finally {
        await r.close();
      }
    });
  }
});
