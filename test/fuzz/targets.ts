// Fuzz targets: every decoder tandem feeds with bytes it did not write.
// Each target builds a corpus of real, valid inputs (encoded by tandem's own
// encoders, read from the fixtures, or printed by the installed agents), then
// yields random, mutated and structure-aware inputs from a seeded PRNG. run()
// feeds one input to the real decoder and checks the target's invariants;
// a violation throws FuzzViolation. Any other exception is a crash unless the
// target documents it (allowed()).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BoundedOutput } from "../../src/agents/output.ts";
import { parseOcfMetadata } from "../../src/agents/metadata.ts";
import { OcfMetadataError } from "../../src/agents/types.ts";
import { parseAuthKeys } from "../../src/config/authkeys.ts";
import { checkHaCf, directives } from "../../src/config/hacf.ts";
import { parseHaResources } from "../../src/config/haresources.ts";
import type { AuthKey, AuthKeys, Diagnostic } from "../../src/config/types.ts";
import { decodeBody, encodeBody } from "../../src/core/body.ts";
import * as outdate from "../../src/core/outdate.ts";
import * as membership from "../../src/core/membership.ts";
import * as placement from "../../src/core/placement.ts";
import { outputTail } from "../../src/fencing/attempt.ts";
import { HeartbeatSerialFramer, NativeFramer, native_overhead_bytes } from "../../src/links/framing.ts";
import { computeMac, mac_len_by_method } from "../../src/wire/auth.ts";
import { hbAuthToken } from "../../src/wire/hb_auth.ts";
import { bin, classicText, type HbField, type HbMessage, latin1, parseClassic, parseNetstring, str, toNetstring } from "../../src/wire/hb_msg.ts";
import { HeartbeatCodec, outgoing_max } from "../../src/wire/heartbeat.ts";
import { NativeCodec } from "../../src/wire/native.ts";
import { frame_size_max } from "../../src/wire/types.ts";
import { common_words, concat, mutateBytes, mutateText, type Prng, randomBytes } from "./mutate.ts";

export class FuzzViolation extends Error {
  override name = "FuzzViolation";
}

export type Input = Uint8Array | string;

export interface FuzzInstance {
  input(r: Prng): Input;
  run(input: Input, r: Prng): void;
  /** a documented error of this decoder (anything else thrown is a crash) */
  allowed?(e: unknown): boolean;
}

export interface FuzzTarget {
  name: string;
  /** what the decoder promises on bad input */
  contract: string;
  setup(): FuzzInstance;
}

const fixtures = join(import.meta.dir, "../fixtures");
const enc = new TextEncoder();
const dec = new TextDecoder();
const asBytes = (x: Input) => (typeof x === "string" ? enc.encode(x) : x);
const asText = (x: Input) => (typeof x === "string" ? x : dec.decode(x));

function violation(msg: string): never {
  throw new FuzzViolation(msg);
}

// ---- shared: a membership core that must not move on unauthenticated input ----

const nodes = ["a", "b"];

function memberCore(): membership.MembershipState {
  return membership.initialState(
    { self: "a", nodes, links: ["l1"], generation: 1, keepalive_ms: 100, warntime_ms: 1e8, deadtime_ms: 1e9, initdead_ms: 1e9 },
    0,
  );
}

function memberSnapshot(s: membership.MembershipState): string {
  return JSON.stringify([...s.peers.values()].map((p) => ({ ...p, links: [...p.links] })));
}

function placementCore(): placement.PlacementState {
  return placement.initialState(
    {
      self: "a",
      nodes,
      generation: 1,
      groups: [
        { id: "g0", preferred_node: "a" },
        { id: "web", preferred_node: "b" },
      ],
      auto_failback: "on",
      start_failures_max: 2,
      monitor: { interval_ms: 1000, timeout_ms: 2000, restarts_max: 1 },
      stop_retry_ms: 200,
      fencing_required: false,
      ping_units: 0,
    },
    0,
  );
}

/** Real announcements as a peer would send them. */
function announcements(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const s = placement.initialState({ ...placementCore().cfg, self: "b" }, 0);
  out.push(encodeBody(placement.announcement(s)));
  placement.step(s, { type: "node_up", node: "a", generation: 1 }, 1);
  placement.step(s, { type: "admin", command: "standby", scope: "local" }, 2);
  out.push(encodeBody(placement.announcement(s)));
  placement.step(s, { type: "tick" }, 5000);
  out.push(encodeBody(placement.announcement(s)));
  return out;
}

