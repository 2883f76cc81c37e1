// From a haresources token (`NAME::arg1::arg2`, already split into name and
// args) to an agent, in Heartbeat's order:
//
//   IPaddr, IPaddr2, IPv6addr, or a bare address  -> builtin-ip (the native IP
//                                                   layer handles these)
//   ocf:PROVIDER:TYPE::key=value::...             -> OCF agent
//   systemd:UNIT                                  -> systemd unit
//   NAME                                          -> HA_DIR/resource.d/NAME if it
//       is an executable file, else INITDIR/NAME (ResourceManager's scriptpath)
//
// Nothing found is an AgentNotFoundError naming every path tried.

import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { isIP } from "node:net";
import type { AgentOptions } from "./common.ts";
import { HeartbeatAgent } from "./heartbeat.ts";
import { LsbAgent } from "./lsb.ts";
import { checkOcfParams, OcfAgent, ocf_root_default } from "./ocf.ts";
import { checkUnitName, SystemdAgent } from "./systemd.ts";
import { type Agent, AgentNotFoundError, AgentSpecError } from "./types.ts";

export interface ResolveOptions {
  /** default /etc/ha.d (scripts in haDir/resource.d) */
  haDir?: string;
  /** default /etc/init.d */
  initDir?: string;
  /** default /usr/lib/ocf */
  ocfRoot?: string;
}

export type ResolvedResource =
  | { kind: "builtin-ip"; name: string; args: string[] }
  | { kind: "heartbeat"; name: string; path: string; args: string[] }
  | { kind: "lsb"; name: string; path: string; args: string[] }
  | { kind: "ocf"; name: string; provider: string; type: string; path: string; ocf_root: string; params: Record<string, string> }
  | { kind: "systemd"; name: string; unit: string };

/** Script, provider and type names: one plain path component. */
const file_name = /^[A-Za-z0-9_+@][A-Za-z0-9_.+@-]{0,127}$/;
const builtin_ip_names: ReadonlySet<string> = new Set(["IPaddr", "IPaddr2", "IPv6addr"]);
const args_max = 64;

/**
 * A bare address as haresources spells it: `10.0.0.1`, `10.0.0.1/24/eth0`,
 * Heartbeat's own test `[0-9]*.[0-9]*.[0-9]*.[0-9]*`, or an IPv6 address
 * (whose "::" the haresources split may have cut into name and args).
 */
export function isBareAddress(name: string, args: readonly string[]): boolean {
  const head = (s: string) => s.split("/")[0] ?? "";
  if (isIP(head(name)) !== 0) return true;
  if (/^[0-9].*\.[0-9].*\.[0-9].*\.[0-9]/.test(name)) return true;
  const joined = [name, ...args].join("::");
  return /^[0-9a-fA-F:]*$/.test(name) && isIP(head(joined)) === 6;
}

export async function resolveResource(name: string, args: string[], opts: ResolveOptions = {}): Promise<ResolvedResource> {
  if (typeof name !== "string" || name === "") throw new AgentSpecError("empty resource name");
  if (args.length > args_max) throw new AgentSpecError(`${name}: more than ${args_max} arguments`);
  for (const a of args) if (a.includes("\0")) throw new AgentSpecError(`${name}: argument contains NUL`);

  if (builtin_ip_names.has(name) || isBareAddress(name, args)) return { kind: "builtin-ip", name, args: [...args] };

  if (name.startsWith("ocf:")) return resolveOcf(name, args, opts.ocfRoot ?? ocf_root_default);

  if (name.startsWith("systemd:")) {
    const unit = name.slice("systemd:".length);
    checkUnitName(unit);
    if (args.length > 0) throw new AgentSpecError(`${name}: systemd units take no arguments (got ${args.join("::")})`);
    return { kind: "systemd", name, unit };
  }

  if (!file_name.test(name)) throw new AgentSpecError(`resource name ${JSON.stringify(name)} is not a script name`);
  const ha_path = `${opts.haDir ?? "/etc/ha.d"}/resource.d/${name}`;
  const init_path = `${opts.initDir ?? "/etc/init.d"}/${name}`;
  if (await isExecutableFile(ha_path)) return { kind: "heartbeat", name, path: ha_path, args: [...args] };
  if (await isExecutableFile(init_path)) return { kind: "lsb", name, path: init_path, args: [...args] };
  throw new AgentNotFoundError(`resource ${name}: no executable script ${ha_path} or ${init_path}`, [ha_path, init_path]);
}

async function resolveOcf(name: string, args: string[], ocf_root: string): Promise<ResolvedResource> {
  const parts = name.split(":");
  if (parts.length !== 3 || !file_name.test(parts[1]!) || !file_name.test(parts[2]!)) {
    throw new AgentSpecError(`${JSON.stringify(name)} is not ocf:PROVIDER:TYPE`);
  }
  const [, provider, type] = parts as [string, string, string];
  const params: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf("=");
    if (eq <= 0) throw new AgentSpecError(`${name}: argument ${JSON.stringify(a)} is not key=value`);
    const k = a.slice(0, eq);
    if (Object.hasOwn(params, k)) throw new AgentSpecError(`${name}: parameter ${k} given twice`);
    params[k] = a.slice(eq + 1);
  }
  checkOcfParams(params);
  const path = `${ocf_root}/resource.d/${provider}/${type}`;
  if (!(await isExecutableFile(path))) throw new AgentNotFoundError(`resource ${name}: no executable OCF agent ${path}`, [path]);
  return { kind: "ocf", name, provider, type, path, ocf_root, params };
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The agent for a resolved resource. builtin-ip is not an agent: the native IP layer owns it. */
export function createAgent(r: ResolvedResource, opts: AgentOptions = {}): Agent {
  switch (r.kind) {
    case "builtin-ip":
      throw new AgentSpecError(`${r.name}: IP resources are handled by the built-in IP layer, not by an agent`);
    case "heartbeat":
      return new HeartbeatAgent(r.path, r.args, opts);
    case "lsb":
      return new LsbAgent(r.path, r.args, opts);
    case "ocf":
      return new OcfAgent({ provider: r.provider, type: r.type, path: r.path, ocf_root: r.ocf_root, params: r.params }, opts);
    case "systemd":
      return new SystemdAgent(r.unit, opts);
  }
}
