// One call of one fence device, as the adapters report it to the fencer.
import type { Limiter } from "../agents/limiter.ts";
import type { ExecResult } from "../agents/runner.ts";

export interface AttemptOptions {
  /** the whole attempt (including a status check) must be over by then */
  timeout_ms: number;
  limiter: Limiter;
  /** prefix argv, e.g. ["ip", "netns", "exec", NS]; must exec() the command */
  wrap?: string[];
  /** added to the agents' clean environment (e.g. SSH_AUTH_SOCK) */
  env?: Record<string, string>;
}

export interface Attempt {
  ok: boolean;
  /** one line: what happened, with the exit code and the output's tail */
  detail: string;
  code: number | null;
  timed_out: boolean;
  duration_ms: number;
}

/** A killed child needs this long after its timeout: SIGTERM grace, then SIGKILL and a bounded wait, then draining pipes. */
export const kill_grace_ms = 500;
export const drain_ms = 200;
export const cleanup_reserve_ms = kill_grace_ms + drain_ms + 800;
const tail_chars_max = 240;

/** Time to give the child so that the runner's cleanup still ends within `budget_ms`. */
export function childTimeout(budget_ms: number): number {
  return Math.max(100, budget_ms - cleanup_reserve_ms);
}

/** The last meaningful output lines (Python's deprecation noise left out), one line, bounded. */
export function outputTail(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/DeprecationWarning|^from \w+ import /.test(l))
    .map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ /, ""));
  const tail = lines.slice(-2).join(" | ");
  return tail.length > tail_chars_max ? `...${tail.slice(-tail_chars_max)}` : tail;
}

/** "exit 1", "killed by SIGKILL", "timed out after 5000 ms", "could not start: ..." */
export function describeExit(r: ExecResult, timeout_ms: number): string {
  if (r.queue_error) return `not run: ${r.queue_error.message}`;
  if (r.spawn_error) return `could not start: ${r.spawn_error.message}`;
  if (r.timed_out) return `timed out after ${timeout_ms} ms (killed)`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exit ${r.code}`;
}
