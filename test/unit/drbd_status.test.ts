// `tandem status` and DRBD: the state book every DRBD read lands in, the
// status request's own bounded read (src/daemon/drbd_status.ts), the `drbd`
// section of the schema, and the table's DRBD block and split-brain warning.
// The daemon side over a real socket is test/integration/drbd_status.test.ts;
// the real kernel module, test/vm/drbd.test.ts.
import { describe, expect, test } from "bun:test";
import { DrbdResource, DrbdStateBook, notUpError } from "../../src/agents/drbd.ts";
import { decodeState, type DrbdStatus } from "../../src/agents/drbd_netlink.ts";
import { drbdBlock, renderTable, splitBrainWarning } from "../../src/cli/status.ts";
import { parseHaResources } from "../../src/config/haresources.ts";
import { DrbdControl } from "../../src/daemon/drbd_control.ts";
import { DrbdStatusReader, drbdStatusFor, read_fresh_ms } from "../../src/daemon/drbd_status.ts";
import { type StatusV2, validate } from "../../src/daemon/status_schema.ts";

/** Secondary/Secondary Connected UpToDate/UpToDate, then the overrides. */
function vol(over: Partial<DrbdStatus> = {}): DrbdStatus {
  return { ...decodeState(2 | (2 << 2) | (10 << 4) | (8 << 9) | (8 << 13)), minor: 0, resource: "r0", volume: 0, capacity_sectors: 0, out_of_sync_kib: 0, resync_total_kib: null, ...over };
}

function reader(read: (r: string) => Promise<DrbdStatus[]>, o: { now?: () => number; book?: DrbdStateBook } = {}) {
  const book = o.book ?? new DrbdStateBook();
  const calls: string[] = [];
  const r = new DrbdStatusReader({
    resources: new Map([["r0", ["drbddisk::r0"]]]),
    book,
    read: (res) => (calls.push(res), read(res)),
    notUp: notUpError,
    now_ms: o.now,
  });
  return { r, book, calls };
}

function status(drbd: StatusV2["drbd"]): StatusV2 {
  const st: StatusV2 = {
    schema_version: 2,
    schema: 2,
    node: "node1",
    generation: 7,
    started: "2026-11-24T09:00:00.000Z",
    now: "2026-11-24T09:10:00.000Z",
    timing: { keepalive_ms: 100, warntime_ms: 250, deadtime_ms: 500, initdead_ms: 1500 },
    nodes: [
      { name: "node1", state: "self", generation: 7, last_heard_ms_ago: 0, late_count: 0, links: [] },
      { name: "node2", state: "up", generation: 9, last_heard_ms_ago: 40, late_count: 0, links: [{ name: "ucast eth1 192.0.2.2", state: "up", last_heard_ms_ago: 40, received: 10, lost: 0, loss_recent: 0 }] },
    ],
    groups: [],
    fencing: [],
    quorum: { required: false, quorate: true, votes: 2, needed: 2, total: 2, policy: "stop" },
    watchdog: null,
    events: { dir: "/var/lib/tandem", dropped: 0, write_errors: 0 },
    metrics: null,
    ping: null,
    realtime: null,
    links: [{ name: "ucast eth1 192.0.2.2" }],
    counters: {},
  };
  if (drbd !== undefined) st.drbd = drbd;
  return st;
}

const primary_connected = {
  name: "r0",
  groups: ["drbddisk::r0"],
  volumes: [{ minor: 0, volume: 0, role: "Primary", peer_role: "Secondary", connection: "Connected", disk: "UpToDate", peer_disk: "UpToDate", io_suspended: false, out_of_sync_kib: 0 }],
  read_at: "2026-11-24T09:09:58.000Z",
  read_by: "status",
  error: null,
  error_at: null,
};
const split_brain = { resource: "r0", peer: "node2", event: "split-brain" as const, at: "2026-11-24T09:05:00.000Z", count: 2 };
const fence_peer = { resource: "r0", peer: "node2", event: "fence-peer" as const, at: "2026-11-24T09:04:00.000Z", count: 1 };

