// Security checks on a real daemon: the control socket refuses a non-root
// peer even when the socket's file mode would let it connect (SO_PEERCRED),
// and neither the daemon's command line nor its environment holds the key.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, writeConfigDir } from "../../src/lab/netns.ts";
import { netnsAvailable, tandem } from "./support.ts";

const secret = "security-test-secret-3f9a1c";

if (netnsAvailable("security.test.ts")) {
  describe("security of a running daemon", () => {
    let c: Cluster;
    let d: LabDaemon;
    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      d = new LabDaemon(c, c.node(1), tandem.argv);
      writeConfigDir(d.dir, haCf(c, { keepalive_ms: 100, deadtime_ms: 1000 }), authkeys(secret));
      await d.start();
      expect(await until(() => d.tryStatus(), 10_000)).not.toBeNull();
    }, 30_000);
    afterAll(async () => {
      await d?.stop();
      await c?.destroy();
    }, 30_000);

    test("a non-root peer is refused by credentials, not only by the socket's mode", async () => {
      if (!Bun.which("setpriv")) return;
      // open the socket's mode up, so only the daemon's SO_PEERCRED check stands in the way
      const dirs = [c.tmp, dirname(dirname(d.socket)), dirname(d.socket)];
      for (const x of dirs) chmodSync(x, 0o755);
      chmodSync(d.socket, 0o777);
      try {
        const p = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", ...tandem.argv, "standby", "all", "--socket", d.socket], {
          stdout: "pipe",
          stderr: "pipe",
        });
        const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
        expect(await p.exited).not.toBe(0);
        expect(out + err).toContain("permission denied");
        // the daemon itself refused it (not the file mode) and said so
        expect(await until(() => d.output.some((l) => l.includes("refused control connection from uid 65534")), 3000), `${out}${err}\n${d.output.slice(-5).join("\n")}`).toBe(true);
        // nothing was done: no admin event
        expect(d.events.some((e) => e.event === "admin")).toBe(false);
      } finally {
        chmodSync(d.socket, 0o600);
        for (const x of dirs) chmodSync(x, 0o700);
      }
    });

    test("the key is in neither the daemon's command line nor its environment", () => {
      const pid = d.proc!.pid;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
      expect(cmdline).toContain("daemon");
      expect(cmdline.includes(secret)).toBe(false);
      expect(environ.includes(secret)).toBe(false);
    });
  });
}
