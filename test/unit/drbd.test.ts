// The built-in DRBD resource: the DRBD 8.4 generic netlink codec against byte
// fixtures written out by hand from the kernel headers (drbd_genl.h,
// drbd_genl_api.h, genl_magic_struct.h, drbd.h), the client against a fake
// kernel on the addon's three calls, the haresources mapping, and the
// resource's retry rules. The real kernel module is exercised in
// test/vm/drbd.test.ts.
import { describe, expect, test } from "bun:test";
import { DrbdResource, parseDrbdWord } from "../../src/agents/drbd.ts";
import {
  cfgContext,
  DRBD_ADM_PRIMARY,
  decodeState,
  decodeStatus,
  DrbdNetlink,
  DrbdNetlinkError,
  drbdHeader,
  type DrbdStatus,
  type GenlAddon,
  NLA_F_NESTED,
  genlMessage,
  nla,
  DRBD_NLA_SET_ROLE_PARMS,
  parseDrbdReply,
  parseFamily,
  familyRequest,
  splitMessages,
} from "../../src/agents/drbd_netlink.ts";
import { parseHaResources } from "../../src/config/haresources.ts";

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((b) => Number.parseInt(b, 16)));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

// union drbd_state, bitfields from bit 0: role:2 peer:2 conn:5 disk:4 pdsk:4 susp:1 ...
// Primary(1) | Secondary(2)<<2 | Connected(10)<<4 | UpToDate(8)<<9 | UpToDate(8)<<13 = 0x000110a9
const primary_connected = 0x000110a9;

/** A GET_STATUS reply for minor 0 of r0, family id 0x1c, as the kernel lays it out. */
const status_reply = hex(`
  5c000000 1c00 0000 05000000 00000000
  02 01 0000
  00000000 65000000
  14000200
    08000140 00000000
    07000240 72300000
  2c000800
    08000140 01000000
    08000200 a9100100
    0c000340 00a00f00 00000000
    0c000a40 10000000 00000000
`);

describe("DRBD 8.4 genl codec: byte fixtures", () => {
  test("DRBD_NLA_CFG_CONTEXT { T_ctx_resource_name = \"r0\" } (NLA_F_NESTED on the struct, mandatory flag 1<<14 on the field)", () => {
    expect(toHex(cfgContext("r0"))).toBe("0c000280" + "07000240" + "72300000");
  });

  test("PRIMARY of minor 0: nlmsghdr, genlmsghdr, drbd_genlmsghdr, empty SET_ROLE_PARMS", () => {
    const msg = genlMessage({ family: 0x1c, cmd: DRBD_ADM_PRIMARY, version: 1, flags: 1, seq: 5, header: drbdHeader(0), attrs: nla(DRBD_NLA_SET_ROLE_PARMS | NLA_F_NESTED, new Uint8Array(0)) });
    expect(toHex(msg)).toBe("20000000" + "1c00" + "0100" + "05000000" + "00000000" + "0e010000" + "00000000" + "00000000" + "04000680");
  });

  test("nlctrl CTRL_CMD_GETFAMILY for \"drbd\", and its reply", () => {
    expect(toHex(familyRequest("drbd", 9))).toBe("20000000" + "1000" + "0100" + "09000000" + "00000000" + "03010000" + "09000200" + "6472626400000000");
    const reply = hex(`38000000 1000 0000 09000000 00000000 01020000
      06000100 1c000000  09000200 64726264 00000000  08000300 01000000  08000400 08000000`);
    const [m] = splitMessages(reply);
    expect(parseFamily(m!)).toEqual({ id: 0x1c, version: 1, hdrsize: 8 });
  });

  test("a GET_STATUS reply decodes to role, peer, connection and disk states", () => {
    const msgs = splitMessages(status_reply);
    expect(msgs).toHaveLength(1);
    const r = parseDrbdReply(msgs[0]!);
    expect(r).toMatchObject({ cmd: 2, minor: 0, ret_code: 101 });
    expect(decodeStatus(r)).toEqual({
      role: "Primary", peer: "Secondary", conn: "Connected", disk: "UpToDate", pdsk: "UpToDate",
      susp: false, susp_nod: false, susp_fen: false, raw: primary_connected,
      minor: 0, resource: "r0", volume: 0, capacity_sectors: 1024000, out_of_sync_kib: 64, resync_total_kib: null,
    });
  });

  test("state bits: StandAlone Secondary, WFConnection with an outdated peer, suspended for fencing", () => {
    expect(decodeState(2)).toMatchObject({ role: "Secondary", peer: "Unknown", conn: "StandAlone", disk: "Diskless", pdsk: "Diskless" });
    const s = 1 | (8 << 4) | (8 << 9) | (5 << 13) | (1 << 22);
    expect(decodeState(s)).toMatchObject({ role: "Primary", conn: "WFConnection", disk: "UpToDate", pdsk: "Outdated", susp_fen: true, susp: false });
  });

  test("truncated or overlong messages and attributes are errors, not crashes", () => {
    expect(() => splitMessages(status_reply.subarray(0, 40))).toThrow(/runs past/);
    const bad = status_reply.slice();
    bad[28] = 0xff; // CFG_CONTEXT's length (after 16 + 4 + 8 header bytes): 0x14 -> 0xff
    expect(() => parseDrbdReply(splitMessages(bad)[0]!)).toThrow(/runs past/);
    expect(() => cfgContext("")).toThrow(RangeError);
    expect(() => cfgContext("a/b")).toThrow(RangeError);
    expect(() => cfgContext("x".repeat(128))).toThrow(RangeError);
  });
});

