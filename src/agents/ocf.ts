// OCF resource agents (OCF RA API 1.0; Debian's resource-agents installs them
// under /usr/lib/ocf/resource.d/PROVIDER/TYPE).
//
// Each call: `TYPE ACTION` with the parameters in the environment:
//   OCF_ROOT, OCF_RA_VERSION_MAJOR/MINOR, OCF_RESOURCE_INSTANCE,
//   OCF_RESOURCE_TYPE, OCF_RESOURCE_PROVIDER, OCF_RESKEY_<name>=<value> per
//   parameter, OCF_RESKEY_CRM_meta_timeout (the call's timeout in ms).
//
// Timeout of an action: AgentOptions.timeouts_ms (config) first, else the
// agent's own meta-data (<action name="start" timeout="20s"/>, read once per
// agent and cached), else 20 s.

import {
  type AgentOptions,
  action_timeout_ms_default,
  execSpec,
  judgeExec,
  lsbActionVerdict,
  metadata_timeout_ms_default,
  runOnce,
  type Verdict,
  withRetry,
} from "./common.ts";
import { actionMeta, type OcfMetadata, parseOcfMetadata } from "./metadata.ts";
import { baseEnv, execAgent } from "./runner.ts";
import { type Agent, type AgentAction, type AgentResult, AgentSpecError, OcfMetadataError } from "./types.ts";

/** OCF exit codes (OCF RA API 1.0, "Return codes"). */
export const ocf_exit = {
  success: 0,
  err_generic: 1,
  err_args: 2,
  err_unimplemented: 3,
  err_perm: 4,
  err_installed: 5,
  err_configured: 6,
  not_running: 7,
  running_master: 8,
  failed_master: 9,
} as const;

export const ocf_exit_names: readonly string[] = [
  "OCF_SUCCESS",
  "OCF_ERR_GENERIC",
  "OCF_ERR_ARGS",
  "OCF_ERR_UNIMPLEMENTED",
  "OCF_ERR_PERM",
  "OCF_ERR_INSTALLED",
  "OCF_ERR_CONFIGURED",
  "OCF_NOT_RUNNING",
  "OCF_RUNNING_MASTER",
  "OCF_FAILED_MASTER",
];

export const ocf_root_default = "/usr/lib/ocf";
/** OCF_RESKEY_ names: what a shell variable may be called. */
const param_name = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const params_max = 64;
const param_value_chars_max = 4096;

export interface OcfSpec {
  provider: string;
  type: string;
  /** the agent executable: OCF_ROOT/resource.d/PROVIDER/TYPE */
  path: string;
  ocf_root: string;
  params: Readonly<Record<string, string>>;
}

/** Judge an OCF exit code for an action. */
export function ocfVerdict(action: AgentAction, code: number | null): Verdict {
  const named = code !== null && code >= 0 && code < ocf_exit_names.length ? ` (${ocf_exit_names[code]})` : "";
  if (action === "monitor") {
    if (code === ocf_exit.success) return { ok: true, status: "running" };
    if (code === ocf_exit.not_running) return { ok: true, status: "stopped" };
    if (code === ocf_exit.running_master) return { ok: true, status: "master" };
  }
  if (code === ocf_exit.failed_master) return { ok: false, reason: "failed-master", detail: `exit 9${named}` };
  if (code === ocf_exit.running_master) return { ok: false, reason: "unknown-code", detail: `exit 8${named}` };
  const success = action === "start" ? "running" : action === "stop" ? "stopped" : "done";
  const v = lsbActionVerdict(code, success);
  return v.ok ? v : { ...v, detail: `exit ${code}${named}` };
}

