// bench/storage: no acknowledged write is lost when the DRBD primary loses
// power (issue 8), seen from an NFS client.
//
// Two appliance VMs (src/lab/appliance.ts, seed disk=: DRBD r0 on /dev/vdb,
// the group drbddisk::r0 + Filesystem /srv/data + VIP + nfs-server + smbd)
// and a third VM from the same image as the client. The client is a VM, not
// a namespace on this host, because the host's kernel has no NFS or CIFS
// client (neither in /proc/filesystems nor loadable: no /lib/modules, no
// /proc/modules); the guests run Debian's stock kernel, which has both.
//
// The client mounts 192.0.2.50:/srv/data (NFSv3 over TCP, hard: a write
// blocks while no server answers and never fails) and runs a writer:
// records "record <n> <ns> <pad> <sha256 of the rest>", each appended and then
// fsync'ed (`sync FILE`, a COMMIT for NFSv3); only after fsync returned is the
// record logged as acknowledged on the client's local disk. After some
// records, node1's qemu is SIGKILLed (power loss). node2 sees it dead after
// deadtime, promotes r0 over DRBD's netlink (the fence-peer handler asks
// tandem: peer dead), fsck + mount, VIP, nfs-server, smbd. The writer goes on
// (it never stops). At the end every acknowledged record must be in
// /srv/data/stream.log on node2's disk byte for byte, and every line there
// must carry a valid checksum.
//
// Printed: the client-visible stall (last ack before the kill -> first ack
// after it, on the client's clock, and from the kill itself), node2's
// promote / mount / serve times from the host, record counts. Nothing is
// asserted on time; the exit status is 1 if an acknowledged record is missing
// or damaged.
//
//   ./node_modules/.bin/bun bench/storage.ts [--after-s 20] [--before-records 20]   (root; ./run storage)
// Takes about 10 minutes under TCG on a loaded 2-core machine (three boots).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureImage } from "../image/build.ts";
import { ApplianceCluster, type NodeName, vip } from "../src/lab/appliance.ts";
import { vmUnavailableReason } from "../src/lab/vm.ts";

const root = join(import.meta.dir, "..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem");
const { values: args } = parseArgs({
  options: {
    "after-s": { type: "string", default: "20" },
    "before-records": { type: "string", default: "20" },
    "disk-mb": { type: "string", default: "64" },
  },
});
const after_s = Number(args["after-s"]);
const before_records = Number(args["before-records"]);
const disk_mb = Number(args["disk-mb"]);
if (!(after_s >= 1 && after_s <= 600) || !(before_records >= 1 && before_records <= 10_000) || !(disk_mb >= 16 && disk_mb <= 4096)) {
  console.error("bench/storage: --after-s 1..600, --before-records 1..10000, --disk-mb 16..4096");
  process.exit(2);
}
/** The writer stops by itself after this many records, whatever happens to the host. */
const records_max = 100_000;
const mnt = "/run/nfs-data"; // the root file system is read-only in the image
const stream = "stream.log";

function log(msg: string): void {
  process.stderr.write(`[storage] ${msg}\n`);
}

const why = process.getuid?.() !== 0 ? "not root" : (vmUnavailableReason() ?? (existsSync(bin) ? null : `${bin} missing: ./node_modules/.bin/bun run build.ts`));
if (why) {
  console.error(`bench/storage: cannot run: ${why}`);
  process.exit(2);
}

// The writer, in the client VM (dash; printf, echo and the tests are builtins: 3 forks a record).
const writer = `#!/bin/sh
f=$1; max=$2; acks=/var/tmp/acks
: > $acks
pad=$(printf '%0100d' 0 | tr 0 x)
i=0
while [ $i -lt $max ] && [ ! -e /var/tmp/stop ]; do
  i=$((i+1))
  t=$(date +%s%N)
  p="record $(printf %08d $i) $t $pad"
  h=$(printf '%s' "$p" | sha256sum); h=\${h%% *}
  if printf '%s %s\\n' "$p" "$h" >> "$f" && sync "$f"; then
    echo "ack $i $t $h $(date +%s%N)" >> $acks
  else
    echo "err $i $t - $(date +%s%N)" >> $acks
  fi
done
echo "end $i - - $(date +%s%N)" >> $acks
`;

let c: ApplianceCluster | null = null;

