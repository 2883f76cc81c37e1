// DRBD 8.4 (Debian's stock kernel module) under tandem, on the appliance
// image in two TCG VMs (src/lab/appliance.ts): each VM has a second disk
// (/dev/vdb) that the seed (`disk=`) makes DRBD resource r0 over the direct
// cable; the group is the seed's
//   node1 drbddisk::r0 ocf:heartbeat:Filesystem::device=/dev/drbd0::directory=/srv/data::fstype=ext4
//         192.0.2.50/25/eth0 systemd:nfs-server systemd:smbd
// (Heartbeat's `Filesystem::/dev/drbd0::/data::ext4` needs Heartbeat's
// resource.d, which the image does not ship; the OCF agent is the same one.)
//
// The test: the cluster forms, node1 is Primary with /srv/data mounted and
// NFS + Samba serving it on the VIP (exportfs in the guest; the client
// connects to 2049 and 445 on the VIP: the host has no NFS/SMB client tools,
// so no client mount yet). Then only DRBD's cable (eth1, the direct link) is
// pulled on node1 while eth0 keeps both daemons in touch: node1's DRBD runs
// fence-peer, tandem asks node2's daemon over eth0 to outdate r0 (tandem's
// dopd, src/core/outdate.ts), node2's disk becomes Outdated, the handler
// exits 4 and node1 keeps serving (a write completes; with the seed's
// `fencing resource-and-stonith` its I/O would stay frozen otherwise); the
// cable back, DRBD resyncs node2 and both are UpToDate again. Then a file is
// written and synced; node1 loses power (SIGKILL
// of qemu); node2 promotes r0 (DRBD asks `tandem drbd-fence-peer`, which
// answers "peer dead, no fencing": exit 5), mounts it, takes the VIP, serves
// NFS and SMB again, and the file is there. Timings are printed, never
// asserted (TCG speed depends on the machine's load).
//
// Not in the CI slice (about 3 minutes on top of the image); `./run vm`
// (TANDEM_VM_FULL=1) or TANDEM_VM_DRBD=1 runs it.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureImage } from "../../image/build.ts";
import { ApplianceCluster, type NodeName, vip } from "../../src/lab/appliance.ts";
import { vmUnavailableReason } from "../../src/lab/vm.ts";
import { type StatusV2, validate } from "../../src/daemon/status_schema.ts";

const root = join(import.meta.dir, "../..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem");
const wanted = process.env.TANDEM_VM_FULL === "1" || process.env.TANDEM_VM_DRBD === "1";
const services = "systemd:nfs-server systemd:smbd";

function whyNot(): string | null {
  if (!wanted) return "set TANDEM_VM_FULL=1 (./run vm) or TANDEM_VM_DRBD=1";
  if (process.getuid?.() !== 0) return "not root (debootstrap, network namespaces)";
  const vm = vmUnavailableReason();
  if (vm) return vm;
  if (!existsSync(bin)) return `${bin} missing: run ./node_modules/.bin/bun run build.ts`;
  for (const t of ["debootstrap", "sfdisk", "qemu-img", "mkfs.ext4", "socat"]) {
    if (!Bun.which(t) && !existsSync(`/usr/sbin/${t}`) && !existsSync(`/sbin/${t}`)) return `${t} not found (./run setup installs it)`;
  }
  return null;
}
const why_not = whyNot();

function log(msg: string): void {
  process.stderr.write(`[vm-drbd] ${msg}\n`);
}

let c: ApplianceCluster | null = null;

/** r0's state in the guest, from /proc/drbd (a cross-check that does not use tandem's netlink code). */
async function procDrbd(n: NodeName): Promise<string> {
  return (await c!.vm(n).sh("sed -n '/^ 0:/p' /proc/drbd", { timeout_ms: 30_000, check: false })).out.trim();
}

/** `tandem status --json` in the guest: schema-valid, and its `drbd` section logged. */
async function tandemStatus(n: NodeName): Promise<StatusV2> {
  const st = (await c!.status(n)).raw as StatusV2;
  expect(validate(st)).toEqual([]);
  log(`${n} tandem status drbd: ${JSON.stringify(st.drbd)}`);
  return st;
}