/** A core fed everything the daemon feeds it for one decoded frame: membership, then placement for a heartbeat body. */
class Pipeline {
  mem = memberCore();
  pl = placementCore();
  now = 1;
  feedFrame(f: { kind: string; node: string; generation: number; seq: number; body: Uint8Array }): void {
    if (f.kind !== "heartbeat" && f.kind !== "leave") return;
    const before = this.mem.peers.get(f.node);
    const seen = before ? { generation: before.generation, seq_max: before.seq_max } : null;
    const acts = membership.step(this.mem, { type: "frame", kind: f.kind, from: f.node, link: "l1", generation: f.generation, seq: f.seq }, this.now);
    for (const a of acts) {
      if (a.type === "node_up") placement.step(this.pl, { type: "node_up", node: a.node, generation: a.generation }, this.now);
      if (a.type === "node_dead") placement.step(this.pl, { type: "node_dead", node: a.node, reason: a.reason }, this.now);
    }
    // the daemon's rule (Daemon.onFrame): only the newest heartbeat's body reaches placement
    const after = this.mem.peers.get(f.node);
    const newest = after?.state === "up" && after.generation === f.generation && after.seq_max === f.seq;
    const repeat = seen !== null && seen.generation === f.generation && seen.seq_max >= f.seq;
    if (f.kind === "heartbeat" && f.body.length > 0 && newest && !repeat) {
      const d = decodeBody(f.body);
      if (d.ok) placement.step(this.pl, { type: "peer_state", node: f.node, announcement: d.value }, this.now);
    }
  }
  undecodable(reason: string): void {
    membership.step(this.mem, { type: "undecodable", reason: reason as "bad_mac", link: "l1" }, this.now);
  }
  snapshot(): string {
    return memberSnapshot(this.mem) + JSON.stringify([...this.pl.peers.entries()]);
  }
}

// ---- native wire ----

const native_key: AuthKey = { index: 1, method: "sha256", key: "a-long-random-secret", line: 2 };
const native_auth: AuthKeys = { file: "authkeys", active: native_key, keys: new Map([[1, native_key]]) };

/** A native frame with arbitrary header fields, correctly signed (structure-aware: gets past the MAC). */
function signNative(r: Prng, body: Uint8Array): Uint8Array {
  const name = r.chance(0.8) ? enc.encode(r.pick(["b", "a", "c", "b".repeat(64)])) : randomBytes(r, 70);
  const mac_len = mac_len_by_method.sha256;
  const header_len = 26;
  const out = new Uint8Array(header_len + name.length + body.length + mac_len);
  const dv = new DataView(out.buffer);
  out.set(new NativeCodec(native_auth).encode({ kind: "heartbeat", node: "b", generation: 1, seq: 1, body: new Uint8Array() }).subarray(0, 4), 0);
  dv.setUint8(4, r.chance(0.9) ? 1 : r.int(0, 255));
  dv.setUint8(5, r.chance(0.8) ? r.int(1, 2) : r.int(0, 255));
  dv.setUint8(6, 1);
  dv.setUint8(7, r.chance(0.9) ? name.length & 0xff : r.int(0, 255));
  const edge = () => r.pick([0n, 1n, 5n, 6n, BigInt(r.int(0, 1e9)), 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]);
  dv.setBigUint64(8, r.chance(0.7) ? BigInt(5 + r.int(0, 3)) : edge());
  dv.setBigUint64(16, r.chance(0.7) ? BigInt(r.int(0, 1e6)) : edge());
  dv.setUint16(24, r.chance(0.9) ? body.length : r.int(0, 0xffff));
  out.set(name, header_len);
  out.set(body, header_len + name.length);
  const signed_len = out.length - mac_len;
  out.set(computeMac(native_key, out.subarray(0, signed_len)), signed_len);
  return out.length > frame_size_max + 100 ? out.subarray(0, frame_size_max + 100) : out;
}

