// Serial heartbeat media from ha.cf: `serial /dev/ttyS0` (any number) at
// `baud` (default 19200). Each port is one link, named like the directive
// (`serial /dev/ttyS0`), point to point: what arrives on it came from the
// node at the other end of the cable, so attribution is by port.
//
// Opening: the addon opens the port non-blocking and sets termios (raw,
// CLOCAL, no flow control, the baud rate; native/serial.c). A port that is
// missing or fails to open is retried every reopen_interval_ms, so a daemon
// may start before its cable (or before a USB adapter or a socat pty
// appears) and picks it up later.
//
// Reading: Bun.file(fd).stream(), which Bun drives from epoll on a
// non-blocking tty fd (node:fs read streams fail with EAGAIN on it). Bytes go
// to a Framer (framing.ts) that finds message boundaries whatever the chunk
// sizes and skips noise. A stream that ends (EOF/EIO: the other side of a
// pty hung up, a USB adapter unplugged) closes the port and the reopen timer
// takes over.
//
// Writing: non-blocking. A line is slow (19200 baud is 1920 bytes/s), so a
// heartbeat may find the driver's queue still busy with earlier ones. Bytes
// already written to the driver are counted with TIOCOUTQ; when more than
// about one keepalive's worth of line time is queued there, or the driver
// refuses (EAGAIN), frames wait in a short queue of our own and the oldest
// is dropped (counted) when it is full: a fresh heartbeat is worth more
// than a stale one. A frame the driver took in part is always finished, so
// the peer never sees a frame cut short by us.
import { native } from "../native/addon.ts";
import { frame_size_max } from "../wire/types.ts";
import { type Framer, type FramerStats, HeartbeatSerialFramer, NativeFramer } from "./framing.ts";
import { emptyStats, type Link, type LinkStats, type OnDatagram } from "./types.ts";

export type SerialFraming = "native" | "heartbeat";

export interface SerialSpec {
  /** link name, `serial /dev/ttyS0` */
  name: string;
  device: string;
}

export interface SerialOptions {
  baud: number;
  /** how often the heartbeat is sent; sizes the driver queue allowance */
  keepalive_ms: number;
  framing: SerialFraming;
  onDatagram: OnDatagram;
  log: (event: string, fields: Record<string, unknown>) => void;
  /** seam for tests: shorter retries */
  reopen_interval_ms?: number;
}

/** A missing or hung-up port is tried again this often. */
const reopen_interval_ms_default = 1_000;
/** Frames waiting for the line, beyond what the driver holds. */
export const tx_queue_frames_max = 4;
/** The drain timer re-checks the line at least this often while frames wait. */
const drain_interval_ms_max = 50;
const drain_interval_ms_min = 2;
/** Largest Heartbeat text message on a serial line (Heartbeat's MAXMSG is far larger; a heartbeat is ~300 bytes). */
export const heartbeat_message_bytes_max = 16 * 1024;

export interface SerialLinkStats extends LinkStats {
  /** open: the port is open and configured; down: waiting to (re)open */
  state: "open" | "down";
  device: string;
  baud: number;
  framing: SerialFraming;
  opens: number;
  frames_out: number;
  bytes_out: number;
  bytes_in: number;
  /** frames dropped before reaching the line (queue full, or the port was down) */
  tx_dropped: number;
  framer: FramerStats;
}

export class SerialTransport {
  readonly links: SerialLink[];

  private constructor(specs: SerialSpec[], opts: SerialOptions) {
    this.links = specs.map((s) => new SerialLink(s, opts));
  }

  /** Never throws for a missing or unusable port: the link stays down and retries. */
  static open(specs: SerialSpec[], opts: SerialOptions): SerialTransport {
    const t = new SerialTransport(specs, opts);
    for (const l of t.links) l.start();
    return t;
  }

  close(): void {
    for (const l of this.links) l.close();
  }
}

export class SerialLink implements Link {
  readonly name: string;
  private fd = -1;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private framer: Framer;
  private s: LinkStats = emptyStats();
  private opens = 0;
  private frames_out = 0;
  private bytes_out = 0;
  private bytes_in = 0;
  private tx_dropped = 0;
  /** frames waiting for the line; the head may be partly written (head_off) */
  private queue: Uint8Array[] = [];
  private head_off = 0;
  private drain_timer: ReturnType<typeof setTimeout> | null = null;
  private reopen_timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  /** the last open error logged, so a missing port is logged once, not every second */
  private last_open_error: string | null = null;
  private readonly line_bytes_per_s: number;
  /** driver queue allowance: about one keepalive of line time, at least one largest frame */
  private readonly outq_bytes_max: number;

