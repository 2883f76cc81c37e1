// Maintenance reboots of a DRBD node under `fencing resource-and-stonith`
// (issue 8), on the appliance image in two TCG VMs with BMCs (fence lines in
// the seeds, as shipped): node1 Primary serving /srv/data, node2 Secondary.
//
// 1. node2 (Secondary) `systemctl reboot`: its tandem leaves gracefully, then
//    the seed's tandem-drbd-r0 unit runs `drbdadm down r0` (ExecStop): node2
//    disconnects cleanly, outdating its own disk, as DRBD 8.4's
//    conn_try_disconnect does when the Primary refuses a plain disconnect
//    (SS_CW_FAILED_BY_PEER). node1 then sees its peer Outdated, needs no
//    fence-peer and never freezes I/O. Without that, node2's kernel went down
//    with r0 connected, node1's DRBD ran fence-peer against a node that tandem
//    saw leave (no fence due), and node1's I/O stayed frozen until node2's
//    DRBD came back.
// 2. node1 (Primary) `systemctl reboot`: tandem stops the group (unmount,
//    demote), node2 takes it (promote while node1 is Secondary), then node1's
//    r0 goes down cleanly; node2 keeps writing.
// In both: a loop on the serving node writes + fsyncs a line to /srv/data
// every 0.5 s; the longest write is bounded (20 s: a functional bound, TCG
// speed is not asserted), no write hangs, the serving node's kernel logs no
// fence-peer call that was not answered at once, the rebooted node comes back,
// resyncs and both are UpToDate.
//
// Not in the CI slice (about 10 minutes under TCG); `./run vm`
// (TANDEM_VM_FULL=1) or TANDEM_VM_DRBD_REBOOT=1 runs it.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureImage } from "../../image/build.ts";
import { ApplianceCluster, type NodeName } from "../../src/lab/appliance.ts";
import { vmUnavailableReason } from "../../src/lab/vm.ts";

const root = join(import.meta.dir, "../..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem");
const wanted = process.env.TANDEM_VM_FULL === "1" || process.env.TANDEM_VM_DRBD_REBOOT === "1";
/** the longest write + fsync allowed on the serving node while its peer reboots (functional, generous) */
const write_bound_s = 20;

function whyNot(): string | null {
  if (!wanted) return "set TANDEM_VM_FULL=1 (./run vm) or TANDEM_VM_DRBD_REBOOT=1";
  if (process.getuid?.() !== 0) return "not root (debootstrap, network namespaces)";
  const vm = vmUnavailableReason();
  if (vm) return vm;
  if (!existsSync(bin)) return `${bin} missing: run ./node_modules/.bin/bun run build.ts`;
  for (const t of ["debootstrap", "sfdisk", "qemu-img", "mkfs.ext4", "socat", "ipmi_sim", "ipmitool"]) {
    if (!Bun.which(t) && !existsSync(`/usr/sbin/${t}`) && !existsSync(`/sbin/${t}`)) return `${t} not found (./run setup installs it)`;
  }
  return null;
}
const why_not = whyNot();

function log(msg: string): void {
  process.stderr.write(`[vm-drbd-reboot] ${msg}\n`);
}

let c: ApplianceCluster | null = null;

async function procDrbd(n: NodeName): Promise<string> {
  return (await c!.vm(n).sh("sed -n '/^ 0:/p' /proc/drbd", { timeout_ms: 30_000, check: false })).out.trim();
}

async function mounted(n: NodeName): Promise<boolean> {
  return (await c!.vm(n).sh("mountpoint -q /srv/data && grep -c '^/dev/drbd0 ' /proc/mounts", { timeout_ms: 30_000, check: false })).out.trim() === "1";
}

