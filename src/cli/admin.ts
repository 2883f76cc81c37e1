// `tandem standby [all|local|foreign|none]` and `tandem takeover [...]`:
// Heartbeat's hb_standby / hb_takeover. `local` means the groups whose
// preferred node is this one, `foreign` the others; `none` clears the
// preference (tandem keeps standby and takeover until cleared, so that every
// node computes the same placement).
import { parseArgs } from "node:util";
import { defaults } from "../daemon/daemon.ts";
import { request } from "./client.ts";
import type { Out } from "./status.ts";

const scopes = ["all", "local", "foreign", "none"];

export async function runAdmin(command: "standby" | "takeover", argv: string[], out: Out): Promise<number> {
  const usage = `usage: tandem ${command} [all|local|foreign|none] [--socket PATH]`;
  let parsed: { values: { socket?: string }; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { socket: { type: "string" } }, strict: true, allowPositionals: true });
  } catch (e) {
    out.stderr(`tandem ${command}: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  const scope = parsed.positionals[0] ?? "all";
  if (parsed.positionals.length > 1 || !scopes.includes(scope)) {
    out.stderr(`tandem ${command}: scope must be one of ${scopes.join(", ")}\n${usage}\n`);
    return 2;
  }
  const path = parsed.values.socket ?? defaults.socket;
  try {
    const reply = await request(path, { cmd: command, scope });
    if (!reply?.ok) {
      out.stderr(`tandem ${command}: ${reply?.error ?? "refused"}\n`);
      return 1;
    }
  } catch (e) {
    out.stderr(`tandem ${command}: ${(e as Error).message}\n`);
    return 1;
  }
  out.stdout(`${command} ${scope}: requested; \`tandem status\` shows the groups moving\n`);
  return 0;
}

/**
 * `tandem fence-confirm NODE`: meatware. The admin has powered NODE off by
 * hand (or seen it off); groups waiting for its fence may start now.
 * Confirming a node that is in fact running is how groups run twice: the
 * command says so.
 */
export async function runFenceConfirm(argv: string[], out: Out): Promise<number> {
  const usage = "usage: tandem fence-confirm NODE [--socket PATH]   (only after NODE is really powered off)";
  let parsed: { values: { socket?: string }; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { socket: { type: "string" } }, strict: true, allowPositionals: true });
  } catch (e) {
    out.stderr(`tandem fence-confirm: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  const node = parsed.positionals[0];
  if (parsed.positionals.length !== 1 || !node) {
    out.stderr(`tandem fence-confirm: name exactly one node\n${usage}\n`);
    return 2;
  }
  try {
    const reply = await request(parsed.values.socket ?? defaults.socket, { cmd: "fence-confirm", node });
    if (!reply?.ok) {
      out.stderr(`tandem fence-confirm: ${reply?.error ?? "refused"}\n`);
      return 1;
    }
  } catch (e) {
    out.stderr(`tandem fence-confirm: ${(e as Error).message}\n`);
    return 1;
  }
  out.stdout(`${node}: confirmed off; its groups may start here now\n`);
  return 0;
}
