// A BMC for a qemu VM: ipmi_sim (Debian openipmi) on an address of the VMs'
// network, whose chassis power really is the VM's qemu process.
//
// ipmi_sim's `startcmd` is the machine's power supply (machine.sh, written
// here): power-on runs it, and it starts qemu (the argv the Vm hands over,
// in a qemu.sh of its own) in its own session under --pdeathsig KILL; a
// chassis power-off makes ipmi_sim SIGTERM it (with no VM connected to its
// VM serial channel it acts at once, then SIGKILLs after kill_wait), and it
// turns that into a SIGKILL of qemu, waits until qemu is reaped, logs "off"
// and exits. Only then does ipmi_sim see its startcmd gone and report the
// chassis off. So "Status: OFF" from fence_ipmilan means the qemu process no
// longer exists, whatever state the guest was in: a SIGSTOPped qemu (a hung
// box that cannot take part in anything) dies the same way.
//
// Why not qemu's own `-device ipmi-bmc-extern` talking to ipmi_sim's VM
// serial channel: there qemu has to read the power-off message and act on it,
// which a frozen (SIGSTOPped) qemu never does; ipmi_sim would then fall back
// to killing its startcmd anyway. The startcmd path is the one that works for
// every state of the VM, and TCG changes nothing in it.
//
// Every power event is appended to power.log with the host's clock
// (`on|off-requested|off|exited <ns since the epoch>`), so a benchmark can
// show that a takeover came after the BMC had powered the machine off.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Proc, run } from "./netns.ts";

export const bmc_user = "admin";
export const bmc_password = "tandem-bmc-secret";

