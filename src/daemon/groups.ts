// Resource groups as the daemon runs them: the adapter between placement's
// start_group / stop_group / monitor_group actions and the agents. A group
// starts its resources left to right and stops them right to left; a start
// that fails half way stops what it started, so "failed" never leaves half a
// group running. The result goes back to the core as agent_done.
import { type Agent, type AgentOptions, type AgentResult, createAgent, resolveResource } from "../agents/mod.ts";
import { NativeIp, type ReannounceResult } from "../agents/ipaddr.ts";
import { DrbdResource } from "../agents/drbd.ts";
import type { ResourceGroup, ResourceSpec } from "../config/types.ts";

export interface GroupRunnerOptions {
  ha_dir: string;
  /** HA_RSCTMP and friends: where agents keep their state */
  env: Record<string, string>;
  log: (event: string, fields: Record<string, string | number | boolean | null>) => void;
  /** ha.cf arp_count / arp_interval: the built-in IP's announcement burst */
  arp?: { count: number; interval_ms: number };
}

/** One resource, whatever its kind: the built-in IP or an agent. */
interface Resource {
  name: string;
  start(): Promise<string | null>;
  stop(): Promise<string | null>;
  /** null = running; else why not */
  monitor(): Promise<string | null>;
  /** the built-in IP only: announce the address again (see NativeIp.reannounce) */
  reannounce?(reason: string | null, count?: number): ReannounceResult;
}

export class GroupRunner {
  private constructor(
    readonly id: string,
    private resources: Resource[],
    private opts: GroupRunnerOptions,
    /** `# tandem: monitor off` */
    private monitored: boolean,
  ) {}

  static async create(g: ResourceGroup, opts: GroupRunnerOptions): Promise<GroupRunner> {
    const resources: Resource[] = [];
    // The group's monitor timeout is the agents' too: a hung status call is
    // killed with its process group then, not at the agent default (20 s)
    // while the group restarts around it.
    const agent_opts: AgentOptions = { env: opts.env, ha_dir: opts.ha_dir };
    if (g.monitor.interval_ms > 0) agent_opts.timeouts_ms = { monitor: g.monitor.timeout_ms };
    for (const spec of g.resources) resources.push(await makeResource(spec, opts, agent_opts));
    return new GroupRunner(g.id, resources, opts, g.monitor.interval_ms > 0);
  }

  /** Left to right; on a failure, stop what started (right to left) and report the failure. */
  async start(): Promise<{ ok: boolean; detail: string }> {
    for (let i = 0; i < this.resources.length; i++) {
      const r = this.resources[i]!;
      const err = await this.call(r, "start");
      if (err === null) continue;
      for (let j = i; j >= 0; j--) await this.call(this.resources[j]!, "stop");
      return { ok: false, detail: `${r.name}: ${err}` };
    }
    return { ok: true, detail: "started" };
  }

  /** Right to left, every resource even after a failure; any failure fails the stop. */
  async stop(): Promise<{ ok: boolean; detail: string }> {
    const failed: string[] = [];
    for (let i = this.resources.length - 1; i >= 0; i--) {
      const r = this.resources[i]!;
      const err = await this.call(r, "stop");
      if (err !== null) failed.push(`${r.name}: ${err}`);
    }
    return failed.length === 0 ? { ok: true, detail: "stopped" } : { ok: false, detail: failed.join("; ") };
  }

  async monitor(): Promise<{ ok: boolean; detail: string }> {
    // Placement schedules no monitor for such a group; this guard keeps the
    // adapter from judging it even if asked.
    if (!this.monitored) return { ok: true, detail: "not monitored" };
    for (const r of this.resources) {
      const err = await this.call(r, "monitor");
      if (err !== null) return { ok: false, detail: `${r.name}: ${err}` };
    }
    return { ok: true, detail: "running" };
  }

  /**
   * Announce the group's built-in IPs again (the network came back, or the
   * periodic refresh). For a group the caller knows is running; rate-limited
   * per address by NativeIp. OCF/LSB IP agents (ocf:heartbeat:IPaddr2) are
   * not re-announced: that would mean forking their send_arp.
   */
  reannounce(reason: string | null, count?: number): ReannounceResult[] {
    const out: ReannounceResult[] = [];
    for (const r of this.resources) if (r.reannounce) out.push(r.reannounce(reason, count));
    return out;
  }

  private async call(r: Resource, action: "start" | "stop" | "monitor"): Promise<string | null> {
    const t0 = performance.now();
    let err: string | null;
    try {
      err = await r[action]();
    } catch (e) {
      err = (e as Error).message;
    }
    if (action !== "monitor" || err !== null) {
      this.opts.log(err === null ? "resource_ok" : "resource_failed", {
        group: this.id,
        resource: r.name,
        action,
        ms: Math.round(performance.now() - t0),
        error: err,
      });
    }
    return err;
  }
}

async function makeResource(spec: ResourceSpec, opts: GroupRunnerOptions, agent_opts: AgentOptions): Promise<Resource> {
  if (spec.kind === "ip" && spec.ip) return ipResource(spec, opts);
  if (spec.kind === "drbd" && spec.drbd) return drbdResource(spec, opts);
  // The script the configuration resolved (resource.d, then init_dir: the
  // daemon's --init-dir), so that the daemon runs what `tandem check` saw.
  if ((spec.kind === "heartbeat" || spec.kind === "lsb") && spec.path) {
    const agent = createAgent({ kind: spec.kind, name: spec.name, path: spec.path, args: spec.args }, agent_opts);
    return agentResource(spec.raw, agent);
  }
  const resolved = await resolveResource(spec.name, spec.args, { haDir: opts.ha_dir });
  if (resolved.kind === "builtin-ip") throw new Error(`${spec.raw}: IP resource without a parsed address`);
  return agentResource(spec.raw, createAgent(resolved, agent_opts));
}

function ipResource(spec: ResourceSpec, opts: GroupRunnerOptions): Resource {
  const ip = new NativeIp(spec.ip!, {
    log: (level, msg) => opts.log(`ip_${level}`, { resource: spec.raw, msg }),
    ...(opts.arp ? { arp_count: opts.arp.count, arp_interval_ms: opts.arp.interval_ms } : {}),
  });
  const attempt = async (f: () => Promise<void>) => {
    await f();
    return null;
  };
  return {
    name: spec.raw,
    start: () => attempt(() => ip.start()),
    stop: () => attempt(() => ip.stop()),
    monitor: async () => ((await ip.status()) === "running" ? null : "address not present"),
    reannounce: (reason, count) => ip.reannounce(reason, count),
  };
}

function drbdResource(spec: ResourceSpec, opts: GroupRunnerOptions): Resource {
  const drbd = new DrbdResource({ resource: spec.drbd!.resource }, { log: opts.log });
  const attempt = (f: () => Promise<string | null>) => async () => {
    try {
      return await f();
    } catch (e) {
      return (e as Error).message;
    }
  };
  return { name: spec.raw, start: attempt(() => drbd.start()), stop: attempt(() => drbd.stop()), monitor: attempt(() => drbd.monitor()) };
}

function agentResource(name: string, agent: Agent): Resource {
  const verdict = (r: AgentResult, want_running: boolean): string | null => {
    if (!r.ok) return r.error;
    if (want_running && r.status === "stopped") return "not running";
    return null;
  };
  return {
    name,
    start: async () => verdict(await agent.start(), false),
    stop: async () => verdict(await agent.stop(), false),
    monitor: async () => verdict(await agent.monitor(), true),
  };
}
