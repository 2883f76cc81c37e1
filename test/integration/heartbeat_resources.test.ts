// A mixed cluster at the resource level: Debian's Heartbeat 3.0.6 on node1,
// tandem (`# tandem: wire heartbeat`) on node2, the same ha.cf, authkeys
// and haresources, two groups: node1's (VIP .50 + the resource.d script
// svc1) and node2's (VIP .52 + svc2). Heartbeat runs them with its own
// IPaddr (resource.d/IPaddr -> OCF IPaddr) and ResourceManager; tandem with
// its native IP and the same scripts.
//
// The scripts log every call with a nanosecond wall-clock stamp to one file
// per node and keep a state file; a sampler looks at both namespaces' VIPs
// every 100 ms. "Never both" is judged from those, not from either daemon's
// account. A crash is: cable pulled, every process of the node killed, its
// VIP and state files removed (the machine is off), cable back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, writeConfigDir } from "../../src/lab/netns.ts";
import { HeartbeatNode, hb_share } from "../../src/lab/heartbeat.ts";
import { cli, hbServiceScript, heartbeatAvailable, tandem } from "./support.ts";

const file = "heartbeat_resources.test.ts";
const vips = { svc1: ipv4(0, 50), svc2: ipv4(0, 52) } as const;
type Svc = keyof typeof vips;
const svcs: Svc[] = ["svc1", "svc2"];

const enabled = heartbeatAvailable(file);


