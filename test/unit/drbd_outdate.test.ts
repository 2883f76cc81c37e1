// The DRBD outdate channel (tandem's dopd): the body codec (never throws on
// any input), the replay and generation rules, the requester's repeats and
// the peer's decisions (src/core/outdate.ts), the fence-peer handler's exit
// codes (src/cli/drbd.ts), DRBD_ADM_OUTDATE's bytes, and two DrbdOutdater
// adapters talking through the real native codec.
import { describe, expect, test } from "bun:test";
import {
  acceptFrame,
  ask,
  decodeOutdateBody,
  encodeOutdateBody,
  exitForAnswer,
  initialOutdateState,
  isFinal,
  onReply,
  onRequest,
  OutdateResult,
  type OutdateResultName,
  outdateDeadline,
  outdateDone,
  outdateOutcome,
  outdatePlan,
  outdateTick,
  outdate_body_size_max,
  poll_gone_ms,
  type VolumeState,
} from "../../src/core/outdate.ts";
import { fencePeerVerdict, type PeerReport } from "../../src/cli/drbd.ts";
import { DRBD_ADM_OUTDATE, DrbdNetlink, type DrbdStatus, type GenlAddon, splitMessages } from "../../src/agents/drbd_netlink.ts";
import { DrbdOutdater, type OutdateKernel } from "../../src/daemon/drbd_outdate.ts";
import { NativeCodec } from "../../src/wire/native.ts";
import { FrameKind } from "../../src/wire/types.ts";
import { parseAuthKeys } from "../../src/config/authkeys.ts";
import { mac_len_by_method, macInto } from "../../src/wire/auth.ts";

const req = (id: number, node = "node2", resource = "r0") => encodeOutdateBody({ id, result: null, node, resource, detail: "" });
const rep = (id: number, result: OutdateResultName, node = "node1", resource = "r0", detail = "") => encodeOutdateBody({ id, result, node, resource, detail });

