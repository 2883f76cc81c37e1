// `tandem events`: the cluster's history as this node recorded it (deaths,
// joins, takeovers, fencing, resource failures). From the daemon over the
// control socket; when no daemon answers, straight from the state directory
// (the 3 a.m. case: the daemon is the thing that died). `--follow` keeps the
// connection open and prints events as they happen.
import net from "node:net";
import { parseArgs } from "node:util";
import { defaults } from "../daemon/daemon.ts";
import { type ClusterEvent, formatEvent, parseSince, readEvents } from "../daemon/events.ts";
import { formatFields } from "../daemon/log.ts";
import { ControlClientError, request, request_timeout_ms } from "./client.ts";
import type { Out, Term } from "./status.ts";

const usage = `usage: tandem events [--follow] [--json] [--since AGE|TIME] [--limit N] [--socket PATH] [--state-dir DIR]
  --since    10m, 2h, 1d, or a time: 2026-11-24T09:00:00Z
  --json     one JSON object per line: {v, t, host, event, fields}
  --follow   print the last 10 (or --since / --limit), then new events until Ctrl-C
  --state-dir  read here when no daemon answers (default ${defaults.state_dir})`;

/** events printed before following, without --since or --limit */
const follow_backlog_default = 10;
/** a follow stream line longer than this ends the stream (events are capped at a few KiB) */
const line_bytes_max = 1 << 20;

export async function runEvents(argv: string[], out: Out, term?: Term): Promise<number> {
  let v: { follow?: boolean; json?: boolean; since?: string; limit?: string; socket?: string; "state-dir"?: string };
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        follow: { type: "boolean", short: "f" },
        json: { type: "boolean" },
        since: { type: "string" },
        limit: { type: "string" },
        socket: { type: "string" },
        "state-dir": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    out.stderr(`tandem events: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  let since_ms = -Infinity;
  if (v.since !== undefined) {
    const t = parseSince(v.since);
    if (typeof t === "string") {
      out.stderr(`tandem events: ${t}\n`);
      return 2;
    }
    since_ms = t;
  }
  const limit = v.limit === undefined ? undefined : Number(v.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
    out.stderr(`tandem events: --limit must be a positive whole number\n${usage}\n`);
    return 2;
  }
  const print = (e: ClusterEvent) => out.stdout(v.json ? `${JSON.stringify(e)}\n` : `${formatEvent(e, formatFields)}\n`);
  const path = v.socket ?? defaults.socket;
  // like tail -f and journalctl -f: a follow starts from the last 10 unless told otherwise
  const first_limit = limit ?? (v.follow && v.since === undefined ? follow_backlog_default : undefined);
  const req = { cmd: "events", ...(v.since !== undefined ? { since: v.since } : {}), ...(first_limit ? { limit: first_limit } : {}) };
  if (v.follow) return follow(path, { ...req, follow: true }, print, out, term?.signal);

  let events: ClusterEvent[];
  try {
    const reply = await request(path, req);
    if (!reply?.ok || !Array.isArray(reply.events)) {
      out.stderr(`tandem events: daemon answered: ${reply?.error ?? "no events"}\n`);
      return 1;
    }
    events = reply.events as ClusterEvent[];
  } catch (e) {
    if (!(e instanceof ControlClientError)) throw e;
    // No daemon: the files are the history.
    const dir = v["state-dir"] ?? defaults.state_dir;
    out.stderr(`tandem events: ${e.message}; reading ${dir} instead\n`);
    events = readEvents(dir).filter((x) => Date.parse(x.t) >= since_ms);
    if (limit) events = events.slice(-limit);
  }
  for (const e of events) print(e);
  return 0;
}

/** The first reply (the history so far), then one `{event}` line per new event. */
function follow(path: string, req: object, print: (e: ClusterEvent) => void, out: Out, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    let buf = "";
    let first = true;
    let done = false;
    const finish = (code: number, msg?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (msg) out.stderr(`tandem events: ${msg}\n`);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      signal?.removeEventListener("abort", stop);
      c.destroy();
      resolve(code);
    };
    const stop = () => finish(0);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    signal?.addEventListener("abort", stop);
    const timer = setTimeout(() => finish(1, `no answer from the daemon on ${path} within ${request_timeout_ms} ms`), request_timeout_ms);
    c.setEncoding("utf8");
    c.on("connect", () => c.write(`${JSON.stringify(req)}\n`));
    c.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > line_bytes_max) return finish(1, "the daemon sent a line that is too long");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { ok?: boolean; error?: string; events?: ClusterEvent[]; event?: ClusterEvent };
        try {
          msg = JSON.parse(line);
        } catch {
          return finish(1, "the daemon sent a line that is not JSON");
        }
        if (first) {
          first = false;
          clearTimeout(timer);
          if (!msg.ok) return finish(1, `daemon answered: ${msg.error ?? "no events"}`);
          for (const e of msg.events ?? []) print(e);
        } else if (msg.event) print(msg.event);
      }
    });
    c.on("end", () => finish(first ? 1 : 0, first ? `the daemon on ${path} closed the connection without answering (too many followers?)` : "the daemon closed the stream (stopped?)"));
    c.on("error", (e: NodeJS.ErrnoException) =>
      finish(1, e.code === "ENOENT" || e.code === "ECONNREFUSED" ? `no tandem daemon is listening on ${path}: --follow needs a running daemon` : `cannot reach the daemon on ${path}: ${e.message}`),
    );
  });
}
