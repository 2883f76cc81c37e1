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

export interface NativeAddon {
  /** "tandem-native X.Y.Z (N-API 8, gcc ..., glibc ..., arch)". */
  version(): string;
  /** SO_PEERCRED of a connected Unix socket fd (for `node:net`, `socket._handle.fd`). */
  peerCred(fd: number): PeerCred;
  /** mlockall(2). `flags` must include MCL_ONFAULT (RangeError otherwise). */
  mlockall(flags: number): void;
  munlockall(): void;
  memlockInfo(): MemlockInfo;
  /** sched_setscheduler(2) on the calling (JS) thread; "rr" takes 1..99 and sets SCHED_RESET_ON_FORK, "other" takes 0. */
  setScheduler(policy: "rr" | "other", priority: number): void;
  schedInfo(): SchedInfo;
  readonly constants: MlockConstants;
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
      "is mounted noexec, run tandem with TMPDIR=/run/tandem (any directory that allows exec)";
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
  setScheduler: (policy, priority) => loadNative().setScheduler(policy, priority),
  schedInfo: () => loadNative().schedInfo(),
  get constants() {
    return loadNative().constants;
  },
};