const nativeWire: FuzzTarget = {
  name: "native wire",
  contract: "decode returns {ok:false, reason}; never throws; unauthenticated or replayed input changes no core state",
  setup() {
    const codec = new NativeCodec(native_auth);
    const bodies = announcements();
    const corpus = [
      ...bodies.map((body, i) => codec.encode({ kind: "heartbeat", node: "b", generation: 5, seq: i + 1, body })),
      codec.encode({ kind: "heartbeat", node: "b", generation: 5, seq: 10, body: new Uint8Array() }),
      codec.encode({ kind: "leave", node: "b", generation: 4, seq: 3, body: new Uint8Array() }),
    ];
    const p = new Pipeline();
    // every corpus packet has been seen: a copy of one is a replay
    for (const c of corpus) {
      const d = codec.decode(c);
      if (d.ok) p.feedFrame(d.frame);
    }
    let signed = false;
    return {
      input(r) {
        const mode = r.int(0, 9);
        signed = mode >= 8;
        if (mode === 0) return randomBytes(r, 1500);
        if (mode === 1) return r.pick(corpus).slice(); // replay of a captured packet
        if (signed) return signNative(r, r.chance(0.5) ? mutateBytes(r, r.pick(bodies), bodies, 1200) : r.pick(bodies));
        return mutateBytes(r, r.pick(corpus), corpus, 1600);
      },
      run(input) {
        const b = asBytes(input);
        const before = signed ? "" : p.snapshot();
        const d = codec.decode(b);
        p.now += 1;
        if (!d.ok) p.undecodable(d.reason);
        else p.feedFrame(d.frame);
        if (!signed && p.snapshot() !== before) violation(`unauthenticated or replayed datagram changed core state (decode: ${d.ok ? "ok" : d.reason})`);
      },
    };
  },
};

const placementBody: FuzzTarget = {
  name: "placement body",
  contract: "decodeBody returns {ok:false, reason}; never throws",
  setup() {
    const bodies = announcements();
    return {
      input: (r) => (r.chance(0.1) ? randomBytes(r, 600) : mutateBytes(r, r.pick(bodies), bodies, 2000)),
      run(input) {
        const d = decodeBody(asBytes(input));
        if (d.ok && !Array.isArray(d.value.groups)) violation("decoded body without a group list");
      },
    };
  },
};

const outdateBody: FuzzTarget = {
  name: "drbd outdate body",
  contract: "decodeOutdateBody returns {ok:false, reason}, never throws; what it accepts re-encodes to the same bytes; onRequest/onReply never throw",
  setup() {
    const seeds = [
      outdate.encodeOutdateBody({ id: 7, result: null, node: "b", resource: "r0", detail: "" }),
      outdate.encodeOutdateBody({ id: 0xffff_ffff, result: "connected", node: "a", resource: "r0", detail: "minor 0: SS_CONNECTED_OUTDATES" }),
      outdate.encodeOutdateBody({ id: 1, result: "outdated", node: "a".repeat(64), resource: "r".repeat(127), detail: "d".repeat(200) }),
    ];
    const s = outdate.initialOutdateState({ self: "a", keepalive_ms: 100, first_id: 7 });
    outdate.ask(s, { resource: "r0", peer: "b", fresh: true }, 0);
    return {
      input: (r) => (r.chance(0.1) ? randomBytes(r, 500) : mutateBytes(r, r.pick(seeds), seeds, 600)),
      run(input) {
        const b = asBytes(input);
        for (const kind of ["request", "reply"] as const) {
          const d = outdate.decodeOutdateBody(b, kind);
          if (d.ok && !equalBytes(outdate.encodeOutdateBody(d.body), b)) violation("accepted outdate body does not re-encode to its bytes");
        }
        outdate.onRequest(s, "b", b);
        outdate.onReply(s, "b", b, 1);
        for (const r of [...s.serving.keys()]) outdate.outdateDone(s, r, "busy", "");
      },
    };
  },
};

