// Split brain with real fencing, end to end. Two machines, each a real tandem
// daemon powered by its own ipmi_sim BMC (bmc.ts). Heartbeats run on link 0;
// the BMCs sit on link 1, the management network. Cutting node1's link 0
// leaves both nodes alive and blind to each other, while both still reach
// both BMCs: the classic fence race.
//
// Expected, in order:
//  1. node1 holds the group, so it fences at once; node2 (holding nothing)
//     waits fence_delay first and is powered off (fence action reboot) before
//     its delay runs out. The group never runs on node2.
//  2. node2's BMC powers it back on (the reboot). Its heartbeat link is still
//     cut: it has seen no peer since it started, so wait_for_all keeps it from
//     fencing node1 or starting the group. No death match.
//  3. The link heals: node2 joins, the group stays on node1, nobody is fenced.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { until } from "../../src/lab/daemons.ts";
import type { StatusFenceV2 } from "../../src/daemon/status_schema.ts";
import { type Cluster, createCluster } from "../../src/lab/netns.ts";
import { pidAlive, type SimMachine, startFencedPair } from "./bmc.ts";
import { netnsAvailable, tandem } from "./support.ts";

const secret = "split-brain-secret";
const fence_delay_s = 6;

if (netnsAvailable("split_brain.test.ts")) {
  describe("split brain with real fencing (fence_ipmilan + ipmi_sim): the holder wins, no death match", () => {
    let c: Cluster;
    const m: Record<string, SimMachine> = {};

    const starts = (node: string) =>
      (existsSync(join(m[node]!.home, "svc.log")) ? readFileSync(join(m[node]!.home, "svc.log"), "utf8") : "").split("\n").filter((l) => l.endsWith(" start")).length;
    const running = (node: string) => existsSync(join(m[node]!.home, "svc.running"));
    const fencing = async (node: string, peer: string) =>
      (((await m[node]!.status())?.fencing ?? []) as StatusFenceV2[]).find((f) => f.node === peer);
    const peerState = async (node: string, peer: string) =>
      (((await m[node]!.status())?.nodes ?? []) as { name: string; state: string }[]).find((n) => n.name === peer)?.state;
    const dump = () => Object.values(m).map((x) => `--- ${x.node}\n${x.log(2500)}`).join("\n");

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 2 });
      await startFencedPair(c, m, tandem.argv, secret, fence_delay_s);
    }, 60_000);

    afterAll(async () => {
      for (const x of Object.values(m)) x.kill();
      await c?.destroy();
    });

    test("both up, the group runs on node1", async () => {
      const ok = await until(async () => (await peerState("node1", "node2")) === "up" && (await peerState("node2", "node1")) === "up" && running("node1"), 15_000);
      expect(ok, dump()).toBe(true);
      expect(running("node2")).toBe(false);
    }, 30_000);

    test("heartbeat link cut: node1 (the holder) fences node2 at once; node2 never runs the group", async () => {
      const pid2 = m.node2!.pid!;
      const pid1 = m.node1!.pid!;
      await c.cut("node1", 0);
      // node2 needs deadtime + fence_delay before it would even start fencing
      const gone = await until(() => !pidAlive(pid2), (1 + fence_delay_s) * 1000);
      expect(gone, dump()).toBe(true);
      expect(pidAlive(pid1)).toBe(true);
      expect(running("node1")).toBe(true);
      expect(starts("node2")).toBe(0);
      const row = await until(async () => {
        const f = await fencing("node1", "node2");
        return f?.phase === "done" ? f : null;
      }, 10_000);
      expect(row, dump()).toMatchObject({ phase: "done", attempts: 1, last_result: { ok: true } });
    }, 30_000);

    test("node2 reboots into the still-cut network: wait_for_all keeps it from fencing node1 or starting the group", async () => {
      // the fence action is reboot: fence_ipmilan powers node2 off, then on
      expect(await m.node2!.answers(20_000), dump()).toBe(true);
      const waiting = await until(async () => (await fencing("node2", "node1"))?.phase === "waiting_for_all", 10_000);
      expect(waiting, dump()).toBe(true);
      await Bun.sleep(fence_delay_s * 1000); // longer than its fence delay: still nothing
      expect((await fencing("node2", "node1"))?.attempts).toBe(0);
      expect(pidAlive(m.node1!.pid!)).toBe(true);
      expect(starts("node2")).toBe(0);
      expect(running("node1")).toBe(true);
    }, 60_000);

    test("the link heals: node2 joins, the group stays on node1, nobody is fenced", async () => {
      const pid1 = m.node1!.pid!;
      await c.restore("node1", 0);
      const ok = await until(async () => (await peerState("node2", "node1")) === "up" && (await peerState("node1", "node2")) === "up", 10_000);
      expect(ok, dump()).toBe(true);
      expect((await fencing("node2", "node1"))?.phase).toBe("idle");
      await Bun.sleep(2000);
      expect(pidAlive(pid1)).toBe(true);
      expect(running("node1")).toBe(true);
      expect(starts("node2")).toBe(0);
      expect(running("node2")).toBe(false);
    }, 30_000);
  });
}
