// `tandem check`: validate /etc/ha.d (ha.cf, authkeys, and haresources when
// present) without starting anything (keepalived's --config-test). Exit 0 = valid (warnings allowed), 1 = errors, 2 = bad usage.
import { loadConfig } from "../config/load.ts";
import { type Diagnostic, formatDiagnostic, type HaConfig } from "../config/types.ts";
import { quorumRequired } from "../config/hacf.ts";

export const check_usage = `usage: tandem check [--dir DIR] [--node NAME] [--init-dir DIR] [--ocf-root DIR]
  --dir DIR       configuration directory holding ha.cf, authkeys and haresources (default /etc/ha.d)
  --node NAME     also check that NAME (this node, as \`uname -n\` prints it) is declared in ha.cf
  --init-dir DIR  where haresources scripts not in DIR/resource.d are looked for (default /etc/init.d)
  --ocf-root DIR  root of the OCF agents for \`ocf:\` resources (default /usr/lib/ocf)
haresources scripts and agents are looked for on this machine: run it on a cluster node.`;

interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

interface CheckArgs {
  dir: string;
  node?: string;
  init_dir?: string;
  ocf_root?: string;
  help: boolean;
}

const value_flags: Record<string, "dir" | "node" | "init_dir" | "ocf_root"> = {
  "--dir": "dir",
  "--node": "node",
  "--init-dir": "init_dir",
  "--ocf-root": "ocf_root",
};

export function parseCheckArgs(argv: string[]): CheckArgs | string {
  const args: CheckArgs = { dir: "/etc/ha.d", help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") {
      args.help = true;
      continue;
    }
    const eq = a.indexOf("=");
    const [flag, inline] = a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const field = Object.hasOwn(value_flags, flag) ? value_flags[flag]! : null;
    if (field === null) return `tandem check: unknown argument ${JSON.stringify(a)}`;
    const v = inline ?? argv[++i];
    if (v === undefined || v === "") return `tandem check: ${flag} needs a value`;
    args[field] = v;
  }
  return args;
}

export async function runCheck(argv: string[], out: Out): Promise<number> {
  const args = parseCheckArgs(argv);
  if (typeof args === "string") {
    out.stderr(`${args}\n${check_usage}\n`);
    return 2;
  }
  if (args.help) {
    out.stdout(`${check_usage}\n`);
    return 0;
  }
  const loaded = loadConfig({ dir: args.dir, self_node: args.node, init_dir: args.init_dir, ocf_root: args.ocf_root });
  for (const d of loaded.diagnostics) out.stdout(`${formatDiagnostic(d)}\n`);
  const q = loaded.hacf ? quorumLine(loaded.hacf) : null;
  if (q) out.stdout(`${q}\n`);
  out.stdout(`${summary(args.dir, loaded.diagnostics)}\n`);
  return loaded.diagnostics.some((d) => d.severity === "error") ? 1 : 0;
}

/** What quorum does here; null for the two-node default (nothing to say). */
export function quorumLine(h: HaConfig): string | null {
  const n = h.nodes.length;
  if (n < 3 && !h.raw.has("quorum")) return null;
  if (!quorumRequired(h)) return `quorum: off (${n} nodes, \`quorum ${h.quorum}\`): a split is decided by the tie-break and fence_delay`;
  const needed = Math.floor(n / 2) + 1;
  const does = h.no_quorum_policy === "freeze" ? "starts nothing and keeps running what it holds (freeze)" : "takes nothing over and stops what it runs (stop)";
  return `quorum: on (${n} nodes, ${needed} votes needed): a partition without them fences nobody, ${does}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function summary(dir: string, ds: Diagnostic[]): string {
  const errors = ds.filter((d) => d.severity === "error").length;
  const warnings = ds.length - errors;
  if (errors > 0) return `${dir}: ${plural(errors, "error")}${warnings > 0 ? `, ${plural(warnings, "warning")}` : ""}`;
  return `${dir}: OK${warnings > 0 ? ` (${plural(warnings, "warning")})` : ""}`;
}
