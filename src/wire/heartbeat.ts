// The Heartbeat 3.0.6 wire codec (ha.cf `wire heartbeat`): tandem speaks
// to Heartbeat nodes in their own messages. Facts from Heartbeat's source
// (heartbeat/heartbeat.c, hb_resource.c, ha_msg_internal.c, hb_rexmit.c;
// cluster-glue's cl_msg*.c) and the capture in
// test/fixtures/heartbeat3/wire-heartbeat3.txt:
//
// - Every message carries src, srcuuid (16 raw bytes), seq (hex, one
//   counter per node for all types except NS_*), hg (generation, hex), ts
//   (unix time, hex), ttl, and two auth tokens: the netstring trailer
//   (what a 3.0.6 receiver checks) and the classic `auth` field.
// - status (st init|up|active, dt = the sender's deadtime in ms, hex,
//   protocol=1) is the heartbeat. Without `protocol` the receiver turns its
//   flow control off for the whole cluster.
// - Reliable delivery: the receiver acks with NS_ackmsg (dest, ackseq) the
//   seqs with seq % 10 == a per-peer random trigger, once nothing before it
//   is missing; without acks the sender's history fills (500 messages) and
//   it pauses its API clients. A gap makes the receiver send NS_rexmit
//   (firstseq, lastseq: decimal); the sender resends from its history or
//   answers NS_nak_rexmit (firstseq: hex).
// - At startup a node sends reqnodes to the first live peer, once a second,
//   until a repnodes (nodelist "a b ", delnodelist " ") arrives: only then
//   does it set itself active and start its resource logic. A nodelist
//   without some node makes the receiver drop that node from its config.
// - A graceful stop ends with shutdone (st=dead) after the resources are
//   given up; the receiver takes the sender's resources over at once.
// - starting asks the peers for a resource report; the answer is resource
//   (rsc_hold none|local|foreign|all, rtype full, isstable 0|1).
//
// Mapping to tandem: status -> heartbeat frame, shutdone -> leave frame,
// generation = hg, seq = seq; every other message with a seq is also a
// heartbeat frame (it proves the node alive) and, when new and addressed
// to us, a typed message (HbDelivered) for the daemon to route. NS_*
// messages are handled here. Outgoing: heartbeat -> status, leave ->
// shutdone; this codec numbers every outgoing message itself so that
// status, replies and acks share Heartbeat's single seq space.
import type { AuthKeys } from "../config/types.ts";
import { hbAuthSupported, hbAuthToken, hbAuthVerify } from "./hb_auth.ts";
import {
  bin,
  classicText,
  getBinary,
  getHex,
  getString,
  type HbMessage,
  type HbParseError,
  hb_msg_size_max,
  latin1,
  parseAuthString,
  parseClassic,
  parseNetstring,
  str,
  toNetstring,
} from "./hb_msg.ts";
import { isValidNodeName } from "./native.ts";
import type { Codec, DecodeResult, DropReason, Frame } from "./types.ts";

/** Heartbeat's PROTOCOL_VERSION. */
export const hb_protocol_version = 1;
/** ACK_MSG_DIV */
const ack_div = 10;
/** MAXMSGHIST: the sent messages we keep for retransmission. */
export const history_len = 500;
/** FLOWCONTROL_LIMIT: a larger gap restarts the sequence instead of asking. */
const gap_reset = history_len / 2;
/** missing seqs remembered per peer (Heartbeat: MAXMISSING = 500) */
export const missing_max = 64;
/** NS_rexmit requests sent for one gap (Heartbeat complains above MAX_MISSING_PKTS = 20) */
const rexmit_requests_per_gap = 20;
/** max_rexmit_delay (250 ms default) - 10: a message is resent at most this often */
const rexmit_spacing_ms = 240;
/** MAX_REXMIT_BATCH: messages resent for one request */
const rexmit_batch = 50;
/** a missing seq is asked for again after this long, then given up */
const missing_retry_ms = 1000;
const missing_tries = 3;
/** protocol messages queued for sending, oldest dropped beyond this */
export const outgoing_max = 64;
export const uuid_len = 16;
/** binary field of our status messages carrying tandem's announcement (core/body.ts) */
export const body_field = "tnd_body";

export type HbStatus = "init" | "up" | "active";
export type RscHold = "none" | "local" | "foreign" | "all";

