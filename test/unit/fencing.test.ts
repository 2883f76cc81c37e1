// The fence adapters and makeFencer against local programs: the stdin
// protocol of fence-agents (through a recording test agent), cluster-glue's
// real `stonith` tool, ordering, manual devices, timeouts. The real targets
// (ipmi_sim + fence_ipmilan, sshd + external/ssh) are in
// test/integration/fencing.test.ts.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { groupAlive } from "../../src/agents/runner.ts";
import { checkHaCf } from "../../src/config/hacf.ts";
import type { HaConfig } from "../../src/config/types.ts";
import type { Fields } from "../../src/daemon/log.ts";
import { devicesFor } from "../../src/fencing/devices.ts";
import { agentStdin } from "../../src/fencing/fence_agent.ts";
import { makeFencer } from "../../src/fencing/fencer.ts";
import { stonithArgv } from "../../src/fencing/stonith.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const fixtures = join(import.meta.dir, "../fixtures/fencing");
const record = join(fixtures, "fence_record");
const hang = join(fixtures, "fence_hang");
const freshDir = scratchDirs("tandem-fence-");

function cfg(extra: string): HaConfig {
  const r = checkHaCf(`node node1 node2 node3\nucast eth1 192.0.2.1\nauto_failback off\n${extra}`, "/etc/ha.d/ha.cf");
  if (!r.config) throw new Error(r.diagnostics.map((d) => `${d.line}: ${d.message}`).join("\n"));
  return r.config;
}

function logSink() {
  const events: { name: string; fields: Fields }[] = [];
  return { events, log: { event: (name: string, fields: Fields) => void events.push({ name, fields }) } };
}

describe("devices for this node", () => {
  test("fence lines and Heartbeat's stonith/stonith_host, in file order; lines for this node are skipped", () => {
    const c = cfg(
      [
        "stonith_host node2 baytech 10.0.0.9 admin secret", // node2 only
        "fence node2 fence_ipmilan ip=192.0.2.130",
        "fence node1 manual", // the peers' way to fence node1
        "stonith_host * external/ssh node1 node2 node3",
        "stonith_host NODE1 apcmaster 10.0.0.3 apc apc", // Heartbeat lowercased the host
        "stonith apcsmart /etc/ha.d/apcsmart.cfg",
      ].join("\n"),
    );
    const ds = devicesFor(c, "node1").map((d) => [d.target, d.kind, d.agent, d.params, d.action ?? null]);
    expect(ds).toEqual([
      ["node2", "fence_agent", "fence_ipmilan", [["ip", "192.0.2.130"]], null],
      ["node2", "stonith", "external/ssh", [["-p", "node1 node2 node3"]], "reboot"],
      ["node3", "stonith", "external/ssh", [["-p", "node1 node2 node3"]], "reboot"],
      ["node2", "stonith", "apcmaster", [["-p", "10.0.0.3 apc apc"]], "reboot"],
      ["node3", "stonith", "apcmaster", [["-p", "10.0.0.3 apc apc"]], "reboot"],
      ["node2", "stonith", "apcsmart", [["-F", "/etc/ha.d/apcsmart.cfg"]], "reboot"],
      ["node3", "stonith", "apcsmart", [["-F", "/etc/ha.d/apcsmart.cfg"]], "reboot"],
    ]);
    expect(devicesFor(c, "node2").map((d) => [d.target, d.agent])).toEqual([
      ["node1", "baytech"],
      ["node3", "baytech"],
      ["node1", "manual"],
      ["node1", "external/ssh"],
      ["node3", "external/ssh"],
      ["node1", "apcsmart"],
      ["node3", "apcsmart"],
    ]);
  });
  test("the command lines", () => {
    const c = cfg("fence node2 stonith external/ssh hostlist=node2\nstonith_host * baytech 10.0.0.3 login secret\nfence node2 fence_ipmilan ip=192.0.2.130 username=admin password=x lanplus=1\n");
    const [ssh, baytech] = devicesFor(c, "node1").filter((d) => d.kind === "stonith");
    expect(stonithArgv(ssh!, "node2", "reboot")).toEqual(["/usr/sbin/stonith", "-t", "external/ssh", "hostlist=node2", "-T", "reset", "node2"]);
    expect(stonithArgv(baytech!, "node2", "off")).toEqual(["/usr/sbin/stonith", "-t", "baytech", "-p", "10.0.0.3 login secret", "-T", "off", "node2"]);
    const ipmi = devicesFor(c, "node1").find((d) => d.kind === "fence_agent")!;
    expect(agentStdin(ipmi, "off")).toBe("action=off\nip=192.0.2.130\nusername=admin\npassword=x\nlanplus=1\n");
  });
});

