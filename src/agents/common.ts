// What every kind of agent shares: options, turning a finished process into an
// AgentResult, and the retry loop.

import type { Limiter } from "./limiter.ts";
import { type ExecResult, type ExecSpec, execAgent } from "./runner.ts";
import {
  type AgentAction,
  AgentError,
  AgentFailedError,
  type AgentFailure,
  type AgentResult,
  AgentSpawnError,
  type AgentSuccess,
  AgentTimeoutError,
  type FailReason,
} from "./types.ts";

/** Default per-action timeout when neither the config nor OCF meta-data gives one (Pacemaker's default). */
export const action_timeout_ms_default = 20_000;
/** Timeout of the meta-data call itself. */
export const metadata_timeout_ms_default = 10_000;
export const retry_attempts_max = 32;
export const retry_delay_ms_max = 60_000;

export interface RetryPolicy {
  /** total runs, including the first (1 = no retry) */
  attempts_max: number;
  delay_ms: number;
}

/**
 * Heartbeat R1's policy for stop (ResourceManager: HA_STOPRETRYMAX=10, one
 * second apart): 1 + 10 runs. Not applied by default; pass it as retry.stop.
 */
export const heartbeat_stop_retry: RetryPolicy = { attempts_max: 11, delay_ms: 1_000 };

export interface AgentOptions {
  /** prefix argv for every call, e.g. ["ip", "netns", "exec", ns] */
  wrap?: string[];
  /** default: the process-wide limiter (8 running, 256 queued) */
  limiter?: Limiter;
  /** per-action timeouts; for OCF these override the agent's meta-data */
  timeouts_ms?: Partial<Record<AgentAction, number>>;
  /** per-action retry (default: none) */
  retry?: Partial<Record<AgentAction, RetryPolicy>>;
  kill_grace_ms?: number;
  drain_ms?: number;
  output_bytes_max?: number;
  /** OCF_RESOURCE_INSTANCE (default: TYPE-<hash of the parameters>) */
  instance?: string;
  /**
   * extra environment for every call (e.g. HA_RSCTMP); cannot override PATH,
   * LANG or the variables the agent kind sets itself (OCF_*, HA_DIR, ...)
   */
  env?: Record<string, string>;
  /** Heartbeat scripts get HA_DIR (default /etc/ha.d) and derived variables */
  ha_dir?: string;
  /** where to look for systemd (tests): run_dir/systemd/system marks a systemd boot; systemctl binary */
  systemd?: { run_dir?: string; systemctl?: string };
}

export type Verdict =
  | { ok: true; status: AgentSuccess["status"] }
  | { ok: false; reason: FailReason; detail: string };

/** Reasons that another attempt cannot fix. */
const permanent: ReadonlySet<FailReason> = new Set([
  "args",
  "unimplemented",
  "perm",
  "not-installed",
  "not-configured",
  "spawn",
  "no-systemd",
]);

export function checkRetry(p: RetryPolicy): void {
  if (!Number.isInteger(p.attempts_max) || p.attempts_max < 1 || p.attempts_max > retry_attempts_max) {
    throw new RangeError(`retry attempts_max must be 1..${retry_attempts_max}, got ${p.attempts_max}`);
  }
  if (!Number.isFinite(p.delay_ms) || p.delay_ms < 0 || p.delay_ms > retry_delay_ms_max) {
    throw new RangeError(`retry delay_ms must be 0..${retry_delay_ms_max}, got ${p.delay_ms}`);
  }
}

/** Run `once` until it succeeds, fails permanently, or the policy's attempts are used up. */
export async function withRetry(policy: RetryPolicy | undefined, once: () => Promise<AgentResult>): Promise<AgentResult> {
  const p = policy ?? { attempts_max: 1, delay_ms: 0 };
  checkRetry(p);
  let r = await once();
  let attempts = 1;
  while (!r.ok && !permanent.has(r.reason) && attempts < p.attempts_max) {
    await Bun.sleep(p.delay_ms);
    r = await once();
    attempts++;
  }
  return { ...r, attempts };
}