/** A message of a Heartbeat peer, new and addressed to us (or to everyone). */
export interface HbDelivered {
  protocol: "heartbeat";
  /** the `t` field */
  type: string;
  from: string;
  seq: number;
  generation: number;
  /** `dest`, when the message names one */
  dest: string | null;
  /** the fields most types need, parsed; everything else is in `msg` */
  view: HbView;
  msg: HbMessage;
}

export type HbView =
  | { type: "status"; st: string; dt_ms: number | null; protocol: number | null }
  | { type: "starting" }
  | { type: "resource"; rsc_hold: string | null; full: boolean; isstable: boolean | null; info: string | null }
  | { type: "ask_resources"; rsc_hold: string | null; info: string | null }
  | { type: "hb_takeover"; rsc_hold: string | null }
  | { type: "ip-request"; ipaddr: string | null }
  | { type: "ip-request-resp"; ipaddr: string | null; weown: boolean | null; ok: string | null }
  | { type: "stonith"; node: string | null; result: string | null }
  | { type: "shutdone"; st: string | null }
  | { type: "reqnodes" }
  | { type: "repnodes"; nodelist: string[]; delnodelist: string[] }
  | { type: "other" };

export interface HeartbeatCodecOptions {
  self: string;
  /** ha.cf's node list, in order (the repnodes reply lists it) */
  nodes: string[];
  auth: AuthKeys;
  /** this node's 16-byte uuid, kept across restarts (Heartbeat: hb_uuid) */
  uuid: Uint8Array;
  /** this incarnation's generation, sent as hg */
  generation: number;
  /** sent as dt: a Heartbeat peer uses it as our dead time */
  deadtime_ms: number;
  /**
   * Answer a peer's `starting` with `resource rsc_hold=none isstable=1`:
   * true when this node runs no resource groups, so that Heartbeat's
   * resource logic can settle. With groups, the resource layer answers.
   */
  answer_starting_none: boolean;
  /** unix seconds (ts); default Date.now()/1000 */
  wall_s?: () => number;
  /** monotonic ms; default performance.now() */
  now_ms?: () => number;
  /** [0,1); picks the ack triggers */
  random?: () => number;
  log?: (event: string, fields: Record<string, string | number | boolean | null>) => void;
}

interface PeerTrack {
  uuid: Uint8Array | null;
  generation: number;
  /** highest seq seen in this generation; 0 = none yet */
  last_seq: number;
  /** seq -> when it was last asked for, and how often */
  missing: Map<number, { asked_ms: number; tries: number }>;
  ack_trigger: number;
  /** the last ackseq we sent */
  acked: number;
  /** the highest of our seqs this peer acked */
  their_ack: number;
}

interface Sent {
  seq: number;
  bytes: Uint8Array;
  resent_ms: number;
}

export interface HeartbeatCodecStats {
  rx_by_type: Record<string, number>;
  acks_sent: number;
  rexmit_requested: number;
  rexmit_answered: number;
  rexmit_nak_sent: number;
  lost_seqs: number;
  inner_auth_mismatch: number;
  outgoing_dropped: number;
  unknown_types: number;
}

const known_types = new Set([
  "status", "starting", "resource", "ask_resources", "hb_takeover", "ip-request", "ip-request-resp",
  "stonith", "shutdone", "reqnodes", "repnodes",
]);

export class HeartbeatCodec implements Codec {
  readonly name = "heartbeat";
  private seq_out = 0;
  /** ring of sent seq'd messages, by seq % history_len */
  private history: (Sent | null)[] = new Array(history_len).fill(null);
  private peers = new Map<string, PeerTrack>();
  private outgoing: Uint8Array[] = [];
  private unknown_logged = new Set<string>();
  private readonly wall_s: () => number;
  private readonly now_ms: () => number;
  private readonly random: () => number;
  private readonly ttl: string;
  readonly stats: HeartbeatCodecStats = {
    rx_by_type: {},
    acks_sent: 0,
    rexmit_requested: 0,
    rexmit_answered: 0,
    rexmit_nak_sent: 0,
    lost_seqs: 0,
    inner_auth_mismatch: 0,
    outgoing_dropped: 0,
    unknown_types: 0,
  };
  /** our status word: active from the start (tandem is ready as soon as it runs) */
  status: HbStatus = "active";