async function procDrbd(n: NodeName): Promise<string> {
  return (await c!.vm(n).sh("sed -n '/^ 0:/p' /proc/drbd", { timeout_ms: 30_000, check: false })).out.trim();
}
/** /dev/drbd0 on /srv/data (a symlink to /var/srv/data in the image: /proc/mounts names the target). */
async function mounted(n: NodeName): Promise<boolean> {
  return (await c!.vm(n).sh("mountpoint -q /srv/data && grep -c '^/dev/drbd0 ' /proc/mounts", { timeout_ms: 30_000, check: false })).out.trim() === "1";
}
async function exported(n: NodeName): Promise<boolean> {
  return (await c!.vm(n).sh("exportfs -v", { timeout_ms: 30_000, check: false })).out.includes("/srv/data");
}

/**
 * Replication overhead on node1 (Primary, peer connected and in sync): the same dd through ext4
 * to a file on /dev/drbd0 and on /dev/vdc, a disk of the same size and qemu cache mode that
 * DRBD does not replicate. Under TCG both are emulated; the gap is DRBD's round trip to the
 * peer VM (protocol C waits for its disk) on a loaded host, not what real hardware would show.
 */
async function replicationOverhead(): Promise<{ what: string; bare: string; drbd: string; ratio: string }[]> {
  const n1 = c!.vm("node1");
  await n1.sh("mkfs.ext4 -q -F /dev/vdc && mkdir -p /run/bare && mount /dev/vdc /run/bare", { timeout_ms: 300_000 });
  const tests = [
    { what: "sequential 1 MiB direct writes, 16 MiB + fsync", dd: "bs=1M count=16 oflag=direct conv=fsync", unit: "MB/s" },
    { what: "4 KiB O_DIRECT|O_DSYNC writes, 200 of them", dd: "bs=4k count=200 oflag=direct,dsync", unit: "ms each" },
  ];
  const out: { what: string; bare: string; drbd: string; ratio: string }[] = [];
  for (const t of tests) {
    const res: number[] = [];
    for (const dir of ["/run/bare", "/srv/data"]) {
      const r = await n1.sh(`t0=$(date +%s%N); dd if=/dev/zero of=${dir}/ddtest ${t.dd} status=none; t1=$(date +%s%N); rm -f ${dir}/ddtest; echo $(( (t1 - t0) / 1000 ))`, { timeout_ms: 600_000 });
      const us = Number(r.out.trim().split("\n").pop());
      res.push(t.unit === "MB/s" ? 16 * 1.048576 / (us / 1e6) : us / 1000 / 200);
    }
    const [bare, drbd] = res as [number, number];
    const f = (x: number) => `${x.toFixed(t.unit === "MB/s" ? 1 : 2)} ${t.unit}`;
    out.push({ what: t.what, bare: f(bare), drbd: f(drbd), ratio: t.unit === "MB/s" ? `DRBD at ${Math.round((drbd / bare) * 100)}%` : `DRBD ${(drbd / bare).toFixed(1)}x` });
    log(`${t.what}: bare ${f(bare)}, DRBD ${f(drbd)}`);
  }
  await n1.sh("umount /run/bare", { check: false });
  return out;
}

interface Ack {
  n: number;
  t_ns: bigint;
  sha: string;
  ack_ns: bigint;
}

function parseAcks(text: string): { acks: Ack[]; errors: number; ended: boolean } {
  const acks: Ack[] = [];
  let errors = 0;
  let ended = false;
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f[0] === "ack" && f.length === 5) acks.push({ n: Number(f[1]), t_ns: BigInt(f[2]!), sha: f[3]!, ack_ns: BigInt(f[4]!) });
    else if (f[0] === "err") errors++;
    else if (f[0] === "end") ended = true;
  }
  return { acks, errors, ended };
}

const pad = "x".repeat(100);
const recordLine = (a: Ack) => `record ${String(a.n).padStart(8, "0")} ${a.t_ns} ${pad} ${a.sha}`;
const ms = (ns: bigint) => Number(ns / 1_000_000n);

