// DRBD 8.4's generic netlink interface, as drbdsetup speaks it: message
// building and parsing (pure, tested against byte fixtures in
// test/unit/drbd.test.ts) and a small client over the addon's socket.
//
// Facts from the kernel's DRBD 8.4 headers (include/linux/drbd_genl.h,
// drbd_genl_api.h, genl_magic_struct.h, drbd.h; drivers/block/drbd/drbd_nl.c):
//   - family "drbd", id assigned at module load: looked up with nlctrl's
//     CTRL_CMD_GETFAMILY; its header size is 8 (struct drbd_genlmsghdr).
//   - every message: nlmsghdr (16) | genlmsghdr (4: cmd, version, 0) |
//     drbd_genlmsghdr (u32 minor, u32 flags/ret_code) | attributes.
//   - top-level attributes are nested "structs": DRBD_NLA_CFG_REPLY 1,
//     DRBD_NLA_CFG_CONTEXT 2, DRBD_NLA_SET_ROLE_PARMS 6, DRBD_NLA_STATE_INFO 8.
//     A field's type is its number | DRBD_GENLA_F_MANDATORY (1 << 14) when
//     the header marks it mandatory; receivers mask the flag off.
//   - commands: DRBD_ADM_GET_STATUS 2 (doit by minor; dumpit for all, or
//     one resource given T_ctx_resource_name), DRBD_ADM_PRIMARY 14,
//     DRBD_ADM_SECONDARY 15, DRBD_ADM_OUTDATE 25 (by minor; reply ret_code is the state change
//     result, SS_SUCCESS 1 / SS_NOTHING_TO_DO 2 or a negative SS_* code, or an
//     ERR_* code >= 100 from request checking; NO_ERROR is 101).
//   - T_current_state is `union drbd_state` as a u32, bitfields from bit 0:
//     role:2 peer:2 conn:5 disk:4 pdsk:4 susp:1 aftr_isp:1 peer_isp:1
//     user_isp:1 susp_nod:1 susp_fen:1.

import { native } from "../native/addon.ts";

// ---- netlink and nlctrl ------------------------------------------------------

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const GENL_ID_CTRL = 0x10;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
const NLA_TYPE_MASK = 0x3fff; // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER); also drops DRBD's mandatory flag
/**
 * Set on the top-level "struct" attributes we send, as the kernel's nla_nest_start does: a DRBD
 * 8.4 module on Linux 6.1 answered a GET_STATUS dump whose DRBD_NLA_CFG_CONTEXT lacked it with
 * EINVAL (strict validation of nested attributes); receivers mask it off.
 */
export const NLA_F_NESTED = 0x8000;

// ---- DRBD 8.4 ----------------------------------------------------------------

export const DRBD_ADM_GET_STATUS = 2;
export const DRBD_ADM_PRIMARY = 14;
export const DRBD_ADM_SECONDARY = 15;
/** drbd_genl.h: GENL_op(DRBD_ADM_OUTDATE, 25, drbd_adm_outdate): NS(disk, D_OUTDATED) on one minor, as `drbdsetup outdate` */
export const DRBD_ADM_OUTDATE = 25;
export const DRBD_NLA_CFG_REPLY = 1;
export const DRBD_NLA_CFG_CONTEXT = 2;
export const DRBD_NLA_SET_ROLE_PARMS = 6;
export const DRBD_NLA_STATE_INFO = 8;
export const DRBD_GENLA_F_MANDATORY = 1 << 14;
export const T_info_text = 1 | DRBD_GENLA_F_MANDATORY;
export const T_ctx_volume = 1 | DRBD_GENLA_F_MANDATORY;
export const T_ctx_resource_name = 2 | DRBD_GENLA_F_MANDATORY;
export const T_assume_uptodate = 1 | DRBD_GENLA_F_MANDATORY;
// state_info fields (numbers without the flag: we only read them)
const SI_current_state = 2;
const SI_capacity = 3;
const SI_bits_oos = 10;
const SI_bits_rs_total = 11;
export const DRBD_GENL_HDRSIZE = 8;
export const MINOR_NONE = 0xffffffff;
export const NO_ERROR = 101;
/** DRBD's resource names are at most 127 bytes (T_ctx_resource_name, 128 with the NUL). */
export const resource_name_bytes_max = 127;

