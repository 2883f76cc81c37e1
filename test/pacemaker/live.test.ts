// Issue 10: the `tandem export pacemaker` script applied to a live
// Corosync 3 + Pacemaker 2.1 pair (Debian's packages), and the same
// haresources run by tandem, both in network namespaces.
//
// Each Pacemaker node is `unshare -m -p --fork --mount-proc` inside its own
// network namespace, with private tmpfs over /run, /dev/shm,
// /var/lib/pacemaker, /var/lib/corosync, /var/log/pacemaker and
// /etc/corosync: libqb IPC between pacemakerd's subdaemons and corosync uses
// /dev/shm plus abstract unix sockets, and abstract sockets belong to the
// network namespace, so two nodes coexist on one host. Corosync runs knet
// over 192.0.2.x with aes256/sha256 (a corosync-keygen key) and two_node: 1.
// SIGKILL of a node's `unshare` kills its PID namespace at once (corosync,
// pacemakerd and every subdaemon): a hard crash, and the cleanup path.
//
// The haresources has no fence devices, so the export itself sets
// stonith-enabled=false: without fencing Pacemaker recovers a lost node's
// group on the survivor, as tandem does without fence lines. (The dead
// node's namespace keeps its VIP: nothing powers it off. Fencing is covered
// by the file-CIB test in pacemaker.test.ts and tandem's fencing tests.)
// The only tuning added by the test is dc-deadtime=2s in the seed CIB
// (default 20 s before the first DC election), carried into the pushed CIB.
//
// Both systems get the same haresources (two groups, each a VIP, native in
// tandem and ocf:heartbeat:IPaddr2 in Pacemaker, and ocf:heartbeat:Dummy with
// its state file in the node's private /run) and the same story: both up, node1 SIGKILLed, node1 back (auto_failback off).
// Each step records where each group runs, from the VIP in `ip addr` of the
// node's namespace, Dummy's state file in the node's mount namespace and the
// system's own view (tandem status / crm_mon); the last test compares them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, type Proc, run, writeConfigDir } from "../../src/lab/netns.ts";
import { must_run, netnsAvailable, tandem } from "../integration/support.ts";

const vip_a = ipv4(0, 50);
const vip_b = ipv4(0, 51);
const state_a = "/run/tandem-live-a";
const state_b = "/run/tandem-live-b";
const haresources = [
  `node1 ${vip_a}/26/${ifaceName(0)} ocf:heartbeat:Dummy::state=${state_a}`,
  `node2 ${vip_b}/26/${ifaceName(0)} ocf:heartbeat:Dummy::state=${state_b}`,
  "",
].join("\n");
const ocf = "/usr/lib/ocf/resource.d/heartbeat";

/** Why the live Pacemaker test cannot run here, or null. */
function missing(): string | null {
  for (const t of ["corosync", "corosync-keygen", "corosync-cfgtool", "pacemakerd", "crm_mon", "cibadmin", "pcs", "unshare", "nsenter", "setpriv"]) {
    if (!Bun.which(t)) return `${t} is not installed (Debian: corosync, pacemaker, pcs, util-linux)`;
  }
  for (const a of ["Dummy", "IPaddr2"]) if (!existsSync(join(ocf, a))) return `${ocf}/${a} is missing (resource-agents)`;
  const id = Bun.spawnSync(["id", "-u", "hacluster"], { stdout: "pipe", stderr: "pipe" });
  if (id.exitCode !== 0) return "no hacluster user (created by the pacemaker package)";
  return null;
}

const why_not = missing();

/** Wall-clock bound of each wait; the whole file stays well under 90 s when things work. */
const pcmk_up_ms = 30_000;
const placement_ms = 40_000;
const failover_ms = 40_000;
const rejoin_ms = 40_000;
/** How long a "no failback" placement must hold after the node rejoined. */
const settle_ms = 4_000;