/** A fake kernel behind genlTransact: nlctrl plus a DRBD that answers from `state`. */
function fakeKernel(o: { state: () => number; primary?: (n: number) => number; drbd_loaded?: boolean }) {
  const queues = new Map<number, Uint8Array[]>();
  let next_fd = 100;
  let primary_calls = 0;
  const sent: Uint8Array[] = [];
  const reply = (seq: number, body: string) => {
    const b = hex(body);
    const m = new Uint8Array(16 + b.length);
    const dv = new DataView(m.buffer);
    dv.setUint32(0, m.length, true);
    m.set(b, 16);
    dv.setUint32(8, seq, true);
    return m;
  };
  const withType = (m: Uint8Array, type: number, flags = 0) => {
    new DataView(m.buffer).setUint16(4, type, true);
    new DataView(m.buffer).setUint16(6, flags, true);
    return m;
  };
  const le32 = (v: number) => toHex(new Uint8Array(new Uint32Array([v >>> 0]).buffer));
  const kernel = {
    genlOpen: () => {
      queues.set(next_fd, []);
      return next_fd++;
    },
    genlSend: (fd: number, bytes: Uint8Array) => {
      sent.push(bytes.slice());
      const [m] = splitMessages(bytes);
      const q = queues.get(fd)!;
      if (m!.type === 0x10) {
        if (o.drbd_loaded === false) q.push(withType(reply(m!.seq, "feffffff"), 2)); // -ENOENT
        else q.push(withType(reply(m!.seq, "01020000 06000100 1c000000 08000300 01000000 08000400 08000000"), 0x10));
        return;
      }
      const cmd = m!.payload[0]!;
      if (cmd === 2 && (m!.flags & 0x300) !== 0) {
        // dump: one volume, then NLMSG_DONE
        q.push(withType(reply(m!.seq, `02010000 00000000 65000000 14000200 08000140 00000000 07000240 72300000 14000800 08000140 01000000 08000200 ${le32(o.state())}`), 0x1c, 2));
        q.push(withType(reply(m!.seq, "00000000"), 3, 2));
        return;
      }
      if (cmd === 14) {
        primary_calls++;
        q.push(withType(reply(m!.seq, `0e010000 00000000 ${le32(o.primary?.(primary_calls) ?? 1)}`), 0x1c));
        return;
      }
      if (cmd === 15) q.push(withType(reply(m!.seq, `0f010000 00000000 01000000`), 0x1c));
    },
  };
  // genlTransact as the addon does it: a private socket, the answer's datagrams concatenated
  const addon: GenlAddon = {
    genlTransact: async (bytes) => {
      const fd = kernel.genlOpen();
      kernel.genlSend(fd, bytes);
      const parts = queues.get(fd)!;
      queues.delete(fd);
      const out = new Uint8Array(parts.reduce((n, p) => n + ((p.length + 3) & ~3), 0));
      let off = 0;
      for (const p of parts) {
        out.set(p, off);
        off += (p.length + 3) & ~3;
      }
      return out;
    },
  };
  return { addon, sent, open_sockets: () => queues.size, primary_calls: () => primary_calls };
}

