// `tandem config push` between two real daemons in network namespaces: the
// CLI in node1's namespace pushes node1's /etc/ha.d to node2's running
// daemon over the heartbeat network (TCP at udpport, HMAC with authkeys).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { netnsAvailable, type ClusterConfig, TestCluster, tandem } from "./support.ts";

const base: ClusterConfig = { keepalive_ms: 100, deadtime_ms: 1000, media: ["ucast", "ucast"] };

if (netnsAvailable("config_push.test.ts")) {
  describe(`tandem config push between daemons (${tandem.why})`, () => {
    let tc: TestCluster;
    beforeAll(async () => {
      tc = await TestCluster.create();
      await tc.ensure(base);
    }, 60_000);
    afterAll(async () => {
      await tc?.stopAll();
      await tc?.destroy();
    });

    const push = (...extra: string[]) =>
      tc.c.exec(tc.c.nodes[0]!.ns, [...tandem.argv, "config", "push", "--dir", tc.d("node1").dir, "--node", "node1", ...extra], 30_000);

    test("a change is shown as a diff and written on node2; the daemons stay up", () =>
      tc.run(async () => {
        expect(await tc.mutualUp()).toBe(true);
        appendFileSync(join(tc.d("node1").dir, "ha.cf"), "# pushed by the config push test\n");
        const r = await push("--yes");
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout).toContain("+# pushed by the config push test");
        expect(r.stdout).toContain("wrote");
        const a = readFileSync(join(tc.d("node1").dir, "ha.cf"), "utf8");
        expect(readFileSync(join(tc.d("node2").dir, "ha.cf"), "utf8")).toBe(a);
        expect(statSync(join(tc.d("node2").dir, "authkeys")).mode & 0o777).toBe(0o600);
        expect(tc.d("node2").output.join("\n")).toContain("config_sync");
        expect(await tc.mutualUp()).toBe(true);
        const again = await push("--yes");
        expect(again.stdout).toContain("already has these files");
      }));

    test("a node list change is refused; node2's files are untouched", () =>
      tc.run(async () => {
        const before = readFileSync(join(tc.d("node2").dir, "ha.cf"), "utf8");
        const file = join(tc.d("node1").dir, "ha.cf");
        const orig = readFileSync(file, "utf8");
        try {
          appendFileSync(file, "node node3\n");
          const r = await push("--yes", "--to", tc.c.nodes[1]!.links[0]!.v4);
          expect(r.code).toBe(1);
          expect(r.stderr).toContain("node list changes");
          expect(readFileSync(join(tc.d("node2").dir, "ha.cf"), "utf8")).toBe(before);
        } finally {
          writeFileSync(file, orig);
        }
      }));
  });
}