// A bounded loop (at most 4000 rounds) writing + fsyncing one line to /srv/data
// every 0.5 s; each round's start and end go to /run (tmpfs), so a round stuck
// on frozen I/O shows as a start without an end.
const writer = `i=0
while [ ! -e /run/writer.stop ] && [ $i -lt 4000 ]; do
  i=$((i+1)); t0=$(date +%s.%N)
  echo "start $i $t0" >> /run/writer.log
  echo "$i $t0" >> /srv/data/writer.txt && sync /srv/data/writer.txt
  echo "done $i $t0 $(date +%s.%N)" >> /run/writer.log
  sleep 0.5
done
echo stopped >> /run/writer.log
`;

async function startWriter(n: NodeName): Promise<void> {
  await c!.vm(n).put("/run/writer.sh", writer);
  // sh: /run is mounted noexec in the image
  await c!.vm(n).sh("rm -f /run/writer.stop /run/writer.log; nohup sh /run/writer.sh >/dev/null 2>&1 &");
  await c!.waitFor(`${n}'s writer started`, async () => (await c!.vm(n).sh("test -s /run/writer.log", { check: false })).code === 0, 30_000, 250);
}

/** The writes so far: the longest (a round still running counts with its age), how many, how many still running. */
async function writes(n: NodeName, since_s: number): Promise<{ max_s: number; count: number; pending: number; at_s: number }> {
  const out = (await c!.vm(n).sh("date +%s.%N; cat /run/writer.log", { timeout_ms: 30_000 })).out.trim().split("\n");
  const now_s = Number(out[0]);
  const started = new Map<string, number>();
  const ended = new Map<string, number>();
  for (const l of out.slice(1)) {
    const f = l.split(" ");
    if (f[0] === "start") started.set(f[1]!, Number(f[2]));
    if (f[0] === "done") ended.set(f[1]!, Number(f[3]));
  }
  let max_s = 0;
  let at_s = 0;
  let count = 0;
  let pending = 0;
  for (const [i, t0] of started) {
    const t1 = ended.get(i);
    if ((t1 ?? now_s) < since_s) continue;
    count++;
    if (t1 === undefined) pending++;
    const d = (t1 ?? now_s) - t0;
    if (d > max_s) {
      max_s = d;
      at_s = t0 - since_s;
    }
  }
  return { max_s, count, pending, at_s };
}

async function stopWriter(n: NodeName): Promise<void> {
  await c!.vm(n).sh("touch /run/writer.stop");
  await c!.waitFor(`${n}'s writer stopped (its last write + fsync done)`, async () => (await c!.vm(n).sh("tail -n1 /run/writer.log", { check: false })).out.includes("stopped"), 60_000, 500);
}

/** The guest's uptime (s): dmesg's clock. */
async function uptime(n: NodeName): Promise<number> {
  return Number((await c!.vm(n).sh("cut -d' ' -f1 /proc/uptime")).out.trim());
}

/** DRBD's kernel lines on n since uptime `since` (bounded). */
async function drbdKernel(n: NodeName, since: number): Promise<string[]> {
  const out = (await c!.vm(n).sh("dmesg | grep -E 'drbd|block drbd0' | tail -n 200", { timeout_ms: 30_000, check: false })).out;
  return out
    .split("\n")
    .filter((l) => {
      const m = /^\[\s*(\d+\.\d+)\]/.exec(l);
      return m !== null && Number(m[1]) >= since;
    });
}

/**
 * `rebooting` reboots gracefully while `serving` holds the group and writes.
 * Returns the problems found (checked by the caller, after both scenarios ran).
 */
