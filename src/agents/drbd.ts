// The built-in DRBD resource: Heartbeat's `drbddisk::r0` and
// `ocf:linbit:drbd::drbd_resource=r0` in haresources. start promotes the
// resource's volumes to Primary, stop demotes them, monitor reads their
// state, all over DRBD's generic netlink interface (drbd_netlink.ts): no
// drbdadm/drbdsetup is forked on the takeover path. `drbdadm` stays for
// setup (create-md, up, the initial sync).
//
// Retries, as Heartbeat's drbddisk does (`drbdadm primary` up to 6 times, a
// second apart): right after the peer died DRBD may still count it as
// Primary (SS_TWO_PRIMARIES until its ping-timeout runs out), or be between
// states. Such answers are retried, boundedly; anything else fails at once
// with DRBD's reason. A demote that finds the device still open (a file
// system not yet unmounted, SS_DEVICE_IN_USE) is retried the same way.
//
// ocf:linbit:drbd is Pacemaker's master/slave agent; in a haresources group
// there is no master/slave, so "started" means Primary here, as drbddisk.

import { DrbdNetlink, DrbdNetlinkError, type DrbdStatus, retCodeText, roleChangeOk, roleChangeTransient, checkResourceName } from "./drbd_netlink.ts";

export interface DrbdSpec {
  /** DRBD resource name (drbd.conf `resource r0 { ... }`) */
  resource: string;
}

/** haresources word -> DrbdSpec, or the reason it is not a DRBD resource's valid form. null: not DRBD at all. */
export function parseDrbdWord(name: string, args: readonly string[]): DrbdSpec | string | null {
  if (name === "drbddisk") {
    if (args.length !== 1 || args[0] === "") {
      return "drbddisk needs exactly one DRBD resource name: write `drbddisk::r0` (Heartbeat's drbddisk without one means every resource; tandem wants it named)";
    }
    return checked(args[0]!);
  }
  if (name === "ocf:linbit:drbd") {
    const params = new Map<string, string>();
    for (const a of args) {
      const eq = a.indexOf("=");
      if (eq <= 0) return `parameter ${JSON.stringify(a)} is not key=value: write \`ocf:linbit:drbd::drbd_resource=r0\``;
      params.set(a.slice(0, eq), a.slice(eq + 1));
    }
    const r = params.get("drbd_resource");
    if (r === undefined || r === "") return "ocf:linbit:drbd needs drbd_resource: write `ocf:linbit:drbd::drbd_resource=r0`";
    for (const k of params.keys()) {
      if (k !== "drbd_resource" && k !== "drbdconf") return `parameter ${k} is not supported by tandem's built-in DRBD resource (only drbd_resource)`;
    }
    return checked(r);
  }
  return null;
}

function checked(resource: string): DrbdSpec | string {
  try {
    checkResourceName(resource);
  } catch (e) {
    return (e as Error).message;
  }
  return { resource };
}

/** What the resource needs of the kernel interface (tests substitute a fake). */
export type DrbdControl = Pick<DrbdNetlink, "resourceStatus" | "setRole">;

export interface DrbdResourceOptions {
  control?: DrbdControl;
  /** attempts of one role change while DRBD's answer is transient (drbddisk: 6) */
  attempts_max?: number;
  /** pause between attempts */
  retry_delay_ms?: number;
  /** one PRIMARY/SECONDARY call: DRBD may run its fence-peer handler inside it */
  call_timeout_ms?: number;
  log?: (event: string, fields: Record<string, string | number | boolean | null>) => void;
  /** where each read is recorded for `tandem status` (default: the process's book) */
  book?: DrbdStateBook;
  /** promote: how long to wait for DRBD to notice that a peer it still sees as a connected Primary is gone */
  peer_gone_wait_ms?: number;
}

export const attempts_max_default = 10;
export const retry_delay_ms_default = 500;
export const call_timeout_ms_default = 60_000;
/** DRBD 8.4 notices a silent peer within ping-int (default 10 s) + ping-timeout (0.5 s). */
export const peer_gone_wait_ms_default = 15_000;
const peer_gone_poll_ms = 100;

/** One summary line per volume for logs and status. */
export function describeStatus(s: DrbdStatus): string {
  return `minor ${s.minor}: ${s.role}/${s.peer} ${s.conn} ${s.disk}/${s.pdsk}${s.susp || s.susp_fen || s.susp_nod ? " io-suspended" : ""}`;
}

/** StandAlone with a configured peer: DRBD dropped the connection (split brain, or `drbdadm disconnect`). */
export function isStandAlone(s: DrbdStatus): boolean {
  return s.conn === "StandAlone";
}

/** Who read a resource's state last: the resource's own calls, or `tandem status`. */
export type DrbdReadBy = "start" | "stop" | "monitor" | "status";

