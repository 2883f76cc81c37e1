// bench/serial: what a 19200-baud serial heartbeat line can carry.
//
// A socat pty pair moves bytes as fast as the kernel can, so the line is
// emulated: node side A ==socat== relay ==socat== node side B, the relay
// (src/lab/serial.ts) pacing each direction at baud/10 bytes per second
// (8N1) with a 4 KiB transmit buffer, as a UART driver has. Both ends are
// tandem's real SerialTransport (termios from the addon, native framing),
// fed real heartbeat frames: NativeCodec, sha256, node names "nodeK", and
// the body a node announces with one resource group and N-1 peers.
//
// Per row, N senders each put one heartbeat on the line every keepalive
// (random phases), for DURATION_S seconds. N is the number of heartbeats
// per keepalive crossing the line in one direction: 1 for a two-node
// cluster on one cable; N when N nodes share a serial ring, where every
// heartbeat crosses every cable, as in Heartbeat's serial ring. The far end
// decodes every frame and measures, per sender, the gap between consecutive
// heartbeats and the delivery latency. A heartbeat is late when it comes
// more than half a keepalive after the previous one was due (gap > 1.5 x
// keepalive). The line carries a row when nothing is dropped, nothing is
// late and 99% of heartbeats arrive within one keepalive of being sent (a
// queue that keeps growing fails this long before the gaps show it).
//
//   ./node_modules/.bin/bun bench/serial.ts                 # BAUD=19200 DURATION_S=5
//   NODES=1,2,4 KEEPALIVES=100,200 DURATION_S=3 bun bench/serial.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeBody } from "../src/core/body.ts";
import { LineRelay } from "../src/lab/serial.ts";
import { native_overhead_bytes } from "../src/links/framing.ts";
import { SerialTransport } from "../src/links/serial.ts";
import { NativeCodec } from "../src/wire/native.ts";

const baud = listEnv("BAUD", [19200])[0]!;
const nodes_list = listEnv("NODES", [1, 2, 4, 8, 16]);
const keepalives = listEnv("KEEPALIVES", [50, 100, 200, 500, 1000]);
const duration_s = listEnv("DURATION_S", [5])[0]!;

function listEnv(name: string, dflt: number[]): number[] {
  const v = process.env[name];
  if (v === undefined) return dflt;
  const xs = v.split(",").map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1 || x > 1_000_000)) {
    process.stderr.write(`bench/serial: ${name}=${v} must be a comma-separated list of positive integers\n`);
    process.exit(2);
  }
  return xs;
}

const bench_key = { index: 1, method: "sha256" as const, key: "bench-secret", line: 1 };
const codec = new NativeCodec({ file: "(bench)", active: bench_key, keys: new Map([[1, bench_key]]) });

