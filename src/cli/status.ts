// `tandem status`: a thin client of the control socket.
import { parseArgs } from "node:util";
import { defaults } from "../daemon/daemon.ts";
import { request } from "./client.ts";

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

const usage = "usage: tandem status [--socket PATH] [--json]";

interface NodeRow {
  name: string;
  state: string;
  generation: number;
  last_heard_ms_ago: number | null;
  links: { name: string; state: string; last_heard_ms_ago: number | null }[];
}

export async function runStatus(argv: string[], out: Out): Promise<number> {
  let values: { socket?: string; json?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { socket: { type: "string" }, json: { type: "boolean" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    out.stderr(`tandem status: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  const path = values.socket ?? defaults.socket;
  let reply: { ok?: boolean; status?: { node: string; generation: number; nodes: NodeRow[]; groups?: GroupRow[] }; error?: string };
  try {
    reply = await request(path, { cmd: "status" });
  } catch (e) {
    out.stderr(`tandem status: ${(e as Error).message}\n`);
    return 1;
  }
  if (!reply.ok || !reply.status) {
    out.stderr(`tandem status: daemon answered: ${reply.error ?? "no status"}\n`);
    return 1;
  }
  if (values.json) {
    out.stdout(`${JSON.stringify(reply.status)}\n`);
    return 0;
  }
  out.stdout(renderTable(reply.status));
  return 0;
}

interface GroupRow {
  name: string;
  holder: string | null;
  state: string;
  last_failure: { action: string; detail: string } | null;
}

export function renderTable(st: { node: string; generation: number; nodes: NodeRow[]; groups?: GroupRow[] }): string {
  const ago = (v: number | null) => (v === null ? "never" : `${v} ms ago`);
  const rows: string[][] = [["NODE", "STATE", "GENERATION", "LAST HEARD", "LINKS"]];
  for (const n of st.nodes) {
    const links = n.links.map((l) => `${l.name}: ${l.state}`).join(", ");
    rows.push([n.name, n.state, String(n.generation), n.state === "self" ? "-" : ago(n.last_heard_ms_ago), links || "-"]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "));
  let text = `tandem on ${st.node} (generation ${st.generation})\n${lines.join("\n")}\n`;
  if (st.groups && st.groups.length > 0) {
    const g_rows = [["GROUP", "HOLDER", "LOCAL STATE", "LAST FAILURE"]];
    for (const g of st.groups) {
      const failure = g.last_failure ? `${g.last_failure.action}: ${g.last_failure.detail}` : "-";
      g_rows.push([g.name, g.holder ?? "-", g.state, failure]);
    }
    const gw = g_rows[0]!.map((_, i) => Math.max(...g_rows.map((r) => r[i]!.length)));
    text += `\n${g_rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(gw[i]!))).join("  ")).join("\n")}\n`;
  }
  return text;
}