export const role_names = ["Unknown", "Primary", "Secondary", "Unknown"] as const;
export const conn_names = [
  "StandAlone", "Disconnecting", "Unconnected", "Timeout", "BrokenPipe", "NetworkFailure", "ProtocolError", "TearDown",
  "WFConnection", "WFReportParams", "Connected", "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID",
  "SyncSource", "SyncTarget", "VerifyS", "VerifyT", "PausedSyncS", "PausedSyncT", "Ahead", "Behind",
] as const;
export const disk_names = ["Diskless", "Attaching", "Failed", "Negotiating", "Inconsistent", "Outdated", "DUnknown", "Consistent", "UpToDate"] as const;

/** drbd.h enum drbd_state_rv: the result of PRIMARY / SECONDARY. */
export const state_rv_names: Readonly<Record<number, string>> = {
  4: "SS_CW_NO_NEED", 3: "SS_CW_SUCCESS", 2: "SS_NOTHING_TO_DO", 1: "SS_SUCCESS", 0: "SS_UNKNOWN_ERROR",
  [-1]: "SS_TWO_PRIMARIES: the peer is primary", [-2]: "SS_NO_UP_TO_DATE_DISK: no UpToDate disk here or on the peer",
  [-4]: "SS_NO_LOCAL_DISK", [-5]: "SS_NO_REMOTE_DISK", [-6]: "SS_CONNECTED_OUTDATES",
  [-7]: "SS_PRIMARY_NOP: the peer could not be outdated (fence-peer)", [-8]: "SS_RESYNC_RUNNING", [-9]: "SS_ALREADY_STANDALONE",
  [-10]: "SS_CW_FAILED_BY_PEER", [-11]: "SS_IS_DISKLESS", [-12]: "SS_DEVICE_IN_USE: the device is still open (mounted?)",
  [-13]: "SS_NO_NET_CONFIG", [-14]: "SS_NO_VERIFY_ALG", [-15]: "SS_NEED_CONNECTION", [-16]: "SS_LOWER_THAN_OUTDATED",
  [-17]: "SS_NOT_SUPPORTED", [-18]: "SS_IN_TRANSIENT_STATE", [-19]: "SS_CONCURRENT_ST_CHG", [-20]: "SS_O_VOL_PEER_PRI",
  [-21]: "SS_OUTDATE_WO_CONN",
};
/** The ERR_* codes a role change or status request can meet (drbd.h enum drbd_ret_code). */
const ret_code_names: Readonly<Record<number, string>> = {
  101: "NO_ERROR", 126: "ERR_MANDATORY_TAG", 127: "ERR_MINOR_INVALID: no such DRBD minor (is the resource up? drbdadm up)",
  138: "ERR_NO_DISK", 152: "ERR_PERM", 158: "ERR_RES_NOT_KNOWN: no such resource (drbdadm up)", 162: "ERR_INVALID_REQUEST",
};

export function retCodeText(code: number): string {
  return state_rv_names[code] ?? ret_code_names[code] ?? `code ${code}`;
}

/** A role change is done when DRBD says so or says there was nothing to do. */
export function roleChangeOk(code: number): boolean {
  return code === 1 || code === 2 || code === 3 || code === 4 || code === NO_ERROR;
}

/** Worth trying again shortly (drbddisk's retry loop): the peer may be about to be declared gone. */
export function roleChangeTransient(code: number): boolean {
  return code === -1 || code === -18 || code === -19 || code === -10 || code === 0;
}

// ---- attributes ----------------------------------------------------------------

const align4 = (n: number) => (n + 3) & ~3;