describe("makeFencer", () => {
  test("tries devices in order: a failing agent, then the next one; stdin carries action and pairs; each attempt is logged", async () => {
    const out = join(freshDir(), "calls");
    const { events, log } = logSink();
    const f = makeFencer(cfg(`fence node2 ${record} out=${out} result=fail\nfence node2 ${record} out=${out} port=7\nfence_timeout 20\n`), "node1", log);
    expect(f.canFence("node2")).toBe(true);
    expect(f.canFence("node3")).toBe(false);
    expect(f.canFence("node1")).toBe(false);
    const r = await f.fence("node2", "off");
    expect(r.ok, r.detail).toBe(true);
    expect(r.device).toBe(record);
    expect(r.detail).toContain("Success: Powered OFF; status: Status: OFF");
    // the failing call, then off + status on the second device
    expect(readFileSync(out, "utf8").trim().split("\n")).toEqual([
      `action=off;out=${out};result=fail;`,
      `action=off;out=${out};port=7;`,
      `action=status;out=${out};port=7;`,
    ]);
    expect(events.map((e) => [e.name, e.fields.ok, e.fields.code, e.fields.line])).toEqual([
      ["fence_attempt", false, 1, 4],
      ["fence_attempt", true, 0, 5],
    ]);
    expect(String(events[0]!.fields.detail)).toBe("action=off exit 1: ERROR: Failed: Unable to obtain correct plug status or plug is not available");
  });
  test("an agent that claims success while status still says ON has failed", async () => {
    const f = makeFencer(cfg(`fence node2 ${record} status=on\n`), "node1", logSink().log);
    const r = await f.fence("node2", "off");
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("action=status still says Status: ON");
  });
  test("reboot is not confirmed with status (the node is meant to come back)", async () => {
    const out = join(freshDir(), "calls");
    const r = await makeFencer(cfg(`fence node2 ${record} out=${out} status=on\n`), "node1", logSink().log).fence("node2", "reboot");
    expect(r.ok, r.detail).toBe(true);
    expect(readFileSync(out, "utf8").trim().split("\n")).toEqual([`action=reboot;out=${out};status=on;`]);
  });
  test("manual devices report waiting for fence-confirm, after the others failed", async () => {
    const r = await makeFencer(cfg(`fence node2 manual\nfence node2 ${record} result=fail\n`), "node1", logSink().log).fence("node2", "off");
    expect(r).toMatchObject({ ok: false, device: "manual" });
    expect(r.detail).toStartWith("waiting for `tandem fence-confirm node2`; ");
    expect(r.detail).toContain("exit 1: ERROR: Failed");
  });
  test("this node itself, a node without devices, a missing agent", async () => {
    const f = makeFencer(cfg("fence node1 manual\nfence node2 fence_doesnotexist ip=1\n"), "node1", logSink().log);
    expect(await f.fence("node1", "off")).toMatchObject({ ok: false, detail: "refusing to fence this node itself" });
    expect((await f.fence("node3", "off")).detail).toContain("no fence device for node3: add `fence node3 AGENT");
    expect(await f.fence("node2", "off")).toMatchObject({ ok: false, device: "fence_doesnotexist", detail: "fence_doesnotexist: fence_doesnotexist is not installed on this host" });
  });
  test("cluster-glue's stonith tool: external/ssh refuses `off` (S_RESETFAIL), the pinned reboot goes through the same tool", async () => {
    const { events, log } = logSink();
    const r = await makeFencer(cfg("fence node2 stonith external/ssh hostlist=node2\nfence_timeout 10\n"), "node1", log).fence("node2", "off");
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("external/ssh: -T off exit 5 (S_RESETFAIL");
    expect(events[0]!.fields).toMatchObject({ device: "external/ssh", kind: "stonith", action: "off", code: 5 });
    // a type cluster-glue does not have: the tool's own answer, never a throw
    const bad = await makeFencer(cfg("fence node2 stonith external/nope hostlist=node2\n"), "node1", logSink().log).fence("node2", "reboot");
    expect(bad.ok).toBe(false);
    expect(bad.detail).toMatch(/external\/nope: -T reset exit \d+/);
  });
  test("a hung agent that ignores SIGTERM is killed in time for the next device; the call settles within fence_timeout", async () => {
    const dir = freshDir();
    const pidfile = join(dir, "pid");
    const out = join(dir, "calls");
    const { events, log } = logSink();
    const f = makeFencer(cfg(`fence node2 ${hang} pidfile=${pidfile}\nfence node2 ${record} out=${out}\nfence_timeout 3\n`), "node1", log);
    const t0 = performance.now();
    const [r, again] = await Promise.all([f.fence("node2", "off"), f.fence("node2", "off")]);
    const took_ms = performance.now() - t0;
    expect(again).toBe(r); // a second caller shares the running call
    expect(r.ok, r.detail).toBe(true);
    expect(r.device).toBe(record);
    expect(events[0]!.fields).toMatchObject({ device: hang, ok: false, timed_out: true });
    expect(String(events[0]!.fields.detail)).toMatch(/^action=off timed out after \d+ ms \(killed\)$/);
    // a bound, not a speed target: the contract says the call settles within fence_timeout
    expect(took_ms).toBeLessThan(3000 + 500);
    const pid = Number(readFileSync(pidfile, "utf8"));
    for (let i = 0; i < 100 && (await groupAlive(pid)); i++) await Bun.sleep(50);
    expect(await groupAlive(pid)).toBe(false);
  });
  test("with only a hung agent the call fails within fence_timeout and leaves nothing behind", async () => {
    const pidfile = join(freshDir(), "pid");
    const t0 = performance.now();
    const r = await makeFencer(cfg(`fence node2 ${hang} pidfile=${pidfile}\nfence_timeout 1\n`), "node1", logSink().log).fence("node2", "reboot");
    expect(performance.now() - t0).toBeLessThan(1000 + 500);
    expect(r).toMatchObject({ ok: false, device: hang });
    expect(r.detail).toContain("timed out after");
    const pid = Number(readFileSync(pidfile, "utf8"));
    for (let i = 0; i < 100 && (await groupAlive(pid)); i++) await Bun.sleep(50);
    expect(await groupAlive(pid)).toBe(false);
  });
});

