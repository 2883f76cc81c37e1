// The SCHED_RR time slice against deadtime (src/daemon/realtime.ts): the
// advice `status` and the start-up log give when one slice plus a keepalive
// reaches deadtime.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRrTimeslice, rrSliceProblem } from "../../src/daemon/realtime.ts";

describe("rrSliceProblem", () => {
  test("the kernel's default 100 ms slice at 20/100 ms: advice with the sysctl and the deadtime that would fit", () => {
    const p = rrSliceProblem(100, 20, 100);
    expect(p).toContain("kernel.sched_rr_timeslice_ms is 100");
    expect(p).toContain("set kernel.sched_rr_timeslice_ms=10");
    expect(p).toContain("raise deadtime above 120 ms");
  });
  test("10 ms slices at 20/100, and the 100 ms default at Heartbeat-like 1 s / 5 s: nothing to say", () => {
    expect(rrSliceProblem(10, 20, 100)).toBeNull();
    expect(rrSliceProblem(100, 1000, 5000)).toBeNull();
    expect(rrSliceProblem(100, 100, 500)).toBeNull();
  });
  test("a tight 10/30 ms cluster gets a slice that fits inside deadtime", () => {
    expect(rrSliceProblem(25, 10, 30)).toContain("set kernel.sched_rr_timeslice_ms=10");
    expect(rrSliceProblem(100, 4, 12)).toContain("set kernel.sched_rr_timeslice_ms=4");
  });
  test("an unknown slice (no /proc) says nothing", () => {
    expect(rrSliceProblem(null, 20, 100)).toBeNull();
  });
});

describe("readRrTimeslice", () => {
  test("reads the number, null for junk or a missing file", () => {
    const d = mkdtempSync(join(tmpdir(), "tandem-rr-"));
    writeFileSync(join(d, "ok"), "10\n");
    writeFileSync(join(d, "junk"), "ten\n");
    expect(readRrTimeslice(join(d, "ok"))).toBe(10);
    expect(readRrTimeslice(join(d, "junk"))).toBeNull();
    expect(readRrTimeslice(join(d, "missing"))).toBeNull();
  });
});
