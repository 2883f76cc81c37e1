// Resource groups of every script kind between real daemons in namespaces:
// an LSB init script (in a temporary --init-dir), a Heartbeat-style
// resource.d script and the native IP started in order, moved on SIGKILL and
// stopped in reverse on SIGTERM; auto_failback on/legacy moving a group back
// without it ever running twice; a monitor-detected failure restarted in
// place, then failed over; start failures bounded on every node, and on one.
//
// The scripts are real shell scripts written here. Each logs every call with
// a nanosecond wall-clock stamp (`date +%s%N`, one clock for both
// namespaces) and keeps a state file, so order and overlap are judged from
// what the resources themselves saw, not from tandem's own account.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, writeConfigDir } from "../../src/lab/netns.ts";
import { cli, netnsAvailable, tandem } from "./support.ts";

const vip = ipv4(0, 51);
const vip_word = `${vip}/26/${ifaceName(0)}`;
const have_dummy = existsSync("/usr/lib/ocf/resource.d/heartbeat/Dummy");
/** src/daemon/resources.ts: start_failures_max and monitor restarts_max */
const start_failures_max = 3;
const monitor_restarts_max = 2;

type ScriptKind = "heartbeat" | "lsb";

interface ScriptOptions {
  kind: ScriptKind;
  name: string;
  /** this node's scratch directory: events.log and NAME.state live there */
  work: string;
  /** start exits 1 (after logging) */
  fail_start?: boolean;
  /** start exits 1 while this file exists */
  fail_marker?: string;
  /** status always says "not running" (an old script without a real status) */
  status_unknown?: boolean;
  /** status writes its pid to WORK/hang.pid and hangs while this file exists */
  hang_marker?: string;
  /** stop takes this long (a service that is slow to stop widens any overlap window) */
  stop_delay_s?: number;
}

/**
 * A service script. Heartbeat style: `NAME [ARG...] start|stop|status`,
 * status judged by its output. LSB: exit codes (status 0 running, 3 stopped).
 * Each call appends `NS NAME ACTION args=... vip=yes|no` to WORK/events.log.
 */
function script(o: ScriptOptions): string {
  const log = join(o.work, "events.log");
  const state = join(o.work, `${o.name}.state`);
  const status =
    o.kind === "lsb"
      ? `if [ -e ${state} ]; then exit 0; else exit 3; fi`
      : o.status_unknown
        ? `echo "${o.name} is not running"; exit 0`
        : `if [ -e ${state} ]; then echo "${o.name} running"; else echo "${o.name} is not running"; fi; exit 0`;
  return `#!/bin/sh
# ${o.kind} test service, written by test/integration/resources.test.ts
for a in "$@"; do act=$a; done
args=$(echo "$@" | sed 's/ *[a-z]*$//')
vip=no; ip -4 -o addr show | grep -q " ${vip}/" && vip=yes
note() { echo "$(date +%s%N) ${o.name} $1 args=$args vip=$vip" >> ${log}; }
case "$act" in
  start) note start; ${o.fail_start ? "exit 1" : `${o.fail_marker ? `[ -e ${o.fail_marker} ] && exit 1; ` : ""}touch ${state}; note started; exit 0`} ;;
  stop) note stop; ${o.stop_delay_s ? `[ -e ${state} ] && sleep ${o.stop_delay_s}; ` : ""}rm -f ${state}; note stopped; exit 0 ;;
  status) ${o.hang_marker ? `[ -e ${o.hang_marker} ] && { echo $$ > ${join(o.work, "hang.pid")}; sleep 60; }; ` : ""}${status} ;;
  *) exit 2 ;;
esac
`;
}

interface LogLine {
  ns: bigint;
  name: string;
  action: string;
  args: string;
  vip: string;
}

function readLog(work: string): LogLine[] {
  const p = join(work, "events.log");
  if (!existsSync(p)) return [];
  return readFileSync(p, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => {
      const m = /^(\d+) (\S+) (\S+) args=(.*) vip=(\S+)$/.exec(l);
      if (!m) throw new Error(`bad log line ${JSON.stringify(l)}`);
      return { ns: BigInt(m[1]!), name: m[2]!, action: m[3]!, args: m[4]!, vip: m[5]! };
    });
}

interface GroupView {
  holder: string | null;
  holders: string[];
  state: string;
  failures: number;
  blocked: boolean;
  last_failure: { action: string; detail: string } | null;
}

