// bench/storage: no acknowledged write is lost when the DRBD primary fails,
// over NFS and over SMB, and how long the client stalls, with tandem and with
// Debian's Heartbeat 3.0.6 on the same VMs (issue 8).
//
// Two appliance VMs (src/lab/appliance.ts, seed disk=: DRBD r0 on /dev/vdb,
// the group drbddisk::r0 + Filesystem /srv/data + VIP + nfs-server + smbd)
// and a third VM from the same image as the client. The image is the
// harness variant (image/build.ts: the appliance plus cifs-utils and
// heartbeat, which the shipped appliance does not carry). The client is a VM,
// not a namespace on this host, because the host's kernel has no NFS or CIFS
// client (neither in /proc/filesystems nor loadable: no /lib/modules, no
// /proc/modules); the guests run Debian's stock kernel, which has both.
// Each node VM has a BMC (src/lab/bmc.ts: ipmi_sim on 192.0.2.101/.102
// whose chassis power is that VM's qemu process); tandem's seed gives both
// nodes `fence NODE fence_ipmilan ... action=off` lines for them.
//
// The client mounts 192.0.2.50:/srv/data (NFSv3 over TCP, hard: a write
// blocks while no server answers and never fails) and //192.0.2.50/data
// (SMB 3, guest, `hard`: the cifs client retries instead of failing) and
// runs one writer on each: records "record <n> <ns> <pad> <sha256 of the
// rest>", each appended through its own O_APPEND descriptor and fsync'ed on
// that descriptor (dd conv=fsync: an NFS COMMIT, an SMB2 FLUSH, which Samba's
// default `strict sync` turns into fsync on the server); only after fsync
// returned is the record logged as acknowledged on the client's local disk.
//
// Per system (--systems, default both, one after the other on fresh VMs):
//  1. Failover, --fault power (default; the same for both systems): node1's
//     qemu is SIGKILLed, a power loss. With --fault hang (tandem only) its
//     qemu is SIGSTOPped instead: nothing is sent or answered but the box is
//     not off, so only a fence makes a takeover safe. With --fault partition
//     (tandem only) node1 keeps running and serving: every node1<->node2 path
//     is cut at once (the eth1 cable on both VMs, and node-to-node traffic on
//     the bridge: both node taps become isolated ports, which still reach the
//     client VM, the client address and the BMCs), and node2's BMC stops
//     answering (its ipmi_sim SIGSTOPped), so node1, which holds the group and
//     fences at once, cannot fence node2, while node2 fences node1 after
//     fence_delay: node1 LOSES the fence race. Until its power-off node1 still
//     has the VIP and the client's writes. With DRBD `fencing resource-only`
//     node1 acknowledges writes after its DRBD has lost node2, and node2 takes
//     over from its older copy: those records are lost (exit 1 names them).
//     With `resource-and-stonith` (the seed's, the default of --drbd-fencing)
//     node1's DRBD freezes I/O from the disconnect until fence-peer returns,
//     which it never does before node1 is off: nothing acknowledged is lost.
//     The cut and the BMC are restored once node2 serves, before node1 is
//     powered on again.
//     tandem: node2 sees node1 dead after deadtime, fences it through its
//     BMC (fence_ipmilan action=off, then status) and only after "Status:
//     OFF" promotes r0 over DRBD's netlink (fence-peer: peer fenced, exit 7),
//     fsck + mount, VIP, nfs-server, smbd. The order is checked from node2's
//     journal and the BMC's power log.
//     Heartbeat: haresources `node1 drbddisk::r0
//     Filesystem::/dev/drbd0::/srv/data::ext4 IPaddr::192.0.2.50/25/eth0
//     nfs-kernel-server smbd` (the seeds' line, in their order, plus smbd),
//     no stonith (as in the seeds' ha.cf), and drbd.conf without tandem's
//     fencing and handlers (the seeds' drbd.conf has neither: DRBD's default
//     `fencing dont-care`). tandem.service is masked on the kernel command
//     line; heartbeat is started by this benchmark, not at boot.
//  2. Failback: node1 is powered on through its BMC, boots, rejoins, DRBD
//     resyncs it from node2; then `tandem takeover all` (or Heartbeat's
//     hb_takeover all) on node1 moves the group back.
// The writers never stop. At the end every acknowledged record must be in its
// file on node1's disk (the final primary) byte for byte; lines with a bad
// checksum are counted.
//
// Printed per system: both client-visible stalls per protocol (the largest
// gap between acks around the fault and around the takeover command, on the
// client's clock), the failover timeline, resync and failback times, record
// counts; then tandem's stalls against Heartbeat's. Nothing is asserted on
// time; the exit status is 1 if an acknowledged record is missing or
// damaged, or if tandem's node2 promoted or started anything before the BMC
// had node1 off.
//
//   ./node_modules/.bin/bun bench/storage.ts [--systems tandem,heartbeat] [--fault power|hang|partition]
//       [--drbd-fencing resource-and-stonith|resource-only]   (tandem: r0.res rewritten + drbdadm adjust after each boot)
//       [--after-s 20] [--before-records 20] [--no-overhead]   (root; ./run storage)
// Takes about 15 minutes per system under TCG on a loaded 2-core machine (four boots).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureImage, type Image } from "../image/build.ts";
import { ApplianceCluster, bmcAddr, client_vm_addr, type NodeName, vip } from "../src/lab/appliance.ts";
import { pidAlive, type Vm, vmUnavailableReason } from "../src/lab/vm.ts";

const root = join(import.meta.dir, "..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem");
const { values: args } = parseArgs({
  options: {
    "after-s": { type: "string", default: "20" },
    "before-records": { type: "string", default: "20" },
    "disk-mb": { type: "string", default: "64" },
    "no-overhead": { type: "boolean", default: false },
    systems: { type: "string", default: "tandem,heartbeat" },
    fault: { type: "string", default: "power" },
    "drbd-fencing": { type: "string", default: "resource-and-stonith" },
  },
});
const after_s = Number(args["after-s"]);
const before_records = Number(args["before-records"]);
const disk_mb = Number(args["disk-mb"]);
if (!(after_s >= 1 && after_s <= 600) || !(before_records >= 1 && before_records <= 10_000) || !(disk_mb >= 16 && disk_mb <= 4096)) {
  console.error("bench/storage: --after-s 1..600, --before-records 1..10000, --disk-mb 16..4096");
  process.exit(2);
}
type System = "tandem" | "heartbeat";
const systems = (args.systems ?? "").split(",").map((x) => x.trim()).filter((x) => x !== "");
if (systems.length === 0 || systems.length > 2 || systems.some((x) => x !== "tandem" && x !== "heartbeat") || new Set(systems).size !== systems.length) {
  console.error(`bench/storage: --systems ${JSON.stringify(args.systems)}: a comma-separated list of tandem and heartbeat, e.g. --systems tandem,heartbeat`);
  process.exit(2);
}
const fault = args.fault as "power" | "hang" | "partition";
if (fault !== "power" && fault !== "hang" && fault !== "partition") {
  console.error(`bench/storage: --fault ${JSON.stringify(args.fault)}: power (qemu SIGKILLed), hang (qemu SIGSTOPped, then fenced) or partition (node1 and node2 cut apart, node1 loses the fence race)`);
  process.exit(2);
}
if (fault !== "power" && systems.includes("heartbeat")) {
  // a hung or cut-off primary that nobody powers off stays Primary with r0 mounted; Heartbeat without
  // stonith would mount the same data on node2 beside it: that is a split brain, not a benchmark
  console.error(`bench/storage: --fault ${fault} needs fencing, which the Heartbeat setup here has not (no stonith, as in the seeds): use --systems tandem, or --fault power`);
  process.exit(2);
}
type DrbdFencing = "resource-and-stonith" | "resource-only";
const drbd_fencing = args["drbd-fencing"] as DrbdFencing;
if (drbd_fencing !== "resource-and-stonith" && drbd_fencing !== "resource-only") {
  console.error(`bench/storage: --drbd-fencing ${JSON.stringify(args["drbd-fencing"])}: resource-and-stonith (the seed's: I/O frozen while fence-peer runs) or resource-only (I/O goes on while it runs)`);
  process.exit(2);
}
/** The writer stops by itself after this many records, whatever happens to the host. */
const records_max = 100_000;
// the root file system is read-only in the image: mount points under /run
const protocols = [
  { proto: "nfs", mnt: "/run/nfs-data", file: "stream.log" },
  // the SMB guest is `nobody` on the server: it writes into a world-writable directory on r0
  { proto: "smb", mnt: "/run/smb-data", file: "smb/stream.log" },
] as const;
type Proto = (typeof protocols)[number]["proto"];

