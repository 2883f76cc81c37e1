// ha.cf's fencing directives: tandem's `fence NODE AGENT key=value...`,
// `fence_timeout`, `fence_delay`, `wait_for_all`, and the host checks that
// warn when an agent or a cluster-glue plugin is missing.
import { describe, expect, test } from "bun:test";
import { checkHaCf } from "../../src/config/hacf.ts";
import { findFenceAgent, hostChecks, stonithTypeInstalled } from "../../src/config/host.ts";
import type { Diagnostic } from "../../src/config/types.ts";

const base = "node node1 node2\nucast eth1 192.0.2.1\nucast eth1 192.0.2.2\nauto_failback off\n";
const base_lines = base.split("\n").length - 1;

function check(extra: string, self_node?: string) {
  return checkHaCf(base + extra, "/etc/ha.d/ha.cf", self_node === undefined ? {} : { self_node });
}
const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === "error");
const show = (ds: Diagnostic[]) => ds.map((d) => `${d.line}: ${d.severity}: ${d.message}`).join("\n");

/** Exactly one error, on the given line of `extra` (1-based), containing every part. */
function expectError(extra: string, line: number, ...parts: string[]) {
  const { config, diagnostics } = check(extra);
  const es = errors(diagnostics);
  expect(es.length, show(diagnostics)).toBe(1);
  expect(es[0]!.line, show(diagnostics)).toBe(base_lines + line);
  for (const p of parts) expect(es[0]!.message, show(diagnostics)).toContain(p);
  expect(config).toBeNull();
}

describe("fence NODE AGENT key=value ...", () => {
  test("a fence-agents line keeps its pairs in order", () => {
    const { config, diagnostics } = check("fence node2 fence_ipmilan ip=192.0.2.130 username=admin password=s3cr=t lanplus=1\n");
    expect(errors(diagnostics), show(diagnostics)).toEqual([]);
    expect(config!.fence_devices).toEqual([
      {
        target: "node2",
        kind: "fence_agent",
        agent: "fence_ipmilan",
        params: [["ip", "192.0.2.130"], ["username", "admin"], ["password", "s3cr=t"], ["lanplus", "1"]],
        line: base_lines + 1,
      },
    ]);
  });
  test("manual, meatware and stonith; several lines for one node stay in file order", () => {
    const { config, diagnostics } = check(
      "fence node2 fence_ipmilan ip=192.0.2.130 username=admin password=x\nfence node2 stonith external/ssh hostlist=node2\nfence node2 manual\nfence node1 meatware\n",
    );
    expect(errors(diagnostics), show(diagnostics)).toEqual([]);
    expect(config!.fence_devices.map((f) => [f.target, f.kind, f.agent, f.params])).toEqual([
      ["node2", "fence_agent", "fence_ipmilan", [["ip", "192.0.2.130"], ["username", "admin"], ["password", "x"]]],
      ["node2", "stonith", "external/ssh", [["hostlist", "node2"]]],
      ["node2", "manual", "manual", []],
      ["node1", "manual", "manual", []],
    ]);
  });
  test("action=off|reboot pins the device's action and is not passed on", () => {
    const { config } = check("fence node2 stonith external/ssh hostlist=node2 action=reboot\n");
    expect(config!.fence_devices[0]).toMatchObject({ action: "reboot", params: [["hostlist", "node2"]] });
  });
  test("a full path to a fence_* program is accepted", () => {
    const { config } = check("fence node2 /opt/fence/fence_custom ip=192.0.2.9\n");
    expect(config!.fence_devices[0]).toMatchObject({ kind: "fence_agent", agent: "/opt/fence/fence_custom" });
  });
  test("a line for this node itself is accepted: the same ha.cf serves both nodes, the peer uses it", () => {
    const { diagnostics } = check("fence node1 manual\nfence node2 manual\n", "node1");
    expect(errors(diagnostics), show(diagnostics)).toEqual([]);
  });

  test("bad lines: file:line and the fix", () => {
    expectError("fence node2\n", 1, "needs a node and an agent", "fence node2 manual");
    expectError("fence node3 manual\n", 1, "`node3` is not a declared node", "add `node node3`");
    expectError("fence NODE2 manual\n", 1, "write `node2` as the `node` line spells it");
    expectError("fence node2 ipmilan ip=1\n", 1, "`ipmilan` is not a fence agent", "fence_ipmilan");
    expectError("fence node2 ip=192.0.2.1 fence_ipmilan\n", 1, "the agent comes before the key=value pairs");
    expectError("fence node2 fence_ipmilan ip=192.0.2.1 lanplus\n", 1, "`lanplus` is not key=value", "`lanplus=1`");
    expectError("fence node2 fence_ipmilan ip=1 ip=2\n", 1, "`ip` is given twice");
    expectError("fence node2 fence_ipmilan =1\n", 1, "is not a parameter name");
    expectError("fence node2 fence_ipmilan action=on\n", 1, "`action=off` or `action=reboot` only");
    expectError("fence node2 manual ip=1\n", 1, "takes no parameters", "tandem fence-confirm node2");
    expectError("fence node2 stonith\n", 1, "needs a cluster-glue device type", "stonith -L");
    expectError("fence node2 stonith hostlist=node2\n", 1, "needs a cluster-glue device type");
    expectError("fence node2 stonith ../../bin/sh\n", 1, "is not a cluster-glue device type");
    expectError("fence bad/name manual\n", 1, "is not a node name");
  });
  test("junk never throws and every error names a line", () => {
    for (const junk of ["fence", "fence \u0001 \u0002", `fence node2 fence_x ${"k=v ".repeat(200)}`, "fence node2 fence_ipmilan a=b=c=d", "fence node2 stonith external/"]) {
      const { diagnostics } = check(`${junk}\n`);
      for (const d of errors(diagnostics)) expect(d.line).toBeGreaterThan(0);
    }
  });
});

