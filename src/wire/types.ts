// Wire-level data model shared by every codec (native now, Heartbeat 3.0.6
// later). A codec turns authenticated bytes into a Frame or a named reason
// for dropping them; it never throws on input. The native codec is
// stateless; the Heartbeat codec keeps per-peer sequence state because
// Heartbeat's protocol needs it (acks, retransmission).
import type { HbDelivered } from "./heartbeat.ts";

/** Message kinds. Values are the on-wire ids: ONLY APPEND, never renumber. */
export const FrameKind = {
  heartbeat: 1,
  leave: 2,
  /** DRBD: please outdate your disk of a resource (src/core/outdate.ts); peers without it drop it as unknown_kind */
  drbd_outdate_request: 3,
  /** DRBD: what the peer did about a drbd_outdate_request */
  drbd_outdate_reply: 4,
} as const;
export type FrameKindName = keyof typeof FrameKind;

export interface Frame {
  kind: FrameKindName;
  /** sender's node name (uname -n), 1..64 bytes of [A-Za-z0-9._-] */
  node: string;
  /** sender's per-boot generation, persisted in its state directory */
  generation: number;
  /** per-generation sequence number, starts at 1 */
  seq: number;
  /** type-specific body (TLV); empty for heartbeat/leave today */
  body: Uint8Array;
}

/** Why a datagram was dropped. Counted per reason, never acted on. */
export type DropReason =
  | "short"
  | "too_big"
  | "bad_magic"
  | "bad_version"
  | "malformed"
  | "unknown_kind"
  /** well-formed but uses a feature tandem does not implement (Heartbeat's compressed fields) */
  | "unsupported"
  | "unknown_key"
  | "bad_mac"
  | "unknown_node"
  | "old_generation"
  | "replay";

export type DecodeResult =
  /**
   * frame: for membership (null: a protocol message the codec handled
   * itself, e.g. Heartbeat's acks); message: a foreign protocol's message
   * for the daemon to route by type (Heartbeat 3.0.6: src/wire/heartbeat.ts),
   * already authenticated, in sequence and addressed to us.
   */
  | { ok: true; frame: Frame | null; message?: WireMessage }
  | { ok: false; reason: DropReason; node: string | null };

export type WireMessage = HbDelivered;

export interface Codec {
  readonly name: string;
  encode(frame: Frame): Uint8Array;
  decode(bytes: Uint8Array): DecodeResult;
  /**
   * Messages the codec must send on every link by itself (Heartbeat: acks,
   * retransmissions, replies), oldest first, bounded; the daemon drains it
   * after every decode and encode. Absent for the native codec.
   */
  takeOutgoing?(): Uint8Array[];
  /** The same message as a serial link carries it (Heartbeat: the classic text form); absent: unchanged. */
  forSerial?(bytes: Uint8Array): Uint8Array;
}

/** Largest datagram any codec emits or accepts (fits an Ethernet MTU). */
export const frame_size_max = 1400;
export const node_name_len_max = 64;
