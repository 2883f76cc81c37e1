// src/agents/ipaddr.ts without the kernel: every IP resource form (and the
// bad ones), address text handling, finding the interface, and start/stop/
// status/burst logic against a fake addon that records what it was asked.
import { describe, expect, test } from "bun:test";
import {
  formatIPv6,
  type IpAddon,
  IpError,
  type IpSpec,
  ipv4Broadcast,
  NativeIp,
  parseIPv4,
  parseIPv6,
  parseIpResource,
} from "../../src/agents/ipaddr.ts";
import type { AddrAddOptions, AddrInfo } from "../../src/native/addon.ts";

function spec(arg: string): IpSpec {
  const s = parseIpResource([arg]);
  if (typeof s === "string") throw new Error(s);
  return s;
}

describe("parseIpResource: every Heartbeat form", () => {
  test("address only", () => {
    expect(spec("192.0.2.10")).toEqual({ family: 4, address: "192.0.2.10", prefixlen: null, ifname: null, label: null, broadcast: null, text: "192.0.2.10" });
  });
  test("address/bits", () => {
    expect(spec("192.0.2.10/24")).toMatchObject({ family: 4, prefixlen: 24, ifname: null });
  });
  test("address/dotted netmask", () => {
    expect(spec("192.0.2.10/255.255.255.192")).toMatchObject({ prefixlen: 26 });
  });
  test("address/bits/interface", () => {
    expect(spec("192.0.2.10/24/eth0")).toMatchObject({ prefixlen: 24, ifname: "eth0", label: null, broadcast: null });
  });
  test("address/bits/interface:label", () => {
    expect(spec("192.0.2.10/24/eth0:vip")).toMatchObject({ ifname: "eth0", label: "eth0:vip" });
  });
  test("address/bits/interface/broadcast", () => {
    expect(spec("192.0.2.10/24/eth0/192.0.2.255")).toMatchObject({ prefixlen: 24, ifname: "eth0", broadcast: "192.0.2.255" });
  });
  test("empty fields are absent", () => {
    expect(spec("192.0.2.10//eth0")).toMatchObject({ prefixlen: null, ifname: "eth0" });
  });
  test("IPv6, canonicalised", () => {
    expect(spec("2001:db8::10/64/eth0")).toEqual({
      family: 6,
      address: "2001:db8::10",
      prefixlen: 64,
      ifname: "eth0",
      label: null,
      broadcast: null,
      text: "2001:db8::10/64/eth0",
    });
    expect(spec("2001:0DB8:0:0:0:0:0:0010")).toMatchObject({ address: "2001:db8::10", prefixlen: null });
    expect(spec("2001:db8::1:aa/112")).toMatchObject({ prefixlen: 112 });
  });
});

