// Held floating IPs are announced again when the network comes back
// (RELIABILITY.md, three-node CTS: "VIP not re-announced after a
// partition"). Two real daemons and a client in namespaces; the group is an
// IPv4 and an IPv6 floating address on link 0 (veth-a).
//
// The finding: a node that starts a VIP while its cable to the clients is
// cut sends its gratuitous ARPs / NAs into the void; with auto_failback off
// it keeps the group after the heal, and a client that already had the old
// holder's MAC keeps it until its entry is probed or expires (27 s in the
// campaign). Each test brings the client's neighbour entry to the old
// holder's MAC, moves the group to a node that cannot reach the client,
// checks the entry is still the old MAC (the start's burst was lost), heals,
// and polls (bounded) for the entry to show the holder's MAC. The client
// sends nothing to the VIPs in between: only an announcement can change it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, type TandemEvent, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, ipv6, writeConfigDir } from "../../src/lab/netns.ts";
import { cli, netnsAvailable, tandem } from "./support.ts";

const vip4 = ipv4(0, 50);
const vip6 = ipv6(0, 0x50);
const iface = ifaceName(0);
/** how long after the heal the client's entry may take to show the holder (bounded polling, not a performance check) */
const heal_to_entry_ms_max = 2_000;

if (netnsAvailable("reannounce.test.ts")) {
  describe("held floating IPs are announced again when the network comes back", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    const mac = new Map<string, string>();

    beforeAll(async () => {
      if (!Bun.which("ping")) throw new Error("ping is missing: apt-get install -y iputils-ping (./run's setup does)");
      c = await createCluster({ nodes: 2, links: 2, ipv6: true, client: true });
      const text = haCf(c, { keepalive_ms: 100, deadtime_ms: 600, initdead_ms: 1500, auto_failback: "off" });
      for (const h of c.nodes) {
        d[h.name] = new LabDaemon(c, h, tandem.argv);
        writeConfigDir(d[h.name]!.dir, text, authkeys("reannounce-secret"));
        writeFileSync(join(d[h.name]!.dir, "haresources"), `node1 ${vip4}/26/${iface} ${vip6}/112/${iface}\n`);
        const r = await c.exec(h.ns, ["ip", "-o", "link", "show", iface]);
        const m = /link\/ether ([0-9a-f:]{17})/.exec(r.stdout);
        if (!m) throw new Error(`no MAC for ${h.name}: ${r.stdout}`);
        mac.set(h.name, m[1]!);
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
    }, 60_000);

    afterAll(async () => {
      await c?.destroy();
    }, 30_000);

    const hasVip = async (node: string) => (await c.exec(c.node(node).ns, ["ip", "-4", "addr", "show", "dev", iface])).stdout.includes(`${vip4}/26`);
    const group = async (node: string) => (await d[node]!.tryStatus())?.groups?.[0] as { holder: string | null; state: string } | undefined;
    const dump = () => Object.values(d).map((x) => `--- ${x.name}\n${x.output.slice(-30).join("\n")}`).join("\n");

    /** The client's neighbour entry for addr on link 0: its MAC, or null. */
    async function entry(addr: string): Promise<string | null> {
      const r = await c.exec(c.node("client").ns, ["ip", addr.includes(":") ? "-6" : "-4", "neigh", "show", addr, "dev", iface]);
      return /lladdr ([0-9a-f:]{17})/.exec(r.stdout)?.[1] ?? null;
    }

    /** The client talks to both VIPs now, so that it caches the current holder's MAC. */
    async function clientCaches(holder: string): Promise<void> {
      for (const a of [vip4, vip6]) {
        const ok = await until(async () => (await c.exec(c.node("client").ns, ["ping", ...(a.includes(":") ? ["-6"] : []), "-c", "1", "-W", "1", a], 5000)).code === 0, 8000);
        expect(ok, `client pings ${a}\n${dump()}`).toBe(true);
        expect(await entry(a)).toBe(mac.get(holder)!);
      }
    }

    /** Bounded poll: both entries show `holder`'s MAC; the ms it took from `since`, or null. */
    async function entriesShow(holder: string, since: number): Promise<number | null> {
      const want = mac.get(holder)!;
      const ok = await until(async () => (await entry(vip4)) === want && (await entry(vip6)) === want, heal_to_entry_ms_max, 20);
      return ok ? performance.now() - since : null;
    }

    const reannounced = (node: string, from: number, why: RegExp) =>
      d[node]!.events.slice(from).filter((e: TandemEvent) => e.event === "ip_info" && /re-announcing/.test(e.fields.msg ?? "") && why.test(e.fields.msg ?? ""));

    test("a handover while the new holder's cable to the client is cut: announced again when the link comes back", async () => {
      expect(await until(async () => (await group("node2"))?.holder === "node1" && (await hasVip("node1")), 10_000), dump()).toBe(true);
      await clientCaches("node1");

      // node2's link 0 (the clients' segment, and one heartbeat link) is cut; link 1 keeps the cluster together
      const from2 = d.node2!.events.length;
      await c.cut("node2", 0);
      expect(await d.node2!.waitEvent((e) => e.event === "link_down" && e.fields.node === "node1" && (e.fields.link ?? "").includes(iface), 5000, from2), dump()).not.toBeNull();
      expect((await cli(["standby", "all", "--socket", d.node1!.socket])).code).toBe(0);
      expect(await until(async () => (await group("node2"))?.state === "running" && (await hasVip("node2")) && !(await hasVip("node1")), 10_000), dump()).toBe(true);
      expect((await cli(["standby", "none", "--socket", d.node1!.socket])).code).toBe(0);
      // the start's burst (5 x 200 ms) is over, into the cut cable; and the
      // cut outlasts the re-announcement gap (2 s from the start's burst), as
      // a partition does, so the heal's burst is not deferred
      await Bun.sleep(2500);
      expect(await entry(vip4), "the start's GARPs cannot have reached the client").toBe(mac.get("node1")!);
      expect(await entry(vip6)).toBe(mac.get("node1")!);

      const heal_from = d.node2!.events.length;
      const healed = performance.now();
      await c.restore("node2", 0);
      const took_ms = await entriesShow("node2", healed);
      expect(took_ms, `client entries ${await entry(vip4)} / ${await entry(vip6)}, node2 is ${mac.get("node2")}\n${dump()}`).not.toBeNull();
      // both addresses (the log line may reach this process after the packets reach the client)
      expect(await until(() => reannounced("node2", heal_from, /\(link_up node1 /).length >= 2, 2000), dump()).toBe(true);
      expect(reannounced("node1", heal_from, /./)).toEqual([]); // it holds nothing
      process.stderr.write(`  link heal -> client's entries show the holder after ${took_ms!.toFixed(0)} ms\n`);
    }, 40_000);

    test("a holder isolated while the old one answered the client: announced again when the peer rejoins", async () => {
      // node2 holds the group (previous test). Isolate it: node1 takes the
      // group too (no fencing here), and its GARPs reach the client.
      expect((await group("node2"))?.state).toBe("running");
      const from1 = d.node1!.events.length;
      await c.cut("node2", 0);
      await c.cut("node2", 1);
      expect(await until(async () => (await group("node1"))?.state === "running" && (await hasVip("node1")), 10_000), dump()).toBe(true);
      expect(d.node1!.find({ event: "node_dead", node: "node2" }, from1).length).toBe(1);
      expect(await until(async () => (await entry(vip4)) === mac.get("node1")! && (await entry(vip6)) === mac.get("node1")!, 5000), dump()).toBe(true);
      // node1 goes away cleanly (as a fenced or powered-off node would, its addresses with it)
      d.node1!.kill("SIGTERM");
      expect(await d.node1!.proc!.exited).toBe(0);
      expect(await hasVip("node1")).toBe(false);
      expect(await hasVip("node2")).toBe(true); // held all along, announced to nobody
      await Bun.sleep(2500); // down a while, as a fenced node is: past node2's re-announcement gap

      // heal: cables back, node1 boots again and finds node2 holding the group (auto_failback off)
      await c.restore("node2", 0);
      await c.restore("node2", 1);
      const from2 = d.node2!.events.length;
      await d.node1!.start();
      const up = await d.node2!.waitEvent({ event: "node_up", node: "node1" }, 10_000, from2);
      expect(up, dump()).not.toBeNull();
      const rejoined = performance.now();
      const took_ms = await entriesShow("node2", rejoined);
      expect(took_ms, `client entries ${await entry(vip4)} / ${await entry(vip6)}, node2 is ${mac.get("node2")}\n${dump()}`).not.toBeNull();
      expect(await until(() => reannounced("node2", from2, /\((node_up|link_up) node1/).length >= 2, 2000), dump()).toBe(true);
      expect(await until(async () => (await group("node1"))?.holder === "node2", 5000), dump()).toBe(true);
      expect(await hasVip("node1")).toBe(false);
      process.stderr.write(`  peer rejoin -> client's entries show the holder after ${took_ms!.toFixed(0)} ms\n`);
    }, 60_000);

    test("arp_refresh: a held IP is announced periodically, with no event at all", async () => {
      await Promise.all(Object.values(d).map((x) => x.stop()));
      const text = haCf(c, { keepalive_ms: 100, deadtime_ms: 600, initdead_ms: 1500, auto_failback: "off", extra: ["# tandem: arp_refresh 2"] });
      for (const x of Object.values(d)) writeConfigDir(x.dir, text, authkeys("reannounce-secret"));
      await Promise.all(Object.values(d).map((x) => x.start()));
      expect(await until(async () => (await group("node2"))?.holder === "node1" && (await group("node1"))?.state === "running", 10_000), dump()).toBe(true);
      await Bun.sleep(2500); // the start's burst and the start-up re-announcements are over
      // a client (or switch) that lost track: entries pointing nowhere
      for (const a of [vip4, vip6]) {
        const r = await c.exec(c.node("client").ns, ["ip", a.includes(":") ? "-6" : "-4", "neigh", "replace", a, "lladdr", "02:00:00:00:00:99", "dev", iface, "nud", "stale"]);
        expect(r.code, r.stderr).toBe(0);
        expect(await entry(a)).toBe("02:00:00:00:00:99");
      }
      const from = performance.now();
      // one refresh period (2 s) and slack: bounded polling
      const ok = await until(async () => (await entry(vip4)) === mac.get("node1")! && (await entry(vip6)) === mac.get("node1")!, 3500, 50);
      expect(ok, `client entries ${await entry(vip4)} / ${await entry(vip6)}, node1 is ${mac.get("node1")}\n${dump()}`).toBe(true);
      process.stderr.write(`  arp_refresh 2: poisoned client entries corrected after ${(performance.now() - from).toFixed(0)} ms\n`);
    }, 40_000);
  });
}
