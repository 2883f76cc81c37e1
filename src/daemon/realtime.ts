// `realtime on` / `rtprio N` (Heartbeat's defaults: on, priority 1): lock the
// daemon's memory so the heartbeat loop never waits on a page-in, and run the
// JS thread (timers, sockets, the cores) under SCHED_RR so a busy machine
// cannot starve it past deadtime. Agents are children: SCHED_RESET_ON_FORK
// gives them SCHED_OTHER back.
//
// mlockall uses MCL_ONFAULT: plain MCL_CURRENT|MCL_FUTURE would fault in and
// pin every reservation Bun makes (gigabytes of virtual heap). With
// MCL_FUTURE a locked process whose RLIMIT_MEMLOCK is finite and that lacks
// CAP_IPC_LOCK would see later allocations fail, so, like Heartbeat ("Cannot
// lock ourselves into memory"), we lock only when the limit is unlimited or
// we are root, and say why otherwise.
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
  problems: string[];
}

export function applyRealtime(hacf: Pick<HaConfig, "realtime" | "rtprio">, log: Logger): RealtimeStatus {
  const st: RealtimeStatus = {
    requested: hacf.realtime,
    memory_locked: false,
    locked_bytes: 0,
    resident_bytes: 0,
    memlock_limit: 0,
    policy: "unknown",
    priority: 0,
    problems: [],
  };
  if (hacf.realtime) {
    lockMemory(st);
    const prio = hacf.rtprio ?? rtprio_default;
    try {
      native.setScheduler("rr", prio);
    } catch (e) {
      st.problems.push(`SCHED_RR ${prio}: ${(e as Error).message} (needs root or CAP_SYS_NICE, and LimitRTPRIO= under systemd)`);
    }
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
