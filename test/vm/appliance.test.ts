// The appliance image (image/build.ts) in two qemu VMs under TCG, with a
// client in a network namespace (src/lab/appliance.ts): the real box, with
// systemd, softdog, the seed, NFS and Samba as tandem resources.
//
// Default suite (CI slice): one boot of both VMs, the cluster forms from the
// seeds, then a power loss of the active VM and the VIP answering the
// client's pings from the other one. TANDEM_VM_FULL=1 (`./run vm`) adds: a
// cut cable (no failover), the killed VM coming back and rejoining, tandem
// frozen with SIGSTOP (softdog resets the box, it reboots and rejoins), and
// a clean `systemctl reboot` (tandem stops its resources first, the peer
// takes over, the box comes back).
//
// Timings are logged (boot, failover seen by the client), never asserted:
// TCG speed depends on the machine's load.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureImage, type Image } from "../../image/build.ts";
import { ApplianceCluster, client_addr, type NodeName, vip } from "../../src/lab/appliance.ts";
import { vmUnavailableReason } from "../../src/lab/vm.ts";

const root = join(import.meta.dir, "../..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem");
const full = process.env.TANDEM_VM_FULL === "1";
const services = "systemd:nfs-server systemd:smbd";

function whyNot(): string | null {
  if (process.getuid?.() !== 0) return "not root (debootstrap, network namespaces)";
  const vm = vmUnavailableReason();
  if (vm) return vm;
  if (!existsSync(bin)) return `${bin} missing: run ./node_modules/.bin/bun run build.ts`;
  for (const t of ["debootstrap", "sfdisk", "qemu-img", "mkfs.ext4"]) {
    if (!Bun.which(t) && !existsSync(`/usr/sbin/${t}`) && !existsSync(`/sbin/${t}`)) return `${t} not found (./run setup installs it)`;
  }
  return null;
}
const why_not = whyNot();

function log(msg: string): void {
  process.stderr.write(`[vm-appliance] ${msg}\n`);
}

/** `journalctl -o json` output: one object per line. */
function journalJson(out: string): { PRIORITY?: string; MESSAGE: string; SYSLOG_IDENTIFIER?: string }[] {
  return out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l))
    .map((e) => ({ ...e, MESSAGE: typeof e.MESSAGE === "string" ? e.MESSAGE : "" }));
}

let image: Image;
let c: ApplianceCluster | null = null;

/** The node holding the VIP (polls both). */
async function holder(): Promise<NodeName | null> {
  for (const n of ["node1", "node2"] as const) {
    if (c!.vm(n).running && (await c!.holdsVip(n))) return n;
  }
  return null;
}

/** A ping from the client to the VIP, one every 100 ms, with timestamps: [epoch s] lines. */
function startPing() {
  return c!.spawnClient(["ping", "-n", "-D", "-O", "-i", "0.1", "-W", "1", vip]);
}

/** Seconds (epoch) of the first reply in p after t_s. */
function firstReplyAfter(lines: string[], t_s: number): number | null {
  for (const l of lines) {
    const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(l);
    if (m && Number(m[1]) > t_s) return Number(m[1]);
  }
  return null;
}

async function expectRejoin(n: NodeName, what: string): Promise<void> {
  const ms = await c!.waitFormed(300_000);
  log(`${what}: ${n} back in the cluster (${Math.round(ms)} ms after its boot finished)`);
}

/** SIGTERM-free power loss of the VIP holder; the client's view of the failover. */
async function killHolderAndMeasure(): Promise<{ from: NodeName; to: NodeName; failover_ms: number }> {
  const from = await holder();
  expect(from).not.toBeNull();
  const to: NodeName = from === "node1" ? "node2" : "node1";
  const ping = startPing();
  await ping.waitLine(/bytes from/, 30_000);
  // measured from qemu's death: a reply in flight before it is not a failover
  await c!.vm(from!).kill();
  const t_kill_s = Date.now() / 1000;
  const reply = await ping.waitLine((l) => firstReplyAfter([l], t_kill_s) !== null, 120_000);
  expect(reply).not.toBeNull();
  const failover_ms = (firstReplyAfter([reply!], t_kill_s)! - t_kill_s) * 1000;
  await ping.stop(1000);
  expect(await c!.holdsVip(to)).toBe(true);
  // the client's ARP entry for the VIP moved to the survivor's eth0 (gratuitous ARP)
  const neigh = await c!.nsRun(["ip", "neigh", "show", vip]);
  expect(neigh.stdout).toContain(to === "node1" ? "52:54:00:00:01:00" : "52:54:00:00:02:00");
  return { from: from!, to, failover_ms };
}

