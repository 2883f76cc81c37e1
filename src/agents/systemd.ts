// systemd units (`systemd:UNIT` in haresources): systemctl start / stop /
// is-active. Only where systemd is the running init: like sd_booted(), that is
// when /run/systemd/system exists. Elsewhere every call is a failure result
// (reason "no-systemd"), never an exception.
//
// start/stop: systemctl exits 0 on success; on failure it uses LSB codes
// (1 the job failed, 5 unit not found / not loaded, ...).
// monitor: `is-active` prints one state: active|reloading -> running;
// inactive|unknown -> stopped; failed -> failed (unit-failed);
// activating|deactivating|maintenance|refreshing -> failed (unit-pending).

import { existsSync } from "node:fs";
import { type AgentOptions, action_timeout_ms_default, execSpec, lsbActionVerdict, notRunFailure, runOnce, type Verdict, withRetry } from "./common.ts";
import { baseEnv } from "./runner.ts";
import { type Agent, type AgentAction, type AgentResult, AgentSpecError, SystemdUnavailableError } from "./types.ts";

const systemctl_paths = ["/usr/bin/systemctl", "/bin/systemctl"];
/** systemd's unit name alphabet (unit_name_is_valid), plus a length bound. */
const unit_pattern = /^[A-Za-z0-9:_.\\@-]{1,255}$/;

export function checkUnitName(unit: string): void {
  if (!unit_pattern.test(unit) || unit.startsWith("-") || unit.startsWith(".")) {
    throw new AgentSpecError(`bad systemd unit name ${JSON.stringify(unit)}`);
  }
}

/** null when systemd runs here (and systemctl is found), else why not. */
export function systemdUnavailable(opts: AgentOptions = {}): string | null {
  const run_dir = opts.systemd?.run_dir ?? "/run";
  if (!existsSync(`${run_dir}/systemd/system`)) return `systemd is not running on this machine (no ${run_dir}/systemd/system)`;
  if (!findSystemctl(opts)) return `systemctl not found (looked for ${opts.systemd?.systemctl ?? systemctl_paths.join(", ")})`;
  return null;
}

function findSystemctl(opts: AgentOptions): string | null {
  if (opts.systemd?.systemctl) return existsSync(opts.systemd.systemctl) ? opts.systemd.systemctl : null;
  return systemctl_paths.find((p) => existsSync(p)) ?? null;
}

export function isActiveVerdict(stdout: string, code: number | null): Verdict {
  const state = stdout.trim().split("\n")[0]?.trim() ?? "";
  switch (state) {
    case "active":
    case "reloading":
      return { ok: true, status: "running" };
    case "inactive":
    case "unknown":
      return { ok: true, status: "stopped" };
    case "failed":
      return { ok: false, reason: "unit-failed", detail: "unit is in the failed state" };
    case "activating":
    case "deactivating":
    case "maintenance":
    case "refreshing":
      return { ok: false, reason: "unit-pending", detail: `unit is ${state}` };
  }
  return code === 0 ? { ok: true, status: "running" } : { ok: false, reason: "unknown-code", detail: `is-active exit ${code}, state ${JSON.stringify(state)}` };
}

export class SystemdAgent implements Agent {
  readonly kind = "systemd";
  readonly description: string;

  constructor(
    readonly unit: string,
    private readonly opts: AgentOptions = {},
  ) {
    checkUnitName(unit);
    this.description = `systemd:${unit}`;
  }

  start(): Promise<AgentResult> {
    return this.call("start", "start", (x) => lsbActionVerdict(x.code, "running"));
  }

  stop(): Promise<AgentResult> {
    return this.call("stop", "stop", (x) => lsbActionVerdict(x.code, "stopped"));
  }

  monitor(): Promise<AgentResult> {
    return this.call("monitor", "is-active", (x) => isActiveVerdict(x.stdout, x.code));
  }

  private async call(action: AgentAction, verb: string, judge: Parameters<typeof runOnce>[3]): Promise<AgentResult> {
    const why = systemdUnavailable(this.opts);
    const systemctl = findSystemctl(this.opts);
    if (why || !systemctl) {
      return notRunFailure(action, this.description, "no-systemd", new SystemdUnavailableError(`${this.description} ${action}: ${why}`));
    }
    const timeout_ms = this.opts.timeouts_ms?.[action] ?? action_timeout_ms_default;
    // "--" keeps a unit name from being read as an option (checkUnitName also refuses a leading "-")
    const spec = execSpec(this.opts, [systemctl, "--no-ask-password", verb, "--", this.unit], baseEnv(), timeout_ms);
    return withRetry(this.opts.retry?.[action], () => runOnce(action, this.description, spec, judge));
  }
}