describe("DrbdNetlink client against a fake kernel", () => {
  test("resolves the family once, dumps a resource, promotes; every socket is closed", async () => {
    let state = 2 | (2 << 2) | (10 << 4) | (8 << 9) | (8 << 13);
    const k = fakeKernel({ state: () => state });
    const nl = new DrbdNetlink(k.addon);
    const vols = await nl.resourceStatus("r0");
    expect(vols.map((v) => [v.minor, v.resource, v.role, v.conn])).toEqual([[0, "r0", "Secondary", "Connected"]]);
    expect(await nl.setRole(0, "primary", 1000)).toEqual({ code: 1, text: null });
    state |= 1;
    expect(k.sent.filter((m) => splitMessages(m)[0]!.type === 0x10)).toHaveLength(1);
    // the dump request carried the resource filter
    expect(toHex(k.sent[1]!)).toContain(toHex(cfgContext("r0")));
    expect(k.open_sockets()).toBe(0);
  });

  test("no drbd module: a clear error", async () => {
    const nl = new DrbdNetlink(fakeKernel({ state: () => 0, drbd_loaded: false }).addon);
    await expect(nl.resourceStatus("r0")).rejects.toThrow(/modprobe drbd/);
  });
});

describe("haresources mapping", () => {
  test("drbddisk::r0 and ocf:linbit:drbd::drbd_resource=r0 are the built-in DRBD resource", () => {
    expect(parseDrbdWord("drbddisk", ["r0"])).toEqual({ resource: "r0" });
    expect(parseDrbdWord("ocf:linbit:drbd", ["drbd_resource=r0"])).toEqual({ resource: "r0" });
    expect(parseDrbdWord("Filesystem", ["/dev/drbd0"])).toBeNull();
    expect(parseDrbdWord("drbddisk", [])).toMatch(/exactly one DRBD resource name/);
    expect(parseDrbdWord("ocf:linbit:drbd", [])).toMatch(/needs drbd_resource/);
    expect(parseDrbdWord("ocf:linbit:drbd", ["drbd_resource=r0", "foo=1"])).toMatch(/foo is not supported/);
  });

  test("the seeds' line parses without any drbddisk script on the host", () => {
    const text = "node1 drbddisk::r0 Filesystem::/dev/drbd0::/data::ext4 IPaddr::192.0.2.50/24 ocf:linbit:drbd::drbd_resource=r1\n";
    const { resources, diagnostics } = parseHaResources(text, "/etc/ha.d/haresources", { nodes: ["node1", "node2"], dir: "/nonexistent", resolve: false });
    expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const g = resources.groups[0]!;
    expect(g.resources.map((r) => [r.kind, r.drbd?.resource ?? null])).toEqual([
      ["drbd", "r0"],
      ["heartbeat", null],
      ["ip", null],
      ["drbd", "r1"],
    ]);
  });

  test("a bad DRBD word names the line and the fix", () => {
    const { diagnostics } = parseHaResources("node1 drbddisk\n", "/etc/ha.d/haresources", { nodes: ["node1"], dir: "/nonexistent", resolve: false });
    expect(diagnostics.map((d) => [d.line, d.severity])).toEqual([[1, "error"]]);
    expect(diagnostics[0]!.message).toMatch(/drbddisk::r0/);
  });
});

function vol(over: Partial<DrbdStatus>): DrbdStatus {
  return { ...decodeState(2 | (2 << 2) | (10 << 4) | (8 << 9) | (8 << 13)), minor: 0, resource: "r0", volume: 0, capacity_sectors: 0, out_of_sync_kib: 0, resync_total_kib: null, ...over };
}

