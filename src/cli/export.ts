// `tandem export pacemaker [--dir DIR]`: print a pcs script that builds the
// same cluster in Pacemaker (src/export/pacemaker.ts). Reads the files the
// daemon reads; cluster-glue stonith parameter names come from
// `stonith -t TYPE -n` when cluster-glue is installed.
import { readFileSync } from "node:fs";
import { loadConfig } from "../config/load.ts";
import { formatDiagnostic } from "../config/types.ts";
import { exportPacemaker } from "../export/pacemaker.ts";

export const export_usage = `usage: tandem export pacemaker [--dir DIR] [--init-dir DIR] [--ocf-root DIR]
  prints a pcs script (to stdout) that builds the cluster of DIR/ha.cf and
  DIR/haresources in Pacemaker, on a CIB file: sh SCRIPT cib.xml; crm_verify -x cib.xml
  --dir DIR       configuration directory (default /etc/ha.d)
  --init-dir DIR  where haresources scripts not in DIR/resource.d are looked for (default /etc/init.d)
  --ocf-root DIR  root of the OCF agents (default /usr/lib/ocf)`;

interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

/** Bound on `stonith -t TYPE -n`: it only prints names. */
const stonith_names_timeout_ms = 5_000;

export function stonithParamNames(type: string): string[] | null {
  try {
    const p = Bun.spawnSync(["stonith", "-t", type, "-n"], { stdout: "pipe", stderr: "pipe", timeout: stonith_names_timeout_ms });
    if (p.exitCode !== 0) return null;
    const names = p.stdout.toString().split(/\s+/).filter((w) => w !== "");
    return names.length > 0 ? names : null;
  } catch {
    return null; // cluster-glue not installed
  }
}

function readWords(path: string): string[] | null {
  try {
    const text = readFileSync(path, "utf8");
    if (text.length > 64 * 1024) return null;
    return text.split("\n").map((l) => l.replace(/#.*/, "")).join(" ").split(/\s+/).filter((w) => w !== "");
  } catch {
    return null;
  }
}

export async function runExport(argv: string[], out: Out): Promise<number> {
  const [what, ...rest] = argv;
  if (what === "-h" || what === "--help") {
    out.stdout(`${export_usage}\n`);
    return 0;
  }
  if (what !== "pacemaker") {
    out.stderr(`tandem export: ${what === undefined ? "say what to export" : `unknown format ${JSON.stringify(what)}`}\n${export_usage}\n`);
    return 2;
  }
  const opts: { dir: string; init_dir?: string; ocf_root?: string } = { dir: "/etc/ha.d" };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === "-h" || a === "--help") {
      out.stdout(`${export_usage}\n`);
      return 0;
    }
    const eq = a.indexOf("=");
    const [flag, inline] = a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const key = ({ "--dir": "dir", "--init-dir": "init_dir", "--ocf-root": "ocf_root" } as const)[flag as "--dir"];
    if (key === undefined) {
      out.stderr(`tandem export pacemaker: unknown argument ${JSON.stringify(a)}\n${export_usage}\n`);
      return 2;
    }
    const v = inline ?? rest[++i];
    if (v === undefined || v === "") {
      out.stderr(`tandem export pacemaker: ${flag} needs a value\n`);
      return 2;
    }
    opts[key] = v;
  }
  const loaded = loadConfig(opts);
  const errors = loaded.diagnostics.filter((d) => d.severity === "error");
  if (loaded.hacf === null || errors.length > 0) {
    for (const d of errors) out.stderr(`${formatDiagnostic(d)}\n`);
    out.stderr(`tandem export pacemaker: ${opts.dir} has errors (\`tandem check --dir ${opts.dir}\`): nothing exported\n`);
    return 1;
  }
  const r = exportPacemaker({ hacf: loaded.hacf, haresources: loaded.haresources, dir: opts.dir, stonith_params: stonithParamNames, read_stonith_file: readWords });
  out.stdout(r.script);
  for (const w of r.warnings) out.stderr(`tandem export pacemaker: warning: ${w}\n`);
  return 0;
}