/** One netlink attribute: u16 length (header + payload), u16 type, payload, padding to 4. */
export function nla(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.length;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type}: ${payload.length} bytes is too long`);
  const out = new Uint8Array(align4(len));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}

export function nlaU32(type: number, v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return nla(type, b);
}

export function nlaU8(type: number, v: number): Uint8Array {
  return nla(type, Uint8Array.of(v & 0xff));
}

export function nlaString(type: number, s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const b = new Uint8Array(bytes.length + 1); // NUL-terminated (NLA_NUL_STRING)
  b.set(bytes);
  return nla(type, b);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** DRBD_NLA_CFG_CONTEXT { T_ctx_resource_name } */
export function cfgContext(resource: string): Uint8Array {
  checkResourceName(resource);
  return nla(DRBD_NLA_CFG_CONTEXT | NLA_F_NESTED, nlaString(T_ctx_resource_name, resource));
}

export function checkResourceName(resource: string): void {
  const n = new TextEncoder().encode(resource).length;
  if (n === 0 || n > resource_name_bytes_max || /[\s/\0]/.test(resource)) {
    throw new RangeError(`DRBD resource name ${JSON.stringify(resource)}: 1..${resource_name_bytes_max} bytes, no blanks or '/'`);
  }
}

/** Attributes by type (flags masked off); the first of each type wins; at most `max` read. */
export function parseAttrs(bytes: Uint8Array, max = 256): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  for (let i = 0; i < max && off + 4 <= bytes.length; i++) {
    const len = dv.getUint16(off, true);
    const type = dv.getUint16(off + 2, true) & NLA_TYPE_MASK;
    if (len < 4 || off + len > bytes.length) throw new NetlinkFormatError(`attribute at ${off}: length ${len} runs past ${bytes.length}`);
    if (!out.has(type)) out.set(type, bytes.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

const u32 = (b: Uint8Array | undefined): number | null => (b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : null);
const u64 = (b: Uint8Array | undefined): number | null =>
  b && b.length >= 8 ? Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true)) : null;
const u16 = (b: Uint8Array | undefined): number | null => (b && b.length >= 2 ? new DataView(b.buffer, b.byteOffset, 2).getUint16(0, true) : null);
function str(b: Uint8Array | undefined): string | null {
  if (!b) return null;
  const nul = b.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? b.subarray(0, nul) : b);
}

export class NetlinkFormatError extends Error {
  override name = "NetlinkFormatError";
}

// ---- messages ----------------------------------------------------------------

export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** everything after the 16-byte nlmsghdr */
  payload: Uint8Array;
}

/** nlmsghdr | genlmsghdr | family header | attributes */
export function genlMessage(o: { family: number; cmd: number; version: number; flags: number; seq: number; header?: Uint8Array; attrs?: Uint8Array }): Uint8Array {
  const header = o.header ?? new Uint8Array(0);
  const attrs = o.attrs ?? new Uint8Array(0);
  const len = 16 + 4 + header.length + attrs.length;
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, o.family, true);
  dv.setUint16(6, o.flags, true);
  dv.setUint32(8, o.seq >>> 0, true);
  dv.setUint32(12, 0, true);
  out[16] = o.cmd;
  out[17] = o.version;
  out.set(header, 20);
  out.set(attrs, 20 + header.length);
  return out;
}

/** struct drbd_genlmsghdr { u32 minor; u32 flags; } */
export function drbdHeader(minor: number, flags = 0): Uint8Array {
  const b = new Uint8Array(DRBD_GENL_HDRSIZE);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, minor >>> 0, true);
  dv.setUint32(4, flags >>> 0, true);
  return b;
}

/** The messages of one datagram; at most `max`. */
export function splitMessages(datagram: Uint8Array, max = 1024): NlMsg[] {
  const out: NlMsg[] = [];
  const dv = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  let off = 0;
  while (off + 16 <= datagram.length && out.length < max) {
    const len = dv.getUint32(off, true);
    if (len < 16 || off + len > datagram.length) throw new NetlinkFormatError(`netlink message at ${off}: length ${len} runs past ${datagram.length}`);
    out.push({
      type: dv.getUint16(off + 4, true),
      flags: dv.getUint16(off + 6, true),
      seq: dv.getUint32(off + 8, true),
      pid: dv.getUint32(off + 12, true),
      payload: datagram.subarray(off + 16, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** NLMSG_ERROR's errno (0 = an ack). */
export function nlError(m: NlMsg): number {
  if (m.payload.length < 4) throw new NetlinkFormatError("NLMSG_ERROR shorter than its errno");
  return new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true);
}

export interface FamilyInfo {
  id: number;
  version: number;
  hdrsize: number;
}

export function familyRequest(name: string, seq: number): Uint8Array {
  return genlMessage({ family: GENL_ID_CTRL, cmd: CTRL_CMD_GETFAMILY, version: 1, flags: NLM_F_REQUEST, seq, attrs: nlaString(CTRL_ATTR_FAMILY_NAME, name) });
}

export function parseFamily(m: NlMsg): FamilyInfo {
  const a = parseAttrs(m.payload.subarray(4));
  const id = u16(a.get(CTRL_ATTR_FAMILY_ID));
  if (id === null) throw new NetlinkFormatError("CTRL_CMD_GETFAMILY reply without a family id");
  return { id, version: u32(a.get(CTRL_ATTR_VERSION)) ?? 1, hdrsize: u32(a.get(CTRL_ATTR_HDRSIZE)) ?? 0 };
}

export interface DrbdReply {
  cmd: number;
  minor: number;
  /** ret_code of struct drbd_genlmsghdr (signed) */
  ret_code: number;
  /** top-level attributes */
  attrs: Map<number, Uint8Array>;
}

export function parseDrbdReply(m: NlMsg): DrbdReply {
  if (m.payload.length < 4 + DRBD_GENL_HDRSIZE) throw new NetlinkFormatError(`DRBD reply of ${m.payload.length} bytes has no drbd_genlmsghdr`);
  const dv = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  return { cmd: m.payload[0]!, minor: dv.getUint32(4, true), ret_code: dv.getInt32(8, true), attrs: parseAttrs(m.payload.subarray(4 + DRBD_GENL_HDRSIZE)) };
}

/** DRBD_NLA_CFG_REPLY's info_text, if the kernel sent one. */
export function replyText(r: DrbdReply): string | null {
  const nest = r.attrs.get(DRBD_NLA_CFG_REPLY);
  return nest ? str(parseAttrs(nest).get(T_info_text & NLA_TYPE_MASK)) : null;
}

// ---- state ---------------------------------------------------------------------

export interface DrbdState {
  role: string;
  peer: string;
  conn: string;
  disk: string;
  pdsk: string;
  /** I/O suspended: by the admin, for lack of data, or while fence-peer runs */
  susp: boolean;
  susp_nod: boolean;
  susp_fen: boolean;
  /** union drbd_state as a u32 */
  raw: number;
}

const name = (names: readonly string[], i: number) => names[i] ?? `unknown(${i})`;

export function decodeState(i: number): DrbdState {
  return {
    role: name(role_names, i & 3),
    peer: name(role_names, (i >>> 2) & 3),
    conn: name(conn_names, (i >>> 4) & 31),
    disk: name(disk_names, (i >>> 9) & 15),
    pdsk: name(disk_names, (i >>> 13) & 15),
    susp: ((i >>> 17) & 1) === 1,
    susp_nod: ((i >>> 21) & 1) === 1,
    susp_fen: ((i >>> 22) & 1) === 1,
    raw: i >>> 0,
  };
}

export interface DrbdStatus extends DrbdState {
  minor: number;
  resource: string | null;
  volume: number | null;
  /** the device's size in 512-byte sectors */
  capacity_sectors: number | null;
  /** out of sync, KiB (bitmap bits of 4 KiB) */
  out_of_sync_kib: number | null;
  /** resync in progress: its total, KiB */
  resync_total_kib: number | null;
}

/** A GET_STATUS reply (doit or one part of a dump) as a plain object; null for a resource without volumes. */
export function decodeStatus(r: DrbdReply): DrbdStatus | null {
  const ctx = r.attrs.get(DRBD_NLA_CFG_CONTEXT);
  const si = r.attrs.get(DRBD_NLA_STATE_INFO);
  const c = ctx ? parseAttrs(ctx) : new Map<number, Uint8Array>();
  if (!si) return null;
  const s = parseAttrs(si);
  const state = u32(s.get(SI_current_state));
  if (state === null) throw new NetlinkFormatError("DRBD status without current_state");
  const oos = u64(s.get(SI_bits_oos));
  const rs = u64(s.get(SI_bits_rs_total));
  return {
    ...decodeState(state),
    minor: r.minor,
    resource: str(c.get(T_ctx_resource_name & NLA_TYPE_MASK)),
    volume: u32(c.get(T_ctx_volume & NLA_TYPE_MASK)),
    capacity_sectors: u64(s.get(SI_capacity)),
    out_of_sync_kib: oos === null ? null : oos * 4,
    resync_total_kib: rs === null ? null : rs * 4,
  };
}

// ---- client ----------------------------------------------------------------------

export class DrbdNetlinkError extends Error {
  override name = "DrbdNetlinkError";
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The addon calls this module uses (tests substitute a fake kernel). */
export type GenlAddon = Pick<typeof native, "genlTransact">;

/** Replies of one request; a dump of more is refused. */
const reply_messages_max = 4096;
/**
 * Requests in the kernel at once (each holds a worker thread; one stuck behind genl_lock, e.g.
 * while drbdsetup attaches a disk, must not let monitors pile up behind it).
 */
export const requests_in_flight_max = 4;
/** Grace over the request's own timeout before the caller stops waiting for the worker. */
const worker_grace_ms = 1_000;

/**
 * Each request has its own socket on its own worker thread (genlTransact), so
 * concurrent calls (a monitor during a promotion) never see each other's
 * replies and nothing blocks the event loop.
 */
export class DrbdNetlink {
  private family: FamilyInfo | null = null;
  private seq = (Date.now() & 0xffff) << 8;
  private in_flight = 0;

  constructor(private addon: GenlAddon = native) {}

  async status(minor: number, timeout_ms = 5_000): Promise<DrbdStatus> {
    const [r] = await this.drbd(DRBD_ADM_GET_STATUS, minor, new Uint8Array(0), { timeout_ms });
    if (!r) throw new DrbdNetlinkError(`DRBD minor ${minor}: no status reply`, "EPROTO");
    if (r.ret_code !== NO_ERROR) throw new DrbdNetlinkError(`DRBD minor ${minor}: ${retCodeText(r.ret_code)}`, "EDRBD");
    const st = decodeStatus(r);
    if (!st) throw new DrbdNetlinkError(`DRBD minor ${minor}: status without state`, "EPROTO");
    return st;
  }

  /** Every volume of `resource` (GET_STATUS dump filtered by T_ctx_resource_name); [] when it is not up. */
  async resourceStatus(resource: string, timeout_ms = 5_000): Promise<DrbdStatus[]> {
    let replies: DrbdReply[];
    try {
      replies = await this.drbd(DRBD_ADM_GET_STATUS, MINOR_NONE, cfgContext(resource), { timeout_ms, dump: true });
    } catch (e) {
      // the dump answers an unknown resource with -ENODEV
      if (e instanceof DrbdNetlinkError && e.code === "ENODEV") return [];
      throw e;
    }
    const out: DrbdStatus[] = [];
    for (const r of replies) {
      const st = decodeStatus(r);
      if (st && (st.resource === null || st.resource === resource)) out.push(st);
    }
    return out;
  }

  /** PRIMARY / SECONDARY of one minor: DRBD's state change result code (see roleChangeOk). */
  async setRole(minor: number, role: "primary" | "secondary", timeout_ms: number): Promise<{ code: number; text: string | null }> {
    const cmd = role === "primary" ? DRBD_ADM_PRIMARY : DRBD_ADM_SECONDARY;
    // DRBD_NLA_SET_ROLE_PARMS is optional for the kernel; sent empty, as drbdsetup does without --force.
    return this.stateChange(cmd, minor, nla(DRBD_NLA_SET_ROLE_PARMS | NLA_F_NESTED, new Uint8Array(0)), role, timeout_ms);
  }

  /**
   * OUTDATE of one minor (drbd_adm_outdate: a state change to disk Outdated):
   * DRBD's result code, SS_SUCCESS 1 or a negative SS_* (SS_CONNECTED_OUTDATES
   * while connected, SS_LOWER_THAN_OUTDATED for an Inconsistent disk).
   */
  async outdate(minor: number, timeout_ms: number): Promise<{ code: number; text: string | null }> {
    return this.stateChange(DRBD_ADM_OUTDATE, minor, new Uint8Array(0), "outdate", timeout_ms);
  }

  /** One state-changing command on one minor: its reply's result code and text. */
  private async stateChange(cmd: number, minor: number, attrs: Uint8Array, what: string, timeout_ms: number): Promise<{ code: number; text: string | null }> {
    const [r] = await this.drbd(cmd, minor, attrs, { timeout_ms });
    if (!r) throw new DrbdNetlinkError(`DRBD minor ${minor}: no reply to ${what}`, "EPROTO");
    return { code: r.ret_code, text: replyText(r) };
  }

  private async resolveFamily(timeout_ms: number): Promise<FamilyInfo> {
    if (this.family) return this.family;
    const msgs = await this.transact((seq) => familyRequest("drbd", seq), false, timeout_ms);
    const m = msgs.find((x) => x.type === GENL_ID_CTRL);
    if (!m) throw new DrbdNetlinkError("nlctrl gave no answer for family drbd", "EPROTO");
    const f = parseFamily(m);
    if (f.hdrsize !== DRBD_GENL_HDRSIZE) throw new DrbdNetlinkError(`generic netlink family drbd has header size ${f.hdrsize}, not ${DRBD_GENL_HDRSIZE}: not DRBD 8.4`, "EPROTO");
    this.family = f;
    return f;
  }

  private async drbd(cmd: number, minor: number, attrs: Uint8Array, o: { timeout_ms: number; dump?: boolean }): Promise<DrbdReply[]> {
    const f = await this.resolveFamily(o.timeout_ms);
    const flags = NLM_F_REQUEST | (o.dump ? NLM_F_DUMP : 0);
    let msgs: NlMsg[];
    try {
      msgs = await this.transact((seq) => genlMessage({ family: f.id, cmd, version: f.version, flags, seq, header: drbdHeader(minor), attrs }), Boolean(o.dump), o.timeout_ms);
    } catch (e) {
      // the module was reloaded: the family id may have changed
      if (e instanceof DrbdNetlinkError && e.code === "ENOENT") this.family = null;
      throw e;
    }
    return msgs.filter((m) => m.type === f.id).map(parseDrbdReply);
  }

  /** Send one request, collect its replies: one message, or a dump up to NLMSG_DONE. */
  private async transact(build: (seq: number) => Uint8Array, dump: boolean, timeout_ms: number): Promise<NlMsg[]> {
    if (this.in_flight >= requests_in_flight_max) {
      throw new DrbdNetlinkError(`${requests_in_flight_max} DRBD requests already in the kernel (genl_lock held, e.g. by drbdsetup?)`, "EBUSY");
    }
    const seq = (this.seq = (this.seq + 1) >>> 0);
    // The whole request runs on a worker thread (genlTransact): the kernel handles it
    // inside sendto/recv under genl_lock, for seconds during a promotion.
    this.in_flight++;
    const work = this.addon.genlTransact(build(seq), dump, timeout_ms).finally(() => {
      this.in_flight--;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let answer: Uint8Array;
    try {
      answer = await Promise.race([
        work,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new DrbdNetlinkError(`no answer from the kernel within ${timeout_ms} ms (the request is still running in the kernel)`, "ETIMEDOUT")), timeout_ms + worker_grace_ms);
        }),
      ]);
    } catch (e) {
      if (e instanceof DrbdNetlinkError) throw e;
      const code = (e as { code?: string }).code ?? "ESOCKET";
      throw new DrbdNetlinkError(`generic netlink: ${(e as Error).message}`, code, { cause: e });
    } finally {
      clearTimeout(timer);
      work.catch(() => {}); // settled later after a timeout: nobody waits for it any more
    }
    const out: NlMsg[] = [];
    for (const m of splitMessages(answer)) {
      if (m.seq !== seq) continue; // not ours (cannot happen on a private socket, but cheap to check)
      if (m.type === NLMSG_ERROR) {
        const errno = nlError(m);
        if (errno === 0) continue;
        throw errnoError(-errno);
      }
      if (m.type === NLMSG_DONE) return out;
      out.push(m);
      if (out.length > reply_messages_max) throw new DrbdNetlinkError(`more than ${reply_messages_max} replies`, "E2BIG");
      if (!dump) return out;
    }
    if (dump) throw new DrbdNetlinkError("dump ended without NLMSG_DONE", "EPROTO");
    return out;
  }
}

function errnoError(errno: number): DrbdNetlinkError {
  const names: Record<number, [string, string]> = {
    1: ["EPERM", "operation not permitted (tandem must run as root)"],
    2: ["ENOENT", "no generic netlink family drbd: load the module (modprobe drbd)"],
    19: ["ENODEV", "no such DRBD resource"],
    22: ["EINVAL", "invalid request"],
    95: ["EOPNOTSUPP", "operation not supported by this DRBD"],
  };
  const [code, text] = names[errno] ?? [`E${errno}`, `errno ${errno}`];
  return new DrbdNetlinkError(`kernel: ${text}`, code);
}
