// `tandem status`: a thin client of the control socket. A table for people
// (colours only on a terminal, and never with NO_COLOR), `--json` for
// scripts (schema: src/daemon/status_schema.ts, docs/status-schema.md),
// `--watch` redraws it every interval.
import { parseArgs } from "node:util";
import { defaults } from "../daemon/daemon.ts";
import { status_json_schema, type StatusDrbdEventV2, type StatusDrbdResourceV2, type StatusV2 } from "../daemon/status_schema.ts";
import { request } from "./client.ts";

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface Term {
  /** stdout is a terminal */
  tty: boolean;
  env: Record<string, string | undefined>;
  /** stops a --watch loop (Ctrl-C); tests pass their own */
  signal?: AbortSignal;
}

const usage = `usage: tandem status [--socket PATH] [--json] [--watch [--interval-ms N] [--count N]] [--schema]
  --json            one JSON object (schema_version ${2}; see --schema)
  --watch           redraw every --interval-ms (default 1000, at least 100) until Ctrl-C or --count redraws
  --schema          print the JSON Schema of --json and exit`;

export const watch_interval_ms_min = 100;

export async function runStatus(argv: string[], out: Out, term?: Term): Promise<number> {
  let values: { socket?: string; json?: boolean; watch?: boolean; "interval-ms"?: string; count?: string; schema?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        socket: { type: "string" },
        json: { type: "boolean" },
        watch: { type: "boolean" },
        "interval-ms": { type: "string" },
        count: { type: "string" },
        schema: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    out.stderr(`tandem status: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.schema) {
    out.stdout(`${JSON.stringify(status_json_schema, null, 2)}\n`);
    return 0;
  }
  const interval_ms = values["interval-ms"] === undefined ? 1000 : Number(values["interval-ms"]);
  const count = values.count === undefined ? Infinity : Number(values.count);
  if (!Number.isInteger(interval_ms) || interval_ms < watch_interval_ms_min || interval_ms > 3_600_000) {
    out.stderr(`tandem status: --interval-ms must be a whole number of milliseconds from ${watch_interval_ms_min} to 3600000\n${usage}\n`);
    return 2;
  }
  if (count !== Infinity && !(Number.isInteger(count) && count >= 1)) {
    out.stderr(`tandem status: --count must be a positive whole number\n${usage}\n`);
    return 2;
  }
  if (!values.watch && (values["interval-ms"] !== undefined || values.count !== undefined)) {
    out.stderr(`tandem status: --interval-ms and --count go with --watch\n${usage}\n`);
    return 2;
  }
  const t: Term = term ?? { tty: Boolean(process.stdout.isTTY), env: process.env };
  const colour = t.tty && !t.env.NO_COLOR;
  const path = values.socket ?? defaults.socket;
  if (!values.watch) {
    const r = await fetchStatus(path);
    if (typeof r === "string") {
      out.stderr(`tandem status: ${r}\n`);
      return 1;
    }
    out.stdout(values.json ? `${JSON.stringify(r)}\n` : renderTable(r, colour));
    return 0;
  }
  return watch(path, { interval_ms, count, json: Boolean(values.json), colour, tty: t.tty }, out, t.signal ?? sigint());
}

/** Aborted by the first Ctrl-C (SIGINT/SIGTERM); the listeners go with the loop. */
function sigint(): AbortSignal {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  ac.signal.addEventListener("abort", () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  });
  return ac.signal;
}

async function watch(
  path: string,
  o: { interval_ms: number; count: number; json: boolean; colour: boolean; tty: boolean },
  out: Out,
  signal: AbortSignal,
): Promise<number> {
  let n = 0;
  let last_ok = true;
  while (n < o.count && !signal.aborted) {
    const started = performance.now();
    const r = await fetchStatus(path);
    last_ok = typeof r !== "string";
    if (o.json) {
      out.stdout(`${JSON.stringify(typeof r === "string" ? { error: r, now: new Date().toISOString() } : r)}\n`);
    } else {
      const head = `tandem status every ${(o.interval_ms / 1000).toFixed(1)} s, ${new Date().toISOString()}${o.tty ? " (Ctrl-C to stop)" : ""}\n`;
      const body = typeof r === "string" ? `${paint(o.colour, "red", `no status: ${r}`)}\n` : renderTable(r, o.colour);
      // a terminal is redrawn in place (home, clear); a pipe or file gets blocks one after another
      out.stdout(o.tty ? `\x1b[H\x1b[2J${head}\n${body}` : `${n > 0 ? "\n" : ""}${head}${body}`);
    }
    n++;
    if (n >= o.count) break;
    const wait_ms = Math.max(0, o.interval_ms - (performance.now() - started));
    await sleepUnless(wait_ms, signal);
  }
  return last_ok ? 0 : 1;
}

function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

async function fetchStatus(path: string): Promise<StatusV2 | string> {
  let reply: { ok?: boolean; status?: StatusV2; error?: string };
  try {
    reply = await request(path, { cmd: "status" });
  } catch (e) {
    return (e as Error).message;
  }
  if (!reply.ok || !reply.status) return `daemon answered: ${reply.error ?? "no status"}`;
  return reply.status;
}

/** what an admin should do about a fence in each phase */
const fence_hint: Record<string, string> = {
  waiting_for_all: "never seen since start: `tandem fence-confirm NODE` if it is off, or `tandem takeover`",
  backoff: "FENCING FAILS: its groups stay down; fix the fence device or power it off and `tandem fence-confirm NODE`",
  delay: "split brain: giving the holder a head start",
  running: "fence agent running",
};

type Colour = "red" | "green" | "yellow" | "bold" | "dim";
const sgr: Record<Colour, string> = { red: "31", green: "32", yellow: "33", bold: "1", dim: "2" };

function paint(on: boolean, c: Colour | null, s: string): string {
  return on && c ? `\x1b[${sgr[c]}m${s}\x1b[0m` : s;
}

const state_colour: Record<string, Colour> = {
  up: "green",
  self: "green",
  running: "green",
  dead: "red",
  down: "red",
  failed: "red",
  stop_failed: "red",
  backoff: "red",
  init: "yellow",
  starting: "yellow",
  stopping: "yellow",
  delay: "yellow",
  running_fence: "yellow",
  waiting_for_all: "yellow",
};

/** A cell and, optionally, its colour (applied after padding, so columns line up). */
type Cell = string | [string, Colour | null];

/** "3m12s ago" */
export function age(ms: number | null): string {
  if (ms === null) return "never";
  if (ms < 1000) return `${Math.round(ms)} ms ago`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m ago`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h ago`;
}

function lossText(l: { received?: number; lost?: number; loss_recent?: number | null }): [string, Colour | null] {
  if (l.loss_recent === null || l.loss_recent === undefined) return ["-", null];
  const pct = `${(l.loss_recent * 100).toFixed(1)}%`;
  return [`${pct} (${l.lost ?? 0} of ${(l.lost ?? 0) + (l.received ?? 0)})`, l.loss_recent > 0.05 ? "red" : l.loss_recent > 0 ? "yellow" : null];
}

export function renderTable(st: StatusV2, colour = false): string {
  const now_ms = Date.parse(st.now ?? "") || Date.now();
  const since = (iso: string | null) => (iso ? age(now_ms - Date.parse(iso)) : "-");
  let text = `${paint(colour, "bold", `tandem on ${st.node}`)} (generation ${st.generation}, schema ${st.schema_version ?? st.schema})\n`;
  // a split brain needs a person: first, before anything else
  for (const e of st.drbd?.events ?? []) if (e.event === "split-brain") text += `${splitBrainWarning(e, colour)}\n`;
  const rt = st.realtime as { requested: boolean; memory_locked: boolean; resident_bytes: number; threads: number; threads_rr: number; policy: string; priority: number; rtprio?: number; problems: string[] } | null;
  if (rt) {
    const policy =
      rt.policy === "rr" || rt.policy === "fifo" ? `SCHED_${rt.policy.toUpperCase()} ${rt.priority}${rt.rtprio && rt.rtprio !== rt.priority ? ` (helpers ${rt.rtprio})` : ""} (${rt.threads_rr}/${rt.threads} threads)` : `SCHED_${rt.policy.toUpperCase()}`;
    // VmLck counts whole locked mappings; with MCL_ONFAULT only touched pages
    // are pinned, so the resident size is the figure that matters.
    const mem = rt.memory_locked ? `memory locked on fault (resident ${(rt.resident_bytes / 1048576).toFixed(1)} MB)` : "memory NOT locked";
    text += `realtime: ${policy}, ${mem}${rt.requested ? "" : " (realtime off in ha.cf)"}${rt.problems.length > 0 ? `; ${rt.problems.join("; ")}` : ""}\n`;
  }
  const wd = st.watchdog;
  if (wd) {
    text += wd.feeding
      ? `watchdog: ${wd.device} fed every ${wd.feed_interval_ms} ms (resets the node ${wd.timeout_ms / 1000} s after the daemon stalls)\n`
      : `watchdog: ${paint(colour, "red", `${wd.device} NOT FED`)}: the node resets within ${wd.timeout_ms / 1000} s${wd.self_fence ? ` (self-fence: ${wd.self_fence})` : ""}\n`;
  }
  if (st.metrics) text += `metrics: http://${st.metrics.address}/metrics\n`;
  const q = st.quorum;
  // nothing for the two-node default (and a daemon older than the field); the table's lines stay where scripts expect them
  if (q && (q.required || q.total >= 3)) {
    if (!q.required) text += `quorum: off (${q.total} nodes, \`quorum off\`): a node cut off may fence every peer\n`;
    else if (q.quorate) text += `quorum: yes, ${q.votes} of ${q.total} votes (${q.needed} needed)\n`;
    else text += `quorum: ${paint(colour, "red", `NO, ${q.votes} of ${q.total} votes (${q.needed} needed)`)}: fencing nobody, starting nothing, ${q.policy === "freeze" ? "keeping what runs here (freeze)" : "stopping what runs here"}\n`;
  }

  // the node table keeps its v1 columns (scripts and tests grep it); link details follow
  const rows: Cell[][] = [["NODE", "STATE", "GENERATION", "LAST HEARD", "LINKS"]];
  for (const n of st.nodes) {
    const links = n.links.map((l) => `${l.name}: ${l.state}`).join(", ");
    rows.push([n.name, [n.state, state_colour[n.state] ?? null], String(n.generation), n.state === "self" ? "-" : age(n.last_heard_ms_ago), links || "-"]);
  }
  text += table(rows, colour);
  const l_rows: Cell[][] = [["PEER", "LINK", "STATE", "LAST HEARD", "LOSS (LAST 256)"]];
  for (const n of st.nodes) {
    for (const l of n.links) l_rows.push([n.name, l.name, [l.state, state_colour[l.state] ?? null], age(l.last_heard_ms_ago), lossText(l)]);
  }
  if (l_rows.length > 1) text += `\n${table(l_rows, colour)}`;
  if (st.groups && st.groups.length > 0) {
    const g_rows: Cell[][] = [["GROUP", "HOLDER", "LOCAL STATE", "SINCE", "LAST FAILURE"]];
    for (const g of st.groups) {
      const failure: Cell = g.last_failure ? [`${g.last_failure.action}: ${g.last_failure.detail}${g.last_failure.at ? ` (${since(g.last_failure.at)})` : ""}`, "red"] : "-";
      const state = g.blocked ? `${g.state} (blocked after ${g.failures} failures)` : g.state;
      g_rows.push([g.name, g.holder ?? "-", [state, g.blocked ? "red" : (state_colour[g.state] ?? null)], since(g.since ?? null), failure]);
    }
    text += `\n${table(g_rows, colour)}`;
  }
  const fences = (st.fencing ?? []).filter((f) => f.phase !== "idle" || f.last_result !== null);
  if (fences.length > 0) {
    const f_rows: Cell[][] = [["FENCE", "PHASE", "ATTEMPTS", "FOR", "LAST RESULT / WHAT TO DO"]];
    for (const f of fences) {
      const last = f.last_result ? `${f.last_result.ok ? "ok" : "failed"}: ${f.last_result.detail}` : "-";
      const hint = fence_hint[f.phase]?.replace("NODE", f.node);
      const c = f.phase === "running" ? "yellow" : (state_colour[f.phase] ?? (f.last_result && !f.last_result.ok ? "red" : null));
      f_rows.push([f.node, [f.phase, c], String(f.attempts), `${Math.round(f.for_ms / 1000)} s`, hint ? `${last}; ${hint}` : last]);
    }
    text += `\n${table(f_rows, colour)}`;
  }
  if (st.drbd) text += drbdBlock(st.drbd, now_ms, colour);
  return text;
}

/** `WARNING: DRBD r0 split brain reported by DRBD at ... (2 times): ...` */
export function splitBrainWarning(e: StatusDrbdEventV2, colour = false): string {
  return `${paint(colour, "red", `WARNING: DRBD ${e.resource} split brain reported by DRBD at ${e.at} (${times(e.count)}, peer ${e.peer})`)}: resolve per drbd.conf after-sb-* policies and the DRBD guide (on the node whose changes are discarded: drbdadm connect --discard-my-data ${e.resource}; on the other: drbdadm connect ${e.resource})`;
}

const times = (n: number) => (n === 1 ? "once" : `${n} times`);

const drbd_colour: Record<string, Colour> = {
  Primary: "green",
  Connected: "green",
  UpToDate: "green",
  StandAlone: "red",
  Outdated: "red",
  Inconsistent: "red",
  Diskless: "red",
  Failed: "red",
  WFConnection: "yellow",
  SyncSource: "yellow",
  SyncTarget: "yellow",
  DUnknown: "yellow",
};

/** One row per volume (the last state read), then the handler calls; empty when there is nothing. */
export function drbdBlock(d: NonNullable<StatusV2["drbd"]>, now_ms: number, colour = false): string {
  const resources = d.resources ?? [];
  const events = d.events ?? [];
  const outdates = d.outdates ?? [];
  if (resources.length === 0 && events.length === 0 && outdates.length === 0) return "";
  const since = (iso: string | null) => (iso ? age(now_ms - Date.parse(iso)) : "never");
  let text = "";
  if (resources.length > 0) {
    const rows: Cell[][] = [["DRBD", "MINOR", "ROLE/PEER", "CONNECTION", "DISK/PEER", "READ"]];
    for (const r of resources) rows.push(...drbdRows(r, since));
    text += `\n${table(rows, colour)}`;
  }
  const calls = events.filter((e) => e.event === "fence-peer");
  for (const e of calls) text += `${text === "" ? "\n" : ""}drbd: ${e.resource} fence-peer handler asked about ${e.peer} at ${e.at} (${times(e.count)}, ${since(e.at)})\n`;
  // the outdate channel (tandem's dopd): what this node asked of a live peer, and what peers asked of it
  for (const o of outdates) {
    const what = o.direction === "asked" ? `asked ${o.peer} to outdate its disk` : `${o.peer} asked this node to outdate its disk`;
    const answer = o.result === null ? "no answer yet" : `${o.result}${o.detail ? ` (${o.detail})` : ""}`;
    text += `${text === "" ? "\n" : ""}drbd: ${o.resource} ${what} at ${o.at} (request ${o.id}, ${o.direction === "asked" ? "sent" : "handled"} ${times(o.count)}, ${since(o.at)}): ${answer}\n`;
  }
  const sb = events.filter((e) => e.event === "split-brain");
  // repeated under the table too, where someone looking at DRBD looks
  for (const e of sb) text += `${text === "" ? "\n" : ""}drbd: ${e.resource} split brain (${since(e.at)}): see the WARNING above\n`;
  return text;
}

function drbdRows(r: StatusDrbdResourceV2, since: (iso: string | null) => string): Cell[][] {
  const failed = r.error ? `read failed ${since(r.error_at)}: ${r.error}` : null;
  if (!r.volumes || r.volumes.length === 0) return [[r.name, "-", "-", "-", "-", [failed ?? "not read yet", failed ? "red" : null]]];
  return r.volumes.map((v) => {
    const read = `${since(r.read_at)}${r.read_by ? ` (${r.read_by})` : ""}`;
    const c = (s: string) => drbd_colour[s] ?? null;
    const worst = (a: string, b: string): Colour | null => (c(a) === "red" || c(b) === "red" ? "red" : c(a) === "yellow" || c(b) === "yellow" ? "yellow" : c(a));
    return [
      r.name,
      String(v.minor),
      [`${v.role}/${v.peer_role}`, c(v.role)],
      [v.connection, c(v.connection)],
      [`${v.disk}/${v.peer_disk}`, worst(v.disk, v.peer_disk)],
      [`${read}${v.io_suspended ? "; I/O suspended" : ""}${v.out_of_sync_kib ? `; ${v.out_of_sync_kib} KiB out of sync` : ""}${failed ? `; ${failed}` : ""}`, failed || v.io_suspended ? "red" : null],
    ];
  });
}

/** Columns padded to their widest cell; the last column is left ragged. Header row bold. */
function table(rows: Cell[][], colour: boolean): string {
  const txt = (c: Cell) => (typeof c === "string" ? c : c[0]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => txt(r[i]!).length)));
  return `${rows
    .map((r, ri) =>
      r
        .map((c, i) => {
          const s = i === r.length - 1 ? txt(c) : txt(c).padEnd(widths[i]!);
          if (ri === 0) return paint(colour, "bold", s);
          return typeof c === "string" ? s : paint(colour, c[1], s);
        })
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