  constructor(private readonly o: HeartbeatCodecOptions) {
    const problem = heartbeatCodecProblem(o.auth);
    if (problem) throw new Error(problem);
    if (o.uuid.length !== uuid_len) throw new Error(`uuid must be ${uuid_len} bytes`);
    this.wall_s = o.wall_s ?? (() => Date.now() / 1000);
    this.now_ms = o.now_ms ?? (() => performance.now());
    this.random = o.random ?? Math.random;
    // Heartbeat: nodecount + hopfudge (1); only serial rings forward by it
    this.ttl = String(o.nodes.length + 1);
    for (const n of o.nodes) {
      if (n === o.self) continue;
      this.peers.set(n, {
        uuid: null,
        generation: 0,
        last_seq: 0,
        missing: new Map(),
        ack_trigger: Math.floor(this.random() * ack_div) % ack_div,
        acked: 0,
        their_ack: 0,
      });
    }
  }

  // ---- sending -----------------------------------------------------------------

  encode(frame: Frame): Uint8Array {
    if (frame.node !== this.o.self) throw new Error(`encode: frame from ${frame.node}, this codec speaks for ${this.o.self}`);
    if (frame.kind === "heartbeat") {
      return this.build([
        str("t", "status"),
        str("st", this.status),
        str("dt", Math.round(this.o.deadtime_ms).toString(16)),
        str("protocol", String(hb_protocol_version)),
        // tandem's placement announcement, for tandem peers; Heartbeat passes
        // only string fields on to its scripts and ignores this one
        ...(frame.body.length > 0 ? [bin(body_field, frame.body)] : []),
      ]);
    }
    return this.build([str("t", "shutdone"), str("st", "dead")]);
  }

  /**
   * Heartbeat's serial plugin sends the classic text form (serial_write():
   * msg2string with the auth field); our messages are netstring, converted here.
   */
  forSerial(bytes: Uint8Array): Uint8Array {
    const p = parseNetstring(bytes);
    if (!p.ok) throw new Error(`forSerial: not one of our netstring messages (${p.reason})`);
    return latin1(classicText(p.value.msg, true));
  }

  takeOutgoing(): Uint8Array[] {
    const out = this.outgoing;
    this.outgoing = [];
    return out;
  }

  /** Queue a message of ours (a resource layer's reply, ...): numbered, kept for retransmission. */
  send(fields: HbMessage["fields"], dest: string | null = null): void {
    this.queue(this.build(this.addressed(fields, dest)));
  }

  /**
   * Add the control fields (src, srcuuid, seq, hg, ts, ttl), the classic
   * auth field and the netstring trailer, as Heartbeat's
   * add_control_msg_fields + msg2netstring do. NS_* messages get no seq and
   * are not kept for retransmission.
   */
  private build(head: HbMessage["fields"]): Uint8Array {
    const type = head.find((f) => f.name === "t");
    const ns = type?.v.type === "string" && type.v.value.startsWith("NS_");
    const fields = [...head, str("src", this.o.self), bin("srcuuid", this.o.uuid)];
    const seq = ns ? 0 : ++this.seq_out;
    if (!ns) fields.push(str("seq", seq.toString(16)));
    fields.push(
      str("hg", this.o.generation.toString(16)),
      str("ts", Math.floor(this.wall_s()).toString(16)),
      str("ttl", this.ttl),
    );
    const key = this.o.auth.active;
    const msg: HbMessage = { fields };
    fields.push(str("auth", `${key.index} ${hbAuthToken(key, latin1(classicText(msg, false)))}`));
    const body = toNetstring(msg);
    const auth = `${key.index} ${hbAuthToken(key, body)}`;
    const trailer = latin1(`${auth.length}:${auth},`);
    const out = new Uint8Array(body.length + trailer.length);
    out.set(body, 0);
    out.set(trailer, body.length);
    if (!ns) this.history[seq % history_len] = { seq, bytes: out, resent_ms: -Infinity };
    return out;
  }

  /** dest (and destuuid when we know the peer's) go first, as Heartbeat adds F_TO before the rest. */
  private addressed(fields: HbMessage["fields"], dest: string | null): HbMessage["fields"] {
    if (dest === null) return fields;
    const uuid = this.peers.get(dest)?.uuid;
    return [...fields, str("dest", dest), ...(uuid ? [bin("destuuid", uuid)] : [])];
  }

  private queue(bytes: Uint8Array): void {
    if (this.outgoing.length >= outgoing_max) {
      this.outgoing.shift();
      this.stats.outgoing_dropped++;
    }
    this.outgoing.push(bytes);
  }

  // ---- receiving ---------------------------------------------------------------

