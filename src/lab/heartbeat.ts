// Debian's Heartbeat 3.0.6 on one lab host, as in
// /work/shared/reference/anchors/lab-heartbeat.sh: inside the host's network
// namespace, `unshare --mount --uts --ipc --propagation private` gives it
// its own hostname (Heartbeat names itself by uname -n) and mounts that
// exist only there: our copies bind-mounted on /etc/ha.d and
// /var/lib/heartbeat, a tmpfs on /run. They vanish with its last process;
// nothing on the host is touched. It runs with -f (no daemonizing): the
// spawned PID is its master; its children are found by PPID and, with
// everything else in the host's namespace (ours), killed by PID.
// Used by the interop tests and bench/failover.ts.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, type Host, type Proc, run } from "./netns.ts";

export const hb_bin = "/usr/libexec/heartbeat/heartbeat";
/** hb_standby / hb_takeover: shell scripts writing to Heartbeat's FIFO (in its private /var/lib/heartbeat) */
export const hb_share = "/usr/share/heartbeat";
/** bounds the PPID walk and the kill rounds */
const pids_max = 1000;
const kill_rounds_max = 20;

/** Why Heartbeat cannot run here, or null. */
export function heartbeatMissing(): string | null {
  if (!existsSync(hb_bin)) return `${hb_bin} is not installed (apt-get install heartbeat; ./run setup does)`;
  if (!existsSync("/etc/ha.d/shellfuncs") || !existsSync("/var/lib/heartbeat")) return "the heartbeat package's /etc/ha.d or /var/lib/heartbeat is missing";
  return null;
}

export interface HeartbeatFiles {
  /** ha.cf without logging lines: logfile, debugfile, use_logd no and crm no are appended */
  ha_cf: string;
  authkeys: string;
  haresources?: string;
  /** extra scripts for ha.d/resource.d: name -> text (mode 0755) */
  resource_d?: Record<string, string>;
}

export class HeartbeatNode {
  proc: Proc | null = null;
  readonly dir: string;
  constructor(
    readonly c: Cluster,
    readonly host: Host,
    dir?: string,
  ) {
    this.dir = dir ?? join(c.tmp, `hb-${host.name}`);
  }

  /** Fresh ha.d (the package's scripts + ours) and lib dir (the package's, without a uuid or caches). */
  async configure(f: HeartbeatFiles): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    // cp -a keeps ownership (hacluster dirs) and modes
    for (const [from, to] of [["/etc/ha.d", "ha.d"], ["/var/lib/heartbeat", "lib"]]) {
      const r = await run(["cp", "-a", from, join(this.dir, to)]);
      if (r.code !== 0) throw new Error(`cp -a ${from}: ${r.stderr}`);
    }
    for (const n of ["hb_uuid", "hostcache", "delhostcache", "hb_generation"]) rmSync(join(this.dir, "lib", n), { force: true });
    await run(["chown", "-R", "hacluster:haclient", join(this.dir, "lib")]);
    writeFileSync(join(this.dir, "ha.d", "ha.cf"), `${f.ha_cf}logfile /var/lib/heartbeat/ha-log\ndebugfile /var/lib/heartbeat/ha-debug\nuse_logd no\ncrm no\n`);
    writeFileSync(join(this.dir, "ha.d", "authkeys"), f.authkeys, { mode: 0o600 });
    writeFileSync(join(this.dir, "ha.d", "haresources"), f.haresources ?? "# membership only: no groups\n");
    for (const [name, text] of Object.entries(f.resource_d ?? {})) writeFileSync(join(this.dir, "ha.d", "resource.d", name), text, { mode: 0o755 });
    writeFileSync(
      join(this.dir, "start.sh"),
      `#!/bin/sh
# inside: ip netns exec NS unshare --mount --uts --ipc --propagation private
set -e
hostname "$1"
mount --bind "$2/ha.d" /etc/ha.d
mount --bind "$2/lib" /var/lib/heartbeat
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/crm /run/lock /run/resource-agents
chown hacluster:haclient /run/heartbeat /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/crm
chmod 0750 /run/heartbeat /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/crm
exec ${hb_bin} -f
`,
      { mode: 0o755 },
    );
  }

  start(): void {
    this.proc = this.c.spawn(this.host.ns, ["unshare", "--mount", "--uts", "--ipc", "--propagation", "private", "/bin/sh", join(this.dir, "start.sh"), this.host.name, this.dir]);
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, "lib", "ha-log"), "utf8");
    } catch {
      return "";
    }
  }

  /** complete lines so far: logged(re, logLines()) looks only at what comes after */
  logLines(): number {
    return this.log().split("\n").length - 1;
  }

  /** Does the log, after line `from`, match? */
  logged(re: RegExp, from = 0): boolean {
    return this.log().split("\n").slice(from).some((l) => re.test(l));
  }

  /** Heartbeat's master and its descendants (by PPID), plus anything else in this host's namespace (ours). */
  async pids(): Promise<number[]> {
    const out = new Set<number>();
    const master = this.proc?.running ? this.proc.pid : null;
    if (master !== null) {
      const children = new Map<number, number[]>();
      for (const e of readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue;
        try {
          const stat = readFileSync(`/proc/${e}/stat`, "utf8");
          const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
          children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
        } catch {
          // gone
        }
      }
      const todo = [master];
      while (todo.length > 0 && out.size < pids_max) {
        const p = todo.pop()!;
        out.add(p);
        todo.push(...(children.get(p) ?? []));
      }
    }
    const r = await run(["ip", "netns", "pids", this.host.ns]);
    for (const p of r.stdout.split(/\s+/)) if (/^\d+$/.test(p)) out.add(Number(p));
    out.delete(process.pid);
    return [...out];
  }

  /** SIGKILL every one of its processes (by PID) and wait, bounded, until none is left. */
  async kill(): Promise<void> {
    for (let round = 0; round < kill_rounds_max; round++) {
      const pids = await this.pids();
      if (pids.length === 0) break;
      for (const p of pids) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await Bun.sleep(100);
    }
    await this.proc?.wait(2000);
  }

  /** Graceful stop (SIGTERM to the master: it gives its groups up, sends shutdone); then kill() whatever is left. */
  async stop(timeout_ms = 30_000): Promise<void> {
    if (this.proc?.running) {
      try {
        process.kill(this.proc.pid, "SIGTERM");
      } catch {
        // gone
      }
      await this.proc.wait(timeout_ms);
    }
    await this.kill();
  }

  /** A command inside Heartbeat's mount namespace (its FIFO, API socket and /run are private there). */
  async exec(argv: string[], timeout_ms = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    if (!this.proc?.running) return { code: null, stdout: "", stderr: "heartbeat is not running" };
    return run(["nsenter", "-t", String(this.proc.pid), "-m", "-n", "-u", ...argv], timeout_ms);
  }

  /** cl_status nodestatus NODE, or null */
  async nodeStatus(node: string): Promise<string | null> {
    const r = await this.exec(["cl_status", "nodestatus", node], 5000);
    return r.code === 0 ? r.stdout.trim() : null;
  }
}