function equalBytes(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

// ---- Heartbeat 3.0.6 wire ----

const hb_key: AuthKey = { index: 1, method: "sha1", key: "a-long-random-secret", line: 2 };
const hb_auth: AuthKeys = { file: "authkeys", active: hb_key, keys: new Map([[1, hb_key]]) };
const hb_types = ["status", "shutdone", "NS_ackmsg", "NS_rexmit", "NS_nak_rexmit", "resource", "ask_resources", "hb_takeover", "starting", "reqnodes", "replynodes", "ip-request", "ip-request-resp", "stonith", "x"];
const hb_names = ["t", "src", "srcuuid", "seq", "hg", "ts", "ttl", "st", "dt", "protocol", "dest", "destuuid", "ackseq", "firstseq", "lastseq", "rsc_hold", "isstable", "info", "tnd_body", "auth", "nodelist", "comment"];

function hbCodec(self: string, uuid_byte: number): HeartbeatCodec {
  return new HeartbeatCodec({
    self,
    nodes: ["node1", "node2"],
    auth: hb_auth,
    uuid: new Uint8Array(16).fill(uuid_byte),
    generation: 0x6b0392a0,
    deadtime_ms: 500,
    answer_starting_none: true,
    wall_s: () => 0x6b0392a0,
    now_ms: () => 1000,
    random: () => 0.5,
  });
}

/** A Heartbeat message with random fields, signed as Heartbeat signs (trailer and auth field). */
function signHb(r: Prng): Uint8Array {
  const fields: HbField[] = [str("t", r.pick(hb_types))];
  if (r.chance(0.9)) fields.push(str("src", r.pick(["node2", "node1", "nodeX", ""])));
  if (r.chance(0.8)) fields.push(bin("srcuuid", r.chance(0.9) ? new Uint8Array(16).fill(2) : randomBytes(r, 20)));
  for (let i = r.int(0, 8); i > 0; i--) {
    const name = r.pick(hb_names);
    const v = r.pick(["0", "1", "ff", "-1", "fffffffffffffffff", "zz", "", "active", "none", "all", "local", "1 2 3", r.int(0, 1e6).toString(16)]);
    if (r.chance(0.15)) fields.push(bin(name, randomBytes(r, 64)));
    else if (r.chance(0.05)) fields.push({ name, v: { type: "list", value: [v, v] } });
    else if (r.chance(0.05)) fields.push({ name, v: { type: "struct", value: { fields: [str("x", v)] } } });
    else fields.push(str(name, v));
  }
  const msg: HbMessage = { fields };
  if (r.chance(0.2)) {
    // classic text form (serial links), signed by its auth field
    fields.push(str("auth", `1 ${hbAuthToken(hb_key, latin1(classicText(msg, false)))}`));
    return latin1(classicText(msg, true));
  }
  fields.push(str("auth", `1 ${hbAuthToken(hb_key, latin1(classicText(msg, false)))}`));
  const body = toNetstring(msg);
  const auth = `1 ${hbAuthToken(hb_key, body)}`;
  return concat(body, latin1(`${auth.length}:${auth},`));
}

/** The fields a Heartbeat message carries, whatever its framing: what its signature covers. */
function canonicalHb(b: Uint8Array): string | null {
  const n = parseNetstring(b);
  if (n.ok) return classicText(n.value.msg, false);
  const c = parseClassic(b);
  return c.ok ? classicText(c.value, false) : null;
}

function hbCorpus(): Uint8Array[] {
  const peer = hbCodec("node2", 2);
  const bodies = announcements();
  const out: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) out.push(peer.encode({ kind: "heartbeat", node: "node2", generation: 0, seq: 0, body: bodies[i]! }));
  out.push(peer.encode({ kind: "heartbeat", node: "node2", generation: 0, seq: 0, body: new Uint8Array() }));
  out.push(peer.forSerial(out[3]!));
  out.push(peer.encode({ kind: "leave", node: "node2", generation: 0, seq: 0, body: new Uint8Array() }));
  out.push(...peer.takeOutgoing());
  return out;
}