describe("parseIpResource: bad forms say what is wrong", () => {
  const cases: [string[], string][] = [
    [[], "IP resource: expected one argument ADDRESS[/NETMASK[/INTERFACE[/BROADCAST]]], got 0"],
    [["192.0.2.10", "24"], "expected one argument"],
    [[""], 'IP resource "": no address'],
    [["/24/eth0"], "no address"],
    [["192.0.2.10/24/eth0/192.0.2.255/x"], 'too many "/" fields'],
    [["192.0.2"], '"192.0.2" is not an IPv4 or IPv6 address'],
    [["192.0.2.300"], "is not an IPv4 or IPv6 address"],
    [["192.0.2.010"], "is not an IPv4 or IPv6 address"],
    [["vip.example.com"], "is not an IPv4 or IPv6 address"],
    [["2001:db8:::1"], "is not an IPv4 or IPv6 address"],
    [["fe80::1%eth0"], "is not an IPv4 or IPv6 address"],
    [["0.0.0.0"], "0.0.0.0 cannot be a floating address"],
    [["255.255.255.255"], "cannot be a floating address"],
    [["224.0.0.5/24"], "224.0.0.5 is a multicast address"],
    [["ff02::1/64/eth0"], "ff02::1 is a multicast address"],
    [["::/64"], ":: cannot be a floating address"],
    [["::1"], "::1 cannot be a floating address"],
    [["::ffff:192.0.2.1"], "is IPv4-mapped; write the IPv4 address"],
    [["192.0.2.10/0"], "netmask /0 out of range (1..32 for IPv4)"],
    [["192.0.2.10/33"], "netmask /33 out of range (1..32 for IPv4)"],
    [["2001:db8::10/129"], "netmask /129 out of range (1..128 for IPv6)"],
    [["192.0.2.10/abc"], 'netmask "abc" is not a number of bits or a dotted netmask'],
    [["192.0.2.10/255.0.255.0"], '"255.0.255.0" is not a netmask'],
    [["2001:db8::10/ffff::"], "is not a number of bits"],
    [["192.0.2.0/24"], "192.0.2.0 is the network address of /24"],
    [["192.0.2.63/26"], "192.0.2.63 is the broadcast address of /26"],
    [["192.0.2.10/24/eth 0"], '"eth 0" is not an interface name'],
    [["192.0.2.10/24/a-very-long-interface"], "is not an interface name (1..15 characters"],
    [["192.0.2.10/24/.."], "is not an interface name"],
    [["192.0.2.10/24/eth0:"], 'bad label "eth0:"'],
    [["192.0.2.10/24/eth0:a-long-label"], 'label "eth0:a-long-label" is longer than 15 characters'],
    [["2001:db8::10/64/eth0:1"], 'IPv6 addresses have no label ("eth0:1")'],
    [["2001:db8::10/64/eth0/2001:db8::ff"], "IPv6 has no broadcast address"],
    [["192.0.2.10/24/eth0/192.0.2"], 'broadcast "192.0.2" is not an IPv4 address'],
  ];
  for (const [args, want] of cases) {
    test(JSON.stringify(args), () => {
      const r = parseIpResource(args);
      expect(typeof r).toBe("string");
      expect(r as string).toContain(want);
    });
  }
  test("/31 and /32 have no network/broadcast address to refuse", () => {
    expect(spec("192.0.2.0/31")).toMatchObject({ prefixlen: 31 });
    expect(spec("192.0.2.255/32")).toMatchObject({ prefixlen: 32 });
  });
});