function heartbeat(node: number, nodes: number, seq: number): Uint8Array {
  const body = encodeBody({
    nodes_hash: 0x12345678,
    ann_seq: 1,
    shutting_down: false,
    standby: "none",
    takeover: "none",
    ping_score: null,
    groups: [{ id: "web", state: node === 1 ? "running" : "stopped", failures: 0, blocked: false }],
    // a cluster of max(2, N) nodes: every peer acknowledged
    acks: Array.from({ length: Math.min(15, Math.max(2, nodes) - 1) }, (_, i) => ({ node_index: i, generation: 1, ann_seq: 1 })),
  });
  return codec.encode({ kind: "heartbeat", node: `node${node}`, generation: 1, seq, body });
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

interface Row {
  nodes: number;
  keepalive_ms: number;
  wire_bytes: number;
  load_pct: number;
  sent: number;
  received: number;
  late: number;
  dropped: number;
  overflow_bytes: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  gap_max_ms: number;
}

async function runRow(dir: string, nodes: number, keepalive_ms: number): Promise<Row> {
  const a = join(dir, `a-${nodes}-${keepalive_ms}`);
  const b = join(dir, `b-${nodes}-${keepalive_ms}`);
  const relay = new LineRelay(a, b, { baud });
  await relay.start();
  const sent_at = new Map<string, number>();
  const last_rx = new Map<string, number>();
  const latency: number[] = [];
  const gaps: number[] = [];
  let received = 0;
  let late = 0;
  const opts = (onDatagram: (l: string, bytes: Uint8Array) => void) => ({
    baud,
    keepalive_ms,
    framing: "native" as const,
    onDatagram,
    log: () => {},
  });
  const rx = SerialTransport.open([{ name: "rx", device: b }], opts((_l, bytes) => {
    const now = performance.now();
    const r = codec.decode(bytes);
    if (!r.ok) return;
    received++;
    const key = `${r.frame.node}/${r.frame.seq}`;
    const t = sent_at.get(key);
    if (t !== undefined) latency.push(now - t);
    sent_at.delete(key);
    const prev = last_rx.get(r.frame.node);
    if (prev !== undefined) {
      gaps.push(now - prev);
      if (now - prev > 1.5 * keepalive_ms) late++;
    }
    last_rx.set(r.frame.node, now);
  }));
  const tx = SerialTransport.open([{ name: "tx", device: a }], opts(() => {}));
  const link = tx.links[0]!;
  let sent = 0;
  let wire_bytes = 0;
  const timers: ReturnType<typeof setInterval>[] = [];
  const phases: ReturnType<typeof setTimeout>[] = [];
  for (let n = 1; n <= nodes; n++) {
    let seq = 0;
    const beat = () => {
      const f = heartbeat(n, nodes, ++seq);
      wire_bytes = f.length + native_overhead_bytes;
      sent_at.set(`node${n}/${seq}`, performance.now());
      // bounded: a frame not delivered within the run is forgotten with the map
      if (sent_at.size > 100_000) sent_at.clear();
      sent++;
      link.send(f);
    };
    phases.push(
      setTimeout(() => {
        beat();
        timers.push(setInterval(beat, keepalive_ms));
      }, Math.random() * keepalive_ms),
    );
  }
  await Bun.sleep(duration_s * 1000);
  for (const t of phases) clearTimeout(t);
  for (const t of timers) clearInterval(t);
  await Bun.sleep(Math.min(2000, keepalive_ms * 2 + 500));
  const rs = relay.stats();
  const ls = link.stats();
  const fs = rx.links[0]!.stats().framer;
  tx.close();
  rx.close();
  await relay.stop();
  return {
    nodes,
    keepalive_ms,
    wire_bytes,
    load_pct: ((nodes * wire_bytes * (1000 / keepalive_ms)) / (baud / 10)) * 100,
    sent,
    received,
    late,
    dropped: ls.tx_dropped + fs.rejected,
    overflow_bytes: rs.dropped[0]!,
    latency_p50_ms: pct(latency, 50),
    latency_p99_ms: pct(latency, 99),
    gap_max_ms: gaps.length ? Math.max(...gaps) : Number.NaN,
  };
}

function table(rows: Row[]): string {
  const head = ["nodes (hb/keepalive)", "keepalive", "bytes/hb on wire", "line load", "sent", "received", "late", "dropped", "line overflow", "latency p50", "p99", "max gap", "carried"];
  const body = rows.map((r) => [
    String(r.nodes),
    `${r.keepalive_ms} ms`,
    String(r.wire_bytes),
    `${r.load_pct.toFixed(0)}%`,
    String(r.sent),
    String(r.received),
    String(r.late),
    String(r.dropped),
    `${r.overflow_bytes} B`,
    `${r.latency_p50_ms.toFixed(1)} ms`,
    `${r.latency_p99_ms.toFixed(1)} ms`,
    `${r.gap_max_ms.toFixed(0)} ms`,
    r.sent > 0 && r.latency_p99_ms < r.keepalive_ms && r.late === 0 && r.dropped === 0 && r.overflow_bytes === 0 && r.received >= r.sent - r.nodes ? "yes" : "no",
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return [line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

const dir = mkdtempSync(join(tmpdir(), "tandem-bench-serial-"));
const rows: Row[] = [];
try {
  process.stderr.write(`bench/serial: ${baud} baud (${baud / 10} bytes/s), ${duration_s} s per row\n`);
  for (const k of keepalives) {
    for (const n of nodes_list) {
      const r = await runRow(dir, n, k);
      rows.push(r);
      process.stderr.write(`  nodes=${n} keepalive=${k}ms: ${r.received}/${r.sent}, late ${r.late}, dropped ${r.dropped}\n`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(table(rows));
