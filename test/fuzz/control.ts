// Control socket fuzzing against a real daemon: mutated JSON lines (and
// random bytes) on one connection. Invariants: every non-blank line gets
// exactly one reply, each reply is one JSON object with a boolean `ok`, a
// failure says why in `error`, and the daemon still answers status after.
// Lines stay under the protocol's 64 KiB limit (longer ones close the
// connection by design; the unit tests cover that).
import net from "node:net";
import { common_words, mutateBytes, mutateText, Prng, randomBytes } from "./mutate.ts";

const corpus = [
  '{"cmd":"status"}',
  '{"cmd":"ping"}',
  '{"cmd":"standby","scope":"all"}',
  '{"cmd":"takeover","scope":"none"}',
  '{"cmd":"fence-confirm","node":"node2"}',
  '{"cmd":"standby","scope":{"__proto__":{"x":1}}}',
  '[{"cmd":"status"}]',
];
const words = ['"cmd"', '"status"', '"standby"', '"scope"', "null", "true", "1e400", "-0", '"\\u0000"', "{", "}", "[", "]", ":", ",", '"__proto__"', '"constructor"', ...common_words];

export interface ControlFuzzReport {
  lines: number;
  replies: number;
  bad_replies: string[];
  max_reply_ms: number;
}

/** One request line from the seed: never contains "\n" (the frame delimiter) and stays under 64 KiB. */
export function controlLine(r: Prng): string {
  const mode = r.int(0, 9);
  let s: string;
  if (mode === 0) s = new TextDecoder().decode(randomBytes(r, 300));
  else if (mode < 4) s = new TextDecoder().decode(mutateBytes(r, new TextEncoder().encode(r.pick(corpus)), [], 4000));
  else if (mode < 6) s = mutateText(r, r.pick(corpus), words);
  else {
    // structure-aware: a well-formed object with random keys and values
    const keys = ["cmd", "scope", "node", "x", "__proto__"];
    const vals = ["status", "standby", "takeover", "fence-confirm", "ping", "all", "none", "local", "foreign", "node1", "node2", "", 0, -1, 1e308, null, true, [], {}, "x".repeat(r.int(0, 3000))];
    const o: Record<string, unknown> = {};
    for (let i = r.int(0, 4); i >= 0; i--) o[r.pick(keys)] = r.pick(vals);
    s = JSON.stringify(o);
  }
  return s.replaceAll("\n", " ").slice(0, 60_000);
}

export async function fuzzControl(socket: string, seed: number, lines: number, batch = 64): Promise<ControlFuzzReport> {
  const r = new Prng(seed);
  const rep: ControlFuzzReport = { lines: 0, replies: 0, bad_replies: [], max_reply_ms: 0 };
  const conn = net.createConnection(socket);
  await new Promise<void>((ok, fail) => {
    conn.once("connect", ok);
    conn.once("error", fail);
  });
  let buf = "";
  let waiting: (() => void) | null = null;
  conn.setEncoding("utf8");
  conn.on("data", (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      rep.replies++;
      try {
        const v = JSON.parse(line) as { ok?: unknown; error?: unknown };
        if (typeof v !== "object" || v === null || typeof v.ok !== "boolean" || (v.ok === false && typeof v.error !== "string")) {
          if (rep.bad_replies.length < 10) rep.bad_replies.push(line.slice(0, 200));
        }
      } catch {
        if (rep.bad_replies.length < 10) rep.bad_replies.push(`not JSON: ${line.slice(0, 200)}`);
      }
    }
    waiting?.();
  });
  let closed = false;
  conn.on("close", () => {
    closed = true;
    waiting?.();
  });
  try {
    for (let sent = 0; sent < lines && !closed; ) {
      const n = Math.min(batch, lines - sent);
      const want = rep.replies;
      let expect = 0;
      let out = "";
      for (let i = 0; i < n; i++) {
        const l = controlLine(r);
        out += `${l}\n`;
        if (l.trim() !== "") expect++;
      }
      const t0 = performance.now();
      conn.write(out);
      rep.lines += n;
      sent += n;
      // bounded wait for this batch's replies
      const deadline = t0 + 10_000;
      while (rep.replies < want + expect && !closed && performance.now() < deadline) {
        await new Promise<void>((ok) => {
          waiting = ok;
          setTimeout(ok, 200);
        });
        waiting = null;
      }
      rep.max_reply_ms = Math.max(rep.max_reply_ms, performance.now() - t0);
      if (rep.replies !== want + expect) {
        rep.bad_replies.push(`batch ending at line ${sent}: ${rep.replies - want} replies for ${expect} requests${closed ? " (connection closed)" : ""}`);
        break;
      }
    }
  } finally {
    conn.destroy();
  }
  return rep;
}
