// The addon's floating-IP functions: argument checking (TypeError /
// RangeError before any system call) and errors for interface names that do
// not exist. This runs in the host's network namespace, so nothing here may
// change an interface or send a packet: every call names an interface that
// does not exist (the addon checks all other arguments before it looks the
// name up, so a validation bug ends in ENODEV, never in a change), or only
// reads (addrList). Real adds, deletes, GARPs and NAs, and the refusals on
// `lo`, are in test/integration/ipaddr.test.ts, inside namespaces.
// The real work (add, delete, GARP, NA) is in test/integration/ipaddr.test.ts.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { native } from "../../src/native/addon.ts";

const root = join(import.meta.dir, "../..");
const addon_path = join(root, "src/native/tandem.node");
const no_if = "tdmnoif0"; // an interface name nothing here has

beforeAll(() => {
  const stale =
    !existsSync(addon_path) ||
    ["native/tandem.c", "native/ip.c", "native/watchdog.c", "native/tandem.h", "build.ts"].some((p) => statSync(join(root, p)).mtimeMs > statSync(addon_path).mtimeMs);
  if (stale) {
    const r = Bun.spawnSync([process.execPath, "run", "build.ts", "addon"], { cwd: root, stderr: "pipe", stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building the addon failed:\n${r.stdout}\n${r.stderr}`);
  }
});

function thrown(fn: () => unknown): Error & { code?: string; errno?: number; syscall?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}

// deliberately untyped calls: what a JS caller could pass
const raw = native as unknown as Record<string, (...a: unknown[]) => unknown>;

describe("addrAdd / addrDel arguments", () => {
  for (const fn of ["addrAdd", "addrDel"] as const) {
    test(`${fn}: ifname must be a sane string`, () => {
      for (const bad of [undefined, null, 1, {}, ["eth0"]]) {
        const e = thrown(() => raw[fn]!(bad, "192.0.2.10", 24));
        expect(e).toBeInstanceOf(TypeError);
        expect(e.message).toBe(`${fn}: ifname must be a string`);
      }
      let e = thrown(() => raw[fn]!("", "192.0.2.10", 24));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.message).toBe(`${fn}: ifname must be 1..15 bytes long`);
      e = thrown(() => raw[fn]!("a-very-long-ifname", "192.0.2.10", 24));
      expect(e).toBeInstanceOf(RangeError);
      e = thrown(() => raw[fn]!("lo\0x", "192.0.2.10", 24));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toContain("must not contain NUL");
    });

    test(`${fn}: an unknown interface is ENODEV`, () => {
      const e = thrown(() => raw[fn]!(no_if, "192.0.2.10", 24));
      expect(e).not.toBeInstanceOf(TypeError);
      expect(e.code).toBe("ENODEV");
      expect(e.errno).toBeLessThan(0);
      expect(e.message).toBe(`if_nametoindex(${no_if}): No such device (ENODEV)`);
    });
  }

  test("address must be IPv4 or IPv6 text", () => {
    for (const bad of ["", "192.0.2", "192.0.2.256", "eth0", "2001:db8:::1", "192.0.2.10/24", "fe80::1%lo"]) {
      const e = thrown(() => native.addrAdd(no_if, bad, 24));
      expect(e).toBeInstanceOf(bad === "" ? RangeError : TypeError);
    }
    const e = thrown(() => native.addrDel(no_if, "nonsense", 24));
    expect(e.message).toBe('addrDel: address must be an IPv4 or IPv6 address, got "nonsense"');
    expect(thrown(() => raw.addrAdd!(no_if, 3232235786, 24))).toBeInstanceOf(TypeError);
  });

  test("prefixlen: integer, 0..32 for IPv4, 0..128 for IPv6", () => {
    let e = thrown(() => native.addrAdd(no_if, "192.0.2.10", 33));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toBe("addrAdd: prefixlen must be in 0..32");
    e = thrown(() => native.addrDel(no_if, "2001:db8::10", 129));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toBe("addrDel: prefixlen must be in 0..128");
    expect(thrown(() => native.addrAdd(no_if, "192.0.2.10", -1))).toBeInstanceOf(RangeError);
    expect(thrown(() => native.addrAdd(no_if, "192.0.2.10", 24.5))).toBeInstanceOf(TypeError);
    expect(thrown(() => native.addrAdd(no_if, "192.0.2.10", Number.NaN))).toBeInstanceOf(TypeError);
    expect(thrown(() => raw.addrAdd!(no_if, "192.0.2.10", "24"))).toBeInstanceOf(TypeError);
    expect(thrown(() => raw.addrAdd!(no_if, "192.0.2.10"))).toBeInstanceOf(TypeError);
  });

  test("addrAdd options", () => {
    expect(thrown(() => raw.addrAdd!(no_if, "192.0.2.10", 24, "label")).message).toBe("addrAdd: options must be an object");
    let e = thrown(() => native.addrAdd(no_if, "192.0.2.10", 24, { label: "eth0:x" }));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain('label must be the interface name or start with "<ifname>:"');
    expect(thrown(() => native.addrAdd(no_if, "192.0.2.10", 24, { label: `${no_if}x` })).message).toContain("label must be");
    expect(thrown(() => native.addrAdd(no_if, "192.0.2.10", 24, { label: `${no_if}:0123456789` }))).toBeInstanceOf(RangeError);
    expect(thrown(() => raw.addrAdd!(no_if, "192.0.2.10", 24, { label: 7 }))).toBeInstanceOf(TypeError);
    e = thrown(() => native.addrAdd(no_if, "2001:db8::10", 64, { label: `${no_if}:x` }));
    expect(e.message).toBe("addrAdd: label is for IPv4 addresses only");
    e = thrown(() => native.addrAdd(no_if, "2001:db8::10", 64, { broadcast: "192.0.2.255" }));
    expect(e.message).toBe("addrAdd: broadcast is for IPv4 addresses only");
    e = thrown(() => native.addrAdd(no_if, "192.0.2.10", 24, { broadcast: "2001:db8::ff" }));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe('addrAdd: broadcast must be an IPv4 address, got "2001:db8::ff"');
    e = thrown(() => raw.addrAdd!(no_if, "2001:db8::10", 64, { nodad: 1 }));
    expect(e.message).toBe("addrAdd: nodad must be a boolean");
  });
});

describe("addrList", () => {
  test("lists this namespace's addresses (read only)", () => {
    const all = native.addrList();
    expect(Array.isArray(all)).toBe(true);
    const lo = native.addrList("lo");
    for (const a of lo) {
      expect(a.ifname).toBe("lo");
      expect(typeof a.ifindex).toBe("number");
      expect([4, 6]).toContain(a.family);
      expect(typeof a.address).toBe("string");
      expect(a.prefixlen).toBeGreaterThanOrEqual(0);
      expect(typeof a.label).toBe("string");
      expect(typeof a.flags).toBe("number");
    }
    const v4 = lo.find((a) => a.family === 4);
    if (v4) {
      expect(v4.address).toBe("127.0.0.1");
      expect(v4.prefixlen).toBe(8);
      expect(v4.label).toBe("lo");
      expect(v4.scope).toBe(254);
    }
    expect(all.length).toBeGreaterThanOrEqual(lo.length);
  });

  test("arguments", () => {
    expect(thrown(() => raw.addrList!(5))).toBeInstanceOf(TypeError);
    expect(thrown(() => raw.addrList!(null))).toBeInstanceOf(TypeError);
    expect(thrown(() => native.addrList(no_if)).code).toBe("ENODEV");
  });
});

describe("sendGarp / sendUnsolicitedNa arguments", () => {
  test("sendGarp", () => {
    expect(thrown(() => raw.sendGarp!(undefined, "192.0.2.10")).message).toBe("sendGarp: ifname must be a string");
    let e = thrown(() => native.sendGarp(no_if, "2001:db8::10"));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe('sendGarp: ipv4 must be an IPv4 address, got "2001:db8::10"');
    e = thrown(() => raw.sendGarp!(no_if, "192.0.2.10", "gratuitous"));
    expect(e.message).toBe('sendGarp: mode must be "request", "reply" or "both"');
    expect(thrown(() => raw.sendGarp!(no_if, "192.0.2.10", 1))).toBeInstanceOf(TypeError);
    expect(thrown(() => native.sendGarp(no_if, "192.0.2.10")).code).toBe("ENODEV");
  });

  test("sendUnsolicitedNa", () => {
    let e = thrown(() => native.sendUnsolicitedNa(no_if, "192.0.2.10"));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe('sendUnsolicitedNa: ipv6 must be an IPv6 address, got "192.0.2.10"');
    for (const bad of ["ff02::1", "::", "::1", "::ffff:192.0.2.1"]) {
      e = thrown(() => native.sendUnsolicitedNa(no_if, bad));
      expect(e.message).toBe("sendUnsolicitedNa: ipv6 must be a unicast address");
    }
    expect(thrown(() => native.sendUnsolicitedNa(no_if, "2001:db8::10")).code).toBe("ENODEV");
  });
});
