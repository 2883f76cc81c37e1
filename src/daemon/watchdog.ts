// ha.cf `watchdog /dev/watchdog`: the daemon's heartbeat loop feeds the
// device, so if that loop stalls (a wedged event loop, SIGSTOP, the machine
// starved) the watchdog resets the node and the peer can take over safely.
//
// Lifecycle:
//   open    at start-up, after the links are up: arms the device
//   feed    from the daemon's timer ticks (nextDeadline/tick below), never
//           from a timer of its own: a separate timer could keep running
//           while the heartbeat path is wedged
//   stop    stopFeeding(reason): self-fence. The device stays open and
//           unfed, so it fires after its timeout (src/core/selffence.ts
//           gives the timing the peer must respect)
//   close   clean stop (SIGTERM, groups released): magic close, the device
//           disarms. Any other exit (crash, SIGKILL, a stop that gave up,
//           feeding already stopped) closes without the magic 'V' and the
//           node resets after the timeout. That is deliberate: a node whose
//           daemon died may still hold resources nobody watches.
import { native, type WatchdogDevice } from "../native/addon.ts";
import { selfFenceDeadline, type SelfFenceDeadline, type SelfFenceTiming } from "../core/selffence.ts";
import type { Logger } from "./log.ts";

/** What the daemon's single timer calls: when the hook next needs a tick, and the tick itself. */
export interface LoopHook {
  nextDeadline(): number;
  tick(now_ms: number): void;
}

/**
 * Feed interval: a quarter of the timeout, so three feeds can be missed or
 * late before the device fires, rounded down to a whole number of keepalives
 * so feeds ride on heartbeat ticks (no extra wake-ups). When keepalive is
 * longer than a quarter of the timeout the daemon ticks for the watchdog on
 * its own.
 */
export function feedIntervalMs(timeout_ms: number, keepalive_ms: number): number {
  if (!(timeout_ms >= 1000) || !(keepalive_ms > 0)) throw new RangeError(`feedIntervalMs: timeout ${timeout_ms} ms, keepalive ${keepalive_ms} ms`);
  const quarter_ms = timeout_ms / 4;
  if (keepalive_ms > quarter_ms) return Math.floor(quarter_ms);
  return keepalive_ms * Math.floor(quarter_ms / keepalive_ms);
}

export class WatchdogError extends Error {
  override name = "WatchdogError";
}

export class Watchdog implements LoopHook {
  private fd: number | null;
  private feeding = true;
  private last_feed_ms: number;
  private feed_errors = 0;
  readonly timeout_ms: number;
  readonly interval_ms: number;

  private constructor(
    private path: string,
    dev: WatchdogDevice,
    timeout_s: number,
    keepalive_ms: number,
    private log: Logger,
    now_ms: number,
  ) {
    this.fd = dev.fd;
    this.timeout_ms = timeout_s * 1000;
    this.interval_ms = feedIntervalMs(this.timeout_ms, keepalive_ms);
    this.last_feed_ms = now_ms;
  }

  /**
   * Opens (arms) the device and feeds it once. `timeout_s` sets the device
   * timeout; without it the driver's own (softdog's soft_margin) stands.
   * Throws WatchdogError with the device's errno text.
   */
  static open(o: { path: string; keepalive_ms: number; timeout_s?: number; log: Logger; now_ms: number }): Watchdog {
    let dev: WatchdogDevice;
    try {
      dev = native.watchdogOpen(o.path);
    } catch (e) {
      throw new WatchdogError(`watchdog ${o.path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      let timeout_s = dev.timeout_s;
      if (o.timeout_s !== undefined) timeout_s = native.watchdogSetTimeout(dev.fd, o.timeout_s);
      if (!(timeout_s >= 1)) throw new Error(`the driver (${dev.identity}) does not report its timeout; tandem cannot pace its feeding`);
      native.watchdogKeepalive(dev.fd);
      const wd = new Watchdog(o.path, dev, timeout_s, o.keepalive_ms, o.log, o.now_ms);
      o.log.event("watchdog_open", { path: o.path, identity: dev.identity, timeout_s, feed_interval_ms: wd.interval_ms });
      return wd;
    } catch (e) {
      // Leave it disarmed: a watchdog we cannot pace must not reset the node at start-up.
      try {
        native.watchdogClose(dev.fd, true);
      } catch {
        // the open error below is the one worth reporting
      }
      throw new WatchdogError(`watchdog ${o.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  nextDeadline(): number {
    return this.feeding && this.fd !== null ? this.last_feed_ms + this.interval_ms : Infinity;
  }

  tick(now_ms: number): void {
    if (!this.feeding || this.fd === null) return;
    if (now_ms < this.last_feed_ms + this.interval_ms) return;
    try {
      native.watchdogKeepalive(this.fd);
      this.last_feed_ms = now_ms;
      if (this.feed_errors > 0) this.log.event("watchdog_feed_ok", { after_errors: this.feed_errors });
      this.feed_errors = 0;
    } catch (e) {
      // Keep trying at the same cadence; log the first failure and every 100th.
      if (this.feed_errors % 100 === 0) this.log.event("watchdog_feed_error", { path: this.path, error: (e as Error).message, errors: this.feed_errors + 1 });
      this.feed_errors++;
      this.last_feed_ms = now_ms;
    }
  }

  /** Self-fence: stop feeding for good; the device resets the node within its timeout. */
  stopFeeding(reason: string): void {
    if (!this.feeding) return;
    this.feeding = false;
    this.log.event("watchdog_feeding_stopped", { reason, reset_within_ms: this.timeout_ms });
  }

  get isFeeding(): boolean {
    return this.feeding && this.fd !== null;
  }

  /** The self-fence timing for this device (see src/core/selffence.ts). */
  deadline(t: Omit<SelfFenceTiming, "watchdog_timeout_ms">): SelfFenceDeadline {
    return selfFenceDeadline({ ...t, watchdog_timeout_ms: this.timeout_ms });
  }

  /**
   * clean=true and still feeding: magic close, the device disarms. Otherwise
   * a plain close: the timer keeps running and the node resets.
   */
  close(clean: boolean): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    const magic = clean && this.feeding;
    try {
      if (magic) native.watchdogKeepalive(fd); // a full timeout for whatever runs after us
      native.watchdogClose(fd, magic);
      this.log.event("watchdog_closed", { path: this.path, disarmed: magic, reset_within_ms: magic ? undefined : this.timeout_ms });
    } catch (e) {
      this.log.event("watchdog_close_error", { path: this.path, error: (e as Error).message });
    }
  }
}
