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
  const ids = a.groups.map((g) => g.id);
  const out = new Uint8Array(bodySizeMax(ids, a.acks.length + 1));
  const dv = new DataView(out.buffer);
  const ping = a.ping_score === null ? ping_score_none : Math.min(ping_score_max, Math.max(0, Math.floor(a.ping_score)));
  out.set([body_version, a.shutting_down ? 1 : 0, Scope[a.standby], Scope[a.takeover], ping], 0);
  dv.setUint32(5, a.nodes_hash >>> 0);
  dv.setUint32(9, a.ann_seq);
  let off = 13;
  out[off++] = a.groups.length;
  for (const g of a.groups) {
    assert(isValidGroupId(g.id), `bad group id ${JSON.stringify(g.id)}`);
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
    dv.setBigUint64(off, BigInt(k.generation));
    dv.setUint32(off + 8, k.ann_seq);
    off += 12;
  }
  assert(off === out.length, "size accounting");
  assert(off <= body_size_max, `body of ${off} bytes exceeds ${body_size_max}`);
  return out;
}

export function decodeBody(bytes: Uint8Array): BodyDecodeResult {
  if (bytes.length === 0) return fail("empty");
  if (bytes.length > body_size_max) return fail("too_big");
  if (bytes[0] !== body_version) return fail("bad_version");
  if (bytes.length < 15) return fail("short");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const standby = scope_by_id.get(bytes[2]!);
  const takeover = scope_by_id.get(bytes[3]!);
  if ((bytes[1]! & ~1) !== 0 || !standby || !takeover) return fail("malformed");
  const r = { off: 14, bytes, dv };
  const groups = readGroups(r, bytes[13]!);
  if (typeof groups === "string") return fail(groups);
  const acks = readAcks(r);
  if (typeof acks === "string") return fail(acks);
  if (r.off !== bytes.length) return fail("malformed");
  const value: Announcement = {
    nodes_hash: dv.getUint32(5),
    ann_seq: dv.getUint32(9),
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
  dv: DataView;
}

function readGroups(r: Reader, count: number): GroupAnnouncement[] | BodyError {
  if (count > groups_max) return "malformed";
  const groups: GroupAnnouncement[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    if (r.off + 1 > r.bytes.length) return "short";
    const len = r.bytes[r.off]!;
    if (len < 1 || len > group_id_len_max) return "malformed";
    if (r.off + 1 + len + 3 > r.bytes.length) return "short";
    const id = String.fromCharCode(...r.bytes.subarray(r.off + 1, r.off + 1 + len));
    r.off += 1 + len;
    const state = state_by_id.get(r.bytes[r.off]!);
    const failures = r.bytes[r.off + 1]!;
    const flags = r.bytes[r.off + 2]!;
    r.off += 3;
    if (!isValidGroupId(id) || seen.has(id) || !state || (flags & ~1) !== 0) return "malformed";
    seen.add(id);
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
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const node_index = r.bytes[r.off]!;
    const generation = r.dv.getBigUint64(r.off + 1);
    const ann_seq = r.dv.getUint32(r.off + 9);
    r.off += 13;
    if (node_index >= nodes_max || seen.has(node_index) || generation > BigInt(Number.MAX_SAFE_INTEGER)) return "malformed";
    seen.add(node_index);
    acks.push({ node_index, generation: Number(generation), ann_seq });
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
