// Checks against this host, for things Heartbeat verified at startup
// (respawn user and command, serial device). `tandem check` may run on
// another machine than the cluster node, so these are warnings only.
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { Diagnostics } from "./lines.ts";
import type { Diagnostic, HaConfig } from "./types.ts";

export function hostChecks(cfg: HaConfig, passwd_path = "/etc/passwd"): Diagnostic[] {
  const diags = new Diagnostics(cfg.file);
  const users = readUsers(passwd_path);
  for (const r of cfg.respawn) {
    if (users && !users.has(r.user)) diags.warning(r.line, `respawn: user \`${r.user}\` does not exist on this host: create it or use another user`, "respawn");
    const path = r.command.split(" ")[0]!;
    if (!isExecutable(path)) diags.warning(r.line, `respawn: ${path} is not an executable file on this host: install it or fix the path`, "respawn");
  }
  for (const l of cfg.links) {
    if (l.kind === "serial" && !isCharDevice(l.device)) {
      diags.warning(l.line, `serial: ${l.device} is not a character device on this host: check the port name`, "serial");
    }
  }
  if (cfg.watchdog !== null && !isCharDevice(cfg.watchdog)) {
    diags.warning(cfg.raw.get("watchdog")?.[0]?.line ?? 0, `watchdog: ${cfg.watchdog} is not a character device on this host: load a watchdog driver (e.g. softdog)`, "watchdog");
  }
  fenceChecks(cfg, diags);
  return diags.list;
}

/** Where fence-agents programs are looked for (the agents' own PATH). */
export const fence_agent_dirs = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
export const stonith_program = "/usr/sbin/stonith";
export const stonith_plugin_dir = "/usr/lib/stonith/plugins";

/** The fence_* program to run: a full path as given, else the first match in fence_agent_dirs. */
export function findFenceAgent(agent: string): string | null {
  if (agent.startsWith("/")) return isExecutable(agent) ? agent : null;
  for (const d of fence_agent_dirs) if (isExecutable(`${d}/${agent}`)) return `${d}/${agent}`;
  return null;
}

/** cluster-glue keeps `external/NAME` as scripts and the others as stonith2/NAME.so. */
export function stonithTypeInstalled(type: string): boolean {
  if (type.startsWith("external/")) return isExecutable(`${stonith_plugin_dir}/${type}`);
  try {
    return statSync(`${stonith_plugin_dir}/stonith2/${type}.so`).isFile();
  } catch {
    return false;
  }
}

function fenceChecks(cfg: HaConfig, diags: Diagnostics): void {
  const stonith_lines = [
    ...cfg.fence_devices.filter((f) => f.kind === "stonith").map((f) => ({ type: f.agent, line: f.line, keyword: "fence" })),
    ...cfg.stonith_hosts.map((h) => ({ type: h.type, line: h.line, keyword: "stonith_host" })),
    ...(cfg.stonith ? [{ type: cfg.stonith.type, line: cfg.stonith.line, keyword: "stonith" }] : []),
  ];
  for (const f of cfg.fence_devices) {
    if (f.kind === "fence_agent" && findFenceAgent(f.agent) === null) {
      const where = f.agent.startsWith("/") ? "" : ` (looked in ${fence_agent_dirs.join(", ")})`;
      diags.warning(f.line, `fence: ${f.agent} is not installed on this host${where}: install fence-agents (Debian: \`apt install fence-agents\`) or fix the name`, "fence");
    }
  }
  if (stonith_lines.length > 0 && !isExecutable(stonith_program)) {
    diags.warning(stonith_lines[0]!.line, `${stonith_lines[0]!.keyword}: ${stonith_program} is not installed on this host: install cluster-glue (Debian: \`apt install cluster-glue\`)`, stonith_lines[0]!.keyword);
    return;
  }
  for (const s of stonith_lines) {
    if (!stonithTypeInstalled(s.type)) {
      diags.warning(s.line, `${s.keyword}: cluster-glue has no device type \`${s.type}\` on this host (\`stonith -L\` lists them): fix the type or install its plugin`, s.keyword);
    }
  }
}

function readUsers(path: string): Set<string> | null {
  try {
    const text = readFileSync(path, "utf8").slice(0, 4 * 1024 * 1024);
    return new Set(text.split("\n").map((l) => l.split(":")[0]!).filter((u) => u.length > 0));
  } catch {
    return null; // no passwd file to ask (container, other OS): skip the check
  }
}

/** A regular file (through symlinks) that we may execute: what Heartbeat's scriptpath accepts. */
export function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function isCharDevice(path: string): boolean {
  try {
    return statSync(path).isCharacterDevice();
  } catch {
    return false;
  }
}
