// Give back the runtime's code pages that start-up touched and idle never
// runs. Most of the daemon's RSS is not its own memory but the Bun
// executable's clean, file-backed pages: measured (bench/detection, 100 ms
// keepalive, after warm-up) 30 MB of its 78 MB .text and 6 MB of .rodata
// resident, against 11 MB anonymous. Start-up runs the JS parser, the
// bytecode generator, module loading and the JIT tiers, and every such page
// fault also maps up to 64 KiB of neighbours already in the page cache (the
// kernel's fault-around: the resident text comes in whole, aligned 64 KiB
// blocks). A bare compiled Bun program with one UDP socket has 33 MB of
// file pages resident.
//
// releaseIdlePages unmaps every resident page of the read-only file
// mappings (the executable, libc, the addon) and, when memory is locked,
// locks the ranges again on fault: what the heartbeat loop runs comes back
// at once as minor faults (the pages are still in the page cache), the rest
// stays out. Measured: RSS 53 -> 37 MB at 50 and 100 ms keepalive, 60 -> 45
// MB at 10 ms; takeover unchanged (bench/failover 20/100) while the page
// cache holds the file.
//
// Not by default when memory is locked (`realtime on`): a page that is not
// mapped is not locked, and under memory pressure the kernel evicts it;
// the takeover then runs code that idle never runs (node death, resource
// start, new JS compiled by the parser) from disk. Measured with the
// executable's unmapped pages evicted every 50 ms: failover 185 ms median
// against 97 ms (20/100), where the locked start-up pages keep it at 97 ms.
// The lock is what `realtime` promises, so it wins over RSS.
//   TANDEM_PAGES unset    release when memory is not locked
//   TANDEM_PAGES=release  release also when locked (the idle path stays locked)
//   TANDEM_PAGES=keep     never
import { readFileSync } from "node:fs";
import { native } from "../native/addon.ts";

export interface PagesReleased {
  /** mappings whose pages were dropped */
  mappings: number;
  /** their resident kB before */
  dropped_kb: number;
  /** process RSS before and after, kB */
  rss_before_kb: number;
  rss_after_kb: number;
  /** mappings the kernel refused, and why */
  errors: string[];
}

export interface Mapping {
  start: number;
  end: number;
  perms: string;
  path: string;
  rss_kb: number;
  anon_kb: number;
  flags: string[];
}

/** The mappings of /proc/self/smaps (or the given text). */
export function parseSmaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | null = null;
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) {
      cur = { start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, path: m[4] === "0" ? "" : m[5]!, rss_kb: 0, anon_kb: 0, flags: [] };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const kv = /^(\w+):\s+(.*)$/.exec(line);
    if (!kv) continue;
    if (kv[1] === "Rss") cur.rss_kb = parseInt(kv[2]!, 10);
    else if (kv[1] === "Anonymous") cur.anon_kb = parseInt(kv[2]!, 10);
    else if (kv[1] === "VmFlags") cur.flags = kv[2]!.trim().split(/\s+/);
  }
  return out;
}

/**
 * The mappings whose resident pages can be dropped without losing data:
 * backed by a file (not a device), not writable, and without private
 * (copy-on-write) pages, which MADV_DONTNEED would discard.
 */
export function droppable(maps: Mapping[]): Mapping[] {
  return maps.filter(
    (m) =>
      m.path.startsWith("/") &&
      !m.path.startsWith("/dev/") &&
      m.perms[1] !== "w" &&
      m.anon_kb === 0 &&
      m.rss_kb > 0 &&
      // VM_IO / VM_PFNMAP / VM_HUGETLB: not page-cache pages
      !m.flags.some((f) => f === "io" || f === "pf" || f === "ht"),
  );
}

/** Whether to release pages, from TANDEM_PAGES and whether memory is locked (see above). */
export function pagesPolicy(setting: string | undefined, locked: boolean): { release: boolean; problem?: string } {
  if (setting === "release") return { release: true };
  if (setting === "keep") return { release: false };
  const problem = setting === undefined || setting === "" ? undefined : `TANDEM_PAGES=${setting} is not release or keep; using the default`;
  return { release: !locked, ...(problem ? { problem } : {}) };
}

/** Drops the resident pages of the droppable mappings (no policy: see pagesPolicy). */
export function releaseIdlePages(): PagesReleased {
  const rss_before_kb = Math.round(process.memoryUsage.rss() / 1024);
  const res: PagesReleased = { mappings: 0, dropped_kb: 0, rss_before_kb, rss_after_kb: rss_before_kb, errors: [] };
  let maps: Mapping[];
  try {
    maps = droppable(parseSmaps(readFileSync("/proc/self/smaps", "utf8")));
  } catch (e) {
    res.errors.push(`/proc/self/smaps: ${(e as Error).message}`);
    return res;
  }
  for (const m of maps) {
    try {
      // "lo": VM_LOCKED (mlockall MCL_FUTURE made it so): lock it again on fault
      native.dropPages(m.start, m.end - m.start, m.flags.includes("lo"));
      res.mappings++;
      res.dropped_kb += m.rss_kb;
    } catch (e) {
      res.errors.push(`${m.path}: ${(e as Error).message}`);
    }
  }
  res.rss_after_kb = Math.round(process.memoryUsage.rss() / 1024);
  return res;
}

/** releaseIdlePages when pagesPolicy says so, with its outcome as a `pages_released` event. */
export function releaseIdlePagesLogged(when: string, locked: boolean, event: (name: string, fields: Record<string, string | number>) => void): void {
  const policy = pagesPolicy(process.env.TANDEM_PAGES, locked);
  if (!policy.release) {
    if (policy.problem) event("pages_kept", { when, problem: policy.problem });
    return;
  }
  const r = releaseIdlePages();
  event("pages_released", {
    when,
    mappings: r.mappings,
    dropped_kb: r.dropped_kb,
    rss_before_kb: r.rss_before_kb,
    rss_after_kb: r.rss_after_kb,
    ...(r.errors.length > 0 ? { errors: r.errors.join("; ") } : {}),
    ...(policy.problem ? { problem: policy.problem } : {}),
  });
}
