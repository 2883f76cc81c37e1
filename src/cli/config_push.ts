// `tandem config push [--dir DIR] [--to ADDR] [--node NAME] [--yes]`: copy
// DIR to the peer's daemon (src/sync/config_sync.ts): fetch its files, show
// a unified diff, refuse what would split the cluster, ask, write.
import { hostname, networkInterfaces } from "node:os";
import { createInterface } from "node:readline";
import { loadConfig } from "../config/load.ts";
import { formatDiagnostic } from "../config/types.ts";
import { collectConfig, parseFiles, pushRefusal, SyncError, syncRequest, unifiedDiff } from "../sync/config_sync.ts";

export const config_usage = `usage: tandem config push [--dir DIR] [--to ADDR] [--node NAME] [--init-dir DIR] [--yes]
  copies ha.cf, authkeys, haresources and resource.d/ from DIR (default /etc/ha.d)
  to the peer's running daemon (TCP, ha.cf's udpport, HMAC with authkeys), after
  showing a diff. The peer is reached at its ucast address, or --to ADDR.
  --node NAME  this node's name (default: uname -n)
  --yes        do not ask before writing
Refused when the node list, the key the peer signs with, udpport or wire would
change, or when the files do not pass \`tandem check\` for the peer.`;

interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

interface PushArgs {
  dir: string;
  to?: string;
  node: string;
  init_dir?: string;
  yes: boolean;
}

export function parsePushArgs(argv: string[]): PushArgs | string {
  const a: PushArgs = { dir: "/etc/ha.d", node: hostname().split(".")[0]!, yes: false };
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === "--yes" || w === "-y") {
      a.yes = true;
      continue;
    }
    const eq = w.indexOf("=");
    const [flag, inline] = w.startsWith("--") && eq > 0 ? [w.slice(0, eq), w.slice(eq + 1)] : [w, undefined];
    const key = ({ "--dir": "dir", "--to": "to", "--node": "node", "--init-dir": "init_dir" } as const)[flag as "--dir"];
    if (key === undefined) return `tandem config push: unknown argument ${JSON.stringify(w)}`;
    const v = inline ?? argv[++i];
    if (v === undefined || v === "") return `tandem config push: ${flag} needs a value`;
    a[key] = v;
  }
  return a;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(question, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export async function runConfig(argv: string[], out: Out, ask: (q: string) => Promise<boolean> = confirm): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "-h" || sub === "--help" || rest.includes("--help") || rest.includes("-h")) {
    out.stdout(`${config_usage}\n`);
    return 0;
  }
  if (sub !== "push") {
    out.stderr(`tandem config: ${sub === undefined ? "say what to do" : `unknown subcommand ${JSON.stringify(sub)}`}\n${config_usage}\n`);
    return 2;
  }
  const args = parsePushArgs(rest);
  if (typeof args === "string") {
    out.stderr(`${args}\n${config_usage}\n`);
    return 2;
  }
  try {
    return await push(args, out, ask);
  } catch (e) {
    if (!(e instanceof SyncError)) throw e;
    out.stderr(`tandem config push: ${e.message}\n`);
    return 1;
  }
}

async function push(args: PushArgs, out: Out, ask: (q: string) => Promise<boolean>): Promise<number> {
  const loaded = loadConfig({ dir: args.dir, self_node: args.node, init_dir: args.init_dir });
  const errors = loaded.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !loaded.hacf || !loaded.authkeys) {
    for (const d of errors) out.stderr(`${formatDiagnostic(d)}\n`);
    out.stderr(`tandem config push: ${args.dir} has errors (\`tandem check --dir ${args.dir} --node ${args.node}\`): nothing pushed\n`);
    return 1;
  }
  const peers = loaded.hacf.nodes.filter((n) => n !== args.node);
  if (peers.length !== 1 && !args.to) throw new SyncError(`ha.cf names ${peers.length} other nodes (${peers.join(", ")}): say which with --to ADDR`);
  const local_addrs = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address)));
  const candidates = args.to ? [args.to] : loaded.hacf.links.flatMap((l) => (l.kind === "ucast" && !local_addrs.has(l.addr) ? [l.addr] : []));
  if (candidates.length === 0) throw new SyncError("no ucast address of the peer in ha.cf (bcast/mcast only): give it with --to ADDR");
  const local = collectConfig(args.dir);
  let last: Error | null = null;
  for (const host of candidates) {
    let got;
    try {
      got = await syncRequest({ host, port: loaded.hacf.udpport, self: args.node, keys: loaded.authkeys, op: "get" });
    } catch (e) {
      last = e as Error;
      out.stderr(`tandem config push: ${host}: ${(e as Error).message}\n`);
      continue;
    }
    const peer = got.node;
    if (!peers.includes(peer)) throw new SyncError(`${host} is ${peer}, which is not a peer in ${args.dir}/ha.cf (${peers.join(", ")})`);
    const diff = unifiedDiff(got.files!, local, peer);
    if (diff === "") {
      out.stdout(`${peer} already has these files: nothing to push\n`);
      return 0;
    }
    out.stdout(diff);
    const why = pushRefusal(parseFiles(local, peer, args.init_dir), parseFiles(got.files!, peer, args.init_dir), peer);
    if (why.length > 0) {
      out.stderr(`tandem config push: refused, this would split the cluster:\n${why.map((w) => `  - ${w}\n`).join("")}`);
      return 1;
    }
    if (!args.yes) {
      if (!process.stdin.isTTY && ask === confirm) throw new SyncError("not a terminal: add --yes to write the files after reading the diff");
      if (!(await ask(`write these files to ${peer} (${host})? [y/N] `))) {
        out.stderr("tandem config push: nothing written\n");
        return 1;
      }
    }
    const put = await syncRequest({ host, port: loaded.hacf.udpport, self: args.node, keys: loaded.authkeys, op: "put", files: local });
    if (put.error) throw new SyncError(`${peer}: ${put.error}`);
    out.stdout(`wrote ${put.written?.length ?? 0} files on ${peer}: ${(put.written ?? []).join(", ")}\nrestart tandem on ${peer} to use them (\`systemctl restart tandem\`; its groups move here meanwhile)\n`);
    return 0;
  }
  throw new SyncError(`could not reach ${peers.join(" or ")} (${candidates.join(", ")}): ${last?.message ?? "no address"}`);
}
