import { describe, expect, test } from "bun:test";
import { type Reachability, selfFenceDeadline, selfFenceSafe, shouldSelfFence } from "../../src/core/selffence.ts";

const reach: Reachability[] = ["reachable", "unreachable", "unknown"];

describe("shouldSelfFence", () => {
  test("the decision table", () => {
    const base = { holds_groups: true, peer_reachable: false };
    expect(shouldSelfFence({ ...base, ping_reachable: "unreachable" })).toEqual({ fence: true, reason: "ping_unreachable" });
    expect(shouldSelfFence({ ...base, ping_reachable: "reachable" })).toEqual({ fence: false, reason: "ping_reachable" });
    // two nodes, no ping nodes, a link cut: must not reset the holder
    expect(shouldSelfFence({ ...base, ping_reachable: "unknown" })).toEqual({ fence: false, reason: "cannot_tell" });
    expect(shouldSelfFence({ ...base, ping_reachable: "reachable", quorum_device: "unreachable" })).toEqual({ fence: true, reason: "quorum_device_unreachable" });
    expect(shouldSelfFence({ ...base, ping_reachable: "unreachable", quorum_device: "reachable" })).toEqual({ fence: false, reason: "quorum_device_reachable" });
    expect(shouldSelfFence({ ...base, ping_reachable: "unreachable", quorum_device: "unknown" })).toEqual({ fence: true, reason: "ping_unreachable" });
  });

  test("never without groups, never while the peer is heard, whatever the third parties say", () => {
    for (const ping of reach) {
      for (const q of [...reach, undefined]) {
        expect(shouldSelfFence({ holds_groups: false, peer_reachable: false, ping_reachable: ping, quorum_device: q }).fence).toBe(false);
        expect(shouldSelfFence({ holds_groups: true, peer_reachable: true, ping_reachable: ping, quorum_device: q }).fence).toBe(false);
      }
    }
  });

  test("fences only when some third party positively says we are cut off", () => {
    for (const ping of reach) {
      for (const q of [...reach, undefined]) {
        const d = shouldSelfFence({ holds_groups: true, peer_reachable: false, ping_reachable: ping, quorum_device: q });
        const cut_off = q === "unreachable" || (q !== "reachable" && ping === "unreachable");
        expect(d.fence).toBe(cut_off);
      }
    }
  });
});

describe("selfFenceDeadline", () => {
  test("the relation, worked for keepalive 1 s, deadtime 10 s, softdog 5 s", () => {
    const t = { keepalive_ms: 1000, deadtime_ms: 10_000, deadping_ms: 10_000, watchdog_timeout_ms: 5000, reset_slack_ms: 1000 };
    // decided by 10 s + 1 s tick, fired 5 s later, +1 s slack
    expect(selfFenceDeadline(t)).toEqual({ reset_by_ms: 17_000, peer_wait_min_ms: 8000 });
    expect(selfFenceSafe(t, 8000)).toBe(false);
    expect(selfFenceSafe(t, 8001)).toBe(true);
  });

  test("a longer deadping delays our decision and lengthens the peer's wait one for one", () => {
    const t = { keepalive_ms: 100, deadtime_ms: 500, deadping_ms: 500, watchdog_timeout_ms: 5000 };
    const a = selfFenceDeadline(t);
    const b = selfFenceDeadline({ ...t, deadping_ms: 2500 });
    expect(b.reset_by_ms - a.reset_by_ms).toBe(2000);
    expect(b.peer_wait_min_ms - a.peer_wait_min_ms).toBe(2000);
    // default slack 1 s: 2 x 100 + 5000 + 1000
    expect(a.peer_wait_min_ms).toBe(6200);
  });

  test("simulated cuts: a peer waiting more than peer_wait_min never starts before our reset", () => {
    // Walk cut instants and heartbeat phases; our reset is at its latest, the
    // peer's takeover at its earliest, as the comment in selffence.ts derives.
    const t = { keepalive_ms: 200, deadtime_ms: 1000, deadping_ms: 1500, watchdog_timeout_ms: 3000, reset_slack_ms: 500 };
    const { peer_wait_min_ms } = selfFenceDeadline(t);
    for (let phase = 0; phase < t.keepalive_ms; phase += 7) {
      const cut = 10_000 + phase;
      const our_last_send = cut - (phase % t.keepalive_ms); // last heartbeat the peer got
      const peer_verdict = Math.max(our_last_send, cut - t.keepalive_ms) + t.deadtime_ms;
      const our_decision = cut + Math.max(t.deadtime_ms, t.deadping_ms) + t.keepalive_ms;
      const our_reset_latest = our_decision + t.watchdog_timeout_ms + t.reset_slack_ms;
      expect(peer_verdict + peer_wait_min_ms + 1).toBeGreaterThan(our_reset_latest);
    }
  });

  test("bad inputs are RangeErrors", () => {
    expect(() => selfFenceDeadline({ keepalive_ms: -1, deadtime_ms: 1, deadping_ms: 1, watchdog_timeout_ms: 1 })).toThrow(RangeError);
    expect(() => selfFenceDeadline({ keepalive_ms: 1, deadtime_ms: NaN, deadping_ms: 1, watchdog_timeout_ms: 1 })).toThrow(RangeError);
  });
});
