// The process side of agent calls: process groups and timeouts, bounded
// output, clean environment, the concurrency limiter.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeartbeatAgent } from "../../src/agents/heartbeat.ts";
import { Limiter } from "../../src/agents/limiter.ts";
import { BoundedOutput } from "../../src/agents/output.ts";
import { baseEnv, execAgent, procState } from "../../src/agents/runner.ts";
import { AgentQueueFullError } from "../../src/agents/types.ts";

const fx = join(import.meta.dir, "../fixtures/agents");
const bin = (name: string) => join(fx, "bin", name);
const dirs: string[] = [];
const stray: number[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tandem-agents-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const pid of stray) {
    try {
      process.kill(pid, "SIGKILL"); // only pids our fixtures recorded
    } catch {
      // gone
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const gone = async (pid: number) => {
  const s = await procState(pid);
  return s === null || s === "Z";
};
const pidIn = (file: string) => Number(readFileSync(file, "utf8").trim());

async function waitFile(path: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (readFileSync(path, "utf8").trim() !== "") return;
    } catch {
      // not yet
    }
    await Bun.sleep(10);
  }
  throw new Error(`no ${path} after ${ms} ms`);
}

describe("process group and timeout", () => {
  test("a timeout kills the script and the child it forked (SIGTERM)", async () => {
    const d = tmp();
    const t0 = performance.now();
    const x = await execAgent({ argv: [bin("forker"), d, "start"], env: baseEnv(), timeout_ms: 400, kill_grace_ms: 2000 });
    expect(x.timed_out).toBe(true);
    expect(x.signal).toBe("SIGTERM");
    expect(x.code).toBeNull();
    expect(x.output).toContain("forked");
    const parent = pidIn(join(d, "parent.pid"));
    const child = pidIn(join(d, "child.pid"));
    expect(parent).toBe(x.pid!);
    expect(await gone(parent)).toBe(true);
    expect(await gone(child)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2500);
  });

  test("members that ignore SIGTERM get SIGKILL after the grace period", async () => {
    const d = tmp();
    const x = await execAgent({ argv: [bin("stubborn"), d, "start"], env: baseEnv(), timeout_ms: 300, kill_grace_ms: 400 });
    expect(x.timed_out).toBe(true);
    expect(x.signal).toBe("SIGKILL");
    expect(x.group_survived).toBe(false);
    expect(x.duration_ms).toBeGreaterThanOrEqual(650);
    expect(await gone(pidIn(join(d, "parent.pid")))).toBe(true);
    expect(await gone(pidIn(join(d, "child.pid")))).toBe(true);
  });

  test("each call runs in its own session and process group", async () => {
    const x = await execAgent({ argv: ["/bin/sh", "-c", "ps -o pid=,pgid=,sid= -p $$"], env: baseEnv(), timeout_ms: 5000 });
    const [pid, pgid, sid] = x.output.trim().split(/\s+/).map(Number);
    expect(pid).toBe(x.pid!);
    expect(pgid).toBe(x.pid!);
    expect(sid).toBe(x.pid!);
    expect(pgid).not.toBe(process.pid);
  });

  test("a background process holding stdout open does not hang the call, and is left alone", async () => {
    const d = tmp();
    const x = await execAgent({ argv: [bin("leaveopen"), d, "start"], env: baseEnv(), timeout_ms: 5000, drain_ms: 200 });
    expect(x.code).toBe(0);
    expect(x.timed_out).toBe(false);
    expect(x.pipes_held_open).toBe(true);
    expect(x.output).toContain("left");
    const child = pidIn(join(d, "child.pid"));
    stray.push(child);
    expect(await gone(child)).toBe(false);
  });

  test("the event loop keeps running during a call", async () => {
    let ticks = 0;
    const iv = setInterval(() => ticks++, 20);
    await execAgent({ argv: ["/bin/sleep", "0.4"], env: baseEnv(), timeout_ms: 5000 });
    clearInterval(iv);
    expect(ticks).toBeGreaterThanOrEqual(8);
  });
});

