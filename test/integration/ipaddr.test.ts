// The built-in IP resource for real, in namespaces (src/lab/netns.ts): two
// nodes and a client on one bridge. The addon runs only inside the nodes'
// namespaces, through ipaddr_helper.ts started with `ip netns exec`; this
// process (in the host's namespace) only reads state with `ip -n ...` and
// pings from the client namespace.
//
// The point of the GARP/NA: when the floating address moves from node1 to
// node2, a client that already has node1's MAC cached for it must switch to
// node2's MAC without resolving it again. Linux updates an existing entry
// from a gratuitous ARP (request, or reply with target MAC = sender MAC)
// regardless of arp_accept, which only governs creating new entries; for
// IPv6 an unsolicited NA replaces a cached MAC only with the Override flag.
// The checks below read the client's entry right after start() returned on
// node2 and before the client sends anything.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type Cluster, createCluster, type Host } from "../../src/lab/netns.ts";
import { netnsAvailable } from "./support.ts";

const helper = join(import.meta.dir, "ipaddr_helper.ts");
const vip4 = "192.0.2.10"; // link 0 is 192.0.2.0/26: nodes .1 .2, client .60
const vip6 = "2001:db8::1:aa"; // link 0 is 2001:db8::1:0/112
const iface = "veth-a";

interface StepOut {
  i: number;
  op: string;
  ok: boolean;
  code?: string;
  message?: string;
  [k: string]: unknown;
}