if (enabled) {
  describe("Heartbeat 3.0.6 and tandem share resource groups", () => {
    let c: Cluster;
    let hb: HeartbeatNode;
    let td: LabDaemon;
    const work = { node1: "", node2: "" };
    let sampling = false;
    let sampler: Promise<void> | null = null;
    const both: string[] = [];

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1, client: true });
      hb = new HeartbeatNode(c, c.node("node1"));
      td = new LabDaemon(c, c.node("node2"), tandem.argv);
      for (const n of ["node1", "node2"] as const) {
        work[n] = join(c.tmp, `work-${n}`);
        mkdirSync(work[n], { recursive: true });
      }
    }, 30_000);

    afterAll(async () => {
      sampling = false;
      await sampler;
      await td?.stop();
      await hb?.kill();
      await c?.destroy();
    }, 60_000);

    const hasVip = async (node: string, svc: Svc) => (await c.exec(c.node(node).ns, ["ip", "-4", "addr", "show", "dev", ifaceName(0)])).stdout.includes(`${vips[svc]}/`);
    const stateOn = (node: "node1" | "node2", svc: Svc) => existsSync(join(work[node], `${svc}.state`));
    /** who runs svc: by VIP and state file on each node */
    const holders = async (svc: Svc) => {
      const out: string[] = [];
      for (const n of ["node1", "node2"] as const) if ((await hasVip(n, svc)) || stateOn(n, svc)) out.push(n);
      return out;
    };
    const placedOn = async (svc: Svc, node: string) => {
      const h = await holders(svc);
      return h.length === 1 && h[0] === node && (await hasVip(node, svc)) && stateOn(node as "node1" | "node2", svc);
    };
    const dump = () =>
      `\n--- heartbeat node1 log (tail):\n${hb.log().split("\n").slice(-40).join("\n")}\n--- tandem node2 (tail):\n${td.output.slice(-40).join("\n")}\n--- events node1:\n${events("node1").slice(-10).join("\n")}\n--- events node2:\n${events("node2").slice(-10).join("\n")}`;
    const events = (n: "node1" | "node2") => {
      try {
        return readFileSync(join(work[n], "events.log"), "utf8").trim().split("\n");
      } catch {
        return [];
      }
    };

    function startSampler(): void {
      if (sampling) return;
      sampling = true;
      sampler = (async () => {
        // bounded by the suite's length: stops in afterAll
        while (sampling) {
          for (const svc of svcs) {
            const on1 = await hasVip("node1", svc);
            const on2 = await hasVip("node2", svc);
            if (on1 && on2 && both.length < 100) both.push(`${new Date().toISOString()} ${svc}: VIP on both nodes`);
            if (stateOn("node1", svc) && stateOn("node2", svc) && both.length < 100) both.push(`${new Date().toISOString()} ${svc}: running on both nodes`);
          }
          await Bun.sleep(100);
        }
      })();
    }

    /** Same ha.cf, authkeys, haresources and scripts for both. */
    async function setup(method: "sha1" | "md5", auto_failback: "on" | "off"): Promise<void> {
      await td.stop();
      await hb.kill();
      for (const n of ["node1", "node2"] as const) for (const svc of svcs) await crashLeftovers(n, svc);
      const ha_cf = haCf(c, { keepalive_ms: 100, deadtime_ms: 600, initdead_ms: 3000, auto_failback, extra: ["# tandem: wire heartbeat"] });
      const haresources = `node1 IPaddr::${vips.svc1}/26/${ifaceName(0)} svc1\nnode2 IPaddr::${vips.svc2}/26/${ifaceName(0)} svc2\n`;
      await hb.configure({ ha_cf, authkeys: authkeys("mixed-resources", method), haresources, resource_d: { svc1: hbServiceScript(file, work.node1), svc2: hbServiceScript(file, work.node1) } });
      writeConfigDir(td.dir, ha_cf, authkeys("mixed-resources", method));
      writeFileSync(join(td.dir, "haresources"), haresources);
      mkdirSync(join(td.dir, "resource.d"), { recursive: true });
      for (const svc of svcs) writeFileSync(join(td.dir, "resource.d", svc), hbServiceScript(file, work.node2), { mode: 0o755 });
      hb.start();
      await td.start();
      startSampler();
    }

    /** The machine is off: its VIP and service state are gone. */
    async function crashLeftovers(n: "node1" | "node2", svc: Svc): Promise<void> {
      await c.exec(c.node(n).ns, ["ip", "addr", "del", `${vips[svc]}/26`, "dev", ifaceName(0)]);
      rmSync(join(work[n], `${svc}.state`), { force: true });
    }

    async function crash(n: "node1" | "node2"): Promise<void> {
      await c.cut(n, 0);
      if (n === "node1") await hb.kill();
      else {
        td.kill("SIGKILL");
        await td.proc?.wait(5000);
      }
      for (const svc of svcs) await crashLeftovers(n, svc);
      // the dead instance's datagrams queued behind the cut cable die with the machine
      await c.forgetNeighbours(n);
      await c.restore(n, 0);
    }

    async function expectPlaced(where: Record<Svc, string>, what: string, timeout_ms = 20_000): Promise<void> {
      for (const svc of svcs) {
        const ok = await until(() => placedOn(svc, where[svc]), timeout_ms, 100);
        expect(ok, `${what}: ${svc} is not on ${where[svc]} alone (holders: ${(await holders(svc)).join(",") || "none"})${dump()}`).toBe(true);
      }
    }

    /** Nothing moves for a while. */
    async function expectStays(where: Record<Svc, string>, what: string, ms = 3000): Promise<void> {
      const t_end = Date.now() + ms;
      while (Date.now() < t_end) {
        for (const svc of svcs) expect(await placedOn(svc, where[svc]), `${what}: ${svc} left ${where[svc]}${dump()}`).toBe(true);
        await Bun.sleep(250);
      }
    }

    const tandemCli = (args: string[]) => cli([...args, "--socket", td.socket]);

    test(
      "auto_failback off, sha1: each group starts on its preferred node; crashes move both ways; nothing moves back",
      async () => {
        await setup("sha1", "off");
        await expectPlaced({ svc1: "node1", svc2: "node2" }, "initial placement");
        expect(await until(() => hb.logged(/Initial resource acquisition complete/), 10_000), dump()).toBe(true);
        await crash("node1");
        await expectPlaced({ svc1: "node2", svc2: "node2" }, "Heartbeat node crashed");
        let mark = hb.logLines();
        hb.start();
        expect(await until(() => hb.logged(/Initial resource acquisition complete/, mark), 20_000), `Heartbeat did not settle after its restart${dump()}`).toBe(true);
        await expectStays({ svc1: "node2", svc2: "node2" }, "auto_failback off after Heartbeat's restart");
        expect(hb.logged(/Both machines own|No one owns/, mark), `Heartbeat's audit complained${dump()}`).toBe(false);
        await crash("node2");
        await expectPlaced({ svc1: "node1", svc2: "node1" }, "tandem crashed");
        mark = hb.logLines();
        await td.start();
        await Bun.sleep(1500);
        await expectStays({ svc1: "node1", svc2: "node1" }, "auto_failback off after tandem's restart");
        expect(both, both.join("\n")).toEqual([]);
      },
      120_000,
    );

    test(
      "hb_standby on the Heartbeat node, tandem standby on ours, hb_takeover: groups move as Heartbeat users expect",
      async () => {
        // from the previous test: both groups on node1 (Heartbeat)
        await expectPlaced({ svc1: "node1", svc2: "node1" }, "start of the standby test");
        let mark = hb.logLines();
        const r = await hb.exec([join(hb_share, "hb_standby"), "all"]);
        expect(r.code, `hb_standby: ${r.stderr}`).toBe(0);
        await expectPlaced({ svc1: "node2", svc2: "node2" }, "hb_standby all on node1");
        expect(await until(() => hb.logged(/Other node completed standby takeover/, mark), 10_000), `Heartbeat did not see the standby finish${dump()}`).toBe(true);
        // tandem standby: everything back to Heartbeat
        mark = hb.logLines();
        expect((await tandemCli(["standby", "all"])).code).toBe(0);
        await expectPlaced({ svc1: "node1", svc2: "node1" }, "tandem standby all");
        expect(await until(() => hb.logged(/standby: acquire \[.*\] resources from node2/, mark), 10_000), dump()).toBe(true);
        expect((await tandemCli(["standby", "none"])).code).toBe(0);
        // hb_takeover on tandem's side of things: Heartbeat asks for its local group... it holds it; ask for all back from it instead
        const t = await hb.exec([join(hb_share, "hb_standby"), "foreign"]);
        expect(t.code).toBe(0);
        await expectPlaced({ svc1: "node1", svc2: "node2" }, "hb_standby foreign on node1 (node2's group goes home)");
        const tk = await hb.exec([join(hb_share, "hb_takeover"), "foreign"]);
        expect(tk.code).toBe(0);
        await expectPlaced({ svc1: "node1", svc2: "node1" }, "hb_takeover foreign on node1");
        expect(both, both.join("\n")).toEqual([]);
      },
      120_000,
    );

    test(
      "auto_failback on, md5: crashed node's groups come back to it when it returns, either side",
      async () => {
        await setup("md5", "on");
        await expectPlaced({ svc1: "node1", svc2: "node2" }, "initial placement");
        await crash("node1");
        await expectPlaced({ svc1: "node2", svc2: "node2" }, "Heartbeat node crashed");
        hb.start();
        await expectPlaced({ svc1: "node1", svc2: "node2" }, "failback to the restarted Heartbeat node");
        await crash("node2");
        await expectPlaced({ svc1: "node1", svc2: "node1" }, "tandem crashed");
        await td.start();
        await expectPlaced({ svc1: "node1", svc2: "node2" }, "failback to the restarted tandem node (Heartbeat's auto failback)");
        // graceful stops hand over at once: SIGTERM to Heartbeat (shutdone), then to tandem
        const mark = td.events.length;
        await hb.stop();
        await expectPlaced({ svc1: "node2", svc2: "node2" }, "Heartbeat stopped gracefully");
        expect(td.find({ event: "node_dead", node: "node1" }, mark)[0]?.fields.reason).toBe("left");
        hb.start();
        await expectPlaced({ svc1: "node1", svc2: "node2" }, "Heartbeat back");
        await td.stop();
        await expectPlaced({ svc1: "node1", svc2: "node1" }, "tandem stopped gracefully");
        await td.start();
        await expectPlaced({ svc1: "node1", svc2: "node2" }, "tandem back");
        expect(both, both.join("\n")).toEqual([]);
      },
      180_000,
    );
  });
}