if (netnsAvailable("resources.test.ts")) {
  describe("resource groups of every kind between real daemons", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    /** per node, per scenario: scripts' logs and state files */
    const work: Record<string, string> = {};
    let scenario = 0;

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 2 });
      for (const h of c.nodes) d[h.name] = new LabDaemon(c, h, tandem.argv);
    });

    afterAll(async () => {
      await c?.destroy();
    });

    const nodes = ["node1", "node2"] as const;
    const dump = () => nodes.map((n) => `--- ${n}\n${d[n]!.output.slice(-30).join("\n")}`).join("\n");
    const group = async (node: string) => (await d[node]!.tryStatus())?.groups?.[0] as GroupView | undefined;
    const hasVip = async (node: string) => (await c.exec(c.node(node).ns, ["ip", "-4", "addr", "show"])).stdout.includes(`${vip}/26`);
    const starts = (node: string, name: string) => readLog(work[node]!).filter((l) => l.name === name && l.action === "start").length;

    /**
     * Stop both daemons, write a fresh configuration (ha.cf, haresources,
     * scripts per node from `scripts(node)`), start both, wait until they see
     * each other.
     */
    async function setup(o: {
      haresources: string;
      auto_failback?: "on" | "off" | "legacy";
      scripts: (node: string) => ScriptOptions[];
    }): Promise<void> {
      await Promise.all(nodes.map((n) => d[n]!.stop()));
      scenario++;
      const text = haCf(c, { keepalive_ms: 50, deadtime_ms: 300, initdead_ms: 1000, auto_failback: o.auto_failback });
      for (const n of nodes) {
        const base = join(c.tmp, n);
        work[n] = join(base, `work${scenario}`);
        mkdirSync(work[n]!, { recursive: true });
        const dd = d[n]!;
        writeConfigDir(dd.dir, text, authkeys("resources-secret"));
        writeFileSync(join(dd.dir, "haresources"), o.haresources);
        const init_dir = join(base, "init.d");
        for (const dir of [join(dd.dir, "resource.d"), init_dir]) {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
        }
        for (const s of o.scripts(n)) {
          s.work = work[n]!;
          writeFileSync(join(s.kind === "lsb" ? init_dir : join(dd.dir, "resource.d"), s.name), script(s), { mode: 0o755 });
        }
        dd.extra_args = ["--init-dir", init_dir];
      }
      await Promise.all(nodes.map((n) => d[n]!.start()));
    }

    /** SIGKILL a daemon and take down what the crashed node ran (as a power cut would): its VIP and state files. */
    async function crash(node: string): Promise<void> {
      d[node]!.kill("SIGKILL");
      await d[node]!.proc!.exited;
      await c.exec(c.node(node).ns, ["ip", "addr", "del", `${vip}/26`, "dev", ifaceName(0)]);
      for (const f of readdirSync(work[node]!)) if (f.endsWith(".state")) unlinkSync(join(work[node]!, f));
    }

    const running = async (node: string) => (await group(node))?.state === "running";

    test("LSB + Heartbeat script + native IP: start in order on the preferred node, move on SIGKILL, stop in reverse on SIGTERM", async () => {
      await setup({
        haresources: `node1 ${vip_word} lsbsvc hbsvc::alpha\n`,
        scripts: () => [
          { kind: "lsb", name: "lsbsvc", work: "" },
          { kind: "heartbeat", name: "hbsvc", work: "" },
        ],
      });
      expect(await until(async () => (await running("node1")) && (await group("node2"))?.holder === "node1", 10_000), dump()).toBe(true);
      // IP, then the LSB script (which already sees the VIP), then the Heartbeat script with its argument first.
      const s1 = readLog(work.node1!).filter((l) => l.action === "start" || l.action === "started");
      expect(s1.map((l) => `${l.name} ${l.action} ${l.args} vip=${l.vip}`)).toEqual([
        "lsbsvc start  vip=yes",
        "lsbsvc started  vip=yes",
        "hbsvc start alpha vip=yes",
        "hbsvc started alpha vip=yes",
      ]);
      expect(starts("node2", "lsbsvc") + starts("node2", "hbsvc")).toBe(0);
      expect(await hasVip("node2")).toBe(false);
      expect(existsSync(join(work.node1!, "lsbsvc.state")) && existsSync(join(work.node1!, "hbsvc.state"))).toBe(true);

      // SIGKILL of the holder: node2 starts the whole group, in order.
      await crash("node1");
      expect(await until(async () => running("node2"), 10_000), dump()).toBe(true);
      const s2 = readLog(work.node2!).filter((l) => l.action === "start");
      expect(s2.map((l) => `${l.name} vip=${l.vip}`)).toEqual(["lsbsvc vip=yes", "hbsvc vip=yes"]);
      expect(await hasVip("node2")).toBe(true);

      // node1 back (auto_failback off: it stays on node2), then SIGTERM of node2
      // hands it over: node2 stops right to left, and node1 starts only after.
      await d.node1!.start();
      expect(await until(async () => (await group("node1"))?.holder === "node2", 5000), dump()).toBe(true);
      const before = readLog(work.node2!).length;
      d.node2!.kill("SIGTERM");
      expect(await d.node2!.proc!.exited).toBe(0);
      const stops = readLog(work.node2!).slice(before);
      expect(stops.map((l) => `${l.name} ${l.action} vip=${l.vip}`)).toEqual([
        "hbsvc stop vip=yes",
        "hbsvc stopped vip=yes",
        "lsbsvc stop vip=yes",
        "lsbsvc stopped vip=yes",
      ]);
      expect(await hasVip("node2")).toBe(false);
      expect(await until(async () => running("node1"), 10_000), dump()).toBe(true);
      const n1 = readLog(work.node1!);
      const restart = n1.filter((l) => l.name === "lsbsvc" && l.action === "start").at(-1)!;
      expect(restart.ns).toBeGreaterThan(stops.at(-1)!.ns);
    }, 60_000);

    for (const mode of ["on", "legacy"] as const) {
      test(`auto_failback ${mode}: back to the preferred node once it returns, never held by both`, async () => {
        await setup({
          haresources: `node1 ${vip_word} hbsvc\n`,
          auto_failback: mode,
          scripts: () => [{ kind: "heartbeat", name: "hbsvc", work: "", stop_delay_s: 0.3 }],
        });
        expect(await until(async () => running("node1"), 10_000), dump()).toBe(true);
        await crash("node1");
        expect(await until(async () => running("node2"), 10_000), dump()).toBe(true);

        // Sample both nodes while node1 returns and takes the group back: the
        // scripts' state files and both daemons' views in a tight loop, the
        // VIP (a process per look) in a slower one.
        const problems: string[] = [];
        const samples = { files: 0, vip: 0 };
        let sampling = true;
        const sampleFiles = async () => {
          for (let i = 0; sampling && i < 5000; i++, samples.files++) {
            const held = nodes.filter((n) => existsSync(join(work[n]!, "hbsvc.state")));
            if (held.length > 1) problems.push(`sample ${i}: both state files present`);
            for (const n of nodes) {
              const g = await group(n);
              if (g && g.holders.length > 1) problems.push(`sample ${i}: ${n} sees holders ${g.holders.join(",")}`);
            }
            await Bun.sleep(1);
          }
        };
        const sampleVip = async () => {
          for (let i = 0; sampling && i < 1000; i++, samples.vip++) {
            if ((await Promise.all(nodes.map(hasVip))).every(Boolean)) problems.push(`sample ${i}: VIP on both`);
          }
        };
        const sampler = Promise.all([sampleFiles(), sampleVip()]);
        try {
          const from = d.node2!.events.length;
          await d.node1!.start();
          const back = await until(
            async () => (await running("node1")) && (await group("node2"))?.state === "stopped" && (await group("node2"))?.holder === "node1",
            10_000,
          );
          expect(back, dump()).toBe(true);
          expect(d.node2!.find({ event: "group_failback", node: "node1" }, from).length).toBe(1);
        } finally {
          sampling = false;
          await sampler;
        }
        expect(problems, dump()).toEqual([]);
        expect(samples.files).toBeGreaterThan(3);
        process.stderr.write(`  failback ${mode}: ${samples.files} samples of state files and status, ${samples.vip} of the VIP: no overlap\n`);
        // From the script's own clock: node2 stopped before node1 started again.
        const stopped2 = readLog(work.node2!).filter((l) => l.action === "stopped").at(-1)!;
        const start1 = readLog(work.node1!).filter((l) => l.action === "start").at(-1)!;
        expect(start1.ns).toBeGreaterThan(stopped2.ns);
        expect(await hasVip("node1")).toBe(true);
        expect(await hasVip("node2")).toBe(false);
      }, 60_000);
    }

    test("auto_failback on to a preferred node whose start fails: back to node2 once, and it stays there", async () => {
      const marker = join(c.tmp, "node1", "broken");
      await setup({
        haresources: `node1 ${vip_word} hbsvc\n`,
        auto_failback: "on",
        scripts: (n) => [{ kind: "heartbeat", name: "hbsvc", work: "", fail_marker: n === "node1" ? marker : undefined }],
      });
      expect(await until(async () => running("node1"), 10_000), dump()).toBe(true);
      await crash("node1");
      expect(await until(async () => running("node2"), 10_000), dump()).toBe(true);
      writeFileSync(marker, ""); // node1 comes back broken
      try {
        await d.node1!.start();
        // node2 hands it back, node1's start fails, node2 takes it again.
        expect(await d.node1!.waitEvent({ event: "group_start_failed" }, 10_000), dump()).not.toBeNull();
        expect(await until(async () => (await running("node2")) && (await group("node1"))?.holder === "node2", 10_000), dump()).toBe(true);
        const n2 = () => starts("node2", "hbsvc");
        const n1 = () => starts("node1", "hbsvc");
        const settled = [n1(), n2()];
        await Bun.sleep(1500);
        expect([n1(), n2()]).toEqual(settled);
        expect(settled).toEqual([2, 2]); // node1: first start, failed failback; node2: takeover, take back
        expect(await running("node2")).toBe(true);
        expect(await hasVip("node1")).toBe(false);
        const g = (await group("node1"))!;
        expect(g.state).toBe("failed");
        expect(g.failures).toBe(1);
      } finally {
        rmSync(marker, { force: true });
      }
    }, 60_000);

    test.skipIf(!have_dummy)("monitor: a broken resource is restarted in place, then failed over after restarts_max", async () => {
      await setup({
        haresources: `# tandem: monitor interval=1s timeout=5s\nnode1 ${vip_word} ocf:heartbeat:Dummy\n`,
        scripts: () => [],
      });
      expect(await until(async () => running("node1"), 10_000), dump()).toBe(true);
      const rsctmp = join(d.node1!.state_dir, "rsctmp");
      const dummyState = () => readdirSync(rsctmp).find((f) => f.startsWith("Dummy-") && f.endsWith(".state"));
      expect(dummyState()).toBeDefined();
      const from = d.node1!.events.length;
      const dummyStarts = () => d.node1!.find({ event: "resource_ok", action: "start", resource: "ocf:heartbeat:Dummy" }, from).length;

      // Break it behind tandem's back restarts_max times: each is restarted on node1.
      for (let k = 1; k <= monitor_restarts_max; k++) {
        unlinkSync(join(rsctmp, dummyState()!));
        const ev = await d.node1!.waitEvent((e) => e.event === "group_monitor_failed" && e.fields.detail?.includes(`restart ${k} of ${monitor_restarts_max}`) === true, 5000, from);
        expect(ev, dump()).not.toBeNull();
        expect(await until(async () => dummyStarts() === k && (await running("node1")) && dummyState() !== undefined, 5000), dump()).toBe(true);
        expect((await group("node2"))?.holder).toBe("node1");
      }
      // Once more: restarts exhausted, the group goes to node2.
      unlinkSync(join(rsctmp, dummyState()!));
      expect(await d.node1!.waitEvent({ event: "group_gave_up" }, 5000, from), dump()).not.toBeNull();
      expect(await until(async () => running("node2"), 10_000), dump()).toBe(true);
      expect(await hasVip("node2")).toBe(true);
      expect(await hasVip("node1")).toBe(false);
      expect(d.node1!.find({ event: "group_monitor_failed" }, from).length).toBe(monitor_restarts_max);
      expect(dummyStarts()).toBe(monitor_restarts_max);

      const st = await cli(["status", "--json", "--socket", d.node1!.socket]);
      expect(st.code, st.stderr).toBe(0);
      const g = JSON.parse(st.stdout).groups[0] as GroupView;
      expect(g.state).toBe("failed");
      expect(g.holder).toBe("node2");
      expect(g.failures).toBe(1);
      expect(g.last_failure?.action).toBe("monitor");
      expect(g.last_failure?.detail).toContain("Dummy");
    }, 60_000);

    test("monitor: a status call that hangs is killed at the group's monitor timeout and the resource restarted", async () => {
      const marker = join(c.tmp, "node1", "hang");
      await setup({
        haresources: `# tandem: monitor interval=1s timeout=1s\nnode1 ${vip_word} hangsvc\n`,
        scripts: (n) => [{ kind: "heartbeat", name: "hangsvc", work: "", hang_marker: n === "node1" ? marker : undefined }],
      });
      expect(await until(async () => running("node1"), 10_000), dump()).toBe(true);
      const from = d.node1!.events.length;
      const pid_file = join(work.node1!, "hang.pid");
      writeFileSync(marker, "");
      try {
        const ev = await d.node1!.waitEvent({ event: "group_monitor_failed" }, 10_000, from);
        expect(ev?.fields.detail, dump()).toContain("timed out");
        const pid = Number(readFileSync(pid_file, "utf8").trim());
        expect(pid).toBeGreaterThan(1);
        // Killed with its process group at the group's timeout, not left to
        // the agent's 20 s default while the group restarts around it.
        expect(await until(() => !existsSync(`/proc/${pid}`), 5000), `status script ${pid} still running`).toBe(true);
      } finally {
        rmSync(marker, { force: true });
      }
      expect(await until(async () => (await running("node1")) && starts("node1", "hangsvc") === 2, 10_000), dump()).toBe(true);
      expect((await group("node2"))?.holder).toBe("node1");
    }, 60_000);

    test("monitor off for one group: only the monitored group is monitored", async () => {
      await setup({
        haresources: `# tandem: monitor interval=1s timeout=5s\nnode1 ${vip_word} hbsvc\n# tandem: monitor off\nnode1 lazysvc\n`,
        scripts: () => [
          { kind: "heartbeat", name: "hbsvc", work: "" },
          { kind: "heartbeat", name: "lazysvc", work: "", status_unknown: true },
        ],
      });
      const both = async () => ((await d.node1!.tryStatus())?.groups as GroupView[] | undefined)?.every((g) => g.state === "running") === true;
      expect(await until(both, 10_000), dump()).toBe(true);
      // Several intervals of the monitored group: it is watched, lazysvc is not.
      unlinkSync(join(work.node1!, "hbsvc.state"));
      expect(await d.node1!.waitEvent({ event: "group_monitor_failed", group: vip_word }, 5000), dump()).not.toBeNull();
      await Bun.sleep(1500);
      expect(d.node1!.find({ event: "group_monitor_failed", group: "lazysvc" }).length, dump()).toBe(0);
      expect(starts("node1", "lazysvc")).toBe(1);
      expect(await both()).toBe(true);
    }, 60_000);

    test("a start failure on every node is bounded: tried on both, then nobody loops", async () => {
      await setup({
        haresources: `node1 ${vip_word} badsvc\n`,
        scripts: () => [{ kind: "heartbeat", name: "badsvc", work: "", fail_start: true }],
      });
      const gaveUp = (n: string) => d[n]!.waitEvent({ event: "group_unplaceable" }, 20_000);
      const [u1, u2] = await Promise.all(nodes.map(gaveUp));
      expect(u1 && u2, dump()).toBeTruthy();
      const counts = () => nodes.map((n) => starts(n, "badsvc"));
      const [a1, a2] = counts();
      process.stderr.write(`  start attempts before giving up: node1 ${a1}, node2 ${a2} (bound ${start_failures_max} each)\n`);
      expect(a1, dump()).toBeGreaterThanOrEqual(1);
      expect(a2, dump()).toBeGreaterThanOrEqual(1);
      expect(a1!).toBeLessThanOrEqual(start_failures_max);
      expect(a2!).toBeLessThanOrEqual(start_failures_max);
      // A window well beyond several deadtimes and handshakes: no further attempt.
      await Bun.sleep(1500);
      expect(counts()).toEqual([a1, a2]);
      for (const n of nodes) {
        const g = (await group(n))!;
        expect(g.holder).toBeNull();
        expect(g.blocked).toBe(true);
        expect(g.last_failure?.action).toBe("start");
        expect(g.last_failure?.detail).toContain("badsvc");
        expect(await hasVip(n)).toBe(false); // the half-started group was unwound
      }
    }, 60_000);

    for (const mode of ["off", "on"] as const) {
      test(`a start failure on node1 only: the group settles on node2 and stays (auto_failback ${mode})`, async () => {
        await setup({
          haresources: `node1 ${vip_word} flaky\n`,
          auto_failback: mode,
          scripts: (n) => [{ kind: "heartbeat", name: "flaky", work: "", fail_start: n === "node1" }],
        });
        expect(await until(async () => (await running("node2")) && (await group("node1"))?.holder === "node2", 10_000), dump()).toBe(true);
        await Bun.sleep(1500);
        expect(await running("node2")).toBe(true);
        expect(starts("node1", "flaky")).toBe(1);
        expect(starts("node2", "flaky")).toBe(1);
        expect(await hasVip("node2")).toBe(true);
        expect(await hasVip("node1")).toBe(false);
        const g = (await group("node1"))!;
        expect(g.failures).toBe(1);
        expect(g.blocked).toBe(false);
        expect(g.last_failure?.action).toBe("start");
      }, 60_000);
    }
  });
}