/** The last state read of one DRBD resource, for `tandem status`. */
export interface DrbdReading {
  /** the last successful read ([] never: a resource that is not up is an error) */
  volumes: DrbdStatus[] | null;
  /** wall clock of that read (ms since the epoch), null before the first */
  read_at_ms: number | null;
  read_by: DrbdReadBy | null;
  /** the last read's failure, when it came after the last success */
  error: string | null;
  error_at_ms: number | null;
}

/**
 * What the daemon last knew about each DRBD resource: every read (start,
 * stop, monitor, the status request's own) lands here, so `tandem status`
 * can show the newest one without waiting on the kernel. Bounded: DRBD
 * resource names come from haresources, and at most resources_max are kept.
 */
export class DrbdStateBook {
  static readonly resources_max = 256;
  private last = new Map<string, DrbdReading>();

  note(resource: string, by: DrbdReadBy, result: DrbdStatus[] | Error, now_ms = Date.now()): void {
    let r = this.last.get(resource);
    if (!r) {
      if (this.last.size >= DrbdStateBook.resources_max) this.last.delete(this.last.keys().next().value!);
      r = { volumes: null, read_at_ms: null, read_by: null, error: null, error_at_ms: null };
      this.last.set(resource, r);
    }
    if (result instanceof Error) {
      r.error = result.message;
      r.error_at_ms = now_ms;
      return;
    }
    r.volumes = result;
    r.read_at_ms = now_ms;
    r.read_by = by;
    r.error = null;
    r.error_at_ms = null;
  }

  get(resource: string): DrbdReading | null {
    const r = this.last.get(resource);
    return r ? { ...r, volumes: r.volumes ? [...r.volumes] : null } : null;
  }
}

let book: DrbdStateBook | null = null;
/** One book per process, like the netlink client: the daemon's groups and its status share it. */
export function drbdStateBook(): DrbdStateBook {
  book ??= new DrbdStateBook();
  return book;
}

/** A resource that is not configured in the kernel: an answer of [] from resourceStatus. */
export function notUpError(resource: string): Error {
  return new Error(`DRBD resource ${resource} is not up in the kernel: run \`drbdadm up ${resource}\` (at boot: the drbd service)`);
}

let shared: DrbdNetlink | null = null;
/** One client per process: it caches the family id. */
export function drbdNetlink(): DrbdNetlink {
  shared ??= new DrbdNetlink();
  return shared;
}

export class DrbdResource {
  readonly description: string;
  private control: DrbdControl;
  private attempts_max: number;
  private retry_delay_ms: number;
  private call_timeout_ms: number;
  private last_conn = new Map<number, string>();
  private book: DrbdStateBook;
  private peer_gone_wait_ms: number;

  constructor(
    readonly spec: DrbdSpec,
    private opts: DrbdResourceOptions = {},
  ) {
    this.description = `drbd:${spec.resource}`;
    this.control = opts.control ?? drbdNetlink();
    this.attempts_max = opts.attempts_max ?? attempts_max_default;
    this.retry_delay_ms = opts.retry_delay_ms ?? retry_delay_ms_default;
    this.call_timeout_ms = opts.call_timeout_ms ?? call_timeout_ms_default;
    this.book = opts.book ?? drbdStateBook();
    this.peer_gone_wait_ms = opts.peer_gone_wait_ms ?? peer_gone_wait_ms_default;
    if (!(this.attempts_max >= 1 && this.attempts_max <= 100)) throw new RangeError("attempts_max: 1..100");
  }

  /** Every volume of the resource; throws when it is not configured in the kernel. Recorded in the book. */
  async volumes(by: DrbdReadBy = "status"): Promise<DrbdStatus[]> {
    const vols = await this.read(by);
    if (vols.length === 0) {
      const e = notUpError(this.spec.resource);
      this.book.note(this.spec.resource, by, e);
      throw e;
    }
    return vols;
  }

