// Failed-stop escalation and meatware, with real daemons: node1's resource
// refuses to stop, so when node1 is put on standby it announces the group as
// stop_failed. node2 must fence node1 before it runs the group; the only
// device is `manual`, so the group stays down, `tandem status` on node2 says
// what to do, and `tandem fence-confirm node1` (the admin has powered node1
// off) lets node2 start it. Here the "power off" is a SIGKILL of node1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, writeConfigDir } from "../../src/lab/netns.ts";
import { cli, netnsAvailable, tandem } from "./support.ts";

if (netnsAvailable("meatware.test.ts")) {
  describe("a failed stop is fenced; manual fencing waits for fence-confirm", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    const running = (node: string) => existsSync(join(d[node]!.dir, "svc.running"));
    const dump = () => Object.values(d).map((x) => `--- ${x.name}\n${x.output.slice(-25).join("\n")}`).join("\n");

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      const text = `${haCf(c, { keepalive_ms: 100, deadtime_ms: 500, initdead_ms: 1500 }).trimEnd()}\nfence node1 manual\nfence node2 manual\n`;
      for (const h of c.nodes) {
        d[h.name] = new LabDaemon(c, h, tandem.argv);
        const dir = d[h.name]!.dir;
        writeConfigDir(dir, text, authkeys("meatware-secret"));
        mkdirSync(join(dir, "resource.d"), { recursive: true });
        const state = join(dir, "svc.running");
        // node1's copy cannot stop its service once started (a stop of a
        // stopped service succeeds, so the boot clean-up passes); node2's can
        const stop = h.name === "node1" ? `[ -e ${state} ] && exit 1` : `rm -f ${state}`;
        writeFileSync(
          join(dir, "resource.d", "svc"),
          `#!/bin/sh\ncase "$1" in\n start) touch ${state} ;;\n stop) ${stop} ;;\n status) [ -e ${state} ] && echo running || echo stopped ;;\nesac\nexit 0\n`,
          { mode: 0o755 },
        );
        writeFileSync(join(dir, "haresources"), "node1 svc\n");
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
    });

    afterAll(async () => {
      await c?.destroy();
    });

    test("the group runs on node1", async () => {
      expect(await until(() => running("node1"), 10_000), dump()).toBe(true);
    });

    test("standby on node1: its stop fails, node2 wants it fenced and keeps the group down", async () => {
      expect((await cli(["standby", "all", "--socket", d.node1!.socket])).code).toBe(0);
      const waiting = await until(async () => {
        const st = (await d.node2!.tryStatus()) as { fencing?: { node: string; phase: string; reason: string }[] } | null;
        const f = st?.fencing?.find((x) => x.node === "node1");
        return f?.reason === "stop_failed" && f.phase === "backoff";
      }, 10_000);
      expect(waiting, dump()).toBe(true);
      expect(running("node2")).toBe(false);
      const table = await cli(["status", "--socket", d.node2!.socket]);
      expect(table.stdout).toMatch(/FENCE\s+PHASE/);
      expect(table.stdout).toContain("waiting for `tandem fence-confirm node1`");
    });

    test("fence-confirm: refused for a node that is not a peer, then node1 is 'powered off' and confirmed: node2 starts the group", async () => {
      const bad = await cli(["fence-confirm", "node9", "--socket", d.node2!.socket]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("node9 is not a peer");
      expect((await cli(["fence-confirm", "--socket", d.node2!.socket])).code).toBe(2);
      d.node1!.kill("SIGKILL");
      await d.node1!.proc!.exited;
      const ok = await cli(["fence-confirm", "node1", "--socket", d.node2!.socket]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(await until(() => running("node2"), 10_000), dump()).toBe(true);
    });
  });
}