describe("address text", () => {
  test("IPv4", () => {
    expect(parseIPv4("192.0.2.10")).toBe(0xc000020a);
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.256", "1.2.3.-1", " 1.2.3.4"]) expect(parseIPv4(bad)).toBeNull();
    expect(ipv4Broadcast("192.0.2.10", 26)).toBe("192.0.2.63");
    expect(ipv4Broadcast("192.0.2.70", 26)).toBe("192.0.2.127");
    expect(ipv4Broadcast("192.0.2.10", 24)).toBe("192.0.2.255");
    expect(ipv4Broadcast("192.0.2.10", 31)).toBeNull();
  });
  test("IPv6 RFC 5952 text (as inet_ntop writes it)", () => {
    const cases: [string, string][] = [
      ["::", "::"],
      ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
      ["2001:db8::1:0:0:1", "2001:db8::1:0:0:1"],
      ["0:2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
      ["1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"],
      ["fe80::", "fe80::"],
      ["2001:db8::1:aa", "2001:db8::1:aa"],
      ["1:2:3:4:5:6:192.0.2.1", "1:2:3:4:5:6:c000:201"],
    ];
    for (const [input, out] of cases) {
      const v = parseIPv6(input);
      expect(v).not.toBeNull();
      expect(formatIPv6(v!)).toBe(out);
    }
    for (const bad of ["", ":", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4"]) {
      expect(parseIPv6(bad)).toBeNull();
    }
  });
});

// --- the resource over a fake addon --------------------------------------------

type Call = [string, ...unknown[]];

function addr(ifname: string, address: string, prefixlen: number, extra: Partial<AddrInfo> = {}): AddrInfo {
  return { ifname, ifindex: 2, family: address.includes(":") ? 6 : 4, address, prefixlen, label: ifname, flags: 0x80, scope: 0, ...extra };
}

function errno(code: string): Error {
  return Object.assign(new Error(`fake: ${code}`), { code });
}

class FakeAddon implements IpAddon {
  calls: Call[] = [];
  list: AddrInfo[] = [addr("lo", "127.0.0.1", 8, { scope: 254 }), addr("eth0", "192.0.2.1", 26), addr("eth1", "192.0.2.65", 26), addr("eth0", "2001:db8::1:1", 112)];
  fail_announce: string | null = null;
  addrList = (ifname?: string): AddrInfo[] => {
    this.calls.push(["addrList", ifname]);
    return this.list.filter((a) => ifname === undefined || a.ifname === ifname).map((a) => ({ ...a }));
  };
  addrAdd = (ifname: string, address: string, prefixlen: number, options?: AddrAddOptions): void => {
    this.calls.push(["addrAdd", ifname, address, prefixlen, options]);
    if (this.list.some((a) => a.ifname === ifname && a.address === address && a.prefixlen === prefixlen)) throw errno("EEXIST");
    this.list.push(addr(ifname, address, prefixlen, { label: options?.label ?? ifname }));
  };
  addrDel = (ifname: string, address: string, prefixlen: number): void => {
    this.calls.push(["addrDel", ifname, address, prefixlen]);
    const i = this.list.findIndex((a) => a.ifname === ifname && a.address === address && a.prefixlen === prefixlen);
    if (i < 0) throw errno("EADDRNOTAVAIL");
    this.list.splice(i, 1);
  };
  sendGarp = (ifname: string, ipv4: string, mode?: string) => {
    this.calls.push(["sendGarp", ifname, ipv4, mode]);
    if (this.fail_announce) throw errno(this.fail_announce);
    return { mac: "02:00:00:00:00:01", sent: mode === "both" || mode === undefined ? 2 : 1 };
  };
  sendUnsolicitedNa = (ifname: string, ipv6: string) => {
    this.calls.push(["sendUnsolicitedNa", ifname, ipv6]);
    if (this.fail_announce) throw errno(this.fail_announce);
    return { mac: "02:00:00:00:00:01", sent: 1 };
  };
  named(name: string): Call[] {
    return this.calls.filter((c) => c[0] === name);
  }
}

describe("NativeIp: finding the interface", () => {
  test("the interface whose subnet contains the address, with its netmask and broadcast", () => {
    const f = new FakeAddon();
    expect(new NativeIp(spec("192.0.2.10"), { addon: f }).place()).toEqual({ ifname: "eth0", prefixlen: 26, broadcast: "192.0.2.63" });
    expect(new NativeIp(spec("192.0.2.100"), { addon: f }).place()).toEqual({ ifname: "eth1", prefixlen: 26, broadcast: "192.0.2.127" });
    expect(new NativeIp(spec("2001:db8::1:aa"), { addon: f }).place()).toEqual({ ifname: "eth0", prefixlen: 112, broadcast: null });
  });
  test("the most specific subnet wins", () => {
    const f = new FakeAddon();
    f.list.push(addr("eth2", "192.0.2.2", 24));
    expect(new NativeIp(spec("192.0.2.10"), { addon: f }).place().ifname).toBe("eth0");
    expect(new NativeIp(spec("192.0.2.200"), { addon: f }).place()).toEqual({ ifname: "eth2", prefixlen: 24, broadcast: "192.0.2.255" });
  });
  test("a given netmask and broadcast are kept", () => {
    const f = new FakeAddon();
    expect(new NativeIp(spec("192.0.2.10/28"), { addon: f }).place()).toEqual({ ifname: "eth0", prefixlen: 28, broadcast: "192.0.2.15" });
    expect(new NativeIp(spec("192.0.2.10/24/eth1/192.0.2.255"), { addon: f }).place()).toEqual({ ifname: "eth1", prefixlen: 24, broadcast: "192.0.2.255" });
  });
  test("a given interface without a netmask takes that interface's subnet", () => {
    const f = new FakeAddon();
    expect(new NativeIp(spec("192.0.2.10//eth0"), { addon: f }).place().prefixlen).toBe(26);
    expect(() => new NativeIp(spec("192.0.2.10//eth1"), { addon: f }).place()).toThrow("eth1 has no subnet containing 192.0.2.10");
  });
  test("no matching subnet: a clear error", () => {
    const f = new FakeAddon();
    const ip = new NativeIp(spec("198.51.100.7"), { addon: f });
    expect(() => ip.place()).toThrow(IpError);
    expect(() => ip.place()).toThrow("IPaddr::198.51.100.7: no interface has a subnet containing 198.51.100.7; name one: 198.51.100.7/BITS/IFNAME");
  });
  test("an address already up is found where it is", () => {
    const f = new FakeAddon();
    f.list.push(addr("eth3", "198.51.100.7", 32));
    expect(new NativeIp(spec("198.51.100.7"), { addon: f }).place()).toEqual({ ifname: "eth3", prefixlen: 32, broadcast: null });
  });
});

describe("NativeIp: start / stop / status", () => {
  test("start adds, announces once at once, the rest on timers; idempotent", async () => {
    const f = new FakeAddon();
    const ip = new NativeIp(spec("192.0.2.10/26/eth0:vip"), { addon: f, arp_count: 3, arp_interval_ms: 20 });
    expect(await ip.status()).toBe("stopped");
    await ip.start();
    expect(f.named("addrAdd")).toEqual([["addrAdd", "eth0", "192.0.2.10", 26, { broadcast: "192.0.2.63", label: "eth0:vip" }]]);
    // the first announcement went out before start() resolved
    expect(f.named("sendGarp")).toEqual([["sendGarp", "eth0", "192.0.2.10", "both"]]);
    expect(ip.last_start?.already).toBe(false);
    expect(ip.last_start?.added_ms).toBeGreaterThanOrEqual(0);
    expect(ip.last_start?.first_sent_ms).toBeGreaterThanOrEqual(ip.last_start!.added_ms!);
    expect(await ip.status()).toBe("running");
    const r = await ip.burst!.done;
    expect(r).toEqual({ planned: 3, announced: 3, packets: 6, errors: [], cancelled: false });
    expect(f.named("sendGarp").length).toBe(3);

    f.calls = [];
    await ip.start();
    expect(ip.last_start?.already).toBe(true);
    expect(f.named("addrAdd")).toEqual([]);
    expect(f.named("sendGarp")).toEqual([]);

    await ip.stop();
    expect(f.named("addrDel")).toEqual([["addrDel", "eth0", "192.0.2.10", 26]]);
    expect(await ip.status()).toBe("stopped");
    f.calls = [];
    await ip.stop();
    expect(f.named("addrDel")).toEqual([]);
  });

  test("IPv6: nodad, unsolicited NAs", async () => {
    const f = new FakeAddon();
    const ip = new NativeIp(spec("2001:db8::1:aa/112/eth0"), { addon: f, arp_count: 2, arp_interval_ms: 1 });
    await ip.start();
    expect(f.named("addrAdd")).toEqual([["addrAdd", "eth0", "2001:db8::1:aa", 112, { nodad: true }]]);
    expect((await ip.burst!.done).packets).toBe(2);
    expect(f.named("sendUnsolicitedNa")).toEqual([
      ["sendUnsolicitedNa", "eth0", "2001:db8::1:aa"],
      ["sendUnsolicitedNa", "eth0", "2001:db8::1:aa"],
    ]);
    expect(f.named("sendGarp")).toEqual([]);
  });

  test("defaults are IPaddr2's: 5 announcements, 200 ms apart", () => {
    const ip = new NativeIp(spec("192.0.2.10"), { addon: new FakeAddon() });
    expect(ip.arp_count).toBe(5);
    expect(ip.arp_interval_ms).toBe(200);
    expect(ip.garp_mode).toBe("both");
  });

  test("options are checked", () => {
    const f = new FakeAddon();
    expect(() => new NativeIp(spec("192.0.2.10"), { addon: f, arp_count: -1 })).toThrow(RangeError);
    expect(() => new NativeIp(spec("192.0.2.10"), { addon: f, arp_count: 1.5 })).toThrow(RangeError);
    expect(() => new NativeIp(spec("192.0.2.10"), { addon: f, arp_interval_ms: 1e9 })).toThrow(RangeError);
    expect(() => new NativeIp(spec("192.0.2.10"), { addon: f, garp_mode: "x" as "both" })).toThrow(TypeError);
  });

  test("stop cancels a burst in progress", async () => {
    const f = new FakeAddon();
    const ip = new NativeIp(spec("192.0.2.10"), { addon: f, arp_count: 5, arp_interval_ms: 1000 });
    await ip.start();
    await ip.stop();
    const r = await ip.burst!.done;
    expect(r.cancelled).toBe(true);
    expect(r.announced).toBe(1);
    expect(f.named("sendGarp").length).toBe(1);
  });

  test("arp_count 0: the address without announcements", async () => {
    const f = new FakeAddon();
    const ip = new NativeIp(spec("192.0.2.10"), { addon: f, arp_count: 0 });
    await ip.start();
    expect(await ip.burst!.done).toEqual({ planned: 0, announced: 0, packets: 0, errors: [], cancelled: false });
    expect(ip.last_start?.first_sent_ms).toBeNull();
    expect(f.named("sendGarp")).toEqual([]);
  });

  test("a failing announcement is logged, not fatal", async () => {
    const f = new FakeAddon();
    f.fail_announce = "ENETDOWN";
    const logs: string[] = [];
    const ip = new NativeIp(spec("192.0.2.10"), { addon: f, arp_count: 2, arp_interval_ms: 1, log: (l, m) => logs.push(`${l} ${m}`) });
    await ip.start();
    expect(await ip.status()).toBe("running");
    const r = await ip.burst!.done;
    expect(r.errors).toEqual(["fake: ENETDOWN", "fake: ENETDOWN"]);
    expect(r.announced).toBe(0);
    expect(logs.filter((l) => l.startsWith("warn"))).toEqual([
      "warn IPaddr::192.0.2.10: announcing 192.0.2.10 on eth0 failed: fake: ENETDOWN",
      "warn IPaddr::192.0.2.10: announcing 192.0.2.10 on eth0 failed: fake: ENETDOWN",
    ]);
  });

  test("start: EEXIST from a race is success; other kernel errors reject", async () => {
    const f = new FakeAddon();
    const ip = new NativeIp(spec("192.0.2.10"), { addon: f });
    f.addrAdd = () => {
      throw errno("EEXIST");
    };
    await ip.start();
    expect(ip.last_start?.already).toBe(true);
    f.addrAdd = () => {
      throw errno("EPERM");
    };
    await expect(ip.start()).rejects.toThrow("fake: EPERM");
  });

  test("start with no interface to be found rejects; stop and status say stopped", async () => {
    const f = new FakeAddon();
    const ip = new NativeIp(spec("198.51.100.7"), { addon: f });
    await expect(ip.start()).rejects.toThrow(IpError);
    expect(await ip.status()).toBe("stopped");
    await ip.stop();
    expect(f.named("addrDel")).toEqual([]);
  });

  test("stop: the address vanishing meanwhile is success", async () => {
    const f = new FakeAddon();
    f.list.push(addr("eth0", "192.0.2.10", 26));
    const ip = new NativeIp(spec("192.0.2.10"), { addon: f });
    f.addrDel = () => {
      throw errno("EADDRNOTAVAIL");
    };
    await ip.stop();
    f.addrDel = () => {
      throw errno("EPERM");
    };
    await expect(ip.stop()).rejects.toThrow("fake: EPERM");
  });

  test("a different netmask on the interface is not this resource", async () => {
    const f = new FakeAddon();
    f.list.push(addr("eth0", "192.0.2.10", 32));
    const ip = new NativeIp(spec("192.0.2.10/26/eth0"), { addon: f, arp_count: 0 });
    expect(await ip.status()).toBe("stopped");
    await ip.start();
    expect(f.named("addrAdd").length).toBe(1);
    expect(await ip.status()).toBe("running");
  });
});