  decode(bytes: Uint8Array): DecodeResult {
    const now = this.now_ms();
    this.retryMissing(now);
    const m = this.authenticate(bytes);
    if ("reason" in m) return m;
    const msg = m.msg;
    const type = getString(msg, "t");
    const from = getString(msg, "src");
    const ts = getHex(msg, "ts");
    // process_clustermsg: type, src and ts are required; ts must not be 0
    if (type === null || from === null || ts === null || ts === 0 || !isValidNodeName(from)) return drop("malformed");
    if (from === this.o.self) return { ok: true, frame: null }; // our own bcast/mcast copy
    const peer = this.peers.get(from);
    if (!peer) return drop("unknown_node", from);
    this.stats.rx_by_type[type] = (this.stats.rx_by_type[type] ?? 0) + 1;
    const uuid = getBinary(msg, "srcuuid");
    if (uuid && uuid.length === uuid_len) peer.uuid = uuid;
    const to_us = this.toUs(msg);
    if (type.startsWith("NS_")) {
      if (to_us) this.onProtocol(type, from, peer, msg, now);
      return { ok: true, frame: null };
    }
    const seq = getHex(msg, "seq");
    const generation = getHex(msg, "hg");
    if (seq === null || seq <= 0 || generation === null || generation <= 0) return drop("malformed", from);
    if (generation < peer.generation) return drop("old_generation", from);
    if (generation > peer.generation) this.newGeneration(peer, generation);
    const fresh = this.track(from, peer, seq, now);
    const body = type === "status" ? getBinary(msg, body_field) : null;
    const frame: Frame = { kind: type === "shutdone" ? "leave" : "heartbeat", node: from, generation, seq, body: body ?? new Uint8Array() };
    if (!fresh || !to_us) return { ok: true, frame };
    const dest = getString(msg, "dest");
    const delivered: HbDelivered = { protocol: "heartbeat", type, from, seq, generation, dest, view: view(type, msg), msg };
    this.react(delivered, peer);
    return { ok: true, frame, message: delivered };
  }

  /** Parse and check the auth token Heartbeat checks for this form. */
  private authenticate(bytes: Uint8Array): { msg: HbMessage } | Exclude<DecodeResult, { ok: true }> {
    if (bytes.length > hb_msg_size_max) return drop("too_big");
    if (bytes.length < 4) return drop("short");
    const head = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
    if (head === "###\n") {
      const p = parseNetstring(bytes);
      if (!p.ok) return drop(parseDrop(p.reason));
      const { msg, signed, trailer } = p.value;
      const key = this.o.auth.keys.get(trailer!.keyid);
      if (!key) return drop("unknown_key");
      if (!hbAuthVerify(key, signed, trailer!.token)) return drop("bad_mac");
      // Heartbeat checks only the trailer on netstring messages; the auth
      // field is computed too, and a mismatch means a sender bug: counted.
      const inner = innerAuth(msg);
      if (inner && !this.verifyInner(msg, inner)) this.stats.inner_auth_mismatch++;
      return { msg };
    }
    if (head === ">>>\n") {
      const p = parseClassic(bytes);
      if (!p.ok) return drop(parseDrop(p.reason));
      const inner = innerAuth(p.value);
      if (!inner) return drop("malformed");
      if (!this.o.auth.keys.has(inner.keyid)) return drop("unknown_key");
      if (!this.verifyInner(p.value, inner)) return drop("bad_mac");
      return { msg: p.value };
    }
    return drop("bad_magic");
  }

  private verifyInner(msg: HbMessage, a: { keyid: number; token: string }): boolean {
    const key = this.o.auth.keys.get(a.keyid);
    return key !== undefined && hbAuthVerify(key, latin1(classicText(msg, false)), a.token);
  }

  /** should_drop_message's IsToUs: destuuid decides when present, else dest. */
  private toUs(msg: HbMessage): boolean {
    const touuid = getBinary(msg, "destuuid");
    if (touuid && touuid.length === uuid_len && touuid.some((b) => b !== 0)) return Buffer.from(touuid).equals(Buffer.from(this.o.uuid));
    const dest = getString(msg, "dest");
    return dest === null || dest === this.o.self;
  }

  private newGeneration(p: PeerTrack, generation: number): void {
    p.generation = generation;
    p.last_seq = 0;
    p.missing.clear();
    p.acked = 0;
    p.their_ack = 0;
  }

