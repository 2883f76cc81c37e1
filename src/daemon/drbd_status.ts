// The `drbd` section of `tandem status`: for each DRBD resource of
// haresources, the newest state the daemon read (DrbdStateBook: start,
// stop, monitor, or this module's own read), and the DRBD handler calls
// DrbdControl recorded (split brain, fence-peer).
//
// A status request reads the kernel once more, because on the node that
// does not hold the group nothing else reads it. The read is bounded: it
// runs on the addon's worker thread (the loop never blocks), the request
// waits for it at most read_wait_ms and otherwise shows the last state with
// the reason; one read per resource at a time, on a netlink client of its
// own, so `tandem status --watch` can never take the slots the monitor and
// a promotion need (DrbdNetlink.requests_in_flight_max).
import type { DrbdStatus } from "../agents/drbd_netlink.ts";
import type { DrbdReading, DrbdStateBook } from "../agents/drbd.ts";
import type { ResourceGroup } from "../config/types.ts";
import type { DrbdEventRecord } from "./drbd_control.ts";
import type { StatusDrbdResourceV2, StatusDrbdVolumeV2, StatusV2 } from "./status_schema.ts";

/** How long a status request waits for its own read before showing the last state. */
export const read_wait_ms = 500;
/** The kernel request's own timeout (genlTransact); a read still running is not started again. */
export const read_timeout_ms = 5_000;
/** A reading this young is shown as it is (a --watch at 100 ms does not read ten times a second). */
export const read_fresh_ms = 500;

export interface DrbdStatusOptions {
  /** resource name -> the haresources groups it is in */
  resources: Map<string, string[]>;
  book: DrbdStateBook;
  /** every volume of a resource, [] when it is not up (DrbdNetlink.resourceStatus) */
  read: (resource: string, timeout_ms: number) => Promise<DrbdStatus[]>;
  /** not-up error text (drbd.ts notUpError) */
  notUp: (resource: string) => Error;
  now_ms?: () => number;
}

export class DrbdStatusReader {
  private pending = new Map<string, Promise<void>>();
  private now_ms: () => number;

  constructor(private o: DrbdStatusOptions) {
    this.now_ms = o.now_ms ?? Date.now;
  }

  /** Read every resource (bounded by read_wait_ms), then report what the book holds. */
  async refresh(wait_ms = read_wait_ms): Promise<void> {
    const reads = [...this.o.resources.keys()].map((r) => this.readOnce(r));
    if (reads.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(reads), new Promise<void>((res) => (timer = setTimeout(res, wait_ms)))]);
    clearTimeout(timer);
  }

  private readOnce(resource: string): Promise<void> {
    const fresh = this.o.book.get(resource);
    const newest = Math.max(fresh?.read_at_ms ?? -Infinity, fresh?.error_at_ms ?? -Infinity);
    if (this.now_ms() - newest < read_fresh_ms) return Promise.resolve();
    const running = this.pending.get(resource);
    if (running) return running;
    const p = this.o
      .read(resource, read_timeout_ms)
      .then(
        (vols) => this.o.book.note(resource, "status", vols.length > 0 ? vols : this.o.notUp(resource), this.now_ms()),
        (e) => this.o.book.note(resource, "status", e instanceof Error ? e : new Error(String(e)), this.now_ms()),
      )
      .finally(() => this.pending.delete(resource));
    this.pending.set(resource, p);
    return p;
  }

  /** The status section; events from DrbdControl.status() (null: no handler has called yet). */
  section(events: DrbdEventRecord[] | null): NonNullable<StatusV2["drbd"]> {
    const resources = [...this.o.resources].map(([name, groups]) => resourceView(name, groups, this.o.book.get(name)));
    return { resources, events: events ?? [] };
  }
}

/** The reader for haresources' DRBD resources; null when there are none (nothing DRBD is loaded then). */
export async function drbdStatusFor(groups: readonly ResourceGroup[]): Promise<DrbdStatusReader | null> {
  const resources = new Map<string, string[]>();
  for (const g of groups) {
    for (const r of g.resources) {
      if (r.kind !== "drbd" || !r.drbd) continue;
      const list = resources.get(r.drbd.resource) ?? [];
      if (!list.includes(g.id)) list.push(g.id);
      resources.set(r.drbd.resource, list);
    }
  }
  if (resources.size === 0) return null;
  const { drbdStateBook, notUpError } = await import("../agents/drbd.ts");
  const { DrbdNetlink } = await import("../agents/drbd_netlink.ts");
  const nl = new DrbdNetlink(); // its own in-flight slots: see the header
  return new DrbdStatusReader({ resources, book: drbdStateBook(), read: (r, t) => nl.resourceStatus(r, t), notUp: notUpError });
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function resourceView(name: string, groups: string[], r: DrbdReading | null): StatusDrbdResourceV2 {
  return {
    name,
    groups,
    volumes: r?.volumes ? r.volumes.map(volumeView) : null,
    read_at: iso(r?.read_at_ms ?? null),
    read_by: r?.read_by ?? null,
    error: r?.error ?? null,
    error_at: iso(r?.error_at_ms ?? null),
  };
}

function volumeView(v: DrbdStatus): StatusDrbdVolumeV2 {
  return {
    minor: v.minor,
    volume: v.volume,
    role: v.role,
    peer_role: v.peer,
    connection: v.conn,
    disk: v.disk,
    peer_disk: v.pdsk,
    io_suspended: v.susp || v.susp_fen || v.susp_nod,
    out_of_sync_kib: v.out_of_sync_kib,
  };
}
