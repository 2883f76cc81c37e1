// DRBD in `tandem status`, on real daemons in namespaces. This host has no
// DRBD kernel module, so the state read is the real generic netlink lookup
// failing (family drbd unknown): status must say so for r0, not hide it.
// DRBD's handlers are the real CLI (`tandem drbd-split-brain`,
// `tandem drbd-fence-peer`) given DRBD's environment (DRBD_RESOURCE,
// DRBD_PEER), as the kernel's usermode helper runs them through drbdadm;
// their calls must show in `status --json` (schema-valid) and in the table,
// a split brain as a WARNING line. fence-peer with the peer alive crosses
// the wire: node2's daemon is asked to outdate r0 and, without the module,
// answers no_drbd. The real module's roles, connection states and the
// outdate itself are checked in test/vm/drbd.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, writeConfigDir } from "../../src/lab/netns.ts";
import { type StatusV2, validate } from "../../src/daemon/status_schema.ts";
import { cli, netnsAvailable, tandem } from "./support.ts";

/** Run the real CLI with DRBD's environment (host namespace: the socket is a path). Bounded. */
const run = (args: string[], env: Record<string, string> = {}) => cli(args, 20_000, env);

if (netnsAvailable("drbd_status.test.ts")) {
  describe("DRBD in tandem status: the resource's state read and DRBD's handler calls", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    const dump = () => ["node1", "node2"].map((n) => `--- ${n}\n${d[n]?.output.slice(-30).join("\n")}`).join("\n");
    const statusJson = async (): Promise<StatusV2> => {
      const r = await run(["status", "--json", "--socket", d.node1!.socket]);
      if (r.code !== 0) throw new Error(`status --json exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as StatusV2;
    };

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      const text = haCf(c, { keepalive_ms: 100, deadtime_ms: 600, initdead_ms: 1500 });
      for (const h of c.nodes) {
        const dd = new LabDaemon(c, h, tandem.argv);
        d[h.name] = dd;
        writeConfigDir(dd.dir, text, authkeys("drbd-status-secret"));
        // the seeds' group shape; without the module its start fails (and is bounded by placement)
        writeFileSync(join(dd.dir, "haresources"), "# tandem: monitor off\nnode1 drbddisk::r0\n");
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
    });

    afterAll(async () => {
      await Promise.all(Object.values(d).map((x) => x.stop()));
      await c?.destroy();
    });

    test(
      "r0's read failure is shown; split-brain and fence-peer calls appear in --json and the table; fence-peer answers from membership",
      async () => {
        try {
          const up = await until(async () => (await d.node1!.tryStatus(3000))?.nodes.find((n) => n.name === "node2")?.state === "up", 10_000);
          expect(up).toBe(true);

          // r0: the module is not loaded, and status says so (the real lookup, not a guess)
          const st0 = await statusJson();
          expect(validate(st0)).toEqual([]);
          expect(st0.drbd?.events).toEqual([]);
          // no module means no device that could be Primary: stopping r0 succeeds, nothing is stuck
          for (const g of st0.groups) expect(g.state).not.toBe("stop_failed");
          for (const n of [d.node1!, d.node2!]) expect(n.find({ event: "resource_failed", action: "stop" })).toEqual([]);
          expect(st0.drbd?.resources).toHaveLength(1);
          const r0 = st0.drbd!.resources[0]!;
          expect(r0).toMatchObject({ name: "r0", groups: ["drbddisk::r0"], volumes: null, read_at: null });
          expect(r0.error).toContain("no generic netlink family drbd");
          expect(Number.isFinite(Date.parse(r0.error_at ?? ""))).toBe(true);
          const t0 = await run(["status", "--socket", d.node1!.socket]);
          expect(t0.stdout).toMatch(/^r0\s+-\s+-\s+-\s+-\s+read failed .*no generic netlink family drbd: load the module \(modprobe drbd\)$/m);
          expect(t0.stdout).not.toContain("WARNING");

          // DRBD's split-brain handler, twice (DRBD names the peer by its drbd.conf host name: not always ha.cf's)
          const env = { DRBD_RESOURCE: "r0", DRBD_PEER: "node2", DRBD_MINOR: "0" };
          const sb1 = await run(["drbd-split-brain", "--socket", d.node1!.socket], env);
          expect(sb1).toMatchObject({ code: 0, stdout: "split brain on r0 reported to tandem\n" });
          const sb2 = await run(["drbd-split-brain", "--socket", d.node1!.socket], { ...env, DRBD_PEER: "storage-b.example" });
          expect(sb2.code).toBe(0);
          const st1 = await statusJson();
          expect(validate(st1)).toEqual([]);
          expect(st1.drbd!.events.map((e) => [e.resource, e.peer, e.event, e.count])).toEqual([["r0", "node2", "split-brain", 2]]);
          const at = st1.drbd!.events[0]!.at;
          expect(Math.abs(Date.parse(at) - Date.now())).toBeLessThan(60_000);
          const t1 = await run(["status", "--socket", d.node1!.socket]);
          const lines = t1.stdout.split("\n");
          expect(lines[1]).toStartWith(`WARNING: DRBD r0 split brain reported by DRBD at ${at} (2 times, peer node2): resolve per drbd.conf after-sb-* policies`);
          expect(t1.stdout).toContain("drbd: r0 split brain");
          expect(t1.stdout).not.toContain("\x1b["); // a pipe: no colours
          // the other node heard nothing: the record is the reporting node's
          expect((await d.node2!.status()).drbd?.events).toEqual([]);

          // fence-peer while the peer is up: node1's daemon asks node2's over the link to outdate r0
          // (tandem's dopd). node2 has no DRBD module: it answers no_drbd, a final answer, so the
          // handler exits 1 at once (well inside --timeout 60 and run()'s 20 s bound) and says why.
          // That answer exists only if the request crossed the wire and the reply came back.
          const fp1 = await run(["drbd-fence-peer", "--socket", d.node1!.socket, "--timeout", "60"], env);
          expect(fp1.code).toBe(1);
          expect(fp1.stderr).toContain("r0: node2 is alive and answered no_drbd (kernel: no generic netlink family drbd: load the module (modprobe drbd)): it could not outdate its disk");
          // node2 handled it (its own log and status), node1 recorded the exchange
          const asked = d.node2!.find({ event: "drbd_outdate_asked", resource: "r0", peer: "node1" });
          expect(asked.length).toBeGreaterThan(0);
          expect(d.node2!.find({ event: "drbd_outdate_done", resource: "r0", result: "no_drbd" }).length).toBeGreaterThan(0);
          expect(d.node1!.find({ event: "drbd_outdate_answer", resource: "r0", peer: "node2", result: "no_drbd", final: true })).toHaveLength(1);
          const served = (await d.node2!.status()) as unknown as StatusV2;
          expect(validate(served)).toEqual([]);
          expect(served.drbd?.outdates).toEqual([expect.objectContaining({ resource: "r0", peer: "node1", direction: "served", count: 1, result: "no_drbd" })]);
          const sto = await statusJson();
          expect(validate(sto)).toEqual([]);
          expect(sto.drbd?.outdates).toEqual([expect.objectContaining({ resource: "r0", peer: "node2", direction: "asked", result: "no_drbd", id: served.drbd!.outdates![0]!.id })]);
          const tto = await run(["status", "--socket", d.node1!.socket]);
          expect(tto.stdout).toMatch(/^drbd: r0 asked node2 to outdate its disk at \S+ \(request \d+, sent once, .* ago\): no_drbd \(kernel: no generic netlink family drbd/m);
          // the peer dies (no fence device): exit 5, peer unreachable
          await d.node2!.stop();
          const dead = await until(async () => (await d.node1!.tryStatus(3000))?.nodes.find((n) => n.name === "node2")?.state === "dead", 10_000);
          expect(dead).toBe(true);
          const fp2 = await run(["drbd-fence-peer", "--socket", d.node1!.socket, "--timeout", "5"], env);
          expect(fp2.code).toBe(5);
          expect(fp2.stdout).toContain("r0: node2 is dead to tandem");

          const st2 = await statusJson();
          expect(validate(st2)).toEqual([]);
          expect(st2.drbd!.events.map((e) => [e.resource, e.peer, e.event, e.count])).toEqual([
            ["r0", "node2", "split-brain", 2],
            ["r0", "node2", "fence-peer", 2],
          ]);
          const t2 = await run(["status", "--socket", d.node1!.socket]);
          expect(t2.stdout).toMatch(/^drbd: r0 fence-peer handler asked about node2 at \S+ \(2 times, .* ago\)$/m);
          expect(t2.stdout.split("\n")[1]).toStartWith("WARNING: DRBD r0 split brain");
          // and the daemon logged both, as events for `tandem events`
          expect(d.node1!.find({ event: "drbd_split_brain", resource: "r0" })).toHaveLength(2);
          expect(d.node1!.find({ event: "drbd_fence_peer", resource: "r0", peer_state: "dead" }).length).toBeGreaterThan(0);
          // node2 stopped with SIGTERM: it said goodbye, and membership's view of that reaches the handler
          // (with a fence device configured this answers 5 at once instead of waiting for a fence that never comes)
          expect(d.node1!.find({ event: "drbd_fence_peer", resource: "r0", peer_state: "dead", left: true }).length).toBeGreaterThan(0);
        } catch (e) {
          (e as Error).message += `\n${dump()}`;
          throw e;
        }
      },
      90_000,
    );
  });
}
