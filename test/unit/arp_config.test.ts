// ha.cf `arp_count` / `arp_interval` (tandem's own): the built-in floating
// IP's announcement burst, IPaddr2's arp_count / arp_interval.
import { describe, expect, test } from "bun:test";
import { parseHaCf } from "../../src/config/hacf.ts";

const parse = (lines: string) => parseHaCf(`node a b\n${lines}\n`, "/etc/ha.d/ha.cf");
const errors = (lines: string) => parse(lines).diagnostics.filter((x) => x.severity === "error");

describe("arp_count / arp_interval in ha.cf", () => {
  test("defaults are IPaddr2's: 5 announcements 200 ms apart", () => {
    const c = parse("").config;
    expect([c.arp_count, c.arp_interval_ms]).toEqual([5, 200]);
  });

  test("plain and `# tandem:` forms, Heartbeat's time syntax", () => {
    expect(parse("arp_count 0\narp_interval 1.5").config).toMatchObject({ arp_count: 0, arp_interval_ms: 1500 });
    expect(parse("# tandem: arp_count 2\n# tandem: arp_interval 50ms").config).toMatchObject({ arp_count: 2, arp_interval_ms: 50 });
    expect(errors("# tandem: arp_count 2\n# tandem: arp_interval 50ms")).toEqual([]);
  });

  test("bad values: one error on the line saying what fits", () => {
    for (const [line, msg] of [
      ["arp_count -1", "not a whole number (0..1000)"],
      ["arp_count 1001", "out of range 0..1000"],
      ["arp_count many", "not a whole number (0..1000)"],
      ["arp_interval 0", "write e.g. `arp_interval 200ms`"],
      ["arp_interval 61", "must be 1ms..60s, got 61000 ms"],
      ["arp_interval soon", "is not a time"],
    ] as const) {
      const d = errors(line);
      expect(d.length, line).toBe(1);
      expect(d[0]!.line, line).toBe(2);
      expect(d[0]!.message, line).toContain(msg);
    }
    const twice = errors("arp_count 1\narp_count 2");
    expect(twice.map((x) => [x.line, x.message.includes("given twice")])).toEqual([[3, true]]);
  });
});
