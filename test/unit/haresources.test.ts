// haresources: every form Heartbeat 3.0.6 reads, tandem's extensions, and
// every error with its exact file:line; the seeds' real haresources through
// loadConfig and `tandem check`.
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCheck } from "../../src/cli/check.ts";
import { type HaResourcesOptions, parseHaResources } from "../../src/config/haresources.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Diagnostic } from "../../src/config/types.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const fixtures = join(import.meta.dir, "../fixtures/config");
const freshDir = scratchDirs("tandem-haresources-");

const stub = "#!/bin/sh\nexit 0\n";
/** A config dir with resource.d scripts, and an init dir with LSB scripts. */
function hostDirs(ha_scripts: string[] = [], init_scripts: string[] = []): { dir: string; init_dir: string } {
  const dir = freshDir();
  const init_dir = freshDir();
  mkdirSync(join(dir, "resource.d"));
  for (const s of ha_scripts) writeFileSync(join(dir, "resource.d", s), stub, { mode: 0o755 });
  for (const s of init_scripts) writeFileSync(join(init_dir, s), stub, { mode: 0o755 });
  return { dir, init_dir };
}

const nodes = ["node1", "node2"];
const host = hostDirs(["datadisk", "Filesystem", "drbddisk", "OCF"], ["httpd", "samba", "nfs-kernel-server", "mysql", "Filesystem"]);
function parse(text: string | Uint8Array, opts: Partial<HaResourcesOptions> = {}) {
  return parseHaResources(text, "/etc/ha.d/haresources", { nodes, dir: host.dir, init_dir: host.init_dir, ...opts });
}
const errorsOf = (ds: Diagnostic[]) => ds.filter((d) => d.severity === "error");
const warningsOf = (ds: Diagnostic[]) => ds.filter((d) => d.severity === "warning");
const show = (ds: Diagnostic[]) => ds.map((d) => `${d.file}:${d.line}: ${d.severity}: ${d.message}`).join("\n");

/** Exactly these errors, in order: [line, part of the message]. */
function expectErrors(text: string, want: [number, string][], opts: Partial<HaResourcesOptions> = {}) {
  const r = parse(text, opts);
  const got = errorsOf(r.diagnostics);
  expect(got.map((d) => d.line), show(r.diagnostics)).toEqual(want.map(([l]) => l));
  want.forEach(([, part], i) => expect(got[i]!.message, show(r.diagnostics)).toContain(part));
  for (const d of got) expect(d.file).toBe("/etc/ha.d/haresources");
  return r;
}

function clean(text: string, opts: Partial<HaResourcesOptions> = {}) {
  const r = parse(text, opts);
  expect(errorsOf(r.diagnostics), show(r.diagnostics)).toEqual([]);
  return r;
}

function onlyGroup(text: string) {
  const r = clean(text);
  expect(r.resources.groups.length).toBe(1);
  return r.resources.groups[0]!;
}