describe("the state book", () => {
  test("a failure keeps the last good state beside it; a success clears the failure", () => {
    const b = new DrbdStateBook();
    expect(b.get("r0")).toBeNull();
    b.note("r0", "monitor", [vol({ role: "Primary" })], 1000);
    b.note("r0", "status", new Error("kernel: no generic netlink family drbd"), 2000);
    expect(b.get("r0")).toMatchObject({ read_at_ms: 1000, read_by: "monitor", error: "kernel: no generic netlink family drbd", error_at_ms: 2000 });
    expect(b.get("r0")!.volumes![0]!.role).toBe("Primary");
    b.note("r0", "status", [vol()], 3000);
    expect(b.get("r0")).toMatchObject({ read_at_ms: 3000, read_by: "status", error: null, error_at_ms: null });
  });

  test("bounded: the oldest resource goes first", () => {
    const b = new DrbdStateBook();
    for (let i = 0; i <= DrbdStateBook.resources_max; i++) b.note(`r${i}`, "status", [vol()]);
    expect(b.get("r0")).toBeNull();
    expect(b.get(`r${DrbdStateBook.resources_max}`)).not.toBeNull();
  });

  test("the resource records its own reads: start (and the state after the promotion), monitor, a resource not up", async () => {
    const book = new DrbdStateBook();
    let role = "Secondary";
    const r = new DrbdResource(
      { resource: "r0" },
      {
        book,
        control: {
          resourceStatus: async () => [vol({ role })],
          setRole: async () => ((role = "Primary"), { code: 1, text: null }),
        },
      },
    );
    expect(await r.start()).toBeNull();
    await Bun.sleep(0); // the re-read after the role change is not awaited by start
    expect(book.get("r0")).toMatchObject({ read_by: "start", error: null });
    expect(book.get("r0")!.volumes![0]!.role).toBe("Primary");
    expect(await r.monitor()).toBeNull();
    expect(book.get("r0")!.read_by).toBe("monitor");
    const down = new DrbdResource({ resource: "r1" }, { book, control: { resourceStatus: async () => [], setRole: async () => ({ code: 1, text: null }) } });
    expect(await down.monitor().catch((e: Error) => e.message)).toMatch(/not up in the kernel/);
    expect(book.get("r1")).toMatchObject({ volumes: null, error: expect.stringContaining("drbdadm up r1") });
    const broken = new DrbdResource({ resource: "r2" }, { book, control: { resourceStatus: async () => Promise.reject(new Error("kernel: operation not permitted")), setRole: async () => ({ code: 1, text: null }) } });
    await broken.monitor().catch(() => {});
    expect(book.get("r2")!.error).toBe("kernel: operation not permitted");
  });
});

