// Builds the tandem appliance image: ./node_modules/.bin/bun run build.ts image
// (or `bun image/build.ts`). Root only (debootstrap, chroot, file ownership).
//
// Output, in $TANDEM_VM_CACHE (default /var/cache/tandem-vm, see vmCacheDir),
// directory image-<hash of every input>/:
//   disk.qcow2   partition 1 "tandem-root" (ext4, mounted read-only),
//                partition 2 "tandem-data" (ext4, /var: state, journal, ha.d)
//   vmlinuz      Debian's stock kernel, from the image
//   initrd.img   Debian's initramfs-tools initrd, from the image
//   image.json   kernel command line, sizes, inputs
// and prints the directory. A second run with the same inputs only prints it.
//
// Two cached layers, so that a new dist/tandem costs a re-assembly (~1 min),
// not a new Debian install (~5-10 min):
//   rootfs-<hash>/  debootstrap --variant=minbase bookworm + apt-get install of
//                   the packages below, keyed by package list, mirror and the
//                   rootfs part of this script;
//   image-<hash>/   rootfs + tandem + image/files, split into root and /var,
//                   turned into ext4 filesystems with `mkfs.ext4 -d` (no loop
//                   device, no mount) and written into a partitioned disk.
//
// The package mirror is read from this machine's apt configuration when the
// image is built (`apt-get indextargets`), so no host name is in the
// repository; the image's /etc/apt/sources.list gets the same URIs.
//
// Chroot work runs under `unshare --mount`: /proc, /sys and /dev are mounted
// in a private mount namespace that disappears with the process, so a failed
// build leaves no mount behind.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = join(import.meta.dir, "..");
const files_dir = join(import.meta.dir, "files");
const suite = "bookworm";

/** What the appliance runs. --no-install-recommends: only hard dependencies. */
export const packages = [
  "linux-image-amd64",
  "initramfs-tools",
  "zstd",
  "systemd",
  "systemd-sysv",
  "udev",
  "kmod",
  "iproute2",
  "iputils-ping",
  "procps",
  "psmisc",
  "drbd-utils",
  "nfs-kernel-server",
  "samba",
  "resource-agents",
  "fence-agents",
  // fence_ipmilan drives the peer's BMC through it (fence-agents only recommends it)
  "ipmitool",
];

/**
 * Packages only the test harness's image gets (ensureImage(bin, { variant: "harness" })), on top
 * of the appliance's: the storage benchmark's client VM mounts the SMB share (cifs-utils: the
 * kernel has the CIFS client, mount.cifs is the userspace half), and the same run compares
 * against Debian's Heartbeat 3.0.6 on the same VMs (net-tools: Heartbeat's IPaddr, the seeds'
 * resource, still runs ifconfig). The appliance does not ship them: a box that
 * runs tandem needs neither a CIFS client nor a second cluster manager.
 */
export const harness_packages = ["cifs-utils", "heartbeat", "net-tools"];
/** Heartbeat (and cluster-glue's logd) are started by the benchmark, never at boot. */
const harness_disabled_units = ["heartbeat.service", "logd.service"];

export type ImageVariant = "appliance" | "harness";

/** Services the packages enable on install that tandem starts instead (haresources), or that an appliance does not need. */
const disabled_units = [
  "smbd.service",
  "nmbd.service",
  "samba-ad-dc.service",
  "nfs-server.service",
  "nfs-kernel-server.service",
  "rpcbind.service",
  "rpcbind.socket",
  "drbd.service",
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "e2scrub_all.timer",
  "e2scrub_reap.service",
  "fstrim.timer",
  "systemd-networkd-wait-online.service",
  "getty@tty1.service",
  "logd.service",
  "nfs-blkmap.service",
  "dpkg-db-backup.timer",
];

/**
 * Kernel module trees a two-node NFS/Samba box never loads (sound, cameras,
 * radios, GPUs, InfiniBand...): a third of the image otherwise. Removed
 * before the initrd is made, then depmod.
 */