  /**
   * Sequence bookkeeping (should_drop_message): true when the message is
   * new (in order, after a gap, or a missing one retransmitted); false for
   * a copy already seen (another link, or an old one).
   */
  private track(from: string, p: PeerTrack, seq: number, now: number): boolean {
    if (p.last_seq === 0 || seq === p.last_seq + 1) {
      p.last_seq = seq;
      this.ackIfNeeded(from, p);
      return true;
    }
    if (seq === p.last_seq) return false;
    if (seq > p.last_seq) {
      const lost = seq - p.last_seq - 1;
      if (lost > gap_reset) {
        // far too many to ask for: start over from here
        this.stats.lost_seqs += lost;
        p.missing.clear();
        p.last_seq = seq;
        return true;
      }
      let asked = 0;
      for (let k = p.last_seq + 1; k < seq; k++) {
        if (p.missing.size >= missing_max) {
          const lowest = Math.min(...p.missing.keys());
          p.missing.delete(lowest);
          this.stats.lost_seqs++;
        }
        p.missing.set(k, { asked_ms: now, tries: 1 });
        if (asked++ < rexmit_requests_per_gap) this.requestRexmit(from, k);
      }
      p.last_seq = seq;
      return true;
    }
    if (p.missing.delete(seq)) {
      this.ackIfNeeded(from, p);
      return true;
    }
    return false;
  }

  /** send_ack_if_needed: ack the newest seq on our trigger that has nothing missing before it. */
  private ackIfNeeded(from: string, p: PeerTrack): void {
    const upto = p.missing.size === 0 ? p.last_seq : Math.min(...p.missing.keys()) - 1;
    const ack = upto - ((((upto - p.ack_trigger) % ack_div) + ack_div) % ack_div);
    if (ack <= p.acked || ack <= 0) return;
    p.acked = ack;
    this.stats.acks_sent++;
    this.queue(this.build(this.addressed([str("t", "NS_ackmsg")], from).flatMap((f) => (f.name === "dest" ? [f, str("ackseq", ack.toString(16))] : [f]))));
  }

  private requestRexmit(from: string, seq: number): void {
    this.stats.rexmit_requested++;
    this.queue(this.build(this.addressed([str("t", "NS_rexmit")], from).flatMap((f) => (f.name === "dest" ? [f, str("firstseq", String(seq)), str("lastseq", String(seq))] : [f]))));
  }

  /** Ask again for seqs still missing (a request can be lost too); give up after a few tries. */
  private retryMissing(now: number): void {
    for (const [name, p] of this.peers) {
      for (const [seq, m] of p.missing) {
        if (now - m.asked_ms < missing_retry_ms) continue;
        if (m.tries >= missing_tries) {
          p.missing.delete(seq);
          this.stats.lost_seqs++;
          this.o.log?.("hb_lost_message", { node: name, seq });
          this.ackIfNeeded(name, p);
          continue;
        }
        m.asked_ms = now;
        m.tries++;
        this.requestRexmit(name, seq);
      }
    }
  }

  private onProtocol(type: string, from: string, p: PeerTrack, msg: HbMessage, now: number): void {
    switch (type) {
      case "NS_ackmsg": {
        const ack = getHex(msg, "ackseq");
        if (ack !== null && ack > p.their_ack && ack <= this.seq_out) p.their_ack = ack;
        return;
      }
      case "NS_rexmit": {
        // process_rexmit reads these with atoi: decimal
        const first = decimal(getString(msg, "firstseq"));
        const last = decimal(getString(msg, "lastseq"));
        if (first === null || last === null || first < 1 || first > last) return;
        let sent = 0;
        for (let s = Math.max(first, p.their_ack + 1); s <= last && s <= this.seq_out; s++) {
          const h = this.history[s % history_len];
          if (!h || h.seq !== s) {
            this.nak(from, s, "seqno not found");
            continue;
          }
          if (now - h.resent_ms < rexmit_spacing_ms) continue;
          if (++sent > rexmit_batch) return;
          h.resent_ms = now;
          this.stats.rexmit_answered++;
          this.queue(h.bytes);
        }
        return;
      }
      case "NS_nak_rexmit": {
        // the peer cannot resend it: stop waiting for it
        const seq = getHex(msg, "firstseq");
        if (seq !== null && p.missing.delete(seq)) {
          this.stats.lost_seqs++;
          this.o.log?.("hb_lost_message", { node: from, seq, reason: "nak" });
          this.ackIfNeeded(from, p);
        }
        return;
      }
      default:
        // NS_st (ping nodes) and anything newer: nothing to do
        return;
    }
  }

