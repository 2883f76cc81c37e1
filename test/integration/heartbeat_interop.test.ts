// A mixed cluster, for real: Debian's Heartbeat 3.0.6 on node1, tandem with
// `wire heartbeat` on node2, one ucast link, the same ha.cf (plus each
// daemon's own logging line) and authkeys. Membership level: they see each
// other up, a killed Heartbeat is declared dead by tandem within deadtime
// and seen again after a restart, a wrong key on either side is refused.
// Heartbeat runs in its own mount/UTS namespace (src/lab/heartbeat.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, type Status, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, writeConfigDir } from "../../src/lab/netns.ts";
import { HeartbeatNode } from "../../src/lab/heartbeat.ts";
import { heartbeatAvailable, tandem } from "./support.ts";

const file = "heartbeat_interop.test.ts";
const keepalive_ms = 100;
const deadtime_ms = 500;

const enabled = heartbeatAvailable(file);

if (enabled) {
  describe("Heartbeat 3.0.6 and tandem in one cluster", () => {
    let c: Cluster;
    let hb: HeartbeatNode;
    let td: LabDaemon;

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      hb = new HeartbeatNode(c, c.node("node1"));
      td = new LabDaemon(c, c.node("node2"), tandem.argv);
    }, 30_000);

    afterAll(async () => {
      await td?.stop();
      await hb?.kill();
      await c?.destroy();
    }, 30_000);

    /** Same ha.cf for both (each adds only its logging lines), same authkeys unless `td_secret`. */
    async function startBoth(method: "sha1" | "md5", td_secret = "mixed-secret", hb_secret = "mixed-secret"): Promise<void> {
      await td.stop();
      await hb.kill();
      const ha_cf = haCf(c, { keepalive_ms, deadtime_ms, initdead_ms: 2000, extra: ["# tandem: wire heartbeat"] });
      await hb.configure({ ha_cf, authkeys: authkeys(hb_secret, method) });
      writeConfigDir(td.dir, ha_cf, authkeys(td_secret, method));
      writeFileSync(join(td.dir, "haresources"), "# membership only: no groups\n");
      hb.start();
      await td.start();
    }

    const peer = (st: Status | null) => st?.nodes.find((n) => n.name === "node1") ?? null;
    const dump = () => `\n--- heartbeat node1 output:\n${hb.proc?.lines.slice(-20).join("\n")}\n--- heartbeat node1 log (tail):\n${hb.log().split("\n").slice(-40).join("\n")}\n--- tandem node2 (tail):\n${td.output.slice(-30).join("\n")}`;

    /** `hb_started`: Heartbeat (re)started since `from_hb_line`, so its comm must come up (again). */
    async function bothUp(from_hb_line = 0, hb_started = true): Promise<void> {
      const td_up = await until(async () => peer(await td.tryStatus())?.state === "up", 15_000);
      expect(td_up, `tandem never saw Heartbeat's node1 up${dump()}`).toBe(true);
      // Heartbeat: node2's status seen, comm up (our repnodes answered its reqnodes), node2 active in its API
      const hb_up = await until(() => hb.logged(/Status update for node node2: status active/, from_hb_line), 15_000);
      expect(hb_up, `Heartbeat never saw node2 active${dump()}`).toBe(true);
      const api = await until(async () => (await hb.nodeStatus("node2")) === "active", 10_000);
      expect(api, `cl_status nodestatus node2 is not active${dump()}`).toBe(true);
      if (hb_started) expect(await until(() => hb.logged(/Comm_now_up\(\): updating status to active/, from_hb_line), 10_000), `Heartbeat's comm never came up${dump()}`).toBe(true);
    }

    test(
      "sha1: both see each other up; Heartbeat's resource logic settles; acks keep its history short",
      async () => {
        await startBoth("sha1");
        await bothUp();
        // `starting` answered with `resource none`: Heartbeat finishes its initial acquisition
        expect(await until(() => hb.logged(/Initial resource acquisition complete/), 15_000), `no initial acquisition${dump()}`).toBe(true);
        await Bun.sleep(3000);
        const st = await td.status();
        const wire = (st.counters as unknown as { wire: Record<string, unknown> }).wire;
        expect(wire).toMatchObject({ format: "heartbeat" });
        expect(wire.acks_sent as number).toBeGreaterThan(0);
        expect(peer(st)!.late_count).toBe(0);
        // without acks Heartbeat would warn "Message hist queue is filling up" after ~37 s here; it must not complain of us at all
        expect(hb.log()).not.toMatch(/filling up|lost packet|Late heartbeat: Node node2|node node2: is dead|authentication failed|bad node/i);
        process.stderr.write(`[heartbeat interop] tandem counters: ${JSON.stringify(wire)}\n`);
        const complaints = hb.log().split("\n").filter((l) => /ERROR|WARN|CRIT/.test(l) && !/Logging daemon is disabled|initdead|Core dumps could be lost|respawn/.test(l));
        process.stderr.write(`[heartbeat interop] Heartbeat's warnings and errors: ${complaints.length === 0 ? "none" : `\n${complaints.join("\n")}`}\n`);
      },
      60_000,
    );

    test(
      "Heartbeat killed: tandem declares node1 dead by deadtime; restarted: up again on both sides",
      async () => {
        expect(peer(await td.tryStatus())?.state).toBe("up");
        const from = td.events.length;
        const killed_at = Date.now();
        await hb.kill();
        const dead = await td.waitEvent({ event: "node_dead", node: "node1" }, 5000, from);
        expect(dead, `no node_dead${dump()}`).not.toBeNull();
        expect(dead!.fields.reason).toBe("deadtime");
        process.stderr.write(`[heartbeat interop] node_dead ${dead!.t - killed_at} ms after SIGKILL (deadtime ${deadtime_ms} ms, lateness ${dead!.fields.lateness_ms} ms)\n`);
        expect(peer(await td.status())?.state).toBe("dead");
        const mark = hb.logLines();
        hb.start();
        const up = await td.waitEvent({ event: "node_up", node: "node1" }, 20_000, from);
        expect(up, `no node_up after the restart${dump()}`).not.toBeNull();
        expect(up!.fields.rejoined).toBe("true");
        await bothUp(mark);
      },
      60_000,
    );

    test(
      "tandem killed: Heartbeat declares node2 dead; restarted: active again; stopped: Heartbeat gets its shutdown notice",
      async () => {
        let mark = hb.logLines();
        td.kill("SIGKILL");
        await td.proc?.wait(5000);
        expect(await until(() => hb.logged(/node node2: is dead/, mark), 10_000), `Heartbeat did not declare node2 dead${dump()}`).toBe(true);
        mark = hb.logLines();
        await td.start();
        await bothUp(mark, false);
        mark = hb.logLines();
        await td.stop(); // SIGTERM: tandem sends shutdone (st=dead), as a stopping Heartbeat does
        expect(await until(() => hb.logged(/Received shutdown notice from 'node2'/, mark), 10_000), `no shutdown notice${dump()}`).toBe(true);
        // then silence: dead after its deadtime (a restart within it would not change node2's status)
        expect(await until(() => hb.logged(/node node2: is dead/, mark), 10_000), `Heartbeat did not declare node2 dead after the stop${dump()}`).toBe(true);
        mark = hb.logLines();
        await td.start();
        await bothUp(mark, false);
      },
      60_000,
    );

    test(
      "md5: both see each other up",
      async () => {
        await startBoth("md5");
        await bothUp();
      },
      60_000,
    );

    test(
      "a wrong key on either side is refused",
      async () => {
        // tandem's key differs: tandem counts bad_mac, neither sees the other
        await startBoth("sha1", "tandem-secret", "heartbeat-secret");
        const bad = await until(async () => ((await td.tryStatus())?.counters.dropped.bad_mac ?? 0) > 5, 10_000);
        expect(bad, `tandem did not count bad_mac drops${dump()}`).toBe(true);
        await Bun.sleep(2 * deadtime_ms);
        expect(peer(await td.status())?.state).not.toBe("up");
        expect(hb.logged(/Status update for node node2/)).toBe(false);
        expect(await hb.nodeStatus("node2")).not.toBe("active");
        // and Heartbeat refuses tandem's messages: netstring2msg's trailer check
        expect(hb.logged(/authtoken does not match/), `Heartbeat logged no auth failure${dump()}`).toBe(true);
      },
      60_000,
    );
  });
}