function log(msg: string): void {
  process.stderr.write(`[storage] ${msg}\n`);
}

const why = process.getuid?.() !== 0 ? "not root" : (vmUnavailableReason() ?? (existsSync(bin) ? null : `${bin} missing: ./node_modules/.bin/bun run build.ts`));
if (why) {
  console.error(`bench/storage: cannot run: ${why}`);
  process.exit(2);
}

// The writer, in the client VM (dash; printf, echo and the tests are builtins: 4 forks a record).
// dd opens the file O_WRONLY|O_APPEND, writes the line once and fsyncs that descriptor: for SMB
// the flush must go out on a handle open for writing (the cifs client skips an fsync on a
// read-only one, e.g. \`sync FILE\`), for NFS it is a COMMIT either way.
const writer = `#!/bin/sh
f=$1; max=$2; acks=$3
: > $acks
pad=$(printf '%0100d' 0 | tr 0 x)
i=0
while [ $i -lt $max ] && [ ! -e /var/tmp/stop ]; do
  i=$((i+1))
  t=$(date +%s%N)
  p="record $(printf %08d $i) $t $pad"
  h=$(printf '%s' "$p" | sha256sum); h=\${h%% *}
  if printf '%s %s\\n' "$p" "$h" | dd of="$f" oflag=append conv=notrunc,fsync status=none; then
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
async function replicationOverhead(primary: NodeName): Promise<{ what: string; bare: string; drbd: string; ratio: string }[]> {
  const n1 = c!.vm(primary);
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

function parseAcks(text: string): { acks: Ack[]; errors: number; error_ns: bigint[]; ended: boolean } {
  const acks: Ack[] = [];
  let errors = 0;
  const error_ns: bigint[] = [];
  let ended = false;
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f[0] === "ack" && f.length === 5) acks.push({ n: Number(f[1]), t_ns: BigInt(f[2]!), sha: f[3]!, ack_ns: BigInt(f[4]!) });
    else if (f[0] === "err") {
      errors++;
      if (f.length === 5 && /^\d+$/.test(f[4]!)) error_ns.push(BigInt(f[4]!));
    }
    else if (f[0] === "end") ended = true;
  }
  return { acks, errors, error_ns, ended };
}

const pad = "x".repeat(100);
const recordLine = (a: Ack) => `record ${String(a.n).padStart(8, "0")} ${a.t_ns} ${pad} ${a.sha}`;
const ms = (ns: bigint) => Number(ns / 1_000_000n);

/** Host realtime in ns (the clock machine.sh's `date +%s%N` in power.log uses). */
const hostNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

/** A guest's realtime clock minus the host's (ns), from one round trip on the control shell; error about half of it. */
async function clockOffset(vm: Vm): Promise<bigint> {
  const h0 = hostNs();
  const g = BigInt((await vm.sh("date +%s%N")).out.trim());
  const h1 = hostNs();
  return g - (h0 + h1) / 2n;
}

interface Stamp {
  what: string;
  /** host clock, ns */
  at_ns: bigint;
}

/**
 * node2's own record of the takeover, on the host's clock: tandem's events (node_dead, fence_*,
 * resource_ok start) and the kernel's DRBD role change, from its journal (short-unix: epoch
 * seconds with microseconds), shifted by the guest's clock offset.
 */
async function guestTimeline(n: NodeName, since_ns: bigint, offset_ns: bigint, system: System): Promise<Stamp[]> {
  return parseTimeline(await journalSince(n, since_ns, offset_ns, system), since_ns, offset_ns);
}

/** node n's tandem (or heartbeat) and kernel journal since host time since_ns (guest clock = host + offset_ns). */
async function journalSince(n: NodeName, since_ns: bigint, offset_ns: bigint, system: System, timeout_ms = 60_000): Promise<string> {
  const since_s = Number((since_ns + offset_ns) / 1_000_000_000n) - 2;
  // two queries: -u and -k are different journal fields, which journalctl would AND
  return [
    await c!.vm(n).journal(`-o short-unix --since @${since_s} -u ${system}`, timeout_ms).catch(() => ""),
    await c!.vm(n).journal(`-o short-unix --since @${since_s} -k`, timeout_ms).catch(() => ""),
  ].join("\n");
}

function parseTimeline(text: string, since_ns: bigint, offset_ns: bigint): Stamp[] {
  const out: Stamp[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+)\.(\d{6}) \S+ (.*)$/.exec(line);
    if (!m) continue;
    const msg = m[3]!;
    const interesting =
      /node_dead|node_up|fence_\w+|resource_ok .*action=start|resource_ok .*action=stop|resource_failed|drbd_\w+|role\( \w+ -> \w+ \)|group_state|helper command|fence-peer helper|PingAck|susp\w*\( \d -> \d \)|conn\( \w+ -> \w+ \)|pdsk\( \w+ -> \w+ \)/.exec(msg) ??
      // Heartbeat's haresources mode (heartbeat, ResourceManager, hb_takeover lines)
      /is dead|[Tt]aking over|Running \/etc\/(ha\.d\/+resource\.d|init\.d)\/+\S+ .*(start|stop)\s*$|takeover complete|acquisition complete|[Rr]eleasing resource|[Aa]cquiring resource|foreign resources|standby/.exec(msg);
    if (!interesting) continue;
    // tandem's own stamp (ms) when the line has one: journald stamps a stdout stream's lines when it reads them, in batches
    const own = /^tandem\[\d+\]: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /.exec(msg)?.[1];
    const at_ns = (own ? BigInt(Date.parse(own)) * 1_000_000n : BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2]!) * 1000n) - offset_ns;
    if (at_ns < since_ns - 1_000_000_000n) continue;
    out.push({ what: msg.replace(/^tandem\[\d+\]: (\S+Z )?/, "").replace(/^kernel: /, "").slice(0, 200), at_ns });
  }
  return out.sort((a, b) => (a.at_ns < b.at_ns ? -1 : a.at_ns > b.at_ns ? 1 : 0));
}

/** The largest gap between consecutive acks around event_ns: from the last ack at or before it to the first ack after resumed_ns, over that span (client clock). */
function stallAround(acks: Ack[], event_ns: bigint, resumed_ns: bigint): { stall_ms: number; last_before: Ack | null; first_after: Ack | null } {
  let last_before: Ack | null = null;
  let first_after: Ack | null = null;
  let max_gap = 0n;
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i]!;
    if (a.ack_ns <= event_ns) last_before = a;
    else if (!first_after && a.ack_ns > event_ns) first_after = a;
    if (i > 0 && a.ack_ns > event_ns && acks[i - 1]!.ack_ns <= resumed_ns) {
      const gap = a.ack_ns - acks[i - 1]!.ack_ns;
      if (gap > max_gap) max_gap = gap;
    }
  }
  return { stall_ms: ms(max_gap), last_before, first_after };
}

/** Heartbeat 3.0.6's ha.cf: the same links and timing as tandem's seed (keepalive 250 ms, deadtime 3 s), no stonith (as in the seeds), haresources mode. */
function heartbeatHaCf(): string {
  return [
    "# bench/storage: Heartbeat 3.0.6 on the appliance VMs (haresources mode, no stonith)",
    "logfacility daemon",
    "keepalive 250ms",
    "warntime 1500ms",
    "deadtime 3",
    "initdead 30",
    "udpport 694",
    // each node ignores the ucast line naming its own address: one file serves both
    "ucast eth0 192.0.2.11",
    "ucast eth0 192.0.2.12",
    "ucast eth1 192.0.2.129",
    "ucast eth1 192.0.2.130",
    "auto_failback off",
    "node node1",
    "node node2",
    "crm off",
    "",
  ].join("\n");
}
const heartbeat_haresources = `node1 drbddisk::r0 Filesystem::/dev/drbd0::/srv/data::ext4 IPaddr::${vip}/25/eth0 nfs-kernel-server smbd\n`;

/**
 * r0 as a Heartbeat admin had it: the seed's resource without tandem's fencing policy and
 * handlers (the seeds' drbd.conf has no fencing at all: DRBD's default, `fencing dont-care`),
 * applied to the running resource with `drbdadm adjust`. The seed rewrites r0.res at every boot,
 * so this runs after each boot, before heartbeat starts.
 */
async function heartbeatDrbd(n: NodeName): Promise<string> {
  const vm = c!.vm(n);
  await vm.sh(
    "sed -e '/^  disk /s/fencing [a-z-]*; //' -e '/^  handlers {/,/^  }/d' /etc/drbd.d/r0.res > /etc/drbd.d/r0.res.hb && mv /etc/drbd.d/r0.res.hb /etc/drbd.d/r0.res && drbdadm adjust r0",
    { timeout_ms: 120_000 },
  );
  const show = (await vm.sh("drbdsetup show r0", { timeout_ms: 60_000 })).out;
  if (/fence-peer|fencing\s+resource/.test(show)) throw new Error(`${n}: r0 still has tandem's fencing after adjust:\n${show}`);
  return (await vm.sh("grep -E 'fencing|handlers|fence-peer' /etc/drbd.d/r0.res || echo 'no fencing, no handlers'", { check: false })).out.trim();
}