describe("outdate body codec", () => {
  test("request and reply round-trip; names and lengths are checked", () => {
    const d = decodeOutdateBody(req(7), "request");
    expect(d).toEqual({ ok: true, body: { id: 7, result: null, node: "node2", resource: "r0", detail: "" } });
    const r = decodeOutdateBody(rep(0xffff_ffff, "outdated", "node1", "r0", "minor 0: SS_SUCCESS"), "reply");
    expect(r).toEqual({ ok: true, body: { id: 0xffff_ffff, result: "outdated", node: "node1", resource: "r0", detail: "minor 0: SS_SUCCESS" } });
    // a request is not a reply and the reverse
    expect(decodeOutdateBody(req(7), "reply")).toEqual({ ok: false, reason: "unknown_result" });
    expect(decodeOutdateBody(rep(7, "primary"), "request")).toEqual({ ok: false, reason: "request_with_result" });
    // our own detail is cleaned and cut, never refused
    const long = decodeOutdateBody(rep(1, "error", "node1", "r0", `x\n${"y".repeat(500)}`), "reply");
    expect(long.ok && long.body.detail).toBe(`x?${"y".repeat(198)}`);
    expect(() => encodeOutdateBody({ id: 1, result: null, node: "bad name", resource: "r0", detail: "" })).toThrow();
    expect(() => encodeOutdateBody({ id: 1, result: null, node: "n", resource: "r/0", detail: "" })).toThrow();
    // the largest body fits a frame with a 64-byte name and a 64-byte MAC (frame_size_max 1400)
    expect(outdate_body_size_max).toBeLessThan(1400 - 26 - 64 - 64);
  });

  test("bad bodies are refused by name: short, version, lengths, trailing bytes, names, result ids", () => {
    const good = rep(3, "outdated", "node1", "r0", "ok");
    expect(decodeOutdateBody(good.subarray(0, 8), "reply")).toEqual({ ok: false, reason: "short" });
    const v = good.slice();
    v[0] = 2;
    expect(decodeOutdateBody(v, "reply")).toEqual({ ok: false, reason: "bad_version" });
    expect(decodeOutdateBody(new Uint8Array([...good, 0]), "reply")).toEqual({ ok: false, reason: "bad_length" });
    const res = good.slice();
    res[9] = 0x20; // a blank in the node name
    expect(decodeOutdateBody(res, "reply")).toEqual({ ok: false, reason: "bad_node" });
    const unknown = good.slice();
    unknown[5] = 200;
    expect(decodeOutdateBody(unknown, "reply")).toEqual({ ok: false, reason: "unknown_result" });
    expect(decodeOutdateBody(new Uint8Array(2000), "reply")).toEqual({ ok: false, reason: "too_big" });
  });

  test("fuzz: random bytes, truncations and bit flips never throw (20,000 inputs)", () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 0x1_0000_0000);
    const seeds = [req(1), rep(2, "connected", "node1", "r0", "minor 0: SS_CONNECTED_OUTDATES")];
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      let b: Uint8Array;
      if (i % 3 === 0) b = Uint8Array.from({ length: Math.floor(rnd() * 420) }, () => Math.floor(rnd() * 256));
      else {
        b = seeds[i % 2]!.slice(0, Math.max(0, seeds[i % 2]!.length - (i % 5 === 0 ? Math.floor(rnd() * 10) : 0)));
        for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) if (b.length) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8);
      }
      for (const kind of ["request", "reply"] as const) {
        const d = decodeOutdateBody(b, kind);
        if (d.ok) {
          accepted++;
          // whatever is accepted re-encodes to the same bytes
          expect(encodeOutdateBody(d.body)).toEqual(b);
        }
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

describe("replay and generation rules (acceptFrame)", () => {
  test("only from a peer membership has up, in exactly its generation, with a rising seq", () => {
    const s = initialOutdateState({ self: "node1", keepalive_ms: 100, first_id: 1 });
    const up = { state: "up", generation: 5 };
    expect(acceptFrame(s, { node: "node1", generation: 5, seq: 1 }, up)).toBe("self");
    expect(acceptFrame(s, { node: "node3", generation: 5, seq: 1 }, undefined)).toBe("unknown_node");
    expect(acceptFrame(s, { node: "node2", generation: 5, seq: 1 }, { state: "dead", generation: 5 })).toBe("not_up");
    expect(acceptFrame(s, { node: "node2", generation: 4, seq: 9 }, up)).toBe("old_generation");
    expect(acceptFrame(s, { node: "node2", generation: 6, seq: 1 }, up)).toBe("generation_not_heard");
    expect(acceptFrame(s, { node: "node2", generation: 5, seq: 3 }, up)).toBeNull();
    // the copy from the other link, and an older one, are replays
    expect(acceptFrame(s, { node: "node2", generation: 5, seq: 3 }, up)).toBe("replay");
    expect(acceptFrame(s, { node: "node2", generation: 5, seq: 2 }, up)).toBe("replay");
    expect(acceptFrame(s, { node: "node2", generation: 5, seq: 4 }, up)).toBeNull();
    // the peer restarted (membership heard generation 6): its seq starts again
    expect(acceptFrame(s, { node: "node2", generation: 6, seq: 1 }, { state: "up", generation: 6 })).toBeNull();
    expect(acceptFrame(s, { node: "node2", generation: 5, seq: 99 }, { state: "up", generation: 6 })).toBe("old_generation");
  });
});

describe("requester: one request per handler run, repeated each keepalive until a final answer", () => {
  test("sends at once, repeats after keepalive with a new seq, stops on a final answer, ignores other ids", () => {
    const s = initialOutdateState({ self: "node1", keepalive_ms: 100, first_id: 40 });
    const r = ask(s, { resource: "r0", peer: "node2", fresh: true }, 1000);
    expect(r.id).toBe(40);
    expect(outdateDeadline(s)).toBe(1000);
    const a1 = outdateTick(s, 1000);
    expect(a1).toHaveLength(1);
    expect(a1[0]).toMatchObject({ type: "send", kind: "drbd_outdate_request", seq: 1, to: "node2", id: 40, nth: 1 });
    expect(decodeOutdateBody((a1[0] as { body: Uint8Array }).body, "request")).toMatchObject({ ok: true, body: { id: 40, node: "node2", resource: "r0" } });
    expect(outdateTick(s, 1050)).toEqual([]);
    expect(outdateDeadline(s)).toBe(1100);
    ask(s, { resource: "r0", peer: "node2", fresh: false }, 1090);
    expect(outdateTick(s, 1100)[0]).toMatchObject({ seq: 2, nth: 2, id: 40 });
    // an answer to another id (an earlier run) or from another node does not count
    expect(onReply(s, "node2", rep(39, "outdated"), 1110)[0]).toMatchObject({ type: "ignored" });
    expect(onReply(s, "node3", rep(40, "outdated"), 1110)[0]).toMatchObject({ type: "ignored" });
    expect(onReply(s, "node2", rep(40, "outdated", "node9"), 1110)[0]).toMatchObject({ type: "ignored" });
    // a transient answer keeps the request going
    expect(onReply(s, "node2", rep(40, "connected", "node1", "r0", "minor 0 Secondary Connected UpToDate"), 1120)).toEqual([
      { type: "answer", resource: "r0", peer: "node2", id: 40, result: "connected", detail: "minor 0 Secondary Connected UpToDate", final: false },
    ]);
    expect(outdateTick(s, 1200)[0]).toMatchObject({ seq: 3, nth: 3 });
    expect(onReply(s, "node2", rep(40, "outdated"), 1210)[0]).toMatchObject({ type: "answer", result: "outdated", final: true });
    // a copy of the answer, later: nothing new
    expect(onReply(s, "node2", rep(40, "outdated"), 1211)).toEqual([]);
    expect(outdateTick(s, 1400)).toEqual([]);
    expect(ask(s, { resource: "r0", peer: "node2", fresh: false }, 1400).answer?.result).toBe("outdated");
    // the next handler run is a new request
    const r2 = ask(s, { resource: "r0", peer: "node2", fresh: true }, 2000);
    expect(r2.id).toBe(41);
    expect(r2.answer).toBeNull();
  });

  test("a request nobody polls any more is abandoned and stops being sent", () => {
    const s = initialOutdateState({ self: "node1", keepalive_ms: 100, first_id: 1 });
    ask(s, { resource: "r0", peer: "node2", fresh: true }, 0);
    let sends = 0;
    let abandoned = 0;
    for (let t = 0; t <= poll_gone_ms + 1000; t += 50) {
      for (const a of outdateTick(s, t)) {
        if (a.type === "send") sends++;
        if (a.type === "abandoned") abandoned++;
      }
    }
    expect(abandoned).toBe(1);
    expect(sends).toBe(poll_gone_ms / 100 + 1);
    expect(outdateDeadline(s)).toBe(Infinity);
  });
});

describe("the peer's side", () => {
  test("onRequest starts the kernel work once per resource; every asker gets the answer", () => {
    const s = initialOutdateState({ self: "node2", keepalive_ms: 100, first_id: 1 });
    expect(onRequest(s, "node1", req(9))).toEqual([{ type: "outdate", resource: "r0", from: "node1", id: 9 }]);
    // the repeat while the kernel works: no second run, no second reply
    expect(onRequest(s, "node1", req(9))).toEqual([]);
    expect(onRequest(s, "node3", req(4))).toEqual([]);
    expect(onRequest(s, "node1", req(9, "node3"))[0]).toMatchObject({ type: "ignored", reason: "request for node3" });
    const done = outdateDone(s, "r0", "outdated", "minor 0: SS_SUCCESS");
    expect(done.map((a) => a.type === "send" && [a.kind, a.to, a.id, a.result])).toEqual([
      ["drbd_outdate_reply", "node1", 9, "outdated"],
      ["drbd_outdate_reply", "node3", 4, "outdated"],
    ]);
    expect(decodeOutdateBody((done[0] as { body: Uint8Array }).body, "reply")).toMatchObject({ ok: true, body: { node: "node1", id: 9, result: "outdated" } });
    // after the answer, a repeat runs again (the reply may have been lost)
    expect(onRequest(s, "node1", req(9))[0]).toMatchObject({ type: "outdate" });
  });

  const vol = (o: Partial<VolumeState>): VolumeState => ({ minor: 0, role: "Secondary", conn: "WFConnection", disk: "UpToDate", ...o });
  test("outdatePlan: Primary, Diskless, Inconsistent, Outdated, transient and connected states are answered; UpToDate is outdated", () => {
    expect(outdatePlan([])).toMatchObject({ answer: "unknown_resource" });
    expect(outdatePlan([vol({ role: "Primary" })])).toMatchObject({ answer: "primary" });
    expect(outdatePlan([vol({ disk: "Diskless" })])).toMatchObject({ answer: "diskless" });
    expect(outdatePlan([vol({}), vol({ minor: 1, disk: "Inconsistent" })])).toMatchObject({ answer: "inconsistent" });
    expect(outdatePlan([vol({ disk: "Outdated" })])).toMatchObject({ answer: "already_outdated" });
    expect(outdatePlan([vol({ disk: "Negotiating" })])).toMatchObject({ answer: "busy" });
    expect(outdatePlan([vol({ conn: "Connected" })])).toMatchObject({ answer: "connected" });
    expect(outdatePlan([vol({ conn: "StandAlone" }), vol({ minor: 1, disk: "Outdated" }), vol({ minor: 2, disk: "Consistent" })])).toEqual({ outdate: [0, 2] });
  });

  test("outdateOutcome: DRBD's state change results", () => {
    expect(outdateOutcome([{ minor: 0, code: 1, text: "SS_SUCCESS" }]).answer).toBe("outdated");
    expect(outdateOutcome([{ minor: 0, code: 1, text: "" }, { minor: 1, code: -6, text: "" }]).answer).toBe("connected");
    expect(outdateOutcome([{ minor: 0, code: -16, text: "" }]).answer).toBe("inconsistent");
    expect(outdateOutcome([{ minor: 0, code: -19, text: "" }]).answer).toBe("busy");
    expect(outdateOutcome([{ minor: 0, code: 127, text: "ERR_MINOR_INVALID" }])).toEqual({ answer: "error", detail: "minor 0: ERR_MINOR_INVALID" });
  });
});

describe("fence-peer exit codes", () => {
  const base: PeerReport = { peer: "node2", state: "up", fencing: false, fence_phase: null };
  const answered = (result: OutdateResultName, final = isFinal(result)) => fencePeerVerdict({ ...base, outdate: { id: 1, sends: 1, answer: { result, detail: "", final } } });
  test("each final answer maps to DRBD's code; transient answers and no answer keep waiting", () => {
    expect(answered("outdated")?.code).toBe(4);
    expect(answered("already_outdated")?.code).toBe(4);
    expect(answered("primary")?.code).toBe(6);
    expect(answered("inconsistent")?.code).toBe(3);
    expect(answered("diskless")?.code).toBe(3);
    expect(answered("no_drbd")?.code).toBe(1);
    expect(answered("no_drbd")?.why).toContain("nothing vouches for its data");
    expect(answered("unknown_resource")?.code).toBe(1);
    for (const r of ["connected", "busy", "error"] as const) expect(answered(r)).toBeNull();
    expect(fencePeerVerdict({ ...base, outdate: { id: 1, sends: 3, answer: null } })).toBeNull();
    expect(fencePeerVerdict(base)).toBeNull(); // an older daemon: no outdate field
    // every result id has a code, and only the final ones end the wait
    for (const r of Object.keys(OutdateResult) as OutdateResultName[]) expect([1, 3, 4, 6]).toContain(exitForAnswer(r));
  });

  test("a dead peer is decided by membership and fencing, whatever it answered before", () => {
    const stale = { id: 1, sends: 1, answer: { result: "outdated", detail: "", final: true } };
    expect(fencePeerVerdict({ ...base, state: "dead", outdate: stale })?.code).toBe(5);
    expect(fencePeerVerdict({ ...base, state: "dead", fencing: true, fence_phase: "done" })?.code).toBe(7);
    expect(fencePeerVerdict({ ...base, state: "dead", fencing: true, fence_phase: "fencing" })).toBeNull();
  });
});

describe("DRBD_ADM_OUTDATE on the wire", () => {
  test("one genl request, command 25, the minor in DRBD's header, no attributes; the state change result comes back", async () => {
    const sent: Uint8Array[] = [];
    const msg = (type: number, seq: number, payload: number[]) => {
      const b = new Uint8Array(16 + payload.length);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, b.length, true);
      dv.setUint16(4, type, true);
      dv.setUint32(8, seq, true);
      b.set(payload, 16);
      return b;
    };
    const addon: GenlAddon = {
      genlTransact: async (bytes) => {
        sent.push(bytes.slice());
        const [m] = splitMessages(bytes);
        // nlctrl: family drbd is id 0x1c, version 1, hdrsize 8
        if (m!.type === 0x10) return msg(0x10, m!.seq, [1, 2, 0, 0, 6, 0, 1, 0, 0x1c, 0, 0, 0, 8, 0, 3, 0, 1, 0, 0, 0, 8, 0, 4, 0, 8, 0, 0, 0]);
        // reply: cmd 25, minor 3, ret_code -6 (SS_CONNECTED_OUTDATES)
        return msg(0x1c, m!.seq, [25, 1, 0, 0, 3, 0, 0, 0, 0xfa, 0xff, 0xff, 0xff]);
      },
    };
    const r = await new DrbdNetlink(addon).outdate(3, 1000);
    expect(r).toEqual({ code: -6, text: null });
    const [m] = splitMessages(sent[1]!);
    expect(m!.type).toBe(0x1c);
    expect(m!.payload[0]).toBe(DRBD_ADM_OUTDATE);
    expect(DRBD_ADM_OUTDATE).toBe(25);
    expect(new DataView(m!.payload.buffer, m!.payload.byteOffset).getUint32(4, true)).toBe(3);
    expect(m!.payload.length).toBe(4 + 8);
  });
});

