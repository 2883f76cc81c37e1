// Throw-away network topologies in Linux network namespaces, for `tandem lab`,
// the integration tests and the benchmarks.
//
//   <prefix>lan      one bridge per heartbeat link (br0, br1, ...), and the
//                    bridge-side veth ends (n<k>l<i>, cl<i> for the client)
//   <prefix>node<k>  cluster node k: veth-a on link 0, veth-b on link 1, ...
//   <prefix>client   optional extra host on every link (probes, later a
//                    service client)
//
// Addresses (documentation ranges only, nothing routed, no default route):
//   link i, host k:  IPv4 192.0.2.(64*i + k)/26
//                    IPv6 2001:db8::<i+1>:<k>/112 (inside 2001:db8::/64)
//   the client is host 60 on every link.
//
// Everything this module creates is named with a per-run prefix
// `tdm<pid>r<4 hex>-` (pid of the creating process), so concurrent runs never
// collide and sweep() can tell stale leftovers (creator dead) from live ones.
// Only namespaces created here are ever deleted, only processes spawned here
// are ever signalled (by PID), and every wait has a time bound.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** `tdm<pid>r<hex4>-`: the only names this module creates or sweeps. */
export const prefix_pattern = /^tdm(\d{1,10})r([0-9a-f]{4})-$/;
const ns_pattern = /^(tdm(\d{1,10})r[0-9a-f]{4}-)(lan|node\d{1,2}|client)$/;
const tmp_pattern = /^(tdm(\d{1,10})r[0-9a-f]{4}-)[A-Za-z0-9]{6}$/;

export const links_max = 4;
export const nodes_max = 8;
export const client_host = 60;

/** Time bounds (ms). */
const cmd_timeout_ms = 10_000;
const term_grace_ms = 3_000;
const kill_grace_ms = 2_000;

export class NetnsError extends Error {
  override name = "NetnsError";
}

export function newPrefix(): string {
  const r = Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, "0");
  return `tdm${process.pid}r${r}-`;
}

/** Letter-named interface of link i inside a node: veth-a, veth-b, ... */
export function ifaceName(link: number): string {
  return `veth-${String.fromCharCode(97 + link)}`;
}

export function ipv4(link: number, host: number): string {
  return `192.0.2.${64 * link + host}`;
}

/** Canonical (RFC 5952) form, as os.networkInterfaces() reports it. */
export function ipv6(link: number, host: number): string {
  return `2001:db8::${(link + 1).toString(16)}:${host.toString(16)}`;
}

export interface HostLink {
  index: number;
  /** interface name inside the host's namespace (veth-a, ...) */
  iface: string;
  /** bridge-side veth end in the lan namespace */
  port: string;
  v4: string;
  v4_cidr: string;
  v6: string | null;
  v6_cidr: string | null;
}

export interface Host {
  /** node1, node2, ... or client */
  name: string;
  host: number;
  ns: string;
  links: HostLink[];
}

export interface ClusterOptions {
  nodes?: number;
  links?: number;
  ipv6?: boolean;
  client?: boolean;
  /** default: newPrefix() */
  prefix?: string;
  /** register SIGINT/SIGTERM/exit handlers that tear everything down (default true) */
  signals?: boolean;
  /** told about SIGINT/SIGTERM before the teardown starts (e.g. to say "cleaning up") */
  on_signal?: (sig: NodeJS.Signals) => void;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timed_out: boolean;
}

