// fence-agents (`fence_ipmilan`, `fence_apc`, ...): the agent reads
// `key=value` lines on stdin (so passwords stay out of `ps`), does the action
// and exits 0 on success (fence-agents' fencing.py). After `off`, tandem asks
// for `action=status` once more: exit 2 / "Status: OFF" confirms; an agent
// that says it succeeded while the node still reports ON has failed.
import { baseEnv, execAgent } from "../agents/runner.ts";
import { findFenceAgent } from "../config/host.ts";
import type { FenceDeviceSpec } from "../config/types.ts";
import { type Attempt, type AttemptOptions, childTimeout, describeExit, drain_ms, kill_grace_ms, outputTail } from "./attempt.ts";
import type { FenceAction } from "./types.ts";

/** fencing.py's exit codes for action=status */
const status_on = 0;
const status_off = 2;

export function agentStdin(spec: FenceDeviceSpec, action: FenceAction | "status"): string {
  return [`action=${action}`, ...spec.params.map(([k, v]) => `${k}=${v}`)].join("\n") + "\n";
}

/** One run of the agent with `act` on stdin, killed after budget_ms. */
function runAgent(path: string, spec: FenceDeviceSpec, act: FenceAction | "status", budget_ms: number, opts: AttemptOptions) {
  return execAgent({
    argv: [path],
    wrap: opts.wrap,
    env: { ...baseEnv(), ...opts.env },
    stdin: agentStdin(spec, act),
    timeout_ms: childTimeout(budget_ms),
    kill_grace_ms,
    drain_ms,
    limiter: opts.limiter,
  });
}

/** action=status says the node is off: exit 2 or "Status: OFF". */
const saysOff = (r: { code: number | null; stdout: string }): boolean => r.code === status_off || /Status: OFF/i.test(r.stdout);

/**
 * Read-only action=status: off true (exit 2 or "Status: OFF"), false (exit 0),
 * null otherwise (an error, a timeout: the child is killed). Never an off.
 */
export async function fenceAgentStatus(spec: FenceDeviceSpec, opts: AttemptOptions): Promise<{ off: boolean | null; detail: string }> {
  const path = findFenceAgent(spec.agent);
  if (path === null) return { off: null, detail: `${spec.agent} is not installed on this host` };
  const r = await runAgent(path, spec, "status", opts.timeout_ms, opts);
  const tail = outputTail(r.stdout);
  const what = `action=status ${describeExit(r, childTimeout(opts.timeout_ms))}${tail ? `: ${tail}` : ""}`;
  if (r.timed_out) return { off: null, detail: what };
  if (saysOff(r)) return { off: true, detail: what };
  if (r.code === status_on && /Status: ON/i.test(r.stdout)) return { off: false, detail: what };
  return { off: null, detail: what };
}

export async function fenceAgentAttempt(spec: FenceDeviceSpec, action: FenceAction, opts: AttemptOptions): Promise<Attempt> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const path = findFenceAgent(spec.agent);
  if (path === null) return { ok: false, detail: `${spec.agent} is not installed on this host`, code: null, timed_out: false, duration_ms: 0 };
  const run = (act: FenceAction | "status", budget_ms: number) => runAgent(path, spec, act, budget_ms, opts);
  const r = await run(action, opts.timeout_ms);
  const tail = outputTail(r.output);
  const what = `${describeExit(r, childTimeout(opts.timeout_ms))}${tail ? `: ${tail}` : ""}`;
  if (r.code !== 0) return { ok: false, detail: `action=${action} ${what}`, code: r.code, timed_out: r.timed_out, duration_ms: elapsed() };
  if (action !== "off") return { ok: true, detail: `action=${action} ${what}`, code: 0, timed_out: false, duration_ms: elapsed() };
  const left_ms = opts.timeout_ms - elapsed();
  if (left_ms < 500) return { ok: true, detail: `action=off ${what} (no time left to confirm with action=status)`, code: 0, timed_out: false, duration_ms: elapsed() };
  const s = await run("status", left_ms);
  const s_tail = outputTail(s.stdout);
  if (saysOff(s)) {
    return { ok: true, detail: `action=off ${what}; status: ${s_tail || "OFF"}`, code: 0, timed_out: false, duration_ms: elapsed() };
  }
  if (s.code === status_on) {
    return { ok: false, detail: `action=off ${what}, but action=status still says ${s_tail || "ON"}`, code: 0, timed_out: false, duration_ms: elapsed() };
  }
  // The agent itself waits for OFF before exiting 0 (fencing.py's power_wait loop):
  // a status call that cannot get through does not undo that.
  return { ok: true, detail: `action=off ${what}; status check failed (${describeExit(s, childTimeout(left_ms))}${s_tail ? `: ${s_tail}` : ""})`, code: 0, timed_out: false, duration_ms: elapsed() };
}