describe("DrbdResource: promote, demote, retries", () => {
  test("promote retries while the peer is still Primary (SS_TWO_PRIMARIES), boundedly", async () => {
    const codes = [-1, -1, 1];
    const calls: string[] = [];
    const r = new DrbdResource(
      { resource: "r0" },
      {
        retry_delay_ms: 1,
        control: {
          resourceStatus: async () => [vol({})],
          setRole: async (_m, role) => {
            calls.push(role);
            return { code: codes.shift()!, text: null };
          },
        },
      },
    );
    expect(await r.start()).toBeNull();
    expect(calls).toEqual(["primary", "primary", "primary"]);
  });

  test("gives up after attempts_max transient refusals, at once on a hard one", async () => {
    let n = 0;
    const mk = (code: number) =>
      new DrbdResource({ resource: "r0" }, { retry_delay_ms: 1, attempts_max: 4, control: { resourceStatus: async () => [vol({})], setRole: async () => (n++, { code, text: null }) } });
    expect(await mk(-1).start()).toMatch(/SS_TWO_PRIMARIES/);
    expect(n).toBe(4);
    n = 0;
    expect(await mk(-2).start()).toMatch(/SS_NO_UP_TO_DATE_DISK/);
    expect(n).toBe(1);
  });

  test("already Primary: no call; stop of a resource that is not up succeeds; monitor", async () => {
    let calls = 0;
    const primary = new DrbdResource({ resource: "r0" }, { control: { resourceStatus: async () => [vol({ role: "Primary" })], setRole: async () => (calls++, { code: 1, text: null }) } });
    expect(await primary.start()).toBeNull();
    expect(await primary.monitor()).toBeNull();
    expect(calls).toBe(0);
    const down = new DrbdResource({ resource: "r0" }, { control: { resourceStatus: async () => [], setRole: async () => (calls++, { code: 1, text: null }) } });
    expect(await down.stop()).toBeNull();
    await expect(down.start()).rejects.toThrow(/drbdadm up r0/);
    const secondary = new DrbdResource({ resource: "r0" }, { control: { resourceStatus: async () => [vol({})], setRole: async () => ({ code: 1, text: null }) } });
    expect(await secondary.monitor()).toMatch(/not Primary/);
  });

  test("stop without the DRBD module (no netlink family) is stopped; other read errors and start still fail", async () => {
    const failing = (code: string) =>
      new DrbdResource({ resource: "r0" }, { control: { resourceStatus: async () => { throw new DrbdNetlinkError(`kernel: ${code}`, code); }, setRole: async () => ({ code: 1, text: null }) } });
    expect(await failing("ENOENT").stop()).toBeNull();
    await expect(failing("ENOENT").start()).rejects.toThrow(/ENOENT/);
    await expect(failing("EPERM").stop()).rejects.toThrow(/EPERM/);
  });

  test("promote waits (bounded) until DRBD no longer sees a connected Primary peer, then promotes", async () => {
    const events: string[] = [];
    const seq: string[] = [];
    let reads = 0;
    const r = new DrbdResource(
      { resource: "r0" },
      {
        retry_delay_ms: 1,
        log: (e) => events.push(e),
        control: {
          // DRBD notices the silent peer on its third read
          resourceStatus: async () => (seq.push("read"), ++reads < 3 ? [vol({ peer: "Primary" })] : [vol({ peer: "Unknown", conn: "WFConnection", pdsk: "DUnknown" })]),
          setRole: async () => (seq.push("primary"), { code: 1, text: null }),
        },
      },
    );
    expect(await r.start()).toBeNull();
    // the third read shows the peer gone; the promote starts from it (no fourth read before it)
    expect(seq.slice(0, 4)).toEqual(["read", "read", "read", "primary"]);
    expect(events).toEqual(["drbd_wait_peer", "drbd_peer_gone", "drbd_role"]);

    // a peer that stays a connected Primary: give up waiting after peer_gone_wait_ms and let DRBD refuse
    const stuck_events: string[] = [];
    let calls = 0;
    const stuck = new DrbdResource(
      { resource: "r0" },
      { retry_delay_ms: 1, attempts_max: 2, peer_gone_wait_ms: 250, log: (e) => stuck_events.push(e), control: { resourceStatus: async () => [vol({ peer: "Primary" })], setRole: async () => (calls++, { code: -1, text: null }) } },
    );
    const t0 = performance.now();
    expect(await stuck.start()).toMatch(/SS_TWO_PRIMARIES/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240);
    expect(stuck_events[0]).toBe("drbd_wait_peer");
    expect(stuck_events).toContain("drbd_peer_still_primary");
    expect(calls).toBe(2);

    // a handover: the peer demoted itself (Secondary): no wait at all
    const ho: string[] = [];
    const handover = new DrbdResource({ resource: "r0" }, { log: (e) => ho.push(e), control: { resourceStatus: async () => [vol({})], setRole: async () => ({ code: 1, text: null }) } });
    expect(await handover.start()).toBeNull();
    expect(ho).toEqual(["drbd_role"]);
  });

  test("promote retries SS_PRIMARY_NOP twice (fence-peer raced the connection teardown), not more", async () => {
    const run = async (codes: number[]) => {
      let n = 0;
      const r = new DrbdResource({ resource: "r0" }, { retry_delay_ms: 1, control: { resourceStatus: async () => [vol({})], setRole: async () => (n++, { code: codes.shift() ?? -7, text: null }) } });
      return { err: await r.start(), n };
    };
    expect(await run([-7, 1])).toEqual({ err: null, n: 2 });
    const stuck = await run([]);
    expect(stuck.err).toMatch(/SS_PRIMARY_NOP/);
    expect(stuck.n).toBe(3);
  });

  test("demote retries while the device is still open (SS_DEVICE_IN_USE)", async () => {
    const codes = [-12, 1];
    const r = new DrbdResource({ resource: "r0" }, { retry_delay_ms: 1, control: { resourceStatus: async () => [vol({ role: "Primary" })], setRole: async () => ({ code: codes.shift()!, text: null }) } });
    expect(await r.stop()).toBeNull();
    expect(codes).toEqual([]);
  });

  test("a StandAlone connection is logged once per change", async () => {
    const events: string[] = [];
    let conn = 10;
    const r = new DrbdResource(
      { resource: "r0" },
      { log: (e) => events.push(e), control: { resourceStatus: async () => [vol({ role: "Primary", conn: decodeState(conn << 4).conn })], setRole: async () => ({ code: 1, text: null }) } },
    );
    await r.monitor();
    conn = 0;
    await r.monitor();
    await r.monitor();
    expect(events).toEqual(["drbd_standalone"]);
  });
});

