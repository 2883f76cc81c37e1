// The fence delay's power status check, end to end with a real fence agent.
// Two machines, each a real tandem daemon powered by its own ipmi_sim BMC
// (bmc.ts); heartbeats on link 0, BMCs on link 1. fence_delay is long (15 s)
// so that skipping it and waiting it out cannot be confused.
//
//  1. Power loss of the holder (node1's BMC powers it off): node2, which holds
//     nothing and so would wait fence_delay, asks node1's BMC for its power
//     status (fence_ipmilan action=status), hears OFF and takes over at once,
//     with no fence attempt at all.
//  2. A live but silent holder (node2's daemon SIGSTOPped: its BMC still says
//     ON): node1, holding nothing, hears ON and waits the whole delay before
//     fencing it (the split-brain tie-break is untouched).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { until } from "../../src/lab/daemons.ts";
import type { StatusFenceV2 } from "../../src/daemon/status_schema.ts";
import { type Cluster, createCluster } from "../../src/lab/netns.ts";
import { bmc_password, bmc_user, bmcAddress, pidAlive, type SimMachine, startFencedPair } from "./bmc.ts";
import { netnsAvailable, tandem } from "./support.ts";

const secret = "fence-status-secret";
const fence_delay_s = 15;

/** wall-clock ms of `node`'s first log line `EVENT node=PEER` at or after `from_ms`, or null */
function logTime(log: string, event: string, peer: string, from_ms: number, match = ""): number | null {
  for (const line of log.split("\n")) {
    const m = /^(\S+Z) tandem\[\w+\]: (\w+) node=(\w+)(.*)$/.exec(line);
    if (!m || m[2] !== event || m[3] !== peer || !m[4]!.includes(match)) continue;
    const t = Date.parse(m[1]!);
    if (t >= from_ms) return t;
  }
  return null;
}

if (netnsAvailable("fence_status.test.ts")) {
  describe("fence delay vs. a power status from fence_ipmilan (ipmi_sim BMCs)", () => {
    let c: Cluster;
    const m: Record<string, SimMachine> = {};
    const bmc = (node: string) => bmcAddress(c, node);
    const running = (node: string) => existsSync(join(m[node]!.home, "svc.running"));
    const fencing = async (node: string, peer: string) => (((await m[node]!.status())?.fencing ?? []) as StatusFenceV2[]).find((f) => f.node === peer);
    const peerState = async (node: string, peer: string) =>
      (((await m[node]!.status())?.nodes ?? []) as { name: string; state: string }[]).find((n) => n.name === peer)?.state;
    const dump = () => Object.values(m).map((x) => `--- ${x.node}\n${x.log(4000)}`).join("\n");
    const fullLog = (node: string) => readFileSync(join(m[node]!.bmc_dir, "daemon.log"), "utf8");
    /** drive a BMC from the other node's namespace, as the power button would */
    const power = (target: string, from: string, action: "off" | "on") =>
      c.exec(
        c.node(from).ns,
        ["sh", "-c", `printf 'action=${action}\\nip=${bmc(target)}\\nusername=${bmc_user}\\npassword=${bmc_password}\\nlanplus=1\\ncipher=3\\n' | fence_ipmilan`],
        60_000,
      );

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 2 });
      await startFencedPair(c, m, tandem.argv, secret, fence_delay_s);
      const ok = await until(async () => (await peerState("node1", "node2")) === "up" && (await peerState("node2", "node1")) === "up" && running("node1"), 15_000);
      if (!ok) throw new Error(`cluster did not come up:\n${dump()}`);
    }, 60_000);

    afterAll(async () => {
      for (const x of Object.values(m)) {
        const pid = x.pid;
        if (pid !== null && pidAlive(pid)) process.kill(pid, "SIGCONT"); // a stopped process of ours: let the kill land
        x.kill();
      }
      await c?.destroy();
    });

    test("power loss of the holder: the survivor's BMC status says OFF, it takes over without waiting fence_delay and without a fence attempt", async () => {
      const pid1 = m.node1!.pid!;
      const t0 = Date.now();
      const r = await power("node1", "node2", "off");
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(pidAlive(pid1)).toBe(false);
      // waiting the delay out could not be done before deadtime + fence_delay
      const row = await until(async () => {
        const f = await fencing("node2", "node1");
        return f?.phase === "done" && running("node2") ? f : null;
      }, (fence_delay_s - 3) * 1000);
      expect(row, dump()).toMatchObject({ phase: "done", attempts: 0, last_result: { ok: true } });
      expect(row && row.last_result!.detail, dump()).toMatch(/^already off: fence_ipmilan \(line \d+\): action=status exit 2: Status: OFF/);
      const log = fullLog("node2");
      const delay_at = logTime(log, "fence_delay", "node1", t0);
      const ok_at = logTime(log, "fence_ok", "node1", t0, "already off");
      expect(delay_at, log).not.toBeNull();
      expect(ok_at, log).not.toBeNull();
      expect(ok_at! - delay_at!).toBeLessThan(fence_delay_s * 1000);
      expect(logTime(log, "fence_start", "node1", t0)).toBeNull(); // no `off` was ever sent
    }, 60_000);

    test("node1 is powered on again and joins; the group stays on node2", async () => {
      const r = await power("node1", "node2", "on");
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await m.node1!.answers(20_000), dump()).toBe(true);
      const ok = await until(async () => (await peerState("node1", "node2")) === "up" && (await peerState("node2", "node1")) === "up", 15_000);
      expect(ok, dump()).toBe(true);
      expect(running("node2")).toBe(true);
      expect(running("node1")).toBe(false);
    }, 60_000);

    test("live but silent holder (SIGSTOP, its BMC says ON): the non-holder hears ON and still waits the whole fence_delay", async () => {
      const pid2 = m.node2!.pid!;
      const t0 = Date.now();
      process.kill(pid2, "SIGSTOP");
      try {
        // the status answer (ON) arrives while node1 is still in its delay
        const on = await until(() => logTime(fullLog("node1"), "fence_status", "node2", t0, "off=false") !== null, 20_000);
        expect(on, dump()).toBe(true);
        expect((await fencing("node1", "node2"))?.phase, dump()).toBe("delay");
        // then the delay runs out and a real fence (reboot) kills the stopped daemon
        const done = await until(async () => (await fencing("node1", "node2"))?.phase === "done", (fence_delay_s + 40) * 1000);
        expect(done, dump()).toBe(true);
      } finally {
        if (pidAlive(pid2)) process.kill(pid2, "SIGCONT");
      }
      const row = await fencing("node1", "node2");
      expect(row, dump()).toMatchObject({ phase: "done", attempts: 1, last_result: { ok: true } });
      expect(row!.last_result!.detail).not.toContain("already off");
      const log = fullLog("node1");
      const delay_at = logTime(log, "fence_delay", "node2", t0);
      const start_at = logTime(log, "fence_start", "node2", t0);
      expect(delay_at, log).not.toBeNull();
      expect(start_at, log).not.toBeNull();
      expect(start_at! - delay_at!).toBeGreaterThanOrEqual(fence_delay_s * 1000 - 50);
      expect(logTime(log, "fence_ok", "node2", t0, "already off")).toBeNull();
      expect(await until(() => running("node1"), 15_000), dump()).toBe(true);
    }, 120_000);
  });
}