/**
 * tandem's r0 with the fencing policy of --drbd-fencing (the seed writes resource-and-stonith at
 * every boot, so this runs after each boot), applied with `drbdadm adjust`; returns DRBD's own
 * view (`drbdsetup show`: fencing and the fence-peer handler).
 */
async function tandemDrbdFencing(n: NodeName): Promise<string> {
  const vm = c!.vm(n);
  await vm.sh(`sed -i -e '/^  disk /s/fencing [a-z-]*;/fencing ${drbd_fencing};/' /etc/drbd.d/r0.res && drbdadm adjust r0`, { timeout_ms: 120_000 });
  const show = (await vm.sh("drbdsetup show r0", { timeout_ms: 60_000 })).out;
  const got = /fencing\s+([a-z-]+)/.exec(show)?.[1] ?? "dont-care";
  if (got !== drbd_fencing) throw new Error(`${n}: r0 has fencing ${got} after adjust, not ${drbd_fencing}:\n${show}`);
  // drbdsetup show has no handlers (drbdadm runs them): the line from r0.res
  const handler = (await vm.sh("grep -o 'fence-peer .*' /etc/drbd.d/r0.res", { check: false })).out.trim();
  return `fencing ${got}; ${handler}`;
}

async function startHeartbeat(n: NodeName): Promise<void> {
  const vm = c!.vm(n);
  await vm.put("/etc/ha.d/ha.cf", heartbeatHaCf(), 0o644);
  await vm.put("/etc/ha.d/haresources", heartbeat_haresources, 0o644);
  // Heartbeat 3.0.6 knows crc, md5 and sha1 (no sha256)
  await vm.put("/etc/ha.d/authkeys", "auth 1\n1 sha1 appliance-test-secret-4f2a9c\n", 0o600);
  await vm.sh("systemctl start heartbeat", { timeout_ms: 120_000 });
}

/** Both heartbeats see each other (cl_status). */
async function heartbeatFormed(timeout_ms = 180_000): Promise<number> {
  return c!.waitFor(
    "both nodes active in Heartbeat's cl_status",
    async () => {
      for (const n of ["node1", "node2"] as const) {
        const peer = n === "node1" ? "node2" : "node1";
        if ((await c!.vm(n).sh(`cl_status nodestatus ${peer}`, { check: false, timeout_ms: 30_000 })).out.trim() !== "active") return false;
      }
      return true;
    },
    timeout_ms,
  );
}

interface ProtoResult {
  proto: Proto;
  acks: Ack[];
  errors: number;
  error_when: string[];
  lines: number;
  missing: Ack[];
  bad_sum: number;
  stall1_ms: number | null;
  stall2_ms: number | null;
  freeze_to_first_ms: number | null;
  median_ms: number;
  before: number;
  during: number;
  after: number;
  mount_opts: string;
  /** partition: acked between the cut and node1's power-off / between node1's DRBD disconnect and its power-off (client clock) */
  acked_by_a_after_cut: number;
  acked_by_a_after_disc: number | null;
}

interface SystemResult {
  system: System;
  ok: boolean;
  rows: [string, string][];
  protos: ProtoResult[];
  title: string;
}