describe("the status request's read", () => {
  test("reads every resource and reports it; a reading younger than read_fresh_ms is not read again", async () => {
    let now = 10_000;
    const { r, calls } = reader(async () => [vol({ role: "Primary" })], { now: () => now });
    await r.refresh();
    expect(calls).toEqual(["r0"]);
    now += read_fresh_ms - 1;
    await r.refresh();
    expect(calls).toEqual(["r0"]);
    now += 2;
    await r.refresh();
    expect(calls).toEqual(["r0", "r0"]);
    const s = r.section(null);
    expect(s.events).toEqual([]);
    expect(s.resources).toEqual([
      {
        name: "r0",
        groups: ["drbddisk::r0"],
        volumes: [{ minor: 0, volume: 0, role: "Primary", peer_role: "Secondary", connection: "Connected", disk: "UpToDate", peer_disk: "UpToDate", io_suspended: false, out_of_sync_kib: 0 }],
        read_at: new Date(now).toISOString(),
        read_by: "status",
        error: null,
        error_at: null,
      },
    ]);
    expect(validate(status(s))).toEqual([]);
  });

  test("a hung kernel read: the request waits at most its bound, shows the last state, and the read is not started twice", async () => {
    let release: (v: DrbdStatus[]) => void = () => {};
    const book = new DrbdStateBook();
    book.note("r0", "monitor", [vol({ role: "Primary" })], Date.now() - 60_000);
    const { r, calls } = reader(() => new Promise((res) => (release = res)), { book });
    const t0 = performance.now();
    await r.refresh(50);
    await r.refresh(50);
    expect(performance.now() - t0).toBeLessThan(5_000); // bounded (the assertion is about not hanging, not speed)
    expect(calls).toEqual(["r0"]);
    expect(r.section(null).resources[0]).toMatchObject({ read_by: "monitor", error: null });
    release([vol({ role: "Secondary", conn: "StandAlone" })]);
    await Bun.sleep(0);
    await Bun.sleep(0);
    expect(r.section(null).resources[0]!.volumes![0]).toMatchObject({ role: "Secondary", connection: "StandAlone" });
  });

  test("a failed read is an error beside the last good state; a resource not up is an error naming drbdadm up", async () => {
    const book = new DrbdStateBook();
    book.note("r0", "monitor", [vol({ role: "Primary" })], Date.now() - 60_000);
    const { r } = reader(async () => Promise.reject(new Error("kernel: no generic netlink family drbd: load the module (modprobe drbd)")), { book });
    await r.refresh();
    const s = r.section(null).resources[0]!;
    expect(s.volumes![0]!.role).toBe("Primary");
    expect(s.error).toContain("modprobe drbd");
    expect(validate(status(r.section(null)))).toEqual([]);
    const { r: down } = reader(async () => []);
    await down.refresh();
    expect(down.section(null).resources[0]).toMatchObject({ volumes: null, read_at: null, error: expect.stringContaining("drbdadm up r0") });
  });

  test("drbdStatusFor: drbddisk and ocf:linbit:drbd words of haresources, with their groups; none: null", async () => {
    const text = "node1 drbddisk::r0 192.0.2.50\nnode2 ocf:linbit:drbd::drbd_resource=r1 ocf:linbit:drbd::drbd_resource=r2 192.0.2.51\n";
    const { resources, diagnostics } = parseHaResources(text, "/etc/ha.d/haresources", { nodes: ["node1", "node2"], dir: "/nonexistent", resolve: false });
    expect(diagnostics).toEqual([]);
    const groups = resources.groups;
    const rd = await drbdStatusFor(groups);
    expect(rd).not.toBeNull();
    expect(rd!.section(null).resources.map((x) => [x.name, x.groups])).toEqual([
      ["r0", ["drbddisk::r0"]],
      ["r1", ["ocf:linbit:drbd::drbd_resource=r1"]],
      ["r2", ["ocf:linbit:drbd::drbd_resource=r1"]],
    ]);
    expect(await drbdStatusFor(groups.slice(0, 0))).toBeNull();
  });

  test("the handlers' calls (DrbdControl) are the section's events", () => {
    const c = new DrbdControl({ self: "node1", nodes: () => [{ name: "node1", state: "self" }, { name: "node2", state: "dead" }], fencing: () => [], log: () => {} });
    expect(c.handle("drbd-split-brain", { resource: "r0", peer: "" })).toEqual({ ok: true, peer: "node2" });
    c.handle("drbd-split-brain", { resource: "r0", peer: "node2" });
    c.handle("drbd-fence-peer", { resource: "r0", peer: "node2" });
    // drbd-fence-peer asks again every 250 ms until decided: one handler run is one call
    expect(c.handle("drbd-fence-peer", { resource: "r0", peer: "node2", repeat: true })).toMatchObject({ ok: true, state: "dead" });
    const { r } = reader(async () => [vol()]);
    const s = r.section(c.status());
    expect(s.events.map((e) => [e.resource, e.peer, e.event, e.count])).toEqual([
      ["r0", "node2", "split-brain", 2],
      ["r0", "node2", "fence-peer", 1],
    ]);
    expect(validate(status(s))).toEqual([]);
  });
});