// The per-node wrapper: private mounts, then corosync, then pacemakerd, in the foreground.
const node_script = `#!/bin/sh
# $1: this node's directory (corosync.conf, authkey, cib.xml, logs)
set -eu
D=$1
for m in /run /dev/shm /var/lib/pacemaker /var/lib/corosync /var/log/pacemaker /etc/corosync; do
  mount -t tmpfs -o mode=0755,size=64m tmpfs "$m"
done
chmod 1777 /dev/shm
mkdir -p /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores \\
  /var/log/pacemaker/bundles /run/crm /run/resource-agents
cp "$D/cib.xml" /var/lib/pacemaker/cib/cib.xml
chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /run/crm
chmod 0750 /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores /run/crm
chmod 0600 /var/lib/pacemaker/cib/cib.xml
chmod 0770 /var/log/pacemaker
cp "$D/corosync.conf" /etc/corosync/corosync.conf
install -m 0400 "$D/authkey" /etc/corosync/authkey
corosync -f &
i=0
until corosync-cfgtool -s >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -le 150 ] || { echo "node.sh: corosync not answering after 15 s" >&2; exit 1; }
  sleep 0.1
done
echo "node.sh: corosync up, starting pacemakerd"
PCMK_logfile="$D/pacemaker.log" PCMK_logfacility=none pacemakerd -f &
wait
`;

function corosyncConf(c: Cluster): string {
  const nodes = c.nodes.map((h) => `  node {\n    ring0_addr: ${h.links[0]!.v4}\n    name: ${h.name}\n    nodeid: ${h.host}\n  }`).join("\n");
  return [
    "totem {",
    "  version: 2",
    "  cluster_name: tandem",
    "  transport: knet",
    "  crypto_cipher: aes256",
    "  crypto_hash: sha256",
    "  token: 1000",
    "}",
    "nodelist {",
    nodes,
    "}",
    "quorum {",
    "  provider: corosync_votequorum",
    "  two_node: 1",
    "}",
    "logging {",
    "  to_stderr: yes",
    "  to_syslog: no",
    "  to_logfile: no",
    "  timestamp: on",
    "}",
    "",
  ].join("\n");
}

/** PID of the process whose parent is `ppid` (the PID-namespace init under unshare --fork), or null. */
function childOf(ppid: number): number | null {
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid_here = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid_here === ppid) return Number(e);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

interface ResourceState {
  role: string;
  nodes: string[];
}

/** crm_mon --output-as=xml: primitive id -> role and the nodes it runs on; plus node online flags and the DC. */
function parseCrmMon(xml: string): { dc: boolean; online: Record<string, boolean>; resources: Record<string, ResourceState> } {
  const online: Record<string, boolean> = {};
  const nodes_block = /<nodes>([\s\S]*?)<\/nodes>/.exec(xml)?.[1] ?? "";
  for (const m of nodes_block.matchAll(/<node name="([^"]+)"[^>]*\bonline="(true|false)"/g)) online[m[1]!] = m[2] === "true";
  const resources: Record<string, ResourceState> = {};
  for (const m of xml.matchAll(/<resource id="([^"]+)"([^>]*?)(\/>|>([\s\S]*?)<\/resource>)/g)) {
    const role = /\brole="([^"]+)"/.exec(m[2]!)?.[1] ?? "?";
    const nodes = [...(m[4] ?? "").matchAll(/<node name="([^"]+)"/g)].map((n) => n[1]!);
    resources[m[1]!] = { role, nodes };
  }
  return { dc: /<current_dc present="true"/.test(xml), online, resources };
}

