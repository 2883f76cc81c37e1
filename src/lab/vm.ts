// Small qemu VMs running Debian's stock kernel, for what needs a real kernel
// of its own: the softdog watchdog (resetting this machine is not an option),
// and later DRBD. Facts from ../shared/reference/drbdvm; code of our own.
//
// Image:
//   - the kernel is Debian's linux-image-<ver>-amd64 (what `linux-image-amd64`
//     depends on), fetched with `apt-get download` and unpacked with
//     `dpkg -x`: nothing is installed on the host, nothing lands in /boot;
//   - the initramfs is two concatenated cpio archives (the kernel unpacks
//     both): a cached base (busybox-static, kmod, the wanted modules and
//     their dependencies, /init) and a per-run payload (tandem and the shared
//     libraries `ldd` names, config files). Both uncompressed: a 100 MB
//     binary then costs neither a host gzip nor a guest gunzip under TCG,
//     and the kernel refused a plain archive after a gzip'd one ("invalid
//     magic at start of compressed archive": the gzip trailer);
//   - cached under $TANDEM_VM_CACHE, else $XDG_CACHE_HOME/tandem-vm, else
//     /var/cache/tandem-vm (never in the repository).
//
// Boot: qemu TCG (`-accel tcg`, `-cpu max`: Bun's JIT needs AVX2, which
// qemu >= 7.2's TCG has), `-no-reboot` so a guest reset (softdog firing)
// ends the qemu process, no network device at all, console on ttyS0 into a
// log file, and a control shell on a virtio-serial port: a 16550 under TCG
// left the last bytes of a command stuck in its FIFO (reference README).
//
// Bounds: every wait has a timeout; qemu runs under setpriv --pdeathsig so
// it dies with us, and is killed by PID in stop(); the run directory is
// removed by stop() (TANDEM_VM_KEEP=1 keeps it for a post-mortem).
//
// Appliance VMs (image/build.ts, src/lab/appliance.ts): instead of `base`,
// `appliance` boots the image's kernel and initrd from a per-VM qcow2
// overlay of its disk (made at the first start, kept by kill() so a
// restart boots the same disk), with NICs (a tap that already exists in
// `netns`, or a `-netdev dgram` unix-socket pair between two VMs), fw_cfg
// blobs (the seed), and optionally in-place guest reboots (`reboot`). The
// qemu monitor (HMP) is on a unix socket: freeze/thaw (stop/cont) and link
// cuts (set_link) go through it. With a `launch`er (a BMC, src/lab/bmc.ts)
// qemu is not our child: the launcher starts it (a chassis power-on) and
// writes its PID, and the VM follows that PID through /proc.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export class VmError extends Error {
  override name = "VmError";
}

const cmd_timeout_ms = 300_000;
const control_buffer_bytes_max = 4 << 20;

export function vmCacheDir(): string {
  if (process.env.TANDEM_VM_CACHE) return process.env.TANDEM_VM_CACHE;
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, "tandem-vm");
  return "/var/cache/tandem-vm";
}

/** Why VMs cannot run here (missing tools), or null. */
export function vmUnavailableReason(): string | null {
  for (const [tool, pkg] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["cpio", "cpio"],
    ["depmod", "kmod"],
    ["dpkg", "dpkg"],
    ["apt-get", "apt"],
  ] as const) {
    if (!Bun.which(tool) && !existsSync(`/usr/sbin/${tool}`) && !existsSync(`/sbin/${tool}`)) return `${tool} not found (apt-get install ${pkg})`;
  }
  if (!existsSync("/bin/busybox")) return "/bin/busybox not found (apt-get install busybox-static)";
  return null;
}

function sh(argv: string[], what: string, opts: { cwd?: string; timeout_ms?: number } = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd, encoding: "utf8", timeout: opts.timeout_ms ?? cmd_timeout_ms, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new VmError(`${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}): ${argv.join(" ")}\n${(r.stderr ?? "").slice(-2000)}`);
  return r.stdout ?? "";
}

// ---- kernel ------------------------------------------------------------------

export interface Kernel {
  /** e.g. 6.1.0-28-amd64 */
  kver: string;
  vmlinuz: string;
  /** the unpacked package: lib/modules/<kver>/... */
  root: string;
}

