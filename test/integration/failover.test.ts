// Resource failover with real daemons in namespaces: one group of the native
// floating IP and OCF Dummy (Debian resource-agents), seen from a client
// namespace. Placement logic itself is covered by the simulator; this proves
// the daemon drives it: start on the preferred node, takeover on SIGKILL,
// no failback with auto_failback off, standby, graceful hand-over on SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, writeConfigDir } from "../../src/lab/netns.ts";
import { cli, netnsAvailable, tandem } from "./support.ts";

const vip = ipv4(0, 50);
const have_dummy = existsSync("/usr/lib/ocf/resource.d/heartbeat/Dummy");

if (netnsAvailable("failover.test.ts")) {
  describe("resource failover between real daemons", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 2, client: true });
      // tandem's own announcement burst, as an admin writes it next to Heartbeat
      const text = `${haCf(c, { keepalive_ms: 100, deadtime_ms: 600, initdead_ms: 1500 })}# tandem: arp_count 3\n# tandem: arp_interval 50ms\n`;
      const dummy = have_dummy ? " ocf:heartbeat:Dummy" : "";
      for (const h of c.nodes) {
        d[h.name] = new LabDaemon(c, h, tandem.argv);
        writeConfigDir(d[h.name]!.dir, text, authkeys("failover-secret"));
        writeFileSync(
          join(d[h.name]!.dir, "haresources"),
          `# tandem: monitor interval=1s timeout=5s\nnode1 ${vip}/26/${ifaceName(0)}${dummy}\n`,
        );
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
    });

    afterAll(async () => {
      await c?.destroy();
    });

    const hasVip = async (node: string) => (await c.exec(c.node(node).ns, ["ip", "-4", "addr", "show"])).stdout.includes(`${vip}/26`);
    const holder = async (node: string) => (await d[node]!.tryStatus())?.groups?.[0] as { holder: string | null; state: string } | undefined;
    const clientPings = async () => (await c.exec(c.node("client").ns, ["ping", "-c", "1", "-W", "1", vip])).code === 0;
    const dump = () => Object.values(d).map((x) => `--- ${x.name}\n${x.output.slice(-30).join("\n")}`).join("\n");

    test("the group starts on its preferred node and the client reaches the VIP", async () => {
      const ok = await until(async () => (await holder("node2"))?.holder === "node1" && (await hasVip("node1")), 10_000);
      expect(ok, dump()).toBe(true);
      expect(await hasVip("node2")).toBe(false);
      expect(await clientPings()).toBe(true);
      // realtime on is Heartbeat's default: SCHED_RR 1 for every thread and
      // locked memory (root here)
      const rt = ((await d.node1!.tryStatus()) as { realtime?: { policy: string; priority: number; rtprio: number; memory_locked: boolean } } | null)?.realtime;
      expect(rt).toMatchObject({ policy: "rr", priority: 1, rtprio: 1, memory_locked: true });
      const st = await cli(["status", "--socket", d.node1!.socket]);
      expect(st.stdout).toMatch(/realtime: SCHED_RR 1 \((\d+)\/\1 threads\), memory locked/);
      expect(st.stdout).toContain("GROUP");
      // ha.cf's arp_count / arp_interval reached the built-in IP
      expect(d.node1!.output.join("\n")).toContain("announcing it 3 times every 50 ms");
      expect(st.stdout).toMatch(/node1\s+running/);
    });

    test("SIGKILL of the holder: the survivor takes over, the client follows", async () => {
      const from = d.node2!.events.length;
      const killed = performance.now();
      d.node1!.kill("SIGKILL");
      await d.node1!.proc!.exited;
      const ok = await until(async () => (await hasVip("node2")) && (await holder("node2"))?.state === "running", 10_000, 20);
      const took_ms = performance.now() - killed;
      expect(ok, dump()).toBe(true);
      expect(d.node2!.find({ event: "node_dead", node: "node1" }, from).length).toBe(1);
      expect(await until(clientPings, 5000)).toBe(true);
      process.stderr.write(`  takeover: VIP on node2 ${took_ms.toFixed(0)} ms after SIGKILL (deadtime 600 ms)\n`);
    });

    test("the old holder restarts, cleans up and does not take the group back (auto_failback off)", async () => {
      const from = d.node1!.events.length;
      await d.node1!.start();
      expect(await d.node1!.waitEvent({ event: "node_up", node: "node2" }, 10_000, from)).not.toBeNull();
      // its boot clean-up removes the address the SIGKILLed incarnation left behind
      expect(await until(async () => !(await hasVip("node1")), 10_000)).toBe(true);
      await Bun.sleep(1500);
      expect(await hasVip("node2")).toBe(true);
      expect(await hasVip("node1")).toBe(false);
      expect((await holder("node1"))?.holder).toBe("node2");
    });

    test("standby on the holder moves the group to the peer", async () => {
      const r = await cli(["standby", "all", "--socket", d.node2!.socket]);
      expect(r.code, r.stderr).toBe(0);
      const ok = await until(async () => (await hasVip("node1")) && !(await hasVip("node2")) && (await holder("node1"))?.state === "running", 10_000);
      expect(ok, dump()).toBe(true);
      expect(await until(clientPings, 5000)).toBe(true);
      expect((await cli(["standby", "none", "--socket", d.node2!.socket])).code).toBe(0);
      expect((await cli(["standby", "bogus", "--socket", d.node2!.socket])).code).toBe(2);
    });

    test("SIGTERM of the holder hands the group over before it leaves", async () => {
      const from = d.node2!.events.length;
      d.node1!.kill("SIGTERM");
      expect(await d.node1!.proc!.exited).toBe(0);
      expect(await hasVip("node1")).toBe(false);
      const ok = await until(async () => (await hasVip("node2")) && (await holder("node2"))?.state === "running", 10_000);
      expect(ok, dump()).toBe(true);
      const dead = d.node2!.find({ event: "node_dead", node: "node1" }, from);
      expect(dead.map((e) => e.fields.reason)).toEqual(["left"]);
    });
  });
}
