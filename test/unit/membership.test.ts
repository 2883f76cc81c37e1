import { describe, expect, test } from "bun:test";
import {
  type MembershipConfig,
  type MembershipEvent,
  initialState,
  nextDeadline,
  statusView,
  step,
} from "../../src/core/membership.ts";

const cfg: MembershipConfig = {
  self: "a",
  nodes: ["a", "b"],
  links: ["l1", "l2"],
  generation: 7,
  keepalive_ms: 10,
  warntime_ms: 30,
  deadtime_ms: 50,
  initdead_ms: 200,
};
const hb = (seq: number, link = "l1", generation = 1): MembershipEvent => ({
  type: "frame",
  kind: "heartbeat",
  from: "b",
  link,
  generation,
  seq,
});
const types = (as: { type: string }[]) => as.map((a) => a.type);

describe("membership core", () => {
  test("sends at once, then every keepalive, without bursts after a stall", () => {
    const s = initialState(cfg, 0);
    expect(step(s, { type: "tick" }, 0)).toEqual([{ type: "send", kind: "heartbeat", seq: 1 }]);
    expect(nextDeadline(s)).toBe(10);
    expect(step(s, { type: "tick" }, 5)).toEqual([]);
    expect(step(s, { type: "tick" }, 10)).toEqual([{ type: "send", kind: "heartbeat", seq: 2 }]);
    // a 45 ms stall: one heartbeat, next one a full keepalive later
    expect(types(step(s, { type: "tick" }, 55))).toEqual(["send"]);
    expect(nextDeadline(s)).toBe(65);
  });

  test("peer up, then dead exactly at deadtime", () => {
    const s = initialState(cfg, 0);
    step(s, { type: "tick" }, 0);
    expect(types(step(s, hb(1), 3))).toEqual(["link_up", "node_up"]);
    expect(nextDeadline(s)).toBe(10);
    step(s, { type: "tick" }, 10);
    step(s, { type: "tick" }, 20);
    step(s, { type: "tick" }, 30);
    step(s, { type: "tick" }, 40);
    expect(nextDeadline(s)).toBe(50);
    step(s, { type: "tick" }, 50);
    expect(nextDeadline(s)).toBe(53);
    const acts = step(s, { type: "tick" }, 53);
    expect(acts).toContainEqual({ type: "node_dead", node: "b", reason: "deadtime", last_heard_ms: 3, lateness_ms: 0 });
    expect(acts).toContainEqual({ type: "link_down", node: "b", link: "l1" });
  });

  test("never heard: dead after initdead", () => {
    const s = initialState(cfg, 100);
    step(s, { type: "tick" }, 100);
    expect(types(step(s, { type: "tick" }, 299)).includes("node_dead")).toBe(false);
    expect(step(s, { type: "tick" }, 301)).toContainEqual({
      type: "node_dead", node: "b", reason: "deadtime", last_heard_ms: null, lateness_ms: 1,
    });
  });

  test("one link lost keeps the peer up", () => {
    const s = initialState(cfg, 0);
    for (let t = 0, seq = 1; t <= 200; t += 10, seq++) {
      const acts = [...step(s, hb(seq, "l1"), t), ...(t < 60 ? step(s, hb(seq, "l2"), t + 1) : [])];
      expect(types(acts).includes("node_dead")).toBe(false);
      if (t === 110) expect(acts).toContainEqual({ type: "link_down", node: "b", link: "l2" });
    }
    const view = statusView(s, 200).find((n) => n.name === "b")!;
    expect(view.state).toBe("up");
    expect(view.links.map((l) => l.state)).toEqual(["up", "down"]);
  });

  test("duplicates across links are not replays; a repeat on one link is", () => {
    const s = initialState(cfg, 0);
    step(s, hb(1, "l1"), 1);
    expect(types(step(s, hb(1, "l2"), 2))).toEqual(["link_up"]);
    expect(step(s, hb(1, "l2"), 3)).toContainEqual({ type: "drop", reason: "replay", from: "b", link: "l2" });
    expect(s.dropped.replay).toBe(1);
  });

  test("leave: dead at once; stale packets of that generation are refused", () => {
    const s = initialState(cfg, 0);
    step(s, hb(1), 1);
    const acts = step(s, { type: "frame", kind: "leave", from: "b", link: "l1", generation: 1, seq: 2 }, 5);
    expect(acts).toContainEqual({ type: "node_dead", node: "b", reason: "left", last_heard_ms: 1, lateness_ms: 0 });
    expect(step(s, hb(3, "l2"), 6)).toContainEqual({ type: "drop", reason: "old_generation", from: "b", link: "l2" });
  });

  test("restart: a higher generation is a rejoin; a lower one is refused", () => {
    const s = initialState(cfg, 0);
    step(s, hb(100, "l1", 5), 1);
    const acts = step(s, hb(1, "l1", 6), 2);
    expect(types(acts)).toEqual(["node_dead", "node_up"]);
    expect(acts[0]).toMatchObject({ reason: "restarted" });
    expect(acts[1]).toMatchObject({ generation: 6, rejoined: true });
    expect(step(s, hb(500, "l1", 5), 3)).toContainEqual({ type: "drop", reason: "old_generation", from: "b", link: "l1" });
  });

  test("unknown nodes and unknown links are dropped; own loopback is ignored", () => {
    const s = initialState(cfg, 0);
    expect(step(s, { ...hb(1), from: "mallory" } as MembershipEvent, 1)).toContainEqual({
      type: "drop", reason: "unknown_node", from: "mallory", link: "l1",
    });
    expect(step(s, { ...hb(1), from: "a" } as MembershipEvent, 1).filter((a) => a.type === "drop")).toEqual([]);
  });

  test("late heartbeat warning after warntime", () => {
    const s = initialState(cfg, 0);
    step(s, hb(1), 0);
    expect(step(s, hb(2), 40)).toContainEqual({ type: "late_heartbeat", node: "b", gap_ms: 40 });
  });

  test("shutdown sends one leave and stops heartbeats", () => {
    const s = initialState(cfg, 0);
    step(s, { type: "tick" }, 0);
    expect(step(s, { type: "shutdown" }, 1)).toEqual([{ type: "send", kind: "leave", seq: 2 }]);
    expect(step(s, { type: "shutdown" }, 2)).toEqual([]);
    expect(step(s, { type: "tick" }, 100).filter((a) => a.type === "send")).toEqual([]);
  });

  test("bad configs are refused", () => {
    expect(() => initialState({ ...cfg, self: "z" }, 0)).toThrow(/not in the node list/);
    expect(() => initialState({ ...cfg, deadtime_ms: 5 }, 0)).toThrow();
  });
});
