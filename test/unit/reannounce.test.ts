// NativeIp.reannounce (src/agents/ipaddr.ts): the held floating IP announced
// again when the network comes back, bounded per address (one burst in
// flight, bursts at least reannounce_gap_ms apart, one deferred request at
// most), against a recording addon; and ha.cf's `arp_refresh`. The daemon
// side (link_up / node_up -> every IP of every running group) runs for real
// in test/integration/reannounce.test.ts.
import { describe, expect, test } from "bun:test";
import { type IpAddon, type IpSpec, NativeIp, parseIpResource, reannounce_gap_ms_default } from "../../src/agents/ipaddr.ts";
import { parseHaCf } from "../../src/config/hacf.ts";
import type { AddrInfo } from "../../src/native/addon.ts";

function spec(arg: string): IpSpec {
  const s = parseIpResource([arg]);
  if (typeof s === "string") throw new Error(s);
  return s;
}

function addr(ifname: string, address: string, prefixlen: number): AddrInfo {
  return { ifname, ifindex: 2, family: address.includes(":") ? 6 : 4, address, prefixlen, scope: 0, label: ifname, flags: 0 } as AddrInfo;
}

/** The addon's address table and announcements, in memory: what was sent, and when. */
class Recorder implements IpAddon {
  list: AddrInfo[] = [addr("eth0", "192.0.2.1", 26), addr("eth0", "2001:db8::1:1", 112)];
  sent: { what: string; at_ms: number }[] = [];
  addrList = () => this.list.map((a) => ({ ...a }));
  addrAdd = (ifname: string, address: string, prefixlen: number) => void this.list.push(addr(ifname, address, prefixlen));
  addrDel = (ifname: string, address: string, prefixlen: number) => {
    this.list = this.list.filter((a) => !(a.ifname === ifname && a.address === address && a.prefixlen === prefixlen));
  };
  sendGarp = (ifname: string, ip: string) => {
    this.sent.push({ what: `garp ${ifname} ${ip}`, at_ms: performance.now() });
    return { mac: "02:00:00:00:00:01", sent: 2 };
  };
  sendUnsolicitedNa = (ifname: string, ip: string) => {
    this.sent.push({ what: `na ${ifname} ${ip}`, at_ms: performance.now() });
    return { mac: "02:00:00:00:00:01", sent: 1 };
  };
}

const gap_ms = 80;
const interval_ms = 5;

function make(arg = "192.0.2.10/26/eth0", count = 3) {
  const f = new Recorder();
  const logs: string[] = [];
  const ip = new NativeIp(spec(arg), { addon: f, arp_count: count, arp_interval_ms: interval_ms, reannounce_gap_ms: gap_ms, log: (_l, m) => logs.push(m) });
  return { f, ip, logs };
}

