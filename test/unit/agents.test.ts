// The agent kinds against small fixture scripts: argument order, exit-code
// mapping, Heartbeat's status rule, OCF environment and meta-data timeouts,
// systemd with and without systemd, the resolver.
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { heartbeat_stop_retry, withRetry } from "../../src/agents/common.ts";
import { HeartbeatAgent, heartbeatStatus } from "../../src/agents/heartbeat.ts";
import { LsbAgent } from "../../src/agents/lsb.ts";
import { actionMeta, parseDuration, parseOcfMetadata } from "../../src/agents/metadata.ts";
import { defaultInstance, OcfAgent, ocfVerdict } from "../../src/agents/ocf.ts";
import { createAgent, resolveResource } from "../../src/agents/resolve.ts";
import { procState } from "../../src/agents/runner.ts";
import { SystemdAgent } from "../../src/agents/systemd.ts";
import { type AgentResult, AgentNotFoundError, AgentSpecError } from "../../src/agents/types.ts";

const fx = join(import.meta.dir, "../fixtures/agents");
const ha_dir = join(fx, "ha.d");
const init_dir = join(fx, "init.d");
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tandem-agents-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
/** A private OCF_ROOT holding the fake agents. */
function ocfRoot(): string {
  const root = join(tmp(), "ocf");
  cpSync(join(fx, "ocf"), root, { recursive: true });
  return root;
}
function envOf(file: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of readFileSync(file, "utf8").split("\n")) {
    const eq = l.indexOf("=");
    if (eq > 0) m.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return m;
}
function brief(r: AgentResult): string {
  return r.ok ? `ok:${r.status}` : `${r.status}:${r.reason}`;
}

describe("Heartbeat resource.d scripts", () => {
  test("haresources arguments come before the action", async () => {
    const d = tmp();
    const a = new HeartbeatAgent(join(ha_dir, "resource.d/hbstate"), [d, "extra arg", "x=y"], { ha_dir });
    expect(brief(await a.monitor())).toBe("ok:stopped");
    expect(brief(await a.start())).toBe("ok:running");
    expect(readFileSync(join(d, "argv.start"), "utf8")).toBe(`${join(ha_dir, "resource.d/hbstate")}\n${d}\nextra arg\nx=y\nstart\n`);
    expect(brief(await a.monitor())).toBe("ok:running");
    expect(readFileSync(join(d, "argv.status"), "utf8").trim().split("\n").at(-1)).toBe("status");
    expect(brief(await a.stop())).toBe("ok:stopped");
    expect(brief(await a.monitor())).toBe("ok:stopped");
    const env = envOf(join(d, "env.start"));
    expect(env.get("HA_DIR")).toBe(ha_dir);
    expect(env.get("HA_RESOURCEDIR")).toBe(join(ha_dir, "resource.d"));
    expect(env.get("LANG")).toBe("C");
  });

  test("ResourceManager's status rule (we_own_resource)", () => {
    const cases: [string, "running" | "stopped"][] = [
      ["running", "running"],
      ["httpd (pid 42) is running...", "running"],
      ["Running", "running"],
      ["OK", "running"],
      ["status: OK\n", "running"],
      ["not running", "stopped"],
      ["NOT running", "stopped"],
      ["httpd is not Running", "stopped"],
      ["not yet, but running", "stopped"],
      ["line1 not\nline2 running", "running"], // "not" needs a space after it; a newline is no space
      ["not \nrunning", "stopped"],
      ["stopped", "stopped"],
      ["", "stopped"],
      ["RUNNING", "stopped"], // only [Rr]unning
      ["ok", "stopped"], // only upper-case OK
      ["isn't running", "running"], // no "not " in it
    ];
    for (const [out, want] of cases) expect(`${JSON.stringify(out)} -> ${heartbeatStatus(out)}`).toBe(`${JSON.stringify(out)} -> ${want}`);
  });

  test("status reads stdout only and ignores the exit code", async () => {
    const say = (stdout: string, stderr: string, code: number) => new HeartbeatAgent(join(ha_dir, "resource.d/hbsay"), [stdout, stderr, String(code)]).monitor();
    expect(brief(await say("running", "", 1))).toBe("ok:running");
    expect(brief(await say("", "running", 0))).toBe("ok:stopped");
    expect(brief(await say("OK", "", 3))).toBe("ok:running");
    expect(brief(await say("service not running", "", 0))).toBe("ok:stopped");
  });

  test("start/stop: 0 is success, anything else a failure", async () => {
    const a = new HeartbeatAgent(join(ha_dir, "resource.d/hbsay"), ["out", "err", "1"]);
    const r = await a.start();
    expect(brief(r)).toBe("failed:generic");
    expect(r.code).toBe(1);
    expect(r.output).toContain("out");
    expect(r.output).toContain("err");
    if (!r.ok) expect(r.error).toContain("exit 1");
    expect(brief(await new HeartbeatAgent(join(ha_dir, "resource.d/hbsay"), ["", "", "0"]).stop())).toBe("ok:stopped");
  });

  test("retry: stop is retried up to the policy's limit; permanent failures are not", async () => {
    const flaky = new HeartbeatAgent(join(ha_dir, "resource.d/hbsay"), ["", "", "1"], { retry: { stop: { attempts_max: 3, delay_ms: 5 } } });
    const r = await flaky.stop();
    expect(r.ok).toBe(false);
    expect(r.attempts).toBe(3);
    const missing = new LsbAgent(join(init_dir, "lsbcode"), ["5"], { retry: { start: { attempts_max: 3, delay_ms: 5 } } });
    const m = await missing.start();
    expect(brief(m)).toBe("failed:not-installed");
    expect(m.attempts).toBe(1);
    let n = 0;
    const once = async (): Promise<AgentResult> => {
      n++;
      return n < 2 ? await flaky.start() : await new HeartbeatAgent(join(ha_dir, "resource.d/hbsay"), ["", "", "0"]).start();
    };
    const ok = await withRetry({ attempts_max: 5, delay_ms: 1 }, once);
    expect(ok.ok).toBe(true);
    expect(ok.attempts).toBe(2);
    expect(heartbeat_stop_retry.attempts_max).toBe(11);
    await expect(withRetry({ attempts_max: 0, delay_ms: 0 }, once)).rejects.toThrow(RangeError);
  });
});