async function rebootWhileServing(rebooting: NodeName, serving: NodeName, takeover: boolean): Promise<string[]> {
  const problems: string[] = [];
  const k0 = await uptime(serving);
  const vm = c!.vm(rebooting);
  const t_guest0 = Number((await c!.vm(serving).sh("date +%s.%N")).out.trim());
  if (!takeover) await startWriter(serving);
  await vm.sh("systemctl --no-block reboot");
  const t0 = performance.now();
  let t_served: number | null = null;
  if (takeover) {
    // the group moves: serving promotes, mounts, then its writer starts
    await c!.waitFor(`${serving} Primary with /srv/data mounted`, async () => (await procDrbd(serving)).includes("ro:Primary/") && (await mounted(serving)), 180_000, 250);
    t_served = performance.now() - t0;
    log(`${rebooting} reboot: ${serving} Primary and mounted ${Math.round(t_served)} ms after the command`);
    await startWriter(serving);
  }
  // watch the serving side while the other reboots: distinct /proc/drbd states, with the time seen
  const seen: string[] = [];
  let last = "";
  const back = vm.waitReady(400_000).then((ms) => ms);
  let ready = false;
  void back.then(() => (ready = true), () => (ready = true));
  for (let i = 0; i < 2000 && !ready; i++) {
    const s = await procDrbd(serving);
    const short = s.replace(/\s+ns:.*$/s, "");
    if (short !== last) seen.push(`${Math.round(performance.now() - t0)} ms: ${short}`);
    last = short;
    await Bun.sleep(500);
  }
  const back_ms = await back;
  log(`${rebooting} back on its control port ${Math.round(performance.now() - t0)} ms after the reboot command (${Math.round(back_ms)} ms waited)`);
  for (const l of seen) log(`${serving} /proc/drbd while ${rebooting} rebooted: ${l}`);
  try {
    await c!.waitSystem(rebooting);
  } finally {
    // r0's unit on the new boot (its start: the address wait, drbdadm up)
    const j = await vm.journal("-b -u tandem-drbd-r0", 60_000).catch((e) => String(e));
    for (const l of j.trim().split("\n").slice(-15)) log(`${rebooting} tandem-drbd-r0 this boot: ${l}`);
  }
  const resync_ms = await c!.waitFor(
    "both UpToDate again",
    async () => (await procDrbd(serving)).includes("ds:UpToDate/UpToDate") && (await procDrbd(rebooting)).includes("ds:UpToDate/UpToDate"),
    300_000,
    500,
  );
  log(`${rebooting} up; both UpToDate ${Math.round(resync_ms)} ms after its systemd finished booting`);
  log(`${serving}: ${await procDrbd(serving)}`);
  log(`${rebooting}: ${await procDrbd(rebooting)}`);
  await c!.waitFormed(180_000);

  // stop the loop first: its last round ends (a round hung on frozen I/O fails the bounded wait), then read
  await stopWriter(serving);
  const w = await writes(serving, t_guest0);
  log(`${serving}'s writes + fsync during ${rebooting}'s reboot: ${w.count} rounds, longest ${w.max_s.toFixed(2)} s (started ${w.at_s.toFixed(1)} s after the reboot command), ${w.pending} still running`);
  if (w.pending > 0) problems.push(`${serving}: ${w.pending} write(s) still hanging after ${rebooting} came back`);
  if (w.max_s > write_bound_s) problems.push(`${serving}: a write + fsync took ${w.max_s.toFixed(1)} s (bound ${write_bound_s} s) while ${rebooting} rebooted`);
  if (w.count < 10) problems.push(`${serving}: only ${w.count} writes during the reboot`);

  const kernel = await drbdKernel(serving, k0);
  for (const l of kernel.filter((x) => /fence-peer|helper|susp|pdsk|conn\(|role\(/.test(x)).slice(-30)) log(`${serving} kernel: ${l}`);
  // \b: not unfence-peer (run after a resync)
  const calls = kernel.filter((l) => /helper command: \S+ fence-peer/.test(l) && !/exit code/.test(l));
  const answers = kernel.filter((l) => /\bfence-peer.*exit code|\bfence-peer helper (broken|returned)/.test(l));
  log(`${serving}: ${calls.length} fence-peer call(s) during ${rebooting}'s reboot; answers: ${answers.length ? answers.map((l) => l.replace(/^.*\] /, "")).join(" | ") : "none"}`);
  if (answers.some((l) => /broken|exit code (?![457] )/.test(l))) problems.push(`${serving}: a fence-peer call left I/O frozen: ${answers.join(" | ")}`);

  // the rebooted node's shutdown: tandem stopped, then r0 went down (journal of the previous boot)
  const prev = (await vm.journal("-b -1 -u tandem -u tandem-drbd-r0", 60_000)).split("\n").filter((l) => /Stopp|drbd|leav|stop_|Deactivated/i.test(l));
  for (const l of prev.slice(-14)) log(`${rebooting} previous boot: ${l}`);
  const prevk = (await vm.sh("journalctl --no-pager -k -b -1 | grep -E 'drbd r0|drbd0' | tail -n 12", { timeout_ms: 60_000, check: false })).out.trim();
  for (const l of prevk.split("\n")) log(`${rebooting} previous boot kernel: ${l}`);
  const data = (await c!.vm(serving).sh("tail -n1 /srv/data/writer.txt")).out.trim();
  if (!/^\d+ \d+\.\d+$/.test(data)) problems.push(`${serving}: /srv/data/writer.txt ends with ${JSON.stringify(data)}`);
  return problems;
}

if (why_not) {
  test.skip(`DRBD reboot VM test skipped: ${why_not}`, () => {});
} else {
  afterAll(async () => {
    await c?.destroy();
  });

  describe("DRBD r0 under resource-and-stonith: graceful reboots do not freeze the serving node", () => {
    test(
      "node2 (Secondary) reboots while node1 writes; then node1 (Primary) reboots, node2 takes over and writes",
      async () => {
        const image = ensureImage(bin);
        c = await ApplianceCluster.create({ image, services: "systemd:nfs-server systemd:smbd", replicated_disk_mb: 64, bmc: true });
        const boot = await c.boot();
        log(`boot (both VMs at once, through the BMCs): node1 ${Math.round(boot.node1!)} ms, node2 ${Math.round(boot.node2!)} ms`);
        await c.waitFormed();
        expect((await c.vm("node1").sh("grep -o 'fencing [a-z-]*' /etc/drbd.d/r0.res")).out.trim()).toBe("fencing resource-and-stonith");
        expect((await c.vm("node1").sh("grep -c '^fence ' /etc/ha.d/ha.cf")).out.trim()).toBe("2");
        const unit = (await c.vm("node2").sh("systemctl show -p ActiveState -p RemainAfterExit -p ExecStop tandem-drbd-r0", { check: false })).out.trim();
        log(`node2 tandem-drbd-r0: ${unit.replace(/\n/g, "; ")}`);
        // the seed's r0 unit stays active, so that shutdown stops it after tandem: drbdadm down r0
        expect(unit).toContain("RemainAfterExit=yes");
        expect(unit).toMatch(/ExecStop=.*drbdadm.*down r0/);
        await c.waitFor("node1 Primary with /srv/data mounted and the VIP", async () => (await procDrbd("node1")).includes("ro:Primary/") && (await mounted("node1")) && (await c!.holdsVip("node1")), 240_000);
        const sync_ms = await c.waitFor("initial sync done (UpToDate/UpToDate)", async () => (await procDrbd("node1")).includes("ds:UpToDate/UpToDate"), 600_000);
        log(`initial sync of 64 MiB finished ${Math.round(sync_ms)} ms after the group came up`);

        const problems: string[] = [];
        problems.push(...(await rebootWhileServing("node2", "node1", false)));
        // node2's rejoin leaves the group on node1 (auto_failback off): node1 still Primary
        expect(await procDrbd("node1")).toContain("ro:Primary/Secondary");
        problems.push(...(await rebootWhileServing("node1", "node2", true)));
        expect(await procDrbd("node2")).toContain("ro:Primary/Secondary");
        expect(await c.holdsVip("node2")).toBe(true);
        for (const p of problems) log(`PROBLEM: ${p}`);
        expect(problems).toEqual([]);
      },
      1_800_000,
    );
  });
}
