// The placement state a node announces in every heartbeat body, and its
// codec. Pure bytes: `decodeBody` never throws, it returns the value or the
// reason for refusing it; `encodeBody` asserts (a bad value is our bug).
//
// Layout, version 1, big-endian:
//
//   off size field
//     0    1 version (1)
//     1    1 flags: bit0 shutting_down
//     2    1 standby scope  (Scope ids below)
//     3    1 takeover scope
//     4    4 nodes_hash: FNV-1a of the placement config every node must share
//     8    4 ann_seq: bumped on every change of content (acks excluded)
//    12    1 group count (<= groups_max)
//          per group: u8 id length, id (printable ASCII), u8 state,
//                     u8 failures (saturating), u8 flags (bit0 blocked)
//     .    1 ack count (<= nodes_max - 1)
//          per ack: u8 node index (in the shared node list), u64 generation
//                   of that node, u32 the ann_seq of it we saw last
//
// Ids of scopes and states are on-wire values: ONLY APPEND, never renumber.
// Trailing bytes are refused: a future version bumps `version`.

// v2: ping_score after the scopes (ipfail)
export const body_version = 2;
/** leaves room in frame_size_max (1400) for the header, a 64-byte name and a 64-byte MAC */
export const body_size_max = 1200;
export const groups_max = 32;
export const nodes_max = 16;
export const group_id_len_max = 24;
export const failures_saturate = 255;
export const ann_seq_max = 0xffff_ffff;
/** ping_score on the wire: 0..254; 255 means "no ping nodes configured" */
export const ping_score_max = 254;
const ping_score_none = 255;

export const Scope = { none: 0, all: 1, local: 2, foreign: 3 } as const;
export type ScopeName = keyof typeof Scope;
// stop_failed: a stop failed and is being retried (resources in an unknown
// state); with fencing configured the peers fence the node (escalation).
export const GroupState = { stopped: 0, starting: 1, running: 2, stopping: 3, failed: 4, stop_failed: 5 } as const;
export type GroupStateName = keyof typeof GroupState;

export interface GroupAnnouncement {
  id: string;
  state: GroupStateName;
  /** start failures and monitor give-ups on that node, saturating at 255 */
  failures: number;
  /** failures reached start_failures_max there: it will not run the group */
  blocked: boolean;
}

/** "I have seen announcement `ann_seq` of node `node_index` in its generation `generation`". */
export interface Ack {
  node_index: number;
  generation: number;
  ann_seq: number;
}

export interface Announcement {
  nodes_hash: number;
  ann_seq: number;
  shutting_down: boolean;
  standby: ScopeName;
  takeover: ScopeName;
  /** ping nodes/groups this node reaches; null when none are configured */
  ping_score: number | null;
  groups: GroupAnnouncement[];
  acks: Ack[];
}

export type BodyError = "empty" | "too_big" | "bad_version" | "short" | "malformed";
export type BodyDecodeResult = { ok: true; value: Announcement } | { ok: false; reason: BodyError };

const scope_by_id = invert(Scope);
const state_by_id = invert(GroupState);
const group_id_re = /^[\x21-\x7e]+$/;

export function isValidGroupId(id: string): boolean {
  return id.length >= 1 && id.length <= group_id_len_max && group_id_re.test(id);
}

/** Upper bound of the encoded size for these group ids and this many nodes. */
export function bodySizeMax(group_ids: string[], nodes: number): number {
  const groups = group_ids.reduce((sum, id) => sum + 1 + id.length + 3, 0);
  return 14 + groups + 1 + (nodes - 1) * 13;
}

export function encodeBody(a: Announcement): Uint8Array {
  assert(a.groups.length <= groups_max, "too many groups");
  assert(a.acks.length < nodes_max, "too many acks");
  assert(Number.isInteger(a.ann_seq) && a.ann_seq >= 0 && a.ann_seq <= ann_seq_max, "bad ann_seq");
  // Sent in every heartbeat: plain byte writes, no DataView or BigInt, and
  // assertion messages built only on failure.
  let groups_size = 0;
  for (const g of a.groups) groups_size += 1 + g.id.length + 3;
  const out = new Uint8Array(14 + groups_size + 1 + a.acks.length * 13); // bodySizeMax(ids, acks + 1)
  const ping = a.ping_score === null ? ping_score_none : Math.min(ping_score_max, Math.max(0, Math.floor(a.ping_score)));
  out[0] = body_version;
  out[1] = a.shutting_down ? 1 : 0;
  out[2] = Scope[a.standby];
  out[3] = Scope[a.takeover];
  out[4] = ping;
  putU32(out, 5, a.nodes_hash);
  putU32(out, 9, a.ann_seq);
  let off = 13;
  out[off++] = a.groups.length;
  for (const g of a.groups) {
    if (!isValidGroupId(g.id)) assert(false, `bad group id ${JSON.stringify(g.id)}`);
    out[off++] = g.id.length;
    for (let i = 0; i < g.id.length; i++) out[off++] = g.id.charCodeAt(i);
    out[off++] = GroupState[g.state];
    out[off++] = Math.min(failures_saturate, Math.max(0, Math.floor(g.failures)));
    out[off++] = g.blocked ? 1 : 0;
  }
  out[off++] = a.acks.length;
  for (const k of a.acks) {
    assert(k.node_index >= 0 && k.node_index < nodes_max, "bad ack node index");
    assert(Number.isSafeInteger(k.generation) && k.generation >= 0, "bad ack generation");
    out[off++] = k.node_index;
    // u64 big-endian; exact: generation is a safe integer (< 2^53)
    putU32(out, off, Math.floor(k.generation / 0x1_0000_0000));
    putU32(out, off + 4, k.generation % 0x1_0000_0000);
    putU32(out, off + 8, k.ann_seq);
    off += 12;
  }
  assert(off === out.length, "size accounting");
  if (off > body_size_max) assert(false, `body of ${off} bytes exceeds ${body_size_max}`);
  return out;
}

