// ipfail with real daemons: heartbeats on link 0, the ping node (the client
// namespace) on link 1. Cutting the holder's link 1 leaves the heartbeat
// intact but takes its ping node away: the group moves to the node that
// still reaches it. With auto_failback off it stays there when the link
// comes back. The group is a Heartbeat-style script that records where it
// runs, so "never on both" is checked on the scripts' own state files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ipv4, writeConfigDir } from "../../src/lab/netns.ts";
import { netnsAvailable, tandem } from "./support.ts";

if (netnsAvailable("ipfail.test.ts")) {
  describe("ipfail: ping nodes move groups to the better-connected node", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    const state = (node: string) => join(d[node]!.dir, "svc.running");

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 2, client: true });
      const ping_node = ipv4(1, 60); // the client on link 1
      const text = haCf(c, {
        keepalive_ms: 100,
        deadtime_ms: 500,
        initdead_ms: 1500,
        media: ["ucast", null],
        extra: [`ping ${ping_node}`, "deadping 600ms"],
      });
      for (const h of c.nodes) {
        d[h.name] = new LabDaemon(c, h, tandem.argv);
        const dir = d[h.name]!.dir;
        writeConfigDir(dir, text, authkeys("ipfail-secret"));
        mkdirSync(join(dir, "resource.d"), { recursive: true });
        const script = join(dir, "resource.d", "svc");
        const file = join(dir, "svc.running");
        writeFileSync(
          script,
          `#!/bin/sh\ncase "$1" in\n start) touch ${file} ;;\n stop) rm -f ${file} ;;\n status) [ -e ${file} ] && echo running || echo stopped ;;\nesac\nexit 0\n`,
        );
        chmodSync(script, 0o755);
        writeFileSync(join(dir, "haresources"), "# tandem: monitor interval=1s timeout=5s\nnode1 svc\n");
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
    });

    afterAll(async () => {
      await c?.destroy();
    });

    const runs = () => ({ node1: existsSync(state("node1")), node2: existsSync(state("node2")) });
    const score = async (node: string) => ((await d[node]!.tryStatus()) as { ping?: { score: number } } | null)?.ping?.score;
    const dump = () => Object.values(d).map((x) => `--- ${x.name}\n${x.output.slice(-30).join("\n")}`).join("\n");

    test("both reach the ping node; the group runs on its preferred node", async () => {
      const ok = await until(async () => (await score("node1")) === 1 && (await score("node2")) === 1 && runs().node1, 10_000);
      expect(ok, dump()).toBe(true);
      expect(runs()).toEqual({ node1: true, node2: false });
    });

    test("node1 loses the ping node (heartbeats intact): the group moves to node2, never on both", async () => {
      await c.cut("node1", 1);
      let both = false;
      const ok = await until(async () => {
        const r = runs();
        if (r.node1 && r.node2) both = true;
        return !r.node1 && r.node2;
      }, 10_000, 20);
      expect(ok, dump()).toBe(true);
      expect(both).toBe(false);
      const st = await d.node1!.tryStatus();
      expect(st?.nodes.find((n) => n.name === "node2")?.state).toBe("up"); // no split: only ipfail moved it
    });

    test("the ping node is back: auto_failback off, the group stays on node2", async () => {
      await c.restore("node1", 1);
      expect(await until(async () => (await score("node1")) === 1, 10_000), dump()).toBe(true);
      await Bun.sleep(1500);
      expect(runs()).toEqual({ node1: false, node2: true });
    });
  });
}
