// Self-fencing: when a node that holds groups must stop feeding its watchdog
// (so the watchdog resets it) because its peer will take those groups over,
// and how fast that reset is guaranteed to happen. Pure: no clocks, no I/O.
//
// This is sbd's "watchdog fencing" in Heartbeat terms. A node cut off from
// its peer cannot tell "the peer died" from "I am the one cut off". Only a
// third party can break the tie: ping nodes (Heartbeat's `ping` /
// `ping_group`) or a quorum device. So:
//
//   holds no group                -> never (nothing to run twice)
//   the peer is reachable         -> never (no split to worry about)
//   a third party says we are cut off (ping nodes / quorum device
//     unreachable)                -> self-fence: the peer, which can still
//                                    reach them, will take the groups over
//   a third party is reachable    -> keep running: we are on the good side,
//                                    and the peer, cut off from the third
//                                    party, must not take over (ipfail rule)
//   no third party configured     -> never: "cannot tell". In a two-node
//     ("unknown")                    cluster without ping nodes every link
//                                    cut would otherwise reset the holder,
//                                    turning a network blip into an outage;
//                                    fencing (STONITH) covers that case.
//
// The quorum device, when configured, outranks the ping nodes: it is the
// tie-breaker both nodes talk to, ping nodes are only a hint of which side
// has the network.

export type Reachability = "reachable" | "unreachable" | "unknown";

export interface SelfFenceInput {
  /** this node runs (or is starting or stopping) at least one group */
  holds_groups: boolean;
  /** membership: at least one peer is up */
  peer_reachable: boolean;
  /** ping / ping_group nodes; "unknown" when none are configured or none reported yet */
  ping_reachable: Reachability;
  /** a quorum device, when configured */
  quorum_device?: Reachability;
}

export type SelfFenceReason =
  | "holds_no_groups"
  | "peer_reachable"
  | "quorum_device_reachable"
  | "quorum_device_unreachable"
  | "ping_reachable"
  | "ping_unreachable"
  | "cannot_tell";

export interface SelfFenceDecision {
  fence: boolean;
  reason: SelfFenceReason;
}

export function shouldSelfFence(i: SelfFenceInput): SelfFenceDecision {
  if (!i.holds_groups) return { fence: false, reason: "holds_no_groups" };
  if (i.peer_reachable) return { fence: false, reason: "peer_reachable" };
  const q = i.quorum_device ?? "unknown";
  if (q === "reachable") return { fence: false, reason: "quorum_device_reachable" };
  if (q === "unreachable") return { fence: true, reason: "quorum_device_unreachable" };
  if (i.ping_reachable === "reachable") return { fence: false, reason: "ping_reachable" };
  if (i.ping_reachable === "unreachable") return { fence: true, reason: "ping_unreachable" };
  return { fence: false, reason: "cannot_tell" };
}

// ---- timing ------------------------------------------------------------------
//
// Let C be the instant every link between the nodes is cut.
//
// Us (the holder that self-fences):
//   - we declare the peer dead at C + deadtime (we last heard it at ~C);
//   - we see the ping nodes dead at C + deadping at the latest;
//   - the decision is taken on the next daemon tick: + keepalive at most;
//   - we stop feeding at that instant D; the last feed was at or before D,
//     so the watchdog fires by D + watchdog_timeout, and the node resets
//     (reset_slack: driver timer granularity, the reset path itself).
//   reset_by = max(deadtime, deadping) + keepalive + watchdog_timeout + reset_slack
//
// The peer (that takes over without a confirmed fence):
//   - it heard our last heartbeat at C - keepalive at the earliest (we send
//     one every keepalive), so it declares us dead at >= C - keepalive + deadtime;
//   - it then waits `peer_wait` (sbd's stonith-watchdog-timeout; for tandem a
//     fence delay that ends in takeover without a fence agent) before it
//     starts our groups.
//   takeover >= C - keepalive + deadtime + peer_wait
//
// Safe iff takeover > reset_by, that is
//   peer_wait > (max(deadtime, deadping) - deadtime) + 2 x keepalive + watchdog_timeout + reset_slack
//
// With Heartbeat's default deadping = deadtime this is
//   peer_wait > 2 x keepalive + watchdog_timeout + reset_slack.
// A peer that fences us through a real fence device first (STONITH reported
// success) does not depend on this relation.

export interface SelfFenceTiming {
  keepalive_ms: number;
  deadtime_ms: number;
  /** ha.cf `deadping`; Heartbeat's default is deadtime */
  deadping_ms: number;
  /** the watchdog device's timeout */
  watchdog_timeout_ms: number;
  /** allowance for the driver's timer granularity and the reset itself */
  reset_slack_ms?: number;
}

export interface SelfFenceDeadline {
  /** after the links are cut, this node has reset by then */
  reset_by_ms: number;
  /** after declaring this node dead, the peer must wait more than this before taking its groups without a fence */
  peer_wait_min_ms: number;
}

/** softdog fires on a jiffies timer; a hardware watchdog within its own tick. 1 s covers both generously. */
export const reset_slack_ms_default = 1_000;

export function selfFenceDeadline(t: SelfFenceTiming): SelfFenceDeadline {
  const slack = t.reset_slack_ms ?? reset_slack_ms_default;
  for (const [k, v] of Object.entries({ ...t, reset_slack_ms: slack })) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`selfFenceDeadline: ${k} must be a finite number >= 0, not ${v}`);
  }
  const decided_ms = Math.max(t.deadtime_ms, t.deadping_ms) + t.keepalive_ms;
  const reset_by_ms = decided_ms + t.watchdog_timeout_ms + slack;
  // The peer's clock for peer_wait starts at its own verdict, C - keepalive + deadtime.
  const peer_wait_min_ms = reset_by_ms - (t.deadtime_ms - t.keepalive_ms);
  return { reset_by_ms, peer_wait_min_ms };
}

/** True when a peer that waits `peer_wait_ms` after its verdict cannot start our groups before we have reset. */
export function selfFenceSafe(t: SelfFenceTiming, peer_wait_ms: number): boolean {
  return peer_wait_ms > selfFenceDeadline(t).peer_wait_min_ms;
}
