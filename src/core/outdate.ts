// Outdating a live peer's DRBD disk over tandem's own links: tandem's
// equivalent of Heartbeat's dopd (drbd-peer-outdater). When only DRBD's
// replication path breaks, the Primary's fence-peer handler (tandem
// drbd-fence-peer) cannot wait for the peer to be declared dead: the peer is
// alive, heartbeating on another link. It asks the peer's daemon instead to
// mark its own disk Outdated (DRBD_ADM_OUTDATE, what `drbdsetup outdate`
// sends); the peer answers what it did, and DRBD gets exit 4 ("peer
// outdated") and thaws the Primary's I/O under `fencing resource-and-stonith`.
//
// Pure: bytes in, actions out. The daemon (src/daemon/drbd_outdate.ts) sends
// the frames, runs the netlink calls on the addon's worker thread and feeds
// the results back. Nothing here does I/O or reads a clock.
//
// Two frame kinds (src/wire/types.ts): drbd_outdate_request (requester ->
// peer) and drbd_outdate_reply (peer -> requester). Both are authenticated by
// the codec's MAC; their (generation, seq) use a counter of their own, and a
// frame changes state only if membership has its sender up in exactly that
// generation and its seq is above every seq seen from that sender
// (acceptFrame): no replay, no frame from an earlier incarnation. Copies on
// other links are duplicates by the same rule. The requester repeats its
// request at most once per keepalive, under a new seq, until answered with a
// final result or nobody polls for it any more (poll_gone_ms).
//
// Body layout, version 1 (big-endian; request and reply alike):
//
//   off size field
//     0    1 version (1)
//     1    4 request id (the requester's, new for every handler run)
//     5    1 result (OutdateResult id; 0 in a request)
//     6    1 node name length: request: the node asked; reply: the node that asked
//     7    1 resource name length (1..127)
//     8    1 detail length (0..detail_len_max; 0 in a request)
//     9    . node name, resource name, detail (printable ASCII)
//
// Trailing bytes are refused: a future version bumps `version`.

export const outdate_body_version = 1;
export const node_len_max = 64;
export const resource_len_max = 127;
export const detail_len_max = 200;
const header_len = 9;
export const outdate_body_size_max = header_len + node_len_max + resource_len_max + detail_len_max;

/** What the peer did or found. On-wire ids: ONLY APPEND, never renumber. */
export const OutdateResult = {
  /** the disk was UpToDate/Consistent and is Outdated now */
  outdated: 1,
  /** the disk was already Outdated */
  already_outdated: 2,
  /** the resource is Primary there: DRBD's "peer is primary" (exit 6) */
  primary: 3,
  /** the disk is Inconsistent (a SyncTarget, or never synced) */
  inconsistent: 4,
  /** no disk attached (Diskless, Failed) */
  diskless: 5,
  /** the DRBD module is not loaded there (no generic netlink family drbd) */
  no_drbd: 6,
  /** DRBD has no such resource there (not up) */
  unknown_resource: 7,
  /** DRBD there still sees the connection: it refuses to outdate while connected (SS_CONNECTED_OUTDATES); ask again */
  connected: 8,
  /** between states, or the kernel was busy: ask again */
  busy: 9,
  /** DRBD refused for another reason (detail says which): ask again */
  error: 10,
} as const;
export type OutdateResultName = keyof typeof OutdateResult;
const result_by_id = new Map<number, OutdateResultName>(Object.entries(OutdateResult).map(([k, v]) => [v, k as OutdateResultName]));

/** A final answer ends the request; the others are asked again at the next keepalive. */
export function isFinal(r: OutdateResultName): boolean {
  return r !== "connected" && r !== "busy" && r !== "error";
}

export interface OutdateBody {
  id: number;
  /** null in a request */
  result: OutdateResultName | null;
  /** request: the node asked; reply: the node that asked */
  node: string;
  resource: string;
  detail: string;
}

