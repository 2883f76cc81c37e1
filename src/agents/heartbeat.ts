// Heartbeat R1 resource scripts (/etc/ha.d/resource.d/NAME) and the
// Heartbeat-era calling convention, which ResourceManager also used for
// /etc/init.d scripts: the `::`-separated haresources arguments come first,
// the action last:  NAME arg1 arg2 start|stop|status.
//
// start/stop: exit 0 is success, anything else a failure (ResourceManager's
// doscript logs "Return code $RC" for any non-zero code).
//
// status: the exit code is ignored and only stdout is read, exactly as
// ResourceManager's we_own_resource() does (heartbeat/lib/ResourceManager.in,
// Heartbeat 3.0.6):
//
//   case `$spath $arg status` in
//     *[Nn][Oo][Tt]\ *[Rr]unning*) return 3;;   # stopped
//     *[Rr]unning*|*OK*)           return 0;;   # running
//     *)                           return 3;;   # stopped
//   esac
//
// So "not running" / "NOT  ... Running" (any case of "not", then a space,
// then "running" or "Running" anywhere later) is stopped; otherwise
// "running", "Running" or an upper-case "OK" anywhere is running; anything
// else, including no output at all, is stopped. Case matters: "RUNNING" and
// "ok" do not count as running.

import { type AgentOptions, action_timeout_ms_default, execSpec, runOnce, type Verdict, withRetry } from "./common.ts";
import { baseEnv } from "./runner.ts";
import type { Agent, AgentAction, AgentResult } from "./types.ts";

const not_running = /[Nn][Oo][Tt] [\s\S]*[Rr]unning/;
const running = /[Rr]unning|OK/;

/** ResourceManager's status rule on a status call's stdout. */
export function heartbeatStatus(stdout: string): "running" | "stopped" {
  if (not_running.test(stdout)) return "stopped";
  if (running.test(stdout)) return "running";
  return "stopped";
}

export class HeartbeatAgent implements Agent {
  readonly kind = "heartbeat";
  readonly description: string;

  constructor(
    readonly path: string,
    readonly args: readonly string[],
    private readonly opts: AgentOptions = {},
  ) {
    if (!path.startsWith("/")) throw new TypeError(`heartbeat script path must be absolute: ${path}`);
    this.description = `heartbeat:${path}${args.map((a) => `::${a}`).join("")}`;
  }

  start(): Promise<AgentResult> {
    return this.call("start", "start", (x) => (x.code === 0 ? { ok: true, status: "running" } : exitFailure(x.code)));
  }

  stop(): Promise<AgentResult> {
    return this.call("stop", "stop", (x) => (x.code === 0 ? { ok: true, status: "stopped" } : exitFailure(x.code)));
  }

  monitor(): Promise<AgentResult> {
    return this.call("monitor", "status", (x) => ({ ok: true, status: heartbeatStatus(x.stdout) }));
  }

  private call(action: AgentAction, verb: string, judge: Parameters<typeof runOnce>[3]): Promise<AgentResult> {
    const ha_dir = this.opts.ha_dir ?? "/etc/ha.d";
    const env = { ...baseEnv(), HA_DIR: ha_dir, HA_FUNCS: `${ha_dir}/shellfuncs`, HA_RESOURCEDIR: `${ha_dir}/resource.d` };
    const timeout_ms = this.opts.timeouts_ms?.[action] ?? action_timeout_ms_default;
    const spec = execSpec(this.opts, [this.path, ...this.args, verb], env, timeout_ms);
    return withRetry(this.opts.retry?.[action], () => runOnce(action, this.description, spec, judge));
  }
}

function exitFailure(code: number | null): Verdict {
  return { ok: false, reason: "generic", detail: `exit ${code}` };
}