/** /dev/drbd0 on /srv/data (a symlink to /var/srv/data in the image: /proc/mounts names the target). */
async function mounted(n: NodeName): Promise<boolean> {
  return (await c!.vm(n).sh("mountpoint -q /srv/data && grep -c '^/dev/drbd0 ' /proc/mounts", { timeout_ms: 30_000, check: false })).out.trim() === "1";
}

/** TCP connect from the client namespace to the VIP (socat; no NFS/SMB client tools on the host). */
async function clientConnects(port: number): Promise<boolean> {
  const r = await c!.nsRun(["socat", "-u", "-T", "2", `TCP:${vip}:${port},connect-timeout=2`, "OPEN:/dev/null"], 10_000);
  return r.code === 0;
}

/** n exports /srv/data (exportfs), and the client reaches NFS (2049) and SMB (445) on the VIP. */
async function serving(n: NodeName): Promise<boolean> {
  const exp = (await c!.vm(n).sh("exportfs -v", { timeout_ms: 30_000, check: false })).out;
  return exp.includes("/srv/data") && (await clientConnects(2049)) && (await clientConnects(445));
}

/**
 * Only DRBD's link breaks (eth1 on node1; tandem still hears node2 on eth0):
 * node1 (Primary) calls fence-peer, tandem outdates node2 through node2's
 * daemon, node1 keeps serving; the cable back, DRBD resyncs.
 */
async function outdateOverTandem(): Promise<void> {
  const before = { node1: await procDrbd("node1"), node2: await procDrbd("node2") };
  log(`before the cut: node1 ${before.node1}`);
  log(`before the cut: node2 ${before.node2}`);
  const fencing = (await c!.vm("node1").sh("grep -o 'fencing [a-z-]*' /etc/drbd.d/r0.res", { check: false })).out.trim();
  log(`node1 r0.res: ${fencing}`);
  await c!.vm("node1").setLink(1, false);
  const t_cut = performance.now();
  // node2 Outdated by its own daemon, on node2's word; node1 sees the peer Outdated (fence-peer exit 4)
  await c!.waitFor("node2's r0 Outdated", async () => (await procDrbd("node2")).includes("ds:Outdated/"), 120_000, 500);
  const outdated_ms = performance.now() - t_cut;
  await c!.waitFor("node1 sees its peer Outdated", async () => (await procDrbd("node1")).includes("ds:UpToDate/Outdated"), 120_000, 500);
  const peer_outdated_ms = performance.now() - t_cut;
  const during = { node1: await procDrbd("node1"), node2: await procDrbd("node2") };
  log(`eth1 cut on node1: node2 Outdated at ${Math.round(outdated_ms)} ms, node1 sees it at ${Math.round(peer_outdated_ms)} ms`);
  log(`during the cut: node1 ${during.node1}`);
  log(`during the cut: node2 ${during.node2}`);
  expect(during.node1).toContain("ro:Primary/Unknown");
  expect(during.node2).toContain("ro:Secondary/Unknown");
  // node2 is still up to tandem (eth0), and node1's groups never moved
  const st1 = await tandemStatus("node1");
  expect(st1.nodes.find((n) => n.name === "node2")?.state).toBe("up");
  expect(st1.drbd?.outdates).toEqual(expect.arrayContaining([expect.objectContaining({ resource: "r0", peer: "node2", direction: "asked", result: expect.stringMatching(/^(already_)?outdated$/) })]));
  const st2 = await tandemStatus("node2");
  expect(st2.drbd?.outdates).toEqual(expect.arrayContaining([expect.objectContaining({ resource: "r0", peer: "node1", direction: "served", result: expect.stringMatching(/^(already_)?outdated$/) })]));
  // node1 keeps serving: a write + fsync on /srv/data completes (in the background: a frozen
  // device would hang the console's shell, so the test waits on a marker instead)
  const t_write = performance.now();
  await c!.vm("node1").sh("rm -f /run/outdate-write-done; (echo written-during-the-cut > /srv/data/during-cut.txt && sync /srv/data/during-cut.txt && touch /run/outdate-write-done) >/dev/null 2>&1 &");
  await c!.waitFor("a write on node1's /srv/data completes while node2 is cut off", async () => (await c!.vm("node1").sh("test -e /run/outdate-write-done", { check: false })).code === 0, 60_000, 250);
  log(`write + fsync on node1 during the cut: ${Math.round(performance.now() - t_write)} ms`);
  expect(await serving("node1")).toBe(true);
  const j1 = (await c!.vm("node1").journal("-u tandem -b")).split("\n").filter((l) => /drbd_fence_peer|drbd_outdate/.test(l));
  for (const l of j1.slice(-8)) log(`node1 tandem: ${l}`);
  const j2 = (await c!.vm("node2").journal("-u tandem -b")).split("\n").filter((l) => /drbd_outdate/.test(l));
  for (const l of j2.slice(-8)) log(`node2 tandem: ${l}`);
  const k1 = (await c!.vm("node1").sh("dmesg | grep -E 'fence-peer|helper' | tail -6", { check: false })).out.trim();
  for (const l of k1.split("\n")) log(`node1 kernel: ${l}`);
  expect(k1).toMatch(/fence-peer.*(exit code 4|returned 4)/);
  expect(j2.some((l) => l.includes("drbd_outdate_done") && /result=(already_)?outdated/.test(l))).toBe(true);

  // the cable back: DRBD reconnects and resyncs node2 from node1
  await c!.vm("node1").setLink(1, true);
  const t_back = performance.now();
  await c!.waitFor("resync done (UpToDate/UpToDate on both)", async () => (await procDrbd("node1")).includes("ds:UpToDate/UpToDate") && (await procDrbd("node2")).includes("ds:UpToDate/UpToDate"), 300_000, 500);
  log(`cable back: both UpToDate ${Math.round(performance.now() - t_back)} ms later`);
  log(`after the resync: node1 ${await procDrbd("node1")}`);
  log(`after the resync: node2 ${await procDrbd("node2")}`);
  expect((await c!.vm("node1").sh("cat /srv/data/during-cut.txt")).out.trim()).toBe("written-during-the-cut");
}