const node_re = /^[A-Za-z0-9._-]{1,64}$/;
const resource_re = /^[A-Za-z0-9_.+-]{1,127}$/;
const printable = (s: string) => /^[\x20-\x7e]*$/.test(s);
const text_encoder = new TextEncoder();

/** Asserts (a bad value is our bug): names are checked where they enter (control request, frame). */
export function encodeOutdateBody(b: OutdateBody): Uint8Array {
  if (!node_re.test(b.node)) throw new Error(`outdate body: bad node ${JSON.stringify(b.node)}`);
  if (!resource_re.test(b.resource)) throw new Error(`outdate body: bad resource ${JSON.stringify(b.resource)}`);
  if (!Number.isInteger(b.id) || b.id < 0 || b.id > 0xffff_ffff) throw new Error("outdate body: bad id");
  // the detail is ours (DRBD's reason); cut and cleaned rather than refused
  const detail = b.detail.replace(/[^\x20-\x7e]/g, "?").slice(0, detail_len_max);
  const node = text_encoder.encode(b.node);
  const resource = text_encoder.encode(b.resource);
  const det = text_encoder.encode(detail);
  const out = new Uint8Array(header_len + node.length + resource.length + det.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, outdate_body_version);
  dv.setUint32(1, b.id);
  dv.setUint8(5, b.result === null ? 0 : OutdateResult[b.result]);
  dv.setUint8(6, node.length);
  dv.setUint8(7, resource.length);
  dv.setUint8(8, det.length);
  out.set(node, header_len);
  out.set(resource, header_len + node.length);
  out.set(det, header_len + node.length + resource.length);
  return out;
}

/** Never throws: the body or why it was refused. `kind` says whether a result must (reply) or must not (request) be there. */
export function decodeOutdateBody(bytes: Uint8Array, kind: "request" | "reply"): { ok: true; body: OutdateBody } | { ok: false; reason: string } {
  if (bytes.length < header_len) return { ok: false, reason: "short" };
  if (bytes.length > outdate_body_size_max) return { ok: false, reason: "too_big" };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint8(0) !== outdate_body_version) return { ok: false, reason: "bad_version" };
  const id = dv.getUint32(1);
  const result_id = dv.getUint8(5);
  const node_len = dv.getUint8(6);
  const res_len = dv.getUint8(7);
  const det_len = dv.getUint8(8);
  if (node_len < 1 || node_len > node_len_max || res_len < 1 || res_len > resource_len_max || det_len > detail_len_max) return { ok: false, reason: "bad_length" };
  if (header_len + node_len + res_len + det_len !== bytes.length) return { ok: false, reason: "bad_length" };
  const ascii = (off: number, len: number) => String.fromCharCode(...bytes.subarray(off, off + len));
  const node = ascii(header_len, node_len);
  const resource = ascii(header_len + node_len, res_len);
  const detail = ascii(header_len + node_len + res_len, det_len);
  if (!node_re.test(node)) return { ok: false, reason: "bad_node" };
  if (!resource_re.test(resource)) return { ok: false, reason: "bad_resource" };
  if (!printable(detail)) return { ok: false, reason: "bad_detail" };
  let result: OutdateResultName | null = null;
  if (kind === "request") {
    if (result_id !== 0 || det_len !== 0) return { ok: false, reason: "request_with_result" };
  } else {
    result = result_by_id.get(result_id) ?? null;
    if (result === null) return { ok: false, reason: "unknown_result" };
  }
  return { ok: true, body: { id, result, node, resource, detail } };
}

// ---- the peer's side: what to do with a resource, from its state ------------------

/** One volume as DRBD reports it (DRBD 8.4's names: src/agents/drbd_netlink.ts). */
export interface VolumeState {
  minor: number;
  role: string;
  conn: string;
  disk: string;
}