async function main(): Promise<number> {
  const image = ensureImage(bin);
  c = await ApplianceCluster.create({ image, services: "systemd:nfs-server systemd:smbd", replicated_disk_mb: disk_mb, client_vm: true, bare_disk: true });
  const t_boot = performance.now();
  const [boot, client_ms] = await Promise.all([c.boot(), c.clientUp()]);
  log(`booted (three VMs at once): node1 ${Math.round(boot.node1!)} ms, node2 ${Math.round(boot.node2!)} ms, client ${Math.round(client_ms)} ms`);
  await c.waitFormed();
  await c.waitFor("node1 Primary, /srv/data mounted, VIP, export", async () => (await procDrbd("node1")).includes("ro:Primary/") && (await mounted("node1")) && (await c!.holdsVip("node1")) && (await exported("node1")), 300_000);
  await c.waitFor("initial sync (UpToDate/UpToDate)", async () => (await procDrbd("node1")).includes("ds:UpToDate/UpToDate"), 600_000);
  log(`node1 serves /srv/data, r0 in sync, ${Math.round((performance.now() - t_boot) / 1000)} s after qemu start: ${await procDrbd("node1")}`);

  const overhead = await replicationOverhead();
  const client = c.client!;
  // hard: block, never fail; timeo=10 (1 s): the RPC is resent (and the TCP connection
  // re-made, to the new holder of the VIP) soon after the takeover, not after TCP's backoff.
  let opts = "vers=3,proto=tcp,hard,nolock,timeo=10,retrans=3";
  const m3 = await client.sh(`mkdir -p ${mnt} && timeout 90 mount -t nfs -o ${opts} ${vip}:/srv/data ${mnt} 2>&1`, { timeout_ms: 120_000, check: false });
  if (m3.code !== 0) {
    // NFSv3 needs rpcbind and mountd on the server; v4 only port 2049 (but its open state is lost on takeover: see README)
    log(`NFSv3 mount failed (${m3.out.trim()}); trying NFSv4.2`);
    opts = "vers=4.2,proto=tcp,hard,timeo=10,retrans=3";
    await client.sh(`timeout 90 mount -t nfs -o ${opts} ${vip}:/srv/data ${mnt}`, { timeout_ms: 120_000 });
  }
  log(`client mounted ${vip}:/srv/data (${opts}): ${(await client.sh(`grep ' ${mnt} ' /proc/mounts`)).out.trim()}`);
  await client.put("/var/tmp/writer.sh", writer, 0o755);
  await client.sh(`rm -f /var/tmp/stop ${mnt}/${stream}; (setsid /var/tmp/writer.sh ${mnt}/${stream} ${records_max} </dev/null >/dev/null 2>/var/tmp/writer.err & echo $! > /var/tmp/writer.pid)`);
  const countAcks = async () => Number((await client.sh("grep -c '^ack' /var/tmp/acks", { check: false, timeout_ms: 30_000 })).out.trim() || "0");
  await c.waitFor(`${before_records} acknowledged records`, async () => (await countAcks()) >= before_records, 300_000, 500);

  // power loss of the primary; the client's clock at that moment
  const g_before = BigInt((await client.sh("date +%s%N")).out.trim());
  const h_before = performance.now();
  await c.vm("node1").kill();
  const t_kill = performance.now();
  const kill_ns = g_before + BigInt(Math.round((t_kill - h_before) * 1e6));
  const acked_at_kill = await countAcks();
  log(`node1 powered off (qemu SIGKILL); ${acked_at_kill} records acknowledged so far`);

  const promote_ms = await c.waitFor("node2 Primary", async () => (await procDrbd("node2")).includes("ro:Primary/"), 180_000, 250);
  const mount_ms = promote_ms + (await c.waitFor("node2 mounted + VIP", async () => (await mounted("node2")) && (await c!.holdsVip("node2")), 180_000, 250));
  const export_ms = mount_ms + (await c.waitFor("node2 exports", () => exported("node2"), 180_000, 250));
  const resumed_ms = (performance.now() - t_kill) + (await c.waitFor("the client's first ack after the kill", async () => (await countAcks()) > acked_at_kill + 1, 600_000, 250));
  log(`node2 Primary ${Math.round(promote_ms)} ms, mounted + VIP ${Math.round(mount_ms)} ms, exporting ${Math.round(export_ms)} ms after the kill; client acks again (host view) by ${Math.round(resumed_ms)} ms`);
  await Bun.sleep(after_s * 1000);

  await client.sh("touch /var/tmp/stop");
  await c.waitFor("the writer to finish", async () => (await client.sh("grep -c '^end' /var/tmp/acks", { check: false })).out.trim() === "1", 300_000, 500);
  const acks_text = (await client.sh("cat /var/tmp/acks", { timeout_ms: 120_000 })).out;
  const { acks, errors } = parseAcks(acks_text);

  // the file as it is on node2's disk: drop the page cache first (the ext4 on /dev/drbd0)
  await c.vm("node2").sh("sync; echo 3 > /proc/sys/vm/drop_caches");
  const disk_text = (await c.vm("node2").sh(`cat /srv/data/${stream}`, { timeout_ms: 300_000 })).out;
  const lines = disk_text.split("\n").filter((l) => l !== "");
  const on_disk = new Set(lines);
  let bad_sum = 0;
  for (const l of lines) {
    const sp = l.lastIndexOf(" ");
    const want = new Bun.CryptoHasher("sha256").update(l.slice(0, sp)).digest("hex");
    if (want !== l.slice(sp + 1)) bad_sum++;
  }
  const missing = acks.filter((a) => !on_disk.has(recordLine(a)));

  // the stall on the client's clock
  let last_before: Ack | null = null;
  let first_after: Ack | null = null;
  let max_gap_ns = 0n;
  let normal_gaps: number[] = [];
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i]!;
    if (a.ack_ns <= kill_ns) last_before = a;
    else if (!first_after) first_after = a;
    if (i > 0) {
      const gap = a.ack_ns - acks[i - 1]!.ack_ns;
      if (gap > max_gap_ns) max_gap_ns = gap;
      normal_gaps.push(Number(gap) / 1e6);
    }
  }
  normal_gaps = normal_gaps.sort((x, y) => x - y);
  const median_gap = normal_gaps[Math.floor(normal_gaps.length / 2)] ?? 0;
  const stall_ms = last_before && first_after ? ms(first_after.ack_ns - last_before.ack_ns) : NaN;
  const from_kill_ms = first_after ? ms(first_after.ack_ns - kill_ns) : NaN;

  const rows: [string, string][] = [
    ["records acknowledged (fsync returned)", String(acks.length)],
    ["write errors seen by the client", String(errors)],
    ["lines in stream.log on node2's disk", String(lines.length)],
    ["acknowledged records missing or changed", String(missing.length)],
    ["lines with a bad checksum", String(bad_sum)],
    ["client stall: last ack before -> first ack after the kill", `${stall_ms} ms`],
    ["client stall: kill -> first ack (client clock)", `${from_kill_ms} ms`],
    ["node2 Primary (DRBD netlink promote) after the kill", `${Math.round(promote_ms)} ms`],
    ["node2 /srv/data mounted + VIP after the kill", `${Math.round(mount_ms)} ms`],
    ["node2 exporting /srv/data after the kill", `${Math.round(export_ms)} ms`],
    ["median gap between acks (one record: 3 forks + NFS write + COMMIT under TCG)", `${Math.round(median_gap)} ms`],
    ["largest gap between acks", `${ms(max_gap_ns)} ms`],
  ];
  for (const o of overhead) rows.push([`${o.what}: bare disk / DRBD r0 (protocol C, peer connected)`, `${o.bare} / ${o.drbd} (${o.ratio})`]);
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\nNFSv3 client (${opts}) writing through ${vip} while the DRBD primary loses power (TCG VMs, loadavg ${(await Bun.file("/proc/loadavg").text()).split(" ")[0]})`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  for (const a of missing.slice(0, 10)) console.log(`  MISSING: ${recordLine(a)}`);
  const journal = (await c.vm("node2").journal("-u tandem")).split("\n").filter((l) => /drbd_|node_dead|resource_ok|resource_failed|fence/.test(l));
  for (const l of journal.slice(-12)) log(`node2 tandem: ${l}`);
  return missing.length === 0 && bad_sum === 0 && acks.length > acked_at_kill ? 0 : 1;
}

let code = 1;
const onSignal = () => {
  void c?.destroy().finally(() => process.exit(130));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
try {
  code = await main();
} catch (e) {
  console.error(`bench/storage: ${(e as Error).stack ?? e}`);
  if (c) {
    for (const n of ["node1", "node2"] as const) {
      if (!c.vm(n).running) continue;
      log(`${n} /proc/drbd: ${await procDrbd(n).catch(String)}`);
      log(`${n} journal:\n${(await c.vm(n).journal("-u tandem-drbd-r0 -u tandem -b").catch(String)).split("\n").slice(-40).join("\n")}`);
    }
  }
} finally {
  await c?.destroy();
}
process.exit(code);