/** Debian's stock kernel, downloaded and unpacked once into the cache. */
export function ensureKernel(cache = vmCacheDir()): Kernel {
  const depends = sh(["apt-cache", "depends", "linux-image-amd64"], "apt-cache depends linux-image-amd64");
  const pkg = /Depends: (linux-image-[0-9][^\s]*)/.exec(depends)?.[1];
  if (!pkg) throw new VmError(`cannot resolve linux-image-amd64 to a kernel package (apt-cache depends said: ${depends.slice(0, 300)}); run apt-get update`);
  const root = join(cache, `kpkg-${pkg}`);
  const stamp = join(root, ".tandem-complete");
  if (!existsSync(stamp)) {
    const debs = join(cache, "debs");
    mkdirSync(debs, { recursive: true });
    chmodSync(debs, 0o777); // apt's _apt sandbox user writes the download here
    let deb = readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
    if (!deb) {
      sh(["apt-get", "download", "-q", pkg], `apt-get download ${pkg}`, { cwd: debs });
      deb = readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
      if (!deb) throw new VmError(`apt-get download ${pkg} left no .deb in ${debs}`);
    }
    rmSync(root, { recursive: true, force: true });
    sh(["dpkg", "-x", join(debs, deb), root], `dpkg -x ${deb}`);
    // the package ships no modules.dep: modprobe --show-depends needs one
    const kv = readdirSync(join(root, "lib/modules"))[0];
    if (!kv) throw new VmError(`${deb} has no lib/modules`);
    sh(["depmod", "-b", root, kv], `depmod of ${pkg}`);
    writeFileSync(stamp, `${deb}\n`);
  }
  const kver = readdirSync(join(root, "lib/modules"))[0];
  if (!kver) throw new VmError(`${root}/lib/modules is empty`);
  const vmlinuz = join(root, "boot", `vmlinuz-${kver}`);
  if (!existsSync(vmlinuz)) throw new VmError(`${vmlinuz} missing from the kernel package`);
  return { kver, vmlinuz, root };
}

// ---- initramfs -----------------------------------------------------------------