/** Connection states in which DRBD refuses to outdate (drbd_state.c is_valid_state: SS_CONNECTED_OUTDATES). */
const conn_refuses = new Set(["Connected", "WFBitMapS", "SyncSource", "PausedSyncS"]);

/**
 * What the peer does for a request, from the resource's volumes ([]: DRBD
 * has no such resource): answer at once, or outdate these minors first.
 */
export function outdatePlan(volumes: readonly VolumeState[]): { answer: OutdateResultName; detail: string } | { outdate: number[] } {
  if (volumes.length === 0) return { answer: "unknown_resource", detail: "DRBD has no such resource here (not up)" };
  const desc = volumes.map((v) => `minor ${v.minor} ${v.role} ${v.conn} ${v.disk}`).join(", ");
  if (volumes.some((v) => v.role === "Primary")) return { answer: "primary", detail: desc };
  if (volumes.some((v) => v.disk === "Diskless" || v.disk === "Failed")) return { answer: "diskless", detail: desc };
  if (volumes.some((v) => v.disk === "Inconsistent")) return { answer: "inconsistent", detail: desc };
  if (volumes.every((v) => v.disk === "Outdated")) return { answer: "already_outdated", detail: desc };
  if (volumes.some((v) => v.disk !== "UpToDate" && v.disk !== "Consistent" && v.disk !== "Outdated")) return { answer: "busy", detail: desc };
  if (volumes.some((v) => conn_refuses.has(v.conn))) return { answer: "connected", detail: `${desc}: DRBD here still sees the connection` };
  return { outdate: volumes.filter((v) => v.disk !== "Outdated").map((v) => v.minor) };
}

/** DRBD's answers to DRBD_ADM_OUTDATE (state change results, drbd.h enum drbd_state_rv), one per minor. */
export function outdateOutcome(calls: readonly { minor: number; code: number; text: string }[]): { answer: OutdateResultName; detail: string } {
  const desc = calls.map((c) => `minor ${c.minor}: ${c.text}`).join(", ");
  const ok = (c: number) => c === 1 || c === 2 || c === 3 || c === 4 || c === 101;
  if (calls.every((c) => ok(c.code))) return { answer: "outdated", detail: desc };
  if (calls.some((c) => c.code === -6)) return { answer: "connected", detail: desc }; // SS_CONNECTED_OUTDATES
  if (calls.some((c) => c.code === -16)) return { answer: "inconsistent", detail: desc }; // SS_LOWER_THAN_OUTDATED
  if (calls.some((c) => c.code === -18 || c.code === -19 || c.code === 0)) return { answer: "busy", detail: desc }; // transient, concurrent, unknown
  return { answer: "error", detail: desc };
}

// ---- state: both sides ------------------------------------------------------------

/** A request this node made (one handler run), keyed by resource. */
export interface OutdateRequest {
  id: number;
  resource: string;
  peer: string;
  started_ms: number;
  /** the handler's last poll: an abandoned request stops being sent */
  polled_ms: number;
  sent_ms: number | null;
  sends: number;
  /** the newest answer for this id (a transient one leaves the request running) */
  answer: { result: OutdateResultName; detail: string; at_ms: number } | null;
}

export interface OutdateState {
  self: string;
  keepalive_ms: number;
  /** the sender's sequence for both kinds, per generation (the daemon's generation) */
  seq_out: number;
  next_id: number;
  requests: Map<string, OutdateRequest>;
  /** per sender: the generation and highest seq accepted */
  windows: Map<string, { generation: number; seq_max: number }>;
  /** resources this node is outdating for peers: who waits for the answer */
  serving: Map<string, { node: string; id: number }[]>;
}

/** A request not polled for this long was abandoned (the handler exited or was killed). */
export const poll_gone_ms = 5_000;
/** Bounds: resources with a request running, resources being outdated at once, waiters per resource. */
export const requests_max = 16;
export const serving_max = 16;
export const waiters_max = 8;