if (why_not) {
  test.skip(`DRBD VM test skipped: ${why_not}`, () => {});
} else {
  afterAll(async () => {
    await c?.destroy();
  });

  describe("DRBD r0 under tandem in two appliance VMs", () => {
    test(
      "node1 Primary serving NFS and SMB from /srv/data; power loss; node2 promotes, mounts, serves the same file from the VIP",
      async () => {
        const image = ensureImage(bin);
        c = await ApplianceCluster.create({ image, services, replicated_disk_mb: 64 });
        let boot: Record<string, number>;
        try {
          boot = await c.boot();
        } catch (e) {
          for (const n of ["node1", "node2"] as const) log(`${n} seed journal:\n${await c.vm(n).journal("-u tandem-seed -b").catch((x) => String(x))}`);
          throw e;
        }
        log(`boot (both VMs at once): node1 ${Math.round(boot.node1!)} ms, node2 ${Math.round(boot.node2!)} ms`);
        const formed = await c.waitFormed();
        log(`cluster formed ${Math.round(formed)} ms after the boots`);
        expect((await c.vm("node1").sh("cat /etc/ha.d/haresources")).out).toContain("node1 drbddisk::r0 ocf:heartbeat:Filesystem");
        expect((await c.vm("node1").sh("tandem check --dir /etc/ha.d")).out).toContain("OK");

        // the group on node1: Primary, mounted, VIP, services
        let up_ms: number;
        try {
          up_ms = await c.waitFor("node1 Primary with /srv/data mounted and the VIP", async () => (await procDrbd("node1")).includes("ro:Primary/") && (await mounted("node1")) && (await c!.holdsVip("node1")), 240_000);
        } catch (e) {
          for (const n of ["node1", "node2"] as const) {
            log(`${n} /proc/drbd: ${await procDrbd(n)}`);
            log(`${n} journal (tandem-drbd-r0, tandem):\n${(await c.vm(n).journal("-u tandem-drbd-r0 -u tandem -b").catch((x) => String(x))).split("\n").slice(-60).join("\n")}`);
          }
          throw e;
        }
        log(`group up on node1 ${Math.round(up_ms)} ms after the cluster formed: ${await procDrbd("node1")}`);
        const sync_ms = await c.waitFor("initial sync done (UpToDate/UpToDate)", async () => (await procDrbd("node1")).includes("ds:UpToDate/UpToDate"), 600_000);
        log(`initial sync of 64 MiB finished ${Math.round(sync_ms)} ms later`);
        expect(await procDrbd("node2")).toContain("ro:Secondary/Primary");
        // tandem's own view over netlink, as `tandem status` shows it, agrees with /proc/drbd;
        // node2 holds no group (no monitor reads r0 there): its status request reads it
        const r0 = (st: StatusV2) => st.drbd?.resources.find((r) => r.name === "r0");
        const s1 = r0(await tandemStatus("node1"));
        expect(s1?.error ?? null).toBeNull();
        expect(s1?.volumes?.[0]).toMatchObject({ minor: 0, role: "Primary", peer_role: "Secondary", connection: "Connected", disk: "UpToDate", peer_disk: "UpToDate", io_suspended: false });
        const s2 = r0(await tandemStatus("node2"));
        expect(s2?.volumes?.[0]).toMatchObject({ role: "Secondary", peer_role: "Primary", connection: "Connected", disk: "UpToDate" });
        const table = (await c.vm("node1").sh("tandem status", { timeout_ms: 30_000 })).out;
        expect(table).toMatch(/^r0\s+0\s+Primary\/Secondary\s+Connected\s+UpToDate\/UpToDate\s/m);

        const payload = `written on node1 before the power loss ${Date.now()}`;
        await c.vm("node1").sh(`echo '${payload}' > /srv/data/before-kill.txt && sync /srv/data/before-kill.txt`);
        const served_ms = await c.waitFor("NFS export and SMB share on the VIP", () => serving("node1"), 120_000);
        log(`node1 exports /srv/data; the client connects to NFS and SMB on ${vip} (${Math.round(served_ms)} ms)`);

        await outdateOverTandem();

        // power loss of node1
        await c.vm("node1").kill();
        const t_kill = performance.now();
        const promoted = await c.waitFor("node2 Primary", async () => (await procDrbd("node2")).includes("ro:Primary/"), 120_000, 250);
        const promoted_ms = performance.now() - t_kill;
        await c.waitFor("node2 mounted /srv/data and holds the VIP", async () => (await mounted("node2")) && (await c!.holdsVip("node2")), 120_000, 250);
        const mounted_ms = performance.now() - t_kill;
        await c.waitFor("node2 serves NFS and SMB", () => serving("node2"), 180_000, 500);
        const serving_ms = performance.now() - t_kill;
        void promoted;
        log(`after node1's power loss: node2 Primary at ${Math.round(promoted_ms)} ms, mounted + VIP at ${Math.round(mounted_ms)} ms, export + client connects to NFS and SMB at ${Math.round(serving_ms)} ms`);
        log(`node2: ${await procDrbd("node2")}`);
        expect((await c.vm("node2").sh("cat /srv/data/before-kill.txt")).out.trim()).toBe(payload);
        // node2's status: Primary now, and DRBD's fence-peer call (made while promoting) recorded
        const after = await tandemStatus("node2");
        expect(r0(after)?.volumes?.[0]?.role).toBe("Primary");
        expect(after.drbd?.events.some((e) => e.resource === "r0" && e.event === "fence-peer" && e.peer === "node1")).toBe(true);

        // what tandem and DRBD logged on the way (the fence-peer answer, the role change)
        const journal = await c.vm("node2").journal("-u tandem");
        const lines = journal.split("\n").filter((l) => /drbd_|node_dead|resource_ok|resource_failed/.test(l));
        for (const l of lines.slice(-20)) log(`node2 tandem: ${l}`);
        const kernel = (await c.vm("node2").sh("dmesg | grep -E 'drbd r0|fence-peer|helper' | tail -12", { check: false })).out;
        for (const l of kernel.trim().split("\n")) log(`node2 kernel: ${l}`);
        expect(lines.some((l) => l.includes("drbd_role") && l.includes("role=primary"))).toBe(true);
      },
      1_200_000,
    );
  });
}