/** `KEY VALUE` pairs for fence_ipmilan: lanplus, cipher 3 (ipmitool spends ~10 s negotiating a cipher with ipmi_sim otherwise) */
export function fenceIpmilanParams(ip: string): string {
  return `ip=${ip} username=${bmc_user} password=${bmc_password} lanplus=1 cipher=3`;
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * ipmi_sim's files in dir: lan.conf (one LAN channel on ip:623, one admin
 * user, power control through the VM serial channel on 127.0.0.1:serial_port,
 * `startcmd` as the machine's power supply) and bmc.emu (one BMC at 0x20).
 * Shared by the VM BMCs here and the namespace machines of the fencing tests.
 */
export function writeIpmiSimFiles(dir: string, o: { name: string; ip: string; serial_port: number; startcmd: string; startnow: boolean; user: string; password: string }): void {
  writeFileSync(
    join(dir, "lan.conf"),
    [
      `name "${o.name}"`,
      "set_working_mc 0x20",
      "  startlan 1",
      `    addr ${o.ip} 623`,
      "    priv_limit admin",
      "    allowed_auths_callback none md2 md5 straight",
      "    allowed_auths_user none md2 md5 straight",
      "    allowed_auths_operator none md2 md5 straight",
      "    allowed_auths_admin none md2 md5 straight",
      "    guid a123456789abcdefa123456789abcdef",
      "  endlan",
      // power control goes through the system-interface channel's VM codec;
      // no VM connects, so a power-off signals the startcmd at once
      `  serial 15 127.0.0.1 ${o.serial_port} codec VM`,
      `  startcmd "${o.startcmd}"`,
      `  startnow ${o.startnow}`,
      "  poweroff_wait 2",
      "  kill_wait 2",
      `  user 2 true "${o.user}" "${o.password}" admin 10 md5 straight`,
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "bmc.emu"), "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n");
}

export interface PowerEvent {
  what: "on" | "off-requested" | "off" | "exited";
  /** host clock, ns since the epoch */
  at_ns: bigint;
}

export class VmBmc {
  sim: Proc | null = null;
  readonly dir: string;
  /** pause(): ipmi_sim's PID while it is SIGSTOPped */
  private paused_pid: number | null = null;

  constructor(
    /** the network namespace ipmi_sim (and so the VM's qemu) runs in */
    readonly ns: string,
    run_dir: string,
    readonly name: string,
    /** the BMC's LAN address (must exist in ns) */
    readonly ip: string,
    /** ipmi_sim's VM serial channel port on 127.0.0.1 (one per BMC in the namespace) */
    readonly serial_port: number,
  ) {
    this.dir = join(run_dir, `${name}-bmc`);
  }

  get power_log(): string {
    return join(this.dir, "power.log");
  }

  /** Writes the BMC's files and starts ipmi_sim (the machine stays off: power it on with powerOn()). */
  async start(timeout_ms = 30_000): Promise<void> {
    mkdirSync(join(this.dir, "state"), { recursive: true });
    const log = this.power_log;
    writeFileSync(
      join(this.dir, "machine.sh"),
      [
        "#!/bin/sh",
        `# ${this.name}'s power supply (ipmi_sim startcmd): runs qemu.sh; SIGTERM (chassis power-off) = SIGKILL of qemu`,
        `exec >>${sq(join(this.dir, "machine.log"))} 2>&1 </dev/null`,
        `echo "on $(date +%s%N)" >> ${sq(log)}`,
        // own session: nothing aimed at ipmi_sim's process group reaches qemu;
        // setsid does not fork here (a background job is no group leader), so $! is qemu's PID
        `setsid setpriv --pdeathsig KILL -- /bin/sh ${sq(join(this.dir, "qemu.sh"))} &`,
        "pid=$!",
        `echo $pid > "$(cat ${sq(join(this.dir, "pid_file"))})"`,
        `trap 'echo "off-requested $(date +%s%N)" >> ${sq(log)}; kill -KILL $pid; wait $pid; echo "off $(date +%s%N)" >> ${sq(log)}; exit 0' TERM`,
        "wait $pid",
        `echo "exited $(date +%s%N)" >> ${sq(log)}`,
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    writeIpmiSimFiles(this.dir, {
      name: `${this.name}-bmc`,
      ip: this.ip,
      serial_port: this.serial_port,
      // pdeathsig: the machine (and so qemu) dies with ipmi_sim, and ipmi_sim with this process
      startcmd: `setpriv --pdeathsig KILL -- ${join(this.dir, "machine.sh")}`,
      startnow: false,
      user: bmc_user,
      password: bmc_password,
    });
    const argv = ["setpriv", "--pdeathsig", "KILL", "--", "ipmi_sim", "-c", join(this.dir, "lan.conf"), "-f", join(this.dir, "bmc.emu"), "-s", join(this.dir, "state"), "-n"];
    const sub = Bun.spawn(["ip", "netns", "exec", this.ns, ...argv], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.sim = new Proc(this.ns, argv, sub);
    const t0 = performance.now();
    for (;;) {
      const st = await this.powerStatus().catch((e: Error) => e.message);
      if (st === "off") return;
      if (!this.sim.running || performance.now() - t0 > timeout_ms) {
        throw new Error(`${this.name}'s BMC (ipmi_sim on ${this.ip}) does not answer: ${st}\n${this.sim.lines.slice(-10).join("\n")}`);
      }
      await Bun.sleep(300);
    }
  }

  /** ipmitool against this BMC, from the namespace (the path a fence agent takes). Bounded. */
  async ipmitool(args: string[], timeout_ms = 30_000): Promise<string> {
    const r = await run(["ip", "netns", "exec", this.ns, "ipmitool", "-I", "lanplus", "-C", "3", "-H", this.ip, "-U", bmc_user, "-P", bmc_password, ...args], timeout_ms);
    if (r.code !== 0) throw new Error(`ipmitool ${args.join(" ")} against ${this.ip}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  async powerStatus(): Promise<"on" | "off"> {
    const out = await this.ipmitool(["chassis", "power", "status"], 15_000);
    if (/is on/i.test(out)) return "on";
    if (/is off/i.test(out)) return "off";
    throw new Error(`unexpected power status: ${out.trim()}`);
  }

  /**
   * The Vm launcher: qemu's argv goes into qemu.sh, then the chassis is powered on through the
   * BMC's LAN interface; machine.sh writes qemu's PID to pid_file.
   */
  launcher(): (argv: string[], pid_file: string) => Promise<void> {
    return async (argv, pid_file) => {
      writeFileSync(join(this.dir, "qemu.sh"), `exec ${argv.map(sq).join(" ")} >>${sq(join(dirname(pid_file), "qemu.log"))} 2>&1 </dev/null\n`, { mode: 0o755 });
      writeFileSync(join(this.dir, "pid_file"), pid_file);
      await this.ipmitool(["chassis", "power", "on"]);
    };
  }

  events(): PowerEvent[] {
    let text = "";
    try {
      text = readFileSync(this.power_log, "utf8");
    } catch {
      return [];
    }
    const out: PowerEvent[] = [];
    for (const line of text.split("\n")) {
      const [what, at] = line.split(" ");
      if ((what === "on" || what === "off-requested" || what === "off" || what === "exited") && at && /^\d+$/.test(at)) out.push({ what, at_ns: BigInt(at) });
    }
    return out;
  }

  /**
   * An unresponsive BMC: SIGSTOP of this BMC's ipmi_sim (the PID we spawned: `ip netns exec`
   * and setpriv exec, so it is ipmi_sim itself, which is checked). Requests queue in its
   * socket and get no answer, so a fence agent's session never opens and its attempt fails
   * on its own timeouts; the machine it powers keeps running. resume() (or stop()) SIGCONTs it.
   */
  pause(): void {
    const pid = this.sim?.running ? this.sim.pid : null;
    if (pid === null) throw new Error(`${this.name}'s BMC is not running (pause)`);
    const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    if (comm !== "ipmi_sim") throw new Error(`${this.name}'s BMC: PID ${pid} is ${comm}, not ipmi_sim (pause)`);
    process.kill(pid, "SIGSTOP");
    this.paused_pid = pid;
  }

  resume(): void {
    const pid = this.paused_pid;
    this.paused_pid = null;
    if (pid !== null && this.sim?.running && this.sim.pid === pid) process.kill(pid, "SIGCONT");
  }

  async stop(): Promise<void> {
    // a stopped ipmi_sim would hold SIGTERM until killed
    this.resume();
    await this.sim?.stop(1000);
    this.sim = null;
  }
}