if (why_not) {
  test.skip(`appliance VM tests skipped: ${why_not}`, () => {});
} else {
  afterAll(async () => {
    await c?.destroy();
  });

  describe("appliance image in two VMs", () => {
    test(
      "image builds; both VMs boot from one image and form the cluster from their seeds",
      async () => {
        const t0 = performance.now();
        image = ensureImage(bin);
        log(`image ${image.dir}: ${Math.round(image.disk_bytes / 2 ** 20)} MiB disk (built in ${Math.round(image.build_ms / 1000)} s when it was built; ${Math.round(performance.now() - t0)} ms now)`);
        c = await ApplianceCluster.create({ image, services });
        const boot = await c.boot();
        log(`full systemd boot under TCG (both VMs at once): node1 ${Math.round(boot.node1!)} ms, node2 ${Math.round(boot.node2!)} ms`);
        const formed = await c.waitFormed();
        log(`cluster formed ${Math.round(formed)} ms after the boots finished`);
        const vm = c.vm("node1");
        // the box as the seed made it
        expect((await vm.sh("cat /proc/sys/kernel/hostname")).out.trim()).toBe("node1");
        expect((await vm.sh("tandem check --dir /etc/ha.d")).out).toContain("OK");
        const hacf = (await vm.sh("cat /etc/ha.d/ha.cf")).out;
        expect(hacf).toContain("node node1 node2");
        expect(hacf).toContain("watchdog /dev/watchdog");
        expect((await vm.sh("stat -c %a /etc/ha.d/authkeys")).out.trim()).toBe("600");
        expect((await vm.sh("cat /etc/ha.d/haresources")).out).toContain(`node1 ${vip}/25/eth0 ${services}`);
        // unattended: read-only root, /var on the data partition, persistent journal, softdog armed by tandem
        expect((await vm.sh("findmnt -n -o OPTIONS /")).out).toMatch(/^ro,/);
        expect((await vm.sh("findmnt -n -o SOURCE,OPTIONS /var")).out).toMatch(/rw/);
        expect((await vm.sh("ls /var/log/journal")).out.trim()).not.toBe("");
        expect((await vm.sh("cat /sys/class/watchdog/watchdog0/identity /sys/class/watchdog/watchdog0/state")).out).toBe("Software Watchdog\nactive\n");
        expect((await vm.sh("systemctl show -p WatchdogUSec --value tandem")).out.trim()).toBe("10s");
        // real-time threads share CPUs in 10 ms slices, not the kernel's 100 (image/files/etc/sysctl.d/60-tandem.conf)
        expect((await vm.sh("cat /proc/sys/kernel/sched_rr_timeslice_ms")).out.trim()).toBe("10");
        // the group runs on the preferred node: VIP, NFS server, Samba
        await c.waitFor("VIP and services on node1", async () => (await c!.holdsVip("node1")) && (await vm.sh("systemctl is-active nfs-server smbd", { check: false })).code === 0, 120_000);
        if (await c.holdsVip("node2")) {
          // both hold it: on a machine loaded enough that node2 heard nothing
          // of node1 within initdead (no fencing in this seed), both start the
          // group, as Heartbeat would; once they hear each other the
          // placement core must stop it on one. Show why, then insist on that.
          const j2 = await c.vm("node2").journal("-u tandem -b");
          log(`node2 holds the VIP too; its journal:\n${j2.split("\n").filter((l) => /node_|conflict|resource_|initdead|group/.test(l)).slice(-25).join("\n")}`);
          await c.waitFor("one node releases the VIP (conflict resolved)", async () => (await c!.holdsVip("node1")) !== (await c!.holdsVip("node2")), 60_000);
          log(`conflict resolved: ${(await c.holdsVip("node1")) ? "node1" : "node2"} keeps the VIP`);
        } else {
          expect(await c.holdsVip("node1")).toBe(true);
        }
        const r = await c.nsRun(["ping", "-n", "-c", "1", "-W", "5", vip], 15_000);
        expect(r.code).toBe(0);
        // the journal says who did what
        expect(await vm.journal("-u tandem -b")).toMatch(/node_up node=node2/);
        // ... with priorities: under systemd each stderr line starts with
        // `<N>`, which journald strips into PRIORITY (SyslogLevelPrefix=)
        const unit_lines = journalJson((await vm.sh("journalctl -u tandem -b -o json --output-fields=PRIORITY,MESSAGE")).out);
        const up = unit_lines.find((e) => /node_up node=node2/.test(e.MESSAGE));
        expect(up?.PRIORITY).toBe("5"); // notice
        expect(unit_lines.filter((e) => /^<\d>/.test(e.MESSAGE))).toEqual([]);
        expect(unit_lines.filter((e) => /tandem\[node1\]: started /.test(e.MESSAGE)).map((e) => e.PRIORITY)).toContain("5");
        // ha.cf `logfacility` through the box's real syslog socket (journald's
        // /dev/log): a second daemon, outside systemd, on its own port and
        // state directory, with local3 (facility 19), alone in its cluster
        // (`ghost` never answers: node_dead at deadtime, a warning).
        const lt = "/run/tandem-logtest";
        await vm.sh(`rm -rf ${lt} && mkdir -p ${lt}/ha.d && cd ${lt}/ha.d
printf 'node node1 ghost\\nkeepalive 100ms\\ndeadtime 1\\ninitdead 1\\nudpport 6949\\nucast lo 127.0.0.2\\nauto_failback off\\nlogfacility local3\\n' > ha.cf
printf 'auth 1\\n1 sha256 logfacility-test-secret-0123\\n' > authkeys && chmod 600 authkeys && : > haresources
timeout -s TERM 6 tandem daemon --dir ${lt}/ha.d --state-dir ${lt}/state --socket ${lt}/s > ${lt}/stderr 2>&1 || true`);
        const sys_lines = journalJson((await vm.sh("journalctl -b SYSLOG_FACILITY=19 -o json --output-fields=PRIORITY,MESSAGE,SYSLOG_IDENTIFIER")).out);
        log(`logfacility local3: ${sys_lines.length} lines in the journal from /dev/log, e.g. ${JSON.stringify(sys_lines.find((e) => /node_dead/.test(e.MESSAGE)))}`);
        expect(sys_lines.find((e) => /started node=node1/.test(e.MESSAGE))?.PRIORITY).toBe("5");
        expect(sys_lines.find((e) => /node_dead node=ghost/.test(e.MESSAGE))?.PRIORITY).toBe("4"); // warning
        expect(sys_lines.every((e) => e.SYSLOG_IDENTIFIER === "tandem")).toBe(true);
        await vm.sh(`rm -rf ${lt}`);
        log(`client ${client_addr} reaches ${vip} on ${(await c.holdsVip("node1")) ? "node1" : "node2"}`);
      },
      1_800_000,
    );

    test(
      "power loss of the active VM: the VIP answers the client from the other one",
      async () => {
        const r = await killHolderAndMeasure();
        log(`failover seen by the client: first reply from ${vip} ${Math.round(r.failover_ms)} ms after ${r.from} lost power (deadtime 3 s)`);
        // the rest of the group follows the VIP (start order)
        const svc_ms = await c!.waitFor("nfs-server and smbd on the survivor", async () => (await c!.vm(r.to).sh("systemctl is-active nfs-server smbd", { check: false })).code === 0, 120_000, 250);
        log(`nfs-server and smbd active on ${r.to} ${Math.round(r.failover_ms + svc_ms)} ms after the power loss (at most)`);
        expect(await c!.vm(r.to).journal("-u tandem -b")).toContain(`node_dead node=${r.from}`);
      },
      600_000,
    );

    if (full) {
      test(
        "the killed VM boots again and rejoins; a cut cable changes nothing",
        async () => {
          const dead = (["node1", "node2"] as const).find((n) => !c!.vm(n).running)!;
          const live = dead === "node1" ? "node2" : "node1";
          await c!.vm(dead).start(400_000);
          await c!.waitSystem(dead);
          await expectRejoin(dead, "after power loss");
          // auto_failback off: the group stays where it is
          expect(await c!.holdsVip(live)).toBe(true);
          expect(await c!.holdsVip(dead)).toBe(false);
          // the direct cable (eth1) pulled: eth0 still carries heartbeats
          await c!.vm(dead).setLink(1, false);
          await Bun.sleep(10_000);
          for (const n of [dead, live] as const) expect((await c!.status(n)).nodes.every((x) => x.state !== "dead")).toBe(true);
          expect(await c!.holdsVip(live)).toBe(true);
          await c!.vm(dead).setLink(1, true);
        },
        900_000,
      );

      test(
        "tandem frozen with SIGSTOP on the active VM: softdog resets the box, the peer takes over, the box rejoins",
        async () => {
          const h = (await holder())!;
          const other: NodeName = h === "node1" ? "node2" : "node1";
          const vm = c!.vm(h);
          const pid = (await vm.sh("systemctl show -p MainPID --value tandem")).out.trim();
          expect(Number(pid)).toBeGreaterThan(1);
          const ping = startPing();
          await ping.waitLine(/bytes from/, 30_000);
          const t_stop_s = Date.now() / 1000;
          await vm.sh(`kill -STOP ${pid}`);
          // softdog's margin is 10 s; the reboot comes back on the control port
          const back_ms = await vm.waitReady(400_000);
          expect(vm.consoleTail(200_000)).toMatch(/softdog: Initiating system reboot/);
          await ping.stop(1000);
          // Without fencing the peer takes the VIP after deadtime while the
          // frozen box still answers ARP/ICMP from its kernel until softdog
          // resets it (Heartbeat R1's window): the client sees replies from
          // one or the other all along; log the longest gap.
          const stamps = ping.lines.map((l) => /^\[(\d+\.\d+)\] \d+ bytes from/.exec(l)?.[1]).filter((x): x is string => x !== undefined).map(Number).filter((t) => t > t_stop_s);
          let gap_s = 0;
          for (let i = 1; i < stamps.length; i++) gap_s = Math.max(gap_s, stamps[i]! - stamps[i - 1]!);
          log(`SIGSTOP on ${h}: ${h} back on its control port ${Math.round(back_ms)} ms after the stop (soft_margin 10 s + boot); longest gap in the client's ping replies ${Math.round(gap_s * 1000)} ms`);
          expect(await c!.holdsVip(other)).toBe(true);
          await c!.waitSystem(h);
          await expectRejoin(h, "after the softdog reset");
          // the previous boot ended in a reset, not a shutdown: no "Stopped tandem" in it
          expect(await vm.journal("-b -1 -u tandem")).not.toContain("Stopped tandem");
        },
        900_000,
      );

      test(
        "systemctl reboot of the active VM: tandem stops its resources first, the peer takes them, the box comes back",
        async () => {
          const h = (await holder())!;
          const other: NodeName = h === "node1" ? "node2" : "node1";
          const vm = c!.vm(h);
          await vm.sh("systemctl --no-block reboot");
          await vm.waitReady(400_000);
          await c!.waitSystem(h);
          await expectRejoin(h, "after a clean reboot");
          expect(await c!.holdsVip(other)).toBe(true);
          expect((await c!.vm(other).sh("systemctl is-active nfs-server smbd", { check: false })).code).toBe(0);
          // the previous boot's journal: the services stopped, then tandem, in that order
          const j = (await vm.journal("-b -1 -u tandem -u smbd -u nfs-server")).split("\n");
          const at = (re: RegExp) => j.findIndex((l) => re.test(l));
          const smbd = at(/Stopped smbd/);
          const nfs = at(/Stopped nfs-server/);
          const tandem = at(/Stopped tandem/);
          log(`reboot of ${h}: smbd stopped at line ${smbd}, nfs-server ${nfs}, tandem ${tandem}`);
          expect(smbd).toBeGreaterThanOrEqual(0);
          expect(nfs).toBeGreaterThanOrEqual(0);
          expect(tandem).toBeGreaterThan(Math.max(smbd, nfs));
        },
        900_000,
      );
    }
  });
}
