// makeFencer: the Fencer (types.ts) over the configured devices. For one
// node, devices are tried in config order until one succeeds; each gets what
// is left of fence_timeout_ms, so the whole call settles within it (a guard
// timer answers even if a child is still being killed). Each attempt is
// logged: `fence_attempt node=... device=... ok=... code=... detail=...`.
import { Limiter } from "../agents/limiter.ts";
import type { FenceDeviceSpec, HaConfig } from "../config/types.ts";
import type { Fields } from "../daemon/log.ts";
import type { Attempt, AttemptOptions } from "./attempt.ts";
import { devicesByTarget, devicesFor } from "./devices.ts";
import { fenceAgentAttempt, fenceAgentStatus } from "./fence_agent.ts";
import { stonithAttempt } from "./stonith.ts";
import type { FenceAction, Fencer, FenceResult, PowerStatus } from "./types.ts";

export interface FenceLog {
  event(name: string, fields: Fields): void;
}

export interface FencerOptions {
  /** prefix of every command, e.g. ["ip", "netns", "exec", NS] (the lab, tests); must exec() it */
  wrap?: string[];
  /** added to the agents' environment (e.g. SSH_AUTH_SOCK for external/ssh) */
  env?: Record<string, string>;
}

/** Fence calls at once (a two-node cluster fences one peer; a bound all the same). */
export const fence_calls_running_max = 4;
export const fence_calls_queued_max = 16;
/** Below this, a device is not started: it could not do anything useful. */
export const attempt_ms_min = 250;
const detail_chars_max = 600;
/** A power status query answers within this (or fence_timeout_ms if shorter): it only shortens a fence delay. */
export const status_timeout_ms = 10_000;

export function makeFencer(cfg: HaConfig, self: string, log: FenceLog, opts: FencerOptions = {}): Fencer {
  const by_target = devicesByTarget(devicesFor(cfg, self));
  // fencing has its own slots: a resource agent storm must not delay it
  const limiter = new Limiter(fence_calls_running_max, fence_calls_queued_max);
  const in_flight = new Map<string, Promise<FenceResult>>();
  const status_in_flight = new Map<string, Promise<PowerStatus>>();
  return {
    canFence: (node) => node !== self && (by_target.get(node)?.length ?? 0) > 0,
    fence(node, action) {
      // one call per node at a time: a second caller shares the first one's answer
      const running = in_flight.get(node);
      if (running) return running;
      const p = fenceNode({ node, action, self, devices: by_target.get(node) ?? [], timeout_ms: cfg.fence_timeout_ms, log, limiter, opts }).finally(() =>
        in_flight.delete(node),
      );
      in_flight.set(node, p);
      return p;
    },
    powerStatus(node) {
      const running = status_in_flight.get(node);
      if (running) return running;
      const timeout_ms = Math.min(status_timeout_ms, cfg.fence_timeout_ms);
      const p = statusNode(node, self, by_target.get(node) ?? [], { timeout_ms, limiter, wrap: opts.wrap, env: opts.env }, log).finally(() =>
        status_in_flight.delete(node),
      );
      status_in_flight.set(node, p);
      return p;
    },
  };
}

/**
 * The first fence-agents device for the node answers; cluster-glue's stonith
 * has no per-node status query (-S checks the device, not the node), and a
 * manual device knows nothing: without a fence-agents device, unknown.
 */
async function statusNode(node: string, self: string, devices: FenceDeviceSpec[], opts: AttemptOptions, log: FenceLog): Promise<PowerStatus> {
  const started = performance.now();
  const d = devices.find((x) => x.kind === "fence_agent");
  if (node === self || !d) return { off: null, detail: "no fence-agents device to ask for its power status", duration_ms: 0 };
  const work = fenceAgentStatus(d, opts).catch((e: unknown) => ({ off: null, detail: `internal error: ${(e as Error)?.message ?? e}` }));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<{ off: boolean | null; detail: string }>((resolve) => {
    timer = setTimeout(() => resolve({ off: null, detail: `timed out after ${opts.timeout_ms} ms (still being killed)` }), opts.timeout_ms);
  });
  try {
    const r = await Promise.race([work, guard]);
    const duration_ms = Math.round(performance.now() - started);
    const detail = bound(`${d.agent} (line ${d.line}): ${r.detail}`);
    log.event("fence_status", { node, device: d.agent, line: d.line, off: r.off ?? "unknown", duration_ms, detail: r.detail });
    return { off: r.off, detail, duration_ms };
  } finally {
    clearTimeout(timer);
  }
}

interface FenceCall {
  node: string;
  action: FenceAction;
  self: string;
  devices: FenceDeviceSpec[];
  timeout_ms: number;
  log: FenceLog;
  limiter: Limiter;
  opts: FencerOptions;
}

async function fenceNode(c: FenceCall): Promise<FenceResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  if (c.node === c.self) return { ok: false, device: "", detail: "refusing to fence this node itself", duration_ms: 0 };
  if (c.devices.length === 0) {
    return { ok: false, device: "", detail: `no fence device for ${c.node}: add \`fence ${c.node} AGENT key=value...\` to ha.cf`, duration_ms: 0 };
  }
  const failures: string[] = [];
  let manual = false;
  let last = "";
  for (const d of c.devices) {
    const left_ms = c.timeout_ms - elapsed();
    if (left_ms < attempt_ms_min) {
      failures.push(`${d.agent}: not tried, fence_timeout (${c.timeout_ms} ms) used up`);
      break;
    }
    last = d.agent;
    const action = d.action ?? c.action;
    const a = await attempt(d, c.node, action, { timeout_ms: left_ms, limiter: c.limiter, wrap: c.opts.wrap, env: c.opts.env });
    c.log.event("fence_attempt", {
      node: c.node,
      device: d.agent,
      kind: d.kind,
      line: d.line,
      action,
      ok: a.ok,
      code: a.code ?? undefined,
      timed_out: a.timed_out || undefined,
      duration_ms: a.duration_ms,
      detail: a.detail,
    });
    if (a.ok) return { ok: true, device: d.agent, detail: bound(`${d.agent} (line ${d.line}): ${a.detail}`), duration_ms: elapsed() };
    if (d.kind === "manual") manual = true;
    else failures.push(`${d.agent}: ${a.detail}`);
  }
  const waiting = `waiting for \`tandem fence-confirm ${c.node}\``;
  if (manual) return { ok: false, device: "manual", detail: bound([waiting, ...failures].join("; ")), duration_ms: elapsed() };
  return { ok: false, device: last, detail: bound(failures.join("; ")), duration_ms: elapsed() };
}

/** One device, settled within opts.timeout_ms whatever the child does. */
async function attempt(d: FenceDeviceSpec, node: string, action: FenceAction, opts: AttemptOptions): Promise<Attempt> {
  if (d.kind === "manual") return { ok: false, detail: `waiting for \`tandem fence-confirm ${node}\``, code: null, timed_out: false, duration_ms: 0 };
  const work = (d.kind === "fence_agent" ? fenceAgentAttempt(d, action, opts) : stonithAttempt(d, node, action, opts)).catch(
    (e: unknown): Attempt => ({ ok: false, detail: `internal error: ${(e as Error)?.message ?? e}`, code: null, timed_out: false, duration_ms: 0 }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<Attempt>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, detail: `timed out after ${opts.timeout_ms} ms (still being killed)`, code: null, timed_out: true, duration_ms: opts.timeout_ms }),
      opts.timeout_ms,
    );
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

function bound(s: string): string {
  return s.length > detail_chars_max ? `${s.slice(0, detail_chars_max)}...` : s;
}
