// The Heartbeat 3.0.6 wire codec against real captured packets
// (test/fixtures/heartbeat3, see test/helpers/hb_capture.ts), known
// authentication vectors, its own round trips, refusals and fuzzing.
import { describe, expect, test } from "bun:test";
import type { AuthKey, AuthKeys, AuthMethod } from "../../src/config/types.ts";
import { hbAuthToken, hbCrc } from "../../src/wire/hb_auth.ts";
import {
  classicText,
  fromLatin1,
  getString,
  type HbField,
  type HbMessage,
  latin1,
  parseClassic,
  parseNetstring,
  toNetstring,
} from "../../src/wire/hb_msg.ts";
import { HeartbeatCodec, type HeartbeatCodecOptions, history_len, outgoing_max } from "../../src/wire/heartbeat.ts";
import type { Frame } from "../../src/wire/types.ts";
import { capture_key, capturedDecodes, capturedPackets } from "../helpers/hb_capture.ts";
import { Prng } from "../sim/prng.ts";

function keys(method: AuthMethod, key = capture_key, index = 1): AuthKeys {
  const k: AuthKey = { index, method, key, line: 2 };
  return { file: "authkeys", active: k, keys: new Map([[index, k]]) };
}
const sha1 = keys("sha1");
/** the uuids the capture shows for node1 and node2 */
const uuid1 = new Uint8Array(Buffer.from("182e147eba9f42d5be6143e41963faf3", "hex"));
const uuid2 = new Uint8Array(Buffer.from("d9feaa61da474d09a0d2988db9fe6e9d", "hex"));

function codec(self: "node1" | "node2", o: Partial<HeartbeatCodecOptions> = {}): HeartbeatCodec {
  return new HeartbeatCodec({
    self,
    nodes: ["node1", "node2"],
    auth: sha1,
    uuid: self === "node1" ? uuid1 : uuid2,
    generation: 0x6b0392a0,
    deadtime_ms: 500,
    answer_starting_none: true,
    wall_s: () => 0x6b0392a0,
    now_ms: () => 0,
    random: () => 0.35, // ack trigger 3
    ...o,
  });
}

function fields(bytes: Uint8Array): Record<string, string> {
  const p = parseNetstring(bytes);
  if (!p.ok) throw new Error(`not a netstring message: ${p.reason}`);
  return Object.fromEntries(p.value.msg.fields.map((f) => [f.name, f.v.type === "string" ? f.v.value : f.v.type === "binary" ? Buffer.from(f.v.value).toString("hex") : f.v.type]));
}