describe("LSB init scripts", () => {
  test("a well-behaved service: start/stop idempotent, status 0 running and 3 stopped", async () => {
    const d = tmp();
    const a = new LsbAgent(join(init_dir, "lsbsvc"), [d]);
    const seq = [];
    for (const step of ["monitor", "start", "start", "monitor", "stop", "stop", "monitor"] as const) seq.push(brief(await a[step]()));
    expect(seq).toEqual(["ok:stopped", "ok:running", "ok:running", "ok:running", "ok:stopped", "ok:stopped", "ok:stopped"]);
    expect(readFileSync(join(d, "argv.status"), "utf8")).toBe(`${join(init_dir, "lsbsvc")}\n${d}\nstatus\n`);
  });

  test("exit codes map to named results", async () => {
    const code = (c: number) => new LsbAgent(join(init_dir, "lsbcode"), [String(c)]);
    const status: Record<number, string> = {
      0: "ok:running",
      1: "failed:generic",
      2: "failed:generic",
      3: "ok:stopped",
      4: "failed:unknown-code",
      5: "failed:unknown-code",
      150: "failed:unknown-code",
    };
    for (const [c, want] of Object.entries(status)) expect(`status ${c} ${brief(await code(Number(c)).monitor())}`).toBe(`status ${c} ${want}`);
    const start: Record<number, string> = {
      0: "ok:running",
      1: "failed:generic",
      2: "failed:args",
      3: "failed:unimplemented",
      4: "failed:perm",
      5: "failed:not-installed",
      6: "failed:not-configured",
      7: "failed:not-running",
      42: "failed:unknown-code",
    };
    for (const [c, want] of Object.entries(start)) expect(`start ${c} ${brief(await code(Number(c)).start())}`).toBe(`start ${c} ${want}`);
    expect(brief(await code(0).stop())).toBe("ok:stopped");
  });
});

