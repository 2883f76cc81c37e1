import { describe, expect, test } from "bun:test";
import { isReplyLine, PingMonitor, pingScore, pingUnits } from "../../src/links/ping.ts";

describe("ping nodes", () => {
  test("units: each ping address alone, each ping_group as one", () => {
    const units = pingUnits({ ping_nodes: ["192.0.2.1", "192.0.2.2"], ping_groups: [{ name: "gw", addrs: ["192.0.2.3", "192.0.2.4"], line: 3 }] });
    expect(units.map((u) => u.name)).toEqual(["192.0.2.1", "192.0.2.2", "gw"]);
  });

  test("score: a reply within deadping counts; a group needs one member", () => {
    const units = pingUnits({ ping_nodes: ["a"], ping_groups: [{ name: "g", addrs: ["b", "c"], line: 1 }] });
    const last = new Map([
      ["a", 1000],
      ["c", 1500],
    ]);
    expect(pingScore(units, last, 1900, 1000)).toBe(2);
    expect(pingScore(units, last, 2200, 1000)).toBe(1); // a is 1200 ms old
    expect(pingScore(units, last, 2600, 1000)).toBe(0);
    expect(pingScore(units, new Map(), 0, 1000)).toBe(0);
  });

  test("reply lines of iputils ping, and what is not one", () => {
    expect(isReplyLine("64 bytes from 192.0.2.1: icmp_seq=3 ttl=64 time=0.051 ms")).toBe(true);
    expect(isReplyLine("64 bytes from 2001:db8::1: icmp_seq=1 ttl=64 time=0.05 ms")).toBe(true);
    expect(isReplyLine("From 192.0.2.9 icmp_seq=1 Destination Host Unreachable")).toBe(false);
    expect(isReplyLine("PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data.")).toBe(false);
  });

  test("a real ping child on loopback brings the score up, and close() kills it", async () => {
    const scores: number[] = [];
    const m = new PingMonitor(
      { ping_nodes: ["127.0.0.1"], ping_groups: [], keepalive_ms: 50, deadping_ms: 500 },
      (s) => scores.push(s),
      () => {},
    );
    m.start();
    try {
      for (let i = 0; i < 100 && !scores.includes(1); i++) await Bun.sleep(20);
      expect(scores).toContain(1);
      expect(m.status().nodes[0]!.last_reply_ms_ago).not.toBeNull();
    } finally {
      m.close();
    }
  });
});
