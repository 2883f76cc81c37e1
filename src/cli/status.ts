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
  let reply: { ok?: boolean; status?: StatusReply; error?: string };
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

interface FenceRow {
  node: string;
  phase: string;
  reason: string | null;
  attempts: number;
  for_ms: number;
  next_in_ms: number | null;
  last_result: { ok: boolean; detail: string } | null;
}

interface StatusReply {
  node: string;
  generation: number;
  realtime?: { requested: boolean; memory_locked: boolean; locked_bytes: number; resident_bytes: number; threads: number; threads_rr: number; policy: string; priority: number; problems: string[] } | null;
  nodes: NodeRow[];
  groups?: GroupRow[];
  fencing?: FenceRow[];
}

/** what an admin should do about a fence in each phase */
const fence_hint: Record<string, string> = {
  waiting_for_all: "never seen since start: `tandem fence-confirm NODE` if it is off, or `tandem takeover`",
  backoff: "FENCING FAILS: its groups stay down; fix the fence device or power it off and `tandem fence-confirm NODE`",
  delay: "split brain: giving the holder a head start",
  running: "fence agent running",
};

export function renderTable(st: StatusReply): string {
  const ago = (v: number | null) => (v === null ? "never" : `${v} ms ago`);
  const rows: string[][] = [["NODE", "STATE", "GENERATION", "LAST HEARD", "LINKS"]];
  for (const n of st.nodes) {
    const links = n.links.map((l) => `${l.name}: ${l.state}`).join(", ");
    rows.push([n.name, n.state, String(n.generation), n.state === "self" ? "-" : ago(n.last_heard_ms_ago), links || "-"]);
  }
  let text = `tandem on ${st.node} (generation ${st.generation})\n`;
  const rt = st.realtime;
  if (rt) {
    const policy =
      rt.policy === "rr" || rt.policy === "fifo" ? `SCHED_${rt.policy.toUpperCase()} ${rt.priority} (${rt.threads_rr}/${rt.threads} threads)` : `SCHED_${rt.policy.toUpperCase()}`;
    // VmLck counts whole locked mappings; with MCL_ONFAULT only touched pages
    // are pinned, so the resident size is the figure that matters.
    const mem = rt.memory_locked ? `memory locked on fault (resident ${(rt.resident_bytes / 1048576).toFixed(1)} MB)` : "memory NOT locked";
    text += `realtime: ${policy}, ${mem}${rt.requested ? "" : " (realtime off in ha.cf)"}${rt.problems.length > 0 ? `; ${rt.problems.join("; ")}` : ""}\n`;
  }
  text += table(rows);
  if (st.groups && st.groups.length > 0) {
    const g_rows = [["GROUP", "HOLDER", "LOCAL STATE", "LAST FAILURE"]];
    for (const g of st.groups) {
      const failure = g.last_failure ? `${g.last_failure.action}: ${g.last_failure.detail}` : "-";
      g_rows.push([g.name, g.holder ?? "-", g.state, failure]);
    }
    text += `\n${table(g_rows)}`;
  }
  const fences = (st.fencing ?? []).filter((f) => f.phase !== "idle" || f.last_result !== null);
  if (fences.length > 0) {
    const f_rows = [["FENCE", "PHASE", "ATTEMPTS", "FOR", "LAST RESULT / WHAT TO DO"]];
    for (const f of fences) {
      const last = f.last_result ? `${f.last_result.ok ? "ok" : "failed"}: ${f.last_result.detail}` : "-";
      const hint = fence_hint[f.phase]?.replace("NODE", f.node);
      f_rows.push([f.node, f.phase, String(f.attempts), `${Math.round(f.for_ms / 1000)} s`, hint ? `${last}; ${hint}` : last]);
    }
    text += `\n${table(f_rows)}`;
  }
  return text;
}

/** Columns padded to their widest cell; the last column is left ragged. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n")}\n`;
}