/** Mounts the VIP's NFS export and SMB share in the client VM; returns each protocol's options. */
async function clientMounts(client: Vm, A: NodeName): Promise<Record<Proto, string>> {
  // hard: block, never fail; timeo=10 (1 s): the RPC is resent (and the TCP connection
  // re-made, to the new holder of the VIP) soon after the takeover, not after TCP's backoff.
  let nfs = "vers=3,proto=tcp,hard,nolock,timeo=10,retrans=3";
  const m3 = await client.sh(`mkdir -p /run/nfs-data && timeout 90 mount -t nfs -o ${nfs} ${vip}:/srv/data /run/nfs-data 2>&1`, { timeout_ms: 120_000, check: false });
  if (m3.code !== 0) {
    // NFSv3 needs rpcbind and mountd on the server; v4 only port 2049 (but its open state is lost on takeover: see README)
    log(`NFSv3 mount failed (${m3.out.trim()}); trying NFSv4.2`);
    nfs = "vers=4.2,proto=tcp,hard,timeo=10,retrans=3";
    await client.sh(`timeout 90 mount -t nfs -o ${nfs} ${vip}:/srv/data /run/nfs-data`, { timeout_ms: 120_000 });
  }
  // smbd is the group's last resource: it may still be starting when the export is up
  await c!.waitFor(`smbd listening on ${A}:445`, async () => (await c!.vm(A).sh("ss -Hltn 'sport = :445'", { check: false, timeout_ms: 30_000 })).out.includes(":445"), 180_000, 500);
  // the guest is `nobody` on the server: a world-writable directory on r0 (replicated like the rest)
  // The file is made here, mode 0666: one the guest creates gets Samba's `create mask` 0744, and
  // the guest's token does not own it as far as Samba's access check goes, so every later open
  // for writing was refused (the first record was acknowledged, then "Permission denied").
  await c!.vm(A).sh(`mkdir -p /srv/data/smb && chmod 0777 /srv/data/smb && for f in /srv/data/${protocols[1].file} /srv/data/${protocols[1].file}.probe; do : > $f; chmod 0666 $f; done`);
  // hard: retry while the server is away instead of failing the call (soft is the default);
  // echo_interval=1: the client notices a dead server within a few seconds (default 60);
  // cache=strict (the default) and no nostrictsync: fsync sends SMB2 FLUSH
  const smb_base = "hard,echo_interval=1,file_mode=0666,dir_mode=0777";
  let smb = "";
  const tried: string[] = [];
  // `guest` is a null session; a made-up user is mapped to the guest too (smb.conf: map to guest = bad user)
  for (const o of ["3.1.1", "3.0", "2.1"].flatMap((vers) => [`vers=${vers},guest,${smb_base}`, `vers=${vers},username=bench,password=,${smb_base}`])) {
    const r = await client.sh(`mkdir -p /run/smb-data && timeout 90 mount -t cifs -o ${o} //${vip}/data /run/smb-data 2>&1`, { timeout_ms: 120_000, check: false });
    if (r.code === 0) {
      smb = o;
      break;
    }
    tried.push(`${o}: ${r.out.trim()}`);
  }
  if (!smb) throw new Error(`mount -t cifs //${vip}/data failed: ${tried.join("; ")}; dmesg: ${(await client.sh("dmesg | grep -i cifs | tail -n 5", { check: false })).out}`);
  log(`client mounts: ${(await client.sh("grep -E ' /run/(nfs|smb)-data ' /proc/mounts")).out.trim().replace(/\n/g, " | ")}`);
  return { nfs, smb };
}

