// `tandem fence NODE`: fence a node now with the devices ha.cf gives this
// node, without the daemon (Pacemaker's `stonith_admin --off`), so that an
// admin can test the fence configuration. It really powers NODE off.
// Exit 0 = fenced, 1 = not fenced (or the configuration has errors), 2 = bad usage.
import { hostname } from "node:os";
import { loadConfig } from "../config/load.ts";
import { formatDiagnostic } from "../config/types.ts";
import { formatFields } from "../daemon/log.ts";
import { makeFencer } from "../fencing/fencer.ts";
import type { FenceAction } from "../fencing/types.ts";

export const fence_usage = `usage: tandem fence NODE [--action off|reboot] [--dir DIR] [--node NAME] [--json]
  NODE            the node to fence: it is powered off (or rebooted) for real
  --action A      off (default) or reboot; a device pinned with action= in ha.cf does its own
  --dir DIR       configuration directory holding ha.cf (default /etc/ha.d)
  --node NAME     this node's name (default: uname -n); its own fence lines are not used
  --json          print the result as JSON: {ok, device, detail, duration_ms}
Devices are tried in ha.cf order within fence_timeout; each attempt is printed on stderr.`;

interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

interface FenceArgs {
  target: string;
  action: FenceAction;
  dir: string;
  node: string;
  json: boolean;
  help: boolean;
}

export function parseFenceArgs(argv: string[]): FenceArgs | string {
  const args: FenceArgs = { target: "", action: "off", dir: "/etc/ha.d", node: hostname(), json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") {
      args.help = true;
      continue;
    }
    if (a === "--json") {
      args.json = true;
      continue;
    }
    const eq = a.indexOf("=");
    const [flag, inline] = a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (flag === "--action" || flag === "--dir" || flag === "--node") {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") return `tandem fence: ${flag} needs a value`;
      if (flag === "--action") {
        if (v !== "off" && v !== "reboot") return `tandem fence: --action must be off or reboot, not ${JSON.stringify(v.slice(0, 20))}`;
        args.action = v;
      } else if (flag === "--dir") args.dir = v;
      else args.node = v;
      continue;
    }
    if (a.startsWith("-")) return `tandem fence: unknown option ${JSON.stringify(a.slice(0, 40))}`;
    if (args.target !== "") return `tandem fence: one node at a time (got ${JSON.stringify(args.target)} and ${JSON.stringify(a.slice(0, 40))})`;
    args.target = a;
  }
  if (!args.help && args.target === "") return "tandem fence: which node? e.g. `tandem fence node2`";
  return args;
}

export async function runFence(argv: string[], out: Out): Promise<number> {
  const args = parseFenceArgs(argv);
  if (typeof args === "string") {
    out.stderr(`${args}\n${fence_usage}\n`);
    return 2;
  }
  if (args.help) {
    out.stdout(`${fence_usage}\n`);
    return 0;
  }
  const loaded = loadConfig({ dir: args.dir, self_node: args.node });
  const cfg = loaded.hacf;
  if (cfg === null) {
    // only ha.cf matters here: authkeys or haresources problems do not stop a fence test
    for (const d of loaded.diagnostics) if (d.file.endsWith("/ha.cf")) out.stderr(`${formatDiagnostic(d)}\n`);
    out.stderr(`tandem fence: ${args.dir}/ha.cf has errors (see above; \`tandem check\` shows them all)\n`);
    return 1;
  }
  if (!cfg.nodes.includes(args.target)) {
    out.stderr(`tandem fence: ${JSON.stringify(args.target)} is not a node of this cluster (${cfg.nodes.join(", ")})\n`);
    return 1;
  }
  const log = { event: (name: string, fields: Parameters<typeof formatFields>[0]) => out.stderr(`${name}${formatFields(fields)}\n`) };
  const fencer = makeFencer(cfg, args.node, log);
  if (!fencer.canFence(args.target)) {
    const why = args.target === args.node ? "this node cannot fence itself" : `no fence device for it: add \`fence ${args.target} AGENT key=value...\` to ha.cf`;
    out.stderr(`tandem fence: ${args.target}: ${why}\n`);
    return 1;
  }
  const r = await fencer.fence(args.target, args.action);
  if (args.json) out.stdout(`${JSON.stringify(r)}\n`);
  else if (r.ok) out.stdout(`${args.target}: fenced by ${r.device} in ${r.duration_ms} ms: ${r.detail}\n`);
  else out.stdout(`${args.target}: NOT fenced (${r.duration_ms} ms): ${r.detail}\n`);
  return r.ok ? 0 : 1;
}
