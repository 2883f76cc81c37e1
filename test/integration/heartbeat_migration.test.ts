// The rolling migration, for real: a two-node Heartbeat 3.0.6 cluster
// serving a VIP (IPaddr + a resource.d script), while a client namespace
// pings the VIP every 10 ms. node2 (not holding) is replaced by tandem,
// then node1 (holding): Heartbeat stopped gracefully, tandem started with
// the same /etc/ha.d (ha.cf carries `# tandem: wire heartbeat`, a comment
// to Heartbeat). The total client-visible outage (sum of the gaps between
// replies beyond the 10 ms interval) is printed, not asserted. Asserted: the
// VIP ends up served, by one node only (the client's ARP answer is that
// node's MAC), and was never on both nodes (sampled every 100 ms).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, type Proc, writeConfigDir } from "../../src/lab/netns.ts";
import { HeartbeatNode } from "../../src/lab/heartbeat.ts";
import { heartbeatAvailable, tandem } from "./support.ts";

const file = "heartbeat_migration.test.ts";
const vip = ipv4(0, 50);
const ping_interval_ms = 10;

const enabled = heartbeatAvailable(file);

function svcScript(work: string): string {
  return `#!/bin/sh
# written by test/integration/${file}
ST=${work}/svc.state
case "$1" in
  start) touch "$ST" ;;
  stop) rm -f "$ST" ;;
  status) if [ -e "$ST" ]; then echo "svc running"; else echo "svc stopped"; fi ;;
  *) exit 1 ;;
esac
exit 0
`;
}

