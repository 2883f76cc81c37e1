// `tandem export pacemaker` on the seeds' real configurations: what each
// haresources line and ha.cf directive becomes in the pcs script. The script
// is also checked by `sh -n`; test/integration/pacemaker.test.ts runs it
// through real pcs and Pacemaker.
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, cpSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { stonithParamNames } from "../../src/cli/export.ts";
import { exportPacemaker, pcmkId, shq } from "../../src/export/pacemaker.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const seeds = join(import.meta.dir, "../fixtures/config/seeds");
const scratch = scratchDirs("tandem-export-");

function stage(name: string): { dir: string; init_dir: string } {
  const src = join(seeds, name);
  const dir = scratch();
  for (const f of ["ha.cf", "authkeys", "haresources"]) if (existsSync(join(src, f))) copyFileSync(join(src, f), join(dir, f));
  chmodSync(join(dir, "authkeys"), 0o600);
  if (existsSync(join(src, "resource.d"))) cpSync(join(src, "resource.d"), join(dir, "resource.d"), { recursive: true });
  return { dir, init_dir: join(src, "init.d") };
}

function exported(name: string) {
  const { dir, init_dir } = stage(name);
  const loaded = loadConfig({ dir, init_dir });
  expect(loaded.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return exportPacemaker({ hacf: loaded.hacf!, haresources: loaded.haresources, dir, stonith_params: stonithParamNames, read_stonith_file: () => null });
}

function shellSyntaxOk(script: string): void {
  const p = Bun.spawnSync(["sh", "-n"], { stdin: new TextEncoder().encode(script), stderr: "pipe" });
  expect(p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
}

describe("export pacemaker: seeds", () => {
  test("openintegra-drbd: IPaddr2, DRBD promotable clone under the group, LSB, failback on, no fencing", () => {
    const r = exported("openintegra-drbd");
    shellSyntaxOk(r.script);
    expect(r.groups).toEqual([
      { id: "grp-193.68.121.200", node: "node1", members: [
        { id: "ip-193.68.121.200", agent: "ocf:heartbeat:IPaddr2" },
        { id: "httpd", agent: "lsb:httpd" },
        { id: "vsftpd", agent: "lsb:vsftpd" },
      ] },
    ]);
    expect(r.script).toContain("resource create $PCS_FORCE drbd-drbd0 ocf:linbit:drbd drbd_resource=drbd0");
    expect(r.script).toContain("promotable");
    expect(r.script).toContain("constraint colocation add grp-193.68.121.200 with Promoted drbd-drbd0-clone INFINITY");
    expect(r.script).toContain("constraint order promote drbd-drbd0-clone then start grp-193.68.121.200");
    expect(r.script).toContain("constraint location grp-193.68.121.200 prefers node1=100");
    expect(r.script).toContain("resource defaults update resource-stickiness=0");
    expect(r.script).toContain("property set stonith-enabled=false");
    expect(r.stonith).toEqual([]);
    // the group's members in haresources order
    const order = ["ip-193.68.121.200 ", "httpd lsb:httpd", "vsftpd lsb:vsftpd"].map((s) => r.script.indexOf(s));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  test("linux-magazine-nfs: Filesystem params; stonith with an unreadable file is a FIXME and a warning", () => {
    const r = exported("linux-magazine-nfs");
    shellSyntaxOk(r.script);
    expect(r.script).toContain("fs-data ocf:heartbeat:Filesystem device=/dev/sda1 directory=/data fstype=ext3");
    expect(r.script).toContain("prefers one=100");
    expect(r.script).toContain("property set stonith-enabled=true");
    expect(r.script).toMatch(/^# FIXME \(ha\.cf line \d+\): .*apcmastersnmp/m);
    expect(r.warnings.join("\n")).toContain("apcmastersnmp");
  });

  test("suse-tutorial-drbd: two groups, each on its node, auto_failback off -> stickiness above the location score", () => {
    const r = exported("suse-tutorial-drbd");
    shellSyntaxOk(r.script);
    expect(r.groups.map((g) => [g.id, g.node])).toEqual([["grp-10.10.10.11", "node1"], ["grp-10.10.10.12", "node2"]]);
    expect(r.script).toContain("resource-stickiness=200");
    expect(r.script).toContain("fs-ha-mysql ocf:heartbeat:Filesystem device=/dev/nb1 directory=/ha/mysql fstype=ext3");
    // stonith_host node1 rps10 ... -> a device that fences node2 and never runs there
    if (stonithParamNames("rps10") !== null) {
      expect(r.stonith).toEqual([
        { id: "stonith-rps10-node1", agent: "rps10", target: "node2" },
        { id: "stonith-rps10-node2", agent: "rps10", target: "node1" },
      ]);
      expect(r.script).toContain("'serial_to_targets=/dev/ttyS1 node2 0' pcmk_host_list=node2");
      expect(r.script).toContain("constraint location stonith-rps10-node1 avoids node2");
    }
  });

  test("every seed exports a script sh accepts", () => {
    for (const name of ["linuxjournal-ucast", "suse-apache"]) shellSyntaxOk(exported(name).script);
  });
});

describe("export pacemaker: tandem's own directives", () => {
  const dir = scratch();
  writeFileSync(join(dir, "ha.cf"), [
    "node alice bob", "keepalive 100ms", "deadtime 1", "initdead 10", "ucast eth1 192.0.2.1", "ucast eth1 192.0.2.2", "auto_failback on",
    "fence alice fence_ipmilan ip=192.0.2.201 username=admin password=se$cret lanplus=1", "fence bob fence_ipmilan ip=192.0.2.202 username=admin password=pw action=off",
    "fence bob manual", "fence_timeout 30", "fence_delay 7", "wait_for_all off", "",
  ].join("\n"));
  writeFileSync(join(dir, "authkeys"), "auth 1\n1 sha256 secret\n", { mode: 0o600 });
  writeFileSync(join(dir, "haresources"), "# tandem: monitor interval=5s timeout=15s\nbob 2001:db8::50/64/eth1 ocf:heartbeat:Dummy::state=/run/d.state systemd:nginx.service\n");
  const loaded = loadConfig({ dir, ocf_root: "/usr/lib/ocf" });
  if (loaded.hacf === null) throw new Error(JSON.stringify(loaded.diagnostics));
  const r = exportPacemaker({ hacf: loaded.hacf!, haresources: loaded.haresources, dir });

  test("fence lines -> stonith devices with pcmk_host_list, avoid their target; action pinned; manual -> stonith_admin --confirm", () => {
    shellSyntaxOk(r.script);
    expect(r.stonith).toEqual([
      { id: "fence-alice-fence_ipmilan", agent: "fence_ipmilan", target: "alice" },
      { id: "fence-bob-fence_ipmilan", agent: "fence_ipmilan", target: "bob" },
    ]);
    expect(r.script).toContain("stonith create $PCS_FORCE fence-alice-fence_ipmilan fence_ipmilan ip=192.0.2.201 username=admin 'password=se$cret' lanplus=1 pcmk_host_list=alice");
    expect(r.script).toContain("pcmk_reboot_action=off pcmk_host_list=bob");
    expect(r.script).toContain("constraint location fence-alice-fence_ipmilan avoids alice");
    expect(r.script).toContain("stonith_admin --confirm bob");
    expect(r.script).toContain("property set stonith-timeout=30s");
    expect(r.script).toContain("property set priority-fencing-delay=7s");
    expect(r.script).toContain("quorum wait_for_all=0");
  });
  test("IPv6 -> IPv6addr, OCF params, systemd unit, monitor from `# tandem: monitor`", () => {
    expect(r.script).toContain("ocf:heartbeat:IPv6addr ipv6addr=2001:db8::50 cidr_netmask=64 nic=eth1");
    expect(r.script).toContain("dummy ocf:heartbeat:Dummy state=/run/d.state --no-default-ops op monitor interval=5s timeout=15s");
    expect(r.script).toContain("nginx systemd:nginx.service");
    expect(r.script).toContain("resource-stickiness=0");
  });
});

describe("ids and quoting", () => {
  test("pcmkId makes XML-safe ids that do not start with a digit", () => {
    expect(pcmkId("192.0.2.1")).toBe("r_192.0.2.1");
    expect(pcmkId("grp-a b/c")).toBe("grp-a_b_c");
  });
  test("shq quotes what the shell would split or expand", () => {
    expect(shq("a=b")).toBe("a=b");
    expect(shq("a b")).toBe("'a b'");
    expect(shq("it's")).toBe("'it'\\''s'");
    expect(shq("$x")).toBe("'$x'");
  });
});