describe("schema", () => {
  test("drbd is optional (older v2 daemons), and checked when present", () => {
    expect(validate(status(undefined))).toEqual([]);
    expect(validate(status({ resources: [primary_connected], events: [split_brain, fence_peer] }))).toEqual([]);
    const bad = status({
      resources: [{ ...primary_connected, read_at: "a while ago", volumes: [{ ...primary_connected.volumes[0]!, minor: -1 }] }],
      events: [{ ...split_brain, event: "tea" as "split-brain", count: 0 }],
    });
    expect(validate(bad)).toEqual([
      "$.drbd.resources[0].volumes[0].minor: -1 < 0",
      '$.drbd.resources[0].read_at: "a while ago" is not an RFC 3339 date-time',
      '$.drbd.events[0].event: "tea" is not one of ["split-brain","fence-peer"]',
      "$.drbd.events[0].count: 0 < 1",
    ]);
    expect(validate({ ...status(undefined), drbd: { resources: [] } })).toEqual(["$.drbd: missing events"]);
  });
});

describe("the table", () => {
  test("a split brain is a WARNING right under the heading; the DRBD table and the handler calls follow the rest", () => {
    const t = renderTable(status({ resources: [primary_connected], events: [split_brain, fence_peer] }), false);
    const lines = t.split("\n");
    expect(lines[1]).toBe(
      "WARNING: DRBD r0 split brain reported by DRBD at 2026-11-24T09:05:00.000Z (2 times, peer node2): resolve per drbd.conf after-sb-* policies and the DRBD guide (on the node whose changes are discarded: drbdadm connect --discard-my-data r0; on the other: drbdadm connect r0)",
    );
    expect(t).toMatch(/^DRBD\s+MINOR\s+ROLE\/PEER\s+CONNECTION\s+DISK\/PEER\s+READ$/m);
    expect(t).toMatch(/^r0\s+0\s+Primary\/Secondary\s+Connected\s+UpToDate\/UpToDate\s+2s ago \(status\)$/m);
    expect(t).toContain("drbd: r0 fence-peer handler asked about node2 at 2026-11-24T09:04:00.000Z (once, 6m00s ago)");
    expect(t).toContain("drbd: r0 split brain (5m00s ago): see the WARNING above");
    expect(t.indexOf("DRBD  ")).toBeGreaterThan(t.indexOf("NODE"));
    expect(t).not.toContain("\x1b[");
    const c = renderTable(status({ resources: [primary_connected], events: [split_brain, fence_peer] }), true);
    expect(c).toContain("\x1b[31mWARNING: DRBD r0 split brain");
    expect(c).toContain("\x1b[32mPrimary/Secondary\x1b[0m");
    expect(c.replace(/\x1b\[\d+m/g, "")).toBe(t);
  });

  test("nothing DRBD: no block; a failed read without a state; a state with a newer failure; suspended I/O", () => {
    expect(renderTable(status(undefined), false)).toBe(renderTable(status({ resources: [], events: [] }), false));
    expect(renderTable(status(undefined), false)).not.toContain("DRBD");
    const now = Date.parse("2026-11-24T09:10:00.000Z");
    const failed = drbdBlock({ resources: [{ ...primary_connected, volumes: null, read_at: null, read_by: null, error: "kernel: no generic netlink family drbd: load the module (modprobe drbd)", error_at: "2026-11-24T09:09:59.000Z" }], events: [] }, now);
    expect(failed).toMatch(/^r0\s+-\s+-\s+-\s+-\s+read failed 1s ago: kernel: no generic netlink family drbd: load the module \(modprobe drbd\)$/m);
    const stale = drbdBlock(
      {
        resources: [{ ...primary_connected, volumes: [{ ...primary_connected.volumes[0]!, connection: "StandAlone", io_suspended: true, out_of_sync_kib: 4096 }], error: "no answer from the kernel within 5000 ms", error_at: "2026-11-24T09:09:59.000Z" }],
        events: [],
      },
      now,
    );
    expect(stale).toMatch(/^r0\s+0\s+Primary\/Secondary\s+StandAlone\s+UpToDate\/UpToDate\s+2s ago \(status\); I\/O suspended; 4096 KiB out of sync; read failed 1s ago: no answer from the kernel within 5000 ms$/m);
    expect(drbdBlock({ resources: [], events: [fence_peer] }, now)).toBe("\ndrbd: r0 fence-peer handler asked about node2 at 2026-11-24T09:04:00.000Z (once, 6m00s ago)\n");
    expect(splitBrainWarning({ ...split_brain, count: 1 })).toContain("(once, peer node2)");
  });
});