/** Run a command on the host side (only `ip` and friends, on our namespaces). */
export async function run(argv: string[], timeout_ms = cmd_timeout_ms): Promise<ExecResult> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let timed_out = false;
  const timer = setTimeout(() => {
    timed_out = true;
    try {
      p.kill("SIGKILL");
    } catch {
      // gone
    }
  }, timeout_ms);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr, timed_out };
  } finally {
    clearTimeout(timer);
  }
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) {
    throw new NetnsError(`${argv.join(" ")}: ${r.timed_out ? "timed out" : `exit ${r.code}`}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Is `ip netns` usable here (root, iproute2, kernel support)? null when yes, else why not. */
export async function unavailableReason(): Promise<string | null> {
  if (process.getuid?.() !== 0) return "not running as root (network namespaces need CAP_SYS_ADMIN)";
  if (!Bun.which("ip")) return "the `ip` command (iproute2) is not installed";
  const probe = `${newPrefix()}probe`;
  // a probe name outside ns_pattern on purpose: it is deleted right here
  const r = await run(["ip", "netns", "add", probe]);
  if (r.code !== 0) return `ip netns add failed: ${r.stderr.trim()}`;
  await run(["ip", "netns", "del", probe]);
  return null;
}

export async function listNamespaces(): Promise<string[]> {
  const r = await run(["ip", "netns", "list"]);
  if (r.code !== 0) return [];
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n !== "");
}

function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface SweepResult {
  removed: string[];
  /** namespaces of live runs, left alone */
  live: string[];
  /** PIDs still inside removed namespaces (not ours to kill; they keep the namespace alive until they exit) */
  lingering_pids: number[];
}

/**
 * Delete namespaces (and temp dirs) left behind by crashed earlier runs: only
 * names in this module's own format whose creating PID is gone. With
 * `prefix`, only that run's leftovers are considered.
 */
export async function sweep(prefix?: string): Promise<SweepResult> {
  if (prefix !== undefined && !prefix_pattern.test(prefix)) throw new NetnsError(`not a tandem lab prefix: ${prefix}`);
  const out: SweepResult = { removed: [], live: [], lingering_pids: [] };
  for (const ns of await listNamespaces()) {
    const m = ns_pattern.exec(ns);
    if (!m || (prefix !== undefined && m[1] !== prefix)) continue;
    const creator = Number(m[2]);
    if (creator === process.pid || pidAlive(creator)) {
      out.live.push(ns);
      continue;
    }
    const pids = await run(["ip", "netns", "pids", ns]);
    for (const p of pids.stdout.split(/\s+/)) if (/^\d+$/.test(p)) out.lingering_pids.push(Number(p));
    const r = await run(["ip", "netns", "del", ns]);
    if (r.code === 0) out.removed.push(ns);
  }
  const tmp = tmpdir();
  let entries: string[] = [];
  try {
    entries = readdirSync(tmp);
  } catch {
    // no tmp dir listing: nothing to sweep
  }
  for (const e of entries) {
    const m = tmp_pattern.exec(e);
    if (!m || (prefix !== undefined && m[1] !== prefix)) continue;
    const creator = Number(m[2]);
    if (creator === process.pid || pidAlive(creator)) continue;
    // a crashed run's tmpfs mounts (mountTmpfs) first, or rm stops at them
    for (const m of mountsUnder(join(tmp, e))) await run(["umount", "-l", m]);
    rmSync(join(tmp, e), { recursive: true, force: true });
  }
  return out;
}

/** Mount points strictly below dir, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
function mountsUnder(dir: string): string[] {
  let text = "";
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    const path = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** A process started inside one of our namespaces, with its output split into lines. */
export class Proc {
  readonly lines: string[] = [];
  readonly stdout_lines: string[] = [];
  readonly stderr_lines: string[] = [];
  exit_code: number | null = null;
  signal: string | null = null;
  readonly exited: Promise<number | null>;
  private waiters = new Set<() => void>();
  private pumps: Promise<void>;

  constructor(
    readonly ns: string,
    readonly argv: string[],
    private sub: ReturnType<typeof Bun.spawn>,
    private on_line?: (line: string, stream: "stdout" | "stderr") => void,
  ) {
    this.pumps = Promise.all([
      this.pump(sub.stdout as ReadableStream<Uint8Array>, "stdout"),
      this.pump(sub.stderr as ReadableStream<Uint8Array>, "stderr"),
    ]).then(() => {});
    this.exited = sub.exited.then(async (code) => {
      this.exit_code = code;
      this.signal = sub.signalCode ?? null;
      // bounded: the pipes close when the process (and anything holding them) is gone
      await Promise.race([this.pumps, Bun.sleep(1000)]);
      this.notify();
      return code;
    });
  }

  get pid(): number {
    return this.sub.pid;
  }

  get running(): boolean {
    return this.sub.exitCode === null && this.sub.signalCode === null;
  }

  private async pump(stream: ReadableStream<Uint8Array> | null, which: "stdout" | "stderr"): Promise<void> {
    if (!stream) return;
    const dec = new TextDecoder();
    let tail = "";
    try {
      for await (const chunk of stream) {
        tail += dec.decode(chunk, { stream: true });
        const parts = tail.split("\n");
        tail = parts.pop() ?? "";
        for (const l of parts) this.push(l, which);
      }
    } catch {
      // stream torn down
    }
    if (tail !== "") this.push(tail, which);
  }

  private push(line: string, which: "stdout" | "stderr"): void {
    this.lines.push(line);
    (which === "stdout" ? this.stdout_lines : this.stderr_lines).push(line);
    this.on_line?.(line, which);
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Wait (bounded) for an output line, starting at line index `from`.
   * Returns the line, or null on timeout or when the process exited without it.
   */
  async waitLine(pred: RegExp | ((l: string) => boolean), timeout_ms: number, from = 0): Promise<string | null> {
    const test = typeof pred === "function" ? pred : (l: string) => pred.test(l);
    let i = from;
    const scan = (): string | null => {
      for (; i < this.lines.length; i++) if (test(this.lines[i]!)) return this.lines[i]!;
      return null;
    };
    const hit = scan();
    if (hit !== null) return hit;
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: string | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      const check = () => {
        const h = scan();
        if (h !== null) finish(h);
        else if (this.exit_code !== null || this.signal !== null) finish(scan());
      };
      const timer = setTimeout(() => finish(scan()), Math.max(0, timeout_ms));
      this.waiters.add(check);
      if (!this.running) setTimeout(check, 0);
    });
  }

  /** Send a signal to this process (by PID, only if it is still ours and running). */
  kill(sig: NodeJS.Signals = "SIGTERM"): boolean {
    if (!this.running) return false;
    try {
      this.sub.kill(sig);
      return true;
    } catch {
      return false;
    }
  }

  /** Bounded wait for exit; true when it exited. */
  async wait(timeout_ms: number): Promise<boolean> {
    if (!this.running) {
      await this.exited;
      return true;
    }
    const r = await Promise.race([this.exited.then(() => true), Bun.sleep(timeout_ms).then(() => false)]);
    return r;
  }

  /** SIGTERM, bounded wait, then SIGKILL and a bounded wait. */
  async stop(grace_ms = term_grace_ms): Promise<void> {
    if (!this.running) return void (await this.wait(kill_grace_ms));
    this.kill("SIGTERM");
    if (await this.wait(grace_ms)) return;
    this.kill("SIGKILL");
    await this.wait(kill_grace_ms);
  }
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  on_line?: (line: string, stream: "stdout" | "stderr") => void;
  /** kill the process if this one dies (PR_SET_PDEATHSIG through setpriv); default true */
  die_with_parent?: boolean;
}

let setpriv_pdeathsig: boolean | null = null;
function hasPdeathsig(): boolean {
  if (setpriv_pdeathsig === null) {
    const p = Bun.which("setpriv");
    setpriv_pdeathsig = p !== null && spawnSync(p, ["--help"], { encoding: "utf8", timeout: 2000 }).stdout?.includes("pdeathsig") === true;
  }
  return setpriv_pdeathsig;
}

export class Cluster {
  readonly lan_ns: string;
  readonly nodes: Host[] = [];
  client: Host | null = null;
  readonly link_count: number;
  readonly ipv6: boolean;
  /** per-run scratch directory (configs, state, sockets), removed by destroy() */
  readonly tmp: string;
  private created_ns: string[] = [];
  private procs: Proc[] = [];
  /** tmpfs mounts made by mountTmpfs (inside tmp), unmounted before tmp is removed */
  private mounts: string[] = [];
  private destroyed = false;
  private destroying: Promise<void> | null = null;
  private handlers: { sig: NodeJS.Signals | "exit"; fn: (...a: unknown[]) => void }[] = [];

  constructor(
    readonly prefix: string,
    opts: Required<Pick<ClusterOptions, "links" | "ipv6">>,
  ) {
    this.lan_ns = `${prefix}lan`;
    this.link_count = opts.links;
    this.ipv6 = opts.ipv6;
    this.tmp = mkdtempSync(join(tmpdir(), prefix));
  }

  get namespaces(): readonly string[] {
    return this.created_ns;
  }

  node(name_or_index: string | number): Host {
    const h =
      typeof name_or_index === "number"
        ? this.nodes[name_or_index - 1]
        : name_or_index === "client"
          ? this.client
          : this.nodes.find((n) => n.name === name_or_index);
    if (!h) throw new NetnsError(`no such host in this cluster: ${name_or_index}`);
    return h;
  }

  /**
   * Mount a small tmpfs of size_bytes at dir (inside this run's scratch
   * directory), e.g. a node's state directory that a test fills to ENOSPC.
   * destroy(), destroySync() and sweep() unmount it (lazily: a daemon still
   * holding a file there must not block the teardown).
   */
  async mountTmpfs(dir: string, size_bytes: number): Promise<void> {
    if (!dir.startsWith(`${this.tmp}/`)) throw new NetnsError(`tmpfs mount point ${dir} is outside this run's directory ${this.tmp}`);
    if (!Number.isSafeInteger(size_bytes) || size_bytes < 4096) throw new NetnsError(`tmpfs size must be at least 4096 bytes, not ${size_bytes}`);
    if (this.destroyed || this.destroying) throw new NetnsError("cluster is being destroyed");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await must(["mount", "-t", "tmpfs", "-o", `size=${size_bytes},mode=0700`, "tandem-lab", dir]);
    this.mounts.push(dir);
  }

  /** Create an empty namespace, remembered for deletion. */
  async addNamespace(ns: string): Promise<void> {
    if (!ns.startsWith(this.prefix)) throw new NetnsError(`namespace ${ns} is outside this run's prefix ${this.prefix}`);
    await must(["ip", "netns", "add", ns]);
    this.created_ns.push(ns);
    await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
  }

  async sysctl(ns: string, settings: Record<string, string | number>): Promise<void> {
    const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    if (args.length === 0) return;
    if (Bun.which("sysctl")) {
      await must(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", ...args]);
      return;
    }
    // no procps: /proc/sys/net belongs to the writer's network namespace
    for (const [k, v] of Object.entries(settings)) {
      if (!/^[a-z0-9_.-]+$/i.test(k) || !/^-?\d+$/.test(String(v))) throw new NetnsError(`bad sysctl ${k}=${v}`);
      await must(["ip", "netns", "exec", ns, "sh", "-c", `echo ${v} > /proc/sys/${k.replaceAll(".", "/")}`]);
    }
  }

  /** Run a command inside a namespace and collect its output (bounded). */
  exec(ns: string, argv: string[], timeout_ms = cmd_timeout_ms): Promise<ExecResult> {
    this.ownNs(ns);
    return run(["ip", "netns", "exec", ns, ...argv], timeout_ms);
  }

  /** Start a long-running process inside a namespace; tracked and stopped by destroy(). */
  spawn(ns: string, argv: string[], opts: SpawnOptions = {}): Proc {
    this.ownNs(ns);
    if (this.destroyed || this.destroying) throw new NetnsError("cluster is being destroyed");
    const guard = opts.die_with_parent !== false && hasPdeathsig() ? ["setpriv", "--pdeathsig", "KILL", "--"] : [];
    const full = ["ip", "netns", "exec", ns, ...guard, ...argv];
    const sub = Bun.spawn(full, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...opts.env } as Record<string, string>,
      cwd: opts.cwd,
    });
    // `ip netns exec` and setpriv exec() the command: this PID is the command's.
    const p = new Proc(ns, argv, sub, opts.on_line);
    this.procs.push(p);
    return p;
  }

  private ownNs(ns: string): void {
    if (!this.created_ns.includes(ns)) throw new NetnsError(`namespace ${ns} was not created by this cluster`);
  }

  /** "Pull the cable": the bridge-side end of the host's veth on that link goes down. */
  async cut(host: string | number, link: number): Promise<void> {
    await must(["ip", "-n", this.lan_ns, "link", "set", this.portOf(host, link), "down"]);
  }

  async restore(host: string | number, link: number): Promise<void> {
    await must(["ip", "-n", this.lan_ns, "link", "set", this.portOf(host, link), "up"]);
  }

  /**
   * What a power loss takes with it besides the processes: datagrams that
   * processes (now killed) sent while the cable was cut wait in the kernel's
   * INCOMPLETE neighbour entry for the peer and leave when the cable is back
   * and the address resolves, seconds late, under the dead incarnation's
   * generation. A real powered-off box never sends those; a test that
   * emulates one (kill behind a cut cable) calls this before restore().
   */
  async forgetNeighbours(host: string | number): Promise<void> {
    const h = this.node(host);
    for (const l of h.links) await must(["ip", "-n", h.ns, "neigh", "flush", "dev", l.iface]);
  }

  private portOf(host: string | number, link: number): string {
    const l = this.node(host).links[link];
    if (!l) throw new NetnsError(`host ${host} has no link ${link}`);
    return l.port;
  }

  /** Register teardown on SIGINT/SIGTERM (then exit 130/143) and a synchronous last resort on exit. */
  installSignalHandlers(on_signal?: (sig: NodeJS.Signals) => void): void {
    if (this.handlers.length > 0) return;
    for (const [sig, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      const fn = () => {
        try {
          on_signal?.(sig);
        } catch {
          // a reporting hook must not stop the teardown
        }
        void this.destroy().finally(() => process.exit(code));
      };
      process.on(sig, fn);
      this.handlers.push({ sig, fn });
    }
    const onExit = () => this.destroySync();
    process.on("exit", onExit);
    this.handlers.push({ sig: "exit", fn: onExit });
  }

  private removeSignalHandlers(): void {
    for (const h of this.handlers) process.off(h.sig, h.fn);
    this.handlers = [];
  }

  /** Stop every process spawned here (TERM, bounded wait, KILL), delete every namespace created here. Idempotent. */
  destroy(grace_ms = term_grace_ms): Promise<void> {
    if (this.destroyed) return Promise.resolve();
    if (!this.destroying) {
      this.destroying = (async () => {
        await Promise.all(this.procs.map((p) => p.stop(grace_ms)));
        // namespaces of nodes before the lan one: deleting the lan one first
        // would leave the node-side veths dangling for a moment only, but the
        // reverse order is tidier
        for (const ns of [...this.created_ns].reverse()) await run(["ip", "netns", "del", ns]);
        for (const m of this.mounts.splice(0).reverse()) await run(["umount", "-l", m]);
        rmSync(this.tmp, { recursive: true, force: true });
        this.created_ns = [];
        this.destroyed = true;
        this.removeSignalHandlers();
      })();
    }
    return this.destroying;
  }

  /** Last resort from process.on("exit"): no event loop, so SIGKILL and synchronous deletes. */
  destroySync(): void {
    if (this.destroyed) return;
    for (const p of this.procs) p.kill("SIGKILL");
    for (const ns of [...this.created_ns].reverse()) spawnSync("ip", ["netns", "del", ns], { timeout: 5000 });
    for (const m of this.mounts.splice(0).reverse()) spawnSync("umount", ["-l", m], { timeout: 5000 });
    try {
      rmSync(this.tmp, { recursive: true, force: true });
    } catch {
      // best effort
    }
    this.created_ns = [];
    this.destroyed = true;
    this.removeSignalHandlers();
  }
}

