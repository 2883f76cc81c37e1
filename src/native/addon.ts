// The one door to tandem's native addon (native/tandem.c, built by build.ts
// into ./tandem.node next to this file).
//
// The `require("./tandem.node")` below must stay a literal: `bun build
// --compile` sees it, embeds the file in dist/tandem, and at run time writes
// it to a temporary file under $TMPDIR and dlopen()s it from there. So
// $TMPDIR must be on a filesystem that allows exec.
//
// Loading is lazy and failure-tolerant: importing this module never loads
// anything; the first call does, and if that fails every call throws an
// Error saying why (noexec $TMPDIR, addon not built, ...). Commands that do
// not need the addon keep working.

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export type SchedPolicy = "other" | "fifo" | "rr" | "batch" | "idle" | "unknown";

export interface SchedInfo {
  /** Policy of the calling (JS) thread. */
  policy: SchedPolicy;
  priority: number;
  /** SCHED_RESET_ON_FORK is set (setScheduler("rr") sets it). */
  resetOnFork: boolean;
}

export interface MemlockInfo {
  /** VmLck of this process in bytes (size of locked mappings, not resident); -1 if /proc is missing. */
  lockedBytes: number;
  /** RLIMIT_MEMLOCK in bytes; Infinity when unlimited. */
  limitSoft: number;
  limitHard: number;
}

export interface MlockConstants {
  readonly MCL_CURRENT: number;
  readonly MCL_FUTURE: number;
  readonly MCL_ONFAULT: number;
}

export interface AddrAddOptions {
  /** IPv4 only: "<ifname>" or "<ifname>:<tag>", at most 15 bytes (what `ip addr ... label` sets). */
  label?: string;
  /** IPv4 only: broadcast address; none is set when omitted. */
  broadcast?: string;
  /** IPv6 only (ignored for IPv4): skip duplicate address detection so the address is usable at once. Default true. */
  nodad?: boolean;
}

export interface AddrInfo {
  ifname: string;
  ifindex: number;
  family: 4 | 6;
  /** inet_ntop() form (IPv6 canonical, lower case, compressed) */
  address: string;
  prefixlen: number;
  /** IPv4 label, or the interface name (IPv6 addresses have none) */
  label: string;
  /** IFA_F_* flags (IFA_F_NODAD 0x02, IFA_F_TENTATIVE 0x40, IFA_F_PERMANENT 0x80, IFA_F_DADFAILED 0x08, ...) */
  flags: number;
  /** RT_SCOPE_*: 0 universe, 253 link, 254 host */
  scope: number;
}

export interface AnnounceResult {
  /** the interface's MAC the announcement carries (aa:bb:cc:dd:ee:ff) */
  mac: string;
  /** packets sent by this call */
  sent: number;
}

export type GarpMode = "request" | "reply" | "both";

export interface WatchdogDevice {
  /** the open (and now armed) device; close it with watchdogClose */
  fd: number;
  /** the driver's name (WDIOC_GETSUPPORT), e.g. "Software Watchdog" */
  identity: string;
  /** WDIOF_* flags the driver supports (WDIOF_SETTIMEOUT 0x80, WDIOF_MAGICCLOSE 0x100, WDIOF_KEEPALIVEPING 0x8000) */
  options: number;
  /** the current timeout (WDIOC_GETTIMEOUT), or -1 when the driver cannot say */
  timeout_s: number;
}

