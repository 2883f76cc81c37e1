// Real tandem daemons inside a lab cluster (src/lab/netns.ts): which
// executable to run, their log events, their control sockets.
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { request } from "../cli/client.ts";
import type { Cluster, Host, Proc } from "./netns.ts";

const src_main = join(import.meta.dir, "../main.ts");
const repo_root = dirname(dirname(import.meta.dir));

/** `bun build --compile` serves the bundled sources from /$bunfs/ (B:/~BUN/ on Windows). */
function compiled(): boolean {
  return import.meta.path.startsWith("/$bunfs/") || import.meta.path.includes("~BUN");
}

function runningFromSource(): boolean {
  return !compiled() && existsSync(src_main);
}

/**
 * The command that runs *this* tandem: the compiled binary itself
 * (process.execPath is dist/tandem), or `bun src/main.ts` when running from
 * source. $TANDEM_BIN overrides (an executable path).
 */
export function selfCommand(): string[] {
  const env = process.env.TANDEM_BIN;
  if (env) return [env];
  return runningFromSource() ? [process.execPath, src_main] : [process.execPath];
}

function newestMtime(dir: string, depth = 0): number {
  let newest = 0;
  if (depth > 6) return newest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, depth + 1));
    else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * For tests and benchmarks: $TANDEM_BIN, else dist/tandem when it exists and
 * is newer than every file under src/, else `bun src/main.ts`.
 */
export function preferredCommand(): { argv: string[]; why: string } {
  if (process.env.TANDEM_BIN) return { argv: [process.env.TANDEM_BIN], why: "$TANDEM_BIN" };
  const bin = join(repo_root, "dist/tandem");
  const bun = /^bun/.test(basename(process.execPath)) ? process.execPath : (Bun.which("bun") ?? process.execPath);
  if (existsSync(bin)) {
    const bin_m = statSync(bin).mtimeMs;
    const src_m = newestMtime(join(repo_root, "src"));
    if (bin_m >= src_m) return { argv: [bin], why: "dist/tandem (newer than src/)" };
    return { argv: [bun, src_main], why: "src/main.ts (dist/tandem is older than src/)" };
  }
  return { argv: [bun, src_main], why: "src/main.ts (no dist/tandem)" };
}

// ---------------------------------------------------------------------------
// Log events: `<ISO time> tandem[NODE]: EVENT key=value ...`

export interface TandemEvent {
  /** epoch ms from the line's timestamp */
  t: number;
  node: string;
  event: string;
  fields: Record<string, string>;
  line: string;
}

const event_re = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) tandem\[([^\]]+)\]: (\S+)(.*)$/;
const field_re = /\s+([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;

export function parseEvent(line: string): TandemEvent | null {
  const m = event_re.exec(line);
  if (!m) return null;
  const fields: Record<string, string> = {};
  for (const f of m[4]!.matchAll(field_re)) {
    let v = f[2]!;
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v);
      } catch {
        // keep raw
      }
    }
    fields[f[1]!] = v;
  }
  return { t: Date.parse(m[1]!), node: m[2]!, event: m[3]!, fields, line };
}

export type EventMatch = { event: string } & Record<string, string | number | boolean>;

export function matches(e: TandemEvent, want: EventMatch): boolean {
  if (e.event !== want.event) return false;
  for (const [k, v] of Object.entries(want)) if (k !== "event" && e.fields[k] !== String(v)) return false;
  return true;
}

// ---------------------------------------------------------------------------

export interface StatusLink {
  name: string;
  state: string;
  last_heard_ms_ago: number | null;
}
export interface StatusNode {
  name: string;
  state: "self" | "init" | "up" | "dead" | string;
  generation: number;
  last_heard_ms_ago: number | null;
  links: StatusLink[];
}
export interface Status {
  schema: number;
  node: string;
  generation: number;
  nodes: StatusNode[];
  links: { name: string }[];
  counters: { dropped: Record<string, number> };
}

/** A tandem daemon on one lab host, kept across restarts (same config, state dir and socket). */
export class LabDaemon {
  readonly dir: string;
  readonly state_dir: string;
  readonly socket: string;
  /** every event of every run of this daemon, in order */
  readonly events: TandemEvent[] = [];
  /** every output line of every run, for diagnostics */
  readonly output: string[] = [];
  proc: Proc | null = null;
  /** more `tandem daemon` arguments (e.g. --init-dir), for the next start */
  extra_args: string[] = [];
  /** more environment for the next start (e.g. libfaketime's LD_PRELOAD) */
  env: Record<string, string> = {};
  private waiters = new Set<() => void>();