describe("OCF agents", () => {
  test("environment: OCF_ROOT, instance, type, provider, RESKEYs, timeout in ms from meta-data", async () => {
    const root = ocfRoot();
    const d = tmp();
    const a = new OcfAgent(
      { provider: "tandem", type: "Fake", path: join(root, "resource.d/tandem/Fake"), ocf_root: root, params: { dir: d, "with_space": "a b", eq: "x=y" } },
      { instance: "fake1" },
    );
    expect(brief(await a.monitor())).toBe("ok:stopped");
    expect(brief(await a.start())).toBe("ok:running");
    expect(brief(await a.monitor())).toBe("ok:running");
    expect(brief(await a.validate())).toBe("ok:done");
    expect(brief(await a.stop())).toBe("ok:stopped");
    const env = envOf(join(d, "env.start"));
    expect(env.get("OCF_ROOT")).toBe(root);
    expect(env.get("OCF_RESOURCE_INSTANCE")).toBe("fake1");
    expect(env.get("OCF_RESOURCE_TYPE")).toBe("Fake");
    expect(env.get("OCF_RESOURCE_PROVIDER")).toBe("tandem");
    expect(env.get("OCF_RA_VERSION_MAJOR")).toBe("1");
    expect(env.get("OCF_RESKEY_dir")).toBe(d);
    expect(env.get("OCF_RESKEY_with_space")).toBe("a b");
    expect(env.get("OCF_RESKEY_eq")).toBe("x=y");
    expect(env.get("OCF_RESKEY_CRM_meta_timeout")).toBe("42000");
    expect(envOf(join(d, "env.stop")).get("OCF_RESKEY_CRM_meta_timeout")).toBe("60000");
    expect(envOf(join(d, "env.monitor")).get("OCF_RESKEY_CRM_meta_timeout")).toBe("2500");
    expect(envOf(join(d, "env.validate-all")).get("OCF_RESKEY_CRM_meta_timeout")).toBe("7000");
    // meta-data was read once, for the first action's timeout
    expect(readFileSync(join(d, "meta-data.calls"), "utf8")).toBe("call\n");
    expect(env.get("PATH")).toBe("/usr/sbin:/usr/bin:/sbin:/bin");
    expect(env.has("HOME")).toBe(false);
  });

  test("configured timeouts override the meta-data", async () => {
    const root = ocfRoot();
    const d = tmp();
    const a = new OcfAgent({ provider: "tandem", type: "Fake", path: join(root, "resource.d/tandem/Fake"), ocf_root: root, params: { dir: d } }, { timeouts_ms: { start: 1234 } });
    expect(await a.timeoutFor("start")).toEqual({ timeout_ms: 1234, source: "config" });
    expect(await a.timeoutFor("monitor")).toEqual({ timeout_ms: 2500, source: "meta-data" });
    expect(await a.timeoutFor("reload" as never)).toEqual({ timeout_ms: 20_000, source: "default" });
    await a.start();
    expect(envOf(join(d, "env.start")).get("OCF_RESKEY_CRM_meta_timeout")).toBe("1234");
    expect(a.instance).toBe(defaultInstance("Fake", { dir: d }));
  });

  test("exit codes 0-9 map to named results", async () => {
    const root = ocfRoot();
    const d = tmp();
    const got: string[] = [];
    for (let rc = 0; rc <= 10; rc++) {
      const a = new OcfAgent({ provider: "tandem", type: "Fake", path: join(root, "resource.d/tandem/Fake"), ocf_root: root, params: { dir: d, rc: String(rc) } });
      got.push(`${rc} monitor=${brief(await a.monitor())} start=${brief(await a.start())} stop=${brief(await a.stop())}`);
    }
    expect(got).toEqual([
      "0 monitor=ok:running start=ok:running stop=ok:stopped",
      "1 monitor=failed:generic start=failed:generic stop=failed:generic",
      "2 monitor=failed:args start=failed:args stop=failed:args",
      "3 monitor=failed:unimplemented start=failed:unimplemented stop=failed:unimplemented",
      "4 monitor=failed:perm start=failed:perm stop=failed:perm",
      "5 monitor=failed:not-installed start=failed:not-installed stop=failed:not-installed",
      "6 monitor=failed:not-configured start=failed:not-configured stop=failed:not-configured",
      "7 monitor=ok:stopped start=failed:not-running stop=failed:not-running",
      "8 monitor=ok:master start=failed:unknown-code stop=failed:unknown-code",
      "9 monitor=failed:failed-master start=failed:failed-master stop=failed:failed-master",
      "10 monitor=failed:unknown-code start=failed:unknown-code stop=failed:unknown-code",
    ]);
    const six = await new OcfAgent({ provider: "tandem", type: "Fake", path: join(root, "resource.d/tandem/Fake"), ocf_root: root, params: { dir: d, rc: "6" } }, { instance: "f6" }).start();
    expect(six.ok === false && six.error).toBe("ocf:tandem:Fake(f6) start: exit 6 (OCF_ERR_CONFIGURED): forced rc 6");
    const v = ocfVerdict("start", 5);
    expect(v.ok === false && v.detail).toBe("exit 5 (OCF_ERR_INSTALLED)");
  });

  test("a hung agent is killed with its children; no meta-data means the default timeout", async () => {
    const root = ocfRoot();
    const d = tmp();
    const a = new OcfAgent({ provider: "tandem", type: "Hang", path: join(root, "resource.d/tandem/Hang"), ocf_root: root, params: { dir: d } }, { timeouts_ms: { monitor: 300 }, kill_grace_ms: 500 });
    const r = await a.monitor();
    expect(brief(r)).toBe("failed:timeout");
    expect(r.timed_out).toBe(true);
    if (!r.ok) {
      expect(r.cause.name).toBe("AgentTimeoutError");
      expect(r.error).toContain("timed out after 300 ms");
    }
    for (const f of ["parent.pid", "child.pid"]) {
      const s = await procState(Number(readFileSync(join(d, f), "utf8")));
      expect(s === null || s === "Z").toBe(true);
    }
    expect(await a.timeoutFor("start")).toEqual({ timeout_ms: 20_000, source: "default" });
    const md = await a.metaData();
    expect(brief(md.result)).toBe("failed:unimplemented");
    expect(md.meta).toBeNull();
  });

  test("meta-data parsing: actions, roles, comments and CDATA, parameters", async () => {
    const root = ocfRoot();
    const a = new OcfAgent({ provider: "tandem", type: "Fake", path: join(root, "resource.d/tandem/Fake"), ocf_root: root, params: {} });
    const { result, meta } = await a.metaData();
    expect(brief(result)).toBe("ok:done");
    expect(meta).not.toBeNull();
    const m = meta!;
    expect(m.name).toBe("Fake");
    expect(actionMeta(m, "start")?.timeout_ms).toBe(42_000);
    expect(actionMeta(m, "stop")?.timeout_ms).toBe(60_000);
    expect(actionMeta(m, "monitor")).toEqual({ name: "monitor", timeout_ms: 2500, interval_ms: 10_000, role: null, depth: "0" });
    expect(m.actions.filter((x) => x.name === "monitor").length).toBe(2);
    expect(actionMeta(m, "meta-data")?.timeout_ms).toBe(5000);
    expect(actionMeta(m, "validate-all")?.timeout_ms).toBe(7000);
    expect(m.actions.length).toBe(6);
    expect(m.parameters).toEqual([
      { name: "dir", required: true, unique: true, default: "/tmp" },
      { name: "rc", required: false, unique: false, default: null },
    ]);
  });

  test("parseDuration: Pacemaker's units, seconds by default, bounded", () => {
    const cases: [string, number | null][] = [
      ["20s", 20_000],
      ["20", 20_000],
      [" 5 ", 5000],
      ["500ms", 500],
      ["500msec", 500],
      ["1min", 60_000],
      ["2m", 120_000],
      ["1h", 3_600_000],
      ["1hr", 3_600_000],
      ["1.5s", 1500],
      ["10us", 1],
      ["0", null],
      ["-1s", null],
      ["25h", null],
      ["10 parsecs", null],
      ["", null],
      ["s", null],
    ];
    for (const [t, want] of cases) expect(`${t} -> ${parseDuration(t)}`).toBe(`${t} -> ${want}`);
  });

  test("malformed or hostile meta-data is rejected, not crashed on", () => {
    expect(() => parseOcfMetadata("<actions><action name='start' timeout='1s'/></actions>")).toThrow(/resource-agent/);
    expect(() => parseOcfMetadata('<resource-agent name="x"><actions><action name="start" timeout="1s"')).toThrow(/unterminated/);
    expect(() => parseOcfMetadata('<resource-agent name="x"><!-- never closed')).toThrow(/unterminated/);
    expect(() => parseOcfMetadata("<resource-agent name=x>")).toThrow(/unquoted/);
    const many = `<resource-agent name="x"><actions>${'<action name="a" timeout="1s"/>'.repeat(65)}</actions></resource-agent>`;
    expect(() => parseOcfMetadata(many)).toThrow(/more than 64 actions/);
    expect(() => parseOcfMetadata(`<resource-agent>${"<a/>".repeat(10_001)}</resource-agent>`)).toThrow(/tags/);
    expect(() => parseOcfMetadata("x".repeat(300_000))).toThrow(/larger/);
    const t0 = performance.now();
    expect(() => parseOcfMetadata(`<resource-agent name="x" ${" ".repeat(200_000)}`)).toThrow(/unterminated/);
    expect(performance.now() - t0).toBeLessThan(1000);
    const ok = parseOcfMetadata(`<?xml version="1.0"?><!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd"><resource-agent name="a&amp;b"><actions><action name="start" timeout="bogus"/></actions></resource-agent>`);
    expect(ok.name).toBe("a&b");
    expect(actionMeta(ok, "start")?.timeout_ms).toBeNull();
  });

  test("parameter names must be shell variable names", () => {
    const mk = (params: Record<string, string>) => new OcfAgent({ provider: "p", type: "T", path: "/x", ocf_root: "/y", params });
    expect(() => mk({ "bad-name": "1" })).toThrow(AgentSpecError);
    expect(() => mk({ "x;rm": "1" })).toThrow(AgentSpecError);
    expect(() => mk({ ok_name: "any value; $(not run)" })).not.toThrow();
  });
});