if (netnsAvailable("ipaddr.test.ts")) {
  let c: Cluster;
  let n1: Host;
  let n2: Host;
  let client: Host;
  const mac = new Map<string, string>();

  /** Run helper steps in a namespace to completion; its JSON lines. */
  async function steps(h: Host, list: Record<string, unknown>[]): Promise<StepOut[]> {
    const r = await c.exec(h.ns, [process.execPath, helper, JSON.stringify({ steps: list })], 20_000);
    if (r.timed_out) throw new Error(`helper timed out in ${h.name}: ${r.stderr}`);
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("{"));
    if (lines.length === 0) throw new Error(`helper in ${h.name} printed nothing (exit ${r.code}): ${r.stderr}`);
    return lines.map((l) => JSON.parse(l) as StepOut);
  }

  async function must(h: Host, list: Record<string, unknown>[]): Promise<StepOut[]> {
    const out = await steps(h, list);
    const bad = out.filter((o) => !o.ok);
    if (bad.length > 0) throw new Error(`helper in ${h.name} failed: ${JSON.stringify(bad)}`);
    return out;
  }

  async function addrs(h: Host, fam: "-4" | "-6"): Promise<string> {
    return (await c.exec(h.ns, ["ip", "-o", fam, "addr", "show", "dev", iface])).stdout;
  }

  /** The client's neighbour entry for addr: {lladdr, state} or null. */
  async function neigh(addr: string): Promise<{ lladdr: string | null; state: string } | null> {
    const r = await c.exec(client.ns, ["ip", addr.includes(":") ? "-6" : "-4", "neigh", "show", addr, "dev", iface]);
    const line = r.stdout.trim();
    if (line === "") return null;
    const ll = /lladdr ([0-9a-f:]{17})/.exec(line);
    return { lladdr: ll ? ll[1]! : null, state: line.split(/\s+/).at(-1)! };
  }

  async function ping(addr: string): Promise<boolean> {
    const argv = ["ping", ...(addr.includes(":") ? ["-6"] : []), "-c", "1", "-W", "2", addr];
    return (await c.exec(client.ns, argv, 5000)).code === 0;
  }

  /** Start on a node, return when start() has resolved there (the address is up, the first announcement sent). */
  async function startAndCatch(h: Host, step: Record<string, unknown>) {
    const p = c.spawn(h.ns, [process.execPath, helper, JSON.stringify({ steps: [{ op: "start", ...step }] })]);
    const line = await p.waitLine(/"op":"start"/, 10_000);
    if (line === null) throw new Error(`start in ${h.name} printed nothing: ${p.lines.join("\n")}`);
    const started = JSON.parse(line) as StepOut;
    return { p, started };
  }

  function report(what: string, s: StepOut): void {
    const t = s.last_start as { added_ms: number; first_sent_ms: number | null } | null;
    if (!t) return;
    console.log(
      `[ipaddr] ${what}: start() -> address added ${t.added_ms.toFixed(2)} ms, first announcement sent ${t.first_sent_ms?.toFixed(2)} ms, start() resolved ${(s.call_ms as number).toFixed(2)} ms`,
    );
  }

  beforeAll(async () => {
    if (!Bun.which("ping")) throw new Error("ping is missing: apt-get install -y iputils-ping (./run's setup does)");
    c = await createCluster({ nodes: 2, links: 1, ipv6: true, client: true });
    n1 = c.node("node1");
    n2 = c.node("node2");
    client = c.node("client");
    for (const h of [n1, n2]) {
      const r = await c.exec(h.ns, ["ip", "-o", "link", "show", iface]);
      const m = /link\/ether ([0-9a-f:]{17})/.exec(r.stdout);
      if (!m) throw new Error(`no MAC for ${h.name}: ${r.stdout}`);
      mac.set(h.name, m[1]!);
    }
  }, 60_000);

  afterAll(async () => {
    await c?.destroy();
  }, 30_000);

  describe("native IP resource in namespaces", () => {
    test("addon inside a namespace: kernel errors for duplicates, missing addresses, lo", async () => {
      const a = "192.0.2.20";
      const out = await steps(n1, [
        { op: "call", fn: "addrAdd", args: [iface, a, 26, { label: `${iface}:t`, broadcast: "192.0.2.63" }] },
        { op: "call", fn: "addrAdd", args: [iface, a, 26] },
        { op: "call", fn: "addrList", args: [iface] },
        { op: "call", fn: "addrDel", args: [iface, a, 26] },
        { op: "call", fn: "addrDel", args: [iface, a, 26] },
        { op: "call", fn: "sendGarp", args: ["lo", a] },
        { op: "call", fn: "sendUnsolicitedNa", args: [iface, "2001:db8::1:99"] },
        { op: "call", fn: "sendGarp", args: [iface, a] },
        { op: "call", fn: "addrAdd", args: [iface, "2001:db8::1:99", 112] },
        { op: "call", fn: "sendUnsolicitedNa", args: [iface, "2001:db8::1:99"] },
        { op: "call", fn: "addrList", args: [iface] },
        { op: "call", fn: "addrDel", args: [iface, "2001:db8::1:99", 112] },
      ]);
      expect(out.map((o) => (o.ok ? "ok" : o.code))).toEqual(["ok", "EEXIST", "ok", "ok", "EADDRNOTAVAIL", "EOPNOTSUPP", "EADDRNOTAVAIL", "ok", "ok", "ok", "ok", "ok"]);
      expect(out[1]!.message).toBe(`RTM_NEWADDR ${a}/26 dev ${iface}: File exists (EEXIST)`);
      expect(out[4]!.message).toBe(`RTM_DELADDR ${a}/26 dev ${iface}: Cannot assign requested address (EADDRNOTAVAIL)`);
      const listed = out[2]!.value as { address: string; prefixlen: number; label: string; family: number }[];
      expect(listed).toContainEqual(expect.objectContaining({ address: a, prefixlen: 26, label: `${iface}:t`, family: 4 }));
      expect(listed).toContainEqual(expect.objectContaining({ address: n1.links[0]!.v4, prefixlen: 26, label: iface }));
      expect(out[7]!.value).toEqual({ mac: mac.get("node1"), sent: 2 });
      expect(out[9]!.value).toEqual({ mac: mac.get("node1"), sent: 1 });
      const v6 = (out[10]!.value as { address: string; flags: number }[]).find((x) => x.address === "2001:db8::1:99");
      expect(v6).toBeDefined();
      expect(v6!.flags & 0x02).toBe(0x02); // IFA_F_NODAD
      expect(v6!.flags & 0x40).toBe(0); // not IFA_F_TENTATIVE: usable at once
      expect(await addrs(n1, "-4")).not.toContain(a);
    }, 30_000);

    test("IPv4: start on node1, client pings it; move to node2: the GARP repoints the client's ARP entry", async () => {
      // interface and netmask found from node1's own 192.0.2.1/26 on veth-a
      const first = await must(n1, [{ op: "start", arg: vip4 }]);
      report("IPv4 on node1", first[0]!);
      expect(first[0]!.last_start).toMatchObject({ already: false });
      expect(first[1]).toMatchObject({ op: "burst", planned: 5, announced: 5, packets: 10, errors: [], cancelled: false });
      expect(await addrs(n1, "-4")).toMatch(new RegExp(`inet ${vip4.replaceAll(".", "\\.")}/26 brd 192\\.0\\.2\\.63 scope global secondary ${iface}`));

      expect(await ping(vip4)).toBe(true);
      expect((await neigh(vip4))?.lladdr).toBe(mac.get("node1")!);

      await must(n1, [{ op: "stop", arg: vip4 }, { op: "status", arg: vip4 }]);
      expect(await addrs(n1, "-4")).not.toContain(vip4);
      const before = await neigh(vip4);
      expect(before?.lladdr).toBe(mac.get("node1")!); // nothing has told the client yet

      const { p, started } = await startAndCatch(n2, { arg: `${vip4}/26/${iface}` });
      const after = await neigh(vip4); // before the client sends anything
      report("IPv4 takeover on node2", started);
      console.log(`[ipaddr] client's ARP entry for ${vip4}: ${before?.lladdr} ${before?.state} -> ${after?.lladdr} ${after?.state} (node2 is ${mac.get("node2")})`);
      expect(started.ok).toBe(true);
      expect(after?.lladdr).toBe(mac.get("node2")!);
      expect(await addrs(n2, "-4")).toContain(`${vip4}/26`);

      expect(await ping(vip4)).toBe(true);
      expect((await neigh(vip4))?.lladdr).toBe(mac.get("node2")!);
      expect(await p.waitLine(/"op":"burst"/, 5000)).toContain('"announced":5');
      await p.wait(5000);
      expect(p.exit_code).toBe(0);
      await must(n2, [{ op: "stop", arg: vip4 }]);
    }, 60_000);

    test("IPv4: each GARP form alone (request, reply) repoints an existing entry", async () => {
      await must(n1, [{ op: "start", arg: vip4, arp_count: 1 }]);
      expect(await ping(vip4)).toBe(true);
      expect((await neigh(vip4))?.lladdr).toBe(mac.get("node1")!);
      await must(n1, [{ op: "stop", arg: vip4 }]);
      await must(n2, [{ op: "start", arg: vip4, arp_count: 1, garp_mode: "request" }]);
      expect((await neigh(vip4))?.lladdr).toBe(mac.get("node2")!);
      await must(n2, [{ op: "stop", arg: vip4 }]);
      await must(n1, [{ op: "start", arg: vip4, arp_count: 1, garp_mode: "reply" }]);
      expect((await neigh(vip4))?.lladdr).toBe(mac.get("node1")!);
      await must(n1, [{ op: "stop", arg: vip4 }]);
    }, 60_000);

    test("IPv6: start on node1, client pings it; move to node2: the unsolicited NA repoints the client's entry", async () => {
      const arg1 = `${vip6}/112/${iface}`;
      const first = await must(n1, [{ op: "start", arg: arg1, arp_count: 2, arp_interval_ms: 50 }]);
      report("IPv6 on node1", first[0]!);
      const shown = await addrs(n1, "-6");
      expect(shown).toContain(`inet6 ${vip6}/112 scope global nodad`);
      expect(shown).not.toMatch(new RegExp(`${vip6}/112 .*tentative`));

      expect(await ping(vip6)).toBe(true);
      expect((await neigh(vip6))?.lladdr).toBe(mac.get("node1")!);

      await must(n1, [{ op: "stop", arg: arg1 }]);
      expect(await addrs(n1, "-6")).not.toContain(vip6);
      const before = await neigh(vip6);
      expect(before?.lladdr).toBe(mac.get("node1")!);

      // no interface given: found from node2's 2001:db8::1:2/112
      const { p, started } = await startAndCatch(n2, { arg: vip6 });
      const after = await neigh(vip6);
      report("IPv6 takeover on node2", started);
      console.log(`[ipaddr] client's neighbour entry for ${vip6}: ${before?.lladdr} ${before?.state} -> ${after?.lladdr} ${after?.state} (node2 is ${mac.get("node2")})`);
      expect(started.ok).toBe(true);
      expect(after?.lladdr).toBe(mac.get("node2")!);

      expect(await ping(vip6)).toBe(true);
      expect((await neigh(vip6))?.lladdr).toBe(mac.get("node2")!);
      expect(await p.waitLine(/"op":"burst"/, 5000)).toContain('"announced":5');
      await p.wait(5000);
      await must(n2, [{ op: "stop", arg: vip6 }]);
      expect(await addrs(n2, "-6")).not.toContain(vip6);
    }, 60_000);

    test("idempotent: start twice, stop twice, status in between (v4 and v6)", async () => {
      for (const arg of [`${vip4}/26`, `${vip6}/112/${iface}`]) {
        const out = await must(n1, [
          { op: "status", arg },
          { op: "start", arg, arp_count: 1 },
          { op: "status", arg },
          { op: "start", arg, arp_count: 1 },
          { op: "stop", arg },
          { op: "status", arg },
          { op: "stop", arg },
          { op: "status", arg },
        ]);
        const main = out.filter((o) => o.op !== "burst");
        expect(main.map((o) => o.status ?? (o.last_start as { already?: boolean } | undefined)?.already ?? o.op)).toEqual([
          "stopped",
          false,
          "running",
          true,
          "stop",
          "stopped",
          "stop",
          "stopped",
        ]);
      }
      expect(await addrs(n1, "-4")).not.toContain(vip4);
      expect(await addrs(n1, "-6")).not.toContain(vip6);
    }, 60_000);

    test("start errors: no subnet for the address, unknown interface", async () => {
      const out = await steps(n1, [
        { op: "start", arg: "192.0.2.200" },
        { op: "start", arg: "192.0.2.10/26/nosuch0" },
        { op: "stop", arg: "192.0.2.10/26/nosuch0" },
        { op: "status", arg: "192.0.2.200" },
      ]);
      expect(out[0]).toMatchObject({ ok: false, code: "IpError" });
      expect(out[0]!.message).toContain("no interface has a subnet containing 192.0.2.200");
      expect(out[1]).toMatchObject({ ok: false, code: "ENODEV" });
      expect(out[2]).toMatchObject({ ok: true });
      expect(out[3]).toMatchObject({ ok: true, status: "stopped" });
    }, 30_000);
  });
}