describe("lines, comments, continuations", () => {
  test("one group per line; comments and blank lines skipped; a '#' cuts the rest of the line", () => {
    const r = clean("# resources\n\n   \nnode1 192.0.2.10 httpd # the web\n\t# indented comment\nnode2 192.0.2.11\tmysql\n");
    expect(r.resources.groups.map((g) => [g.id, g.preferred_node, g.line, g.resources.map((x) => x.raw)])).toEqual([
      ["192.0.2.10", "node1", 4, ["192.0.2.10", "httpd"]],
      ["192.0.2.11", "node2", 6, ["192.0.2.11", "mysql"]],
    ]);
    expect(r.diagnostics).toEqual([]);
  });
  test("`\\` continues a group; each resource keeps its own line", () => {
    const g = onlyGroup("node1 192.0.2.10 \\\n   datadisk::drbd0 \\\n   Filesystem::/dev/drbd0::/data::ext3 httpd\n");
    expect(g.resources.map((x) => [x.raw, x.line])).toEqual([["192.0.2.10", 1], ["datadisk::drbd0", 2], ["Filesystem::/dev/drbd0::/data::ext3", 3], ["httpd", 3]]);
    expect(g.line).toBe(1);
  });
  test("`\\` joins with nothing in between, as ResourceManager's sed does", () => {
    const g = onlyGroup("node1 Filesystem::/dev/sda1::\\\n/data::ext3\n");
    expect(g.resources[0]).toMatchObject({ raw: "Filesystem::/dev/sda1::/data::ext3", args: ["/dev/sda1", "/data", "ext3"], line: 1 });
  });
  test("a blank line ends a continuation", () => {
    const r = clean("node1 192.0.2.10 \\\n\nnode2 192.0.2.11\n");
    expect(r.resources.groups.map((g) => g.id)).toEqual(["192.0.2.10", "192.0.2.11"]);
  });
  test("CRLF lines read like LF lines", () => {
    const g = onlyGroup("node1 192.0.2.10 \\\r\n httpd\r\n");
    expect(g.resources.map((x) => x.raw)).toEqual(["192.0.2.10", "httpd"]);
  });
  test("`\\` followed by blanks does not continue (the suse tutorial slide): both lines get errors", () => {
    expectErrors("node1 192.0.2.10 \\ \nhttpd\n", [
      [1, "remove the blanks after the `\\`"],
      [2, "`httpd` is not a node in ha.cf (ha.cf declares node1, node2): the first word"],
    ]);
    const r = expectErrors("node1 192.0.2.10 \\ \nhttpd\n", [[1, "followed by blanks"], [2, "the `\\` of line 1 does not continue onto this line"]]);
    expect(r.resources.groups.map((g) => g.resources.map((x) => x.raw))).toEqual([["192.0.2.10"]]);
  });
  test("a '#' on a continuation line is refused: Heartbeat would run `#`", () => {
    expectErrors("node1 192.0.2.10 \\\n httpd # web\n", [[2, "put the comment on its own line above the group"]]);
    // The comment line is the continuation; ` httpd` then starts a group of its own, as in Heartbeat.
    expectErrors("node1 192.0.2.10 \\\n# a comment line\n httpd\n", [[2, "would take `#` and the words after it as resources"], [3, "`httpd` is not a node in ha.cf"]]);
  });
  test("`\\` on the last line", () => {
    expectErrors("node1 192.0.2.10 httpd \\", [[1, "no line follows: remove the `\\`"]]);
  });
});

describe("the preferred node", () => {
  test("must be a node of ha.cf, with a suggestion", () => {
    expectErrors("# x\nnode3 192.0.2.10\n", [[2, "`node3` is not a node in ha.cf; did you mean `node1`?"]]);
    expectErrors("alice 192.0.2.10\n", [[1, "`alice` is not a node in ha.cf (ha.cf declares node1, node2)"]]);
    expectErrors("192.0.2.10 httpd\n", [[1, "`192.0.2.10` is not a node in ha.cf"]]);
    expectErrors("no/de 192.0.2.10\n", [[1, "is not a node name"]]);
  });
  test("case is ignored as in Heartbeat, with a warning; the model uses ha.cf's spelling", () => {
    const r = clean("NODE1 192.0.2.10\n");
    expect(r.resources.groups[0]!.preferred_node).toBe("node1");
    expect(warningsOf(r.diagnostics).map((d) => [d.line, d.message])).toEqual([[1, "node `NODE1` is written `node1` in ha.cf: Heartbeat ignored case in node names and so does this file; write `node1` to match"]]);
  });
  test("without ha.cf's node list, nodes are not checked", () => {
    expect(clean("anyone 192.0.2.10\n", { nodes: null }).resources.groups[0]!.preferred_node).toBe("anyone");
  });
  test("an empty group is an error", () => {
    expectErrors("node1\nnode2 # nothing yet\n", [[1, "no resources"], [2, "no resources"]]);
  });
});

