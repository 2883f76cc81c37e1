// Clock steps on a running daemon through libfaketime (Debian's faketime
// package; the CTS campaign's clock_step and clock_jump faults): tandem is a
// Bun binary, dynamically linked against glibc, and Bun reads both clocks
// through libc's clock_gettime, so LD_PRELOAD=libfaketime with an offset file
// (re-read once a second) steps the clocks of the running daemon. Checked here
// on real daemons: log timestamps follow a CLOCK_REALTIME step both ways while
// membership does not notice; a restart with the clock stepped back gets the
// next generation (stored + 1), not the clock's; a forward jump of
// CLOCK_MONOTONIC (a resumed VM) is seen as a stall, and nobody is judged dead.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "../../src/cli/client.ts";
import { LabDaemon, preferredCommand, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, writeConfigDir } from "../../src/lab/netns.ts";
import { libfaketime } from "../cts/campaign.ts";
import { netnsAvailable } from "./support.ts";

const lib = libfaketime();
if (!lib) console.warn("clock.test.ts: skipped: libfaketime is not installed (apt-get install faketime; ./run's setup installs it)");

if (lib && netnsAvailable("clock.test.ts")) {
  describe(`clock steps under libfaketime (${preferredCommand().why})`, () => {
    let c: Cluster;
    const d: LabDaemon[] = [];
    const clock = (k: number, offset: string) => writeFileSync(join(c.tmp, `clock.node${k + 1}`), `${offset}\n`);
    /** an event logged now by daemon k (`admin`), and its timestamp minus the real time, in seconds */
    const skew_s = async (k: number): Promise<number> => {
      const from = d[k]!.events.length;
      await request(d[k]!.socket, { cmd: "standby", scope: "none" }, 3000);
      const e = await d[k]!.waitEvent({ event: "admin" }, 5000, from);
      return (e!.t - Date.now()) / 1000;
    };
    const mutualUp = () =>
      until(async () => {
        const s = await Promise.all(d.map((x) => x.tryStatus()));
        return s.every((st, k) => st?.nodes.find((n) => n.name === `node${2 - k}`)?.state === "up");
      }, 10_000, 100);

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      const text = haCf(c, { keepalive_ms: 100, deadtime_ms: 800, extra: ["realtime off"] });
      for (const [k, h] of c.nodes.entries()) {
        const x = new LabDaemon(c, h, preferredCommand().argv);
        writeConfigDir(x.dir, text, authkeys("clock-secret"));
        // one group (a VIP), so that `standby none` is an admin command that logs
        writeFileSync(join(x.dir, "haresources"), `node1 ${ipv4(0, 50)}/26/${ifaceName(0)}\n`);
        clock(k, "+0");
        // node1 fakes CLOCK_REALTIME only (NTP steps); node2 both clocks (a resumed VM)
        x.env = { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: join(c.tmp, `clock.node${k + 1}`), FAKETIME_CACHE_DURATION: "1", ...(k === 0 ? { FAKETIME_DONT_FAKE_MONOTONIC: "1" } : {}) };
        d.push(x);
      }
      await Promise.all(d.map((x) => x.start(20_000)));
      expect(await mutualUp()).toBeTruthy();
    }, 60_000);
    afterAll(async () => {
      for (const x of d) await x.stop();
      await c?.destroy();
    });

    test("CLOCK_REALTIME stepped +1 h and -1 h on a running daemon: its timestamps follow, membership does not care, a restart gets stored + 1", async () => {
      expect(Math.abs(await skew_s(0))).toBeLessThan(60);
      clock(0, "+3600");
      // the offset file is re-read at most once a second (a read after an idle spell may still get the old offset)
      const settledSkew = async (want: (s: number) => boolean) => {
        let last = NaN;
        await until(async () => want((last = await skew_s(0))), 5000, 300);
        return last;
      };
      const ahead = await settledSkew((s) => s > 3000);
      expect(ahead).toBeGreaterThan(3500);
      expect(ahead).toBeLessThan(3700);
      clock(0, "-3600");
      const behind = await settledSkew((s) => s < -3000);
      expect(behind).toBeLessThan(-3500);
      expect(behind).toBeGreaterThan(-3700);
      expect(await mutualUp()).toBeTruthy();
      expect(d.flatMap((x) => x.find({ event: "node_dead" }))).toEqual([]);

      // restart with the clock an hour behind: the generation must still grow, by one
      const gen_before = Number(d[0]!.find({ event: "started" }).at(-1)!.fields.generation);
      await d[0]!.stop();
      const from = d[0]!.events.length;
      await d[0]!.start(20_000);
      const gen_after = Number(d[0]!.events.slice(from).find((e) => e.event === "started")!.fields.generation);
      expect(gen_after).toBe(gen_before + 1);
      expect(await mutualUp()).toBeTruthy();
      // node2 accepted the new boot (a newer generation), and judged nobody dead on the way
      expect((await d[1]!.status()).nodes.find((n) => n.name === "node1")?.generation).toBe(gen_after);
      expect(d[1]!.find({ event: "node_dead", reason: "deadtime" })).toEqual([]);
      clock(0, "+0");
    }, 60_000);

    test("CLOCK_MONOTONIC jumped +5 s (a resumed VM): the daemon sees a stall and judges nobody dead", async () => {
      const from = d.map((x) => x.events.length);
      clock(1, "+5");
      const stall = await d[1]!.waitEvent({ event: "stall" }, 5000, from[1]);
      expect(stall, d[1]!.output.slice(-10).join("\n")).not.toBeNull();
      expect(Number(stall!.fields.gap_ms)).toBeGreaterThanOrEqual(4000);
      expect(await d[1]!.waitEvent({ event: "stall_settled" }, 5000, from[1])).not.toBeNull();
      expect(await mutualUp()).toBeTruthy();
      expect(d.flatMap((x, k) => x.events.slice(from[k]).filter((e) => e.event === "node_dead"))).toEqual([]);
    }, 60_000);
  });
}