const hbWire: FuzzTarget = {
  name: "heartbeat wire",
  contract: "decode returns {ok:false, reason}; never throws; outgoing queue bounded; unauthenticated input changes no codec or core state",
  setup() {
    const codec = hbCodec("node1", 1);
    const corpus = hbCorpus();
    const p = new Pipeline();
    const canonical_corpus = new Set(corpus.map(canonicalHb));
    const hbPeers = () => JSON.stringify([...(codec as unknown as { peers: Map<string, unknown> }).peers], (_k, v) => (v instanceof Map ? [...v] : v instanceof Uint8Array ? [...v] : v));
    // the first heartbeat is authentic: the codec learns node2
    codec.decode(corpus[0]!);
    codec.takeOutgoing();
    let signed = false;
    return {
      input(r) {
        const mode = r.int(0, 9);
        signed = mode >= 7;
        if (mode === 0) return randomBytes(r, 1500);
        if (signed) return signHb(r);
        return mutateBytes(r, r.pick(corpus), corpus, 4096);
      },
      run(input) {
        const before = signed ? "" : hbPeers() + p.snapshot();
        const d = codec.decode(asBytes(input));
        p.now += 1;
        if (d.ok && d.frame) p.feedFrame({ ...d.frame, node: d.frame.node === "node2" ? "b" : d.frame.node });
        if (!d.ok) p.undecodable(d.reason);
        const out = codec.takeOutgoing();
        if (out.length > outgoing_max) violation(`outgoing queue of ${out.length} > ${outgoing_max}`);
        if (!signed && !d.ok && hbPeers() + p.snapshot() !== before) violation(`undecodable message (${d.reason}) changed codec or core state`);
        if (!signed && d.ok) {
          // Heartbeat signs the message's fields, not its bytes (the classic
          // form's auth covers the re-serialised text, as Heartbeat's does):
          // a mutation may only authenticate if it carries exactly the fields
          // of a captured message, i.e. it is a replay in another spelling.
          const key = canonicalHb(asBytes(input));
          if (key === null || !canonical_corpus.has(key)) violation("a mutated message with different content passed authentication");
        }
      },
    };
  },
};

const hbMsg: FuzzTarget = {
  name: "heartbeat message parser",
  contract: "parseNetstring/parseClassic return {ok:false, reason} with bounded depth/fields; never throw",
  setup() {
    const corpus = hbCorpus();
    return {
      input: (r) => (r.chance(0.05) ? randomBytes(r, 2000) : r.chance(0.3) ? signHb(r) : mutateBytes(r, r.pick(corpus), corpus, 8192)),
      run(input) {
        const b = asBytes(input);
        parseNetstring(b);
        parseClassic(b);
      },
    };
  },
};

// ---- serial framing ----

const serialNative: FuzzTarget = {
  name: "serial framing (native)",
  contract: "push() never throws; buffer bounded by one frame plus one chunk; payloads 1..max bytes",
  setup() {
    const max = frame_size_max;
    let delivered_bad = "";
    const f = new NativeFramer((m) => {
      if (m.length < 1 || m.length > max) delivered_bad = `payload of ${m.length} bytes`;
    }, max);
    const codec = new NativeCodec(native_auth);
    const frames = announcements().map((body, i) => f.encode(codec.encode({ kind: "heartbeat", node: "b", generation: 5, seq: i + 1, body })));
    const corpus = [concat(...frames), ...frames, concat(frames[0]!, enc.encode("\x7eTSL garbage"), frames[1]!)];
    return {
      input: (r) => (r.chance(0.1) ? randomBytes(r, 4000) : mutateBytes(r, r.pick(corpus), corpus, 8000)),
      run(input, r) {
        const b = asBytes(input);
        for (let at = 0; at < b.length; ) {
          const n = r.int(1, 600);
          const chunk = b.subarray(at, at + n);
          f.push(chunk);
          at += n;
          if (f.buffered_bytes > max + native_overhead_bytes + chunk.length) violation(`framer holds ${f.buffered_bytes} bytes`);
        }
        if (delivered_bad) violation(delivered_bad);
        if (r.chance(0.1)) f.reset();
      },
    };
  },
};

const serialHb: FuzzTarget = {
  name: "serial framing (heartbeat)",
  contract: "push() never throws; buffer bounded by message_bytes_max",
  setup() {
    const max = 4096;
    const f = new HeartbeatSerialFramer(() => {}, max);
    const corpus = hbCorpus().filter((m) => m[0] === 0x3e); // ">>>" classic messages
    const peer = hbCodec("node2", 2);
    for (const m of hbCorpus()) if (m[0] === 0x23) corpus.push(peer.forSerial(m.subarray(0, m.length)));
    return {
      input: (r) => (r.chance(0.1) ? randomBytes(r, 6000) : mutateBytes(r, concat(r.pick(corpus), r.pick(corpus)), corpus, 16000)),
      run(input, r) {
        const b = asBytes(input);
        for (let at = 0; at < b.length; ) {
          const n = r.int(1, 300);
          f.push(b.subarray(at, at + n));
          at += n;
          if (f.buffered_bytes > max + 1) violation(`framer holds ${f.buffered_bytes} bytes`);
        }
      },
    };
  },
};

// ---- configuration files ----

