// The cluster's history (`tandem events`): joins, deaths, takeovers,
// fencing, resource failures, with wall-clock timestamps. Kept in the state
// directory as JSON lines so it survives restarts, bounded on disk:
// events.jsonl grows to file_bytes_max, then becomes events.1.jsonl (the
// previous .1 is dropped), so at most 2 x file_bytes_max are kept.
//
// Writes are asynchronous and one at a time from a bounded queue: a slow
// disk drops history (counted) rather than stall the heartbeat loop.
import { appendFile, rename, stat } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Fields } from "./log.ts";

export const events_schema_version = 1;
export const file_bytes_max = 1 << 20;
/** records waiting for the disk; more are dropped (counted) */
export const queue_max = 1000;
/** a single record is cut to this many bytes of fields (one huge agent message must not fill the file) */
export const record_bytes_max = 4096;
/** live followers (`tandem events --follow`) */
export const followers_max = 8;

export const events_file = "events.jsonl";
export const events_file_old = "events.1.jsonl";

export interface ClusterEvent {
  v: number;
  /** ISO 8601 UTC */
  t: string;
  /** the node that recorded it */
  host: string;
  event: string;
  fields: Record<string, string | number | boolean | null>;
}

/** Which log events are cluster history (the rest stay in the log only). */
export function isHistory(name: string): boolean {
  if (history_names.has(name)) return true;
  return name.startsWith("group_") || name.startsWith("fence_");
}

const history_names = new Set([
  "started",
  "stopping",
  "stop_timeout",
  "fatal",
  "node_up",
  "node_dead",
  "link_up",
  "link_down",
  "resource_failed",
  "wait_for_all",
  "quorum",
  "quorum_lost",
  "stall",
  "admin",
  "watchdog_open",
  "watchdog_feeding_stopped",
  "watchdog_closed",
]);

export function makeEvent(host: string, name: string, fields: Fields, wall_ms: number): ClusterEvent {
  const f: ClusterEvent["fields"] = {};
  let bytes = 0;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    let val = v;
    if (typeof val === "string" && val.length > 1024) val = `${val.slice(0, 1024)}...`;
    bytes += k.length + (typeof val === "string" ? val.length : 8);
    if (bytes > record_bytes_max) break;
    f[k] = val;
  }
  return { v: events_schema_version, t: new Date(wall_ms).toISOString(), host, event: name, fields: f };
}

type Follower = (e: ClusterEvent) => void;

export class EventLog {
  private queue: string[] = [];
  private writing = false;
  private size_bytes = -1;
  private followers = new Set<Follower>();
  dropped = 0;
  write_errors = 0;
  last_error: string | null = null;
  private idle_waiters: (() => void)[] = [];

  constructor(
    readonly dir: string,
    private host: string,
    private opts: { file_bytes_max?: number; on_error?: (msg: string) => void } = {},
  ) {}

  private get cap(): number {
    return this.opts.file_bytes_max ?? file_bytes_max;
  }

  record(name: string, fields: Fields, wall_ms = Date.now()): ClusterEvent {
    const e = makeEvent(this.host, name, fields, wall_ms);
    for (const f of this.followers) f(e);
    if (this.queue.length >= queue_max) {
      this.dropped++;
      return e;
    }
    this.queue.push(`${JSON.stringify(e)}\n`);
    if (!this.writing) void this.drain();
    return e;
  }

  /** Subscribe to new events; returns the unsubscribe function, or null when too many follow already. */
  follow(f: Follower): (() => void) | null {
    if (this.followers.size >= followers_max) return null;
    this.followers.add(f);
    return () => this.followers.delete(f);
  }

  get follower_count(): number {
    return this.followers.size;
  }

  /** Resolves when everything queued so far is on disk (or dropped). */
  flushed(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((res) => this.idle_waiters.push(res));
  }

  private async drain(): Promise<void> {
    this.writing = true;
    const path = join(this.dir, events_file);
    try {
      while (this.queue.length > 0) {
        // batch what is queued, but never past the cap of the current file
        if (this.size_bytes < 0) this.size_bytes = await sizeOf(path);
        let chunk = "";
        while (this.queue.length > 0) {
          const line = this.queue[0]!;
          const over = this.size_bytes + chunk.length + line.length > this.cap;
          if (over && (chunk.length > 0 || this.size_bytes > 0)) break;
          chunk += this.queue.shift()!;
        }
        if (chunk.length === 0) {
          await rename(path, join(this.dir, events_file_old)).catch(() => {});
          this.size_bytes = 0;
          continue;
        }
        try {
          await appendFile(path, chunk, { mode: 0o600 });
          this.size_bytes += Buffer.byteLength(chunk);
        } catch (e) {
          this.write_errors++;
          this.size_bytes = -1;
          if (this.last_error === null || this.write_errors % 100 === 1) this.opts.on_error?.(`${path}: ${(e as Error).message}`);
          this.last_error = (e as Error).message;
        }
      }
    } finally {
      this.writing = false;
      for (const w of this.idle_waiters.splice(0)) w();
    }
  }

  /** Everything on disk, oldest first (plus what is still queued). */
  read(): ClusterEvent[] {
    const out = readEvents(this.dir);
    for (const line of this.queue) {
      const e = parseLine(line);
      if (e) out.push(e);
    }
    return out;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

function parseLine(line: string): ClusterEvent | null {
  if (line.trim() === "") return null;
  try {
    const e = JSON.parse(line) as ClusterEvent;
    if (typeof e !== "object" || e === null || typeof e.t !== "string" || typeof e.event !== "string") return null;
    return e;
  } catch {
    return null; // a line cut by a crash mid-write
  }
}

/** Both files of a state directory, oldest first; no daemon needed. Unreadable lines are skipped. */
export function readEvents(dir: string): ClusterEvent[] {
  const out: ClusterEvent[] = [];
  for (const name of [events_file_old, events_file]) {
    let text: string;
    try {
      text = readFileSync(join(dir, name), "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const e = parseLine(line);
      if (e) out.push(e);
    }
  }
  return out;
}

/**
 * `--since`: an ISO time (`2026-11-24T09:00:00Z`, `2026-11-24 09:00`) or an
 * age (`90s`, `10m`, `2h`, `1d`). Returns epoch ms, or an error message.
 */
export function parseSince(s: string, now_ms = Date.now()): number | string {
  const m = /^(\d{1,9})(s|m|h|d)$/.exec(s);
  if (m) {
    const unit_ms = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
    return now_ms - Number(m[1]) * unit_ms;
  }
  if (/^\d{4}-\d\d-\d\d([T ][\d:.]+)?(Z|[+-]\d\d:?\d\d)?$/.test(s)) {
    const t = Date.parse(s.replace(" ", "T"));
    if (Number.isFinite(t)) return t;
  }
  return `--since ${JSON.stringify(s)}: give an age (90s, 10m, 2h, 1d) or a time (2026-11-24T09:00:00Z)`;
}

/** One line for humans: `TIME HOST EVENT key=value ...`. */
export function formatEvent(e: ClusterEvent, formatFields: (f: Fields) => string): string {
  return `${e.t} ${e.host} ${e.event}${formatFields(e.fields)}`;
}