export function initialOutdateState(o: { self: string; keepalive_ms: number; first_id: number }): OutdateState {
  return { self: o.self, keepalive_ms: o.keepalive_ms, seq_out: 0, next_id: o.first_id >>> 0, requests: new Map(), windows: new Map(), serving: new Map() };
}

export type OutdateAction =
  | { type: "send"; kind: "drbd_outdate_request" | "drbd_outdate_reply"; seq: number; body: Uint8Array; to: string; resource: string; id: number; nth: number; result: OutdateResultName | null }
  /** run the peer's side on the kernel: read the resource, outdate per outdatePlan, then call outdateDone */
  | { type: "outdate"; resource: string; from: string; id: number }
  | { type: "answer"; resource: string; peer: string; id: number; result: OutdateResultName; detail: string; final: boolean }
  | { type: "abandoned"; resource: string; peer: string; id: number; sends: number }
  | { type: "ignored"; from: string; reason: string };

/**
 * Replay and generation rules, as for heartbeats: only from a peer that
 * membership has up in exactly this generation, with a seq above the
 * highest accepted from it. `member`: membership's view of the sender.
 */
export function acceptFrame(s: OutdateState, f: { node: string; generation: number; seq: number }, member: { state: string; generation: number } | undefined): string | null {
  if (f.node === s.self) return "self";
  if (!member) return "unknown_node";
  if (member.state !== "up") return "not_up";
  if (f.generation !== member.generation) return f.generation < member.generation ? "old_generation" : "generation_not_heard";
  const w = s.windows.get(f.node);
  if (w && w.generation === f.generation && f.seq <= w.seq_max) return "replay";
  s.windows.set(f.node, { generation: f.generation, seq_max: f.seq });
  return null;
}

/**
 * The handler asks (every poll). `fresh`: a new handler run, so a new
 * request id; answers to an older id never count for it.
 */
export function ask(s: OutdateState, o: { resource: string; peer: string; fresh: boolean }, now_ms: number): OutdateRequest {
  let r = s.requests.get(o.resource);
  if (!r || o.fresh || r.peer !== o.peer) {
    if (!r && s.requests.size >= requests_max) s.requests.delete(s.requests.keys().next().value!);
    r = { id: s.next_id, resource: o.resource, peer: o.peer, started_ms: now_ms, polled_ms: now_ms, sent_ms: null, sends: 0, answer: null };
    s.next_id = (s.next_id + 1) >>> 0;
    s.requests.delete(o.resource); // re-inserted last: eviction takes the oldest
    s.requests.set(o.resource, r);
  }
  r.polled_ms = now_ms;
  return r;
}

/** Repeats due now and abandoned requests. */
export function outdateTick(s: OutdateState, now_ms: number): OutdateAction[] {
  const out: OutdateAction[] = [];
  for (const r of [...s.requests.values()]) {
    const final = r.answer !== null && isFinal(r.answer.result);
    if (now_ms - r.polled_ms > poll_gone_ms) {
      s.requests.delete(r.resource);
      if (!final) out.push({ type: "abandoned", resource: r.resource, peer: r.peer, id: r.id, sends: r.sends });
      continue;
    }
    if (final) continue;
    if (r.sent_ms !== null && now_ms < r.sent_ms + s.keepalive_ms) continue;
    r.sent_ms = now_ms;
    r.sends++;
    const body = encodeOutdateBody({ id: r.id, result: null, node: r.peer, resource: r.resource, detail: "" });
    out.push({ type: "send", kind: "drbd_outdate_request", seq: ++s.seq_out, body, to: r.peer, resource: r.resource, id: r.id, nth: r.sends, result: null });
  }
  return out;
}