describe("fence_timeout, fence_delay, wait_for_all", () => {
  test("defaults", () => {
    const { config } = check("");
    expect(config).toMatchObject({ fence_devices: [], fence_timeout_ms: 60_000, fence_delay_ms: 5_000, wait_for_all: true });
  });
  test("Heartbeat time forms and booleans", () => {
    const { config, diagnostics } = check("fence_timeout 30\nfence_delay 1500ms\nwait_for_all off\n");
    expect(errors(diagnostics), show(diagnostics)).toEqual([]);
    expect(config).toMatchObject({ fence_timeout_ms: 30_000, fence_delay_ms: 1500, wait_for_all: false });
    expect(check("fence_delay 0\n").config!.fence_delay_ms).toBe(0);
  });
  test("bad values", () => {
    expectError("fence_timeout 30s\n", 1, "`s`/`sec` does not");
    expectError("fence_timeout 500ms\n", 1, "less than 1000 ms");
    expectError("fence_delay\n", 1, "needs a value", "fence_delay 5");
    expectError("wait_for_all maybe\n", 1, "is not a boolean");
    expectError("fence_timeout 10\nfence_timeout 20\n", 2, "given twice");
  });
});

describe("host checks: missing agents and plugins are warnings (tandem check may run elsewhere)", () => {
  test("installed fence-agents and cluster-glue plugins are found", () => {
    expect(findFenceAgent("fence_ipmilan")).toBe("/usr/sbin/fence_ipmilan");
    expect(stonithTypeInstalled("external/ssh")).toBe(true);
    expect(stonithTypeInstalled("apcmaster")).toBe(true);
    expect(stonithTypeInstalled("external/nope")).toBe(false);
  });
  test("a missing agent or plugin is a warning on its line", () => {
    const { config } = check("fence node2 fence_nope ip=1\nfence node2 stonith external/nope hostlist=node2\nstonith_host * nope2 a b\n");
    const ws = hostChecks(config!);
    expect(ws.map((d) => [d.severity, d.line - base_lines])).toEqual([
      ["warning", 1],
      ["warning", 2],
      ["warning", 3],
    ]);
    expect(ws[0]!.message).toContain("fence_nope is not installed on this host (looked in /usr/sbin");
    expect(ws[1]!.message).toContain("no device type `external/nope`");
  });
});