describe("NativeIp.reannounce", () => {
  test("the default gap is 2 s", () => {
    expect(reannounce_gap_ms_default).toBe(2_000);
    expect(new NativeIp(spec("192.0.2.10"), { addon: new Recorder() }).reannounce_gap_ms).toBe(2_000);
    expect(() => new NativeIp(spec("192.0.2.10"), { addon: new Recorder(), reannounce_gap_ms: -1 })).toThrow(RangeError);
  });

  test("an address that is not up here is not announced", () => {
    const { f, ip } = make();
    expect(ip.reannounce("link_up node2 x")).toBe("not_up");
    expect(f.sent).toEqual([]);
  });

  test("a held address gets a full burst, the first announcement at once", async () => {
    const { f, ip, logs } = make();
    f.list.push(addr("eth0", "192.0.2.10", 26)); // up, e.g. since before a restart of this object
    expect(ip.reannounce("node_up node2")).toBe("started");
    expect(f.sent.map((s) => s.what)).toEqual(["garp eth0 192.0.2.10"]);
    const r = await ip.burst!.done;
    expect(r).toMatchObject({ planned: 3, announced: 3, packets: 6, cancelled: false });
    expect(logs).toContain("IPaddr::192.0.2.10/26/eth0: re-announcing 192.0.2.10 on eth0 (node_up node2): 3 times every 5 ms");
  });

  test("IPv6: unsolicited NAs", async () => {
    const { f, ip } = make("2001:db8::1:aa/112/eth0", 2);
    f.list.push(addr("eth0", "2001:db8::1:aa", 112));
    expect(ip.reannounce("link_up node2 x")).toBe("started");
    await ip.burst!.done;
    expect(f.sent.map((s) => s.what)).toEqual(["na eth0 2001:db8::1:aa", "na eth0 2001:db8::1:aa"]);
  });

  test("a request during a burst is absorbed by it; one after it, inside the gap, is deferred to the gap's end, once", async () => {
    const { f, ip } = make();
    await ip.start();
    const t0 = f.sent[0]!.at_ms;
    expect(ip.reannounce("link_up a")).toBe("in_flight");
    await ip.burst!.done;
    expect(f.sent.length).toBe(3);
    expect(ip.reannounce("link_up b")).toBe("deferred");
    expect(ip.reannounce("link_up c")).toBe("deferred");
    expect(f.sent.length).toBe(3);
    for (let i = 0; i < 100 && f.sent.length < 6; i++) await Bun.sleep(20); // bounded: 2 s
    await Bun.sleep(gap_ms + 20);
    expect(f.sent.length).toBe(6); // one more burst, not two
    expect(f.sent[3]!.at_ms - t0).toBeGreaterThanOrEqual(gap_ms - 1);
  });

  test("the last_start timing belongs to the start, not to a re-announcement", async () => {
    const { ip } = make();
    await ip.start();
    await ip.burst!.done;
    const first = ip.last_start!.first_sent_ms;
    await Bun.sleep(gap_ms);
    expect(ip.reannounce("link_up")).toBe("started");
    await ip.burst!.done;
    expect(ip.last_start!.first_sent_ms).toBe(first);
  });

  test("stop cancels a deferred re-announcement and a burst in flight", async () => {
    const { f, ip } = make("192.0.2.10/26/eth0", 50);
    await ip.start();
    await ip.stop();
    expect((await ip.burst!.done).cancelled).toBe(true);
    const after_stop = f.sent.length;
    await ip.start();
    ip.burst!.cancel();
    expect(ip.reannounce("link_up")).toBe("deferred");
    await ip.stop();
    const n = f.sent.length;
    await Bun.sleep(gap_ms + 30);
    expect(f.sent.length).toBe(n);
    expect(after_stop).toBeGreaterThanOrEqual(1);
  });

  test("a flapping link cannot make a storm: at most one burst per gap", async () => {
    const { f, ip } = make("192.0.2.10/26/eth0", 2);
    f.list.push(addr("eth0", "192.0.2.10", 26));
    const run_ms = 5 * gap_ms;
    const t0 = performance.now();
    let requests = 0;
    for (let i = 0; i < 1000 && performance.now() - t0 < run_ms; i++) {
      ip.reannounce(`link_up flap ${i}`);
      requests++;
      await Bun.sleep(2);
    }
    await Bun.sleep(gap_ms + 20); // a deferred burst may still come
    const bursts_max = Math.ceil((performance.now() - t0) / gap_ms) + 1;
    expect(requests).toBeGreaterThan(20);
    expect(f.sent.length).toBeGreaterThanOrEqual(2);
    expect(f.sent.length).toBeLessThanOrEqual(2 * bursts_max);
    // and the bursts' first announcements are a gap apart
    const starts = f.sent.filter((_, i) => i % 2 === 0).map((s) => s.at_ms);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(gap_ms - 1);
  });

  test("the periodic refresh: one announcement, not logged", async () => {
    const { f, ip, logs } = make();
    f.list.push(addr("eth0", "192.0.2.10", 26));
    expect(ip.reannounce(null, 1)).toBe("started");
    expect((await ip.burst!.done).announced).toBe(1);
    expect(f.sent.length).toBe(1);
    expect(logs).toEqual([]);
  });
});

describe("ha.cf arp_refresh", () => {
  const parse = (lines: string) => parseHaCf(`node a b\n${lines}\n`, "/etc/ha.d/ha.cf");
  const errors = (lines: string) => parse(lines).diagnostics.filter((x) => x.severity === "error");

  test("off by default; seconds as Heartbeat writes time; the `# tandem:` form", () => {
    expect(parse("").config.arp_refresh_ms).toBe(0);
    expect(parse("arp_refresh 60").config.arp_refresh_ms).toBe(60_000);
    expect(parse("arp_refresh 0").config.arp_refresh_ms).toBe(0);
    expect(parse("# tandem: arp_refresh 2500ms").config.arp_refresh_ms).toBe(2_500);
    expect(errors("# tandem: arp_refresh 30")).toEqual([]);
  });

  test("out of range or not a time: one error on its line saying what fits", () => {
    for (const [line, msg] of [
      ["arp_refresh 1", "must be 0 (off) or 2s..24h, got 1000 ms"],
      ["arp_refresh 90000", "more than a day"],
      ["arp_refresh often", "is not a time"],
    ] as const) {
      const d = errors(line);
      expect(d.length, line).toBe(1);
      expect(d[0]!.line, line).toBe(2);
      expect(d[0]!.message, line).toContain(msg);
    }
  });
});