describe("IP resources", () => {
  const ip = (word: string) => onlyGroup(`node1 ${word}\n`).resources[0]!;
  test("bare IPv4 forms mean IPaddr::WORD", () => {
    expect(ip("192.0.2.10")).toMatchObject({ kind: "ip", name: "IPaddr", args: ["192.0.2.10"], ip: { family: 4, address: "192.0.2.10", prefixlen: null, ifname: null } });
    expect(ip("192.0.2.10/24").ip).toMatchObject({ prefixlen: 24, ifname: null });
    expect(ip("192.0.2.10/24/eth0").ip).toMatchObject({ prefixlen: 24, ifname: "eth0", broadcast: null });
    expect(ip("192.0.2.10/24/eth0/192.0.2.255").ip).toMatchObject({ prefixlen: 24, ifname: "eth0", broadcast: "192.0.2.255" });
    expect(ip("192.0.2.10/255.255.255.0/eth0:vip").ip).toMatchObject({ prefixlen: 24, ifname: "eth0", label: "eth0:vip" });
  });
  test("IPaddr::, IPaddr2::, IPv6addr::", () => {
    expect(ip("IPaddr::192.0.2.10/24/eth0")).toMatchObject({ kind: "ip", name: "IPaddr", args: ["192.0.2.10/24/eth0"], raw: "IPaddr::192.0.2.10/24/eth0" });
    expect(ip("IPaddr2::192.0.2.10/24/eth0")).toMatchObject({ kind: "ip", name: "IPaddr2", args: ["192.0.2.10/24/eth0"] });
    expect(ip("IPv6addr::2001:db8:0:0:0:0:0:10/64/eth0")).toMatchObject({ name: "IPv6addr", args: ["2001:db8:0:0:0:0:0:10/64/eth0"], ip: { family: 6, address: "2001:db8::10" } });
  });
  test("Heartbeat's sample form ADDRESS/NETMASK/BROADCAST: the third field is the broadcast", () => {
    expect(ip("IPaddr::135.9.8.7/24/135.9.8.210")).toMatchObject({ args: ["135.9.8.7/24//135.9.8.210"], ip: { ifname: null, broadcast: "135.9.8.210" } });
  });
  test("`::` inside an IPv6 address: read whole, with a warning that Heartbeat splits it", () => {
    const r = clean("node1 IPv6addr::2001:db8::10/64/eth0\n");
    expect(r.resources.groups[0]!.resources[0]).toMatchObject({ name: "IPv6addr", args: ["2001:db8::10/64/eth0"], ip: { family: 6, address: "2001:db8::10", prefixlen: 64, ifname: "eth0" } });
    expect(warningsOf(r.diagnostics).map((d) => [d.line, d.message])).toEqual([[1, expect.stringContaining("write the address in full form (no `::`)")]]);
  });
  test("a bare IPv6 address: IPv6addr, with a warning that Heartbeat cannot read it", () => {
    const r = clean("node1 2001:db8::10/64\n");
    expect(r.resources.groups[0]!.resources[0]).toMatchObject({ kind: "ip", name: "IPv6addr", args: ["2001:db8::10/64"], ip: { address: "2001:db8::10" } });
    expect(warningsOf(r.diagnostics)[0]!.message).toContain("Heartbeat would look for a script by that name");
  });
  test("bad addresses: errors with the line", () => {
    expectErrors("node1 httpd\nnode2 192.0.2.300\n", [[2, "is not an IPv4 or IPv6 address"]]);
    expectErrors("node1 224.0.0.5\n", [[1, "is a multicast address"]]);
    expectErrors("node1 192.0.2.10/33\n", [[1, "out of range"]]);
    expectErrors("node1 192.0.2.0/24\n", [[1, "network address"]]);
    expectErrors("node1 IPaddr\n", [[1, "IPaddr needs an address"]]);
    expectErrors("node1 IPaddr::192.0.2.10::24::eth0\n", [[1, "with `/` between the fields, not `::`"]]);
    expectErrors("node1 IPaddr2::192.0.2.10/24/this-name-is-too-long\n", [[1, "is not an interface name"]]);
  });
});

