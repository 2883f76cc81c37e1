// systemd's notify protocol (sd_notify(3)) with no library: one datagram per
// message to the AF_UNIX socket in $NOTIFY_SOCKET ("@name" = abstract).
// node:dgram and Bun.udpSocket only speak UDP, so the sendto() is the
// addon's notifySend.
//
//   READY=1      once the configuration is loaded and the links are up
//   WATCHDOG=1   every half of $WATCHDOG_USEC, from the daemon's timer ticks
//                (like the device watchdog: a wedged loop stops it)
//   STOPPING=1   when a stop begins (groups are released first)
//   STATUS=...   a one-line summary, sent when it changes
//
// The variables are removed from our environment once read, so resource
// agents (which may be sd_notify-aware daemons) do not talk to our socket.
import { native } from "../native/addon.ts";
import type { Logger } from "./log.ts";
import type { LoopHook } from "./watchdog.ts";

export interface NotifyEnv {
  socket: string;
  /** half of WATCHDOG_USEC, or null when systemd's watchdog is off or meant for another process */
  watchdog_interval_ms: number | null;
  /** WATCHDOG_USEC was set but unusable, with why (logged) */
  watchdog_problem: string | null;
}

const status_bytes_max = 200;

/** Reads sd_notify's variables. Null when $NOTIFY_SOCKET is unset or unusable. Pure. */
export function parseNotifyEnv(env: Record<string, string | undefined>, pid: number): NotifyEnv | null {
  const socket = env.NOTIFY_SOCKET;
  if (!socket || (socket[0] !== "/" && socket[0] !== "@")) return null;
  let watchdog_interval_ms: number | null = null;
  let watchdog_problem: string | null = null;
  const usec = env.WATCHDOG_USEC;
  if (usec !== undefined && usec !== "") {
    const wpid = env.WATCHDOG_PID;
    const n = /^\d{1,15}$/.test(usec) ? Number(usec) : NaN;
    if (!(n > 0)) watchdog_problem = `WATCHDOG_USEC=${JSON.stringify(usec)} is not a positive integer`;
    else if (wpid !== undefined && wpid !== "" && wpid !== String(pid)) watchdog_problem = `WATCHDOG_PID=${wpid} is not this process (${pid})`;
    else watchdog_interval_ms = n / 2000;
  }
  return { socket, watchdog_interval_ms, watchdog_problem };
}

export class SystemdNotifier implements LoopHook {
  private last_ping_ms: number;
  private last_status = "";
  private failures = 0;
  private stopped = false;

  private constructor(
    readonly env: NotifyEnv,
    private log: Logger,
    now_ms: number,
  ) {
    this.last_ping_ms = now_ms;
  }

  /** From process.env (and scrubs the variables from it); null when not started by systemd with Type=notify. */
  static fromProcess(log: Logger, now_ms: number): SystemdNotifier | null {
    const env = parseNotifyEnv(process.env, process.pid);
    for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete process.env[k];
    if (env === null) return null;
    if (env.watchdog_problem) log.event("systemd_watchdog_ignored", { why: env.watchdog_problem });
    return new SystemdNotifier(env, log, now_ms);
  }

  ready(status: string): void {
    this.send(`READY=1\nSTATUS=${this.clip(status)}`);
    this.last_status = status;
    this.log.event("systemd_ready", { watchdog_interval_ms: this.env.watchdog_interval_ms ?? undefined });
  }

  /** STATUS= only when the text changed. */
  status(text: string): void {
    if (this.stopped || text === this.last_status) return;
    this.last_status = text;
    this.send(`STATUS=${this.clip(text)}`);
  }

  stopping(status: string): void {
    this.stopped = true;
    this.send(`STOPPING=1\nSTATUS=${this.clip(status)}`);
  }

  nextDeadline(): number {
    return this.env.watchdog_interval_ms === null ? Infinity : this.last_ping_ms + this.env.watchdog_interval_ms;
  }

  tick(now_ms: number): void {
    const every = this.env.watchdog_interval_ms;
    if (every === null || now_ms < this.last_ping_ms + every) return;
    this.last_ping_ms = now_ms;
    // keep pinging while stopping: a long group stop must not look like a hang
    this.send("WATCHDOG=1");
  }

  private clip(s: string): string {
    const one_line = s.replace(/[\r\n]+/g, " ");
    return one_line.length > status_bytes_max ? `${one_line.slice(0, status_bytes_max - 3)}...` : one_line;
  }

  private send(msg: string): void {
    try {
      native.notifySend(this.env.socket, msg);
      if (this.failures > 0) this.log.event("systemd_notify_ok", { after_failures: this.failures });
      this.failures = 0;
    } catch (e) {
      // systemd gone or restarting: log the first failure and every 100th, never throw
      if (this.failures % 100 === 0) this.log.event("systemd_notify_error", { socket: this.env.socket, error: (e as Error).message, failures: this.failures + 1 });
      this.failures++;
    }
  }
}
