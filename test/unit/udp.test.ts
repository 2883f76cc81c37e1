// UDP links on loopback: attribution by source, ICMP errors survived,
// subnet arithmetic. Multi-node behaviour is in test/integration.
import { describe, expect, test } from "bun:test";
import type { LinkSpec } from "../../src/config/types.ts";
import { broadcastAddress, inSubnet, UdpTransport } from "../../src/links/udp.ts";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeout_ms = 2000): Promise<boolean> {
  for (let waited = 0; waited < timeout_ms; waited += 10) {
    if (cond()) return true;
    await wait(10);
  }
  return cond();
}

describe("udp transport", () => {
  test("a ucast datagram is attributed to the link of its source address", async () => {
    const got: [string, number][] = [];
    const spec: LinkSpec = { kind: "ucast", name: "ucast lo 127.0.0.1", iface: "lo", addr: "127.0.0.1", line: 1 };
    const t = await UdpTransport.open([spec], {
      udpport: 0 + 47694,
      onDatagram: (link, bytes) => got.push([link, bytes.length]),
      log: () => {},
    });
    try {
      t.links[0]!.send(new Uint8Array(33));
      expect(await until(() => got.length === 1)).toBe(true);
      expect(got[0]).toEqual(["ucast lo 127.0.0.1", 33]);
      expect(t.links[0]!.stats()).toMatchObject({ tx_packets: 1, rx_packets: 1, tx_errors: 0 });
    } finally {
      t.close();
    }
  });

  test("ICMP port unreachable is counted and the socket keeps working", async () => {
    const logs: string[] = [];
    const got: string[] = [];
    // 127.0.0.1 port 47695 is us; the second link's peer (127.0.0.2) answers with ICMP
    const self: LinkSpec = { kind: "ucast", name: "self", iface: "lo", addr: "127.0.0.1", line: 1 };
    const t = await UdpTransport.open([self], { udpport: 47695, onDatagram: (l) => got.push(l), log: (m) => logs.push(m) });
    // A link whose peer port is closed: every send draws an ICMP port unreachable.
    const sender = await UdpTransport.open([{ ...self, name: "to-closed" }], {
      udpport: 47697,
      onDatagram: () => {},
      log: (m) => logs.push(m),
    });
    try {
      const link = sender.links[0]!;
      (link as unknown as { dest: { addr: string; port: number } }).dest = { addr: "127.0.0.1", port: 47696 };
      for (let i = 0; i < 5; i++) {
        link.send(new Uint8Array(8));
        await wait(5);
      }
      // Bun.udpSocket reads ICMP port-unreachable from the error queue and
      // reports ECONNREFUSED to the error handler: counted, logged once.
      expect(await until(() => link.stats().socket_errors > 0, 1000)).toBe(true);
      t.links[0]!.send(new Uint8Array(8));
      expect(await until(() => got.length === 1)).toBe(true);
      link.send(new Uint8Array(8));
      expect(link.stats().tx_packets).toBe(6);
      expect(logs.filter((m) => m.includes("ECONNREFUSED") || m.includes("refused")).length).toBe(1);

    } finally {
      t.close();
      sender.close();
    }
  });

  test("binding a port twice in one transport shares the socket", async () => {
    const a: LinkSpec = { kind: "ucast", name: "a", iface: "lo", addr: "127.0.0.1", line: 1 };
    const b: LinkSpec = { kind: "ucast", name: "b", iface: "lo", addr: "::1", line: 2 };
    const t = await UdpTransport.open([a, b], { udpport: 47698, onDatagram: () => {}, log: () => {} });
    expect(t.links.map((l) => l.name)).toEqual(["a", "b"]);
    t.close();
  });

  test("a non-IP ucast address is a LinkError, not a crash", async () => {
    const bad: LinkSpec = { kind: "ucast", name: "bad", iface: "lo", addr: "peer.example", line: 1 };
    await expect(UdpTransport.open([bad], { udpport: 47699, onDatagram: () => {}, log: () => {} })).rejects.toThrow(
      "not an IP address",
    );
  });
});

describe("address arithmetic", () => {
  test("inSubnet for IPv4 and IPv6", () => {
    expect(inSubnet("192.0.2.66", "192.0.2.64/26")).toBe(true);
    expect(inSubnet("192.0.2.1", "192.0.2.64/26")).toBe(false);
    expect(inSubnet("2001:db8::1:2", "2001:db8::1:1/112")).toBe(true);
    expect(inSubnet("2001:db8::2:2", "2001:db8::1:1/112")).toBe(false);
    expect(inSubnet("fe80::1", "fe80::2%veth0/64")).toBe(true);
    expect(inSubnet("192.0.2.1", "2001:db8::/64")).toBe(false);
    expect(inSubnet("::ffff:192.0.2.1", "::ffff:192.0.2.0/120")).toBe(true);
  });
  test("broadcast address", () => {
    expect(broadcastAddress("192.0.2.65", "255.255.255.192")).toBe("192.0.2.127");
    expect(broadcastAddress("192.0.2.1", "255.255.255.0")).toBe("192.0.2.255");
  });
});