/** DataView.setUint32(off, v) big-endian, ToUint32 included */
function putU32(out: Uint8Array, off: number, v: number): void {
  const u = v >>> 0;
  out[off] = u >>> 24;
  out[off + 1] = (u >>> 16) & 0xff;
  out[off + 2] = (u >>> 8) & 0xff;
  out[off + 3] = u & 0xff;
}

/** DataView.getUint32(off) big-endian */
function getU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function decodeBody(bytes: Uint8Array): BodyDecodeResult {
  if (bytes.length === 0) return fail("empty");
  if (bytes.length > body_size_max) return fail("too_big");
  if (bytes[0] !== body_version) return fail("bad_version");
  if (bytes.length < 15) return fail("short");
  const standby = scope_by_id.get(bytes[2]!);
  const takeover = scope_by_id.get(bytes[3]!);
  if ((bytes[1]! & ~1) !== 0 || !standby || !takeover) return fail("malformed");
  const r = { off: 14, bytes };
  const groups = readGroups(r, bytes[13]!);
  if (typeof groups === "string") return fail(groups);
  const acks = readAcks(r);
  if (typeof acks === "string") return fail(acks);
  if (r.off !== bytes.length) return fail("malformed");
  const value: Announcement = {
    nodes_hash: getU32(bytes, 5),
    ann_seq: getU32(bytes, 9),
    shutting_down: (bytes[1]! & 1) === 1,
    standby,
    takeover,
    ping_score: bytes[4] === ping_score_none ? null : bytes[4]!,
    groups,
    acks,
  };
  return { ok: true, value };
}

interface Reader {
  off: number;
  bytes: Uint8Array;
}

function readGroups(r: Reader, count: number): GroupAnnouncement[] | BodyError {
  if (count > groups_max) return "malformed";
  const groups: GroupAnnouncement[] = [];
  const b = r.bytes;
  for (let i = 0; i < count; i++) {
    if (r.off + 1 > b.length) return "short";
    const len = b[r.off]!;
    if (len < 1 || len > group_id_len_max) return "malformed";
    if (r.off + 1 + len + 3 > b.length) return "short";
    // isValidGroupId, byte by byte: 1..24 printable ASCII (the length is checked above)
    let id = "";
    for (let k = r.off + 1; k < r.off + 1 + len; k++) {
      if (b[k]! < 0x21 || b[k]! > 0x7e) return "malformed";
      id += String.fromCharCode(b[k]!);
    }
    r.off += 1 + len;
    const state = state_by_id.get(b[r.off]!);
    const failures = b[r.off + 1]!;
    const flags = b[r.off + 2]!;
    r.off += 3;
    if (!state || (flags & ~1) !== 0) return "malformed";
    for (const g of groups) if (g.id === id) return "malformed"; // at most groups_max: no Set needed
    groups.push({ id, state, failures, blocked: flags === 1 });
  }
  return groups;
}

function readAcks(r: Reader): Ack[] | BodyError {
  if (r.off + 1 > r.bytes.length) return "short";
  const count = r.bytes[r.off++]!;
  if (count >= nodes_max) return "malformed";
  if (r.off + count * 13 > r.bytes.length) return "short";
  const acks: Ack[] = [];
  let seen = 0; // bit per node index (< nodes_max = 16)
  for (let i = 0; i < count; i++) {
    const node_index = r.bytes[r.off]!;
    const generation_hi = getU32(r.bytes, r.off + 1);
    const generation_lo = getU32(r.bytes, r.off + 5);
    const ann_seq = getU32(r.bytes, r.off + 9);
    r.off += 13;
    // above Number.MAX_SAFE_INTEGER (2^53 - 1) exactly when the high word exceeds 2^21 - 1
    if (node_index >= nodes_max || (seen & (1 << node_index)) !== 0 || generation_hi > 0x1f_ffff) return "malformed";
    seen |= 1 << node_index;
    acks.push({ node_index, generation: generation_hi * 0x1_0000_0000 + generation_lo, ann_seq });
  }
  return acks;
}

/** FNV-1a, 32 bits: cheap, stable, enough to notice two differing configs. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function fail(reason: BodyError): BodyDecodeResult {
  return { ok: false, reason };
}

function invert<K extends string>(o: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(o).map(([k, v]) => [v as number, k as K]));
}

function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`body: ${msg}`);
}
