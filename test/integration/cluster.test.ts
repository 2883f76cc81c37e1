// Real tandem daemons in network namespaces: two nodes, two links, one
// topology shared by every test (daemons restarted when a test needs a
// different ha.cf). Needs root; skipped with a message elsewhere, except on
// CI where it must run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { authkeys, haCf, mcastGroup, writeConfigDir } from "../../src/lab/netns.ts";
import { until } from "../../src/lab/daemons.ts";
import { cli, type ClusterConfig, netnsAvailable, TestCluster, tandem } from "./support.ts";

const keepalive_ms = 100;
const deadtime_ms = 1000;
/** scheduling slack allowed on top of deadtime before a detection counts as late (the precise lateness is the benchmark's business) */
const margin_ms = 1500;

const base: ClusterConfig = { keepalive_ms, deadtime_ms, media: ["ucast", "ucast"] };

if (netnsAvailable("cluster.test.ts")) {
  describe(`tandem in namespaces (${tandem.why})`, () => {
    let tc: TestCluster;
    beforeAll(async () => {
      tc = await TestCluster.create();
    });
    afterAll(async () => {
      await tc?.destroy();
    });

    test("every ha.cf the lab writes passes `tandem check`", async () => {
      const variants: ClusterConfig[] = [
        base,
        { keepalive_ms, deadtime_ms: 5000, media: ["ucast", "ucast"] },
        { keepalive_ms, deadtime_ms, media: ["ucast6", null] },
        { keepalive_ms, deadtime_ms, media: ["bcast", "mcast"] },
      ];
      for (const [i, v] of variants.entries()) {
        const dir = join(tc.c.tmp, `check-${i}`);
        writeConfigDir(dir, haCf(tc.c, v), authkeys("check-secret"));
        const r = await cli(["check", "--dir", dir]);
        expect(r.code, `${haCf(tc.c, v)}\n${r.stdout}${r.stderr}`).toBe(0);
      }
    });

    test("two nodes on two ucast links see each other; status --json and the table render", async () => {
      await tc.run(async () => {
        await tc.ensure(base);
        expect(await tc.mutualUp()).toBe(true);
        const n2 = tc.c.node("node2");
        // both links up, as each node sees the other
        const ok = await tc.d("node1").status();
        const peer = ok.nodes.find((n) => n.name === "node2")!;
        expect(ok.node).toBe("node1");
        expect(ok.nodes.find((n) => n.name === "node1")?.state).toBe("self");
        expect(peer.state).toBe("up");
        expect(peer.links.map((l) => [l.name, l.state]).sort()).toEqual([
          [`ucast veth-a ${n2.links[0]!.v4}`, "up"],
          [`ucast veth-b ${n2.links[1]!.v4}`, "up"],
        ]);

        // the real CLI, over the control socket
        const j = await cli(["status", "--socket", tc.d("node2").socket, "--json"]);
        expect(j.stderr).toBe("");
        expect(j.code).toBe(0);
        const st = JSON.parse(j.stdout);
        expect(st.node).toBe("node2");
        expect(st.nodes.find((n: { name: string }) => n.name === "node1").state).toBe("up");
        expect(st.counters.dropped).toBeDefined();

        const t = await cli(["status", "--socket", tc.d("node1").socket]);
        expect(t.code).toBe(0);
        expect(t.stdout).toContain("tandem on node1");
        const lines = t.stdout.trimEnd().split("\n");
        expect(lines[1]).toMatch(/^realtime: SCHED_RR 1 \((\d+)\/\1 threads\), memory locked on fault \(resident [\d.]+ MB\)$/);
        expect(lines[2]).toMatch(/^NODE\s+STATE\s+GENERATION\s+LAST HEARD\s+LINKS$/);
        expect(lines.find((l) => l.startsWith("node2"))).toMatch(/^node2\s+up\s+\d+\s+\d+ ms ago\s+ucast veth-a 192\.0\.2\.2: up, ucast veth-b 192\.0\.2\.66: up$/);
        expect(lines.find((l) => l.startsWith("node1"))).toMatch(/^node1\s+self\b/);

        // no socket, a clear error and a non-zero exit
        const none = await cli(["status", "--socket", `${tc.c.tmp}/nothing-here.sock`]);
        expect(none.code).not.toBe(0);
        expect(none.stderr).toContain("no tandem daemon is listening");
      });
    });

    test("cutting one of two links: that link goes down, the peer stays up", async () => {
      await tc.run(async () => {
        await tc.ensure(base);
        expect(await tc.mutualUp()).toBe(true);
        const n1 = tc.d("node1");
        const n2 = tc.d("node2");
        const cut_link = `ucast veth-b ${tc.c.node("node2").links[1]!.v4}`;
        const kept_link = `ucast veth-a ${tc.c.node("node2").links[0]!.v4}`;
        const back_link = `ucast veth-b ${tc.c.node("node1").links[1]!.v4}`;
        const from1 = n1.events.length;
        const from2 = n2.events.length;
        await tc.c.cut("node2", 1);
        try {
          const down = await n1.waitEvent({ event: "link_down", node: "node2", link: cut_link }, deadtime_ms + margin_ms, from1);
          expect(down?.line ?? "node1 logged no link_down for node2's cut link").toContain("link_down");
          const down2 = await n2.waitEvent({ event: "link_down", node: "node1", link: back_link }, deadtime_ms + margin_ms, from2);
          expect(down2?.line ?? "node2 logged no link_down for its cut link").toContain("link_down");
          // stay a whole deadtime more in this state: nothing else may happen
          await Bun.sleep(deadtime_ms);
          const st = await n1.status();
          const peer = st.nodes.find((n) => n.name === "node2")!;
          expect(peer.state).toBe("up");
          expect(Object.fromEntries(peer.links.map((l) => [l.name, l.state]))).toEqual({ [kept_link]: "up", [cut_link]: "down" });
          expect(n1.find({ event: "node_dead" }, from1)).toEqual([]);
          expect(n2.find({ event: "node_dead" }, from2)).toEqual([]);
          expect(n1.find({ event: "link_down" }, from1).map((e) => e.fields.link)).toEqual([cut_link]);
        } finally {
          await tc.c.restore("node2", 1);
        }
        const up = await n1.waitEvent({ event: "link_up", node: "node2", link: cut_link }, 5000, from1);
        expect(up?.line ?? "node1 logged no link_up after the repair").toContain("link_up");
      });
    });

    test("SIGKILL of a node is detected after deadtime (reason=deadtime), not before", async () => {
      await tc.run(async () => {
        await tc.ensure(base);
        expect(await tc.mutualUp()).toBe(true);
        const n1 = tc.d("node1");
        const from = n1.events.length;
        const t_kill = Date.now();
        expect(tc.d("node2").kill("SIGKILL")).toBe(true);
        const ev = await n1.waitEvent({ event: "node_dead", node: "node2" }, deadtime_ms + margin_ms, from);
        expect(ev?.line ?? `no node_dead within ${deadtime_ms + margin_ms} ms`).toContain("node_dead");
        expect(ev!.fields.reason).toBe("deadtime");
        // not before deadtime: by the daemon's own clock ...
        expect(Number(ev!.fields.last_heard_ms_ago)).toBeGreaterThanOrEqual(deadtime_ms);
        expect(Number(ev!.fields.lateness_ms)).toBeGreaterThanOrEqual(0);
        // ... and by ours: node2's last heartbeat left at most about one keepalive before the kill
        const after_kill = ev!.t - t_kill;
        expect(after_kill).toBeGreaterThanOrEqual(deadtime_ms - 2 * keepalive_ms);
        expect(after_kill).toBeLessThanOrEqual(deadtime_ms + margin_ms);
        const st = await n1.status();
        expect(st.nodes.find((n) => n.name === "node2")?.state).toBe("dead");
        expect(await tc.d("node2").proc!.wait(2000)).toBe(true);
      });
    });

    test("a restarted node rejoins with a new generation (node_up rejoined=true)", async () => {
      await tc.run(async () => {
        await tc.ensure(base);
        expect(await tc.mutualUp()).toBe(true);
        const n1 = tc.d("node1");
        const n2 = tc.d("node2");
        const gen_before = (await n1.status()).nodes.find((n) => n.name === "node2")!.generation;
        expect(gen_before).toBeGreaterThan(0);
        let from = n1.events.length;
        n2.kill("SIGKILL");
        expect(await n2.proc!.wait(3000)).toBe(true);
        const dead = await n1.waitEvent({ event: "node_dead", node: "node2" }, deadtime_ms + margin_ms, from);
        expect(dead?.fields.reason).toBe("deadtime");
        from = n1.events.length;
        await n2.start();
        const up = await n1.waitEvent({ event: "node_up", node: "node2" }, 5000, from);
        expect(up?.line ?? "node1 never saw node2 again").toContain("node_up");
        expect(up!.fields.rejoined).toBe("true");
        expect(Number(up!.fields.generation)).toBeGreaterThan(gen_before);
        expect(await tc.mutualUp()).toBe(true);
        const st = await n1.status();
        expect(st.nodes.find((n) => n.name === "node2")?.generation).toBe(Number(up!.fields.generation));
        expect((await n2.status()).generation).toBe(Number(up!.fields.generation));
      });
    });

    test("a restart quicker than deadtime is seen as one (node_dead reason=restarted, then node_up rejoined=true)", async () => {
      const long_deadtime = 5000;
      await tc.run(async () => {
        await tc.ensure({ keepalive_ms, deadtime_ms: long_deadtime, media: ["ucast", "ucast"] });
        expect(await tc.mutualUp(15_000)).toBe(true);
        const n1 = tc.d("node1");
        const n2 = tc.d("node2");
        const gen_before = (await n2.status()).generation;
        const from = n1.events.length;
        n2.kill("SIGKILL");
        expect(await n2.proc!.wait(3000)).toBe(true);
        const t_restart = Date.now();
        await n2.start();
        const up = await n1.waitEvent({ event: "node_up", node: "node2" }, long_deadtime / 2, from);
        expect(up?.line ?? "node1 never saw node2's new incarnation").toContain("node_up");
        expect(up!.t - t_restart).toBeLessThan(long_deadtime / 2);
        expect(Number(up!.fields.generation)).toBeGreaterThan(gen_before);
        expect(up!.fields.rejoined).toBe("true");
        const dead = n1.find({ event: "node_dead", node: "node2" }, from);
        expect(dead.map((e) => e.fields.reason)).toEqual(["restarted"]);
        expect(dead[0]!.t).toBeLessThanOrEqual(up!.t);
      });
    });

    test("SIGTERM: the peer learns at once (reason=left), long before deadtime", async () => {
      const long_deadtime = 5000;
      await tc.run(async () => {
        await tc.ensure({ keepalive_ms, deadtime_ms: long_deadtime, media: ["ucast", "ucast"] });
        expect(await tc.mutualUp(15_000)).toBe(true);
        const n1 = tc.d("node1");
        const n2 = tc.d("node2");
        const from1 = n1.events.length;
        const from2 = n2.events.length;
        const t_term = Date.now();
        expect(n2.kill("SIGTERM")).toBe(true);
        const ev = await n1.waitEvent({ event: "node_dead", node: "node2" }, long_deadtime / 2, from1);
        expect(ev?.line ?? `no node_dead within ${long_deadtime / 2} ms of the SIGTERM`).toContain("node_dead");
        expect(ev!.fields.reason).toBe("left");
        expect(ev!.t - t_term).toBeLessThan(1000);
        expect(await n2.proc!.wait(3000)).toBe(true);
        expect(n2.proc!.exit_code).toBe(0);
        expect(n2.find({ event: "stopping" }, from2).length).toBe(1);
        expect(n2.find({ event: "leave_sent" }, from2).length).toBeGreaterThanOrEqual(1);
        expect((await n1.status()).nodes.find((n) => n.name === "node2")?.state).toBe("dead");
      });
    });

    test("a wrong key is rejected and logged (drop reason=bad_mac); the peer never comes up", async () => {
      await tc.run(async () => {
        const cfg: ClusterConfig = { ...base, secrets: { node1: "the-right-key", node2: "a-wrong-key" } };
        await tc.ensure(cfg);
        const n1 = tc.d("node1");
        const from = n1.events.findLastIndex((e) => e.event === "started");
        const drop = await n1.waitEvent({ event: "drop", reason: "bad_mac" }, 5000, from);
        expect(drop?.line ?? "node1 logged no drop reason=bad_mac").toContain("bad_mac");
        // keep listening past initdead and deadtime: still nothing
        await Bun.sleep(2 * deadtime_ms);
        const st = await n1.status();
        expect(st.nodes.find((n) => n.name === "node2")?.state).not.toBe("up");
        expect(st.counters.dropped.bad_mac ?? 0).toBeGreaterThan(0);
        expect(n1.find({ event: "node_up" }, from)).toEqual([]);
        expect((await tc.d("node2").status()).counters.dropped.bad_mac ?? 0).toBeGreaterThan(0);
      });
    });

    test("an IPv6 ucast link works", async () => {
      await tc.run(async () => {
        await tc.ensure({ keepalive_ms, deadtime_ms, media: ["ucast6", null] });
        expect(await tc.mutualUp()).toBe(true);
        const st = await tc.d("node1").status();
        const peer = st.nodes.find((n) => n.name === "node2")!;
        expect(peer.links.map((l) => [l.name, l.state])).toEqual([[`ucast veth-a ${tc.c.node("node2").links[0]!.v6}`, "up"]]);
      });
    });

    test("a bcast link and an mcast link work (each link up on its own)", async () => {
      await tc.run(async () => {
        await tc.ensure({ keepalive_ms, deadtime_ms, media: ["bcast", "mcast"] });
        expect(await tc.mutualUp()).toBe(true);
        const want = { "bcast veth-a": "up", [`mcast veth-b ${mcastGroup(1)} 694`]: "up" };
        for (const [self, peer] of [
          ["node1", "node2"],
          ["node2", "node1"],
        ] as const) {
          // the node is up on its first heartbeat; the other link follows within a keepalive or so
          const links = async () => {
            const p = (await tc.d(self).status()).nodes.find((n) => n.name === peer)!;
            return Object.fromEntries(p.links.map((l) => [l.name, l.state]));
          };
          await until(async () => JSON.stringify(await links()) === JSON.stringify(want), deadtime_ms);
          expect(await links()).toEqual(want);
        }
        // and each really carries heartbeats: cut one, the other keeps the peer up
        const n1 = tc.d("node1");
        const from = n1.events.length;
        await tc.c.cut("node2", 0);
        try {
          const down = await n1.waitEvent({ event: "link_down", node: "node2", link: "bcast veth-a" }, deadtime_ms + margin_ms, from);
          expect(down?.line ?? "no link_down for the bcast link").toContain("link_down");
          const st = await n1.status();
          const p = st.nodes.find((n) => n.name === "node2")!;
          expect(p.state).toBe("up");
          expect(p.links.find((l) => l.name.startsWith("mcast"))?.state).toBe("up");
        } finally {
          await tc.c.restore("node2", 0);
        }
      });
    });
  });
}