describe("captured Heartbeat 3.0.6 packets", () => {
  const packets = capturedPackets();
  test("the fixture holds Part 1's 20 packets", () => {
    expect(packets.length).toBe(20);
    for (const p of packets) expect(fromLatin1(p.payload.subarray(0, 4))).toBe("###\n");
  });

  test("every one decodes with its trailer checked; status -> heartbeat frames with hg and seq", () => {
    const c = { node1: codec("node1"), node2: codec("node2") };
    let frames = 0;
    let acks = 0;
    for (const p of packets) {
      const to = p.header.includes("> 10.99.0.1.") ? c.node1 : c.node2;
      const from = to === c.node1 ? "node2" : "node1";
      const r = to.decode(p.payload);
      if (!r.ok) throw new Error(`${p.header}: ${r.reason}`);
      expect(to.stats.inner_auth_mismatch).toBe(0);
      if (r.frame === null) {
        acks++;
        continue;
      }
      frames++;
      expect(r.frame).toMatchObject({ kind: "heartbeat", node: from, generation: 0x6b039283 });
      expect(r.frame.seq).toBeGreaterThan(0);
    }
    expect(acks).toBe(3); // NS_ackmsg: handled inside the codec
    expect(frames).toBe(17);
  });

  test("the first packet, field by field", () => {
    const r = codec("node1").decode(packets[0]!.payload);
    if (!r.ok || !r.message) throw new Error("no message");
    expect(r.frame).toEqual({ kind: "heartbeat", node: "node2", generation: 0x6b039283, seq: 1, body: new Uint8Array() });
    expect(r.message.view).toEqual({ type: "status", st: "init", dt_ms: 2500, protocol: 1 });
    expect(r.message.msg.fields.map((f) => f.name)).toEqual(["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth"]);
  });

  test("a wrong key or index is refused, as Heartbeat refuses it", () => {
    expect(codec("node1", { auth: keys("sha1", "other-secret") }).decode(packets[0]!.payload)).toMatchObject({ ok: false, reason: "bad_mac" });
    expect(codec("node1", { auth: keys("sha1", capture_key, 2) }).decode(packets[0]!.payload)).toMatchObject({ ok: false, reason: "unknown_key" });
    expect(codec("node1", { auth: keys("md5") }).decode(packets[0]!.payload)).toMatchObject({ ok: false, reason: "bad_mac" });
  });

  test("a node not in ha.cf is refused", () => {
    expect(codec("node1", { nodes: ["node1", "node3"] }).decode(packets[0]!.payload)).toMatchObject({ ok: false, reason: "unknown_node", node: "node2" });
  });

  const decodes = capturedDecodes();
  test("Parts 2 and 3: one of every type seen", () => {
    expect(new Set(decodes.map((d) => d.type))).toEqual(
      new Set(["status", "NS_ackmsg", "reqnodes", "repnodes", "starting", "resource", "ip-request-resp", "stonith"]),
    );
  });
  for (const d of decodes) {
    test(`rebuilt ${d.type} (${d.header.split(" ")[0]}) reproduces both of Heartbeat's sha1 tokens`, () => {
      const msg: HbMessage = {
        fields: d.fields.map(([t, name, v]): HbField => ({ name, v: t === 1 ? { type: "binary", value: v } : { type: "string", value: fromLatin1(v) } })),
      };
      const body = toNetstring(msg);
      const [, token] = d.trailer.replace(/,$/, "").split(" ");
      expect(hbAuthToken(sha1.active, body)).toBe(token!);
      const auth = getString(msg, "auth")!.split(" ")[1]!;
      expect(hbAuthToken(sha1.active, latin1(classicText(msg, false)))).toBe(auth);
      // and the bytes as sent parse back to the same fields
      const sent = new Uint8Array([...body, ...latin1(d.trailer)]);
      const p = parseNetstring(sent);
      expect(p.ok && p.value.msg).toEqual(msg);
      expect(p.ok && p.value.trailer).toEqual({ keyid: 1, token: token! });
    });
  }
});

