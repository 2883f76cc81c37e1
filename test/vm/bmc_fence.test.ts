// Fencing a hung appliance VM through its BMC (issue 8): two appliance VMs
// with `bmc: true` (src/lab/appliance.ts, src/lab/bmc.ts): each has an
// ipmi_sim BMC on the VMs' network whose chassis power is that VM's qemu,
// and the seeds give both nodes `fence NODE fence_ipmilan ... action=off`.
// The VMs are powered on through their BMCs (ipmitool chassis power on).
//
// node1 holds the VIP; its qemu is SIGSTOPped (a hung box: not off, nothing
// answers). node2 must run fence_ipmilan against node1's BMC, the BMC must
// kill that qemu, and only then may node2 take the VIP: checked with node2's
// own log (fence_ok before the VIP's resource_ok start) and the BMC's power
// log (qemu gone before fence_ok, on the host's clock with node2's offset).
// Then node1 is powered on through the BMC again and rejoins.
//
// Not in the CI slice (about 4 minutes under TCG); `./run vm`
// (TANDEM_VM_FULL=1) or TANDEM_VM_BMC=1 runs it.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureImage } from "../../image/build.ts";
import { ApplianceCluster, bmcAddr } from "../../src/lab/appliance.ts";
import { pidAlive, vmUnavailableReason } from "../../src/lab/vm.ts";

const root = join(import.meta.dir, "../..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem");
const wanted = process.env.TANDEM_VM_FULL === "1" || process.env.TANDEM_VM_BMC === "1";

function whyNot(): string | null {
  if (!wanted) return "set TANDEM_VM_FULL=1 (./run vm) or TANDEM_VM_BMC=1";
  if (process.getuid?.() !== 0) return "not root (debootstrap, network namespaces)";
  const vm = vmUnavailableReason();
  if (vm) return vm;
  if (!existsSync(bin)) return `${bin} missing: run ./node_modules/.bin/bun run build.ts`;
  for (const t of ["debootstrap", "sfdisk", "qemu-img", "mkfs.ext4", "ipmi_sim", "ipmitool"]) {
    if (!Bun.which(t) && !existsSync(`/usr/sbin/${t}`) && !existsSync(`/sbin/${t}`)) return `${t} not found (./run setup installs it)`;
  }
  return null;
}
const why_not = whyNot();

function log(msg: string): void {
  process.stderr.write(`[vm-bmc] ${msg}\n`);
}

const hostNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

let c: ApplianceCluster | null = null;

if (why_not) {
  test.skip(`BMC fencing VM test skipped: ${why_not}`, () => {});
} else {
  afterAll(async () => {
    await c?.destroy();
  });

  describe("fence_ipmilan against each appliance VM's BMC", () => {
    test(
      "node1 hangs (SIGSTOP); node2 powers it off through its BMC before taking the VIP; node1 powers on again and rejoins",
      async () => {
        c = await ApplianceCluster.create({ image: ensureImage(bin), bmc: true, fence_timeout_s: 120 });
        const boot = await c.boot();
        log(`boot through the BMCs: node1 ${Math.round(boot.node1!)} ms, node2 ${Math.round(boot.node2!)} ms`);
        expect(await c.bmc("node1").powerStatus()).toBe("on");
        await c.waitFormed();
        const hacf = (await c.vm("node2").sh("grep -E '^fence' /etc/ha.d/ha.cf")).out;
        expect(hacf).toContain(`fence node1 fence_ipmilan ip=${bmcAddr("node1")}`);
        expect((await c.vm("node2").sh("tandem check --dir /etc/ha.d")).out).toContain("OK");
        await c.waitFor("node1 holds the VIP", () => c!.holdsVip("node1"), 120_000);

        const n1_pid = c.vm("node1").pid!;
        const h0 = hostNs();
        const g = BigInt((await c.vm("node2").sh("date +%s%N")).out.trim());
        const offset_ns = g - (h0 + hostNs()) / 2n;
        const t0 = performance.now();
        c.vm("node1").sigstop();
        const vip_ms = await c.waitFor("node2 holds the VIP", () => c!.holdsVip("node2"), 300_000, 250);
        log(`node1 frozen; node2 holds the VIP ${Math.round(vip_ms)} ms later`);
        expect(pidAlive(n1_pid)).toBe(false);
        expect(await c.bmc("node1").powerStatus()).toBe("off");

        const off = c.bmc("node1").events().find((e) => e.what === "off");
        expect(off).toBeDefined();
        // node2's own record, tandem's ISO stamps (guest clock) shifted onto the host's
        const journal = await c.vm("node2").journal("-u tandem -b");
        const at = (re: RegExp): bigint | null => {
          for (const line of journal.split("\n")) {
            if (!re.test(line)) continue;
            const iso = / (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) tandem\[/.exec(line)?.[1];
            if (iso) return BigInt(Date.parse(iso)) * 1_000_000n - offset_ns;
          }
          return null;
        };
        const fence_ok = at(/ fence_ok node=node1 /);
        const vip_start = at(/ resource_ok .*resource=192\.0\.2\.50\/25\/eth0 action=start/);
        const rel = (t: bigint | null) => (t === null ? "-" : `${Number((t - h0) / 1_000_000n)} ms`);
        log(`from the freeze: BMC off ${rel(off!.at_ns)}, node2 fence_ok ${rel(fence_ok)}, node2 VIP started ${rel(vip_start)} (host ${Math.round(performance.now() - t0)} ms now)`);
        expect(fence_ok).not.toBeNull();
        expect(vip_start).not.toBeNull();
        expect(fence_ok!).toBeLessThan(vip_start!);
        // the BMC had qemu gone before node2's agent reported success (clock offset error: well under the gap)
        expect(off!.at_ns).toBeLessThan(fence_ok!);

        // power on through the BMC: node1 boots and rejoins; the VIP stays on node2 (auto_failback off)
        await c.vm("node1").start(400_000);
        await c.waitSystem("node1");
        await c.waitFormed();
        expect(await c.bmc("node1").powerStatus()).toBe("on");
        expect(await c.holdsVip("node2")).toBe(true);
        log(`node1 powered on through its BMC and rejoined; power log: ${c.bmc("node1").events().map((e) => e.what).join(" ")}`);
      },
      1_500_000,
    );
  });
}