describe("scripts: resource.d, then the init directory", () => {
  test("resource.d first (heartbeat), then init.d (lsb); `::` arguments; drbddisk is built in even with a script", () => {
    const g = onlyGroup("node1 192.0.2.10 drbddisk::r0 Filesystem::/dev/drbd0::/srv::ext4 nfs-kernel-server samba\n");
    expect(g.resources.slice(1).map((x) => [x.kind, x.name, x.args, x.path])).toEqual([
      ["drbd", "drbddisk", ["r0"], undefined],
      ["heartbeat", "Filesystem", ["/dev/drbd0", "/srv", "ext4"], join(host.dir, "resource.d/Filesystem")],
      ["lsb", "nfs-kernel-server", [], join(host.init_dir, "nfs-kernel-server")],
      ["lsb", "samba", [], join(host.init_dir, "samba")],
    ]);
  });
  test("Heartbeat's OCF wrapper is just a resource.d script", () => {
    expect(onlyGroup("node1 OCF::IPaddr::vip\n").resources[0]).toMatchObject({ kind: "heartbeat", name: "OCF", args: ["IPaddr", "vip"] });
  });
  test("a script found nowhere: both paths, and a suggestion", () => {
    expectErrors("node1 192.0.2.10 \\\n  apache\n", [[2, `\`apache\`: no executable script ${host.dir}/resource.d/apache or ${host.init_dir}/apache`]]);
    expectErrors("node1 htpd\n", [[1, "did you mean `httpd`?"]]);
  });
  test("a script that is not executable is not found", () => {
    writeFileSync(join(host.init_dir, "noexec"), stub, { mode: 0o644 });
    expectErrors("node1 noexec\n", [[1, "no executable script"]]);
  });
  test("a bad name, an empty name, empty arguments", () => {
    expectErrors("node1 ../../bin/sh\n", [[1, "is not a script name"]]);
    expectErrors("node1 Filesystem2 ::/dev/sda1::/data::ext3\n", [[1, "no executable script"], [1, "no resource name before `::`"]]);
    const r = clean("node1 Filesystem::/dev/sda1::::ext3\n");
    expect(r.resources.groups[0]!.resources[0]!.args).toEqual(["/dev/sda1", "ext3"]);
    expect(warningsOf(r.diagnostics)[0]!.message).toContain("Heartbeat drops it");
  });
  test("resolve: false parses without looking at this host", () => {
    const r = clean("node1 whatever::x ocf:acme:Thing::a=1\n", { resolve: false });
    expect(r.resources.groups[0]!.resources.map((x) => [x.kind, x.name, x.path])).toEqual([["heartbeat", "whatever", undefined], ["ocf", "ocf:acme:Thing", undefined]]);
  });
});

describe("tandem extensions: ocf: and systemd:", () => {
  const ocf_root = freshDir();
  mkdirSync(join(ocf_root, "resource.d/heartbeat"), { recursive: true });
  writeFileSync(join(ocf_root, "resource.d/heartbeat/IPaddr2"), stub, { mode: 0o755 });
  test("ocf:PROVIDER:TYPE::key=value; a value may hold `::`", () => {
    const r = clean("node1 ocf:heartbeat:IPaddr2::ip=2001:db8::10::cidr_netmask=64::nic=eth0\n", { ocf_root });
    expect(r.resources.groups[0]!.resources[0]).toEqual({
      kind: "ocf",
      name: "ocf:heartbeat:IPaddr2",
      args: ["ip=2001:db8::10", "cidr_netmask=64", "nic=eth0"],
      params: { ip: "2001:db8::10", cidr_netmask: "64", nic: "eth0" },
      path: join(ocf_root, "resource.d/heartbeat/IPaddr2"),
      line: 1,
      raw: "ocf:heartbeat:IPaddr2::ip=2001:db8::10::cidr_netmask=64::nic=eth0",
    });
  });
  test("ocf errors", () => {
    expectErrors("node1 ocf:heartbeat::ip=1\n", [[1, "an OCF resource is `ocf:PROVIDER:TYPE`"]], { ocf_root });
    expectErrors("node1 ocf:heartbeat:IPaddr2::192.0.2.1\n", [[1, "is not key=value"]], { ocf_root });
    expectErrors("node1 ocf:heartbeat:IPaddr2::ip=1::ip=2\n", [[1, "parameter ip is given twice"]], { ocf_root });
    expectErrors("node1 ocf:heartbeat:Nope::a=1\n", [[1, `no executable OCF agent ${ocf_root}/resource.d/heartbeat/Nope`]], { ocf_root });
  });
  test("systemd:UNIT", () => {
    expect(onlyGroup("node1 systemd:nginx.service\n").resources[0]).toEqual({ kind: "systemd", name: "systemd:nginx.service", args: [], line: 1, raw: "systemd:nginx.service" });
    expectErrors("node1 systemd:\n", [[1, "is not a systemd unit name"]]);
    expectErrors("node1 systemd:nginx::x\n", [[1, "systemd units take no arguments"]]);
  });
});

