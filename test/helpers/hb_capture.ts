// Reads test/fixtures/heartbeat3/wire-heartbeat3.txt: real Heartbeat 3.0.6
// packets captured by /work/shared/reference/anchors/lab-heartbeat.sh
// (Debian 1:3.0.6-13+b2, authkeys `1 sha1 anchor-lab-secret`), public
// reference data copied verbatim.
//   Part 1: tcpdump -X dumps (IPv4 + UDP + payload): the exact bytes.
//   Parts 2 and 3: one message per type, decoded by hbwire.py (field types,
//   names, values; binary as hex) with the netstring trailer as sent.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const capture_key = "anchor-lab-secret";
export const capture_file = join(import.meta.dir, "../fixtures/heartbeat3/wire-heartbeat3.txt");

export interface CapturedPacket {
  header: string;
  /** UDP payload */
  payload: Uint8Array;
}

export interface CapturedDecode {
  header: string;
  type: string;
  /** [type number, name, value bytes] in wire order */
  fields: [number, string, Uint8Array][];
  /** the trailer netstring as sent, e.g. `42:1 b1e7...,` */
  trailer: string;
}

function text(): string {
  return readFileSync(capture_file, "latin1");
}

export function capturedPackets(): CapturedPacket[] {
  const out: CapturedPacket[] = [];
  const part1 = text().split("## Part 1")[1]!.split("## Part 2")[0]!;
  let cur: { header: string; hex: string } | null = null;
  const flush = () => {
    if (!cur) return;
    const all = Buffer.from(cur.hex, "hex");
    const ihl = (all[0]! & 0x0f) * 4;
    out.push({ header: cur.header, payload: new Uint8Array(all.subarray(ihl + 8)) });
  };
  for (const line of part1.split("\n")) {
    if (/^\d\d:\d\d:\d\d\.\d+ IP /.test(line)) {
      flush();
      cur = { header: line, hex: "" };
      continue;
    }
    const m = /^\s+0x[0-9a-f]{4}:\s\s((?:[0-9a-f]{4}|[0-9a-f]{2})(?: (?:[0-9a-f]{4}|[0-9a-f]{2}))*)(?:\s\s|$)/.exec(line);
    if (m && cur) cur.hex += m[1]!.replaceAll(" ", "");
  }
  flush();
  return out;
}

export function capturedDecodes(): CapturedDecode[] {
  const out: CapturedDecode[] = [];
  const rest = text().split("## Part 2")[1]!.split("## Part 4")[0]!;
  let cur: CapturedDecode | null = null;
  for (const line of rest.split("\n")) {
    const h = /^\d+\.\d+ \S+ > \S+ len=\d+ format=netstring t=(\S+)$/.exec(line);
    if (h) {
      cur = { header: line, type: h[1]!, fields: [], trailer: "" };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const f = /^    \((\d) \w+\) (\S+) = (.*)$/.exec(line);
    if (f) {
      const v = f[3]!;
      const bytes = v.startsWith("hex:") ? Buffer.from(v.slice(4), "hex") : Buffer.from(v, "latin1");
      cur.fields.push([Number(f[1]), f[2]!, new Uint8Array(bytes)]);
      continue;
    }
    const t = /^    trailer = (.*)$/.exec(line);
    if (t) cur.trailer = t[1]!;
  }
  return out;
}