describe("drbd-fence-peer / drbd-split-brain: CLI and daemon side over a real control socket", async () => {
  const { fencePeerVerdict, runDrbdHandler } = await import("../../src/cli/drbd.ts");
  const { DrbdControl } = await import("../../src/daemon/drbd_control.ts");
  const { startControlServer } = await import("../../src/daemon/control.ts");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");

  test("exit codes: dead and fenced 7, dead without fencing 5, alive or fencing in progress: undecided", () => {
    expect(fencePeerVerdict({ peer: "node1", state: "dead", fencing: true, fence_phase: "done" })?.code).toBe(7);
    expect(fencePeerVerdict({ peer: "node1", state: "dead", fencing: false, fence_phase: null })?.code).toBe(5);
    expect(fencePeerVerdict({ peer: "node1", state: "dead", fencing: true, fence_phase: "running" })).toBeNull();
    expect(fencePeerVerdict({ peer: "node1", state: "up", fencing: false, fence_phase: null })).toBeNull();
  });

  test("a peer that left gracefully (goodbye after stopping its groups): 5 at once, fence device or not; a fence under way or done still decides", () => {
    // fence devices configured: no fence is due for a goodbye, so waiting for one would freeze I/O until --timeout
    expect(fencePeerVerdict({ peer: "node1", state: "dead", left: true, fencing: true, fence_phase: "idle" })).toEqual({ code: 5, why: expect.stringContaining("left the cluster gracefully") });
    expect(fencePeerVerdict({ peer: "node1", state: "dead", left: true, fencing: false, fence_phase: null })?.code).toBe(5);
    // a failed stop escalated to a fence before the goodbye: wait for it, then 7
    for (const phase of ["waiting_for_all", "delay", "running", "backoff"]) expect(fencePeerVerdict({ peer: "node1", state: "dead", left: true, fencing: true, fence_phase: phase })).toBeNull();
    expect(fencePeerVerdict({ peer: "node1", state: "dead", left: true, fencing: true, fence_phase: "done" })?.code).toBe(7);
    // dead by deadtime (not left), or an older daemon without the field: as before
    expect(fencePeerVerdict({ peer: "node1", state: "dead", left: false, fencing: true, fence_phase: "idle" })).toBeNull();
    expect(fencePeerVerdict({ peer: "node1", state: "dead", fencing: true, fence_phase: "idle" })).toBeNull();
  });

  test("the daemon reports `left` only for a dead peer its context says left; the handler exits 5 at once", async () => {
    const dir = mkdtempSync(`${tmpdir()}/tandem-drbd-`);
    let peer_state = "up";
    let left = false;
    const logged: Record<string, unknown>[] = [];
    const dc = new DrbdControl({
      self: "node2",
      nodes: () => [{ name: "node1", state: peer_state }, { name: "node2", state: "self" }],
      fencing: () => [{ node: "node1", phase: "idle" }],
      left: () => left,
      log: (e, f) => logged.push({ e, ...f }),
    });
    // the context's answer counts only while membership has the peer dead
    left = true;
    expect(dc.handle("drbd-fence-peer", { resource: "r0", peer: "node1" })).toMatchObject({ ok: true, state: "up", left: false });
    peer_state = "dead";
    left = false;
    expect(dc.handle("drbd-fence-peer", { resource: "r0", peer: "node1" })).toMatchObject({ ok: true, state: "dead", left: false, fencing: true, fence_phase: "idle" });
    left = true;
    expect(dc.handle("drbd-fence-peer", { resource: "r0", peer: "node1" })).toMatchObject({ ok: true, state: "dead", left: true });
    expect(logged.at(-1)).toMatchObject({ e: "drbd_fence_peer", peer_state: "dead", left: true });
    const server = await startControlServer({ path: `${dir}/s.sock`, handle: (req) => dc.handle((req as { cmd: string }).cmd, req as object), log: () => {} });
    const lines: string[] = [];
    const out = { stdout: (s: string) => lines.push(s), stderr: (s: string) => lines.push(s) };
    try {
      const env = { DRBD_RESOURCE: "r0", DRBD_PEER: "node1" };
      const t0 = performance.now();
      expect(await runDrbdHandler("fence-peer", ["--socket", `${dir}/s.sock`, "--timeout", "30"], out, env)).toBe(5);
      expect(performance.now() - t0).toBeLessThan(5_000); // answered on the first poll, not at the timeout
      expect(lines.at(-1)).toContain("node1 left the cluster gracefully");
      // dead by deadtime with a fence device: undecided until the fence; times out with 1
      left = false;
      const from = logged.length;
      expect(await runDrbdHandler("fence-peer", ["--socket", `${dir}/s.sock`, "--timeout", "0.6"], out, env)).toBe(1);
      // the exit names what keeps I/O frozen and the way out, on the terminal and in the daemon's log
      expect(lines.at(-1)).toContain("drbdadm resume-io r0");
      const run = logged.slice(from);
      expect(run.at(-1)).toMatchObject({ e: "drbd_fence_peer_exit", resource: "r0", peer: "node1", exit: 1 });
      expect(String(run.at(-1)?.why)).toContain("drbdadm resume-io r0");
      // ~3 polls learned nothing new: one drbd_fence_peer line for the run, not one per poll
      expect(run.filter((l) => l.e === "drbd_fence_peer").length).toBe(1);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the handler asks the daemon; DRBD's environment names resource and peer; a live peer times out with 1", async () => {
    const dir = mkdtempSync(`${tmpdir()}/tandem-drbd-`);
    let peer_state = "up";
    const logged: string[] = [];
    const dc = new DrbdControl({
      self: "node2",
      nodes: () => [{ name: "node1", state: peer_state }, { name: "node2", state: "self" }],
      fencing: () => [],
      log: (e) => logged.push(e),
    });
    const server = await startControlServer({ path: `${dir}/s.sock`, handle: (req) => dc.handle((req as { cmd: string }).cmd, req as object), log: () => {} });
    const lines: string[] = [];
    const out = { stdout: (s: string) => lines.push(s), stderr: (s: string) => lines.push(s) };
    try {
      const env = { DRBD_RESOURCE: "r0", DRBD_PEER: "node1" };
      expect(await runDrbdHandler("fence-peer", ["--socket", `${dir}/s.sock`, "--timeout", "0.3"], out, env)).toBe(1);
      setTimeout(() => (peer_state = "dead"), 200);
      expect(await runDrbdHandler("fence-peer", ["--socket", `${dir}/s.sock`, "--timeout", "5"], out, env)).toBe(5);
      // DRBD's host name may not be ha.cf's: the only other node is the peer
      expect(await runDrbdHandler("split-brain", ["--socket", `${dir}/s.sock`], out, { DRBD_RESOURCE: "r0", DRBD_PEER: "alpha" })).toBe(0);
      expect(dc.status().map((r) => [r.resource, r.event, r.peer])).toEqual([
        ["r0", "fence-peer", "node1"],
        ["r0", "split-brain", "node1"],
      ]);
      expect(logged).toContain("drbd_split_brain");
      expect(await runDrbdHandler("fence-peer", ["--socket", `${dir}/s.sock`], out, {})).toBe(2);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