describe("systemd units", () => {
  test("without systemd: a clear error result, no exception", async () => {
    const run_dir = tmp();
    const a = new SystemdAgent("ssh.service", { systemd: { run_dir } });
    for (const r of [await a.start(), await a.stop(), await a.monitor()]) {
      expect(brief(r)).toBe("error:no-systemd");
      if (!r.ok) {
        expect(r.error).toContain("systemd is not running");
        expect(r.cause.name).toBe("SystemdUnavailableError");
      }
    }
  });

  test("on this host (no /run/systemd/system here): no-systemd", async () => {
    if (existsSync("/run/systemd/system")) return; // a systemd host: covered by the fake below
    expect(brief(await new SystemdAgent("ssh.service").monitor())).toBe("error:no-systemd");
  });

  test("with systemd (fake systemctl): start/stop/is-active and their mapping", async () => {
    const d = tmp();
    mkdirSync(join(d, "run/systemd/system"), { recursive: true });
    cpSync(join(fx, "bin/systemctl"), join(d, "systemctl"));
    const opts = { systemd: { run_dir: join(d, "run"), systemctl: join(d, "systemctl") } };
    const u = (name: string) => new SystemdAgent(name, opts);
    expect(brief(await u("web.service").start())).toBe("ok:running");
    expect(readFileSync(join(d, "argv.systemctl"), "utf8")).toBe("--no-ask-password\nstart\n--\nweb.service\n");
    expect(brief(await u("web.service").stop())).toBe("ok:stopped");
    expect(brief(await u("missing.service").start())).toBe("failed:not-installed");
    expect(brief(await u("running.service").monitor())).toBe("ok:running");
    expect(readFileSync(join(d, "argv.systemctl"), "utf8")).toBe("--no-ask-password\nis-active\n--\nrunning.service\n");
    expect(brief(await u("web.service").monitor())).toBe("ok:stopped");
    expect(brief(await u("failed.service").monitor())).toBe("failed:unit-failed");
    expect(brief(await u("activating.service").monitor())).toBe("failed:unit-pending");
  });

  test("unit names are checked", () => {
    expect(() => new SystemdAgent("-evil")).toThrow(AgentSpecError);
    expect(() => new SystemdAgent("a b.service")).toThrow(AgentSpecError);
    expect(() => new SystemdAgent("getty@tty1.service")).not.toThrow();
  });
});

