// Control socket fuzz slice against a real daemon in a namespace: mutated and
// random JSON lines; one JSON reply per request, daemon alive after.
// `bun bench/fuzz.ts --target 'control socket'` runs 10^6 lines.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, writeConfigDir } from "../../src/lab/netns.ts";
import { fuzzControl } from "../fuzz/control.ts";
import { netnsAvailable, tandem } from "./support.ts";

if (netnsAvailable("fuzz_control.test.ts")) {
  describe("control socket fuzz", () => {
    let c: Cluster;
    let d: LabDaemon;
    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      d = new LabDaemon(c, c.node(1), tandem.argv);
      writeConfigDir(d.dir, haCf(c, { keepalive_ms: 100, deadtime_ms: 1000 }), authkeys("control-fuzz-secret"));
      await d.start();
    }, 30_000);
    afterAll(async () => {
      await d?.stop();
      await c?.destroy();
    }, 30_000);

    test("5000 hostile request lines: one well-formed reply each, daemon still answers", async () => {
      expect(await until(() => d.tryStatus(), 10_000)).not.toBeNull();
      const rep = await fuzzControl(d.socket, Number(process.env.FUZZ_SEED ?? 1), 5000);
      expect(rep.bad_replies).toEqual([]);
      expect(rep.replies).toBeGreaterThan(4000);
      expect(d.running).toBe(true);
      expect((await d.status()).node).toBe("node1");
    }, 60_000);
  });
}