const pruned_module_dirs = [
  "sound",
  "drivers/media",
  "drivers/net/wireless",
  "net/wireless",
  "net/mac80211",
  "drivers/bluetooth",
  "net/bluetooth",
  "drivers/staging",
  "drivers/iio",
  "drivers/infiniband",
  "drivers/gpu",
  "drivers/isdn",
  "drivers/net/can",
  "net/can",
  "drivers/net/ethernet/mellanox",
  "drivers/input/joystick",
  "drivers/input/touchscreen",
  "drivers/input/tablet",
  "drivers/usb/serial",
  "drivers/usb/gadget",
];

export const cmdline = "root=LABEL=tandem-root ro rootwait net.ifnames=0 console=ttyS0 quiet loglevel=4 systemd.show_status=auto";

class BuildError extends Error {}

function log(msg: string): void {
  process.stderr.write(`[image] ${msg}\n`);
}

function sh(argv: string[], what: string, opts: { cwd?: string; timeout_ms?: number; env?: Record<string, string> } = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    encoding: "utf8",
    timeout: opts.timeout_ms ?? 1_800_000,
    maxBuffer: 256 << 20,
    env: { ...process.env, ...opts.env },
  });
  if (r.status !== 0) throw new BuildError(`${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}): ${argv.join(" ").slice(0, 300)}\n${(r.stdout ?? "").slice(-1500)}\n${(r.stderr ?? "").slice(-3000)}`);
  return r.stdout ?? "";
}

export function imageCacheDir(): string {
  if (process.env.TANDEM_VM_CACHE) return process.env.TANDEM_VM_CACHE;
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, "tandem-vm");
  return "/var/cache/tandem-vm";
}

interface Repo {
  uri: string;
  suite: string;
  component: string;
}

/** The Debian repositories this machine's apt uses for `suite` (and -updates, -security). */
function hostRepos(): Repo[] {
  const out = sh(["apt-get", "indextargets", "--format", "$(REPO_URI) $(RELEASE) $(COMPONENT)", "Created-By: Packages"], "apt-get indextargets");
  const seen = new Set<string>();
  const repos: Repo[] = [];
  for (const line of out.split("\n")) {
    const [uri, rel, comp] = line.trim().split(/\s+/);
    if (!uri || !rel || !comp || comp !== "main") continue;
    if (rel !== suite && rel !== `${suite}-updates` && rel !== `${suite}-security`) continue;
    const k = `${uri} ${rel}`;
    if (seen.has(k)) continue;
    seen.add(k);
    repos.push({ uri: uri.replace(/\/+$/, ""), suite: rel, component: comp });
  }
  repos.sort((a, b) => a.suite.localeCompare(b.suite) || a.uri.localeCompare(b.uri));
  if (!repos.some((r) => r.suite === suite)) {
    throw new BuildError(`this machine's apt configuration has no Debian ${suite} main repository (apt-get indextargets); add one to /etc/apt/sources.list.d/ and run apt-get update`);
  }
  return repos;
}

function hashOf(...parts: (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex").slice(0, 16);
}

function fileHash(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Every file under dir, sorted, as [relative path, content hash, mode]. */
function treeHash(dir: string): string {
  const rows: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else rows.push(`${relative(dir, p)} ${fileHash(p)} ${(statSync(p).mode & 0o777).toString(8)}`);
    }
  };
  walk(dir);
  return rows.join("\n");
}