/** When outdateTick has something to do next (Infinity: nothing pending). */
export function outdateDeadline(s: OutdateState): number {
  let t = Infinity;
  for (const r of s.requests.values()) {
    t = Math.min(t, r.polled_ms + poll_gone_ms + 1);
    if (r.answer !== null && isFinal(r.answer.result)) continue;
    t = Math.min(t, r.sent_ms === null ? r.started_ms : r.sent_ms + s.keepalive_ms);
  }
  return t;
}

/** An accepted drbd_outdate_reply from `from` (acceptFrame first). */
export function onReply(s: OutdateState, from: string, bytes: Uint8Array, now_ms: number): OutdateAction[] {
  const d = decodeOutdateBody(bytes, "reply");
  if (!d.ok) return [{ type: "ignored", from, reason: `reply: ${d.reason}` }];
  const b = d.body;
  if (b.node !== s.self) return [{ type: "ignored", from, reason: `reply for ${b.node}` }];
  const r = s.requests.get(b.resource);
  if (!r || r.id !== b.id || r.peer !== from) return [{ type: "ignored", from, reason: `reply to no running request (${b.resource} id ${b.id})` }];
  if (r.answer !== null && isFinal(r.answer.result)) return []; // a copy of the answer already taken
  r.answer = { result: b.result!, detail: b.detail, at_ms: now_ms };
  return [{ type: "answer", resource: r.resource, peer: from, id: r.id, result: b.result!, detail: b.detail, final: isFinal(b.result!) }];
}

/** An accepted drbd_outdate_request from `from`: start the kernel work, or join the one running for that resource. */
export function onRequest(s: OutdateState, from: string, bytes: Uint8Array): OutdateAction[] {
  const d = decodeOutdateBody(bytes, "request");
  if (!d.ok) return [{ type: "ignored", from, reason: `request: ${d.reason}` }];
  const b = d.body;
  if (b.node !== s.self) return [{ type: "ignored", from, reason: `request for ${b.node}` }];
  const waiting = s.serving.get(b.resource);
  if (waiting) {
    if (!waiting.some((w) => w.node === from && w.id === b.id) && waiting.length < waiters_max) waiting.push({ node: from, id: b.id });
    return [];
  }
  if (s.serving.size >= serving_max) return [reply(s, from, b.id, b.resource, "busy", `${serving_max} resources are being outdated here already`)];
  s.serving.set(b.resource, [{ node: from, id: b.id }]);
  return [{ type: "outdate", resource: b.resource, from, id: b.id }];
}

/** The kernel work for `resource` finished: answer everyone who asked meanwhile. */
export function outdateDone(s: OutdateState, resource: string, result: OutdateResultName, detail: string): OutdateAction[] {
  const waiting = s.serving.get(resource) ?? [];
  s.serving.delete(resource);
  return waiting.map((w) => reply(s, w.node, w.id, resource, result, detail));
}

function reply(s: OutdateState, to: string, id: number, resource: string, result: OutdateResultName, detail: string): OutdateAction {
  const body = encodeOutdateBody({ id, result, node: to, resource, detail });
  return { type: "send", kind: "drbd_outdate_reply", seq: ++s.seq_out, body, to, resource, id, nth: 1, result };
}

// ---- the handler's verdict ------------------------------------------------------------

/** DRBD's fence-peer exit codes (drbd_nl.c conn_try_outdate_peer). */
export const FencePeerExit = {
  failed: 1,
  inconsistent: 3,
  outdated: 4,
  unreachable: 5,
  peer_primary: 6,
  fenced: 7,
} as const;

/** The exit code for a peer's final answer (isFinal). */
export function exitForAnswer(r: OutdateResultName): number {
  switch (r) {
    case "outdated":
    case "already_outdated":
      return FencePeerExit.outdated;
    case "primary":
      return FencePeerExit.peer_primary;
    case "inconsistent":
    case "diskless":
      return FencePeerExit.inconsistent;
    default:
      // no DRBD there, no such resource, or not final: nothing vouches for the peer's data
      return FencePeerExit.failed;
  }
}