describe("duplicates", () => {
  test("the same IP in two groups, however written", () => {
    expectErrors("node1 192.0.2.10 httpd\nnode2 IPaddr2::192.0.2.10/24/eth0 mysql\n", [[2, "is the same resource as `192.0.2.10` in group `192.0.2.10` (line 1)"]]);
  });
  test("the same script and arguments in two groups; other arguments are fine", () => {
    expectErrors("node1 192.0.2.10 Filesystem::/dev/sda1::/a\nnode2 192.0.2.11 \\\n Filesystem::/dev/sda1::/a\n", [[3, "a resource can belong to one group only"]]);
    clean("node1 192.0.2.10 Filesystem::/dev/sda1::/a\nnode2 192.0.2.11 Filesystem::/dev/sdb1::/b\n");
  });
  test("twice in one group", () => {
    expectErrors("node1 httpd 192.0.2.10 httpd\n", [[1, "earlier in this group (line 1)"]]);
  });
});

describe("per-group monitoring: `# tandem: monitor ...` above the group", () => {
  test("defaults when absent", () => {
    expect(onlyGroup("node1 192.0.2.10\n").monitor).toEqual({ interval_ms: 10_000, timeout_ms: 20_000, line: 0 });
  });
  test("set, off, interval=0; comments and blanks may stand between; next group gets defaults", () => {
    const r = clean("# tandem: monitor interval=5s timeout=1m\n# web\n\nnode1 192.0.2.10\nnode2 192.0.2.11\n#tandem: monitor off\nnode1 192.0.2.12\n# tandem: monitor interval=0 timeout=500ms\nnode2 192.0.2.13\n");
    expect(r.resources.groups.map((g) => g.monitor)).toEqual([
      { interval_ms: 5000, timeout_ms: 60_000, line: 1 },
      { interval_ms: 10_000, timeout_ms: 20_000, line: 0 },
      { interval_ms: 0, timeout_ms: 20_000, line: 6 },
      { interval_ms: 0, timeout_ms: 500, line: 8 },
    ]);
  });
  test("errors with their line", () => {
    expectErrors("# tandem: monitr interval=5\nnode1 192.0.2.10\n", [[1, "unknown directive `monitr`; did you mean `monitor`?"]]);
    expectErrors("# tandem: monitor intervall=5\nnode1 192.0.2.10\n", [[1, "did you mean `interval=`?"]]);
    expectErrors("# tandem: monitor interval=5x\nnode1 192.0.2.10\n", [[1, "interval=`5x` is not a time"]]);
    expectErrors("# tandem: monitor interval=100ms\nnode1 192.0.2.10\n", [[1, "below 1s"]]);
    expectErrors("# tandem: monitor timeout=1 timeout=2\nnode1 192.0.2.10\n", [[1, "timeout given twice"]]);
    expectErrors("node1 192.0.2.10 # tandem: monitor interval=5\n", [[1, "must be on a comment line of its own"]]);
    expectErrors("node1 192.0.2.10\n# tandem: monitor interval=5\n", [[2, "no resource group follows"]]);
    expectErrors("# tandem: monitor interval=5\n# tandem: monitor interval=6\nnode1 192.0.2.10\n", [[1, "no resource group follows before the next"]]);
  });
  test("a near miss warns; the group keeps the defaults", () => {
    const r = clean("# tandem monitor interval=5\nnode1 192.0.2.10\n");
    expect(warningsOf(r.diagnostics).map((d) => d.line)).toEqual([1]);
    expect(r.resources.groups[0]!.monitor.line).toBe(0);
  });
});

