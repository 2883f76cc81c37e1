// `tandem export pacemaker` against the real Pacemaker tools: the script runs
// through Debian's pcs 0.11 with full agent validation (no --force: IPaddr2,
// Dummy and fence_ipmilan are installed here), crm_verify checks the CIB,
// and crm_simulate (Pacemaker 2.1's scheduler on the file) shows the same
// placement tandem would make: each group on its preferred node, a dead
// node's group on the survivor, and with auto_failback off it stays there
// when the node comes back.
//
// The scheduler on a file CIB decides placement as a live cluster would, but
// runs no agents and no corosync membership: test/pacemaker/live.test.ts
// (./run pacemaker-live) applies the script to a live Corosync + Pacemaker
// pair in namespaces.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { exportPacemaker } from "../../src/export/pacemaker.ts";

const work = mkdtempSync(join(tmpdir(), "tandem-pcmk-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(argv: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const p = Bun.spawnSync(argv, { cwd: work, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

/** crm_simulate's "Revised Cluster Status": resource id -> node it is started on. */
function placement(out: string): Record<string, string> {
  const revised = out.slice(out.indexOf("Revised Cluster Status"));
  const where: Record<string, string> = {};
  for (const m of revised.matchAll(/^\s+\* (\S+)\s+\(\S+\):\s+Started (\S+)$/gm)) where[m[1]!] = m[2]!;
  return where;
}

function simulate(input: string, output: string, ...nodes: string[]): Record<string, string> {
  const r = run(["crm_simulate", "-x", input, "--quorum=true", ...nodes, "-S", "-O", output]);
  expect(r.code, r.out).toBe(0);
  return placement(r.out);
}

describe("pcs + Pacemaker 2.1 on the exported script", () => {
  const dir = join(work, "ha.d");
  Bun.spawnSync(["mkdir", "-p", dir]);
  writeFileSync(join(dir, "ha.cf"), [
    "node alice bob", "keepalive 100ms", "deadtime 1", "initdead 10", "ucast eth1 192.0.2.1", "ucast eth1 192.0.2.2", "auto_failback off",
    "fence alice fence_ipmilan ip=192.0.2.201 username=admin password=pw lanplus=1", "fence bob fence_ipmilan ip=192.0.2.202 username=admin password=pw", "",
  ].join("\n"));
  writeFileSync(join(dir, "authkeys"), "auth 1\n1 sha256 secret\n", { mode: 0o600 });
  writeFileSync(join(dir, "haresources"), "alice 192.0.2.50/24/eth1 ocf:heartbeat:Dummy::state=/run/tandem-d1\nbob 192.0.2.51/24/eth1 ocf:heartbeat:Dummy::state=/run/tandem-d2\n");
  const cib = join(work, "cib.xml");

  test("pcs -f builds the CIB with agent validation; crm_verify finds no configuration error", () => {
    const loaded = loadConfig({ dir });
    expect(loaded.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const r = exportPacemaker({ hacf: loaded.hacf!, haresources: loaded.haresources, dir });
    writeFileSync(join(work, "export.sh"), r.script);
    const applied = run(["sh", join(work, "export.sh"), cib]);
    expect(applied.code, applied.out).toBe(0);
    expect(applied.out).not.toMatch(/^Error/m);
    // A file CIB has no nodes: add the two, as corosync would.
    for (const [id, name] of [["1", "alice"], ["2", "bob"]]) {
      expect(run(["cibadmin", "-C", "-o", "nodes", "-X", `<node id="${id}" uname="${name}"/>`], { CIB_file: cib }).code).toBe(0);
    }
    const v = run(["crm_verify", "-V", "-x", cib]);
    // Without a running cluster the only complaints are about status (no quorum, unclean nodes), never the configuration.
    const complaints = v.out.split("\n").filter((l) => /error|warning/i.test(l) && !/quorum|unclean|Warnings found during check/.test(l));
    expect(complaints).toEqual([]);
    expect(v.out).not.toMatch(/error/i);
  }, 180_000);

  test("crm_simulate: preferred nodes, failover, no failback (auto_failback off)", () => {
    const up = simulate(cib, join(work, "s1.xml"), "--node-up", "alice", "--node-up", "bob");
    expect(up).toMatchObject({ "ip-192.0.2.50": "alice", dummy: "alice", "ip-192.0.2.51": "bob", "dummy-2": "bob" });
    // each fence device runs on the node it does not fence
    expect(up).toMatchObject({ "fence-alice-fence_ipmilan": "bob", "fence-bob-fence_ipmilan": "alice" });
    const down = simulate(join(work, "s1.xml"), join(work, "s2.xml"), "--node-down", "alice");
    expect(down).toMatchObject({ "ip-192.0.2.50": "bob", dummy: "bob", "ip-192.0.2.51": "bob", "dummy-2": "bob" });
    const back = simulate(join(work, "s2.xml"), join(work, "s3.xml"), "--node-up", "alice");
    expect(back).toMatchObject({ "ip-192.0.2.50": "bob", dummy: "bob" });
  }, 60_000);
});
