// One event per line: `<ISO timestamp> tandem[NODE]: EVENT key=value ...`.
// stderr always (journald adds its own timestamp; harmless), plus ha.cf's
// `logfile` and, for debug events, `debugfile`. File writes are async and
// bounded so a slow disk can never stall the heartbeat loop.
import { createWriteStream, type WriteStream } from "node:fs";

export type Fields = Record<string, string | number | boolean | null | undefined>;

const file_backlog_bytes_max = 1 << 20;

export class Logger {
  private files: { stream: WriteStream; debug_only: boolean }[] = [];
  dropped_lines = 0;
  constructor(
    private node: string,
    opts: { logfile?: string | null; debugfile?: string | null; debug?: boolean } = {},
  ) {
    this.debug_enabled = opts.debug ?? false;
    if (opts.logfile) this.addFile(opts.logfile, false);
    if (opts.debugfile) this.addFile(opts.debugfile, true);
  }
  debug_enabled: boolean;

  private addFile(path: string, debug_only: boolean): void {
    const stream = createWriteStream(path, { flags: "a", mode: 0o640 });
    stream.on("error", (e) => {
      process.stderr.write(`${this.prefix()}log_file_error path=${path} error=${JSON.stringify(e.message)}\n`);
      this.files = this.files.filter((f) => f.stream !== stream);
    });
    this.files.push({ stream, debug_only });
  }

  private prefix(): string {
    return `${new Date().toISOString()} tandem[${this.node}]: `;
  }

  event(name: string, fields: Fields = {}): void {
    this.write(name, fields, false);
  }

  debug(name: string, fields: Fields = {}): void {
    if (this.debug_enabled) this.write(name, fields, true);
  }

  private write(name: string, fields: Fields, is_debug: boolean): void {
    const line = `${this.prefix()}${name}${formatFields(fields)}\n`;
    if (!is_debug) process.stderr.write(line);
    for (const f of this.files) {
      if (is_debug && !f.debug_only) continue; // debugfile gets everything, logfile no debug
      if (f.stream.writableLength > file_backlog_bytes_max) {
        this.dropped_lines++;
        continue;
      }
      f.stream.write(line);
    }
  }

  close(): Promise<void> {
    return Promise.all(this.files.map((f) => new Promise<void>((res) => f.stream.end(res)))).then(() => {});
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
