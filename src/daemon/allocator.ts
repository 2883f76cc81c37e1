// Bun's allocator (mimalloc) runs a scavenger thread that wakes every
// ~65 ms on an idle daemon to hand freed pages back to the kernel. For a
// process whose heap barely moves, that is most of its idle CPU (measured
// at 100 ms keepalive, after warm-up: scavenger 4.8 of 7.6 ms CPU per
// second, 12 of 24 wake-ups per second), and with `realtime on` the memory
// is locked (mlockall), so the kernel refuses the purges anyway (madvise
// on locked pages fails). Without the thread, mimalloc purges on the event
// loop's thread when it goes idle instead.
//
// mimalloc reads its options from the environment once, when the process
// starts, and Bun does not export mi_option_set; so `tandem daemon`
// re-executes itself (execve: same PID, same file descriptors, same argv)
// with the options set, before anything else is loaded. An option the
// admin set is kept; TANDEM_ALLOCATOR=keep skips all of this. The added
// variables are removed again from the re-executed daemon's environment,
// so resource agents never see them.
import { readFileSync, readlinkSync } from "node:fs";

/** mimalloc options for the daemon */
export const daemon_allocator_env: Record<string, string> = { MIMALLOC_SCAVENGER: "0" };

/** marker: the variables this re-exec added, comma-separated */
const marker = "TANDEM_ALLOCATOR";

/**
 * Re-executes the process with daemon_allocator_env unless already done
 * (returns after the re-exec, or when execve fails: the daemon then runs
 * with Bun's defaults, which only costs CPU).
 */
export async function execWithAllocatorOptions(): Promise<void> {
  const env = process.env;
  const m = env[marker];
  if (m !== undefined) {
    if (m !== "keep") {
      for (const k of m.split(",")) if (k in daemon_allocator_env) delete env[k];
      delete env[marker];
    }
    return;
  }
  const added = Object.keys(daemon_allocator_env).filter((k) => env[k] === undefined);
  if (added.length === 0) return;
  let argv: string[];
  try {
    // the exact argv the kernel gave us (process.argv is rewritten in a compiled binary)
    argv = readFileSync("/proc/self/cmdline", "latin1").split("\0").slice(0, -1);
  } catch {
    return;
  }
  if (argv.length === 0) return;
  try {
    const { dlopen, FFIType, ptr } = await import("bun:ffi");
    const libc = dlopen("libc.so.6", { execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } });
    const keep: Buffer[] = [];
    const cstrs = (xs: string[]) => {
      const table = new BigUint64Array(xs.length + 1); // NULL-terminated
      xs.forEach((x, i) => {
        const b = Buffer.from(`${x}\0`, "latin1");
        keep.push(b);
        table[i] = BigInt(ptr(b));
      });
      return table;
    };
    const vars = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...added.map((k) => `${k}=${daemon_allocator_env[k]}`), `${marker}=${added.join(",")}`];
    // the executable's own path, so the process keeps its name (comm, ps,
    // pidof); /proc/self/exe only if the file was replaced since it started
    let exe = "/proc/self/exe";
    try {
      const p = readlinkSync("/proc/self/exe");
      if (!p.endsWith(" (deleted)")) exe = p;
    } catch {
      // keep /proc/self/exe
    }
    const path = Buffer.from(`${exe}\0`, "latin1");
    libc.symbols.execve(ptr(path), ptr(cstrs(argv)), ptr(cstrs(vars)));
    // still here: execve failed; run on with the defaults
    libc.close();
  } catch {
    // no bun:ffi or no libc.so.6 (not glibc): run on with the defaults
  }
}