  constructor(
    readonly spec: SerialSpec,
    private readonly opts: SerialOptions,
  ) {
    this.name = spec.name;
    const deliver = (payload: Uint8Array) => {
      this.s.rx_packets++;
      this.opts.onDatagram(this.name, payload);
    };
    this.framer =
      opts.framing === "native" ? new NativeFramer(deliver, frame_size_max) : new HeartbeatSerialFramer(deliver, heartbeat_message_bytes_max);
    // 8N1: ten bit times per byte
    this.line_bytes_per_s = opts.baud / 10;
    this.outq_bytes_max = Math.max(frame_size_max + 12, Math.ceil((this.line_bytes_per_s * opts.keepalive_ms) / 1000));
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  start(): void {
    this.tryOpen();
  }

  private tryOpen(): void {
    this.reopen_timer = null;
    if (this.closed || this.fd >= 0) return;
    let fd: number;
    try {
      fd = native.serialOpen(this.spec.device, this.opts.baud);
    } catch (e) {
      const msg = (e as Error).message;
      this.s.last_error = msg;
      if (msg !== this.last_open_error) this.opts.log("serial_down", { link: this.name, error: msg, retry_ms: this.reopenMs() });
      this.last_open_error = msg;
      this.scheduleReopen();
      return;
    }
    this.fd = fd;
    this.opens++;
    this.last_open_error = null;
    this.opts.log("serial_open", { link: this.name, baud: this.opts.baud, framing: this.framer.name });
    void this.readLoop(fd);
  }

  private reopenMs(): number {
    return this.opts.reopen_interval_ms ?? reopen_interval_ms_default;
  }

  private scheduleReopen(): void {
    if (this.closed || this.reopen_timer) return;
    this.reopen_timer = setTimeout(() => this.tryOpen(), this.reopenMs());
  }

  private async readLoop(fd: number): Promise<void> {
    let why = "end of stream (hang-up)";
    try {
      const reader = Bun.file(fd).stream().getReader() as ReadableStreamDefaultReader<Uint8Array>;
      this.reader = reader;
      // One iteration per chunk; ends when the stream does (bounded by the line).
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.fd !== fd) break;
        this.bytes_in += value.length;
        this.framer.push(value);
      }
    } catch (e) {
      why = (e as Error).message;
    }
    if (this.fd !== fd) return; // closed on purpose, or already reopened
    this.hangup(why);
  }

  /** The line went away (EOF, EIO): close and look for it again. */
  private hangup(why: string): void {
    if (this.fd < 0) return;
    this.s.last_error = why;
    this.opts.log("serial_down", { link: this.name, error: why, retry_ms: this.reopenMs() });
    this.last_open_error = null;
    this.closeFd();
    this.scheduleReopen();
  }

  private closeFd(): void {
    const fd = this.fd;
    this.fd = -1;
    const reader = this.reader;
    this.reader = null;
    // frames queued for a line that is gone are stale by the time it is back
    this.tx_dropped += this.queue.length;
    this.queue = [];
    this.head_off = 0;
    if (this.drain_timer) clearTimeout(this.drain_timer);
    this.drain_timer = null;
    this.framer.reset();
    if (fd < 0) return;
    // Bun's poller must let go of the fd before it is closed (and its number reused).
    const close = () => {
      try {
        native.closeFd(fd);
      } catch {
        // already closed
      }
    };
    if (reader) reader.cancel().then(close, close);
    else close();
  }

  send(frame: Uint8Array): void {
    if (this.fd < 0) {
      this.s.tx_errors++;
      this.tx_dropped++;
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = this.framer.encode(frame);
    } catch (e) {
      this.s.tx_errors++;
      this.s.last_error = (e as Error).message;
      return;
    }
    this.queue.push(bytes);
    // Drop the oldest whole frames beyond the limit, never a partly written head.
    while (this.queue.length > tx_queue_frames_max) {
      const at = this.head_off > 0 ? 1 : 0;
      this.queue.splice(at, 1);
      this.tx_dropped++;
      this.s.tx_errors++;
    }
    this.drain();
  }

  /** Writes queued frames while the driver has room; re-arms itself otherwise. */
  private drain(): void {
    this.drain_timer = null;
    if (this.fd < 0) return;
    // Bounded: each pass writes a frame (or part of one) or stops.
    for (let pass = 0; pass <= tx_queue_frames_max && this.queue.length > 0; pass++) {
      let outq = 0;
      try {
        outq = native.serialOutq(this.fd);
      } catch {
        outq = 0;
      }
      if (this.head_off === 0 && outq > this.outq_bytes_max) return this.armDrain(outq);
      const head = this.queue[0]!;
      let n: number;
      try {
        n = native.serialWrite(this.fd, head.subarray(this.head_off));
      } catch (e) {
        this.s.tx_errors++;
        return this.hangup((e as Error).message);
      }
      if (n === 0) return this.armDrain(outq);
      this.bytes_out += n;
      this.head_off += n;
      if (this.head_off < head.length) return this.armDrain(outq);
      this.queue.shift();
      this.head_off = 0;
      this.frames_out++;
      this.s.tx_packets++;
    }
  }

  private armDrain(outq: number): void {
    if (this.drain_timer || this.queue.length === 0) return;
    // roughly when the driver will have room again
    const ms = Math.min(drain_interval_ms_max, Math.max(drain_interval_ms_min, ((outq - this.outq_bytes_max) / this.line_bytes_per_s) * 1000));
    this.drain_timer = setTimeout(() => this.drain(), ms);
  }

  stats(): SerialLinkStats {
    return {
      ...this.s,
      state: this.fd >= 0 ? "open" : "down",
      device: this.spec.device,
      baud: this.opts.baud,
      framing: this.framer.name,
      opens: this.opens,
      frames_out: this.frames_out,
      bytes_out: this.bytes_out,
      bytes_in: this.bytes_in,
      tx_dropped: this.tx_dropped,
      framer: { ...this.framer.stats },
    };
  }

  close(): void {
    this.closed = true;
    if (this.reopen_timer) clearTimeout(this.reopen_timer);
    this.reopen_timer = null;
    this.closeFd();
  }
}