describe("output and environment", () => {
  test("10 MiB of output is bounded to head and tail with the gap marked", async () => {
    const x = await execAgent({ argv: [bin("bigout"), "start"], env: baseEnv(), timeout_ms: 20_000, output_bytes_max: 64 * 1024 });
    expect(x.code).toBe(0);
    expect(x.output_truncated).toBe(true);
    expect(x.output.length).toBeLessThan(64 * 1024 + 200);
    expect(x.output.startsWith("BEGIN-MARKER\n")).toBe(true);
    expect(x.output.trimEnd().endsWith("END-MARKER")).toBe(true);
    expect(x.output).toMatch(/\[\.\.\. \d+ bytes omitted of 1048\d{4} \.\.\.\]/);
  });

  test("BoundedOutput keeps exact head and tail across chunk boundaries", () => {
    const b = new BoundedOutput(256);
    const all: number[] = [];
    for (let i = 0; i < 100; i++) {
      const chunk = new Uint8Array(7).map((_, j) => 65 + ((i * 7 + j) % 26));
      all.push(...chunk);
      b.push(chunk);
    }
    const s = (a: number[]) => String.fromCharCode(...a);
    expect(b.truncated).toBe(true);
    expect(b.total_bytes).toBe(700);
    expect(b.text()).toBe(`${s(all.slice(0, 128))}\n[... 444 bytes omitted of 700 ...]\n${s(all.slice(-128))}`);
    const small = new BoundedOutput(256);
    small.push(new TextEncoder().encode("hello"));
    expect(small.text()).toBe("hello");
    expect(small.truncated).toBe(false);
  });

  test("stdout and stderr are both captured; stdout also alone", async () => {
    const x = await execAgent({ argv: ["/bin/sh", "-c", "echo out; echo err >&2"], env: baseEnv(), timeout_ms: 5000 });
    expect(x.output).toContain("out");
    expect(x.output).toContain("err");
    expect(x.stdout).toBe("out\n");
  });

  test("a clean environment, stdin from /dev/null, cwd /", async () => {
    process.env.TANDEM_AGENT_LEAK_CHECK = "leaked";
    try {
      const x = await execAgent({ argv: ["/bin/sh", "-c", "env; pwd; cat; echo cat-done"], env: baseEnv(), timeout_ms: 5000 });
      expect(x.timed_out).toBe(false);
      expect(x.output).not.toContain("leaked");
      expect(x.output).not.toContain("HOME=");
      expect(x.output).toContain("PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
      expect(x.output).toContain("LANG=C\n");
      expect(x.output).toContain("\n/\ncat-done");
    } finally {
      delete process.env.TANDEM_AGENT_LEAK_CHECK;
    }
  });

  test("a missing executable is a spawn error, not an exception", async () => {
    const x = await execAgent({ argv: ["/nonexistent/agent", "start"], env: baseEnv(), timeout_ms: 1000 });
    expect(x.spawn_error).not.toBeNull();
    expect(x.pid).toBeNull();
    const r = await new HeartbeatAgent("/nonexistent/agent", []).start();
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.status).toBe("error");
      expect(r.reason).toBe("spawn");
      expect(r.cause.name).toBe("AgentSpawnError");
    }
  });

  test("bad specs are programmer errors and throw", async () => {
    await expect(execAgent({ argv: ["relative/path"], env: baseEnv(), timeout_ms: 1000 })).rejects.toThrow(/absolute/);
    await expect(execAgent({ argv: ["/bin/true"], env: baseEnv(), timeout_ms: 0 })).rejects.toThrow(/timeout_ms/);
    await expect(execAgent({ argv: ["/bin/true"], env: { "BAD NAME": "x" }, timeout_ms: 1000 })).rejects.toThrow(/environment/);
  });
});

describe("concurrency limit", () => {
  test("Limiter hands slots out first-in first-out and refuses beyond the queue bound", async () => {
    const l = new Limiter(2, 3);
    const order: number[] = [];
    const rel: (() => void)[] = [];
    const waits = [0, 1, 2, 3, 4].map((i) =>
      l.acquire().then((r) => {
        order.push(i);
        rel.push(r);
      }),
    );
    await expect(l.acquire()).rejects.toBeInstanceOf(AgentQueueFullError);
    await Bun.sleep(0);
    expect(order).toEqual([0, 1]);
    expect(l.active).toBe(2);
    expect(l.waiting).toBe(3);
    rel[0]!();
    rel[0]!(); // a second release of the same slot is ignored
    await Bun.sleep(0);
    expect(order).toEqual([0, 1, 2]);
    rel[1]!();
    rel[2]!();
    await Promise.all(waits);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    for (const r of rel) r();
    expect(l.active).toBe(0);
  });

  test("at most N agent processes run at once; the rest wait their turn", async () => {
    const d = tmp();
    const limiter = new Limiter(3, 100);
    const n = 10;
    const xs = await Promise.all(
      Array.from({ length: n }, (_, i) => execAgent({ argv: [bin("slow"), d, String(i), "start"], env: baseEnv(), timeout_ms: 10_000, limiter })),
    );
    expect(xs.every((x) => x.code === 0)).toBe(true);
    const spans = Array.from({ length: n }, (_, i) => {
      const [s, e] = readFileSync(join(d, String(i)), "utf8").trim().split("\n");
      return { start: Number(s!.split(" ")[1]), end: Number(e!.split(" ")[1]) };
    });
    let overlap_max = 0;
    for (const a of spans) overlap_max = Math.max(overlap_max, spans.filter((b) => b.start <= a.start && a.start < b.end).length);
    expect(overlap_max).toBeLessThanOrEqual(3);
    expect(overlap_max).toBeGreaterThanOrEqual(2);
    expect(xs.some((x) => x.queued_ms >= 150)).toBe(true);
  });

  test("a full queue is a result with reason queue-full", async () => {
    const d = tmp();
    const limiter = new Limiter(1, 1);
    const agents = [0, 1, 2].map((i) => new HeartbeatAgent(bin("slow"), [d, String(i)], { limiter }));
    const rs = await Promise.all(agents.map((a) => a.start()));
    expect(rs.filter((r) => r.ok).length).toBe(2);
    const refused = rs.find((r) => !r.ok);
    expect(refused?.ok).toBe(false);
    if (refused && !refused.ok) {
      expect(refused.status).toBe("error");
      expect(refused.reason).toBe("queue-full");
      expect(refused.cause).toBeInstanceOf(AgentQueueFullError);
    }
    await waitFile(join(d, "1"), 2000);
  });
});