  /** One read of the kernel's state, recorded (a failure too) for `tandem status`. */
  private async read(by: DrbdReadBy): Promise<DrbdStatus[]> {
    try {
      const vols = await this.control.resourceStatus(this.spec.resource);
      if (vols.length > 0) this.book.note(this.spec.resource, by, vols);
      return vols;
    } catch (e) {
      this.book.note(this.spec.resource, by, e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  }

  /** Promote every volume; null on success, else why not. */
  async start(): Promise<string | null> {
    return this.changeRole("primary", "start", await this.waitPeerGone());
  }

  /**
   * tandem promotes once its membership (and fencing) says the peer is gone,
   * which can be before DRBD's own ping notices it. A promote issued while
   * DRBD still sees a connected Primary peer races the connection teardown:
   * DRBD runs fence-peer during it and may not count the answer (seen in the
   * storage bench: 6.2 s inside the call, then SS_PRIMARY_NOP). So wait,
   * boundedly, until DRBD no longer sees that; a peer that really is a live
   * Primary is refused by the promote afterwards, as before.
   */
  private async waitPeerGone(): Promise<DrbdStatus[]> {
    const t0 = performance.now();
    for (let polls = 0; ; polls++) {
      const vols = await this.volumes("start");
      const live = vols.filter((v) => v.conn === "Connected" && v.peer === "Primary");
      const waited_ms = Math.round(performance.now() - t0);
      if (live.length === 0) {
        if (polls > 0) this.opts.log?.("drbd_peer_gone", { resource: this.spec.resource, waited_ms });
        return vols; // the promote starts from this read: no second one on the takeover path
      }
      if (waited_ms >= this.peer_gone_wait_ms) {
        this.opts.log?.("drbd_peer_still_primary", { resource: this.spec.resource, waited_ms, state: live.map(describeStatus).join("; ") });
        return vols;
      }
      if (polls === 0) this.opts.log?.("drbd_wait_peer", { resource: this.spec.resource, state: live.map(describeStatus).join("; "), max_ms: this.peer_gone_wait_ms });
      await Bun.sleep(peer_gone_poll_ms);
    }
  }

  /**
   * Demote every volume; a resource that is not up counts as stopped, and so
   * does a kernel without DRBD's netlink family (module not loaded): no
   * device exists that could be Primary. Failing that stop would leave the
   * group in stop_failed and have the peer fence a node that holds nothing.
   */
  async stop(): Promise<string | null> {
    let vols: DrbdStatus[];
    try {
      vols = await this.read("stop");
    } catch (e) {
      if (e instanceof DrbdNetlinkError && e.code === "ENOENT") return null;
      throw e;
    }
    if (vols.length === 0) return null;
    return this.changeRole("secondary", "stop", vols);
  }

  /** null = Primary everywhere (running); else why not. Logs connection changes (split brain shows as StandAlone). */
  async monitor(): Promise<string | null> {
    const vols = await this.volumes("monitor");
    this.noteConnections(vols);
    const notPrimary = vols.filter((v) => v.role !== "Primary");
    if (notPrimary.length > 0) return `not Primary: ${notPrimary.map(describeStatus).join("; ")}`;
    const bad = vols.filter((v) => v.disk !== "UpToDate" && v.disk !== "Consistent");
    if (bad.length > 0) return `Primary without good local data: ${bad.map(describeStatus).join("; ")}`;
    return null;
  }

  private noteConnections(vols: DrbdStatus[]): void {
    for (const v of vols) {
      const before = this.last_conn.get(v.minor);
      if (before === v.conn) continue;
      this.last_conn.set(v.minor, v.conn);
      if (before === undefined && v.conn === "Connected") continue;
      this.opts.log?.(isStandAlone(v) ? "drbd_standalone" : "drbd_connection", {
        resource: this.spec.resource,
        minor: v.minor,
        from: before ?? null,
        to: v.conn,
        state: describeStatus(v),
      });
    }
  }

  private async changeRole(role: "primary" | "secondary", by: DrbdReadBy, read?: DrbdStatus[]): Promise<string | null> {
    const want = role === "primary" ? "Primary" : "Secondary";
    const vols = read ?? (await this.volumes(by));
    let changed = false;
    for (const v of vols) {
      if (v.role === want) continue;
      const err = await this.changeOne(v.minor, role);
      if (err !== null) return `${this.spec.resource} minor ${v.minor}: ${role} failed: ${err}`;
      changed = true;
    }
    // The book would keep the state from before the change until the next
    // monitor; read again, not awaited: the takeover does not wait for it.
    if (changed) void this.read(by).catch(() => {});
    return null;
  }

  private async changeOne(minor: number, role: "primary" | "secondary"): Promise<string | null> {
    let last = "";
    let nop_retries = 0;
    for (let attempt = 1; attempt <= this.attempts_max; attempt++) {
      const t0 = performance.now();
      const r = await this.control.setRole(minor, role, this.call_timeout_ms);
      const ms = Math.round(performance.now() - t0);
      if (roleChangeOk(r.code)) {
        this.opts.log?.("drbd_role", { resource: this.spec.resource, minor, role, attempt, ms });
        return null;
      }
      last = `${retCodeText(r.code)}${r.text ? ` (${r.text})` : ""}`;
      // SS_PRIMARY_NOP right after the peer died: DRBD ran fence-peer while the connection was
      // still being torn down and did not count the answer (seen in the VMs: the next try
      // succeeds at once). A live peer that cannot be outdated costs the handler's timeout
      // per try, so only twice more.
      if (role === "primary" && r.code === -7) nop_retries++;
      const retry = roleChangeTransient(r.code) || (role === "secondary" && r.code === -12) || (role === "primary" && r.code === -7 && nop_retries <= 2);
      this.opts.log?.("drbd_role_refused", { resource: this.spec.resource, minor, role, attempt, ms, code: r.code, reason: last, retry });
      if (!retry) break;
      if (attempt < this.attempts_max) await Bun.sleep(this.retry_delay_ms);
    }
    return last;
  }
}