/**
 * Build a cluster: `nodes` hosts on `links` separate bridges, optionally a
 * client host on every link. On any failure, what was built is torn down and
 * the error rethrown.
 */
export async function createCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const nodes = opts.nodes ?? 2;
  const links = opts.links ?? 2;
  const want_v6 = opts.ipv6 ?? false;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > nodes_max) throw new NetnsError(`nodes must be 1..${nodes_max}`);
  if (!Number.isInteger(links) || links < 1 || links > links_max) throw new NetnsError(`links must be 1..${links_max}`);
  const prefix = opts.prefix ?? newPrefix();
  if (!prefix_pattern.test(prefix)) throw new NetnsError(`prefix ${prefix} does not match ${prefix_pattern}`);
  const taken = new Set(await listNamespaces());
  for (const n of taken) if (n.startsWith(prefix)) throw new NetnsError(`namespace ${n} already exists (prefix collision)`);

  const c = new Cluster(prefix, { links, ipv6: want_v6 });
  if (opts.signals !== false) c.installSignalHandlers(opts.on_signal);
  try {
    await c.addNamespace(c.lan_ns);
    await c.sysctl(c.lan_ns, { "net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1 });
    for (let i = 0; i < links; i++) {
      // no STP, no forwarding delay, no IGMP/MLD snooping: a dumb switch that floods
      await must(["ip", "-n", c.lan_ns, "link", "add", `br${i}`, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"]);
      await must(["ip", "-n", c.lan_ns, "link", "set", `br${i}`, "up"]);
    }
    const hosts: { name: string; host: number; port: (i: number) => string }[] = [];
    for (let k = 1; k <= nodes; k++) hosts.push({ name: `node${k}`, host: k, port: (i) => `n${k}l${i}` });
    if (opts.client) hosts.push({ name: "client", host: client_host, port: (i) => `cl${i}` });
    for (const h of hosts) {
      const ns = `${prefix}${h.name}`;
      await c.addNamespace(ns);
      await c.sysctl(
        ns,
        want_v6
          ? { "net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0, "net.ipv6.conf.all.accept_ra": 0, "net.ipv6.conf.default.accept_ra": 0 }
          : { "net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1 },
      );
      const host: Host = { name: h.name, host: h.host, ns, links: [] };
      for (let i = 0; i < links; i++) {
        const iface = ifaceName(i);
        const port = h.port(i);
        const l: HostLink = {
          index: i,
          iface,
          port,
          v4: ipv4(i, h.host),
          v4_cidr: `${ipv4(i, h.host)}/26`,
          v6: want_v6 ? ipv6(i, h.host) : null,
          v6_cidr: want_v6 ? `${ipv6(i, h.host)}/112` : null,
        };
        await must(["ip", "-n", c.lan_ns, "link", "add", port, "type", "veth", "peer", "name", iface, "netns", ns]);
        await must(["ip", "-n", c.lan_ns, "link", "set", port, "master", `br${i}`, "up"]);
        await must(["ip", "-n", ns, "addr", "add", l.v4_cidr, "dev", iface]);
        if (l.v6_cidr) await must(["ip", "-n", ns, "-6", "addr", "add", l.v6_cidr, "dev", iface, "nodad"]);
        await must(["ip", "-n", ns, "link", "set", iface, "up"]);
        host.links.push(l);
      }
      if (h.name === "client") c.client = host;
      else c.nodes.push(host);
    }
  } catch (e) {
    await c.destroy();
    throw e;
  }
  return c;
}


// ---------------------------------------------------------------------------
// Heartbeat configuration for a cluster built here.

export type Medium =
  /** ucast over IPv4 to every other node's address on the link */
  | "ucast"
  /** ucast over IPv6 */
  | "ucast6"
  | "bcast"
  /** mcast IF 239.0.2.<link+1> PORT 1 0 */
  | "mcast";

export interface HaCfOptions {
  keepalive_ms: number;
  deadtime_ms: number;
  warntime_ms?: number;
  initdead_ms?: number;
  udpport?: number;
  /** medium per link index; default ucast on every link; null leaves the link out */
  media?: (Medium | null)[];
  /** more ha.cf lines, verbatim */
  extra?: string[];
  /** default off */
  auto_failback?: "on" | "off" | "legacy";
}

export function mcastGroup(link: number): string {
  return `239.0.2.${link + 1}`;
}

/** One ha.cf for every node of the cluster (own-address ucast lines are ignored by the daemon). */
export function haCf(c: Cluster, o: HaCfOptions): string {
  const port = o.udpport ?? 694;
  const warn = o.warntime_ms ?? Math.max(o.keepalive_ms * 2, Math.floor(o.deadtime_ms / 2));
  const initdead = o.initdead_ms ?? Math.max(2 * o.deadtime_ms, 1000);
  const lines = [
    "# written by tandem's lab (src/lab/netns.ts)",
    `node ${c.nodes.map((n) => n.name).join(" ")}`,
    `keepalive ${o.keepalive_ms}ms`,
    `warntime ${warn}ms`,
    `deadtime ${o.deadtime_ms}ms`,
    `initdead ${initdead}ms`,
    `udpport ${port}`,
  ];
  for (let i = 0; i < c.link_count; i++) {
    const m = o.media ? o.media[i] : "ucast";
    if (m === null || m === undefined) continue;
    const iface = ifaceName(i);
    switch (m) {
      case "ucast":
        for (const n of c.nodes) lines.push(`ucast ${iface} ${n.links[i]!.v4}`);
        break;
      case "ucast6":
        if (!c.ipv6) throw new NetnsError("ucast6 needs a cluster created with ipv6: true");
        for (const n of c.nodes) lines.push(`ucast ${iface} ${n.links[i]!.v6}`);
        break;
      case "bcast":
        lines.push(`bcast ${iface}`);
        break;
      case "mcast":
        lines.push(`mcast ${iface} ${mcastGroup(i)} ${port} 1 0`);
        break;
    }
  }
  lines.push(`auto_failback ${o.auto_failback ?? "off"}`, ...(o.extra ?? []));
  return `${lines.join("\n")}\n`;
}

export function authkeys(secret: string, method: "sha256" | "sha1" | "md5" = "sha256"): string {
  return `auth 1\n1 ${method} ${secret}\n`;
}

/** Write DIR/ha.cf and DIR/authkeys (mode 0600); creates DIR (0700). */
export function writeConfigDir(dir: string, ha_cf: string, auth_keys: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "ha.cf"), ha_cf, { mode: 0o644 });
  const ak = join(dir, "authkeys");
  if (existsSync(ak)) rmSync(ak);
  writeFileSync(ak, auth_keys, { mode: 0o600 });
  chmodSync(ak, 0o600); // in case the umask widened... or narrowed it
}
