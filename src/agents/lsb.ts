// LSB init scripts (/etc/init.d/NAME start|stop|status), judged by the LSB
// exit codes (LSB core, "Init Script Actions"):
//
//   start/stop: 0 success (start of a running service and stop of a stopped
//               one are successes too: the script must say 0), 1 generic,
//               2 invalid args, 3 unimplemented, 4 insufficient privilege,
//               5 not installed, 6 not configured, 7 not running.
//   status:     0 running, 3 stopped; 1 "dead, pid file exists",
//               2 "dead, lock file exists" and 4 "status unknown" are
//               failures (a crashed service is not a clean stop).
//
// Arguments from haresources (`NAME::a::b`) come before the action, as
// Heartbeat's ResourceManager passed them to init scripts too. Note that
// Heartbeat R1 itself judged init scripts' status by their output (see
// heartbeat.ts); tandem uses the exit code, which LSB defines.

import { type AgentOptions, action_timeout_ms_default, execSpec, lsbActionVerdict, runOnce, type Verdict, withRetry } from "./common.ts";
import { baseEnv } from "./runner.ts";
import type { Agent, AgentAction, AgentResult } from "./types.ts";

export function lsbStatusVerdict(code: number | null): Verdict {
  switch (code) {
    case 0:
      return { ok: true, status: "running" };
    case 3:
      return { ok: true, status: "stopped" };
    case 1:
      return { ok: false, reason: "generic", detail: "status 1 (program is dead and /var/run pid file exists)" };
    case 2:
      return { ok: false, reason: "generic", detail: "status 2 (program is dead and /var/lock lock file exists)" };
    case 4:
      return { ok: false, reason: "unknown-code", detail: "status 4 (program or service status is unknown)" };
    default:
      return { ok: false, reason: "unknown-code", detail: `status exit ${code}` };
  }
}

export class LsbAgent implements Agent {
  readonly kind = "lsb";
  readonly description: string;

  constructor(
    readonly path: string,
    readonly args: readonly string[] = [],
    private readonly opts: AgentOptions = {},
  ) {
    if (!path.startsWith("/")) throw new TypeError(`init script path must be absolute: ${path}`);
    this.description = `lsb:${path}${args.map((a) => `::${a}`).join("")}`;
  }

  start(): Promise<AgentResult> {
    return this.call("start", "start", (x) => lsbActionVerdict(x.code, "running"));
  }

  stop(): Promise<AgentResult> {
    return this.call("stop", "stop", (x) => lsbActionVerdict(x.code, "stopped"));
  }

  monitor(): Promise<AgentResult> {
    return this.call("monitor", "status", (x) => lsbStatusVerdict(x.code));
  }

  private call(action: AgentAction, verb: string, judge: Parameters<typeof runOnce>[3]): Promise<AgentResult> {
    const timeout_ms = this.opts.timeouts_ms?.[action] ?? action_timeout_ms_default;
    const spec = execSpec(this.opts, [this.path, ...this.args, verb], baseEnv(), timeout_ms);
    return withRetry(this.opts.retry?.[action], () => runOnce(action, this.description, spec, judge));
  }
}