export interface NativeAddon {
  /** "tandem-native X.Y.Z (N-API 8, gcc ..., glibc ..., arch)". */
  version(): string;
  /** SO_PEERCRED of a connected Unix socket fd (for `node:net`, `socket._handle.fd`). */
  peerCred(fd: number): PeerCred;
  /** mlockall(2). `flags` must include MCL_ONFAULT (RangeError otherwise). */
  mlockall(flags: number): void;
  munlockall(): void;
  memlockInfo(): MemlockInfo;
  /**
   * munlock + madvise(MADV_DONTNEED) of a page-aligned range, then mlock2(MLOCK_ONFAULT) again when
   * `relock`: unmaps resident pages of a clean read-only file mapping (they stay in the page cache). Only for
   * mappings without copy-on-write pages (smaps Anonymous: 0): it would discard those.
   */
  dropPages(address: number, length: number, relock: boolean): void;
  /**
   * sched_setscheduler(2) on the calling (JS) thread, or on thread `tid` of
   * this process (an entry of /proc/self/task); "rr" takes 1..99 and sets
   * SCHED_RESET_ON_FORK, "other" takes 0.
   */
  setScheduler(policy: "rr" | "other", priority: number, tid?: number): void;
  schedInfo(tid?: number): SchedInfo;
  /**
   * RTM_NEWADDR (NLM_F_CREATE|NLM_F_EXCL, acked) in the caller's network namespace. IPv4 or IPv6 by the
   * address's form. Throws the kernel's errno: EEXIST when the address/prefix is already there, ENODEV for
   * an unknown interface, EPERM without CAP_NET_ADMIN.
   */
  addrAdd(ifname: string, address: string, prefixlen: number, options?: AddrAddOptions): void;
  /** RTM_DELADDR, acked. EADDRNOTAVAIL when that address/prefix is not on the interface. */
  addrDel(ifname: string, address: string, prefixlen: number): void;
  /** RTM_GETADDR dump, IPv4 and IPv6, of one interface (ENODEV if unknown) or all. */
  addrList(ifname?: string): AddrInfo[];
  /**
   * Gratuitous ARP for `ipv4` with `ifname`'s MAC, Ethernet broadcast, from an AF_PACKET socket.
   * "both" (default, as Heartbeat's send_arp): an ARP request, then an ARP reply. Throws EOPNOTSUPP for a
   * non-Ethernet/NOARP/loopback interface, ENETDOWN for one that is down.
   */
  sendGarp(ifname: string, ipv4: string, mode?: GarpMode): AnnounceResult;
  /**
   * Unsolicited Neighbour Advertisement (Override set, Solicited clear, target link-layer address option)
   * from `ipv6` to ff02::1, hop limit 255. `ipv6` must already be on the host (EADDRNOTAVAIL otherwise).
   */
  sendUnsolicitedNa(ifname: string, ipv6: string): AnnounceResult;
  /**
   * Opens a watchdog device O_WRONLY|O_CLOEXEC, which arms it. Refuses (and never arms) anything that is
   * not a watchdog: a missing path throws ENOENT, a regular file or FIFO ENODEV ("not a character
   * device"), a character device without WDIOC_GETSUPPORT (e.g. /dev/null) ENOTTY.
   */
  watchdogOpen(path: string): WatchdogDevice;
  /** WDIOC_SETTIMEOUT; returns the timeout the driver actually set (it may round). */
  watchdogSetTimeout(fd: number, timeout_s: number): number;
  /** WDIOC_GETTIMEOUT */
  watchdogGetTimeout(fd: number): number;
  /** WDIOC_KEEPALIVE, or a one-byte write for drivers without the ioctl. */
  watchdogKeepalive(fd: number): void;
  /** magic=true writes 'V' before close (the driver disarms: clean stop); false leaves it counting (reset). */
  watchdogClose(fd: number, magic: boolean): void;
  /** One datagram to an AF_UNIX SOCK_DGRAM socket (sd_notify); path "/..." or "@abstract". Never blocks. */
  notifySend(path: string, message: string): void;
  /** A bound, non-blocking AF_UNIX datagram socket ("@" = abstract); for tests and the VM harness. */
  notifyBind(path: string): number;
  /** One pending datagram from a notifyBind socket, or null when none is queued. */
  notifyRecv(fd: number): string | null;
  /** close(2) of an fd notifyBind returned. */
  closeFd(fd: number): void;
  /**
   * Opens a serial port O_RDWR|O_NOCTTY|O_NONBLOCK|O_CLOEXEC and sets it raw (cfmakeraw), CLOCAL|CREAD, no
   * RTS/CTS, no XON/XOFF, `baud` both ways (9600..460800, Heartbeat's list), and flushes both queues.
   * Errors name the path: "open /dev/ttyS0: No such file or directory (ENOENT)"; ENODEV for a non-device,
   * ENOTTY for a device that is not a terminal.
   */
  serialOpen(path: string, baud: number): number;
  /** Non-blocking write(2): bytes the driver took (maybe fewer than given), 0 when it would block. Throws EIO etc. */
  serialWrite(fd: number, bytes: Uint8Array): number;
  /** TIOCOUTQ: bytes queued in the driver, not yet on the line (ptys report 0). */
  serialOutq(fd: number): number;
  /** The line's termios as the driver holds it. */
  serialInfo(fd: number): SerialInfo;
  /** A NETLINK_GENERIC socket, non-blocking, close-on-exec (native/drbd.c); close it with closeFd. */
  genlOpen(): number;
  /** One complete netlink message (16..4096 bytes) to the kernel. */
  genlSend(fd: number, bytes: Uint8Array): void;
  /**
   * One netlink request on a worker thread with its own socket: the datagrams of the answer
   * (one; or a dump up to NLMSG_DONE / NLMSG_ERROR), each padded to 4 bytes, concatenated.
   * The kernel runs a request inside sendto() and a dump's later parts inside recv(), both under
   * genl_lock, so on the event loop a DRBD role change (fence-peer handler included) would block it.
   * Rejects with ETIMEDOUT after timeout_ms without an answer.
   */
  genlTransact(bytes: Uint8Array, dump: boolean, timeout_ms: number): Promise<Uint8Array>;
  /** One pending datagram (one or more netlink messages), or null when none is queued. */
  genlRecv(fd: number): Uint8Array | null;
  readonly constants: MlockConstants;
}

