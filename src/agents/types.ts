// The uniform agent layer: one interface over Heartbeat resource.d scripts,
// LSB init scripts, OCF resource agents and systemd units.
//
// Operating errors (a script that fails, hangs, is missing, a full queue, no
// systemd) are values: every Agent method resolves to an AgentResult and never
// rejects. Programmer errors (bad arguments to this API) throw. Each failure
// carries a named Error subclass as `cause`.

export type AgentKind = "heartbeat" | "lsb" | "ocf" | "systemd";

/** What was asked of the agent. `monitor` is Heartbeat's/LSB's `status`, systemd's `is-active`. */
export type AgentAction = "start" | "stop" | "monitor" | "meta-data" | "validate-all";

/**
 * Why an action failed.
 *  - timeout         the call outlived its timeout; its process group was killed
 *  - signal          the process died of a signal we did not send
 *  - generic         the agent said "failed" (OCF 1, LSB 1, any non-zero exit of a Heartbeat script)
 *  - args            invalid or excess arguments (OCF/LSB 2)
 *  - unimplemented   the agent does not implement the action (OCF/LSB 3)
 *  - perm            insufficient privileges (OCF/LSB 4)
 *  - not-installed   agent or program missing (OCF/LSB 5, systemctl "not found")
 *  - not-configured  the configuration is wrong (OCF/LSB 6)
 *  - not-running     start/validate reported "not running" (OCF 7 outside monitor)
 *  - failed-master   OCF 9: failed, in master role
 *  - unknown-code    an exit code with no defined meaning for this kind/action
 *  - unit-failed     systemd: `is-active` says "failed"
 *  - unit-pending    systemd: activating/deactivating/maintenance
 *  - spawn           the process could not be started (missing, not executable, ...)
 *  - queue-full      too many agent calls already waiting
 *  - no-systemd      systemd unit, but this machine does not run systemd
 */
export type FailReason =
  | "timeout"
  | "signal"
  | "generic"
  | "args"
  | "unimplemented"
  | "perm"
  | "not-installed"
  | "not-configured"
  | "not-running"
  | "failed-master"
  | "unknown-code"
  | "unit-failed"
  | "unit-pending"
  | "spawn"
  | "queue-full"
  | "no-systemd";

/** Facts about the child process behind a result (null/0/"" when none ran). */
export interface AgentRun {
  action: AgentAction;
  /** a short human description: `ocf:heartbeat:Dummy(dummy1)`, `lsb:/etc/init.d/ssh`, ... */
  agent: string;
  /** exit code; null when killed by a signal or never started */
  code: number | null;
  /** terminating signal name (SIGTERM, SIGKILL); null otherwise */
  signal: string | null;
  timed_out: boolean;
  /** wall time from spawn to exit (queueing excluded) */
  duration_ms: number;
  /** time spent waiting for a concurrency slot */
  queued_ms: number;
  /** how many times the action was run (1 unless a retry policy applies) */
  attempts: number;
  /** stdout and stderr in arrival order, bounded (head and tail kept, gap marked) */
  output: string;
  output_truncated: boolean;
}

/** The action did what was asked; `status` is the resource state it leaves or reports. */
export interface AgentSuccess extends AgentRun {
  ok: true;
  /**
   * running  start succeeded / monitor: running
   * stopped  stop succeeded / monitor: not running (a clean, known state)
   * master   OCF 8: running in master role
   * done     meta-data / validate-all succeeded (no resource state implied)
   */
  status: "running" | "stopped" | "master" | "done";
}

export interface AgentFailure extends AgentRun {
  ok: false;
  /** failed: the agent ran and reported failure or hung; error: it could not be run at all */
  status: "failed" | "error";
  reason: FailReason;
  /** one line for logs: what, where, why */
  error: string;
  cause: AgentError;
}

export type AgentResult = AgentSuccess | AgentFailure;

export interface Agent {
  readonly kind: AgentKind;
  /** same as AgentRun.agent */
  readonly description: string;
  start(): Promise<AgentResult>;
  stop(): Promise<AgentResult>;
  /** status probe: running / stopped, or a failure */
  monitor(): Promise<AgentResult>;
}

// ---------------------------------------------------------------------------
// Errors: one class per failure, each with a name and (when there is one) a cause.

export class AgentError extends Error {
  override name = "AgentError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The agent ran and reported failure (non-zero exit with a meaning). */
export class AgentFailedError extends AgentError {
  override name = "AgentFailedError";
  constructor(
    message: string,
    readonly reason: FailReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The call outlived its timeout; the whole process group was signalled. */
export class AgentTimeoutError extends AgentError {
  override name = "AgentTimeoutError";
  constructor(
    message: string,
    readonly timeout_ms: number,
  ) {
    super(message);
  }
}

/** The process could not be started. `cause` is the spawn error. */
export class AgentSpawnError extends AgentError {
  override name = "AgentSpawnError";
}

/** The concurrency limiter's queue is full. */
export class AgentQueueFullError extends AgentError {
  override name = "AgentQueueFullError";
}

/** A systemd unit was asked for on a machine not booted with systemd. */
export class SystemdUnavailableError extends AgentError {
  override name = "SystemdUnavailableError";
}

/** resolveResource found nothing: `looked_in` lists every path tried. */
export class AgentNotFoundError extends AgentError {
  override name = "AgentNotFoundError";
  constructor(
    message: string,
    readonly looked_in: string[],
  ) {
    super(message);
  }
}

/** A haresources token that cannot name an agent (bad OCF spec, bad unit name, bad key=value). */
export class AgentSpecError extends AgentError {
  override name = "AgentSpecError";
}

/** An OCF agent's meta-data could not be read or parsed. */
export class OcfMetadataError extends AgentError {
  override name = "OcfMetadataError";
}