describe("tandem fence (CLI)", async () => {
  const { parseFenceArgs, runFence } = await import("../../src/cli/fence.ts");
  const { writeFileSync, chmodSync } = await import("node:fs");
  async function cli(argv: string[]) {
    let stdout = "";
    let stderr = "";
    const code = await runFence(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
    return { code, stdout, stderr };
  }
  function dir(extra: string): string {
    const d = freshDir();
    writeFileSync(join(d, "ha.cf"), `node node1 node2\nucast eth1 192.0.2.2\nauto_failback off\n${extra}`);
    writeFileSync(join(d, "authkeys"), "auth 1\n1 sha256 secret\n");
    chmodSync(join(d, "authkeys"), 0o600);
    return d;
  }
  test("arguments", () => {
    expect(parseFenceArgs(["node2", "--action=reboot", "--dir", "/x", "--node", "node1"])).toMatchObject({ target: "node2", action: "reboot", dir: "/x", node: "node1" });
    expect(parseFenceArgs([])).toContain("which node?");
    expect(parseFenceArgs(["a", "b"])).toContain("one node at a time");
    expect(parseFenceArgs(["a", "--action", "on"])).toContain("--action must be off or reboot");
    expect(parseFenceArgs(["a", "--bogus"])).toContain("unknown option");
  });
  test("fences with the configured devices and prints each attempt", async () => {
    const r = await cli(["node2", "--dir", dir(`fence node2 ${record} result=fail\nfence node2 ${record}\n`), "--node", "node1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^node2: fenced by .*fence_record in \d+ ms: /);
    expect(r.stderr.trim().split("\n").map((l) => l.split(" ")[0])).toEqual(["fence_attempt", "fence_attempt"]);
    const j = await cli(["node2", "--json", "--dir", dir(`fence node2 ${record} result=fail\n`), "--node", "node1"]);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, device: record });
  });
  test("errors: bad ha.cf, unknown node, no device, itself, bad usage", async () => {
    expect((await cli(["node2", "--dir", dir("fence node2 bogus\n"), "--node", "node1"])).stderr).toContain("ha.cf:4: error: fence: `bogus` is not a fence agent");
    expect((await cli(["node9", "--dir", dir(""), "--node", "node1"])).stderr).toContain("is not a node of this cluster");
    expect((await cli(["node2", "--dir", dir(""), "--node", "node1"])).stderr).toContain("no fence device for it");
    expect((await cli(["node1", "--dir", dir("fence node1 manual\n"), "--node", "node1"])).stderr).toContain("this node cannot fence itself");
    expect((await cli([])).code).toBe(2);
  });
});
