// `tandem check`: validate /etc/ha.d without starting anything (keepalived's
// --config-test). Exit 0 = valid (warnings allowed), 1 = errors, 2 = bad usage.
import { loadConfig } from "../config/load.ts";
import { type Diagnostic, formatDiagnostic } from "../config/types.ts";

export const check_usage = `usage: tandem check [--dir DIR] [--node NAME]
  --dir DIR     configuration directory holding ha.cf and authkeys (default /etc/ha.d)
  --node NAME   also check that NAME (this node, as \`uname -n\` prints it) is declared in ha.cf`;

interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

interface CheckArgs {
  dir: string;
  node?: string;
  help: boolean;
}

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
    if (flag !== "--dir" && flag !== "--node") return `tandem check: unknown argument ${JSON.stringify(a)}`;
    const v = inline ?? argv[++i];
    if (v === undefined || v === "") return `tandem check: ${flag} needs a value`;
    if (flag === "--dir") args.dir = v;
    else args.node = v;
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
  const loaded = loadConfig({ dir: args.dir, self_node: args.node });
  for (const d of loaded.diagnostics) out.stdout(`${formatDiagnostic(d)}\n`);
  out.stdout(`${summary(args.dir, loaded.diagnostics)}\n`);
  return loaded.diagnostics.some((d) => d.severity === "error") ? 1 : 0;
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
