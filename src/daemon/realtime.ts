// `realtime on` / `rtprio N` (Heartbeat's defaults: on, priority 1): lock the
// daemon's memory so the heartbeat loop never waits on a page-in, and run
// the daemon under SCHED_RR so a busy machine cannot starve it past
// deadtime. Agents are children: SCHED_RESET_ON_FORK gives them SCHED_OTHER.
//
// Every thread, not only the JS thread: with the JS thread alone at RR, it
// waits on Bun's and JSC's helper threads (GC markers, the I/O pool) that
// stay SCHED_OTHER behind whatever load the machine has. Measured
// (10/30 ms, two nodes, 30 s, loadavg ~3): JS thread only 15 false deaths
// and stalls up to 933 ms; SCHED_OTHER 4; every thread RR 0 in three runs.
// Heartbeat, likewise, makes all its processes RR. Threads started later
// begin as SCHED_OTHER (reset-on-fork): `reapply()` picks them up.
//
// One priority for every thread, never the loop above its helpers: Bun's and
// JSC's threads wait for each other with sched_yield() spin loops, and under
// SCHED_RR sched_yield only yields to threads of the same priority. With the
// loop one level up (tried: commit 73da667) a loop spinning for a helper that
// holds a lock never let it run: two daemons at 80% CPU each at RR 2 after a
// takeover, starving the machine (loadavg 98) until RT throttling's 5%.
//
// mlockall uses MCL_ONFAULT: plain MCL_CURRENT|MCL_FUTURE would fault in and
// pin every reservation Bun makes (gigabytes of virtual heap). With
// MCL_FUTURE a locked process whose RLIMIT_MEMLOCK is finite and that lacks
// CAP_IPC_LOCK would see later allocations fail, so, like Heartbeat ("Cannot
// lock ourselves into memory"), we lock only when the limit is unlimited or
// we are root, and say why otherwise.
import { readdirSync, readFileSync } from "node:fs";
import type { HaConfig } from "../config/types.ts";
import { native, type SchedPolicy } from "../native/addon.ts";
import type { Logger } from "./log.ts";

/** Heartbeat's rtprio when `realtime on` and no `rtprio` line */
export const rtprio_default = 1;

export interface RealtimeStatus {
  requested: boolean;
  memory_locked: boolean;
  /** VmLck: the size of locked mappings, touched or not (MCL_ONFAULT) */
  locked_bytes: number;
  /** what is actually in RAM (and pinned, when locked) */
  resident_bytes: number;
  memlock_limit: number | "unlimited";
  policy: SchedPolicy | "unknown";
  priority: number;
  /** threads of the process, and how many run SCHED_RR */
  threads: number;
  threads_rr: number;
  /** ha.cf rtprio: every thread's priority */
  rtprio: number;
  problems: string[];
}

/**
 * The SCHED_RR time slice against deadtime. Every thread at one RR priority
 * (this daemon's, the peer's when both run on one box, Heartbeat's) shares a
 * CPU in slices of kernel.sched_rr_timeslice_ms (100 ms by default): a busy
 * one, e.g. the JIT compiling, keeps the heartbeat loop off that CPU for up
 * to a slice. When a slice plus a keepalive reaches deadtime, that wait alone
 * can look like a death. Measured (bench/jitter soak, 20/100 ms under
 * stress-ng): slice 100 ms, one false failover in 15 min, gaps up to 120 ms;
 * slice 10 ms, see README "Timing under load". Returns the advice, or null.
 */
export function rrSliceProblem(rr_timeslice_ms: number | null, keepalive_ms: number, deadtime_ms: number): string | null {
  if (rr_timeslice_ms === null || !(rr_timeslice_ms > 0)) return null;
  if (rr_timeslice_ms + keepalive_ms < deadtime_ms) return null;
  const fits = Math.max(1, Math.floor((deadtime_ms - keepalive_ms) / 2));
  return `kernel.sched_rr_timeslice_ms is ${rr_timeslice_ms}: one busy real-time thread can hold a CPU for a whole slice, which with keepalive ${keepalive_ms} ms reaches deadtime ${deadtime_ms} ms; set kernel.sched_rr_timeslice_ms=${Math.min(10, fits)} in /etc/sysctl.d/ (the appliance does) or raise deadtime above ${rr_timeslice_ms + keepalive_ms} ms`;
}