if (!netnsAvailable("test/pacemaker/live.test.ts")) {
  // skipped with the reason printed by netnsAvailable
} else if (why_not && must_run) {
  // `./run test` (CI) installs corosync, pacemaker and pcs: missing here is a setup failure
  test("test/pacemaker/live.test.ts: Corosync + Pacemaker are installed", () => {
    throw new Error(`the live Pacemaker test must run here (CI / TANDEM_REQUIRE_NETNS=1) but: ${why_not}`);
  });
} else if (why_not) {
  process.stderr.write(`\n[skip] test/pacemaker/live.test.ts: ${why_not}\n`);
  test.skip(`test/pacemaker/live.test.ts: skipped (${why_not})`, () => {});
} else {
  /** Where each group runs: group id -> node, from both systems, for the comparison. */
  const seen: Record<"tandem" | "pacemaker", { both_up?: Record<string, string>; node1_dead?: Record<string, string>; node1_back?: Record<string, string> }> = { tandem: {}, pacemaker: {} };

  describe("tandem with the haresources, in namespaces", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    // A private /run per node, as for the Pacemaker nodes: Dummy's state file is that node's own.
    const wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$@"', "sh", ...tandem.argv];

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      // Placement is compared here, not speed: a deadtime that a loaded CI machine cannot break by itself.
      const text = haCf(c, { keepalive_ms: 200, deadtime_ms: 2000, initdead_ms: 4000, auto_failback: "off" });
      for (const h of c.nodes) {
        d[h.name] = new LabDaemon(c, h, wrap);
        writeConfigDir(d[h.name]!.dir, text, authkeys("pcmk-live-secret"));
        writeFileSync(join(d[h.name]!.dir, "haresources"), haresources);
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
    }, 60_000);
    afterAll(async () => {
      await c?.destroy();
    }, 30_000);

    const hasIp = async (node: string, ip: string) => (await c.exec(c.node(node).ns, ["ip", "-4", "addr", "show"])).stdout.includes(`${ip}/26`);
    const hasFile = async (node: string, path: string) => {
      const pid = d[node]!.proc?.pid;
      return pid !== undefined && d[node]!.running && (await run(["nsenter", "-t", String(pid), "-m", "test", "-e", path])).code === 0;
    };
    /** group -> the one node whose daemon reports it running (asking the given live nodes), or null. */
    const placement = async (...nodes: string[]): Promise<Record<string, string> | null> => {
      const out: Record<string, string[]> = { a: [], b: [] };
      for (const n of nodes) {
        const st = (await d[n]!.tryStatus()) as { groups?: { id: string; state: string }[] } | null;
        if (!st?.groups || st.groups.length !== 2) return null;
        for (const g of st.groups) if (g.state === "running") out[g.id.startsWith(`${vip_a}/`) ? "a" : "b"]!.push(n);
      }
      return out.a!.length === 1 && out.b!.length === 1 ? { a: out.a![0]!, b: out.b![0]! } : null;
    };
    const dump = () => Object.values(d).map((x) => `--- ${x.name}\n${x.output.slice(-30).join("\n")}`).join("\n");

    test("each group on its preferred node: VIP in that namespace, Dummy state in that node's /run", async () => {
      const p = await until(async () => {
        const r = await placement("node1", "node2");
        return r && r.a === "node1" && r.b === "node2" && (await hasIp("node1", vip_a)) && (await hasIp("node2", vip_b)) ? r : null;
      }, 25_000);
      expect(p, dump()).toEqual({ a: "node1", b: "node2" });
      expect([await hasFile("node1", state_a), await hasFile("node2", state_b)]).toEqual([true, true]);
      expect([await hasIp("node2", vip_a), await hasIp("node1", vip_b), await hasFile("node2", state_a), await hasFile("node1", state_b)]).toEqual([false, false, false, false]);
      seen.tandem.both_up = p!;
    }, 40_000);

    test("node1 SIGKILLed: node2 runs both groups", async () => {
      d.node1!.kill("SIGKILL");
      expect(await d.node1!.proc!.wait(10_000)).toBe(true);
      const p = await until(async () => {
        const r = await placement("node2");
        return r && r.a === "node2" && r.b === "node2" && (await hasIp("node2", vip_a)) && (await hasFile("node2", state_a)) ? r : null;
      }, 25_000);
      expect(p, dump()).toEqual({ a: "node2", b: "node2" });
      seen.tandem.node1_dead = p!;
    }, 40_000);

    test("node1 back: it clears the address its killed run left, both groups stay on node2 (auto_failback off)", async () => {
      const from = d.node1!.events.length;
      await d.node1!.start();
      expect(await d.node1!.waitEvent({ event: "node_up", node: "node2" }, 10_000, from), dump()).not.toBeNull();
      expect(await until(async () => !(await hasIp("node1", vip_a)), 10_000), dump()).toBe(true);
      // held for a while, not just once
      let moved = false;
      const end = performance.now() + settle_ms;
      while (performance.now() < end) {
        if ((await hasIp("node1", vip_a)) || (await hasFile("node1", state_a))) moved = true;
        await Bun.sleep(250);
      }
      const p = await placement("node1", "node2");
      expect({ moved, p }, dump()).toEqual({ moved: false, p: { a: "node2", b: "node2" } });
      seen.tandem.node1_back = p!;
    }, 40_000);
  });

  describe("the export applied to a live Corosync 3 + Pacemaker 2.1 pair in namespaces", () => {
    let c: Cluster;
    let ha_dir = "";
    const procs: Record<string, Proc> = {};
    const dirs: Record<string, string> = {};

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      ha_dir = join(c.tmp, "ha.d");
      writeConfigDir(ha_dir, haCf(c, { keepalive_ms: 100, deadtime_ms: 600, auto_failback: "off" }), authkeys("pcmk-live-secret"));
      writeFileSync(join(ha_dir, "haresources"), haresources);
      const script = join(c.tmp, "node.sh");
      writeFileSync(script, node_script, { mode: 0o755 });
      const key = join(c.tmp, "authkey");
      const kg = await run(["corosync-keygen", "-l", "-k", key]);
      if (kg.code !== 0) throw new Error(`corosync-keygen: ${kg.stderr}`);
      // The seed CIB: empty but for dc-deadtime (the first election would otherwise wait 20 s).
      const seed = join(c.tmp, "seed.xml");
      const empty = await run(["cibadmin", "--empty"]);
      writeFileSync(seed, empty.stdout);
      const prop = Bun.spawnSync(["crm_attribute", "--type", "crm_config", "--name", "dc-deadtime", "--update", "2s"], { env: { ...process.env, CIB_file: seed }, stdout: "pipe", stderr: "pipe" });
      if (prop.exitCode !== 0) throw new Error(`crm_attribute on the seed CIB: ${prop.stderr.toString()}`);
      for (const h of c.nodes) {
        const dir = join(c.tmp, `pcmk-${h.name}`);
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, 0o777); // pacemaker's subdaemons (hacluster) write pacemaker.log here
        writeFileSync(join(dir, "corosync.conf"), corosyncConf(c));
        writeFileSync(join(dir, "authkey"), readFileSync(key), { mode: 0o400 });
        writeFileSync(join(dir, "cib.xml"), readFileSync(seed));
        dirs[h.name] = dir;
      }
      for (const h of c.nodes) {
        procs[h.name] = c.spawn(h.ns, ["unshare", "-m", "-p", "--fork", "--kill-child=SIGKILL", "--mount-proc", "sh", script, dirs[h.name]!]);
      }
    }, 60_000);
    afterAll(async () => {
      // SIGTERM/SIGKILL of unshare: its child (the PID-namespace init) gets SIGKILL, and with it every process of the node; the mounts go with the namespace.
      await c?.destroy(500);
    }, 30_000);

    /** Run inside the node's network + mount namespaces (those of the PID-namespace init under its unshare). */
    const inNode = async (node: string, argv: string[], timeout_ms = 15_000) => {
      const pid = procs[node]!.running ? childOf(procs[node]!.pid) : null;
      // not forked yet, or the node is down
      if (pid === null) return { code: -1, stdout: "", stderr: `${node}: no node process (unshare ${procs[node]!.running ? "has no child yet" : `exited ${procs[node]!.exit_code ?? procs[node]!.signal}`})`, timed_out: false };
      return run(["nsenter", "-t", String(pid), "-n", "-m", "--", ...argv], timeout_ms);
    };
    const mon = async (node: string) => {
      const r = await inNode(node, ["crm_mon", "-1", "--output-as=xml"], 10_000);
      return r.code === 0 ? parseCrmMon(r.stdout) : null;
    };
    const hasIp = async (node: string, ip: string) => (await c.exec(c.node(node).ns, ["ip", "-4", "addr", "show"])).stdout.includes(`${ip}/26`);
    const hasFile = async (node: string, path: string) => (await inNode(node, ["test", "-e", path])).code === 0;
    const dump = (): string => {
      let s = "";
      for (const [n, p] of Object.entries(procs)) s += `\n--- ${n} corosync/node.sh (last 15):\n${p.lines.slice(-15).join("\n")}`;
      for (const [n, dir] of Object.entries(dirs)) {
        const log = join(dir, "pacemaker.log");
        if (existsSync(log)) s += `\n--- ${n} pacemaker.log (errors, last 20):\n${readFileSync(log, "utf8").split("\n").filter((l) => /error|crit|warning/.test(l)).slice(-20).join("\n")}`;
      }
      return s;
    };
    /** dump() plus each live node's own view (`crm_mon -1 -r`: failed actions, pending ones), for a failure message. */
    const diag = async (): Promise<string> => {
      let s = "";
      for (const n of Object.keys(procs)) {
        const r = await inNode(n, ["crm_mon", "-1", "-r"], 10_000);
        s += `\n--- crm_mon on ${n}:\n${r.code === 0 ? r.stdout : r.stderr}`;
      }
      return s + dump();
    };
    /** toEqual, with diag() in the message only when it fails (crm_mon costs time under load). */
    const same = async (got: unknown, want: unknown): Promise<void> => {
      if (JSON.stringify(got) === JSON.stringify(want)) expect(got).toEqual(want);
      else expect(got, await diag()).toEqual(want);
    };
    /** group-a / group-b -> the node both members run on, when every member of both groups is Started on one node. */
    const where = (res: Record<string, ResourceState>): Record<string, string> | null => {
      const out: Record<string, string> = {};
      for (const [g, ids] of Object.entries({ a: [`ip-${vip_a}`, "dummy"], b: [`ip-${vip_b}`, "dummy-2"] })) {
        const n = ids.map((id) => (res[id]?.role === "Started" && res[id]!.nodes.length === 1 ? res[id]!.nodes[0]! : null));
        if (n[0] === null || n[0] !== n[1]) return null;
        out[g] = n[0];
      }
      return out;
    };

    test("corosync (knet, crypto) + pacemakerd on both nodes: both online, a DC elected", async () => {
      const t0 = performance.now();
      const ok = await until(async () => {
        const m = await mon("node1");
        return m && m.dc && m.online.node1 && m.online.node2 ? m : null;
      }, pcmk_up_ms, 500);
      if (!ok) expect(ok, await diag()).not.toBeNull();
      process.stderr.write(`  pacemaker: both nodes online with a DC ${(performance.now() - t0).toFixed(0)} ms after start\n`);
    }, pcmk_up_ms + 5_000);

    test("the export script on the live CIB, pushed with pcs cluster cib-push: each group on its preferred node", async () => {
      const ex = Bun.spawnSync([...tandem.argv, "export", "pacemaker", "--dir", ha_dir], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
      expect(ex.exitCode, ex.stderr.toString()).toBe(0);
      const script = ex.stdout.toString();
      // no fence lines in ha.cf -> the export disables stonith itself
      expect(script).toContain("property set stonith-enabled=false");
      const script_path = join(c.tmp, "export.sh");
      writeFileSync(script_path, script);
      const cib = join(c.tmp, "live-cib.xml");
      // `pcs cluster cib` inside the script reads the live CIB (nodes, dc-deadtime), then pcs -f edits the file
      const t0 = performance.now();
      const applied = await inNode("node1", ["sh", script_path, cib], 90_000);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      // it started from the live CIB: corosync's nodes are in it
      expect(readFileSync(cib, "utf8")).toMatch(/<node id="1" uname="node1"/);
      const t1 = performance.now();
      const pushed = await inNode("node1", ["pcs", "cluster", "cib-push", cib, "--config"], 30_000);
      expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
      const t2 = performance.now();

      const p = await until(async () => {
        const m = await mon("node2");
        const w = m && where(m.resources);
        return w && w.a === "node1" && w.b === "node2" && (await hasIp("node1", vip_a)) && (await hasIp("node2", vip_b)) ? w : null;
      }, placement_ms, 500);
      await same(p, { a: "node1", b: "node2" });
      // the agents really ran where crm_mon says, and only there
      expect([await hasFile("node1", state_a), await hasFile("node2", state_b)]).toEqual([true, true]);
      expect([await hasIp("node2", vip_a), await hasIp("node1", vip_b), await hasFile("node2", state_a), await hasFile("node1", state_b)]).toEqual([false, false, false, false]);
      expect((await inNode("node2", ["crm_mon", "-1", "--output-as=xml"])).stdout).toContain('stonith-enabled="false"');
      process.stderr.write(
        `  pacemaker: export script (pcs -f) ${(t1 - t0).toFixed(0)} ms, cib-push ${(t2 - t1).toFixed(0)} ms, both groups started ${(performance.now() - t2).toFixed(0)} ms after the push\n`,
      );
      seen.pacemaker.both_up = p!;
    }, 90_000 + 30_000 + placement_ms + 10_000);

    test("node1's corosync + pacemaker SIGKILLed: its group moves to node2", async () => {
      const killed = performance.now();
      procs.node1!.kill("SIGKILL");
      expect(await procs.node1!.wait(5000)).toBe(true);
      const p = await until(async () => {
        const m = await mon("node2");
        const w = m && m.online.node1 === false ? where(m.resources) : null;
        return w && w.a === "node2" && w.b === "node2" && (await hasIp("node2", vip_a)) && (await hasFile("node2", state_a)) ? w : null;
      }, failover_ms, 500);
      await same(p, { a: "node2", b: "node2" });
      process.stderr.write(`  pacemaker: group a on node2 ${(performance.now() - killed).toFixed(0)} ms after SIGKILL of node1 (corosync token 1000 ms)\n`);
      seen.pacemaker.node1_dead = p!;
    }, failover_ms + 10_000);

    test("node1 rebooted: it rejoins, both groups stay on node2 (auto_failback off -> stickiness 200 > location 100)", async () => {
      // Without fencing nothing powered node1 off: IPaddr2's address is still in its network namespace.
      // A reboot clears it (the tmpfs state went with the killed mount namespace).
      expect(await hasIp("node1", vip_a)).toBe(true);
      const del = await c.exec(c.node("node1").ns, ["ip", "addr", "del", `${vip_a}/26`, "dev", ifaceName(0)]);
      expect(del.code, del.stderr).toBe(0);
      procs.node1 = c.spawn(c.node("node1").ns, ["unshare", "-m", "-p", "--fork", "--kill-child=SIGKILL", "--mount-proc", "sh", join(c.tmp, "node.sh"), dirs.node1!]);
      const t0 = performance.now();
      const back = await until(async () => {
        const m = await mon("node2");
        return m && m.online.node1 && m.online.node2 ? m : null;
      }, rejoin_ms, 500);
      if (!back) expect(back, await diag()).not.toBeNull();
      const rejoined_ms = performance.now() - t0;
      // held for a while (node1's probes, the transition after the join), not just once
      let moved: string | null = null;
      const end = performance.now() + settle_ms;
      while (performance.now() < end && moved === null) {
        const m = await mon("node2");
        for (const [id, r] of Object.entries(m?.resources ?? {})) if (r.nodes.includes("node1")) moved = `${id} on node1`;
        if ((await hasIp("node1", vip_a)) || (await hasFile("node1", state_a))) moved = "group a's VIP or Dummy on node1";
        await Bun.sleep(500);
      }
      const m = await mon("node2");
      const p = m && where(m.resources);
      await same({ moved, p }, { moved: null, p: { a: "node2", b: "node2" } });
      process.stderr.write(`  pacemaker: node1 online again ${rejoined_ms.toFixed(0)} ms after its restart; groups held on node2 for ${settle_ms} ms\n`);
      seen.pacemaker.node1_back = p!;
    }, rejoin_ms + settle_ms + 20_000);

    test("the same groups run in the same places under tandem and under Pacemaker", () => {
      expect(seen.pacemaker).toEqual(seen.tandem);
      expect(seen.tandem).toEqual({ both_up: { a: "node1", b: "node2" }, node1_dead: { a: "node2", b: "node2" }, node1_back: { a: "node2", b: "node2" } });
    });
  });
}
