import { describe, expect, test } from "bun:test";
import { feedIntervalMs } from "../../src/daemon/watchdog.ts";

describe("feedIntervalMs", () => {
  test("a quarter of the timeout, in whole keepalives, so feeds ride on heartbeat ticks", () => {
    expect(feedIntervalMs(5000, 200)).toBe(1200); // quarter 1250 -> 6 keepalives
    expect(feedIntervalMs(60_000, 1000)).toBe(15_000);
    expect(feedIntervalMs(10_000, 10)).toBe(2500);
    expect(feedIntervalMs(5000, 100)).toBe(1200);
  });

  test("keepalive longer than a quarter of the timeout: the quarter itself (the daemon ticks for it)", () => {
    expect(feedIntervalMs(5000, 2000)).toBe(1250);
    expect(feedIntervalMs(1000, 1000)).toBe(250);
  });

  test("at least three feeds fit in every timeout", () => {
    for (const t of [1000, 2000, 5000, 7000, 60_000]) {
      for (const k of [10, 50, 100, 333, 1000, 2000, 30_000]) {
        const i = feedIntervalMs(t, k);
        expect(i).toBeGreaterThan(0);
        expect(i * 4).toBeLessThanOrEqual(t);
      }
    }
  });

  test("nonsense is a RangeError", () => {
    expect(() => feedIntervalMs(0, 100)).toThrow(RangeError);
    expect(() => feedIntervalMs(5000, 0)).toThrow(RangeError);
    expect(() => feedIntervalMs(Number.NaN, 100)).toThrow(RangeError);
  });
});