describe("resolveResource", () => {
  const opts = () => ({ haDir: ha_dir, initDir: init_dir, ocfRoot: ocfRoot() });

  test("IP forms are the built-in IP, never scripts", async () => {
    for (const [name, args] of [
      ["IPaddr", ["10.0.0.10/24/eth0"]],
      ["IPaddr2", ["192.0.2.10"]],
      ["IPv6addr", ["2001:db8::10/64"]],
      ["192.0.2.10", []],
      ["192.0.2.10/26/eth0/192.0.2.63", []],
      ["2001:db8", ["10"]], // "2001:db8::10" split at its "::"
      ["::1", []],
    ] as [string, string[]][]) {
      const r = await resolveResource(name, args, opts());
      expect(`${name} ${r.kind}`).toBe(`${name} builtin-ip`);
    }
    expect(() => createAgent({ kind: "builtin-ip", name: "IPaddr", args: [] })).toThrow(/built-in IP/);
  });

  test("resource.d first, then init.d (Heartbeat's order)", async () => {
    const same = await resolveResource("same", ["a"], opts());
    expect(same).toEqual({ kind: "heartbeat", name: "same", path: join(ha_dir, "resource.d/same"), args: ["a"] });
    const lsb = await resolveResource("lsbsvc", [], opts());
    expect(lsb).toEqual({ kind: "lsb", name: "lsbsvc", path: join(init_dir, "lsbsvc"), args: [] });
    const r = await createAgent(same).monitor();
    expect(r.output).toBe("resource.d a status\n");
  });

  test("nothing found: an error naming every path looked at", async () => {
    for (const name of ["nosuch", "noexec"]) {
      const e = await resolveResource(name, [], opts()).catch((e: unknown) => e);
      expect(e).toBeInstanceOf(AgentNotFoundError);
      const nf = e as AgentNotFoundError;
      expect(nf.looked_in).toEqual([join(ha_dir, "resource.d", name), join(init_dir, name)]);
      expect(nf.message).toContain(join(ha_dir, "resource.d", name));
      expect(nf.message).toContain(join(init_dir, name));
    }
    const e = await resolveResource("ocf:tandem:Nope", [], opts()).catch((e: unknown) => e);
    expect(e).toBeInstanceOf(AgentNotFoundError);
    expect((e as Error).message).toContain("resource.d/tandem/Nope");
  });

  test("ocf:PROVIDER:TYPE with key=value arguments", async () => {
    const o = opts();
    const r = await resolveResource("ocf:tandem:Fake", ["dir=/tmp/x", "opt=a=b"], o);
    expect(r).toEqual({
      kind: "ocf",
      name: "ocf:tandem:Fake",
      provider: "tandem",
      type: "Fake",
      path: join(o.ocfRoot, "resource.d/tandem/Fake"),
      ocf_root: o.ocfRoot,
      params: { dir: "/tmp/x", opt: "a=b" },
    });
    expect(createAgent(r).kind).toBe("ocf");
    for (const [name, args] of [
      ["ocf:tandem:Fake", ["novalue"]],
      ["ocf:tandem:Fake", ["=x"]],
      ["ocf:tandem:Fake", ["a=1", "a=2"]],
      ["ocf:tandem:Fake", ["bad-key=1"]],
      ["ocf:tandem", []],
      ["ocf:../..:Fake", []],
      ["ocf:tandem:Fake:extra", []],
    ] as [string, string[]][]) {
      const e = await resolveResource(name, args, o).catch((e: unknown) => e);
      expect(`${name} ${args} ${(e as Error).name}`).toBe(`${name} ${args} AgentSpecError`);
    }
  });

  test("systemd:UNIT", async () => {
    expect(await resolveResource("systemd:nginx.service", [], opts())).toEqual({ kind: "systemd", name: "systemd:nginx.service", unit: "nginx.service" });
    await expect(resolveResource("systemd:nginx.service", ["x"], opts())).rejects.toThrow(AgentSpecError);
    await expect(resolveResource("systemd:", [], opts())).rejects.toThrow(AgentSpecError);
  });

  test("script names cannot leave the directories", async () => {
    for (const name of ["../../bin/sh", "/bin/sh", ".", "..", "a/b"]) {
      await expect(resolveResource(name, [], opts())).rejects.toThrow(AgentSpecError);
    }
  });
});