describe("authentication methods", () => {
  test("md5 is HMAC-MD5 (RFC 2104 vector)", () => {
    expect(hbAuthToken({ index: 1, method: "md5", key: "Jefe", line: 1 }, latin1("what do ya want for nothing?"))).toBe("750c783e6ab0b503eaa86e310a5db738");
  });
  test("sha1 is HMAC-SHA1 (RFC 2202 vector)", () => {
    expect(hbAuthToken({ index: 1, method: "sha1", key: "Jefe", line: 1 }, latin1("what do ya want for nothing?"))).toBe("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  });
  test("crc is the POSIX cksum CRC-32 without the length, printed %lx", () => {
    expect(hbCrc(latin1("123456789"))).toBe(0x765e7680); // CRC-32/POSIX check value
    // Heartbeat's crctab[255] is 0xB1F740B4 (lib/plugins/HBauth/crc.c): one byte 0xff gives ~table[255]
    expect(~hbCrc(new Uint8Array([0xff])) >>> 0).toBe(0xb1f740b4);
    expect(~hbCrc(new Uint8Array([0x01])) >>> 0).toBe(0x04c11db7);
    const crc = { index: 1, method: "crc" as const, key: "", line: 1 };
    // no leading zeros, as printf("%lx")
    let found = false;
    for (let i = 0; i < 5000 && !found; i++) {
      const v = hbCrc(latin1(`x${i}`));
      if (v < 0x10000000) {
        expect(hbAuthToken(crc, latin1(`x${i}`))).toBe(v.toString(16));
        expect(hbAuthToken(crc, latin1(`x${i}`)).length).toBeLessThan(8);
        found = true;
      }
    }
    expect(found).toBe(true);
  });
  test("sha256 cannot talk to Heartbeat: the codec refuses it with the fix", () => {
    expect(() => codec("node1", { auth: keys("sha256") })).toThrow(/sha256.*Heartbeat 3\.0\.6.*sha1/);
  });
});

describe("round trips between two codecs", () => {
  const hb = (node: string, seq: number): Frame => ({ kind: "heartbeat", node, generation: 1, seq, body: new Uint8Array() });
  for (const m of ["sha1", "md5", "crc"] as AuthMethod[]) {
    test(`status and shutdone with ${m}`, () => {
      const a = codec("node1", { auth: keys(m) });
      const b = codec("node2", { auth: keys(m) });
      const s = a.encode(hb("node1", 1));
      expect(fields(s)).toMatchObject({ t: "status", st: "active", dt: "1f4", protocol: "1", src: "node1", seq: "1", hg: "6b0392a0", ts: "6b0392a0", ttl: "3" });
      const r = b.decode(s);
      expect(r).toMatchObject({ ok: true, frame: { kind: "heartbeat", node: "node1", generation: 0x6b0392a0, seq: 1 }, message: { type: "status" } });
      const l = b.decode(a.encode({ ...hb("node1", 2), kind: "leave" }));
      expect(l).toMatchObject({ ok: true, frame: { kind: "leave", seq: 2 }, message: { view: { type: "shutdone", st: "dead" } } });
      // the same message in classic form (serial links, scripts) authenticates by its auth field
      const p = parseNetstring(s);
      if (!p.ok) throw new Error(p.reason);
      const classic = latin1(classicText(p.value.msg, true));
      expect(parseClassic(classic)).toEqual({ ok: true, value: p.value.msg });
      const c = codec("node2", { auth: keys(m) });
      expect(c.decode(classic)).toMatchObject({ ok: true, frame: { kind: "heartbeat", seq: 1 } });
      const bad = classic.slice();
      bad[classic.indexOf(0x3d /* first '=' */) + 1] ^= 1; // t=status -> t=rtatus
      expect(codec("node2", { auth: keys(m) }).decode(bad)).toMatchObject({ ok: false, reason: "bad_mac" });
    });
  }

  test("struct and list fields survive both forms", () => {
    const inner: HbMessage = { fields: [{ name: "a", v: { type: "string", value: "x\ny" } }, { name: "b", v: { type: "binary", value: new Uint8Array([0, 255, 10]) } }] };
    const msg: HbMessage = {
      fields: [
        { name: "t", v: { type: "string", value: "other" } },
        { name: "s", v: { type: "struct", value: inner } },
        { name: "l", v: { type: "list", value: ["one", "two,three", "4:x"] } },
      ],
    };
    const ns = parseNetstring(new Uint8Array([...toNetstring(msg), ...latin1("4:1 ab,")]));
    expect(ns.ok && ns.value.msg).toEqual(msg);
    expect(parseClassic(latin1(classicText(msg, true)))).toEqual({ ok: true, value: msg });
  });

  test("compressed fields are refused by name", () => {
    const raw = latin1("###\n7:(0)t=zz,8:(4)c=abc,%%%\n4:1 ab,");
    expect(parseNetstring(raw)).toEqual({ ok: false, reason: "compressed" });
    const c = codec("node1");
    expect(c.decode(raw)).toMatchObject({ ok: false, reason: "unsupported" });
  });
});

describe("the reliable-delivery protocol", () => {
  /** Heartbeat node2's messages as node1 would receive them (built by a node2 codec). */
  function sender() {
    const n2 = codec("node2");
    let seq = 0;
    return { n2, status: () => n2.encode({ kind: "heartbeat", node: "node2", generation: 1, seq: ++seq, body: new Uint8Array() }) };
  }

  test("acks every tenth seq on the trigger, with dest and destuuid", () => {
    const s = sender();
    const n1 = codec("node1", { random: () => 0.35 });
    const acks: string[] = [];
    for (let i = 1; i <= 25; i++) {
      expect(n1.decode(s.status()).ok).toBe(true);
      for (const o of n1.takeOutgoing()) acks.push(JSON.stringify(fields(o)));
    }
    expect(acks.map((a) => JSON.parse(a).ackseq)).toEqual(["3", "d", "17"]); // 3, 13, 23
    expect(JSON.parse(acks[0]!)).toMatchObject({ t: "NS_ackmsg", dest: "node2", destuuid: Buffer.from(uuid2).toString("hex"), src: "node1" });
    expect(JSON.parse(acks[0]!).seq).toBeUndefined(); // NS_ messages carry no seq
  });

  test("a gap asks for each missing seq (decimal), a retransmission is delivered once, then acked", () => {
    const s = sender();
    let now = 0;
    const n1 = codec("node1", { random: () => 0.55, now_ms: () => now }); // trigger 5
    const sent = Array.from({ length: 8 }, () => s.status());
    for (const i of [0, 1, 2, 5, 6, 7]) n1.decode(sent[i]!);
    const reqs = n1.takeOutgoing().map(fields);
    expect(reqs.map((r) => [r.t, r.firstseq, r.lastseq])).toEqual([["NS_rexmit", "4", "4"], ["NS_rexmit", "5", "5"]]);
    // no ack for 5 while 4 and 5 are missing
    expect(n1.stats.acks_sent).toBe(0);
    expect(n1.decode(sent[3]!)).toMatchObject({ ok: true, message: { seq: 4 } });
    expect(n1.decode(sent[4]!)).toMatchObject({ ok: true, message: { seq: 5 } });
    expect(n1.decode(sent[4]!)).toMatchObject({ ok: true }); // a second copy: no message
    expect(n1.decode(sent[4]!)).not.toHaveProperty("message");
    expect(n1.takeOutgoing().map(fields).map((a) => [a.t, a.ackseq])).toEqual([["NS_ackmsg", "5"]]);
    // a seq that never comes: asked again every second, given up after 3 tries; acks resume
    for (let i = 9; i <= 11; i++) n1.decode(sent[i - 1] ?? s.status());
    n1.takeOutgoing();
    const gap = Array.from({ length: 3 }, () => s.status()); // 12, 13, 14
    n1.decode(gap[0]!);
    n1.decode(gap[2]!);
    expect(n1.takeOutgoing().map(fields).map((r) => [r.t, r.firstseq])).toEqual([["NS_rexmit", "13"]]);
    for (let k = 0; k < 3; k++) {
      now += 1000;
      n1.decode(s.status());
    }
    const out = n1.takeOutgoing().map(fields);
    expect(out.filter((r) => r.t === "NS_rexmit").length).toBe(2);
    expect(n1.stats.lost_seqs).toBe(1);
    expect(out.filter((r) => r.t === "NS_ackmsg").map((r) => r.ackseq)).toEqual(["f"]); // 15
  });

  test("answers NS_rexmit from its history (same bytes), NAKs what it no longer has", () => {
    const n1 = codec("node1");
    const mine = Array.from({ length: history_len + 20 }, (_, i) => n1.encode({ kind: "heartbeat", node: "node1", generation: 1, seq: i + 1, body: new Uint8Array() }));
    const n2 = codec("node2");
    // node2 asks node1 for seq 515 (kept) and 3 (overwritten in the ring)
    const ask = (first: number, last: number) => {
      n2.send([{ name: "t", v: { type: "string", value: "NS_rexmit" } }, { name: "firstseq", v: { type: "string", value: String(first) } }, { name: "lastseq", v: { type: "string", value: String(last) } }], "node1");
      return n2.takeOutgoing()[0]!;
    };
    n1.decode(ask(515, 515));
    expect(n1.takeOutgoing()).toEqual([mine[514]!]);
    n1.decode(ask(515, 515)); // again at once: not resent within 240 ms
    expect(n1.takeOutgoing()).toEqual([]);
    n1.decode(ask(3, 3));
    expect(n1.takeOutgoing().map(fields)).toMatchObject([{ t: "NS_nak_rexmit", firstseq: "3", dest: "node2" }]);
  });

  test("answers reqnodes with the whole node list and starting with `resource none`", () => {
    const n2 = codec("node2");
    const n1 = codec("node1", { nodes: ["node1", "node2"] });
    n1.decode(n2.encode({ kind: "heartbeat", node: "node2", generation: 1, seq: 1, body: new Uint8Array() }));
    n2.send([{ name: "t", v: { type: "string", value: "reqnodes" } }], "node1");
    n2.send([{ name: "t", v: { type: "string", value: "starting" } }]);
    for (const m of n2.takeOutgoing()) n1.decode(m);
    const out = n1.takeOutgoing().map(fields).filter((f) => f.t !== "NS_ackmsg");
    expect(out[0]).toMatchObject({ dest: "node2", t: "repnodes", nodelist: "node1 node2 ", delnodelist: " ", destuuid: Buffer.from(uuid2).toString("hex"), seq: "1" });
    expect(out[1]).toMatchObject({ t: "resource", rsc_hold: "none", rtype: "full", isstable: "1", seq: "2" });
    expect(out.length).toBe(2);
  });

  test("the outgoing queue is bounded", () => {
    const n1 = codec("node1");
    for (let i = 0; i < outgoing_max + 10; i++) n1.send([{ name: "t", v: { type: "string", value: "x" } }]);
    expect(n1.takeOutgoing().length).toBe(outgoing_max);
    expect(n1.stats.outgoing_dropped).toBe(10);
  });

  test("a message to another node keeps the sender alive but is not delivered", () => {
    const n2 = codec("node2");
    const n1 = codec("node1", { nodes: ["node1", "node2", "node3"] });
    n2.send([{ name: "t", v: { type: "string", value: "ip-request-resp" } }], "node3");
    const r = n1.decode(n2.takeOutgoing()[0]!);
    expect(r).toMatchObject({ ok: true, frame: { kind: "heartbeat", node: "node2", seq: 1 } });
    expect(r).not.toHaveProperty("message");
  });
});

describe("fuzz", () => {
  const seed = Number(process.env.HB_FUZZ_SEED ?? Date.now() % 1_000_000);
  const packets = capturedPackets().map((p) => p.payload);
  test(`mutated captured packets never throw and never authenticate (seed ${seed})`, () => {
    const prng = new Prng(seed);
    const rng = { int: (n: number) => prng.int(0, n - 1), pick: <T>(xs: readonly T[]) => prng.pick(xs) };
    const c = codec("node1");
    const t0 = performance.now();
    let n = 0;
    for (; n < 4000 && performance.now() - t0 < 15_000; n++) {
      const orig = packets[rng.int(packets.length)]!;
      let b = orig.slice();
      const kind = rng.int(6);
      if (kind === 0) b[rng.int(b.length)] ^= 1 << rng.int(8);
      else if (kind === 1) b = b.slice(0, rng.int(b.length));
      else if (kind === 2) {
        const at = rng.int(b.length);
        b = new Uint8Array([...b.subarray(0, at), ...latin1(rng.pick(["9999999999:", ",", "(", "(9)", "%%%\n", "###\n", "\0", "=", "0:", ":"])), ...b.subarray(at)]);
      } else if (kind === 3) b[rng.int(b.length)] = rng.int(256);
      else if (kind === 4) b = new Uint8Array(Array.from({ length: rng.int(600) }, () => rng.int(256)));
      else {
        const other = packets[rng.int(packets.length)]!;
        const cut = rng.int(Math.min(b.length, other.length));
        b = new Uint8Array([...b.subarray(0, cut), ...other.subarray(cut)]);
      }
      let r;
      try {
        r = c.decode(b);
      } catch (e) {
        throw new Error(`decode threw on ${JSON.stringify(fromLatin1(b))}: ${(e as Error).stack}`);
      }
      // Only an unchanged packet (or one a splice left identical) may pass
      if (r.ok) expect(packets.some((p) => Buffer.from(p).equals(Buffer.from(b)))).toBe(true);
      expect(() => parseClassic(b)).not.toThrow();
      expect(() => parseNetstring(b)).not.toThrow();
    }
    expect(n).toBeGreaterThan(500);
  });

  test("hostile lengths and nesting are bounded", () => {
    const deep = "###\n".repeat(40);
    expect(parseNetstring(latin1(deep)).ok).toBe(false);
    expect(parseNetstring(latin1(`###\n99999999999999999999:(0)t=x,%%%\n`))).toMatchObject({ ok: false, reason: "bad_length" });
    expect(parseNetstring(new Uint8Array(256 * 1024 + 1))).toEqual({ ok: false, reason: "too_big" });
    const many = `###\n${"7:(0)a=bb,".repeat(300)}%%%\n4:1 ab,`;
    expect(parseNetstring(latin1(many))).toEqual({ ok: false, reason: "too_many_fields" });
    let nested = ">>>\nt=x\n<<<\n";
    for (let i = 0; i < 20; i++) nested = `>>>\n(2)s=${nested.replaceAll("\n", String.fromCharCode(20))}\n<<<\n`;
    expect(parseClassic(latin1(nested)).ok).toBe(false);
  });
});

describe("ha.cf `wire heartbeat`", () => {
  const { mkdtempSync, writeFileSync, rmSync } = require("node:fs") as typeof import("node:fs");
  const { join } = require("node:path") as typeof import("node:path");
  const { tmpdir } = require("node:os") as typeof import("node:os");
  function load(hacf: string, auth: string) {
    const dir = mkdtempSync(join(tmpdir(), "tdm-hbwire-"));
    try {
      writeFileSync(join(dir, "ha.cf"), hacf);
      writeFileSync(join(dir, "authkeys"), auth, { mode: 0o600 });
      const { loadConfig } = require("../../src/config/load.ts") as typeof import("../../src/config/load.ts");
      return loadConfig({ dir, self_node: "node1" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const base = "node node1 node2\nkeepalive 100ms\ndeadtime 500ms\ninitdead 10\nucast lo 127.0.0.1\nauto_failback off\n";
  test("`# tandem: wire heartbeat` selects the Heartbeat format (Heartbeat reads a comment); native is the default", () => {
    expect(load(base, "auth 1\n1 sha256 secret-secret-secret\n").hacf?.wire).toBe("native");
    const l = load(`${base}# tandem: wire heartbeat\n`, "auth 1\n1 sha1 secret-secret-secret\n");
    expect(l.diagnostics).toEqual([]);
    expect(l.hacf?.wire).toBe("heartbeat");
  });
  test("the bare directive works but warns: Heartbeat refuses it (`Illegal directive [wire]`)", () => {
    const l = load(`${base}wire heartbeat\n`, "auth 1\n1 sha1 secret-secret-secret\n");
    expect(l.hacf?.wire).toBe("heartbeat");
    expect(l.diagnostics).toMatchObject([{ severity: "warning", line: 7, message: expect.stringContaining("# tandem: wire heartbeat") }]);
  });
  test("a bad value, a twice-given one and a non-tandem directive in a `# tandem:` comment are reported", () => {
    expect(load(`${base}# tandem: wire hb\n`, "auth 1\n1 sha1 secret-secret-secret\n").diagnostics).toMatchObject([{ severity: "error", line: 7, message: expect.stringContaining("native or heartbeat") }]);
    expect(load(`${base}# tandem: wire heartbeat\n# tandem: wire native\n`, "auth 1\n1 sha1 secret-secret-secret\n").diagnostics).toMatchObject([{ severity: "error", line: 8 }]);
    expect(load(`${base}# tandem: keepalive 2\n`, "auth 1\n1 sha1 secret-secret-secret\n").diagnostics).toMatchObject([{ severity: "warning", line: 7, message: expect.stringContaining("only tandem's own directives") }]);
  });
  test("with a sha256 key it is an error naming authkeys, its line and the fix", () => {
    const l = load(`${base}# tandem: wire heartbeat\n`, "auth 1\n1 sha256 secret-secret-secret\n");
    const e = l.diagnostics.find((d) => d.severity === "error");
    expect(e).toMatchObject({ line: 2, keyword: "authkeys" });
    expect(e!.file.endsWith("authkeys")).toBe(true);
    expect(e!.message).toContain("ha.cf line 7 says `wire heartbeat`");
    expect(e!.message).toContain("1 sha1 SECRET");
    expect(l.authkeys).toBeNull();
  });
});