/** Runs a shell script chrooted into dir, with /proc, /sys, /dev mounted in a private mount namespace. */
function inChroot(dir: string, script: string, what: string): string {
  const outer = `set -e
mount -t proc proc '${dir}/proc'
mount -t sysfs sysfs '${dir}/sys'
mount --bind /dev '${dir}/dev'
mount -t devpts -o newinstance devpts '${dir}/dev/pts' 2>/dev/null || true
exec chroot '${dir}' /bin/sh -e -c "$1"`;
  return sh(["unshare", "--mount", "--propagation", "private", "sh", "-c", outer, "inchroot", script], what, {
    env: { DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C.UTF-8", PATH: "/usr/sbin:/usr/bin:/sbin:/bin", TMPDIR: "/tmp" },
  });
}

// ---- layer 1: the Debian root --------------------------------------------------

/** The rootfs step's own text: changing it (or the package list, or the mirrors) rebuilds the layer. */
function rootfsRecipe(repos: Repo[]): string {
  return JSON.stringify({ v: 2, suite, packages, disabled_units, pruned_module_dirs, repos, dpkg_excludes, initramfs_conf, sources: sourcesList(repos) });
}

const dpkg_excludes = `# tandem appliance: no documentation, manual pages or translations
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
`;

// MODULES=most: the image must boot on real boxes, not only virtio. zstd:
// fast to unpack, also under TCG. RESUME=none: no swap to resume from.
const initramfs_conf = `MODULES=most
COMPRESS=zstd
RESUME=none
`;

function sourcesList(repos: Repo[]): string {
  return repos.map((r) => `deb ${r.uri} ${r.suite} ${r.component}\n`).join("");
}

function ensureRootfs(cache: string, repos: Repo[]): string {
  const key = hashOf(rootfsRecipe(repos));
  const dir = join(cache, `rootfs-${key}`);
  if (existsSync(join(dir, ".tandem-complete"))) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const main = repos.find((r) => r.suite === suite)!;
  const t0 = performance.now();
  log(`debootstrap ${suite} from ${main.uri} into ${tmp}`);
  sh(["debootstrap", "--variant=minbase", "--components=main", suite, tmp, main.uri], "debootstrap", { timeout_ms: 3_600_000 });
  log(`debootstrap done in ${Math.round((performance.now() - t0) / 1000)} s`);
  writeFileSync(join(tmp, "etc/apt/sources.list"), sourcesList(repos));
  mkdirSync(join(tmp, "etc/dpkg/dpkg.cfg.d"), { recursive: true });
  writeFileSync(join(tmp, "etc/dpkg/dpkg.cfg.d/01-tandem-nodoc"), dpkg_excludes);
  mkdirSync(join(tmp, "etc/initramfs-tools/conf.d"), { recursive: true });
  writeFileSync(join(tmp, "etc/initramfs-tools/conf.d/tandem"), initramfs_conf);
  // packages must not start services inside the chroot
  writeFileSync(join(tmp, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  writeFileSync(join(tmp, "etc/apt/apt.conf.d/99tandem"), 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n');
  const t1 = performance.now();
  log(`apt-get install ${packages.length} packages`);
  inChroot(
    tmp,
    `apt-get update -q
apt-get install -y -q ${packages.join(" ")}
apt-get -y -q upgrade
for u in ${disabled_units.join(" ")}; do systemctl disable "$u" >/dev/null 2>&1 || true; done
systemctl mask samba-ad-dc.service systemd-networkd-wait-online.service >/dev/null 2>&1
for k in /usr/lib/modules/*; do
  for d in ${pruned_module_dirs.join(" ")}; do rm -rf "$k/kernel/$d"; done
  depmod "\${k##*/}"
done
update-initramfs -u -k all
rm -f /boot/*.old-dkms /vmlinuz.old /initrd.img.old
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /usr/share/doc/*/changelog* /tmp/* /var/tmp/*
`,
    "apt-get install in the chroot",
  );
  rmSync(join(tmp, "usr/sbin/policy-rc.d"), { force: true });
  log(`packages installed in ${Math.round((performance.now() - t1) / 1000)} s`);
  writeFileSync(join(tmp, ".tandem-complete"), `${new Date().toISOString()}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/**
 * Layer 1b, the harness's root: a copy of the appliance's root plus harness_packages (a few
 * seconds of apt, not a new debootstrap), keyed by the base layer and the package list.
 */
function ensureHarnessRootfs(cache: string, repos: Repo[]): string {
  const base = ensureRootfs(cache, repos);
  const key = hashOf(base, JSON.stringify({ v: 1, harness_packages, harness_disabled_units }));
  const dir = join(cache, `rootfs-harness-${key}`);
  if (existsSync(join(dir, ".tandem-complete"))) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const t0 = performance.now();
  log(`harness root: ${base} + ${harness_packages.join(" ")}`);
  sh(["cp", "-a", "--reflink=auto", base, tmp], "copy of the appliance root");
  rmSync(join(tmp, ".tandem-complete"), { force: true });
  writeFileSync(join(tmp, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  inChroot(
    tmp,
    `apt-get update -q
apt-get install -y -q ${harness_packages.join(" ")}
for u in ${harness_disabled_units.join(" ")}; do systemctl disable "$u" >/dev/null 2>&1 || true; done
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /usr/share/doc/*/changelog* /tmp/* /var/tmp/*
`,
    "apt-get install of the harness packages in the chroot",
  );
  rmSync(join(tmp, "usr/sbin/policy-rc.d"), { force: true });
  log(`harness packages installed in ${Math.round((performance.now() - t0) / 1000)} s`);
  writeFileSync(join(tmp, ".tandem-complete"), `${new Date().toISOString()}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

// ---- layer 2: the appliance disk -------------------------------------------------

export interface Image {
  dir: string;
  disk: string;
  vmlinuz: string;
  initrd: string;
  cmdline: string;
  disk_bytes: number;
  root_fs_bytes: number;
  data_fs_bytes: number;
  build_ms: number;
}

const root_label = "tandem-root";
const data_label = "tandem-data";
/** Free space on /var for state, journal (64 MB cap) and NFS/Samba state. */
const data_free_bytes = 448 << 20;
const images_kept = 2;

function duBytes(dir: string): number {
  return Number(sh(["du", "-sb", "--apparent-size", dir], `du ${dir}`).split(/\s+/)[0]);
}

function mib(bytes: number): number {
  return Math.ceil(bytes / (1 << 20));
}

/** Copies a tree of files (modes kept) over dest. */
function overlayTree(src: string, dest: string): void {
  for (const e of readdirSync(src, { withFileTypes: true })) {
    const s = join(src, e.name);
    const d = join(dest, e.name);
    if (e.isDirectory()) {
      mkdirSync(d, { recursive: true });
      overlayTree(s, d);
    } else {
      rmSync(d, { force: true });
      copyFileSync(s, d);
      chmodSync(d, statSync(s).mode & 0o7777);
    }
  }
}

/** Moves /etc/NAME (what packages put there) to /var/lib/NAME and leaves a symlink: config that must be writable with a read-only root. */
function moveToData(stage: string, name: string): void {
  const from = join(stage, "etc", name);
  const to = join(stage, "var/lib", name);
  mkdirSync(from, { recursive: true });
  renameSync(from, to);
  symlinkSync(`/var/lib/${name}`, from);
}

function assemble(cache: string, rootfs: string, bin: string, t0: number, variant: ImageVariant): Image {
  const unit = join(root, "systemd/tandem.service");
  const key = hashOf(rootfs, fileHash(bin), fileHash(unit), treeHash(files_dir), readFileSync(import.meta.path, "utf8"));
  // each variant is pruned on its own: a harness build must not remove the appliance image a test uses
  const prefix = variant === "appliance" ? "image-" : `image-${variant}-`;
  const dir = join(cache, `${prefix}${key}`);
  const meta = join(dir, "image.json");
  if (existsSync(meta)) return JSON.parse(readFileSync(meta, "utf8")) as Image;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const stage = join(tmp, "root");
  mkdirSync(tmp, { recursive: true });
  log(`assembling ${dir}`);
  sh(["cp", "-a", `${rootfs}/.`, stage], "copy of the root");
  rmSync(join(stage, ".tandem-complete"), { force: true });
  copyFileSync(bin, join(stage, "usr/sbin/tandem"));
  chmodSync(join(stage, "usr/sbin/tandem"), 0o755);
  copyFileSync(unit, join(stage, "usr/lib/systemd/system/tandem.service"));
  moveToData(stage, "ha.d");
  moveToData(stage, "drbd.d");
  overlayTree(files_dir, stage);
  mkdirSync(join(stage, "var/srv/share"), { recursive: true });
  rmSync(join(stage, "srv"), { recursive: true, force: true });
  symlinkSync("/var/srv", join(stage, "srv"));
  mkdirSync(join(stage, "var/log/journal"), { recursive: true });
  // One id per build: journald names its directory after it, and a
  // read-only root cannot take one generated at first boot.
  writeFileSync(join(stage, "etc/machine-id"), `${createHash("sha256").update(key).digest("hex").slice(0, 32)}\n`);
  inChroot(stage, "systemctl enable tandem.service tandem-seed.service systemd-networkd.service >/dev/null 2>&1\nsystemctl set-default multi-user.target >/dev/null 2>&1", "systemctl enable");
  const kernel = readdirSync(join(stage, "boot")).find((f) => f.startsWith("vmlinuz-"));
  const initrd = readdirSync(join(stage, "boot")).find((f) => f.startsWith("initrd.img-"));
  if (!kernel || !initrd) throw new BuildError(`no kernel or initrd in ${stage}/boot`);
  copyFileSync(join(stage, "boot", kernel), join(tmp, "vmlinuz"));
  copyFileSync(join(stage, "boot", initrd), join(tmp, "initrd.img"));
  // /var is the data partition; the root keeps an empty mount point
  const data = join(tmp, "data");
  renameSync(join(stage, "var"), data);
  mkdirSync(join(stage, "var"));
  const root_bytes = mib(duBytes(stage) * 1.1 + (48 << 20)) << 20;
  const data_bytes = mib(duBytes(data) * 1.1 + data_free_bytes) << 20;
  const root_img = join(tmp, "root.ext4");
  const data_img = join(tmp, "data.ext4");
  sh(["mkfs.ext4", "-q", "-F", "-L", root_label, "-m", "0", "-d", stage, root_img, `${root_bytes >> 20}M`], "mkfs.ext4 root");
  sh(["mkfs.ext4", "-q", "-F", "-L", data_label, "-d", data, data_img, `${data_bytes >> 20}M`], "mkfs.ext4 data");
  rmSync(stage, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
  // GPT: 1 MiB in, root then data, 1 MiB spare at the end for the backup table
  const raw = join(tmp, "disk.raw");
  const p1_mib = 1;
  const p2_mib = p1_mib + (root_bytes >> 20);
  const disk_bytes = (p2_mib + (data_bytes >> 20) + 1) << 20;
  writeFileSync(raw, "");
  sh(["truncate", "-s", String(disk_bytes), raw], "truncate");
  const table = `label: gpt\nstart=${p1_mib}MiB, size=${root_bytes >> 20}MiB, type=linux, name=${root_label}\nstart=${p2_mib}MiB, size=${data_bytes >> 20}MiB, type=linux, name=${data_label}\n`;
  const r = spawnSync("sfdisk", ["-q", raw], { input: table, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new BuildError(`sfdisk ${raw}: ${r.stderr}`);
  sh(["dd", `if=${root_img}`, `of=${raw}`, "bs=1M", `seek=${p1_mib}`, "conv=notrunc,sparse", "status=none"], "dd root");
  sh(["dd", `if=${data_img}`, `of=${raw}`, "bs=1M", `seek=${p2_mib}`, "conv=notrunc,sparse", "status=none"], "dd data");
  rmSync(root_img);
  rmSync(data_img);
  sh(["qemu-img", "convert", "-O", "qcow2", raw, join(tmp, "disk.qcow2")], "qemu-img convert");
  rmSync(raw);
  const img: Image = {
    dir,
    disk: join(dir, "disk.qcow2"),
    vmlinuz: join(dir, "vmlinuz"),
    initrd: join(dir, "initrd.img"),
    cmdline,
    disk_bytes,
    root_fs_bytes: root_bytes,
    data_fs_bytes: data_bytes,
    build_ms: Math.round(performance.now() - t0),
  };
  writeFileSync(join(tmp, "image.json"), `${JSON.stringify(img, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  // older assemblies: keep a few (a running test may use one), drop the rest
  const old = readdirSync(cache)
    .filter((f) => f.startsWith(prefix) && /^[0-9a-f]{16}$/.test(f.slice(prefix.length)) && f !== `${prefix}${key}`)
    .map((f) => ({ f, t: statSync(join(cache, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const o of old.slice(images_kept - 1)) rmSync(join(cache, o.f), { recursive: true, force: true });
  return img;
}

/**
 * Builds (or finds in the cache) the image for dist/tandem (or $TANDEM_BIN). Root only.
 * variant "harness": the same appliance plus harness_packages, for benchmarks (not shipped).
 */
export function ensureImage(bin = process.env.TANDEM_BIN ?? join(root, "dist/tandem"), o: { variant?: ImageVariant } = {}): Image {
  const variant = o.variant ?? "appliance";
  if (process.getuid?.() !== 0) throw new BuildError("run as root: debootstrap, chroot and root-owned files need it");
  for (const [tool, pkg] of [["debootstrap", "debootstrap"], ["unshare", "util-linux"], ["mkfs.ext4", "e2fsprogs"], ["sfdisk", "fdisk"], ["qemu-img", "qemu-utils"]] as const) {
    if (!Bun.which(tool) && !existsSync(`/usr/sbin/${tool}`) && !existsSync(`/sbin/${tool}`)) throw new BuildError(`${tool} not found: apt-get install ${pkg}`);
  }
  if (!existsSync(bin)) throw new BuildError(`${bin} missing: run ./node_modules/.bin/bun run build.ts`);
  const t0 = performance.now();
  const cache = imageCacheDir();
  mkdirSync(cache, { recursive: true });
  const repos = hostRepos();
  const rootfs = variant === "harness" ? ensureHarnessRootfs(cache, repos) : ensureRootfs(cache, repos);
  return assemble(cache, rootfs, bin, t0, variant);
}

/** The cached Debian root (layer 1: debootstrap + the appliance's packages,
 *  apt and dpkg included), built on a cold cache. The package test installs
 *  tandem_*.deb into an overlay of it with apt. Root only. */
export function ensureDebianRoot(): string {
  if (process.getuid?.() !== 0) throw new BuildError("run as root: debootstrap and chroot need it");
  const cache = imageCacheDir();
  mkdirSync(cache, { recursive: true });
  return ensureRootfs(cache, hostRepos());
}

export { BuildError as ImageBuildError };

if (import.meta.main) {
  try {
    const img = ensureImage(undefined, { variant: process.argv.includes("--harness") ? "harness" : "appliance" });
    const qcow = statSync(img.disk).blocks * 512;
    log(`disk ${img.disk}: ${mib(img.disk_bytes)} MiB virtual (root ${mib(img.root_fs_bytes)} MiB read-only, data ${mib(img.data_fs_bytes)} MiB), ${mib(qcow)} MiB qcow2 on disk; kernel ${mib(statSync(img.vmlinuz).size)} MiB, initrd ${mib(statSync(img.initrd).size)} MiB; built in ${Math.round(img.build_ms / 1000)} s`);
    console.log(img.dir);
  } catch (e) {
    if (e instanceof BuildError) {
      console.error(`image/build.ts: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}