  private nak(to: string, seq: number, reason: string): void {
    this.stats.rexmit_nak_sent++;
    const uuid = this.peers.get(to)?.uuid;
    this.queue(this.build([str("t", "NS_nak_rexmit"), str("firstseq", seq.toString(16)), str("dest", to), str("info", reason), ...(uuid ? [bin("destuuid", uuid)] : [])]));
  }

  /** What the codec answers by itself: the node list, and `starting` when we hold nothing. */
  private react(d: HbDelivered, p: PeerTrack): void {
    void p;
    if (!known_types.has(d.type)) {
      this.stats.unknown_types++;
      // logged once per type (bounded), counted always
      if (this.unknown_logged.size < 32 && !this.unknown_logged.has(d.type)) {
        this.unknown_logged.add(d.type);
        this.o.log?.("hb_unknown_message", { node: d.from, type: d.type.slice(0, 64), note: "ignored; later ones of this type are only counted" });
      }
      return;
    }
    if (d.type === "reqnodes") {
      // HBDoMsg_T_REQNODES: dest first, then t, the lists with a trailing space
      const nodelist = this.o.nodes.map((n) => `${n} `).join("");
      const uuid = this.peers.get(d.from)?.uuid;
      this.queue(
        this.build([
          str("dest", d.from),
          str("t", "repnodes"),
          str("nodelist", nodelist),
          str("delnodelist", " "),
          ...(uuid ? [bin("destuuid", uuid)] : []),
        ]),
      );
    } else if (d.type === "starting" && this.o.answer_starting_none) {
      this.send([str("t", "resource"), str("rsc_hold", "none"), str("rtype", "full"), str("isstable", "1")]);
    }
  }
}

/** Why these authkeys cannot talk to Heartbeat, or null. */
export function heartbeatCodecProblem(auth: AuthKeys): string | null {
  if (!hbAuthSupported(auth.active.method)) {
    return `${auth.file}: key ${auth.active.index} uses ${auth.active.method}, which Heartbeat 3.0.6 does not have; with \`wire heartbeat\` use sha1 (or md5)`;
  }
  return null;
}

/** The `auth` field's key index and token. */
function innerAuth(msg: HbMessage): { keyid: number; token: string } | null {
  const a = getString(msg, "auth");
  return a === null ? null : parseAuthString(a);
}

function decimal(s: string | null): number | null {
  return s !== null && /^\d{1,15}$/.test(s) ? Number(s) : null;
}

function words(s: string | null): string[] {
  return s === null ? [] : s.split(" ").filter((w) => w !== "");
}

function yesNo(s: string | null, yes: string, no: string): boolean | null {
  return s === yes ? true : s === no ? false : null;
}

export function view(type: string, m: HbMessage): HbView {
  const s = (n: string) => getString(m, n);
  switch (type) {
    case "status":
      return { type, st: s("st") ?? "", dt_ms: getHex(m, "dt"), protocol: decimal(s("protocol")) };
    case "starting":
    case "reqnodes":
      return { type };
    case "resource":
      return { type, rsc_hold: s("rsc_hold"), full: s("rtype") === "full", isstable: yesNo(s("isstable"), "1", "0"), info: s("info") };
    case "ask_resources":
      return { type, rsc_hold: s("rsc_hold"), info: s("info") };
    case "hb_takeover":
      return { type, rsc_hold: s("rsc_hold") };
    case "ip-request":
      return { type, ipaddr: s("ipaddr") };
    case "ip-request-resp":
      return { type, ipaddr: s("ipaddr"), weown: yesNo(s("weown"), "yes", "no"), ok: s("ok") };
    case "stonith":
      return { type, node: s("node"), result: s("result") };
    case "shutdone":
      return { type, st: s("st") };
    case "repnodes":
      return { type, nodelist: words(s("nodelist")), delnodelist: words(s("delnodelist")) };
    default:
      return { type: "other" };
  }
}

function parseDrop(r: HbParseError): DropReason {
  return r === "too_big" ? "too_big" : r === "compressed" ? "unsupported" : r === "truncated" || r === "no_trailer" ? "short" : "malformed";
}

function drop(reason: DropReason, node: string | null = null): Exclude<DecodeResult, { ok: true }> {
  return { ok: false, reason, node };
}
