// The namespace library itself: addresses, reachability per link, cut and
// restore, tracked processes, teardown, and the stale-run sweep.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { createCluster, ipv4, ipv6, listNamespaces, run, sweep } from "../../src/lab/netns.ts";
import { netnsAvailable } from "./support.ts";

/** A UDP echo server on port 7000 (v4) and 7006 (v6), and a one-shot client, as `bun -e` scripts. */
const echo = `const d=require("node:dgram");for(const [f,p] of [["udp4",7000],["udp6",7006]]){const s=d.createSocket({type:f,ipv6Only:f==="udp6"});s.on("message",(m,r)=>s.send("pong",r.port,r.address));s.bind(p,()=>console.log("bound",f));}`;
const ping = (fam: string, addr: string) =>
  `const s=require("node:dgram").createSocket("${fam}");s.on("message",m=>{console.log(String(m));process.exit(0)});s.bind(0,()=>s.send("ping",${fam === "udp6" ? 7006 : 7000},"${addr}"));setTimeout(()=>process.exit(1),700);`;

if (netnsAvailable("netns.test.ts")) {
  describe("src/lab/netns.ts", () => {
    test("a cluster: addresses, per-link reachability (v4 and v6), cut/restore, teardown", async () => {
      const before = new Set(await listNamespaces());
      const c = await createCluster({ nodes: 2, links: 2, ipv6: true, client: true });
      let tmp = "";
      try {
        tmp = c.tmp;
        expect(c.namespaces).toEqual([`${c.prefix}lan`, `${c.prefix}node1`, `${c.prefix}node2`, `${c.prefix}client`]);
        expect(c.prefix).toMatch(/^tdm\d+r[0-9a-f]{4}-$/);
        const n1 = c.node("node1");
        const n2 = c.node("node2");
        expect(n2.links.map((l) => [l.iface, l.v4_cidr, l.v6_cidr])).toEqual([
          ["veth-a", "192.0.2.2/26", "2001:db8::1:2/112"],
          ["veth-b", "192.0.2.66/26", "2001:db8::2:2/112"],
        ]);
        expect(c.node("client").links[1]!.v4).toBe(ipv4(1, 60));
        expect(ipv6(0, 1)).toBe("2001:db8::1:1");

        // no route out of a node: only the two connected /26 (and no default)
        const routes = await c.exec(n1.ns, ["ip", "-4", "route"]);
        expect(routes.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "").sort()).toEqual([
          "192.0.2.0/26 dev veth-a proto kernel scope link src 192.0.2.1",
          "192.0.2.64/26 dev veth-b proto kernel scope link src 192.0.2.65",
        ]);
        expect((await c.exec(n1.ns, ["ip", "-6", "route", "show", "default"])).stdout.trim()).toBe("");

        const srv = c.spawn(n2.ns, [process.execPath, "-e", echo]);
        expect(await srv.waitLine(/bound udp6/, 5000)).not.toBeNull();
        const reach = async (fam: string, addr: string) => (await c.exec(n1.ns, [process.execPath, "-e", ping(fam, addr)], 5000)).stdout.trim() === "pong";
        for (const l of n2.links) {
          expect(await reach("udp4", l.v4)).toBe(true);
          expect(await reach("udp6", l.v6!)).toBe(true);
        }
        await c.cut("node2", 1);
        expect(await reach("udp4", n2.links[1]!.v4)).toBe(false);
        expect(await reach("udp4", n2.links[0]!.v4)).toBe(true);
        await c.restore("node2", 1);
        expect(await reach("udp4", n2.links[1]!.v4)).toBe(true);

        // the links are separate wires: link 0's address is not reachable over link 1
        const other = await c.exec(n1.ns, ["ip", "route", "get", "192.0.2.130"]);
        expect(other.code).not.toBe(0);
        expect(srv.running).toBe(true);
      } finally {
        await c.destroy();
      }
      expect((await listNamespaces()).filter((n) => !before.has(n))).toEqual([]);
      expect(existsSync(tmp)).toBe(false);
      // idempotent
      await c.destroy();
    });

    test("destroy() stops the processes it started (SIGTERM, then SIGKILL when ignored)", async () => {
      const c = await createCluster({ nodes: 1, links: 1 });
      const stubborn = c.spawn(c.node(1).ns, ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]);
      const polite = c.spawn(c.node(1).ns, ["sleep", "60"]);
      expect(await stubborn.waitLine(/ready/, 5000)).toBe("ready");
      const t = performance.now();
      await c.destroy(500);
      expect(stubborn.running).toBe(false);
      expect(polite.running).toBe(false);
      expect(polite.signal).toBe("SIGTERM");
      expect(stubborn.signal).toBe("SIGKILL");
      expect(performance.now() - t).toBeLessThan(5_000);
      expect(() => c.spawn(c.node(1).ns, ["true"])).toThrow();
    });

    test("datagrams sent behind a cut cable wait in the neighbour entry and leave at restore(), unless forgetNeighbours() drops them", async () => {
      // Why crash tests call forgetNeighbours(): a killed daemon's last datagrams would
      // otherwise reach the peer seconds later, under the dead incarnation's generation.
      const c = await createCluster({ nodes: 2, links: 1 });
      try {
        const n1 = c.node("node1");
        const n2 = c.node("node2");
        const rx = c.spawn(n2.ns, [process.execPath, "-e", `const s=require("node:dgram").createSocket("udp4");s.on("message",m=>console.log("got "+m));s.bind(7000,()=>console.log("bound"));`]);
        expect(await rx.waitLine(/bound/, 5000)).toBe("bound");
        const late = async (forget: boolean, tag: string): Promise<boolean> => {
          await c.exec(n1.ns, ["ip", "neigh", "flush", "dev", n1.links[0]!.iface]); // start unresolved
          await c.cut("node1", 0);
          // the sender exits at once: nothing of it is left but what the kernel queued
          const send = await c.exec(n1.ns, [process.execPath, "-e", `const s=require("node:dgram").createSocket("udp4");s.send("${tag}",7000,"${n2.links[0]!.v4}",()=>process.exit(0));`]);
          expect(send.code).toBe(0);
          expect((await c.exec(n1.ns, ["ip", "neigh", "show", "dev", n1.links[0]!.iface])).stdout).toContain("INCOMPLETE");
          if (forget) await c.forgetNeighbours("node1");
          await c.restore("node1", 0);
          return (await rx.waitLine(new RegExp(`got ${tag}`), 3000)) !== null;
        };
        expect(await late(false, "kept")).toBe(true);
        expect(await late(true, "dropped")).toBe(false);
      } finally {
        await c.destroy();
      }
    });

    test("sweep() removes namespaces of dead runs in tandem's format only", async () => {
      // a PID that is certainly gone: a finished child of ours
      const child = Bun.spawn(["true"]);
      await child.exited;
      const dead = child.pid;
      const stale = `tdm${dead}r0abc-node1`;
      const foreign = `tdmx${dead}-node1`; // not our format: must survive
      for (const ns of [stale, foreign]) expect((await run(["ip", "netns", "add", ns])).code).toBe(0);
      const live = await createCluster({ nodes: 1, links: 1 });
      try {
        const r = await sweep();
        expect(r.removed).toContain(stale);
        expect(r.removed).not.toContain(foreign);
        for (const ns of live.namespaces) expect(r.removed).not.toContain(ns);
        const now = await listNamespaces();
        expect(now).not.toContain(stale);
        expect(now).toContain(foreign);
        for (const ns of live.namespaces) expect(now).toContain(ns);
        await expect(sweep("not-a-prefix")).rejects.toThrow();
      } finally {
        await live.destroy();
        await run(["ip", "netns", "del", stale]);
        await run(["ip", "netns", "del", foreign]);
      }
    });
  });
}
