// cluster-glue's `stonith` tool (Debian cluster-glue):
//   stonith -t TYPE {-p "PARAMS" | -F FILE | name=value...} -T {reset|off} NODE
// Parameters: `-p` is Heartbeat's stonith_host string, `-F` its `stonith TYPE
// FILE`, name=value pairs tandem's `fence NODE stonith TYPE k=v` (external/*
// plugins get them as environment variables). The exit code is the plugin's
// S_* result (cluster-glue include/stonith/stonith.h).
import { baseEnv, execAgent } from "../agents/runner.ts";
import { stonith_program } from "../config/host.ts";
import type { FenceDeviceSpec } from "../config/types.ts";
import { type Attempt, type AttemptOptions, childTimeout, describeExit, drain_ms, kill_grace_ms, outputTail } from "./attempt.ts";
import type { FenceAction } from "./types.ts";

const s_codes: Record<number, string> = {
  1: "S_BADCONFIG: bad device parameters",
  2: "S_ACCESS: cannot reach or log in to the device",
  3: "S_INVAL: invalid argument",
  4: "S_BADHOST: the device does not control this node",
  5: "S_RESETFAIL: the device failed to reset or power off the node",
  6: "S_TIMEOUT: the device timed out",
  7: "S_ISOFF: the node is off",
  8: "S_OOPS: plugin error",
};

export function stonithArgv(spec: FenceDeviceSpec, node: string, action: FenceAction): string[] {
  const argv = [stonith_program, "-t", spec.agent];
  for (const [k, v] of spec.params) {
    if (k === "-p" || k === "-F") argv.push(k, v);
    else argv.push(`${k}=${v}`);
  }
  argv.push("-T", action === "reboot" ? "reset" : "off", node);
  return argv;
}

export async function stonithAttempt(spec: FenceDeviceSpec, node: string, action: FenceAction, opts: AttemptOptions): Promise<Attempt> {
  const started = performance.now();
  const r = await execAgent({
    argv: stonithArgv(spec, node, action),
    wrap: opts.wrap,
    env: { ...baseEnv(), ...opts.env },
    timeout_ms: childTimeout(opts.timeout_ms),
    kill_grace_ms,
    drain_ms,
    limiter: opts.limiter,
  });
  const tail = outputTail(r.output);
  const meaning = r.code !== null && r.code !== 0 && !r.timed_out ? s_codes[r.code] : undefined;
  const what = `-T ${action === "reboot" ? "reset" : "off"} ${describeExit(r, childTimeout(opts.timeout_ms))}${meaning ? ` (${meaning})` : ""}${tail ? `: ${tail}` : ""}`;
  return { ok: r.code === 0 && !r.timed_out, detail: what, code: r.code, timed_out: r.timed_out, duration_ms: Math.round(performance.now() - started) };
}