describe("two DrbdOutdater adapters through the native codec", () => {
  const keys = parseAuthKeys("auth 1\n1 sha256 outdate-test-secret\n", "authkeys");
  if (!keys.keys) throw new Error("authkeys");
  const codec = new NativeCodec(keys.keys);

  function pair(kernel2: OutdateKernel) {
    const wire: { to: "node1" | "node2"; bytes: Uint8Array }[] = [];
    const logs: string[] = [];
    let now = 0;
    const mk = (self: "node1" | "node2", gen: number, kernel?: OutdateKernel) =>
      new DrbdOutdater({
        self,
        keepalive_ms: 100,
        send: (kind, seq, body) => wire.push({ to: self === "node1" ? "node2" : "node1", bytes: codec.encode({ kind, node: self, generation: gen, seq, body }) }),
        member: (node) => ({ state: "up", generation: node === "node1" ? 11 : 22 }),
        log: (e, f) => logs.push(`${self} ${e} ${JSON.stringify(f)}`),
        changed: () => {},
        kernel: kernel ? async () => kernel : undefined,
        now_ms: () => now,
      });
    const n1 = mk("node1", 11);
    const n2 = mk("node2", 22, kernel2);
    const deliver = async (copies = 2) => {
      for (let i = 0; i < 20 && wire.length > 0; i++) {
        const { to, bytes } = wire.shift()!;
        // every link carries a copy: the second is a replay
        for (let c = 0; c < copies; c++) {
          const d = codec.decode(bytes);
          if (!d.ok) throw new Error(d.reason);
          (to === "node1" ? n1 : n2).onFrame(d.frame);
        }
        await Bun.sleep(0);
        await Bun.sleep(0);
      }
    };
    return { n1, n2, wire, logs, deliver, advance: (ms: number) => (now += ms) };
  }

  test("a kind this build does not know (what an older peer sees in ours) is dropped as unknown_kind, after the MAC", () => {
    const bytes = codec.encode({ kind: "drbd_outdate_request", node: "node1", generation: 1, seq: 1, body: req(1) });
    expect(bytes[5]).toBe(3);
    bytes[5] = 200;
    const key = keys.keys!.active;
    const mac_len = mac_len_by_method[key.method];
    macInto(key, bytes.subarray(0, bytes.length - mac_len), bytes.subarray(bytes.length - mac_len));
    expect(codec.decode(bytes)).toEqual({ ok: false, reason: "unknown_kind", node: "node1" });
  });

  const status = (o: Partial<DrbdStatus>): DrbdStatus =>
    ({ minor: 0, resource: "r0", volume: 0, role: "Secondary", peer: "Unknown", conn: "WFConnection", disk: "UpToDate", pdsk: "DUnknown", susp: false, susp_nod: false, susp_fen: false, raw: 0, capacity_sectors: 1, out_of_sync_kib: 0, resync_total_kib: null, ...o }) as DrbdStatus;

  test("the peer outdates its Secondary disk once and the requester gets 'outdated'; status records both sides", async () => {
    let disk = "UpToDate";
    const calls: number[] = [];
    const k: OutdateKernel = {
      resourceStatus: async () => [status({ disk })],
      outdate: async (minor) => {
        calls.push(minor);
        disk = "Outdated";
        return { code: 1, text: null };
      },
    };
    const p = pair(k);
    expect(FrameKind.drbd_outdate_request).toBe(3);
    const r = p.n1.ask("r0", "node2", true);
    expect(p.wire).toHaveLength(1);
    await p.deliver();
    await Bun.sleep(5);
    await p.deliver();
    const v = p.n1.ask("r0", "node2", false);
    expect(v.answer).toMatchObject({ result: "outdated" });
    expect(v.id).toBe(r.id);
    expect(calls).toEqual([0]);
    expect(p.n1.status()).toEqual([expect.objectContaining({ resource: "r0", peer: "node2", direction: "asked", id: r.id, count: 1, result: "outdated" })]);
    expect(p.n2.status()).toEqual([expect.objectContaining({ resource: "r0", peer: "node1", direction: "served", id: r.id, count: 1, result: "outdated" })]);
    expect(p.logs.some((l) => l.startsWith("node2 drbd_outdate_done") && l.includes('"result":"outdated"'))).toBe(true);
    // a replayed request (captured earlier) changes nothing on the peer
    const captured = codec.encode({ kind: "drbd_outdate_request", node: "node1", generation: 11, seq: 1, body: req(r.id) });
    const d = codec.decode(captured);
    if (!d.ok) throw new Error(d.reason);
    p.n2.onFrame(d.frame);
    await Bun.sleep(5);
    expect(calls).toEqual([0]);
    expect(p.wire).toHaveLength(0);
  });

  test("no DRBD on the peer: the answer is no_drbd at once (final), and the handler's verdict is exit 1", async () => {
    const err = Object.assign(new Error("kernel: no generic netlink family drbd: load the module (modprobe drbd)"), { code: "ENOENT" });
    const p = pair({ resourceStatus: async () => Promise.reject(err), outdate: async () => Promise.reject(err) });
    p.n1.ask("r0", "node2", true);
    await p.deliver();
    await Bun.sleep(5);
    await p.deliver();
    const v = p.n1.ask("r0", "node2", false);
    expect(v.answer).toMatchObject({ result: "no_drbd" });
    expect(v.answer!.detail).toContain("modprobe drbd");
    const verdict = fencePeerVerdict({ peer: "node2", state: "up", fencing: false, fence_phase: null, outdate: { id: v.id, sends: v.sends, answer: { ...v.answer!, final: isFinal(v.answer!.result) } } });
    expect(verdict?.code).toBe(1);
  });
});