function fixtureFiles(file: string): string[] {
  const out: string[] = [];
  const root = join(fixtures, "config");
  for (const group of readdirSync(root)) {
    for (const d of readdirSync(join(root, group))) {
      try {
        out.push(readFileSync(join(root, group, d, file), "utf8"));
      } catch {
        // this fixture has no such file
      }
    }
  }
  return out;
}

function checkShape(ds: Diagnostic[], text: string): void {
  const lines = text.split("\n").length;
  for (const d of ds) {
    if (d.severity !== "error" && d.severity !== "warning") violation(`diagnostic severity ${d.severity}`);
    if (!Number.isInteger(d.line) || d.line < 0 || d.line > lines) violation(`diagnostic line ${d.line} outside 0..${lines}`);
    if (typeof d.message !== "string" || d.message.length === 0 || d.message.length > 2000) violation(`diagnostic message of ${d.message?.length} chars`);
  }
}

function textInput(r: Prng, corpus: string[], words: readonly string[]): Input {
  const mode = r.int(0, 19);
  if (mode === 0) return randomBytes(r, 2048);
  if (mode === 1) return mutateBytes(r, enc.encode(r.pick(corpus)), [], 1 << 16);
  return mutateText(r, r.pick(corpus), words);
}

const hacf: FuzzTarget = {
  name: "ha.cf",
  contract: "checkHaCf never throws; diagnostics carry a line in the file and a message; config null iff an error",
  setup() {
    const corpus = fixtureFiles("ha.cf");
    const words = [...Object.keys(directives), ...common_words, "ucast", "eth1", "239.0.2.1", "ff02::1", "fe80::1%eth0", "legacy", "sha1"];
    return {
      input: (r) => textInput(r, corpus, words),
      run(input, r) {
        const h = checkHaCf(input, "ha.cf", { self_node: r.chance(0.5) ? r.pick(["node1", "alice", ""]) : undefined });
        checkShape(h.diagnostics, asText(input));
        if ((h.config === null) !== h.diagnostics.some((d) => d.severity === "error")) violation("config/error mismatch");
      },
    };
  },
};

const haresources: FuzzTarget = {
  name: "haresources",
  contract: "parseHaResources never throws; diagnostics carry a line and a message",
  setup() {
    const corpus = [
      ...fixtureFiles("haresources"),
      "node1 192.0.2.50/26/eth1 ocf:heartbeat:Dummy httpd\n",
      "# tandem: monitor interval=10s timeout=20s\nnode1 IPaddr::192.0.2.51/24/eth0 Filesystem::/dev/sdb1::/data::ext4 \\\n  systemd:nginx\nnode2 ocf:heartbeat:Dummy::state=/tmp/x lsbsvc\n",
    ];
    const words = [...common_words, "IPaddr::", "ocf:heartbeat:Dummy", "systemd:x.service", "::", "\\", "# tandem: monitor interval=1s timeout=0", "interval=10s", "timeout=", "lsbsvc", "../../etc/passwd"];
    const dir = join(fixtures, "agents/ha.d");
    return {
      input: (r) => textInput(r, corpus, words),
      run(input, r) {
        const res = parseHaResources(input, "haresources", {
          nodes: r.chance(0.9) ? ["node1", "node2"] : null,
          dir,
          init_dir: join(fixtures, "agents/init.d"),
          resolve: r.chance(0.05),
        });
        checkShape(res.diagnostics, asText(input));
      },
    };
  },
};

const authkeys: FuzzTarget = {
  name: "authkeys",
  contract: "parseAuthKeys never throws; keys null or holding its active key",
  setup() {
    const corpus = fixtureFiles("authkeys");
    const words = [...common_words, "auth", "sha1", "sha256", "md5", "crc", "3", "a-long-random-secret"];
    return {
      input: (r) => textInput(r, corpus, words),
      run(input) {
        const a = parseAuthKeys(input, "authkeys");
        checkShape(a.diagnostics, asText(input));
        if (a.keys && a.keys.keys.get(a.keys.active.index) !== a.keys.active) violation("active key not in the key map");
      },
    };
  },
};

// ---- agent and fence agent output ----