export interface SerialInfo {
  ispeed: number;
  ospeed: number;
  vmin: number;
  vtime: number;
  /** no canonical mode, echo, signals, output processing, CR/NL mapping, stripping; CS8, no parity */
  raw: boolean;
  clocal: boolean;
  crtscts: boolean;
  /** IXON or IXOFF */
  ixon: boolean;
  nonblock: boolean;
}

let loaded: NativeAddon | undefined;
let loadError: Error | undefined;

function describeLoadFailure(e: unknown): Error {
  const why = e instanceof Error ? e.message : String(e);
  const compiled = import.meta.path.startsWith("/$bunfs/");
  let hint: string;
  if (!compiled && /cannot find module|no such file|ENOENT/i.test(why)) {
    hint = "build it with `./node_modules/.bin/bun run build.ts addon`";
  } else {
    const tmp = process.env.TMPDIR || "/tmp";
    hint =
      `the addon is unpacked into $TMPDIR (${tmp}) and dlopen()ed from there; if that directory ` +
      "is mounted noexec, run tandem with TMPDIR=/var/lib/tandem (any directory that allows exec)";
  }
  const err = new Error(`cannot load the native addon (${why}); ${hint}`);
  (err as Error & { cause?: unknown }).cause = e;
  return err;
}

/** Loads the addon (once) and returns it; throws the load error, every time, if it cannot load. */
export function loadNative(): NativeAddon {
  if (loaded !== undefined) return loaded;
  if (loadError !== undefined) throw loadError;
  try {
    const mod = require("./tandem.node") as NativeAddon;
    if (typeof mod?.version !== "function") throw new Error("tandem.node does not export version()");
    loaded = mod;
    return mod;
  } catch (e) {
    loadError = describeLoadFailure(e);
    throw loadError;
  }
}

/** The load error, if loading was tried and failed; undefined otherwise. Never throws. */
export function nativeLoadError(): Error | undefined {
  if (loaded === undefined && loadError === undefined) {
    try {
      loadNative();
    } catch {
      // recorded in loadError
    }
  }
  return loadError;
}

export const native: NativeAddon = {
  version: () => loadNative().version(),
  peerCred: (fd) => loadNative().peerCred(fd),
  mlockall: (flags) => loadNative().mlockall(flags),
  munlockall: () => loadNative().munlockall(),
  memlockInfo: () => loadNative().memlockInfo(),
  dropPages: (address, length, relock) => loadNative().dropPages(address, length, relock),
  setScheduler: (policy, priority, tid) => (tid === undefined ? loadNative().setScheduler(policy, priority) : loadNative().setScheduler(policy, priority, tid)),
  schedInfo: (tid) => (tid === undefined ? loadNative().schedInfo() : loadNative().schedInfo(tid)),
  addrAdd: (ifname, address, prefixlen, options) => loadNative().addrAdd(ifname, address, prefixlen, options),
  addrDel: (ifname, address, prefixlen) => loadNative().addrDel(ifname, address, prefixlen),
  addrList: (ifname) => (ifname === undefined ? loadNative().addrList() : loadNative().addrList(ifname)),
  sendGarp: (ifname, ipv4, mode) => (mode === undefined ? loadNative().sendGarp(ifname, ipv4) : loadNative().sendGarp(ifname, ipv4, mode)),
  sendUnsolicitedNa: (ifname, ipv6) => loadNative().sendUnsolicitedNa(ifname, ipv6),
  watchdogOpen: (path) => loadNative().watchdogOpen(path),
  watchdogSetTimeout: (fd, timeout_s) => loadNative().watchdogSetTimeout(fd, timeout_s),
  watchdogGetTimeout: (fd) => loadNative().watchdogGetTimeout(fd),
  watchdogKeepalive: (fd) => loadNative().watchdogKeepalive(fd),
  watchdogClose: (fd, magic) => loadNative().watchdogClose(fd, magic),
  notifySend: (path, message) => loadNative().notifySend(path, message),
  notifyBind: (path) => loadNative().notifyBind(path),
  notifyRecv: (fd) => loadNative().notifyRecv(fd),
  closeFd: (fd) => loadNative().closeFd(fd),
  serialOpen: (path, baud) => loadNative().serialOpen(path, baud),
  serialWrite: (fd, bytes) => loadNative().serialWrite(fd, bytes),
  serialOutq: (fd) => loadNative().serialOutq(fd),
  serialInfo: (fd) => loadNative().serialInfo(fd),
  genlOpen: () => loadNative().genlOpen(),
  genlSend: (fd, bytes) => loadNative().genlSend(fd, bytes),
  genlRecv: (fd) => loadNative().genlRecv(fd),
  genlTransact: (bytes, dump, timeout_ms) => loadNative().genlTransact(bytes, dump, timeout_ms),
  get constants() {
    return loadNative().constants;
  },
};
