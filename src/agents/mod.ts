// Public surface of the agent layer.
export type { Agent, AgentAction, AgentFailure, AgentKind, AgentResult, AgentRun, AgentSuccess, FailReason } from "./types.ts";
export {
  AgentError,
  AgentFailedError,
  AgentNotFoundError,
  AgentQueueFullError,
  AgentSpawnError,
  AgentSpecError,
  AgentTimeoutError,
  OcfMetadataError,
  SystemdUnavailableError,
} from "./types.ts";
export { type AgentOptions, action_timeout_ms_default, heartbeat_stop_retry, type RetryPolicy } from "./common.ts";
export { HeartbeatAgent, heartbeatStatus } from "./heartbeat.ts";
export { LsbAgent } from "./lsb.ts";
export { OcfAgent, type OcfSpec, ocf_exit, ocf_exit_names } from "./ocf.ts";
export { actionMeta, type OcfActionMeta, type OcfMetadata, parseDuration, parseOcfMetadata } from "./metadata.ts";
export { SystemdAgent, systemdUnavailable } from "./systemd.ts";
export { createAgent, isBareAddress, type ResolvedResource, type ResolveOptions, resolveResource } from "./resolve.ts";
export { agent_calls_queued_max, agent_calls_running_max, default_limiter, Limiter } from "./limiter.ts";
export { agent_path, baseEnv, type ExecResult, type ExecSpec, execAgent } from "./runner.ts";
