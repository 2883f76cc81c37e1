// tandem's own datagram format, version 1. Big-endian, fixed header:
//
//   off size field
//     0    4 magic "TNDM"
//     4    1 version (1)
//     5    1 kind (FrameKind, append-only ids)
//     6    1 auth key index (1..15, from authkeys)
//     7    1 node name length (1..64)
//     8    8 generation (u64, <= 2^53-1)
//    16    8 seq (u64, <= 2^53-1)
//    24    2 body length
//    26    n node name (ASCII [A-Za-z0-9._-])
//     .    m body
//     .    k MAC over every byte before it (k from the key's method)
//
// The MAC covers the whole header, so a changed index, name, generation or
// seq fails verification. Replay and generation checks need state and live
// in core/membership.ts; this file is pure bytes.
import type { AuthKeys } from "../config/types.ts";
import { mac_len_by_method, macInto, verifyMac } from "./auth.ts";
import {
  type Codec,
  type DecodeResult,
  type Frame,
  FrameKind,
  type FrameKindName,
  frame_size_max,
  node_name_len_max,
} from "./types.ts";

const magic = [0x54, 0x4e, 0x44, 0x4d]; // "TNDM"
export const native_version = 1;
const header_len = 26;
const kind_by_id = new Map<number, FrameKindName>(
  Object.entries(FrameKind).map(([name, id]) => [id, name as FrameKindName]),
);
const node_name_re = /^[A-Za-z0-9._-]+$/;
// one of each, not one per datagram (names are ASCII, checked by node_name_re)
const text_encoder = new TextEncoder();
const text_decoder = new TextDecoder();
/** 2^32: u64 fields are read as two u32 halves, no BigInt per datagram */
const two32 = 0x1_0000_0000;
/** the high half of Number.MAX_SAFE_INTEGER */
const safe_hi_max = 0x1f_ffff;

export function isValidNodeName(name: string): boolean {
  return name.length >= 1 && name.length <= node_name_len_max && node_name_re.test(name);
}

export class NativeCodec implements Codec {
  readonly name = "native";
  /** the last encoded node name: a daemon always signs with its own */
  private name_text = "";
  private name_bytes = new Uint8Array();
  constructor(private readonly auth: AuthKeys) {}

  encode(frame: Frame): Uint8Array {
    const key = this.auth.active;
    if (frame.node !== this.name_text) {
      this.name_bytes = text_encoder.encode(frame.node);
      this.name_text = frame.node;
    }
    const name = this.name_bytes;
    if (!isValidNodeName(frame.node)) throw new Error(`encode: bad node name ${JSON.stringify(frame.node)}`);
    if (!Number.isSafeInteger(frame.generation) || frame.generation < 0) throw new Error("encode: bad generation");
    if (!Number.isSafeInteger(frame.seq) || frame.seq < 0) throw new Error("encode: bad seq");
    const mac_len = mac_len_by_method[key.method];
    const total = header_len + name.length + frame.body.length + mac_len;
    if (total > frame_size_max) throw new Error(`encode: frame of ${total} bytes exceeds ${frame_size_max}`);
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    out.set(magic, 0);
    dv.setUint8(4, native_version);
    dv.setUint8(5, FrameKind[frame.kind]);
    dv.setUint8(6, key.index);
    dv.setUint8(7, name.length);
    dv.setUint32(8, Math.floor(frame.generation / two32));
    dv.setUint32(12, frame.generation % two32);
    dv.setUint32(16, Math.floor(frame.seq / two32));
    dv.setUint32(20, frame.seq % two32);
    dv.setUint16(24, frame.body.length);
    out.set(name, header_len);
    out.set(frame.body, header_len + name.length);
    const signed_len = total - mac_len;
    macInto(key, out.subarray(0, signed_len), out.subarray(signed_len));
    return out;
  }

  decode(bytes: Uint8Array): NativeDecodeResult {
    if (bytes.length > frame_size_max) return drop("too_big");
    if (bytes.length < header_len) return drop("short");
    for (let i = 0; i < 4; i++) if (bytes[i] !== magic[i]) return drop("bad_magic");
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint8(4) !== native_version) return drop("bad_version");
    const kind = kind_by_id.get(dv.getUint8(5));
    const key = this.auth.keys.get(dv.getUint8(6));
    const name_len = dv.getUint8(7);
    const gen_hi = dv.getUint32(8);
    const seq_hi = dv.getUint32(16);
    const body_len = dv.getUint16(24);
    if (name_len < 1 || name_len > node_name_len_max) return drop("malformed");
    if (!key) return drop("unknown_key");
    const mac_len = mac_len_by_method[key.method];
    const signed_len = header_len + name_len + body_len;
    if (signed_len + mac_len !== bytes.length) return drop("malformed");
    // Authenticate before interpreting anything else: unauthenticated
    // content must never reach the core, not even the node name.
    if (!verifyMac(key, bytes.subarray(0, signed_len), bytes.subarray(signed_len))) return drop("bad_mac");
    const node = text_decoder.decode(bytes.subarray(header_len, header_len + name_len));
    if (!isValidNodeName(node)) return drop("malformed");
    if (!kind) return drop("unknown_kind", node);
    if (gen_hi > safe_hi_max || seq_hi > safe_hi_max) return drop("malformed", node);
    const generation = gen_hi * two32 + dv.getUint32(12);
    const seq = seq_hi * two32 + dv.getUint32(20);
    const body = bytes.slice(header_len + name_len, signed_len);
    return { ok: true, frame: { kind, node, generation, seq, body } };
  }
}

/** The native codec always yields a frame (narrower than DecodeResult). */
export type NativeDecodeResult = { ok: true; frame: Frame } | Exclude<DecodeResult, { ok: true }>;

function drop(reason: Exclude<DecodeResult, { ok: true }>["reason"], node: string | null = null): NativeDecodeResult {
  return { ok: false, reason, node };
}
