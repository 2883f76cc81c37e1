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
  return diags.list;
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
