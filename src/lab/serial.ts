// Null-modem cables for tests and benchmarks, made of socat pty pairs.
//
//   NullModem: `socat pty,link=A pty,link=B`: bytes written to A come out of
//   B and back. The `link=` symlinks keep their names across socat restarts
//   (a new /dev/pts/N each time), which is how a test unplugs the cable
//   (stop) and plugs it in again later (start).
//
//   LineRelay: two NullModems joined by a relay in this process:
//       node1 <-> A ==socat== A' <-relay-> B' ==socat== B <-> node2
//   A pty pair moves bytes as fast as the kernel can, whatever baud the
//   ends set; the relay paces each direction at baud/10 bytes per second
//   (8N1), as a real line does, and can inject noise. Its per-direction
//   queue stands in for a UART's transmit buffer and is bounded the same
//   way (bytes beyond it are dropped and counted).
//
// Only processes started here are signalled, by PID; every wait is bounded.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { Subprocess } from "bun";
import { native } from "../native/addon.ts";

const start_timeout_ms = 5_000;
const stop_timeout_ms = 3_000;

export class NullModem {
  private proc: Subprocess | null = null;

  constructor(
    readonly a: string,
    readonly b: string,
  ) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts socat; resolves when both link= paths exist. */
  async start(): Promise<void> {
    if (this.running) return;
    for (const p of [this.a, this.b]) {
      mkdirSync(dirname(p), { recursive: true });
      rmSync(p, { force: true });
    }
    const socat = Bun.which("socat");
    if (!socat) throw new Error("socat is not installed (apt-get install socat)");
    this.proc = Bun.spawn([socat, "-d", "-d", `pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    const end = performance.now() + start_timeout_ms;
    while (!(existsSync(this.a) && existsSync(this.b))) {
      if (!this.running) throw new Error(`socat exited (${this.proc.exitCode ?? this.proc.signalCode}) before creating ${this.a}`);
      if (performance.now() > end) {
        await this.stop();
        throw new Error(`socat did not create ${this.a} and ${this.b} within ${start_timeout_ms} ms`);
      }
      await Bun.sleep(10);
    }
  }

  /** Stops socat (SIGTERM, then SIGKILL): both ends hang up. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p) return;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), stop_timeout_ms);
      await p.exited;
      clearTimeout(t);
    }
    // socat removes its links on a clean exit; make sure after a SIGKILL
    for (const path of [this.a, this.b]) rmSync(path, { force: true });
  }
}

export interface RelayOptions {
  /** 8N1 line speed to emulate; 0: no pacing */
  baud: number;
  /** per-direction transmit buffer (a 16550 driver's is 4 KiB) */
  queue_bytes_max?: number;
}

interface Direction {
  from_fd: number;
  to_fd: number;
  queue: Uint8Array[];
  queued: number;
  /** bytes the line may send now (fractional credit) */
  credit: number;
  carried: number;
  dropped: number;
}

const tick_ms = 2;

/** node1 <-> `a` ... `b` <-> node2, paced at `baud`, with noise on demand. */
export class LineRelay {
  readonly left: NullModem;
  readonly right: NullModem;
  private dirs: Direction[] = [];
  private fds: number[] = [];
  private readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private last_ms = 0;
  private is_cut = false;

  /** `a` and `b` are the node-side paths; the relay's ends are `${a}.relay` and `${b}.relay`. */
  constructor(
    readonly a: string,
    readonly b: string,
    private readonly o: RelayOptions,
  ) {
    this.left = new NullModem(a, `${a}.relay`);
    this.right = new NullModem(b, `${b}.relay`);
  }

  async start(): Promise<void> {
    await this.left.start();
    await this.right.start();
    const fl = native.serialOpen(this.left.b, 460800);
    const fr = native.serialOpen(this.right.b, 460800);
    this.fds = [fl, fr];
    this.dirs = [this.direction(fl, fr), this.direction(fr, fl)];
    this.last_ms = performance.now();
    this.timer = setInterval(() => this.pump(), tick_ms);
  }

  private direction(from_fd: number, to_fd: number): Direction {
    const d: Direction = { from_fd, to_fd, queue: [], queued: 0, credit: 0, carried: 0, dropped: 0 };
    const reader = Bun.file(from_fd).stream().getReader() as ReadableStreamDefaultReader<Uint8Array>;
    this.readers.push(reader);
    void (async () => {
      try {
        // ends when the relay stops (cancel) or a pty hangs up
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.enqueue(d, value);
        }
      } catch {
        // cancelled
      }
    })();
    return d;
  }

  /**
   * Pull the cable without hanging up either end: a real null-modem cable
   * pulled out leaves both UARTs open and silent (no EOF, no EIO), unlike
   * stopping socat. Bytes in flight and bytes sent meanwhile are lost.
   */
  cut(): void {
    this.is_cut = true;
    for (const d of this.dirs) {
      d.dropped += d.queued;
      d.queue = [];
      d.queued = 0;
    }
  }

  /** Plug the cable back in. */
  restore(): void {
    this.is_cut = false;
  }

  private enqueue(d: Direction, bytes: Uint8Array): void {
    if (this.is_cut) {
      d.dropped += bytes.length;
      return;
    }
    const max = this.o.queue_bytes_max ?? 4096;
    const room = Math.max(0, max - d.queued);
    if (bytes.length > room) d.dropped += bytes.length - room;
    if (room === 0) return;
    const take = bytes.length > room ? bytes.slice(0, room) : bytes.slice();
    d.queue.push(take);
    d.queued += take.length;
    if (this.o.baud === 0) this.pump();
  }

  /** Noise on the line toward node2 (dir 0) or node1 (dir 1), queued behind what the line already carries. */
  inject(dir: 0 | 1, bytes: Uint8Array): void {
    this.enqueue(this.dirs[dir]!, bytes);
  }

  stats(): { carried: number[]; dropped: number[]; queued: number[] } {
    return { carried: this.dirs.map((d) => d.carried), dropped: this.dirs.map((d) => d.dropped), queued: this.dirs.map((d) => d.queued) };
  }

  private pump(): void {
    const now = performance.now();
    const elapsed_ms = now - this.last_ms;
    this.last_ms = now;
    for (const d of this.dirs) {
      if (this.o.baud > 0 && d.queue.length === 0) d.credit = 0;
      else if (this.o.baud > 0) {
        // credit never piles up while idle (a line cannot send faster later);
        // the cap only absorbs timer jitter while bytes wait
        d.credit = Math.min(d.credit + (elapsed_ms * this.o.baud) / 10 / 1000, Math.max(1, (tick_ms * 10 * this.o.baud) / 10 / 1000));
      } else d.credit = Infinity;
      // bounded by the queue's length
      while (d.queue.length > 0 && d.credit >= 1) {
        const head = d.queue[0]!;
        const n = Math.min(head.length, Math.floor(d.credit));
        let w = 0;
        try {
          w = native.serialWrite(d.to_fd, head.subarray(0, n));
        } catch {
          w = n; // the far end hung up: the bytes fall off the line
        }
        if (w === 0) break;
        d.credit -= w;
        d.carried += w;
        d.queued -= w;
        if (w === head.length) d.queue.shift();
        else d.queue[0] = head.subarray(w);
      }
      if (this.o.baud === 0) d.credit = 0;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.readers.map((r) => r.cancel().catch(() => {})));
    this.readers = [];
    for (const fd of this.fds) {
      try {
        native.closeFd(fd);
      } catch {
        // already closed
      }
    }
    this.fds = [];
    await this.left.stop();
    await this.right.stop();
  }
}