  constructor(
    readonly cluster: Cluster,
    readonly host: Host,
    readonly cmd: string[],
    base = join(cluster.tmp, host.name),
  ) {
    this.dir = join(base, "ha.d");
    this.state_dir = join(base, "state");
    this.socket = join(base, "run", "tandem.sock");
    mkdirSync(this.state_dir, { recursive: true, mode: 0o700 });
    mkdirSync(dirname(this.socket), { recursive: true, mode: 0o700 });
  }

  get name(): string {
    return this.host.name;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** Start the daemon; resolves once it logged `started` (or rejects with its output). */
  async start(timeout_ms = 10_000): Promise<Proc> {
    if (this.running) throw new Error(`${this.name}: already running`);
    const from = this.events.length;
    const argv = [...this.cmd, "daemon", "--dir", this.dir, "--state-dir", this.state_dir, "--socket", this.socket, "--node", this.name, ...this.extra_args];
    this.proc = this.cluster.spawn(this.host.ns, argv, {
      env: this.env,
      on_line: (line) => {
        this.output.push(line);
        const e = parseEvent(line);
        if (e) this.events.push(e);
        for (const w of [...this.waiters]) w();
      },
    });
    const p = this.proc;
    void p.exited.then(() => {
      for (const w of [...this.waiters]) w();
    });
    const ev = await this.waitEvent((e) => e.event === "started" || e.event === "fatal", timeout_ms, from);
    if (!ev || ev.event !== "started") {
      const tail = p.lines.slice(-15).join("\n");
      throw new Error(`${this.name}: daemon did not start within ${timeout_ms} ms (${ev ? ev.line : p.running ? "no started event" : `exited ${p.exit_code ?? p.signal}`})\n${tail}`);
    }
    return p;
  }

  /**
   * Wait (bounded) for an event at index >= from. Returns it, or null on
   * timeout. Does not give up when the process exits (a restart may follow).
   */
  waitEvent(want: EventMatch | ((e: TandemEvent) => boolean), timeout_ms: number, from = 0): Promise<TandemEvent | null> {
    const pred = typeof want === "function" ? want : (e: TandemEvent) => matches(e, want);
    let i = from;
    const scan = (): TandemEvent | null => {
      for (; i < this.events.length; i++) if (pred(this.events[i]!)) return this.events[i]!;
      return null;
    };
    const hit = scan();
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const check = () => {
        const h = scan();
        if (h) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(h);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(scan());
      }, Math.max(0, timeout_ms));
      this.waiters.add(check);
    });
  }

  find(want: EventMatch, from = 0): TandemEvent[] {
    return this.events.slice(from).filter((e) => matches(e, want));
  }

  async status(timeout_ms = 2000): Promise<Status> {
    const r = await request(this.socket, { cmd: "status" }, timeout_ms);
    if (!r?.ok || !r.status) throw new Error(`${this.name}: status failed: ${r?.error ?? "no status"}`);
    return r.status as Status;
  }

  /** Status, or null when the daemon does not answer. */
  async tryStatus(timeout_ms = 1000): Promise<Status | null> {
    try {
      return await this.status(timeout_ms);
    } catch {
      return null;
    }
  }

  kill(sig: NodeJS.Signals): boolean {
    return this.proc?.kill(sig) ?? false;
  }

  /** Graceful stop (SIGTERM, bounded), SIGKILL as a fallback. */
  async stop(): Promise<void> {
    await this.proc?.stop();
  }
}

/** Poll an async condition until true or the time is up (bounded). */
export async function until<T>(cond: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeout_ms: number, every_ms = 50): Promise<T | null> {
  const end = performance.now() + timeout_ms;
  for (;;) {
    const v = await cond();
    if (v) return v as T;
    if (performance.now() >= end) return null;
    await Bun.sleep(Math.min(every_ms, Math.max(1, end - performance.now())));
  }
}

/** Does `st` show `peer` up (and, if given, exactly these link states)? */
export function peerState(st: Status | null, peer: string): StatusNode | null {
  return st?.nodes.find((n) => n.name === peer) ?? null;
}
