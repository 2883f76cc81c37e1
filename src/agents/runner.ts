// Run one agent call as a child process, the way every kind of agent needs it:
//
//  - its own session and process group (setsid through spawn's `detached`), so
//    a timeout can signal everything the script started, and nothing else;
//  - a timeout after which the group gets SIGTERM, then SIGKILL once
//    kill_grace_ms has passed with members left;
//  - stdin from /dev/null (or a given short text), cwd "/", only the environment it is given;
//  - stdout+stderr captured in arrival order, bounded (BoundedOutput), plus
//    stdout alone (Heartbeat's status rule reads stdout only);
//  - async spawn and reads only: the event loop never waits on the child;
//  - at most Limiter.running_max calls at once across the process.
//
// A script that leaves a background process holding its stdout/stderr open
// does not hang the call: once the script itself has exited we read for at
// most drain_ms more, then stop reading (pipes_held_open). That process is
// left alone: it may be the service the script started.

import { readdir, readFile } from "node:fs/promises";
import { default_limiter, type Limiter } from "./limiter.ts";
import { BoundedOutput, output_bytes_max_default } from "./output.ts";
import { AgentQueueFullError } from "./types.ts";

export const agent_path = "/usr/sbin:/usr/bin:/sbin:/bin";
export const kill_grace_ms_default = 5_000;
/** after SIGKILL: how long to wait for the group to vanish before giving up (reported, not thrown) */
export const kill_wait_ms_max = 2_000;
export const drain_ms_default = 1_000;
export const timeout_ms_max = 24 * 3600 * 1000;
const group_poll_ms = 25;
const argv_max = 256;
const stdin_bytes_max = 64 * 1024;

/** The clean environment every agent starts from. */
export function baseEnv(): Record<string, string> {
  return { PATH: agent_path, LANG: "C" };
}

export interface ExecSpec {
  /** argv[0] must be an absolute path (or a command found in PATH when `wrap` is used) */
  argv: string[];
  /** the complete environment of the child (start from baseEnv()) */
  env: Record<string, string>;
  timeout_ms: number;
  /** prefix argv, e.g. ["ip", "netns", "exec", ns]; must exec() the command, not fork it */
  wrap?: string[];
  kill_grace_ms?: number;
  drain_ms?: number;
  output_bytes_max?: number;
  cwd?: string;
  limiter?: Limiter;
  /** written to the child's stdin, which is then closed (fence agents read key=value
   *  lines there, so passwords stay out of argv); default /dev/null */
  stdin?: string;
}

export interface ExecResult {
  /** pid of the child, which is also its process group id; null when it never started */
  pid: number | null;
  code: number | null;
  signal: string | null;
  timed_out: boolean;
  duration_ms: number;
  queued_ms: number;
  /** stdout and stderr in arrival order, bounded */
  output: string;
  output_truncated: boolean;
  /** stdout alone, bounded */
  stdout: string;
  /** a descendant still held the output pipes when we stopped reading */
  pipes_held_open: boolean;
  /** after SIGKILL, members of the group were still there when we stopped waiting */
  group_survived: boolean;
  spawn_error: Error | null;
  queue_error: AgentQueueFullError | null;
}

function checkSpec(spec: ExecSpec): void {
  const argv = [...(spec.wrap ?? []), ...spec.argv];
  if (spec.argv.length === 0 || argv.length > argv_max) throw new RangeError(`argv must have 1..${argv_max} entries`);
  for (const a of argv) if (typeof a !== "string" || a.includes("\0")) throw new TypeError(`bad argv entry ${JSON.stringify(a)}`);
  if (!spec.wrap?.length && !spec.argv[0]!.startsWith("/")) throw new TypeError(`agent path must be absolute: ${spec.argv[0]}`);
  if (spec.stdin !== undefined && spec.stdin.length > stdin_bytes_max) throw new RangeError(`stdin must be at most ${stdin_bytes_max} bytes`);
  if (!Number.isFinite(spec.timeout_ms) || spec.timeout_ms <= 0 || spec.timeout_ms > timeout_ms_max) {
    throw new RangeError(`timeout_ms must be in (0, ${timeout_ms_max}], got ${spec.timeout_ms}`);
  }
  for (const [k, v] of Object.entries(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || v.includes("\0")) throw new TypeError(`bad environment entry ${k}`);
  }
}

/** Run one call (waiting for a limiter slot first). Never rejects for operating errors. */
export async function execAgent(spec: ExecSpec): Promise<ExecResult> {
  checkSpec(spec);
  const limiter = spec.limiter ?? default_limiter;
  const queued_at = performance.now();
  let release: () => void;
  try {
    release = await limiter.acquire();
  } catch (e) {
    if (!(e instanceof AgentQueueFullError)) throw e;
    return { ...notRun(), queue_error: e };
  }
  const queued_ms = Math.round(performance.now() - queued_at);
  try {
    return { ...(await execNow(spec)), queued_ms };
  } finally {
    release();
  }
}

