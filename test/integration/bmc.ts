// A simulated machine with a real BMC for the fencing tests: ipmi_sim
// (Debian openipmi) listens on an address in the node's namespace, and its
// `startcmd` is the machine: a real tandem daemon. A chassis power-off makes
// ipmi_sim SIGTERM the startcmd (through its VM serial channel's power
// handling; no VM ever connects, so it acts at once); machine.sh turns that
// into a SIGKILL of the daemon, a power cut with no goodbye packet. Power-on
// runs startcmd again: the node boots. fence_ipmilan (fence-agents, through
// ipmitool) drives it; `cipher=3` keeps ipmitool from spending ~10 s per call
// on cipher negotiation against ipmi_sim.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { request } from "../../src/cli/client.ts";
import { until } from "../../src/lab/daemons.ts";
import { writeIpmiSimFiles } from "../../src/lab/bmc.ts";
import { authkeys, type Cluster, haCf, type Proc, writeConfigDir } from "../../src/lab/netns.ts";
import { pidAlive } from "../../src/lab/vm.ts";

export { pidAlive };

export const bmc_user = "admin";
export const bmc_password = "secret";

export function readPid(path: string): number | null {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

/** SIGKILL a PID this test started (read from its own pid file), if it still runs. */
export function killOwn(pid: number | null): void {
  if (pid === null || !Number.isInteger(pid) || pid <= 1 || !pidAlive(pid)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone meanwhile
  }
}

export function safeRead(path: string, chars = 2000): string {
  try {
    return readFileSync(path, "utf8").slice(-chars);
  } catch {
    return "";
  }
}

/** `fence NODE fence_ipmilan ...` for this BMC */
/** The machines' Heartbeat-style service: state in HOME/svc.running, every call logged with a timestamp to HOME/svc.log. */
function svcScript(home: string): string {
  const state = join(home, "svc.running");
  const log = join(home, "svc.log");
  return [
    "#!/bin/sh",
    `echo "$(date +%s%N) $1" >> ${log}`,
    'case "$1" in',
    ` start) touch ${state} ;;`,
    ` stop) rm -f ${state} ;;`,
    ` status) [ -e ${state} ] && echo running || echo stopped ;;`,
    "esac",
    "exit 0",
    "",
  ].join("\n");
}

export function ipmiFenceLine(node: string, ip: string, password = bmc_password): string {
  return `fence ${node} fence_ipmilan ip=${ip} username=${bmc_user} password=${password} lanplus=1 cipher=3`;
}

export class SimMachine {
  /** the node's tandem directory: ha.d/, state/, run/tandem.sock */
  readonly home: string;
  readonly bmc_dir: string;
  readonly socket: string;
  sim: Proc | null = null;

  constructor(
    readonly c: Cluster,
    readonly node: string,
    /** the BMC's address (inside the node's namespace) */
    readonly bmc_ip: string,
    readonly tandem_argv: string[],
  ) {
    this.home = join(c.tmp, `${node}-machine`);
    this.bmc_dir = join(c.tmp, `${node}-bmc`);
    this.socket = join(this.home, "run/tandem.sock");
  }

  get pid(): number | null {
    return readPid(join(this.bmc_dir, "daemon.pid"));
  }

  /** the daemon's log (stderr), tail */
  log(chars = 3000): string {
    return safeRead(join(this.bmc_dir, "daemon.log"), chars);
  }

  /** Write the node's config and the BMC's files, start ipmi_sim (which powers the machine on). */
  async start(ha_cf: string, secret: string, files: Record<string, string> = {}): Promise<void> {
    for (const d of ["state", "run"]) mkdirSync(join(this.home, d), { recursive: true, mode: 0o700 });
    const ha_dir = join(this.home, "ha.d");
    writeConfigDir(ha_dir, ha_cf, authkeys(secret));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(ha_dir, name)), { recursive: true });
      writeFileSync(join(ha_dir, name), text, { mode: name.startsWith("resource.d/") ? 0o755 : 0o644 });
    }
    mkdirSync(join(this.bmc_dir, "state"), { recursive: true });
    const daemon = [...this.tandem_argv, "daemon", "--dir", ha_dir, "--state-dir", join(this.home, "state"), "--socket", this.socket, "--node", this.node];
    // The machine: the daemon in its own session (ipmi_sim signals the
    // startcmd's process group; a graceful SIGTERM is not a power cut), dying
    // with this script (pdeathsig); power-off (SIGTERM here) = SIGKILL it.
    writeFileSync(
      join(this.bmc_dir, "machine.sh"),
      [
        "#!/bin/sh",
        `setsid setpriv --pdeathsig KILL -- ${daemon.join(" ")} >>${this.bmc_dir}/daemon.log 2>&1 </dev/null &`,
        "pid=$!",
        `echo $pid > ${this.bmc_dir}/daemon.pid`,
        "trap 'kill -KILL $pid; exit 0' TERM",
        "wait $pid",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    writeIpmiSimFiles(this.bmc_dir, {
      name: `${this.node}-bmc`,
      ip: this.bmc_ip,
      serial_port: 9002,
      startcmd: `${this.bmc_dir}/machine.sh`,
      startnow: true,
      user: bmc_user,
      password: bmc_password,
    });
    const ns = this.c.node(this.node).ns;
    this.sim = this.c.spawn(ns, ["ipmi_sim", "-c", join(this.bmc_dir, "lan.conf"), "-f", join(this.bmc_dir, "bmc.emu"), "-s", join(this.bmc_dir, "state"), "-n"]);
    if (!(await this.answers(15_000))) {
      throw new Error(`${this.node}'s daemon (started by ipmi_sim) did not answer:\n${this.sim.lines.slice(-10).join("\n")}\n${this.log()}`);
    }
  }

  /** The daemon answers on its control socket within timeout_ms. */
  async answers(timeout_ms: number): Promise<boolean> {
    return (
      (await until(async () => {
        try {
          return (await request(this.socket, { cmd: "status" }, 1000))?.ok === true;
        } catch {
          return false;
        }
      }, timeout_ms)) === true
    );
  }

  async status(): Promise<Record<string, unknown> | null> {
    try {
      const r = await request(this.socket, { cmd: "status" }, 1000);
      return r?.ok ? (r.status as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  /** Kill what this machine started: its daemon (by its pid file); ipmi_sim dies with the cluster. */
  kill(): void {
    killOwn(this.pid);
  }
}

/** Where a cluster node's BMC listens: its second link's IPv4 address. */
export const bmcAddress = (c: Cluster, node: string): string => c.node(node).links[1]!.v4;

/**
 * node1 and node2 as SimMachines (into `m`) behind BMCs on link 1, fencing
 * each other with fence_ipmilan after `fence_delay_s`, wait_for_all on, and
 * node1 preferred for `svc` (svcScript, monitored every second).
 */
export async function startFencedPair(c: Cluster, m: Record<string, SimMachine>, argv: string[], secret: string, fence_delay_s: number): Promise<void> {
  const text = [
    haCf(c, { keepalive_ms: 100, deadtime_ms: 1000, initdead_ms: 2000, media: ["ucast", null] }).trimEnd(),
    ipmiFenceLine("node1", bmcAddress(c, "node1")),
    ipmiFenceLine("node2", bmcAddress(c, "node2")),
    "fence_timeout 30",
    `fence_delay ${fence_delay_s}`,
    "wait_for_all on",
    "",
  ].join("\n");
  for (const node of ["node1", "node2"]) m[node] = new SimMachine(c, node, bmcAddress(c, node), argv);
  await Promise.all(Object.values(m).map((x) => x.start(text, secret, { haresources: "# tandem: monitor interval=1s timeout=5s\nnode1 svc\n", "resource.d/svc": svcScript(x.home) })));
}