/** kernel.sched_rr_timeslice_ms, or null where it cannot be read. */
export function readRrTimeslice(path = "/proc/sys/kernel/sched_rr_timeslice_ms"): number | null {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function applyRealtime(hacf: Pick<HaConfig, "realtime" | "rtprio" | "keepalive_ms" | "deadtime_ms">, log: Logger): RealtimeStatus {
  const st: RealtimeStatus = {
    requested: hacf.realtime,
    memory_locked: false,
    locked_bytes: 0,
    resident_bytes: 0,
    memlock_limit: 0,
    policy: "unknown",
    priority: 0,
    threads: 0,
    threads_rr: 0,
    rtprio: 0,
    problems: [],
  };
  if (hacf.realtime) {
    lockMemory(st);
    const prio = hacf.rtprio ?? rtprio_default;
    try {
      native.setScheduler("rr", prio);
      reapply(st, prio);
    } catch (e) {
      st.problems.push(`SCHED_RR ${prio}: ${(e as Error).message} (needs root or CAP_SYS_NICE, and LimitRTPRIO= under systemd)`);
    }
    const slice = rrSliceProblem(readRrTimeslice(), hacf.keepalive_ms, hacf.deadtime_ms);
    if (slice) st.problems.push(slice);
  }
  refresh(st);
  log.event("realtime", {
    requested: st.requested,
    memory_locked: st.memory_locked,
    policy: st.policy,
    priority: st.priority,
    ...(st.problems.length > 0 ? { problems: st.problems.join("; ") } : {}),
  });
  return st;
}

function lockMemory(st: RealtimeStatus): void {
  let info;
  try {
    info = native.memlockInfo();
  } catch (e) {
    st.problems.push(`memory lock: ${(e as Error).message}`);
    return;
  }
  const root = process.getuid?.() === 0;
  if (info.limitSoft !== Infinity && !root) {
    st.problems.push(`not locking memory: RLIMIT_MEMLOCK is ${Math.round(info.limitSoft / 1024)} kB and we are not root; set LimitMEMLOCK=infinity`);
    return;
  }
  const c = native.constants;
  try {
    native.mlockall(c.MCL_CURRENT | c.MCL_FUTURE | c.MCL_ONFAULT);
  } catch (e) {
    st.problems.push(`mlockall: ${(e as Error).message}`);
  }
}

/** The threads of this process. */
function threadIds(): number[] {
  try {
    return readdirSync("/proc/self/task").map(Number).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/**
 * Put every thread not yet at SCHED_RR there. Cheap (a readdir and a
 * syscall per thread, a few dozen at most); the daemon calls it now and then
 * for threads Bun starts later. Returns how many threads it changed.
 */
export function reapply(st: RealtimeStatus, prio = st.rtprio || rtprio_default): number {
  if (!st.requested) return 0;
  st.rtprio = prio;
  let changed = 0;
  // one pass: one readdir, one sched_getscheduler per thread (the daemon
  // runs this every 2 s for months)
  const tids = threadIds();
  let rr = 0;
  for (const tid of tids) {
    try {
      const now = native.schedInfo(tid);
      if (now.policy === "rr" && now.priority === prio) {
        rr++;
        continue;
      }
      native.setScheduler("rr", prio, tid);
      changed++;
      if (native.schedInfo(tid).policy === "rr") rr++;
    } catch {
      // the thread ended meanwhile, or no permission (reported at start)
    }
  }
  st.threads_rr = rr;
  st.threads = tids.length;
  return changed;
}

/** Re-read what the kernel says (status calls this). */
export function refresh(st: RealtimeStatus): RealtimeStatus {
  try {
    const m = native.memlockInfo();
    st.locked_bytes = m.lockedBytes;
    st.resident_bytes = process.memoryUsage.rss();
    st.memory_locked = m.lockedBytes > 0;
    st.memlock_limit = m.limitSoft === Infinity ? "unlimited" : m.limitSoft;
    const s = native.schedInfo();
    st.policy = s.policy;
    st.priority = s.priority;
  } catch {
    // addon unavailable: the problem was recorded when applying
  }
  return st;
}