/** A deterministic default instance name: TYPE-<8 hex of the sorted parameters>. */
export function defaultInstance(type: string, params: Readonly<Record<string, string>>): string {
  const text = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join("\n");
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${type}-${h.toString(16).padStart(8, "0")}`;
}

export function checkOcfParams(params: Readonly<Record<string, string>>): void {
  const keys = Object.keys(params);
  if (keys.length > params_max) throw new AgentSpecError(`more than ${params_max} OCF parameters`);
  for (const k of keys) {
    if (!param_name.test(k)) throw new AgentSpecError(`OCF parameter name ${JSON.stringify(k)} is not a valid name (letters, digits, _)`);
    const v = params[k]!;
    if (v.includes("\0") || v.length > param_value_chars_max) throw new AgentSpecError(`OCF parameter ${k}: bad value`);
  }
}

/** The last `ocf-exit-reason:` line an agent printed (ocf_exit_reason in ocf-shellfuncs), bounded. */
export function exitReason(output: string): string | null {
  const m = output.match(/^ocf-exit-reason:(.*)$/gm);
  const last = m?.at(-1)?.slice("ocf-exit-reason:".length).trim();
  return last ? last.slice(0, 256) : null;
}

export type TimeoutSource = "config" | "meta-data" | "default";

export class OcfAgent implements Agent {
  readonly kind = "ocf";
  readonly description: string;
  readonly instance: string;
  private meta: OcfMetadata | null = null;
  /** the first meta-data read for timeouts, shared by concurrent callers; a failure is not retried */
  private meta_loading: Promise<unknown> | null = null;

  constructor(
    readonly spec: OcfSpec,
    private readonly opts: AgentOptions = {},
  ) {
    if (!spec.path.startsWith("/")) throw new TypeError(`OCF agent path must be absolute: ${spec.path}`);
    checkOcfParams(spec.params);
    this.instance = opts.instance ?? defaultInstance(spec.type, spec.params);
    if (!/^[A-Za-z0-9_.:@-]{1,128}$/.test(this.instance)) throw new AgentSpecError(`bad OCF resource instance name ${JSON.stringify(this.instance)}`);
    this.description = `ocf:${spec.provider}:${spec.type}(${this.instance})`;
  }

  start(): Promise<AgentResult> {
    return this.action("start");
  }

  stop(): Promise<AgentResult> {
    return this.action("stop");
  }

  monitor(): Promise<AgentResult> {
    return this.action("monitor");
  }

  validate(): Promise<AgentResult> {
    return this.action("validate-all");
  }

  /** Run `meta-data` and parse it (always runs; the last good parse is kept for timeoutFor). */
  async metaData(): Promise<{ result: AgentResult; meta: OcfMetadata | null }> {
    const timeout_ms = this.opts.timeouts_ms?.["meta-data"] ?? metadata_timeout_ms_default;
    const spec = execSpec(this.opts, [this.spec.path, "meta-data"], this.env(timeout_ms), timeout_ms);
    const x = await execAgent(spec);
    let meta: OcfMetadata | null = null;
    let parse_error: OcfMetadataError | null = null;
    const result = judgeExec("meta-data", this.description, timeout_ms, x, (x) => {
      const v = ocfVerdict("meta-data", x.code);
      if (!v.ok) return v;
      if (x.output_truncated) return { ok: false, reason: "generic", detail: "meta-data output too large (truncated)" };
      try {
        meta = parseOcfMetadata(x.stdout);
      } catch (e) {
        parse_error = e instanceof OcfMetadataError ? e : new OcfMetadataError(String(e), { cause: e });
        return { ok: false, reason: "generic", detail: `unreadable meta-data: ${parse_error.message}` };
      }
      return v;
    });
    if (meta) this.meta = meta;
    return { result, meta };
  }

  /** The timeout an action will run with, and where it came from. */
  async timeoutFor(action: AgentAction): Promise<{ timeout_ms: number; source: TimeoutSource }> {
    const configured = this.opts.timeouts_ms?.[action];
    if (configured !== undefined) return { timeout_ms: configured, source: "config" };
    if (action === "meta-data") return { timeout_ms: metadata_timeout_ms_default, source: "default" };
    // once per agent: an agent whose meta-data fails or hangs must not delay every action
    this.meta_loading ??= this.metaData();
    await this.meta_loading;
    const from_meta = this.meta ? actionMeta(this.meta, action)?.timeout_ms : null;
    if (from_meta) return { timeout_ms: from_meta, source: "meta-data" };
    return { timeout_ms: action_timeout_ms_default, source: "default" };
  }

  private async action(action: AgentAction): Promise<AgentResult> {
    const { timeout_ms } = await this.timeoutFor(action);
    const spec = execSpec(this.opts, [this.spec.path, action], this.env(timeout_ms), timeout_ms);
    return withRetry(this.opts.retry?.[action], () =>
      runOnce(action, this.description, spec, (x) => {
        const v = ocfVerdict(action, x.code);
        const why = v.ok ? null : exitReason(x.output);
        return why && !v.ok ? { ...v, detail: `${v.detail}: ${why}` } : v;
      }),
    );
  }

  private env(timeout_ms: number): Record<string, string> {
    const env: Record<string, string> = {
      ...baseEnv(),
      OCF_ROOT: this.spec.ocf_root,
      OCF_RA_VERSION_MAJOR: "1",
      OCF_RA_VERSION_MINOR: "0",
      OCF_RESOURCE_INSTANCE: this.instance,
      OCF_RESOURCE_TYPE: this.spec.type,
      OCF_RESOURCE_PROVIDER: this.spec.provider,
    };
    for (const [k, v] of Object.entries(this.spec.params)) env[`OCF_RESKEY_${k}`] = v;
    // last: a parameter cannot override the call's real timeout
    env.OCF_RESKEY_CRM_meta_timeout = String(Math.round(timeout_ms));
    return env;
  }
}