if (enabled) {
  describe("rolling migration from Heartbeat 3.0.6 to tandem", () => {
    let c: Cluster;
    const hb: Record<string, HeartbeatNode> = {};
    const td: Record<string, LabDaemon> = {};
    let pinger: Proc | null = null;
    let sampling = true;
    let sampler: Promise<void> | null = null;
    const both: string[] = [];

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1, client: true });
    }, 30_000);

    afterAll(async () => {
      sampling = false;
      await sampler;
      pinger?.kill("SIGKILL");
      for (const d of Object.values(td)) await d.stop();
      for (const h of Object.values(hb)) await h.kill();
      await c?.destroy();
    }, 60_000);

    const hasVip = async (n: string) => (await c.exec(c.node(n).ns, ["ip", "-4", "addr", "show", "dev", ifaceName(0)])).stdout.includes(`${vip}/`);
    const mac = async (ns: string) => /link\/ether ([0-9a-f:]+)/.exec((await c.exec(ns, ["ip", "link", "show", "dev", ifaceName(0)])).stdout)?.[1] ?? null;
    const holders = async () => {
      const out: string[] = [];
      for (const n of ["node1", "node2"]) if (await hasVip(n)) out.push(n);
      return out;
    };

    test(
      "replace node2, then node1, while the client pings the VIP every 10 ms",
      async () => {
        const ha_cf = haCf(c, { keepalive_ms: 100, deadtime_ms: 600, initdead_ms: 3000, auto_failback: "off", extra: ["# tandem: wire heartbeat"] });
        const keys = authkeys("rolling-migration", "sha1");
        const haresources = `node1 IPaddr::${vip}/26/${ifaceName(0)} svc\n`;
        for (const h of c.nodes) {
          const work = join(c.tmp, `work-${h.name}`);
          mkdirSync(work, { recursive: true });
          hb[h.name] = new HeartbeatNode(c, h);
          await hb[h.name]!.configure({ ha_cf, authkeys: keys, haresources, resource_d: { svc: svcScript(work) } });
        }
        // node1 first, as an existing cluster would be: it holds the VIP when node2 joins
        hb.node1!.start();
        const first = await until(async () => (await holders()).join() === "node1", 30_000, 100);
        expect(first, `Heartbeat node1 did not take the VIP\n${hb.node1!.log().split("\n").slice(-20).join("\n")}`).toBe(true);
        hb.node2!.start();
        const up = await until(async () => (await holders()).join() === "node1" && hb.node2!.logged(/Initial resource acquisition complete/), 30_000, 100);
        expect(up, `the Heartbeat cluster did not come up\n${hb.node1!.log().split("\n").slice(-20).join("\n")}`).toBe(true);
        sampler = (async () => {
          while (sampling) {
            if ((await holders()).length > 1 && both.length < 100) both.push(`${new Date().toISOString()} VIP on both nodes`);
            await Bun.sleep(100);
          }
        })();

        // the client: one echo request every 10 ms, each reply stamped (-D), silent gaps visible
        const replies: number[] = [];
        const seqs: number[] = [];
        pinger = c.spawn(c.node("client").ns, ["ping", "-n", "-D", "-i", String(ping_interval_ms / 1000), "-W", "1", vip], {
          on_line: (l) => {
            const m = /^\[(\d+\.\d+)\] \d+ bytes from.*icmp_seq=(\d+)/.exec(l);
            if (m && replies.length < 1_000_000) {
              replies.push(Number(m[1]) * 1000);
              seqs.push(Number(m[2]));
            }
          },
        });
        expect(await until(() => replies.length > 20, 5000), "the client gets no replies from the VIP").toBeTruthy();

        /** Replace node `n`'s Heartbeat with tandem: the same files, plus resource.d's script. */
        const replace = async (n: string) => {
          await hb[n]!.stop();
          const d = new LabDaemon(c, c.node(n), tandem.argv);
          writeConfigDir(d.dir, ha_cf, keys);
          writeFileSync(join(d.dir, "haresources"), haresources);
          mkdirSync(join(d.dir, "resource.d"), { recursive: true });
          writeFileSync(join(d.dir, "resource.d", "svc"), svcScript(join(c.tmp, `work-${n}`)), { mode: 0o755 });
          await d.start();
          td[n] = d;
          const other = n === "node1" ? "node2" : "node1";
          const seen = await until(async () => (await d.tryStatus())?.nodes.find((x) => x.name === other)?.state === "up", 15_000);
          expect(seen, `tandem on ${n} never saw ${other}\n${d.output.slice(-30).join("\n")}`).toBeTruthy();
        };

        await replace("node2");
        await Bun.sleep(2000); // settled: Heartbeat node1 keeps the VIP
        expect(await holders()).toEqual(["node1"]);
        await replace("node1"); // Heartbeat's graceful stop hands the VIP to tandem node2 (shutdone)
        const moved = await until(async () => (await holders()).join() === "node2", 20_000, 100);
        expect(moved, `the VIP did not settle on node2\n${td.node2!.output.slice(-30).join("\n")}`).toBeTruthy();
        await Bun.sleep(2000); // two tandem nodes on wire heartbeat: auto_failback off, it stays
        const n_replies = replies.length;
        pinger.kill("SIGINT");
        await pinger.wait(3000);

        // ping paces itself a little slower than -i asks (~16 ms here): judge gaps by its real interval
        const steps = replies.slice(1, n_replies).map((t, i) => t - replies[i]!).sort((a, b) => a - b);
        const interval_ms = Math.max(ping_interval_ms, steps[Math.floor(steps.length / 2)] ?? ping_interval_ms);
        let outage_ms = 0;
        let gaps = 0;
        let longest_ms = 0;
        for (let i = 1; i < n_replies; i++) {
          const gap = replies[i]! - replies[i - 1]!;
          if (gap > 2.5 * interval_ms) {
            outage_ms += gap - interval_ms;
            gaps++;
            longest_ms = Math.max(longest_ms, gap);
          }
        }
        const span_s = (replies[n_replies - 1]! - replies[0]!) / 1000;
        const lost = seqs[n_replies - 1]! - seqs[0]! + 1 - new Set(seqs.slice(0, n_replies)).size;
        process.stderr.write(
          `[rolling migration] ${n_replies} replies over ${span_s.toFixed(1)} s (one per ${interval_ms.toFixed(1)} ms); client-visible outage ${outage_ms.toFixed(0)} ms in ${gaps} gap(s) over 2.5 intervals, longest ${longest_ms.toFixed(0)} ms; ${lost} echo request(s) unanswered (~${(lost * interval_ms).toFixed(0)} ms)\n`,
        );

        // where the time went: Heartbeat node1's release, tandem node2's takeover, the client's gaps
        const gap_list = replies.slice(1, n_replies).flatMap((t, i) => (t - replies[i]! > 2.5 * interval_ms ? [`${new Date(replies[i]!).toISOString()} +${(t - replies[i]!).toFixed(0)} ms`] : []));
        const hb_lines = hb.node1!.log().split("\n").filter((l) => /Giving up all|relinquished|shutdown|IPaddr.*(del|down)/i.test(l)).slice(-6);
        const td_lines = td.node2!.output.filter((l) => /node_dead|group_takeover|resource_ok.*start|hb_r1/.test(l)).slice(-6);
        process.stderr.write(`[rolling migration] gaps:\n  ${gap_list.join("\n  ")}\n  Heartbeat node1:\n  ${hb_lines.join("\n  ")}\n  tandem node2:\n  ${td_lines.join("\n  ")}\n`);
        // served by node2 alone: the VIP there only, the client's ARP answer is node2's MAC
        expect(await holders()).toEqual(["node2"]);
        const mac2 = await mac(c.node("node2").ns);
        for (let k = 0; k < 3; k++) {
          await c.exec(c.node("client").ns, ["ip", "neigh", "flush", "to", vip]);
          const ping = await c.exec(c.node("client").ns, ["ping", "-n", "-c", "1", "-W", "1", vip]);
          expect(ping.code, "the VIP does not answer after the migration").toBe(0);
          const neigh = (await c.exec(c.node("client").ns, ["ip", "neigh", "show", "to", vip])).stdout;
          expect(neigh, `ARP answer for ${vip}: ${neigh}`).toContain(`lladdr ${mac2}`);
        }
        expect(existsSync(join(c.tmp, "work-node2", "svc.state"))).toBe(true);
        expect(existsSync(join(c.tmp, "work-node1", "svc.state"))).toBe(false);
        expect(both, both.join("\n")).toEqual([]);
        rmSync(join(c.tmp, "work-node1"), { recursive: true, force: true });
      },
      120_000,
    );
  });
}
