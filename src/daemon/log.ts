// One event per line: `<ISO timestamp> tandem[NODE]: EVENT key=value ...`.
// stderr always (journald adds its own timestamp; harmless), plus ha.cf's
// `logfile` and, for debug events (ha.cf `debug N`), `debugfile` (stderr
// when there is none). File writes are async and
// bounded so a slow disk can never stall the heartbeat loop.
//
// Under systemd (stderr is $JOURNAL_STREAM, or `--syslog-prefix`) each
// stderr line starts with `<N>`, its syslog priority, which journald strips
// and records (SyslogLevelPrefix=, on by default), so `journalctl -p warning`
// shows deaths, failures and fencing. ha.cf's `logfacility` sends every line
// to syslog (/dev/log, one datagram each, never blocking) with that
// facility; when stderr is the journal those lines are not repeated on
// stderr (journald reads /dev/log too). A line syslog refuses goes to stderr.
import { createWriteStream, fstatSync, type WriteStream } from "node:fs";

export type Fields = Record<string, string | number | boolean | null | undefined>;

const file_backlog_bytes_max = 1 << 20;
/** the addon's datagram limit is 4096 bytes; the header takes the rest */
const syslog_line_bytes_max = 3800;

/** syslog(3) priorities */
export const Priority = { crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

const facility_codes: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

const by_name: Record<string, number> = {
  fatal: Priority.crit,
  watchdog_feeding_stopped: Priority.crit,
  fence_failed: Priority.err,
  group_start_failed: Priority.err,
  group_stop_failed: Priority.err,
  group_monitor_failed: Priority.err,
  group_gave_up: Priority.err,
  group_conflict: Priority.err,
  group_unplaceable: Priority.err,
  resource_failed: Priority.err,
  stop_timeout: Priority.err,
  watchdog_feed_error: Priority.err,
  log_file_error: Priority.err,
  node_dead: Priority.warning,
  link_down: Priority.warning,
  late_heartbeat: Priority.warning,
  drop: Priority.warning,
  wait_for_all: Priority.warning,
  fence_isolated: Priority.warning,
  fence_no_quorum: Priority.warning,
  fence_stalled: Priority.warning,
  quorum_lost: Priority.warning,
  stall: Priority.warning,
  group_config_mismatch: Priority.warning,
  systemd_notify_error: Priority.warning,
  link_error: Priority.warning,
  started: Priority.notice,
  stopping: Priority.notice,
  node_up: Priority.notice,
  link_up: Priority.notice,
  admin: Priority.notice,
};

/** The syslog priority of a log event (unknown events are info). */
export function priorityOf(name: string): number {
  const p = by_name[name];
  if (p !== undefined) return p;
  if (name.startsWith("fence_") || name.startsWith("group_")) return Priority.notice;
  return Priority.info;
}

export interface LogRecord {
  name: string;
  fields: Fields;
  wall_ms: number;
  priority: number;
}

export interface LoggerOptions {
  logfile?: string | null;
  debugfile?: string | null;
  /** ha.cf `debug N`: debug(level, ...) lines with level <= N are written */
  debug_level?: number;
  /** @deprecated: debug_level 1 */
  debug?: boolean;
  /** `<N>` before each stderr line (systemd's SyslogLevelPrefix) */
  priority_prefix?: boolean;
  /** ha.cf `logfacility`; null: no syslog */
  facility?: string | null;
  /** where syslog datagrams go (default /dev/log) */
  syslog_path?: string;
  /** stderr is the journal: with syslog on, do not write the same line twice */
  stderr_is_journal?: boolean;
  /** one datagram to an AF_UNIX socket (the addon's sendto); injected so the logger loads without the addon */
  send_datagram?: (path: string, msg: string) => void;
  /** where stderr lines go (tests) */
  stderr?: (line: string) => void;
}

export class Logger {
  private files: { stream: WriteStream; debug_only: boolean }[] = [];
  private sinks: ((r: LogRecord) => void)[] = [];
  dropped_lines = 0;
  syslog_errors = 0;
  debug_level: number;
  private syslog: { path: string; facility: number; send: (path: string, msg: string) => void } | null = null;
  private stderr: (line: string) => void;

  constructor(
    private node: string,
    private opts: LoggerOptions = {},
  ) {
    this.debug_level = opts.debug_level ?? (opts.debug ? 1 : 0);
    this.stderr = opts.stderr ?? ((line) => process.stderr.write(line));
    if (opts.logfile) this.addFile(opts.logfile, false);
    if (opts.debugfile) this.addFile(opts.debugfile, true);
    if (opts.facility && opts.send_datagram) {
      const code = facility_codes[opts.facility];
      if (code !== undefined) this.syslog = { path: opts.syslog_path ?? "/dev/log", facility: code, send: opts.send_datagram };
    }
  }

  get debug_enabled(): boolean {
    return this.debug_level > 0;
  }

  /** Every non-debug event, as it is logged (event history, metrics). */
  addSink(f: (r: LogRecord) => void): void {
    this.sinks.push(f);
  }

  private addFile(path: string, debug_only: boolean): void {
    const stream = createWriteStream(path, { flags: "a", mode: 0o640 });
    stream.on("error", (e) => {
      this.stderr(`${this.prefix(Date.now())}log_file_error path=${path} error=${JSON.stringify(e.message)}\n`);
      this.files = this.files.filter((f) => f.stream !== stream);
    });
    this.files.push({ stream, debug_only });
  }

  private prefix(wall_ms: number): string {
    return `${new Date(wall_ms).toISOString()} tandem[${this.node}]: `;
  }

  event(name: string, fields: Fields = {}): void {
    const wall_ms = Date.now();
    const priority = priorityOf(name);
    this.write(name, fields, false, wall_ms, priority);
    for (const s of this.sinks) {
      try {
        s({ name, fields, wall_ms, priority });
      } catch (e) {
        // a broken sink must not take logging (or the caller) down with it
        this.stderr(`${this.prefix(wall_ms)}log_sink_error error=${JSON.stringify((e as Error).message)}\n`);
      }
    }
  }

  /** A debug line, written when ha.cf's `debug` is at least `level` (1 = a few per event, 2+ = per packet). */
  debug(name: string, fields: Fields = {}, level = 1): void {
    if (this.debug_level >= level) this.write(name, fields, true, Date.now(), Priority.debug);
  }

  private write(name: string, fields: Fields, is_debug: boolean, wall_ms: number, priority: number): void {
    const text = `${this.prefix(wall_ms)}${name}${formatFields(fields)}`;
    const line = `${text}\n`;
    // debug lines go to the debugfile; without one, to stderr (the journal keeps them at priority 7)
    let to_stderr = !is_debug || !this.opts.debugfile;
    if (this.syslog && !is_debug) {
      const sent = this.toSyslog(text, priority);
      if (sent && this.opts.stderr_is_journal) to_stderr = false;
    }
    if (to_stderr) this.stderr(this.opts.priority_prefix ? `<${priority}>${line}` : line);
    for (const f of this.files) {
      if (is_debug && !f.debug_only) continue; // debugfile gets everything, logfile no debug
      if (f.stream.writableLength > file_backlog_bytes_max) {
        this.dropped_lines++;
        continue;
      }
      f.stream.write(line);
    }
  }

  /** RFC 3164 as glibc's syslog(3) sends it to /dev/log; the message is the same line as on stderr. */
  private toSyslog(text: string, priority: number): boolean {
    const s = this.syslog!;
    const msg = `<${s.facility * 8 + priority}>${syslogTime(new Date())} tandem[${process.pid}]: ${truncateBytes(text, syslog_line_bytes_max)}`;
    try {
      s.send(s.path, msg);
      return true;
    } catch {
      this.syslog_errors++;
      return false;
    }
  }

  close(): Promise<void> {
    return Promise.all(this.files.map((f) => new Promise<void>((res) => f.stream.end(res)))).then(() => {});
  }
}

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 3164's `Mmm dd hh:mm:ss`, local time. */
export function syslogTime(d: Date): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${months[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let cut = s.slice(0, max);
  while (Buffer.byteLength(cut) > max - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/**
 * Is stderr the journal? systemd sets $JOURNAL_STREAM to the `device:inode`
 * of the stream it connected; a redirect since (`2>file`) no longer matches.
 */
export function stderrIsJournal(env: Record<string, string | undefined> = process.env): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const m = /^(\d+):(\d+)$/.exec(js);
  if (!m) return false;
  try {
    const st = fstatSync(2);
    return String(st.dev) === m[1] && String(st.ino) === m[2];
  } catch {
    return false;
  }
}

export function formatFields(fields: Fields): string {
  let out = "";
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = typeof v === "string" ? v : String(v);
    out += ` ${k}=${/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s)}`;
  }
  return out;
}
