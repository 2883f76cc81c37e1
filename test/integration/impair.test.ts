// The userspace impairment relay (test/cts/impair.ts, impair.py) that stands
// in for netem in the CTS campaign: on a real link between two namespaces it
// must add the delay it is told to, duplicate, reorder and drop frames, be
// changed and healed at runtime, refuse bad parameters, and leave the
// topology as it found it. Two real daemons count the duplicates as replays.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LabDaemon, preferredCommand, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, writeConfigDir } from "../../src/lab/netns.ts";
import { Impairment } from "../cts/impair.ts";
import { netnsAvailable } from "./support.ts";

/** ping node2 from node1: replies, duplicates, min rtt */
async function ping(c: Cluster, count: number, interval_s = 0.1): Promise<{ received: number; dups: number; min_ms: number; out: string }> {
  const r = await c.exec(c.nodes[0]!.ns, ["ping", "-n", "-c", String(count), "-i", String(interval_s), "-W", "5", c.nodes[1]!.links[0]!.v4], 30_000);
  const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
  const dups = Number(/\+(\d+) duplicates/.exec(r.stdout)?.[1] ?? 0);
  const min_ms = Number(/= ([\d.]+)\//.exec(r.stdout)?.[1] ?? NaN);
  return { received, dups, min_ms, out: r.stdout };
}

/** numbered UDP datagrams from node1 to node2, 4 ms apart: the order node2 got them in */
async function udpOrder(c: Cluster, count: number): Promise<number[]> {
  const dst = c.nodes[1]!.links[0]!.v4;
  const rx = c.spawn(c.nodes[1]!.ns, [
    "python3",
    "-u",
    "-c",
    `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("${dst}",7001))\ns.settimeout(3)\nprint("bound",flush=True)\ntry:\n  while True: print(s.recv(64).decode(),flush=True)\nexcept socket.timeout: pass`,
  ]);
  await until(() => rx.lines.includes("bound"), 5000, 20);
  await c.exec(c.nodes[0]!.ns, ["python3", "-c", `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor k in range(${count}):\n  s.sendto(str(k).encode(),("${dst}",7001)); time.sleep(0.004)`], 20_000);
  await rx.wait(10_000);
  return rx.lines.filter((l) => /^\d+$/.test(l)).map(Number);
}

if (netnsAvailable("impair.test.ts")) {
  describe("link impairment relay (netem without netem)", () => {
    let c: Cluster;
    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
    });
    afterAll(async () => {
      await c?.destroy();
    });

    test("delay, duplication, reordering, loss, heal, bad parameters, removal", async () => {
      const x = await Impairment.insert(c, "node1", 0, 42);
      try {
        // transparent until told otherwise; the node's port is off the bridge
        expect((await ping(c, 3)).received).toBe(3);
        expect((await c.exec(c.lan_ns, ["ip", "-o", "link", "show", "n1l0"])).stdout).not.toContain("master br0");

        // 80 ms out + 40 ms in: every echo takes at least 120 ms
        await x.set({ out: { delay_ms: 80 }, in: { delay_ms: 40 } });
        const delayed = await ping(c, 4);
        expect(delayed.received, delayed.out).toBe(4);
        expect(delayed.min_ms, delayed.out).toBeGreaterThanOrEqual(119);

        // every frame to node1 twice: ping reports DUP! replies
        await x.set({ out: { delay_ms: 0 }, in: { delay_ms: 0, dup_pct: 100 } });
        const dup = await ping(c, 4);
        expect(dup.out).toContain("(DUP!)");
        expect(dup.dups, dup.out).toBeGreaterThanOrEqual(3);

        // half of node1's datagrams held back 30 ms: later ones overtake them, none lost
        await x.set({ in: { dup_pct: 0 }, out: { reorder_pct: 50, reorder_ms: 30 } });
        const order = await udpOrder(c, 100);
        expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, k) => k));
        const inversions = order.filter((v, k) => k > 0 && v < order[k - 1]!).length;
        expect(inversions, order.join(",")).toBeGreaterThan(5);

        // 50% loss one way only
        await x.set({ out: { reorder_pct: 0, loss_pct: 50 } });
        const lossy = await ping(c, 40, 0.02);
        expect(lossy.received, lossy.out).toBeGreaterThan(5);
        expect(lossy.received, lossy.out).toBeLessThan(35);

        const st = await x.stats();
        expect(st.in.counters.duplicated).toBeGreaterThanOrEqual(4);
        expect(st.out.counters.reordered).toBeGreaterThan(20);
        expect(st.out.counters.lost).toBeGreaterThan(5);
        expect(st.out.counters.overflow + st.in.counters.overflow).toBe(0);

        // bad parameters are refused with a reason, and change nothing
        await expect(x.set({ out: { loss_pct: 150 } })).rejects.toThrow(/loss_pct must be 0..100/);
        await expect(x.set({ out: { bogus_ms: 1 } as never })).rejects.toThrow(/unknown parameter 'bogus_ms'/);
        await expect(x.set({ out: { delay_ms: Number.NaN } })).rejects.toThrow(/delay_ms must be a number >= 0/);
        expect((await x.stats()).out.params.loss_pct).toBe(50);

        // healed at runtime
        await x.clear();
        const healed = await ping(c, 10, 0.05);
        expect(healed.received, healed.out).toBe(10);
      } finally {
        await x.remove();
      }
      // the topology is as it was: port back on br0, relay veth gone, relay exited
      expect((await c.exec(c.lan_ns, ["ip", "-o", "link", "show", "n1l0"])).stdout).toContain("master br0");
      expect((await c.exec(c.lan_ns, ["ip", "link", "show", "ri1l0"])).code).not.toBe(0);
      expect(x.running).toBe(false);
      expect((await ping(c, 3)).received).toBe(3);
    }, 60_000);

    test("two real daemons: duplicated and reordered heartbeats are dropped as replays, nobody is judged dead", async () => {
      const text = haCf(c, { keepalive_ms: 100, deadtime_ms: 800, extra: ["realtime off"] });
      const d = c.nodes.map((h) => new LabDaemon(c, h, preferredCommand().argv));
      for (const x of d) writeConfigDir(x.dir, text, authkeys("impair-secret"));
      const x = await Impairment.insert(c, "node1", 0, 7);
      try {
        await Promise.all(d.map((y) => y.start(20_000)));
        const up = () => until(async () => (await d[1]!.tryStatus())?.nodes.find((n) => n.name === "node1")?.state === "up", 10_000, 100);
        expect(await up()).toBeTruthy();
        const before = (await d[1]!.status()).counters.dropped.replay ?? 0;
        await x.set({ out: { dup_pct: 100, reorder_pct: 30, reorder_ms: 150, delay_ms: 50, jitter_ms: 40 } });
        await Bun.sleep(2000);
        await x.clear();
        const after = (await d[1]!.status()).counters.dropped.replay ?? 0;
        expect(after - before).toBeGreaterThan(10);
        expect(d.flatMap((y) => y.find({ event: "node_dead" }))).toEqual([]);
        expect(await up()).toBeTruthy();
      } finally {
        await x.remove();
        for (const y of d) await y.stop();
      }
    }, 60_000);
  });
}