describe("hostile input never throws", () => {
  test("huge, binary, NUL, Latin-1, long lines", () => {
    expectErrors("x".repeat(1024 * 1024 + 1), [[0, "more than the 1048576 allowed"]]);
    const latin1 = new Uint8Array([...new TextEncoder().encode("node1 192.0.2.10\nnode2 caf"), 0xe9, 0x0a, ...new TextEncoder().encode("node2 a\0b\n")]);
    const r = parse(latin1);
    expect(errorsOf(r.diagnostics).map((d) => [d.line, d.message.slice(0, 20)])).toEqual([[2, "line is not valid UT"], [3, "line contains a NUL "]]);
    expectErrors(`node1 ${"y".repeat(5000)}\n`, [[1, "more than 4096"]]);
  });
  test("random bytes and mutated seeds: diagnostics only", () => {
    let a = 12345;
    const rnd = () => ((a = (a * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const alphabet = "node1 2 \\\n#:/.0123456789abcdefIPaddr::ocf:systemd:=\t\r tandem: monitor interval=";
    for (let i = 0; i < 500; i++) {
      const n = Math.floor(rnd() * 200);
      const text = Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("");
      const r = parse(text);
      for (const d of r.diagnostics) {
        expect(Number.isInteger(d.line) && d.line >= 0).toBe(true);
        expect(d.message.length).toBeGreaterThan(0);
      }
    }
    const junk = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    expect(() => parse(junk)).not.toThrow();
  });
});

// ---- the seeds, through loadConfig and the CLI ----------------------------------------

/** Copy a seed dir (ha.cf, authkeys 0600, haresources, resource.d/); its init.d stays where it is. */
function stageSeed(name: string): { dir: string; init_dir: string } {
  const src = join(fixtures, "seeds", name);
  const dir = freshDir();
  for (const f of ["ha.cf", "authkeys", "haresources"]) if (existsSync(join(src, f))) copyFileSync(join(src, f), join(dir, f));
  chmodSync(join(dir, "authkeys"), 0o600);
  if (existsSync(join(src, "resource.d"))) cpSync(join(src, "resource.d"), join(dir, "resource.d"), { recursive: true });
  return { dir, init_dir: join(src, "init.d") };
}

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCheck(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

describe("seeds: the articles' haresources", () => {
  const want: Record<string, [string, string, [string, string, string[]][]][]> = {
    "openintegra-drbd": [["193.68.121.200", "node1", [["ip", "IPaddr", ["193.68.121.200"]], ["heartbeat", "datadisk", ["drbd0"]], ["lsb", "httpd", []], ["lsb", "vsftpd", []]]]],
    "linux-magazine-nfs": [["192.168.0.200", "one", [["ip", "IPaddr", ["192.168.0.200"]], ["heartbeat", "Filesystem", ["/dev/sda1", "/data", "ext3"]], ["lsb", "nfslock", []], ["lsb", "nfs", []]]]],
    "suse-apache": [["192.168.1.20", "prime", [["ip", "IPaddr", ["192.168.1.20"]], ["lsb", "apache2", []]]]],
    "linuxjournal-ucast": [["192.168.223.24", "B", [["ip", "IPaddr", ["192.168.223.24"]], ["lsb", "mysql", []]]]],
    "suse-tutorial-drbd": [
      ["10.10.10.11", "node1", [["ip", "IPaddr", ["10.10.10.11"]], ["heartbeat", "datadisk", ["drbd0"]], ["heartbeat", "Filesystem", ["/dev/nb0", "/ha/apache", "reiserfs"]], ["lsb", "apache", []]]],
      ["10.10.10.12", "node2", [["ip", "IPaddr", ["10.10.10.12"]], ["heartbeat", "datadisk", ["drbd1"]], ["heartbeat", "Filesystem", ["/dev/nb1", "/ha/mysql", "ext3"]], ["lsb", "mysql", []]]],
    ],
  };
  for (const [name, groups] of Object.entries(want)) {
    test(name, async () => {
      const { dir, init_dir } = stageSeed(name);
      const loaded = loadConfig({ dir, init_dir });
      expect(errorsOf(loaded.diagnostics), show(loaded.diagnostics)).toEqual([]);
      expect(loaded.diagnostics.filter((d) => d.file.endsWith("haresources")), show(loaded.diagnostics)).toEqual([]);
      expect(loaded.haresources!.groups.map((g) => [g.id, g.preferred_node, g.resources.map((r) => [r.kind, r.name, r.args])])).toEqual(groups);
      const r = await cli(["--dir", dir, "--init-dir", init_dir]);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^${dir}: OK( \\(\\d+ warnings?\\))?$`, "m"));
      // Away from the cluster node (no such scripts there), check says where it looked.
      const away = await cli(["--dir", dir, "--init-dir", join(dir, "nowhere")]);
      expect(away.code).toBe(groups.flatMap((g) => g[2]).some((x) => x[0] === "lsb") ? 1 : 0);
    });
  }
  test("the seed without haresources: membership only, no error", () => {
    const { dir } = stageSeed("linuxjournal-bcast");
    const loaded = loadConfig({ dir });
    expect(errorsOf(loaded.diagnostics)).toEqual([]);
    expect(loaded.haresources).toBeNull();
  });
  test("the suse slide as printed: `\\ ` does not continue; exact file:line from check", async () => {
    const { dir, init_dir } = stageSeed("suse-tutorial-drbd");
    copyFileSync(join(fixtures, "haresources/suse-tutorial-original/haresources"), join(dir, "haresources"));
    const loaded = loadConfig({ dir, init_dir });
    expect(errorsOf(loaded.diagnostics).map((d) => [d.file, d.line])).toEqual([
      [`${dir}/haresources`, 1],
      [`${dir}/haresources`, 3],
      [`${dir}/haresources`, 5],
      [`${dir}/haresources`, 6],
    ]);
    expect(loaded.haresources).toBeNull();
    const r = await cli(["--dir", dir, "--init-dir", init_dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${dir}/haresources:1: error: the line ends with \`\\\` followed by blanks`);
    expect(r.stdout).toContain(`${dir}/haresources:3: error: \`Filesystem::/dev/nb0::/ha/apache::reiser...\` is not a node name`);
    expect(r.stdout.trimEnd().split("\n").pop()).toMatch(new RegExp(`^${dir}: 4 errors`));
  });
  test("a wrong node name through check: file:line and did you mean", async () => {
    const { dir, init_dir } = stageSeed("suse-apache");
    writeFileSync(join(dir, "haresources"), "# x\nprim 192.168.1.20 apache2\n");
    const r = await cli(["--dir", dir, "--init-dir", init_dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${dir}/haresources:2: error: \`prim\` is not a node in ha.cf; did you mean \`prime\`?`);
  });
  test("haresources that is a directory: an error at line 0", () => {
    const { dir } = stageSeed("suse-apache");
    rmSync(join(dir, "haresources"));
    mkdirSync(join(dir, "haresources"));
    const loaded = loadConfig({ dir });
    expect(errorsOf(loaded.diagnostics).map((d) => [d.file, d.line, d.message])).toEqual([[`${dir}/haresources`, 0, expect.stringContaining("not a regular file")]]);
  });
  test("check's usage names the new options", async () => {
    const r = await cli(["--init-dir"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--init-dir DIR");
  });
});
