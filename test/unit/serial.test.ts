// Serial links: the framings byte by byte (every split, noise, corrupted
// lengths and payloads, Heartbeat's text framing), then the real thing:
// termios on a socat pty pair, frames across it, EAGAIN with nobody reading,
// a cable unplugged and plugged in again, a port that appears late.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeartbeatSerialFramer, NativeFramer, native_overhead_bytes, native_sync } from "../../src/links/framing.ts";
import { SerialTransport, tx_queue_frames_max } from "../../src/links/serial.ts";
import { NullModem } from "../../src/lab/serial.ts";
import { native } from "../../src/native/addon.ts";
import { frame_size_max } from "../../src/wire/types.ts";

/** Seeded PRNG (mulberry32): failures replay. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function payload(n: number, fill: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (fill + i * 7) & 0xff;
  return p;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function nativeFramer(max = frame_size_max) {
  const got: Uint8Array[] = [];
  const f = new NativeFramer((p) => got.push(p), max);
  return { f, got };
}

describe("native framing", () => {
  const frames = [payload(63, 1), payload(1, 2), payload(frame_size_max, 3), payload(200, 0x7e)];
  const enc = (() => {
    const { f } = nativeFramer();
    return frames.map((p) => f.encode(p));
  })();
  const stream = cat(...enc);

  test("round trip, overhead 12 bytes", () => {
    const { f, got } = nativeFramer();
    expect(enc[0]!.length).toBe(63 + native_overhead_bytes);
    f.push(stream);
    expect(got).toEqual(frames);
    expect(f.stats).toEqual({ frames_in: 4, garbage_bytes: 0, resyncs: 0, rejected: 0 });
    expect(f.buffered_bytes).toBe(0);
  });

  test("one byte at a time, and split at every byte boundary", () => {
    const one = nativeFramer();
    for (const b of stream) one.f.push(Uint8Array.of(b));
    expect(one.got).toEqual(frames);
    for (let i = 0; i <= stream.length; i++) {
      const { f, got } = nativeFramer();
      f.push(stream.subarray(0, i));
      f.push(stream.subarray(i));
      expect(got).toEqual(frames);
      expect(f.stats.garbage_bytes).toBe(0);
    }
  });

  test("garbage between frames, including marker fragments, is counted and skipped", () => {
    const noise = [Uint8Array.of(0x00, 0xff, 0x7e), Uint8Array.of(0x7e, 0x54), Uint8Array.of(0x7e, 0x54, 0x53), Uint8Array.of(1, 2, 3, 4, 5)];
    const s = cat(noise[0]!, enc[0]!, noise[1]!, enc[1]!, noise[2]!, enc[2]!, noise[3]!, enc[3]!);
    for (let i = 0; i <= s.length; i += 7) {
      const { f, got } = nativeFramer();
      f.push(s.subarray(0, i));
      f.push(s.subarray(i));
      expect(got).toEqual(frames);
      expect(f.stats.garbage_bytes).toBe(3 + 2 + 3 + 5);
      expect(f.stats.frames_in).toBe(4);
    }
  });

  test("an oversize or corrupted length is rejected at once: the next frame is not held back", () => {
    const { f, got } = nativeFramer();
    const bad = enc[0]!.slice();
    new DataView(bad.buffer).setUint16(4, frame_size_max + 1);
    new DataView(bad.buffer).setUint16(6, (frame_size_max + 1) ^ 0xffff);
    f.push(bad.subarray(0, 8));
    expect(f.stats.rejected).toBe(1);
    const flipped = enc[1]!.slice();
    flipped[5]! ^= 0x40; // length without matching check
    f.push(flipped.subarray(0, 8));
    expect(f.stats.rejected).toBe(2);
    f.push(enc[3]!);
    expect(got).toEqual([frames[3]!]);
    // an in-range length whose check matches but is just too long for this framer
    const small = nativeFramer(100);
    small.f.push(enc[3]!);
    expect(small.got).toEqual([]);
    expect(small.f.stats.rejected).toBe(1);
    expect(small.f.buffered_bytes).toBeLessThan(8);
  });

  test("a forged header claiming 1400 bytes does not hold back the frames behind it, nor duplicate them", () => {
    const { f, got } = nativeFramer();
    const fake = Uint8Array.of(...native_sync, 0x05, 0x78, 0xfa, 0x87); // length 1400 and its check
    f.push(fake);
    f.push(enc[0]!);
    f.push(enc[1]!);
    expect(got).toEqual([frames[0]!, frames[1]!]); // at once, not after 1400 more bytes
    for (let i = 0; i < 20; i++) f.push(enc[3]!); // fills the fake span: CRC fails, rescan
    expect(got).toEqual([frames[0]!, frames[1]!, ...new Array(20).fill(frames[3]!)]);
    expect(f.stats.frames_in).toBe(22);
    expect(f.stats.rejected).toBe(1);
    expect(f.stats.garbage_bytes).toBe(1 + 7); // the fake marker's first byte, then the rest of its header
  });

  test("a payload bit flip fails the CRC; a frame hidden in the rejected span is still found", () => {
    const { f, got } = nativeFramer();
    const bad = enc[2]!.slice(); // 1400-byte payload
    bad[100]! ^= 1;
    // a good small frame inside the bad frame's claimed span
    bad.set(enc[1]!, 500);
    f.push(bad);
    f.push(enc[0]!);
    expect(got).toEqual([frames[1]!, frames[0]!]);
    expect(f.stats.rejected).toBeGreaterThanOrEqual(1);
  });

  test("random noise with frames mixed in: every intact frame recovered, buffer bounded", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = prng(seed);
      const { f, got } = nativeFramer();
      const sent: Uint8Array[] = [];
      const parts: Uint8Array[] = [];
      for (let k = 0; k < 40; k++) {
        const noise = new Uint8Array(Math.floor(r() * 50));
        for (let i = 0; i < noise.length; i++) noise[i] = r() < 0.2 ? native_sync[Math.floor(r() * 4)]! : Math.floor(r() * 256);
        parts.push(noise);
        const p = payload(1 + Math.floor(r() * 300), k);
        sent.push(p);
        parts.push(f.encode(p));
      }
      const s = cat(...parts);
      let max_buf = 0;
      for (let i = 0; i < s.length; ) {
        const n = 1 + Math.floor(r() * 64);
        f.push(s.subarray(i, i + n));
        max_buf = Math.max(max_buf, f.buffered_bytes);
        i += n;
      }
      // noise can only add frames if it forged marker, length check and CRC: never here
      expect(got).toEqual(sent);
      expect(max_buf).toBeLessThanOrEqual(frame_size_max + native_overhead_bytes + 64);
    }
  });

  test("pure noise never yields a frame and never grows the buffer", () => {
    const r = prng(99);
    const { f, got } = nativeFramer();
    for (let k = 0; k < 200; k++) {
      const chunk = new Uint8Array(256);
      for (let i = 0; i < chunk.length; i++) chunk[i] = r() < 0.3 ? native_sync[Math.floor(r() * 4)]! : Math.floor(r() * 256);
      f.push(chunk);
      expect(f.buffered_bytes).toBeLessThanOrEqual(frame_size_max + native_overhead_bytes + 256);
    }
    expect(got.length).toBe(0);
    expect(f.stats.garbage_bytes).toBeGreaterThan(200 * 256 - frame_size_max - 20);
  });

  test("reset (port reopened) drops a partial frame as garbage", () => {
    const { f, got } = nativeFramer();
    f.push(enc[0]!.subarray(0, 20));
    f.reset();
    expect(f.stats.garbage_bytes).toBe(20);
    f.push(enc[0]!.subarray(20)); // the tail alone is noise
    f.push(enc[1]!);
    expect(got).toEqual([frames[1]!]);
  });

  test("encode refuses empty and oversize payloads", () => {
    const { f } = nativeFramer();
    expect(() => f.encode(new Uint8Array(0))).toThrow(RangeError);
    expect(() => f.encode(new Uint8Array(frame_size_max + 1))).toThrow(RangeError);
  });
});

describe("Heartbeat serial framing (classic text, >>> ... <<<)", () => {
  const te = new TextEncoder();
  const td = new TextDecoder();
  const m1 = ">>>\nt=status\nst=active\ndt=7530\nsrc=hb1\nauth=1 0123abcd\n<<<\n";
  const m2 = ">>>\nt=NS_ackmsg\nsrc=hb1\n<<<\n";
  const fr = () => {
    const got: string[] = [];
    const f = new HeartbeatSerialFramer((p) => got.push(td.decode(p)), 4096);
    return { f, got };
  };

  test("messages split at every byte boundary", () => {
    const s = te.encode(m1 + m2);
    for (let i = 0; i <= s.length; i++) {
      const { f, got } = fr();
      f.push(s.subarray(0, i));
      f.push(s.subarray(i));
      expect(got).toEqual([m1, m2]);
      expect(f.stats.garbage_bytes).toBe(0);
    }
  });

  test("noise lines, CR, a message cut short by a restart, noise glued to the start line", () => {
    const { f, got } = fr();
    f.push(te.encode(`garbage\n\r\n${">>>\nt=status\nsrc=hb"}\n${m1}`));
    f.push(te.encode(`xx${m2}`));
    f.push(te.encode(m1.replace(/\n/g, "\r\n")));
    expect(got).toEqual([m1, m2, m1]);
    expect(f.stats.frames_in).toBe(3);
    expect(f.stats.garbage_bytes).toBeGreaterThan(0);
  });

  test("the 8th bit is stripped as on Heartbeat's tty", () => {
    const { f, got } = fr();
    const b = te.encode(m2);
    b[5]! |= 0x80;
    f.push(b);
    expect(got).toEqual([m2]);
  });

  test("an endless message is dropped at the size limit and the next one is read", () => {
    const { f, got } = fr();
    f.push(te.encode(`>>>\n${"x=yyyyyyyyyy\n".repeat(500)}`));
    expect(f.buffered_bytes).toBeLessThanOrEqual(4096);
    expect(f.stats.rejected).toBe(1);
    f.push(te.encode(m2));
    expect(got).toEqual([m2]);
    // a line of noise without newline is bounded too
    f.push(new Uint8Array(10_000).fill(0x41));
    expect(f.buffered_bytes).toBeLessThanOrEqual(4096);
    f.push(te.encode(`\n${m1}`));
    expect(got).toEqual([m2, m1]);
  });

  test("encode takes classic text only, 7-bit, no CR", () => {
    const { f } = fr();
    expect(td.decode(f.encode(te.encode(m1)))).toBe(m1);
    expect(() => f.encode(te.encode("###\nt=status\n%%%\n"))).toThrow(/classic text/);
    expect(() => f.encode(te.encode(">>>\nx=\u00e9\n<<<\n"))).toThrow(/7-bit/);
    expect(() => f.encode(te.encode(">>>\nx=1\r\n<<<\n"))).toThrow(/7-bit/);
  });
});

// --- real ptys ----------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "tandem-serial-"));
const modems: NullModem[] = [];
const transports: SerialTransport[] = [];
afterAll(async () => {
  for (const t of transports) t.close();
  for (const m of modems) await m.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, timeout_ms = 3000): Promise<boolean> {
  const end = performance.now() + timeout_ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await Bun.sleep(5);
  }
  return true;
}

function modem(name: string): NullModem {
  const m = new NullModem(join(dir, `${name}-a`), join(dir, `${name}-b`));
  modems.push(m);
  return m;
}

function pair(m: NullModem, baud = 19200) {
  const got: Record<string, Uint8Array[]> = { a: [], b: [] };
  const logs: string[] = [];
  const mk = (path: string, key: "a" | "b") => {
    const t = SerialTransport.open([{ name: `serial ${path}`, device: path }], {
      baud,
      keepalive_ms: 100,
      framing: "native",
      onDatagram: (_l, bytes) => got[key]!.push(bytes),
      log: (e, f) => logs.push(`${e} ${JSON.stringify(f)}`),
      reopen_interval_ms: 50,
    });
    transports.push(t);
    return t.links[0]!;
  };
  return { a: mk(m.a, "a"), b: mk(m.b, "b"), got, logs };
}

describe("serial ports (socat pty pair as the cable)", () => {
  test("serialOpen sets raw 8N1, the baud rate, CLOCAL, no flow control, non-blocking", async () => {
    const m = modem("termios");
    await m.start();
    for (const baud of [9600, 19200, 115200, 460800]) {
      const fd = native.serialOpen(m.a, baud);
      try {
        expect(native.serialInfo(fd)).toEqual({ ispeed: baud, ospeed: baud, vmin: 1, vtime: 0, raw: true, clocal: true, crtscts: false, ixon: false, nonblock: true });
        expect(native.serialOutq(fd)).toBe(0);
      } finally {
        native.closeFd(fd);
      }
    }
    expect(() => native.serialOpen(m.a, 12345)).toThrow(/baud must be/);
    expect(() => native.serialOpen(join(dir, "missing"), 19200)).toThrow(/missing: No such file/);
    expect(() => native.serialOpen("/dev/null", 19200)).toThrow(/ENOTTY/);
    await m.stop();
  });

  test("frames cross in both directions, whatever chunks the pty delivers", async () => {
    const m = modem("cross");
    await m.start();
    const { a, b, got } = pair(m);
    expect(await until(() => a.isOpen && b.isOpen)).toBe(true);
    const sent = [payload(63, 1), payload(1400, 2), payload(5, 3)];
    for (const p of sent) a.send(p);
    b.send(payload(99, 4));
    expect(await until(() => got.b!.length === 3 && got.a!.length === 1)).toBe(true);
    expect(got.b).toEqual(sent);
    expect(got.a).toEqual([payload(99, 4)]);
    // raw bytes in odd pieces straight into the pty: the framer reassembles
    const fd = native.serialOpen(m.a, 19200);
    try {
      const bytes = cat(new NativeFramer(() => {}, frame_size_max).encode(payload(300, 5)), Uint8Array.of(1, 2, 3));
      for (let i = 0; i < bytes.length; i += 17) {
        native.serialWrite(fd, bytes.subarray(i, i + 17));
        await Bun.sleep(1);
      }
      expect(await until(() => got.b!.length === 4)).toBe(true);
      expect(got.b![3]).toEqual(payload(300, 5));
    } finally {
      native.closeFd(fd);
    }
    expect(b.stats()).toMatchObject({ state: "open", rx_packets: 4, framer: { frames_in: 4 } });
    expect(a.stats()).toMatchObject({ tx_packets: 3, frames_out: 3, tx_dropped: 0 });
    a.close();
    b.close();
    await m.stop();
  });

  test("nobody reading: writes hit EAGAIN, the queue stays bounded, the oldest frames are dropped", async () => {
    const m = modem("full");
    await m.start();
    const logs: string[] = [];
    const t = SerialTransport.open([{ name: "serial full", device: m.a }], {
      baud: 19200,
      keepalive_ms: 100,
      framing: "native",
      onDatagram: () => {},
      log: (e) => logs.push(e),
    });
    transports.push(t);
    const a = t.links[0]!;
    expect(a.isOpen).toBe(true);
    // socat keeps the other pty open but nobody reads it: the kernel buffers fill
    for (let i = 0; i < 2000; i++) a.send(payload(1400, i));
    const s = a.stats();
    expect(s.tx_dropped).toBeGreaterThan(0);
    expect(s.frames_out + s.tx_dropped + tx_queue_frames_max).toBeGreaterThanOrEqual(2000);
    expect(s.frames_out).toBeLessThan(2000);
    expect(a.isOpen).toBe(true);
    t.close();
    await m.stop();
  });

  test("cable unplugged (socat stopped) and plugged in again: the link closes, reopens, carries frames", async () => {
    const m = modem("replug");
    await m.start();
    const { a, b, got, logs } = pair(m);
    expect(await until(() => a.isOpen && b.isOpen)).toBe(true);
    a.send(payload(10, 1));
    expect(await until(() => got.b!.length === 1)).toBe(true);
    await m.stop();
    expect(await until(() => !a.isOpen && !b.isOpen)).toBe(true);
    a.send(payload(10, 2)); // counted, not thrown
    expect(a.stats().tx_dropped).toBe(1);
    await m.start(); // new /dev/pts/N behind the same names
    expect(await until(() => a.isOpen && b.isOpen)).toBe(true);
    a.send(payload(10, 3));
    b.send(payload(10, 4));
    expect(await until(() => got.b!.length === 2 && got.a!.length === 1)).toBe(true);
    expect(got.b![1]).toEqual(payload(10, 3));
    expect(a.stats().opens).toBe(2);
    expect(logs.filter((l) => l.startsWith("serial_down")).length).toBeGreaterThanOrEqual(2);
    a.close();
    b.close();
    await m.stop();
  });

  test("a port that does not exist yet is opened when it appears (logged once meanwhile)", async () => {
    const m = modem("late");
    const { a, b, got, logs } = pair(m);
    await Bun.sleep(200);
    expect(a.isOpen).toBe(false);
    expect(logs.filter((l) => l.startsWith("serial_down")).length).toBe(2); // one per end, not one per retry
    expect(a.stats().last_error).toMatch(/No such file/);
    await m.start();
    expect(await until(() => a.isOpen && b.isOpen)).toBe(true);
    a.send(payload(42, 1));
    expect(await until(() => got.b!.length === 1)).toBe(true);
    a.close();
    b.close();
    await m.stop();
  });
});