/** /init: mounts, control shell on the virtio port named "ctl". No network device exists. */
const init_script = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib /var/run && mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
chmod 1777 /tmp
for a in $(cat /proc/cmdline); do case $a in tandemvm.name=*) NAME=\${a#*=};; esac; done
hostname "\${NAME:-vm}"
ip link set lo up
modprobe virtio_pci 2>/dev/null
modprobe virtio_console
CTL=
for i in $(seq 1 50); do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = ctl ] && CTL=/dev/\${p##*/}
  done
  [ -n "$CTL" ] && [ -c "$CTL" ] && break
  sleep 0.2
done
echo "tandemvm: $(hostname) up after $(cut -d' ' -f1 /proc/uptime)s, control on $CTL" > /dev/ttyS0
exec 3<>"$CTL"
echo "TANDEMVM-READY $(hostname)" >&3
while true; do
  # a pipe, so sh is non-interactive: commands that read stdin need </dev/null
  cat <&3 | sh >&3 2>&3
  sleep 1
done
`;

/** Copies an ELF and the libraries ldd lists (and the loader) into root, at the same paths. */
export function copyWithLibs(root: string, src: string, dest = src): void {
  mkdirSync(join(root, dirname(dest)), { recursive: true });
  copyFileSync(src, join(root, dest));
  chmodSync(join(root, dest), statSync(src).mode & 0o7777);
  const out = spawnSync("ldd", [src], { encoding: "utf8", timeout: 30_000 });
  if (out.status !== 0 && !/not a dynamic executable/.test(`${out.stdout}${out.stderr}`)) throw new VmError(`ldd ${src}: ${out.stderr}`);
  for (const line of (out.stdout ?? "").split("\n")) {
    const lib = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s*\(/.exec(line)?.[1];
    if (!lib || !existsSync(lib)) continue;
    const target = join(root, lib);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(lib, target); // follows symlinks: the real file lands at the linked name
  }
}

/** A cpio (newc) of a directory tree, written to out. */
function cpio(dir: string, out: string): void {
  const tmp = `${out}.tmp-${process.pid}`;
  const cmd = `cd '${dir}' && find . | cpio -o -H newc --quiet > '${tmp}'`;
  sh(["sh", "-c", cmd], `cpio of ${dir}`);
  renameSync(tmp, out);
}

export interface BaseImage {
  kernel: Kernel;
  /** uncompressed cpio: busybox, kmod, modules, /init */
  initrd: string;
}

/** The base initramfs with `modules` (and their dependencies), cached by kernel, module list and /init. */
export function ensureBaseImage(modules: string[], cache = vmCacheDir()): BaseImage {
  const kernel = ensureKernel(cache);
  const key = createHash("sha256").update(`${kernel.kver}\n${[...modules].sort().join(" ")}\n${init_script}\n${statSync("/bin/busybox").size}`).digest("hex").slice(0, 16);
  const initrd = join(cache, `base-${kernel.kver}-${key}.cpio`);
  if (existsSync(initrd)) return { kernel, initrd };
  const root = mkdtempSync(join(cache, "base-root-"));
  try {
    for (const d of ["bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root", "var/lib", "usr/lib"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin/busybox"));
    chmodSync(join(root, "bin/busybox"), 0o755);
    const kmod = Bun.which("kmod") ?? "/usr/bin/kmod";
    copyWithLibs(root, kmod, "/sbin/kmod");
    for (const t of ["modprobe", "insmod", "rmmod", "lsmod", "modinfo", "depmod"]) symlinkSync("kmod", join(root, "sbin", t));
    // module files with their dependencies, as modprobe resolves them
    const ko = new Set<string>();
    for (const m of modules) {
      const deps = sh(["modprobe", "-d", kernel.root, "-S", kernel.kver, "--show-depends", m], `modprobe --show-depends ${m}`);
      for (const line of deps.split("\n")) {
        const f = /^insmod (\S+)/.exec(line)?.[1];
        if (f) ko.add(f);
      }
    }
    for (const f of ko) {
      const rel = f.slice(kernel.root.length);
      mkdirSync(join(root, dirname(rel)), { recursive: true });
      copyFileSync(f, join(root, rel));
    }
    const mdir = join(kernel.root, "lib/modules", kernel.kver);
    for (const f of ["modules.order", "modules.builtin", "modules.builtin.modinfo"]) {
      if (existsSync(join(mdir, f))) copyFileSync(join(mdir, f), join(root, "lib/modules", kernel.kver, f));
    }
    sh(["depmod", "-b", root, kernel.kver], "depmod of the VM root");
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\n");
    writeFileSync(join(root, "init"), init_script, { mode: 0o755 });
    cpio(root, initrd);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { kernel, initrd };
}

export interface PayloadFile {
  /** path inside the guest */
  path: string;
  /** host file to copy (an ELF gets its shared libraries too) ... */
  from?: string;
  /** ... or the content */
  text?: string;
  mode?: number;
}

// ---- the VM ----------------------------------------------------------------------

/** The appliance's boot files (image/build.ts's Image). */
export interface ApplianceBoot {
  disk: string;
  vmlinuz: string;
  initrd: string;
  cmdline: string;
}

export type Nic =
  /** a tap device that already exists in the VM's netns */
  | { kind: "tap"; ifname: string; mac: string }
  /** unix datagram socket pair: this VM binds `local`, sends to `remote` */
  | { kind: "dgram"; local: string; remote: string; mac: string };

export interface VmOptions {
  /** initramfs VM (busybox /init) ... */
  base?: BaseImage;
  /** ... or the appliance image */
  appliance?: ApplianceBoot;
  /** NICs, named n0, n1, ... in the monitor (guest eth0, eth1, ... with net.ifnames=0) */
  nics?: Nic[];
  /** qemu runs in this network namespace (taps live there; nothing touches the host's interfaces) */
  netns?: string;
  /** fw_cfg blobs: name (opt/...) -> content */
  fw_cfg?: Record<string, string>;
  /** a guest reboot reboots in place (default: qemu exits, as a softdog test wants) */
  reboot?: boolean;
  /** files added to this VM's initramfs (e.g. the tandem binary) */
  files?: PayloadFile[];
  name?: string;
  mem_mb?: number;
  /** more qemu arguments */
  extra_args?: string[];
  /**
   * Power on through something else than a direct spawn (a BMC: src/lab/bmc.ts). Gets qemu's
   * argv (without the netns wrapper: the launcher runs in the namespace) and the path where
   * qemu's PID must be written; the VM then tracks qemu by that PID (pidAlive polling), since
   * it is not our child.
   */
  launch?: (argv: string[], pid_file: string) => Promise<void>;
}

/** The PID exists and is not a zombie (a SIGKILLed qemu stays one until its parent reaps it). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** TANDEM_VM_APPEND: more kernel command line for appliance boots, to debug (e.g. systemd.journald.forward_to_console=1). */
function extraCmdline(): string {
  const x = process.env.TANDEM_VM_APPEND?.trim();
  return x ? ` ${x}` : "";
}

export class Vm {
  readonly dir: string;
  readonly name: string;
  private proc: ReturnType<typeof Bun.spawn> | null = null;
  private sock: Socket | null = null;
  private buf = "";
  private wake: (() => void) | null = null;
  private exit_code: number | null | undefined = undefined;
  /** qemu's PID when a launcher (BMC) started it */
  private ext_pid: number | null = null;
  private ext_poll: ReturnType<typeof setInterval> | null = null;
  started_ms = 0;
  boot_ms = 0;

  constructor(private o: VmOptions) {
    this.name = o.name ?? "vm1";
    this.dir = mkdtempSync(join(tmpdir(), `tandem-vm-${process.pid}-`));
  }

  get console_log(): string {
    return join(this.dir, "console.log");
  }

  get pid(): number | null {
    return this.ext_pid ?? this.proc?.pid ?? null;
  }

  /** qemu is still running (the guest has not reset or powered off). */
  get running(): boolean {
    return (this.proc !== null || this.ext_pid !== null) && this.exit_code === undefined;
  }

  get pid_file(): string {
    return join(this.dir, "qemu.pid");
  }

  get monitor_path(): string {
    return join(this.dir, "mon.sock");
  }

  private bootArgs(): string[] {
    const a = this.o.appliance;
    if (a) {
      const overlay = join(this.dir, "disk.qcow2");
      if (!existsSync(overlay)) sh(["qemu-img", "create", "-q", "-f", "qcow2", "-b", a.disk, "-F", "qcow2", overlay], "qemu-img create overlay");
      return ["-kernel", a.vmlinuz, "-initrd", a.initrd, "-append", `${a.cmdline} panic=-1${extraCmdline()}`, "-drive", `file=${overlay},format=qcow2,if=virtio,cache=unsafe,discard=unmap`];
    }
    if (!this.o.base) throw new VmError(`${this.name}: neither base nor appliance given`);
    return ["-kernel", this.o.base.kernel.vmlinuz, "-initrd", this.buildInitrd(), "-append", `console=ttyS0 panic=-1 quiet loglevel=4 tandemvm.name=${this.name}`];
  }

  private netArgs(): string[] {
    const out: string[] = [];
    (this.o.nics ?? []).forEach((n, i) => {
      const backend =
        n.kind === "tap"
          ? `tap,id=n${i},ifname=${n.ifname},script=no,downscript=no`
          : `dgram,id=n${i},local.type=unix,local.path=${n.local},remote.type=unix,remote.path=${n.remote}`;
      if (n.kind === "dgram") rmSync(n.local, { force: true }); // a restart rebinds the same path
      out.push("-netdev", backend, "-device", `virtio-net-pci,netdev=n${i},mac=${n.mac}`);
    });
    for (const [name, text] of Object.entries(this.o.fw_cfg ?? {})) {
      const f = join(this.dir, `fwcfg-${name.replace(/[^A-Za-z0-9]/g, "_")}`);
      writeFileSync(f, text, { mode: 0o600 });
      out.push("-fw_cfg", `name=${name},file=${f}`);
    }
    return out;
  }

  private buildInitrd(): string {
    const root = join(this.dir, "payload");
    mkdirSync(root);
    for (const f of this.o.files ?? []) {
      const dest = join(root, f.path);
      mkdirSync(dirname(dest), { recursive: true });
      if (f.from !== undefined) {
        const elf = readFileSync(f.from).subarray(0, 4).toString("latin1") === "\x7fELF";
        if (elf) copyWithLibs(root, f.from, f.path);
        else copyFileSync(f.from, dest);
      } else {
        writeFileSync(dest, f.text ?? "");
      }
      if (f.mode !== undefined) chmodSync(dest, f.mode);
    }
    const payload = join(this.dir, "payload.cpio");
    cpio(root, payload);
    rmSync(root, { recursive: true, force: true });
    // the kernel unpacks concatenated archives in order; base first
    const initrd = join(this.dir, "initrd");
    sh(["sh", "-c", `cat '${this.o.base.initrd}' '${payload}' > '${initrd}'`], "initrd concatenation");
    rmSync(payload, { force: true });
    return initrd;
  }

  /** Boots and waits for the control shell (bounded). */
  async start(timeout_ms = 180_000): Promise<void> {
    if (this.running) throw new VmError(`${this.name}: already running`);
    // a restart (after kill() or a guest reset) starts from a clean control state
    this.exit_code = undefined;
    this.buf = "";
    this.sock?.destroy();
    this.sock = null;
    const ctl = join(this.dir, "ctl.sock");
    rmSync(ctl, { force: true });
    rmSync(this.monitor_path, { force: true });
    const qemu = [
      "qemu-system-x86_64",
      "-accel", "tcg,thread=multi",
      "-cpu", "max",
      "-m", String(this.o.mem_mb ?? 1024),
      "-smp", "1",
      "-display", "none",
      ...(this.o.reboot ? [] : ["-no-reboot"]),
      "-nodefaults",
      ...this.bootArgs(),
      ...this.netArgs(),
      // append: a restart keeps the first boot's console
      "-chardev", `file,id=con0,path=${this.console_log},append=on`,
      "-serial", "chardev:con0",
      "-monitor", `unix:${this.monitor_path},server=on,wait=off`,
      "-device", "virtio-serial-pci,id=vs0",
      "-chardev", `socket,id=ctl,path=${ctl},server=on,wait=off`,
      "-device", "virtserialport,bus=vs0.0,chardev=ctl,name=ctl",
      ...(this.o.extra_args ?? []),
    ];
    const end = performance.now() + timeout_ms;
    let stderr: () => Promise<string>;
    if (this.o.launch) {
      this.proc = null;
      this.ext_pid = null;
      rmSync(this.pid_file, { force: true });
      this.started_ms = performance.now();
      await this.o.launch(qemu, this.pid_file);
      while (this.ext_pid === null) {
        const n = Number((existsSync(this.pid_file) ? readFileSync(this.pid_file, "utf8") : "").trim());
        if (Number.isInteger(n) && n > 1) this.ext_pid = n;
        else if (performance.now() > end) throw new VmError(`${this.name}: the launcher wrote no qemu PID to ${this.pid_file} within ${timeout_ms} ms`);
        else await Bun.sleep(50);
      }
      const pid = this.ext_pid;
      // not our child: its exit is seen by polling /proc (100 ms: bounded cost, fast enough for a power-off)
      this.ext_poll = setInterval(() => {
        if (pidAlive(pid)) return;
        if (this.ext_poll) clearInterval(this.ext_poll);
        this.ext_poll = null;
        this.exit_code = null;
        this.wake?.();
      }, 100);
      // the launcher sends qemu's output to qemu.log next to the PID file
      stderr = () => Promise.resolve(existsSync(join(this.dir, "qemu.log")) ? readFileSync(join(this.dir, "qemu.log"), "utf8").slice(-2000) : "");
    } else {
      const setpriv = Bun.which("setpriv");
      const priv = setpriv ? [setpriv, "--pdeathsig", "KILL", ...qemu] : qemu;
      // `ip netns exec` execs in place: the PID is qemu's
      const argv = this.o.netns ? ["ip", "netns", "exec", this.o.netns, ...priv] : priv;
      this.started_ms = performance.now();
      const proc = Bun.spawn(argv, { stdin: "ignore", stdout: Bun.file(join(this.dir, "qemu.log")), stderr: "pipe" });
      this.proc = proc;
      const text = new Response(proc.stderr as ReadableStream).text();
      stderr = () => text;
      void proc.exited.then((code) => {
        this.exit_code = code;
        this.wake?.();
      });
    }
    while (!existsSync(ctl)) {
      if (!this.running) throw new VmError(`${this.name}: qemu exited ${this.exit_code}: ${await stderr()}`);
      if (performance.now() > end) throw new VmError(`${this.name}: no control socket after ${timeout_ms} ms`);
      await Bun.sleep(50);
    }
    this.sock = await new Promise<Socket>((res, rej) => {
      const s = connect(ctl);
      s.once("connect", () => res(s));
      s.once("error", rej);
    });
    this.sock.setEncoding("latin1");
    this.sock.on("data", (d: string) => {
      this.buf += d;
      if (this.buf.length > control_buffer_bytes_max) this.buf = this.buf.slice(-control_buffer_bytes_max / 2);
      this.wake?.();
    });
    this.sock.on("error", () => this.wake?.());
    await this.readUntil(/TANDEMVM-READY \S+\n/, end - performance.now());
    this.boot_ms = performance.now() - this.started_ms;
  }

  private async readUntil(re: RegExp, timeout_ms: number): Promise<{ before: string; m: RegExpExecArray }> {
    const end = performance.now() + timeout_ms;
    for (;;) {
      const m = re.exec(this.buf);
      if (m) {
        const before = this.buf.slice(0, m.index);
        this.buf = this.buf.slice(m.index + m[0].length);
        return { before, m };
      }
      if (!this.running) throw new VmError(`${this.name}: qemu exited (${this.exit_code}) while waiting for ${re}; console: ${this.consoleTail()}`);
      const left = end - performance.now();
      if (left <= 0) throw new VmError(`${this.name}: timeout waiting for ${re}; got ${JSON.stringify(this.buf.slice(-500))}; console: ${JSON.stringify(this.consoleTail(800))}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 500));
        this.wake = () => {
          clearTimeout(t);
          res();
        };
      });
      this.wake = null;
    }
  }

  /** Runs a shell command in the guest (bounded); throws on a non-zero status unless check=false. */
  async sh(cmd: string, o: { timeout_ms?: number; check?: boolean } = {}): Promise<{ code: number; out: string }> {
    if (!this.sock) throw new VmError(`${this.name}: not started`);
    const tok = Math.random().toString(36).slice(2, 12);
    this.sock.write(`${cmd}\necho __END_${tok}_$?__\n`);
    const { before, m } = await this.readUntil(new RegExp(`__END_${tok}_(\\d+)__\\n?`), o.timeout_ms ?? 60_000);
    const code = Number(m[1]);
    if ((o.check ?? true) && code !== 0) throw new VmError(`${this.name}: \`${cmd}\` exited ${code}: ${before}`);
    return { code, out: before };
  }

  /** Writes a file in the guest. */
  async put(path: string, text: string, mode?: number): Promise<void> {
    const b64 = Buffer.from(text).toString("base64");
    await this.sh(`echo '${b64}' | base64 -d > '${path}'${mode !== undefined ? ` && chmod ${mode.toString(8)} '${path}'` : ""}`);
  }

  /** Waits (bounded) for qemu to exit: with -no-reboot, a guest reset. Returns the ms waited, or null on timeout. */
  async waitExit(timeout_ms: number): Promise<number | null> {
    const t0 = performance.now();
    if (this.ext_pid !== null) {
      while (this.running) {
        if (performance.now() - t0 > timeout_ms) return null;
        await Bun.sleep(50);
      }
      return performance.now() - t0;
    }
    if (!this.proc) return null;
    const r = await Promise.race([this.proc.exited.then(() => true), Bun.sleep(timeout_ms).then(() => false)]);
    return r ? performance.now() - t0 : null;
  }

  /** Waits (bounded) for the control shell of a new boot (after a guest reboot in place); returns the ms waited. */
  async waitReady(timeout_ms = 300_000): Promise<number> {
    const t0 = performance.now();
    await this.readUntil(/TANDEMVM-READY \S+\n/, timeout_ms);
    return performance.now() - t0;
  }

  /** One qemu monitor (HMP) command, e.g. `set_link n0 off`, `stop`, `cont`; returns its output. Bounded. */
  async hmp(cmd: string, timeout_ms = 10_000): Promise<string> {
    if (!this.running) throw new VmError(`${this.name}: not running (hmp ${cmd})`);
    const s = connect(this.monitor_path);
    s.setEncoding("latin1");
    let buf = "";
    let wake: (() => void) | null = null;
    s.on("data", (d: string) => {
      buf += d;
      wake?.();
    });
    s.on("error", () => wake?.());
    const end = performance.now() + timeout_ms;
    const until = async (n: number): Promise<void> => {
      // the n-th "(qemu) " prompt
      while (buf.split("(qemu) ").length - 1 < n) {
        const left = end - performance.now();
        if (left <= 0 || s.destroyed) throw new VmError(`${this.name}: monitor did not answer \`${cmd}\` (got ${JSON.stringify(buf.slice(-200))})`);
        await new Promise<void>((res) => {
          const t = setTimeout(res, Math.min(left, 200));
          wake = () => {
            clearTimeout(t);
            res();
          };
        });
        wake = null;
      }
    };
    try {
      await until(1);
      s.write(`${cmd}\n`);
      await until(2);
    } finally {
      s.destroy();
    }
    const out = buf.split("(qemu) ")[1] ?? "";
    return out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split("\n").slice(1).join("\n").trim();
  }

  /** Freezes the whole VM (all vCPUs stop: a hung box, not a dead one). */
  async freeze(): Promise<void> {
    await this.hmp("stop");
  }

  async thaw(): Promise<void> {
    await this.hmp("cont");
  }

  /** Cable pulled (off) or plugged back (on) on NIC i: the guest sees the carrier go. */
  async setLink(i: number, up: boolean): Promise<void> {
    await this.hmp(`set_link n${i} ${up ? "on" : "off"}`);
  }

  /** Power loss: SIGKILL qemu (by PID) and wait. The run directory and disk stay, so start() boots the same disk again. */
  async kill(): Promise<void> {
    this.sock?.destroy();
    this.sock = null;
    await this.killQemu();
  }

  /** SIGKILL qemu by PID (ours, or the launcher's that we track) and wait (bounded). */
  private async killQemu(): Promise<void> {
    if (this.ext_pid !== null) {
      const pid = this.ext_pid;
      if (pidAlive(pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      const t0 = performance.now();
      while (pidAlive(pid) && performance.now() - t0 < 10_000) await Bun.sleep(50);
      if (this.ext_poll) clearInterval(this.ext_poll);
      this.ext_poll = null;
      if (this.exit_code === undefined) this.exit_code = null;
      return;
    }
    if (this.proc && this.running) {
      this.proc.kill("SIGKILL");
      await Promise.race([this.proc.exited, Bun.sleep(10_000)]);
    }
  }

  /**
   * SIGSTOP qemu: the whole machine hangs (vCPUs, devices, its monitor), nothing
   * answers and nothing is sent, but it is not off; only a power-off (or thaw()) ends it.
   */
  sigstop(): void {
    const pid = this.pid;
    if (pid === null || !this.running) throw new VmError(`${this.name}: not running (sigstop)`);
    process.kill(pid, "SIGSTOP");
  }

  /** The guest's journal (journalctl arguments, e.g. `-u tandem -b -1`). */
  async journal(args = "", timeout_ms = 60_000): Promise<string> {
    return (await this.sh(`journalctl --no-pager -o short-precise ${args}`, { timeout_ms })).out;
  }

  consoleTail(chars = 1500): string {
    try {
      return readFileSync(this.console_log, "latin1").slice(-chars);
    } catch {
      return "";
    }
  }

  /** Kills qemu by PID (if still running), waits for it, removes the run directory. Idempotent. */
  async stop(): Promise<void> {
    this.sock?.destroy();
    this.sock = null;
    await this.killQemu();
    if (process.env.TANDEM_VM_KEEP === "1") process.stderr.write(`[vm] kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
