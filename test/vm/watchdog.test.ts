// The watchdog against the real softdog, in a qemu VM with Debian's stock
// kernel (src/lab/vm.ts): loading softdog on this machine would arm a timer
// that resets it. Slow (TCG boots, ~1-2 minutes in all), so not part of the
// default suite:
//
//   ./node_modules/.bin/bun test --timeout 600000 test/vm/
//
// Each case: `modprobe softdog soft_margin=5`, one tandem node with
// `watchdog /dev/watchdog` (and a loopback link: one node is a valid
// cluster), and it must stay up well past 2 x the margin while tandem feeds.
//   - SIGSTOP the daemon: softdog must reset the guest (qemu -no-reboot exits)
//     within margin + slack, and say so on the console;
//   - SIGTERM: magic close, the guest must NOT reset; then a restarted daemon
//     SIGKILLed (no magic close) must reset it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type BaseImage, ensureBaseImage, Vm, vmUnavailableReason } from "../../src/lab/vm.ts";

const root = join(import.meta.dir, "../..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem");
const margin_s = 5;
/** reset must come within margin + this (TCG timer skew, console flush, qemu teardown) */
const reset_slack_ms = 10_000;
const why_not = vmUnavailableReason() ?? (existsSync(bin) ? null : `${bin} missing: run ./node_modules/.bin/bun run build.ts`);

const hacf = `node vm1
keepalive 200ms
deadtime 2
initdead 4
udpport 694
ucast lo 127.0.0.2
auto_failback off
watchdog /dev/watchdog
`;
const authkeys = "auth 1\n1 sha256 vm-watchdog-test-secret-0123456789\n";

let base: BaseImage;
const vms: Vm[] = [];

function log(msg: string): void {
  process.stderr.write(`[vm-watchdog] ${msg}\n`);
}

async function bootWithTandem(): Promise<Vm> {
  const vm = new Vm({
    base,
    name: "vm1",
    files: [
      { path: "/usr/sbin/tandem", from: bin, mode: 0o755 },
      { path: "/etc/ha.d/ha.cf", text: hacf },
      { path: "/etc/ha.d/authkeys", text: authkeys, mode: 0o600 },
    ],
  });
  vms.push(vm);
  await vm.start();
  log(`booted in ${Math.round(vm.boot_ms)} ms (qemu pid ${vm.pid})`);
  await vm.sh(`modprobe softdog soft_margin=${margin_s}`);
  expect((await vm.sh("cat /sys/class/watchdog/watchdog0/identity")).out.trim()).toBe("Software Watchdog");
  await vm.sh("mkdir -p /var/lib/tandem");
  return vm;
}

/** Starts the daemon in the guest; returns its PID once it has opened the watchdog. */
async function startTandem(vm: Vm, logfile: string): Promise<number> {
  const pid = Number(
    (await vm.sh(`TMPDIR=/tmp /usr/sbin/tandem daemon --dir /etc/ha.d --state-dir /var/lib/tandem --socket /run/tandem.sock --node vm1 </dev/null >${logfile} 2>&1 & echo $!`)).out.trim(),
  );
  expect(pid).toBeGreaterThan(1);
  const t0 = performance.now();
  for (;;) {
    const r = await vm.sh(`grep -E 'watchdog_open|fatal' ${logfile}`, { check: false });
    if (r.code === 0) {
      expect(r.out).toContain("watchdog_open path=/dev/watchdog");
      expect(r.out).toContain(`timeout_s=${margin_s}`);
      log(`tandem pid ${pid}: ${r.out.trim().replace(/^\S+ /, "")} (${Math.round(performance.now() - t0)} ms after start)`);
      return pid;
    }
    if (performance.now() - t0 > 60_000) throw new Error(`tandem did not open the watchdog in 60 s:\n${(await vm.sh(`cat ${logfile}`, { check: false })).out}`);
    await Bun.sleep(300);
  }
}

/** The guest outlives 2 x margin + 2 s with tandem feeding (a dead feeder would have reset it). */
async function staysUp(vm: Vm, pid: number): Promise<void> {
  await Bun.sleep((2 * margin_s + 2) * 1000);
  expect(vm.running).toBe(true);
  await vm.sh(`kill -0 ${pid}`);
  expect((await vm.sh("cat /sys/class/watchdog/watchdog0/state")).out.trim()).toBe("active");
}

async function expectReset(vm: Vm, what: string): Promise<number> {
  const waited = await vm.waitExit(margin_s * 1000 + reset_slack_ms);
  if (waited === null) throw new Error(`${what}: no reset within ${margin_s} s + ${reset_slack_ms} ms; console:\n${vm.consoleTail()}`);
  log(`${what}: guest reset ${Math.round(waited)} ms later (soft_margin ${margin_s} s)`);
  expect(vm.consoleTail(4000)).toMatch(/softdog: Initiating system reboot/);
  return waited;
}

if (why_not) {
  test.skip(`VM watchdog tests skipped: ${why_not}`, () => {});
} else {
  beforeAll(() => {
    const t0 = performance.now();
    base = ensureBaseImage(["softdog", "virtio_console", "virtio_pci"]);
    log(`kernel ${base.kernel.kver}, base image ${base.initrd} (${Math.round(performance.now() - t0)} ms)`);
  });

  afterAll(async () => {
    for (const vm of vms) await vm.stop();
  });

  describe("softdog in a VM", () => {
    test("tandem feeds the watchdog; SIGSTOP the daemon and the VM resets", async () => {
      const vm = await bootWithTandem();
      try {
        const pid = await startTandem(vm, "/tmp/tandem.log");
        await staysUp(vm, pid);
        await vm.sh(`kill -STOP ${pid}`);
        const waited = await expectReset(vm, "SIGSTOP");
        // last feed at most one feed interval (timeout / 4) before the stop
        expect(waited).toBeGreaterThan(margin_s * 1000 * 0.75 - 1000);
      } finally {
        await vm.stop();
      }
    });

    test("SIGTERM closes with the magic 'V': no reset; a SIGKILLed daemon does reset", async () => {
      const vm = await bootWithTandem();
      try {
        const pid = await startTandem(vm, "/tmp/tandem.log");
        await staysUp(vm, pid);
        await vm.sh(`kill -TERM ${pid}`);
        // the daemon exits and logs the magic close
        await vm.sh(`for i in $(seq 1 100); do kill -0 ${pid} 2>/dev/null || break; sleep 0.1; done; ! kill -0 ${pid} 2>/dev/null`);
        const out = (await vm.sh("cat /tmp/tandem.log")).out;
        expect(out).toContain("watchdog_closed path=/dev/watchdog disarmed=true");
        expect((await vm.sh("cat /sys/class/watchdog/watchdog0/state")).out.trim()).toBe("inactive");
        await Bun.sleep((2 * margin_s + 2) * 1000);
        expect(vm.running).toBe(true);
        await vm.sh("true");
        expect((await vm.sh("dmesg")).out).not.toContain("Unexpected close");
        log(`SIGTERM: disarmed, guest still up ${2 * margin_s + 2} s later`);

        const pid2 = await startTandem(vm, "/tmp/tandem2.log");
        await vm.sh(`kill -KILL ${pid2}`);
        await expectReset(vm, "SIGKILL");
      } finally {
        await vm.stop();
      }
    });
  });
}