function notRun(): ExecResult {
  return {
    pid: null,
    code: null,
    signal: null,
    timed_out: false,
    duration_ms: 0,
    queued_ms: 0,
    output: "",
    output_truncated: false,
    stdout: "",
    pipes_held_open: false,
    group_survived: false,
    spawn_error: null,
    queue_error: null,
  };
}

async function execNow(spec: ExecSpec): Promise<ExecResult> {
  const all = new BoundedOutput(spec.output_bytes_max ?? output_bytes_max_default);
  const out = new BoundedOutput(spec.output_bytes_max ?? output_bytes_max_default);
  const started = performance.now();
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn([...(spec.wrap ?? []), ...spec.argv], {
      stdin: spec.stdin === undefined ? "ignore" : new TextEncoder().encode(spec.stdin),
      stdout: "pipe",
      stderr: "pipe",
      env: spec.env,
      cwd: spec.cwd ?? "/",
      detached: true,
    });
  } catch (e) {
    return { ...notRun(), spawn_error: e instanceof Error ? e : new Error(String(e)) };
  }
  const pg = child.pid;
  const readers: [ChunkReader, ChunkReader] = [
    (child.stdout as ReadableStream<Uint8Array>).getReader(),
    (child.stderr as ReadableStream<Uint8Array>).getReader(),
  ];
  const pumps = Promise.all([pump(readers[0], [all, out]), pump(readers[1], [all])]);

  let timed_out = false;
  let killing: Promise<boolean> | null = null;
  const timer = setTimeout(() => {
    timed_out = true;
    killing = killGroup(pg, spec.kill_grace_ms ?? kill_grace_ms_default);
  }, spec.timeout_ms);

  await child.exited;
  const duration_ms = Math.round(performance.now() - started);
  clearTimeout(timer);
  const group_survived = killing ? await (killing as Promise<boolean>) : false;

  const drained = await Promise.race([pumps.then(() => true), Bun.sleep(spec.drain_ms ?? drain_ms_default).then(() => false)]);
  if (!drained) {
    for (const r of readers) r.cancel().catch(() => {});
    await Promise.race([pumps, Bun.sleep(100)]);
  }
  return {
    ...notRun(),
    pid: pg,
    code: child.exitCode,
    signal: child.signalCode === null ? null : String(child.signalCode),
    timed_out,
    duration_ms,
    output: all.text(),
    output_truncated: all.truncated,
    stdout: out.text(),
    pipes_held_open: !drained,
    group_survived,
  };
}

interface ChunkReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(): Promise<void>;
}

async function pump(reader: ChunkReader, sinks: BoundedOutput[]): Promise<void> {
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || !value) return;
      for (const s of sinks) s.push(value);
    }
  } catch {
    // cancelled or torn down
  }
}

/**
 * SIGTERM to the group, wait up to grace_ms for it to empty, then SIGKILL and
 * wait (bounded) again. Resolves true when members survived everything.
 */
export async function killGroup(pg: number, grace_ms: number): Promise<boolean> {
  if (!Number.isInteger(pg) || pg <= 1) throw new RangeError(`refusing to signal process group ${pg}`);
  signalGroup(pg, "SIGTERM");
  if (await waitGroupGone(pg, grace_ms)) return false;
  signalGroup(pg, "SIGKILL");
  return !(await waitGroupGone(pg, kill_wait_ms_max));
}

function signalGroup(pg: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pg, sig);
  } catch {
    // ESRCH: the group is already gone
  }
}

async function waitGroupGone(pg: number, wait_ms: number): Promise<boolean> {
  const deadline = performance.now() + wait_ms;
  for (;;) {
    if (!(await groupAlive(pg))) return true;
    if (performance.now() >= deadline) return false;
    await Bun.sleep(group_poll_ms);
  }
}

/**
 * Does the process group still have a live (non-zombie) member? kill(-pg, 0)
 * answers quickly when it is empty; zombies, which an init that does not reap
 * (containers) may leave for long, count as gone.
 */
export async function groupAlive(pg: number): Promise<boolean> {
  try {
    process.kill(-pg, 0);
  } catch {
    return false;
  }
  for (const pid of await groupMembers(pg)) {
    if ((await procState(pid)) !== "Z") return true;
  }
  return false;
}

async function groupMembers(pg: number): Promise<number[]> {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return [pg]; // no /proc: assume the leader is there (kill(-pg, 0) succeeded)
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = await readStat(Number(e));
    if (st && st.pgrp === pg) out.push(Number(e));
  }
  return out;
}

async function readStat(pid: number): Promise<{ state: string; pgrp: number } | null> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) S ppid pgrp ...": comm may contain spaces and parentheses
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { state: f[0] ?? "?", pgrp: Number(f[2]) };
  } catch {
    return null;
  }
}

/** "R", "S", "Z", ... or null when the process is gone. */
export async function procState(pid: number): Promise<string | null> {
  return (await readStat(pid))?.state ?? null;
}