async function scenario(system: System, image: Image): Promise<SystemResult> {
  const hb = system === "heartbeat";
  const overhead_on = !args["no-overhead"] && !hb;
  c = await ApplianceCluster.create({
    // Heartbeat's run: tandem never starts (masked on the kernel command line: the root is read-only)
    image: hb ? { ...image, cmdline: `${image.cmdline} systemd.mask=tandem.service` } : image,
    services: "systemd:nfs-server systemd:smbd",
    replicated_disk_mb: disk_mb,
    client_vm: true,
    bare_disk: overhead_on,
    bmc: true,
    // fence_ipmilan is Python: two runs (off, then status) in a TCG guest on a loaded host
    fence_timeout_s: 120,
  });
  const t_boot = performance.now();
  const [boot, client_ms] = await Promise.all([c.boot(), c.clientUp()]);
  log(`[${system}] booted (three VMs at once; node1 and node2 powered on through their BMCs): node1 ${Math.round(boot.node1!)} ms, node2 ${Math.round(boot.node2!)} ms, client ${Math.round(client_ms)} ms`);
  if (hb) {
    for (const n of ["node1", "node2"] as const) {
      await c.waitFor(`${n}: r0 up (the seed's drbdadm up)`, async () => (await procDrbd(n)).includes("cs:"), 300_000);
      log(`[heartbeat] ${n} drbd.conf: ${await heartbeatDrbd(n)}; tandem: ${(await c.vm(n).sh("systemctl is-active tandem", { check: false })).out.trim()}`);
    }
    await Promise.all((["node1", "node2"] as const).map((n) => startHeartbeat(n)));
    await heartbeatFormed();
  } else {
    await c.waitFormed();
  }
  // node1 is preferred, but a start that failed there under load (e.g. nfs-server's beyond the
  // agent's 20 s) leaves the group on node2: then the nodes swap parts (A serves first, B takes over)
  let A = "node1" as NodeName;
  await c.waitFor(
    "the group (Primary, /srv/data mounted, VIP, export) on node1 or node2",
    async () => {
      for (const n of ["node1", "node2"] as const) {
        if ((await procDrbd(n)).includes("ro:Primary/") && (await mounted(n)) && (await c!.holdsVip(n)) && (await exported(n))) {
          A = n;
          return true;
        }
      }
      return false;
    },
    400_000,
  );
  const B: NodeName = A === "node1" ? "node2" : "node1";
  if (A !== "node1") log(`the group came up on ${A}, not on the preferred node1 (a failed start there: see its journal); ${A} plays node1's part below, ${B} node2's`);
  await c.waitFor("initial sync (UpToDate/UpToDate)", async () => (await procDrbd(A)).includes("ds:UpToDate/UpToDate"), 600_000);
  log(`[${system}] ${A} serves /srv/data, r0 in sync, ${Math.round((performance.now() - t_boot) / 1000)} s after qemu start: ${await procDrbd(A)}`);
  let fencing_shown = "";
  if (!hb) {
    log(`${B}'s ha.cf fence lines: ${(await c.vm(B).sh("grep -E '^fence' /etc/ha.d/ha.cf")).out.trim().replace(/password=\S+/g, "password=***").replace(/\n/g, " | ")}`);
    for (const n of ["node1", "node2"] as const) fencing_shown = await tandemDrbdFencing(n);
    log(`[${system}] r0 on both nodes (drbdsetup show): ${fencing_shown}`);
  }

  const client = c.client!;
  const opts = await clientMounts(client, A);
  for (const p of protocols) {
    const r = await client.sh(`(mkdir -p $(dirname ${p.mnt}/${p.file}) && for i in 1 2; do printf 'probe\\n' | dd of=${p.mnt}/${p.file}.probe oflag=append conv=notrunc,fsync status=none || exit 1; done && rm -f ${p.mnt}/${p.file}.probe) 2>&1`, { check: false, timeout_ms: 120_000 });
    if (r.code !== 0) throw new Error(`a test write with fsync to ${p.mnt}/${p.file}.probe (${p.proto}) failed: exit ${r.code}: ${r.out.trim()}`);
  }
  await client.put("/var/tmp/writer.sh", writer, 0o755);
  await client.sh("rm -f /var/tmp/stop");
  for (const p of protocols) {
    await client.sh(`: > ${p.mnt}/${p.file}; (setsid /var/tmp/writer.sh ${p.mnt}/${p.file} ${records_max} /var/tmp/acks-${p.proto} </dev/null >/dev/null 2>/var/tmp/writer-${p.proto}.err & echo $! > /var/tmp/writer-${p.proto}.pid)`);
  }
  const countAcks = async (p: Proto) => Number((await client.sh(`grep -c '^ack' /var/tmp/acks-${p}`, { check: false, timeout_ms: 30_000 })).out.trim() || "0");
  await c
    .waitFor(`${before_records} acknowledged records on NFS and on SMB`, async () => (await countAcks("nfs")) >= before_records && (await countAcks("smb")) >= before_records, 300_000, 500)
    .catch(async (e: Error) => {
      for (const p of protocols) log(`${p.proto}: acks ${await countAcks(p.proto)}, last lines: ${(await client.sh(`tail -n 3 /var/tmp/acks-${p.proto}; tail -c 600 /var/tmp/writer-${p.proto}.err; ls -la ${p.mnt}/${p.file}`, { check: false })).out.trim()}`);
      log(`client dmesg: ${(await client.sh("dmesg | tail -n 15", { check: false })).out.trim()}`);
      throw e;
    });

  // ---- 1. the fault on node1: power loss (SIGKILL of its qemu), a hang (SIGSTOP: only its BMC can
  // end it) or a partition that node1 loses (see the top of this file)
  const n1 = c.vm(A);
  const n1_pid = n1.pid!;
  const off2 = await clockOffset(c.vm(B));
  const off1_fault = await clockOffset(n1);
  const offc = await clockOffset(client);
  // partition: node2's BMC stops answering first, so that no fence attempt of node1's ever gets through
  if (fault === "partition") c.bmc(B).pause();
  const freeze_ns = hostNs();
  if (fault === "hang") n1.sigstop();
  else if (fault === "power") await n1.kill();
  else await Promise.all([c.isolateNodes(true), n1.setLink(1, false), c.vm(B).setLink(1, false)]);
  const cut_ns = hostNs();
  const at_fault = { nfs: await countAcks("nfs"), smb: await countAcks("smb") };
  log(`[${system}] ${A} ${fault === "hang" ? `frozen (SIGSTOP of qemu ${n1_pid})` : fault === "power" ? `powered off (SIGKILL of qemu ${n1_pid})` : `cut off from ${B} (eth1 down on both, node taps isolated on the bridge, in ${ms(cut_ns - freeze_ns)} ms; ${B}'s BMC paused)`}; acknowledged so far: NFS ${at_fault.nfs}, SMB ${at_fault.smb}`);
  // partition: node1's own journal is read while it still runs (its last seconds die with it: a
  // power-off loses what is not on its disk yet); the last read is kept. node1's shell is this
  // loop's alone: node2 fences node1 some 10 s after the cut, sooner than a ping check there ends.
  let tl_a_text = "";
  let watching_a = fault === "partition";
  const watch_a = (async () => {
    while (watching_a && n1.running) {
      const t = await journalSince(A, freeze_ns, off1_fault, system, 20_000).catch(() => "");
      if (t.trim() !== "" && n1.running) tl_a_text = t;
      await Bun.sleep(300);
    }
  })();
  if (fault === "partition") {
    // the cut must really separate the nodes, and only them: checked from node2 (the bridge's port
    // isolation and qemu's link state are symmetric; node1's side shows in its client acks)
    const ping = async (to: string) => (await c!.vm(B).sh(`ping -c 1 -W 1 ${to} >/dev/null 2>&1`, { check: false, timeout_ms: 30_000 })).code === 0;
    const r = { eth0: await ping(A === "node1" ? "192.0.2.11" : "192.0.2.12"), eth1: await ping(A === "node1" ? "192.0.2.129" : "192.0.2.130"), client: await ping(client_vm_addr), bmc: await ping(bmcAddr(A)) };
    const seen = `${B}: ${A} eth0 ${r.eth0 ? "REACHABLE" : "cut"}, eth1 ${r.eth1 ? "REACHABLE" : "cut"}, client VM ${r.client ? "reachable" : "UNREACHABLE"}, ${A}'s BMC address ${r.bmc ? "reachable" : "UNREACHABLE"}`;
    if (r.eth0 || r.eth1 || !r.client || !r.bmc) {
      watching_a = false;
      throw new Error(`the partition is not what it should be: ${seen}`);
    }
    log(`[${system}] partition checked with ping (${ms(hostNs() - freeze_ns)} ms after the cut): ${seen}`);
  }

  // Poll node2 until Primary; at each poll note whether node1's qemu still exists.
  let primary_seen_ns = 0n;
  let n1_alive_when_primary = true;
  await c.waitFor(
    `${B} Primary`,
    async () => {
      const alive = pidAlive(n1_pid);
      if (!(await procDrbd(B)).includes("ro:Primary/")) return false;
      primary_seen_ns = hostNs();
      n1_alive_when_primary = alive && pidAlive(n1_pid);
      return true;
    },
    300_000,
    250,
  );
  await c.waitFor(`${B} mounted + VIP`, async () => (await mounted(B)) && (await c!.holdsVip(B)), 180_000, 250);
  const mount2_ns = hostNs();
  await c.waitFor(`${B} exports`, () => exported(B), 180_000, 250);
  const export2_ns = hostNs();
  // each protocol's first ack after the fault; a client that never comes back is a result, not an abort
  const resumed1: Record<Proto, bigint | null> = { nfs: null, smb: null };
  const t_wait = performance.now();
  while ((resumed1.nfs === null || resumed1.smb === null) && performance.now() - t_wait < 600_000) {
    for (const p of ["nfs", "smb"] as const) {
      if (resumed1[p] !== null) continue;
      // partition: node1 may go on acknowledging after the cut; only an ack after node2 exports is node2's
      const again = fault === "partition" ? (await countAcksAfter(client, p, export2_ns, offc)) > 0 : (await countAcks(p)) > at_fault[p] + 1;
      if (again) resumed1[p] = hostNs();
    }
    await Bun.sleep(250);
  }
  for (const p of ["nfs", "smb"] as const) if (resumed1[p] === null) log(`[${system}] ${p.toUpperCase()}: no ack within 600 s after the takeover (writer stderr: ${(await client.sh(`tail -c 300 /var/tmp/writer-${p}.err`, { check: false })).out.trim()}; client dmesg: ${(await client.sh("dmesg | tail -n 8", { check: false })).out.trim()})`);
  const power1 = c.bmc(A).events();
  const off_req = power1.find((e) => e.what === "off-requested" && e.at_ns > freeze_ns);
  const off_done = power1.find((e) => (e.what === "off" || e.what === "exited") && e.at_ns > freeze_ns - 1_000_000_000n);
  const tl1 = await guestTimeline(B, freeze_ns, off2, system);
  watching_a = false;
  await watch_a;
  // node1's side (partition): the handler's daemon requests come 4 a second; the first and the last are kept
  const tl_a_all = parseTimeline(tl_a_text, freeze_ns, off1_fault);
  const tl_a = tl_a_all.filter((x, i) => {
    if (!/drbd_fence_peer /.test(x.what)) return true;
    const same = tl_a_all.filter((y) => y.what === x.what);
    return same[0] === x || same[same.length - 1] === x;
  });
  if (fault === "partition") {
    // the cut ends before node1 is powered on again: node2's eth1 back, the taps no longer isolated, node2's BMC answering
    c.bmc(B).resume();
    await c.isolateNodes(false);
    await c.vm(B).setLink(1, true);
    log(`[${system}] partition undone ${ms(hostNs() - freeze_ns)} ms after the cut (${A} is off): ${B}'s eth1 up, taps not isolated, ${B}'s BMC resumed`);
  }
  const rel = (t: bigint | undefined | null) => (t === undefined || t === null ? "-" : `${ms(t - freeze_ns)} ms`);
  log(`[${system}] failover timeline (host clock, from the fault; ${B}'s journal shifted by its clock offset ${ms(off2)} ms${fault === "partition" ? `, ${A}'s by ${ms(off1_fault)} ms (read while it ran: its last second may be missing)` : ""}):`);
  const timeline: Stamp[] = [
    ...tl1.map((x) => ({ what: `${B}: ${x.what}`, at_ns: x.at_ns })),
    ...tl_a.map((x) => ({ what: `${A}: ${x.what}`, at_ns: x.at_ns })),
    ...(off_req ? [{ what: `${A}'s BMC: chassis power-off requested (ipmi_sim SIGTERMs the machine)`, at_ns: off_req.at_ns }] : []),
    ...(off_done ? [{ what: `${A}'s BMC: qemu gone (${off_done.what}); the BMC reports off from here`, at_ns: off_done.at_ns }] : []),
    { what: `host: ${B} seen Primary`, at_ns: primary_seen_ns },
    { what: `host: ${B} mounted + VIP`, at_ns: mount2_ns },
    { what: `host: ${B} exporting`, at_ns: export2_ns },
    ...(["nfs", "smb"] as const).flatMap((p) => (resumed1[p] === null ? [] : [{ what: `host: client acks again over ${p.toUpperCase()}`, at_ns: resumed1[p]! }])),
  ].sort((a, b) => (a.at_ns < b.at_ns ? -1 : a.at_ns > b.at_ns ? 1 : 0));
  for (const x of timeline) log(`  ${String(ms(x.at_ns - freeze_ns)).padStart(7)} ms  ${x.what}`);
  // event names follow "tandem[node2]: " (group_fence's detail mentions fence_done: match the name only)
  const fence_ok = tl1.find((x) => /^tandem\[\S+\]: fence_ok /.test(x.what));
  const fence_req = tl1.find((x) => /^tandem\[\S+\]: fence_requested /.test(x.what));
  const fence_start = tl1.find((x) => /^tandem\[\S+\]: fence_start /.test(x.what));
  const dead = tl1.find((x) => /node_dead|is dead/.test(x.what));
  const promote = tl1.find((x) => /role\( Secondary -> Primary \)/.test(x.what));
  const first_start = tl1.find((x) => /resource_ok .*action=start|Running \/etc\/ha\.d\/+resource\.d\/drbddisk .*start/.test(x.what));
  // node1's side of a partition: when its DRBD lost node2, froze (resource-and-stonith), ran fence-peer; its own fence attempts
  const a_disc = tl_a.find((x) => /conn\( (Connected|WFBitMap\w*|Sync\w+) -> /.test(x.what));
  const a_susp = tl_a.find((x) => /susp\w*\( 0 -> 1 \)/.test(x.what));
  const a_helper = tl_a.find((x) => /helper command: \S+ fence-peer/.test(x.what) && !/exit code/.test(x.what));
  const a_helper_done = tl_a.find((x) => /fence-peer.*exit code|fence-peer helper/.test(x.what));
  const a_dead = tl_a.find((x) => /node_dead/.test(x.what));
  const a_fence_start = tl_a.find((x) => /^tandem\[\S+\]: fence_start /.test(x.what));
  const a_fence_end = tl_a.filter((x) => /^tandem\[\S+\]: fence_(failed|ok) /.test(x.what));
  // The guarantee (tandem): node2 started nothing (and DRBD was not promoted) before the BMC had node1 off.
  const fenced_first =
    off_done !== undefined &&
    !n1_alive_when_primary &&
    !pidAlive(n1_pid) &&
    (promote === undefined || promote.at_ns > off_done.at_ns) &&
    (first_start === undefined || first_start.at_ns > off_done.at_ns) &&
    fence_ok !== undefined &&
    (first_start === undefined || first_start.at_ns > fence_ok.at_ns);
  await Bun.sleep(after_s * 1000);

  // ---- 2. node1 comes back (powered on through its BMC), resyncs, and the group fails back.
  const t_on = performance.now();
  await n1.start(400_000);
  await c.waitSystem(A);
  const boot_again_ms = performance.now() - t_on;
  if (hb) {
    await c.waitFor(`${A}: r0 up`, async () => (await procDrbd(A)).includes("cs:"), 300_000);
    await heartbeatDrbd(A);
    await startHeartbeat(A);
    await heartbeatFormed();
  } else {
    await c.waitFormed();
    log(`[${system}] ${A} r0 after the boot: ${await tandemDrbdFencing(A)}`);
  }
  const formed_again_ms = performance.now() - t_on;
  log(`[${system}] ${A} powered on through its BMC (ipmitool chassis power on), booted ${Math.round(boot_again_ms)} ms, both up ${Math.round(formed_again_ms)} ms; ${A}: ${await procDrbd(A)}`);
  let max_oos_kib = 0;
  await c.waitFor(
    `resync (${A} Secondary, UpToDate/UpToDate)`,
    async () => {
      const p = await procDrbd(A);
      const oos = Number(/oos:(\d+)/.exec((await c!.vm(A).sh("cat /proc/drbd", { check: false })).out)?.[1] ?? "0");
      if (oos > max_oos_kib) max_oos_kib = oos;
      return p.includes("cs:Connected") && p.includes("ro:Secondary/Primary") && p.includes("ds:UpToDate/UpToDate");
    },
    600_000,
    500,
  );
  const resync_ms = performance.now() - t_on;
  // DRBD's own account of the resync, from node1's kernel log
  const resync_log = (await c.vm(A).sh("journalctl -k -b --no-pager -o cat | grep -E 'Began resync|Resync done' | tail -n 2", { check: false })).out.trim().replace(/\n/g, " | ");
  log(`[${system}] resync done ${Math.round(resync_ms)} ms after the power-on (largest out-of-sync seen ${max_oos_kib} KiB): ${await procDrbd(A)}; ${A} kernel: ${resync_log}`);
  const at_failback = { nfs: await countAcks("nfs"), smb: await countAcks("smb") };
  const off1 = await clockOffset(c.vm(A));
  const off2b = await clockOffset(c.vm(B));
  const failback_cmd = hb ? "/usr/share/heartbeat/hb_takeover all" : "tandem takeover all";
  const failback_ns = hostNs();
  await c.vm(A).sh(failback_cmd, { timeout_ms: 60_000 });
  log(`[${system}] failback: \`${failback_cmd}\` on ${A}; acknowledged so far: NFS ${at_failback.nfs}, SMB ${at_failback.smb}`);
  await c.waitFor(`${A} Primary again`, async () => (await procDrbd(A)).includes("ro:Primary/"), 300_000, 250);
  const primary1_ns = hostNs();
  await c.waitFor(`${A} mounted + VIP + exporting`, async () => (await mounted(A)) && (await c!.holdsVip(A)) && (await exported(A)), 300_000, 250);
  const serve1_ns = hostNs();
  const resumed2: Record<Proto, bigint | null> = { nfs: null, smb: null };
  const t_wait2 = performance.now();
  while ((resumed2.nfs === null || resumed2.smb === null) && performance.now() - t_wait2 < 600_000) {
    for (const p of ["nfs", "smb"] as const) if (resumed2[p] === null && (await countAcksAfter(client, p, serve1_ns, offc)) > 0) resumed2[p] = hostNs();
    await Bun.sleep(250);
  }
  const tl2 = await guestTimeline(A, failback_ns, off1, system);
  const tl2b = await guestTimeline(B, failback_ns, off2b, system);
  log(`[${system}] failback timeline (host clock, from the takeover command):`);
  for (const x of [
    ...tl2b.map((y) => ({ what: `${B}: ${y.what}`, at_ns: y.at_ns })),
    ...tl2.map((y) => ({ what: `${A}: ${y.what}`, at_ns: y.at_ns })),
    { what: `host: ${A} seen Primary`, at_ns: primary1_ns },
    { what: `host: ${A} mounted + VIP + exporting`, at_ns: serve1_ns },
    ...(["nfs", "smb"] as const).flatMap((p) => (resumed2[p] === null ? [] : [{ what: `host: client acks again over ${p.toUpperCase()}`, at_ns: resumed2[p]! }])),
  ].sort((a, b) => (a.at_ns < b.at_ns ? -1 : 1)))
    log(`  ${String(ms(x.at_ns - failback_ns)).padStart(7)} ms  ${x.what}`);
  await Bun.sleep(Math.min(after_s, 10) * 1000);

  await client.sh("touch /var/tmp/stop");
  // a writer stuck in a call that never returns (a server that never comes back) is reported, not waited for forever
  await c
    .waitFor("the writers to finish", async () => (await client.sh("cat /var/tmp/acks-nfs /var/tmp/acks-smb | grep -c '^end'", { check: false })).out.trim() === "2", 300_000, 500)
    .catch((e: Error) => log(`[${system}] ${e.message}`));

  // the files as they are on node1's disk (the final primary): drop the page cache first
  await c.vm(A).sh("sync; echo 3 > /proc/sys/vm/drop_caches");
  const toClient = (h: bigint) => h + offc;
  const protos: ProtoResult[] = [];
  for (const p of protocols) {
    const { acks, errors, error_ns } = parseAcks((await client.sh(`cat /var/tmp/acks-${p.proto}`, { timeout_ms: 120_000 })).out);
    // when each failed call returned, from the fault and from the failback command (client clock)
    const error_when = error_ns.slice(0, 5).map((e) => `${((Number(e - toClient(freeze_ns)) / 1e9)).toFixed(1)} s after the fault / ${((Number(e - toClient(failback_ns)) / 1e9)).toFixed(1)} s after the failback command`);
    const disk_text = (await c.vm(A).sh(`cat /srv/data/${p.file}`, { timeout_ms: 300_000, check: false })).out;
    const lines = disk_text.split("\n").filter((l) => l !== "");
    const on_disk = new Set(lines);
    let bad_sum = 0;
    for (const l of lines) {
      const sp = l.lastIndexOf(" ");
      const want = new Bun.CryptoHasher("sha256").update(l.slice(0, sp)).digest("hex");
      if (want !== l.slice(sp + 1)) bad_sum++;
    }
    const missing = acks.filter((a) => !on_disk.has(recordLine(a)));
    const r1 = resumed1[p.proto];
    const r2 = resumed2[p.proto];
    const s1 = r1 === null ? null : stallAround(acks, toClient(freeze_ns), toClient(r1));
    const s2 = r2 === null ? null : stallAround(acks, toClient(failback_ns), toClient(r2));
    const during = acks.filter((a) => a.ack_ns > toClient(freeze_ns) && a.ack_ns <= toClient(failback_ns)).length;
    const after = acks.filter((a) => a.ack_ns > toClient(failback_ns)).length;
    const a_off_ns = off_done?.at_ns ?? freeze_ns;
    const acked_by_a_after_cut = fault === "partition" ? acks.filter((a) => a.ack_ns > toClient(freeze_ns) && a.ack_ns <= toClient(a_off_ns)).length : 0;
    const acked_by_a_after_disc = a_disc ? acks.filter((a) => a.ack_ns > toClient(a_disc.at_ns) && a.ack_ns <= toClient(a_off_ns)).length : null;
    let gaps: number[] = [];
    for (let i = 1; i < acks.length; i++) gaps.push(Number(acks[i]!.ack_ns - acks[i - 1]!.ack_ns) / 1e6);
    gaps = gaps.sort((x, y) => x - y);
    protos.push({
      proto: p.proto,
      acks,
      errors,
      error_when,
      lines: lines.length,
      missing,
      bad_sum,
      stall1_ms: s1?.stall_ms ?? null,
      stall2_ms: s2?.stall_ms ?? null,
      freeze_to_first_ms: s1?.first_after ? ms(s1.first_after.ack_ns - toClient(freeze_ns)) : null,
      median_ms: Math.round(gaps[Math.floor(gaps.length / 2)] ?? 0),
      before: acks.length - during - after,
      during,
      after,
      mount_opts: opts[p.proto],
      acked_by_a_after_cut,
      acked_by_a_after_disc,
    });
  }
  const final2 = await procDrbd(B);

  // Replication overhead last: its writes starve the peer VM's emulated CPU, and once (deadtime 3 s,
  // load ~3) node2's heartbeats stopped for 3.3 s during them: node1 declared it dead and fenced it,
  // which in the middle of the scenario ended the run. Here that can only spoil the figure, which is
  // then marked as not replicated.
  let overhead: { what: string; bare: string; drbd: string; ratio: string }[] = [];
  if (overhead_on) {
    overhead = await replicationOverhead(A);
    const after = await procDrbd(A);
    if (!after.includes("cs:Connected")) overhead = overhead.map((o) => ({ ...o, ratio: `${o.ratio}; PEER LOST during the test (${after.slice(0, 40)}): not a replicated figure` }));
  }

  const msOr = (x: number | null) => (x === null ? "never (within 600 s)" : `${x} ms`);
  const rows: [string, string][] = [];
  for (const r of protos) {
    const P = r.proto.toUpperCase();
    rows.push(
      [`${P} (${r.mount_opts}): records acknowledged before the fault / ${fault === "partition" ? `after it until the failback (${A}, then ${B})` : `on ${B}`} / after the failback`, `${r.before} / ${r.during} / ${r.after}`],
      ...(fault === "partition"
        ? ([[`${P}: acknowledged by ${A} after the cut / after its DRBD lost ${B} (until its power-off)`, `${r.acked_by_a_after_cut} / ${r.acked_by_a_after_disc ?? `- (${A}'s disconnect not in its journal)`}`]] as [string, string][])
        : []),
      [`${P}: write errors seen by the client (when the first ones returned)`, `${r.errors}${r.error_when.length ? ` (${r.error_when.join("; ")})` : ""}`],
      [`${P}: lines in its file on ${A}'s disk at the end / acknowledged but missing or changed / bad checksum`, `${r.lines} / ${r.missing.length} / ${r.bad_sum}`],
      [`${P}: failover stall (largest gap between acks around the fault) / fault -> first ack`, `${msOr(r.stall1_ms)} / ${msOr(r.freeze_to_first_ms)}`],
      [`${P}: failback stall (largest gap between acks around the takeover command)`, msOr(r.stall2_ms)],
      [`${P}: median gap between acks (4 forks + write + fsync under TCG)`, `${r.median_ms} ms`],
    );
  }
  if (hb) {
    rows.push([`failover: ${B}'s Heartbeat declared ${A} dead / drbddisk start / DRBD Primary (kernel log), after the fault`, `${rel(dead?.at_ns)} / ${rel(first_start?.at_ns)} / ${rel(promote?.at_ns)}`]);
  } else {
    rows.push(
      [`failover: ${B}'s tandem: node_dead / fence requested / agent started (after fence_delay)`, `${rel(dead?.at_ns)} / ${rel(fence_req?.at_ns)} / ${rel(fence_start?.at_ns)}`],
      [`failover: ${A}'s BMC: power-off requested / qemu gone`, `${rel(off_req?.at_ns)} / ${rel(off_done?.at_ns)}`],
      [`failover: fence confirmed (${B}'s tandem: Status OFF) / DRBD Primary (kernel log) / first resource started`, `${rel(fence_ok?.at_ns)} / ${rel(promote?.at_ns)} / ${rel(first_start?.at_ns)}`],
      [`takeover only after the BMC reported ${A} off`, fenced_first ? "yes" : "NO"],
    );
    if (fault === "partition") {
      const fence_tries = a_fence_end.map((x) => `${/fence_(failed|ok)/.exec(x.what)?.[0]} ${rel(x.at_ns)}`).join(", ");
      rows.push(
        [`partition: ${A}'s DRBD lost ${B} / I/O frozen (susp) / fence-peer called / fence-peer returned (${A}'s kernel log)`, `${rel(a_disc?.at_ns)} / ${a_susp ? rel(a_susp.at_ns) : "not frozen"} / ${rel(a_helper?.at_ns)} / ${a_helper_done ? `${rel(a_helper_done.at_ns)} (${a_helper_done.what.replace(/^.*?(exit code \d+|returned \d+).*$/, "$1")})` : "not before its power-off"}`],
        [`partition: ${A}'s tandem: ${B} dead / fence attempt on ${B} started / results (${B}'s BMC paused)`, `${rel(a_dead?.at_ns)} / ${rel(a_fence_start?.at_ns)} / ${fence_tries || "none before its power-off"}`],
      );
    }
  }
  rows.push(
    [`failover: ${B} mounted + VIP / exporting (host polls)`, `${rel(mount2_ns)} / ${rel(export2_ns)}`],
    [`failback: ${A} power-on (BMC) -> booted / cluster formed / resync done (host polls)`, `${Math.round(boot_again_ms / 1000)} s / ${Math.round(formed_again_ms / 1000)} s / ${Math.round(resync_ms / 1000)} s (largest oos seen ${max_oos_kib} KiB)`],
    [`failback: DRBD's resync (${A}'s kernel log)`, resync_log.replace(/^.*?(Resync done[^|]*)$/, "$1").slice(0, 100) || "-"],
    [`failback: ${A} Primary / serving after \`${failback_cmd}\``, `${ms(primary1_ns - failback_ns)} ms / ${ms(serve1_ns - failback_ns)} ms`],
    [`${B} at the end`, final2.replace(/\s+/g, " ").slice(0, 90)],
    ...(hb ? [] : ([[`DRBD r0 (drbdsetup show, set by --drbd-fencing)`, fencing_shown]] as [string, string][])),
  );
  for (const o of overhead) rows.push([`${o.what}: bare disk / DRBD r0 (protocol C, peer connected)`, `${o.bare} / ${o.drbd} (${o.ratio})`]);
  const ok = protos.every((r) => r.missing.length === 0 && r.during > 0 && r.after > 0) && (hb || fenced_first);
  const title = `${hb ? "Heartbeat 3.0.6 (haresources, no stonith, DRBD fencing dont-care)" : `tandem (fence through the BMC, DRBD ${drbd_fencing} + tandem's fence-peer)`}: NFS and SMB clients writing through ${vip}; the DRBD primary ${fault === "hang" ? "hangs and is fenced through its BMC" : fault === "partition" ? `is cut off from ${B}, cannot fence it (${B}'s BMC paused) and is fenced by it` : "loses power"}, comes back and takes the group back (TCG VMs, loadavg ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")})`;
  if (!hb && !fenced_first) rows.push(["FENCING ORDER NOT SHOWN", `BMC off ${rel(off_done?.at_ns)}, fence_ok ${rel(fence_ok?.at_ns)}, promote ${rel(promote?.at_ns)}, first start ${rel(first_start?.at_ns)}, ${A} alive when Primary seen: ${n1_alive_when_primary}`]);
  await c.destroy();
  c = null;
  return { system, ok, rows, protos, title };
}

function printResult(r: SystemResult): void {
  const w = Math.max(...r.rows.map((x) => x[0].length));
  console.log(`\n${r.title}`);
  for (const [k, v] of r.rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  for (const p of r.protos) for (const a of p.missing.slice(0, 10)) console.log(`  MISSING (${p.proto.toUpperCase()}): ${recordLine(a)}`);
}

async function main(): Promise<number> {
  const image = ensureImage(bin, { variant: "harness" });
  const results: SystemResult[] = [];
  for (const s of systems as System[]) {
    let r: SystemResult;
    try {
      r = await scenario(s, image);
    } catch (e) {
      // one system's failure is reported; the other system still runs
      console.error(`bench/storage: [${s}] ${(e as Error).stack ?? e}`);
      await dumpJournals();
      await c?.destroy();
      c = null;
      r = { system: s, ok: false, rows: [["FAILED", String((e as Error).message ?? e).slice(0, 300)]], protos: [], title: `${s}: the run failed` };
    }
    printResult(r);
    results.push(r);
  }
  for (const r of results) if (results.length > 1) printResult(r);
  const t = results.find((r) => r.system === "tandem");
  const h = results.find((r) => r.system === "heartbeat");
  if (t && h && t.protos.length > 0 && h.protos.length > 0) {
    console.log(`\nStalls, tandem against Heartbeat 3.0.6 (same VMs, same fault: ${fault === "power" ? "power loss of the primary" : fault}; ratio = tandem / Heartbeat):`);
    for (const p of ["nfs", "smb"] as const) {
      const a = t.protos.find((x) => x.proto === p)!;
      const b = h.protos.find((x) => x.proto === p)!;
      for (const [what, x, y] of [
        ["failover", a.stall1_ms, b.stall1_ms],
        ["failback", a.stall2_ms, b.stall2_ms],
      ] as const) {
        const ratio = x !== null && y !== null && y > 0 ? (x / y).toFixed(2) : "-";
        console.log(`  ${p.toUpperCase()} ${what} stall: tandem ${x === null ? "never" : `${(x / 1000).toFixed(1)} s`}, Heartbeat ${y === null ? "never" : `${(y / 1000).toFixed(1)} s`}, ratio ${ratio}`);
      }
    }
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

/** Acks the client logged after host time h (client clock = h + offset; awk's doubles: a few hundred ns of error). */
async function countAcksAfter(client: Vm, p: Proto, h_ns: bigint, off_ns: bigint): Promise<number> {
  const t = (h_ns + off_ns).toString();
  const r = await client.sh(`awk '$1 == "ack" && $5 > ${t}' /var/tmp/acks-${p} | wc -l`, { check: false, timeout_ms: 30_000 });
  return Number(r.out.trim() || "0");
}

async function dumpJournals(): Promise<void> {
  if (!c) return;
  for (const n of ["node1", "node2"] as const) {
    if (!c.vm(n).running) continue;
    log(`${n} /proc/drbd: ${await procDrbd(n).catch(String)}`);
    log(`${n} journal:\n${(await c.vm(n).journal("-u tandem-drbd-r0 -u tandem -u heartbeat -b").catch(String)).split("\n").slice(-40).join("\n")}`);
  }
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
  await dumpJournals();
} finally {
  await c?.destroy();
}
process.exit(code);