/** Real meta-data printed by installed OCF agents (and the fixtures' own). */
function realMetadata(): string[] {
  const out: string[] = [];
  for (const agent of ["Dummy", "IPaddr2", "Filesystem"]) {
    const p = spawnSync(`/usr/lib/ocf/resource.d/heartbeat/${agent}`, ["meta-data"], { env: { OCF_ROOT: "/usr/lib/ocf", PATH: process.env.PATH }, timeout: 10_000 });
    if (p.status === 0 && p.stdout.length > 0) out.push(p.stdout.toString());
  }
  if (out.length === 0) out.push('<?xml version="1.0"?><resource-agent name="x"><parameters><parameter name="a"><content type="string"/></parameter></parameters><actions><action name="start" timeout="20s"/></actions></resource-agent>');
  return out;
}

const ocfMetadata: FuzzTarget = {
  name: "OCF meta-data",
  contract: "parseOcfMetadata throws only OcfMetadataError; bounded tags",
  setup() {
    const corpus = realMetadata();
    const words = ["<", ">", "/>", "<!--", "-->", "<![CDATA[", "]]>", "<action", 'timeout="', '20s"', '"', "'", "=", "&amp;", "&#x41;", "<?", "?>", ...common_words];
    return {
      input: (r) => (r.chance(0.7) ? mutateText(r, r.pick(corpus), words) : mutateBytes(r, enc.encode(r.pick(corpus)), [], 300_000)),
      run(input) {
        parseOcfMetadata(asText(input));
      },
      allowed: (e) => e instanceof OcfMetadataError,
    };
  },
};

/** Real fence agent and stonith output, as tandem captures it. */
function realFenceOutput(): string[] {
  const out: string[] = [];
  const runs: [string, string[], string][] = [
    ["fence_ipmilan", ["--help"], ""],
    ["stonith", ["-L"], ""],
    ["fence_ipmilan", [], "action=status\nip=192.0.2.1\nusername=x\npassword=y\nlanplus=1\npower_timeout=1\nlogin_timeout=1\n"],
  ];
  for (const [cmd, args, stdin] of runs) {
    const p = spawnSync(cmd, args, { input: stdin, timeout: 15_000 });
    if (p.stdout) out.push(p.stdout.toString() + (p.stderr?.toString() ?? ""));
  }
  out.push("2026-11-24 09:02:53,503 ERROR: Failed: Unable to obtain correct plug status or plug is not available\n\n");
  out.push("Status: OFF\n");
  return out.filter((x) => x.length > 0);
}

const fenceOutput: FuzzTarget = {
  name: "fence agent output",
  contract: "outputTail returns one bounded line; never throws",
  setup() {
    const corpus = realFenceOutput();
    const words = ["Status: OFF", "Status: ON", "DeprecationWarning", "from x import y", "2026-11-24 09:02:53,503 ", "\n", "\r\n", ...common_words];
    return {
      input: (r) => (r.chance(0.7) ? mutateText(r, r.pick(corpus), words) : mutateBytes(r, enc.encode(r.pick(corpus)), [], 200_000)),
      run(input) {
        const t = outputTail(asText(input));
        if (t.length > 300 || t.includes("\n")) violation(`tail of ${t.length} chars${t.includes("\n") ? " with a newline" : ""}`);
      },
    };
  },
};

const agentOutput: FuzzTarget = {
  name: "agent output capture",
  contract: "BoundedOutput keeps at most bytes_max bytes whatever the child prints; text() never throws",
  setup() {
    const corpus = [...realMetadata().map((x) => enc.encode(x)), ...realFenceOutput().map((x) => enc.encode(x))];
    return {
      input: (r) => (r.chance(0.3) ? randomBytes(r, 8000) : mutateBytes(r, r.pick(corpus), corpus, 100_000)),
      run(input, r) {
        const b = asBytes(input);
        const max = r.pick([256, 257, 1000, 4096]);
        const o = new BoundedOutput(max);
        for (let at = 0; at < b.length; ) {
          const n = r.int(1, 2000);
          o.push(b.subarray(at, at + n));
          at += n;
        }
        const t = o.text();
        if (o.total_bytes !== b.length) violation(`counted ${o.total_bytes} of ${b.length} bytes`);
        // kept bytes <= max, each decodes to at most one UTF-16 unit; plus the marker line
        if (t.length > max + 200) violation(`text of ${t.length} chars from a ${max}-byte budget`);
      },
    };
  },
};

export const targets: FuzzTarget[] = [
  nativeWire,
  placementBody,
  outdateBody,
  hbWire,
  hbMsg,
  serialNative,
  serialHb,
  hacf,
  haresources,
  authkeys,
  ocfMetadata,
  fenceOutput,
  agentOutput,
];