export function execSpec(opts: AgentOptions, argv: string[], env: Record<string, string>, timeout_ms: number): ExecSpec {
  return {
    argv,
    env: { ...opts.env, ...env },
    timeout_ms,
    wrap: opts.wrap,
    limiter: opts.limiter,
    kill_grace_ms: opts.kill_grace_ms,
    drain_ms: opts.drain_ms,
    output_bytes_max: opts.output_bytes_max,
  };
}

/** Run once and judge the exit with `judge` (called only for a process that exited on its own). */
export async function runOnce(
  action: AgentAction,
  agent: string,
  spec: ExecSpec,
  judge: (x: ExecResult) => Verdict,
): Promise<AgentResult> {
  const x = await execAgent(spec);
  return judgeExec(action, agent, spec.timeout_ms, x, judge);
}

export function judgeExec(action: AgentAction, agent: string, timeout_ms: number, x: ExecResult, judge: (x: ExecResult) => Verdict): AgentResult {
  const run = {
    action,
    agent,
    code: x.code,
    signal: x.signal,
    timed_out: x.timed_out,
    duration_ms: x.duration_ms,
    queued_ms: x.queued_ms,
    attempts: 1,
    output: x.output,
    output_truncated: x.output_truncated,
  };
  if (x.queue_error) return failure(run, "error", "queue-full", x.queue_error);
  if (x.spawn_error) {
    return failure(run, "error", "spawn", new AgentSpawnError(`${agent} ${action}: cannot start: ${x.spawn_error.message}`, { cause: x.spawn_error }));
  }
  if (x.timed_out) {
    const killed = x.group_survived ? "; processes of its group survived SIGKILL" : "";
    return failure(run, "failed", "timeout", new AgentTimeoutError(`${agent} ${action}: timed out after ${timeout_ms} ms, process group killed${killed}`, timeout_ms));
  }
  if (x.signal !== null) {
    return failure(run, "failed", "signal", new AgentFailedError(`${agent} ${action}: killed by ${x.signal}`, "signal"));
  }
  const v = judge(x);
  if (v.ok) return { ...run, ok: true, status: v.status };
  return failure(run, "failed", v.reason, new AgentFailedError(`${agent} ${action}: ${v.detail}`, v.reason));
}

export function failure(
  run: Omit<AgentFailure, "ok" | "status" | "reason" | "error" | "cause">,
  status: AgentFailure["status"],
  reason: FailReason,
  cause: AgentError,
): AgentFailure {
  return { ...run, ok: false, status, reason, error: cause.message, cause };
}

/** A failure for a call that never ran (no process). */
export function notRunFailure(action: AgentAction, agent: string, reason: FailReason, cause: AgentError): AgentFailure {
  return failure(
    { action, agent, code: null, signal: null, timed_out: false, duration_ms: 0, queued_ms: 0, attempts: 1, output: "", output_truncated: false },
    "error",
    reason,
    cause,
  );
}

/** The timeout for an action: config override, then `fallback`. Validated. */
export function timeoutFor(opts: AgentOptions, action: AgentAction, fallback_ms: number): number {
  const t = opts.timeouts_ms?.[action] ?? fallback_ms;
  if (!Number.isFinite(t) || t <= 0) throw new RangeError(`timeout for ${action} must be > 0 ms, got ${t}`);
  return t;
}

/**
 * LSB init-script exit codes for actions other than status (also what
 * systemctl returns for start/stop, and OCF 1-7 mean the same).
 */
export function lsbActionVerdict(code: number | null, success: AgentSuccess["status"]): Verdict {
  switch (code) {
    case 0:
      return { ok: true, status: success };
    case 1:
      return { ok: false, reason: "generic", detail: "exit 1 (generic or unspecified error)" };
    case 2:
      return { ok: false, reason: "args", detail: "exit 2 (invalid or excess arguments)" };
    case 3:
      return { ok: false, reason: "unimplemented", detail: "exit 3 (unimplemented feature)" };
    case 4:
      return { ok: false, reason: "perm", detail: "exit 4 (insufficient privilege)" };
    case 5:
      return { ok: false, reason: "not-installed", detail: "exit 5 (program is not installed)" };
    case 6:
      return { ok: false, reason: "not-configured", detail: "exit 6 (program is not configured)" };
    case 7:
      return { ok: false, reason: "not-running", detail: "exit 7 (program is not running)" };
    default:
      return { ok: false, reason: "unknown-code", detail: `exit ${code}` };
  }
}
