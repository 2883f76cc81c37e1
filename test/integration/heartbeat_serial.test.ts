// A serial link between Debian's Heartbeat 3.0.6 (node1) and tandem with
// `wire heartbeat` (node2): Heartbeat's serial plugin
// (lib/plugins/HBcomm/serial.c) and tandem's Heartbeat framing
// (src/links/framing.ts) on the two ends of a null-modem cable made of two
// socat pty pairs and a relay paced at 19200 baud (src/lab/serial.ts
// LineRelay), plus one ucast link. Both see each other up with the serial
// link up; with UDP cut, membership holds over the serial line alone; the
// cable pulled (relay silent, both ttys open) kills the serial link on both
// sides and plugging it back revives it; the socat on tandem's side killed
// (its pty hangs up) does the same, and with UDP cut too each declares the
// other dead.
//
// Not done: killing the socat on Heartbeat's side. Its pty then reads EOF
// forever and Heartbeat's ttygets() neither sleeps nor reopens (its error
// count is reset by serial_read each time): one run logged 763,333 "EOF in
// ttygets" lines in 12 s from a realtime process, and Heartbeat saw the link
// dead only after 12.3 s (deadtime 1 s). A real UART does not hang up when
// its cable is pulled; the silent relay is that case.
//
// What Heartbeat needs from the "tty" (from its source):
// - serial_new(): a full path that stat()s to a character device; the socat
//   link= symlink resolves to /dev/pts/N, so that passes.
// - serial_open(): devlock() = ttylock() takes a UUCP lock file
//   /var/lock/LCK..NAME where NAME is the path with its first five
//   characters cut (it assumes "/dev/"). /dev/pts/N would give "pts/N", a
//   lock in a directory that does not exist, and the open fails ("cannot
//   lock line"). So Heartbeat's end is a symlink directly under /tmp
//   ("/tmp/" is five characters too): NAME has no slash. The lock file lands
//   in Heartbeat's private /run/lock (/var/lock -> /run/lock, a tmpfs in its
//   own mount namespace, src/lab/heartbeat.ts): nothing on the host.
// - ttysetup(): termios on a pty works (the baud rate is only recorded).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, type Status, until } from "../../src/lab/daemons.ts";
import { HeartbeatNode, heartbeatMissing } from "../../src/lab/heartbeat.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, writeConfigDir } from "../../src/lab/netns.ts";
import { LineRelay } from "../../src/lab/serial.ts";
import { heartbeatAvailable, tandem } from "./support.ts";

const file = "heartbeat_serial.test.ts";
// 19200 baud (8N1) carries 1920 bytes/s. A Heartbeat status message is ~210 bytes on the
// line and every message goes out on every medium (plus tandem's acks): at a 200 ms keepalive
// the line ran at ~85% and bursts queued past a 1.5 s deadtime. Serial Heartbeat clusters use
// second-scale timings; 500 ms keeps the line about a quarter full.
const keepalive_ms = 500;
const deadtime_ms = 3000;
const margin_ms = 2000;

const enabled = heartbeatAvailable(file, heartbeatMissing() ?? (Bun.which("socat") ? null : "socat is not installed (apt-get install socat; ./run setup does)"), "Heartbeat 3.0.6 and socat are installed");

interface LinkRow {
  name: string;
  state?: string;
  rx_packets: number;
  framing?: string;
  framer?: { frames_in: number; garbage_bytes: number; resyncs: number; rejected: number };
}

if (enabled) {
  describe("Heartbeat 3.0.6 and tandem over a serial line", () => {
    let c: Cluster;
    let hb: HeartbeatNode;
    let td: LabDaemon;
    let cable: LineRelay;
    // Heartbeat's end directly under /tmp (see the header); unique per run
    const hb_tty = `/tmp/tandem-hbser-${process.pid}`;
    let td_tty = "";
    const udp = ifaceName(0);

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      td_tty = join(c.tmp, "tty-node2");
      cable = new LineRelay(hb_tty, td_tty, { baud: 19200 });
      hb = new HeartbeatNode(c, c.node("node1"));
      td = new LabDaemon(c, c.node("node2"), tandem.argv);
    }, 30_000);

    afterAll(async () => {
      await td?.stop();
      await hb?.kill();
      await cable?.stop();
      await c?.destroy();
    }, 30_000);

    const peer = (st: Status | null) => st?.nodes.find((n) => n.name === "node1") ?? null;
    const peerLink = (st: Status | null, prefix: string) => peer(st)?.links.find((l) => l.name.startsWith(prefix))?.state ?? null;
    const serialRow = (st: Status) => (st.links as LinkRow[]).find((l) => l.name.startsWith("serial "));
    // Heartbeat's serial reader logs every read of a hung-up pty ("EOF in ttygets"): left out of failure output
    const hbLog = () => hb.log().split("\n").filter((l) => !/EOF in ttygets/.test(l));
    const dump = () => `\n--- heartbeat node1 log (tail):\n${hbLog().slice(-40).join("\n")}\n--- tandem node2 (tail):\n${td.output.slice(-30).join("\n")}`;
    /** Heartbeat's view of one of node2's links: "up" / "dead", or null (cl_status exits 0 for up, 1 for any other status it prints) */
    const hbLink = async (link: string) => {
      const r = await hb.exec(["cl_status", "hblinkstatus", "node2", link], 5000);
      return r.code === 0 || r.code === 1 ? r.stdout.trim() || null : null;
    };

    test(
      "serial + ucast: both up, the serial link up on both sides; UDP cut: membership holds over the serial line alone",
      async () => {
        await cable.start();
        // the same ha.cf but for the serial line (each names its own end of the cable); Heartbeat wants baud before every medium
        const cf = (tty: string) =>
          haCf(c, { keepalive_ms, deadtime_ms, extra: ["# tandem: wire heartbeat", `serial ${tty}`] }).replace(/^udpport .*\n/m, (l) => `${l}baud 19200\n`);
        await hb.configure({ ha_cf: cf(hb_tty), authkeys: authkeys("serial-mixed", "sha1") });
        writeConfigDir(td.dir, cf(td_tty), authkeys("serial-mixed", "sha1"));
        writeFileSync(join(td.dir, "haresources"), "# membership only: no groups\n");
        hb.start();
        await td.start();

        const td_up = await until(async () => {
          const st = await td.tryStatus();
          return peer(st)?.state === "up" && peerLink(st, "serial") === "up" && peerLink(st, "ucast") === "up";
        }, 20_000);
        expect(td_up, `tandem never saw node1 up over both links${dump()}`).toBe(true);
        expect(await until(() => hb.logged(/Starting serial heartbeat on tty/), 5000), `Heartbeat did not open its serial port${dump()}`).toBe(true);
        const hb_up = await until(async () => (await hb.nodeStatus("node2")) === "active" && (await hbLink(hb_tty)) === "up" && (await hbLink(udp)) === "up", 20_000);
        expect(hb_up, `Heartbeat never saw node2 active over both links${dump()}`).toBe(true);
        expect(await until(async () => ((await td.tryStatus()) && serialRow((await td.status()))!.rx_packets > 5) || null, 5000), `few messages over the serial line${dump()}`).toBe(true);
        let st = await td.status();
        const row = serialRow(st)!;
        expect(row.framing).toBe("heartbeat");
        expect(row.framer!.rejected).toBe(0);
        expect(st.counters.dropped.bad_mac ?? 0).toBe(0);

        // cut UDP (node1's side): the ucast link dies on both sides, the peers stay up over serial
        const mark = hb.logLines();
        const from = td.events.length;
        await c.cut("node1", 0);
        try {
          expect(await until(async () => peerLink(await td.tryStatus(), "ucast") === "down", deadtime_ms + margin_ms), `tandem's ucast link did not go down${dump()}`).toBe(true);
          expect(await until(async () => (await hbLink(udp)) === "dead", deadtime_ms + margin_ms), `Heartbeat's ${udp} link did not go dead${dump()}`).toBe(true);
          const rx0 = serialRow(await td.status())!.rx_packets;
          await Bun.sleep(2 * deadtime_ms);
          st = await td.status();
          expect(peer(st)?.state).toBe("up");
          expect(peerLink(st, "serial")).toBe("up");
          // a keepalive's worth of messages (at least) over the serial line alone
          expect(serialRow(st)!.rx_packets - rx0).toBeGreaterThan((2 * deadtime_ms) / keepalive_ms / 2);
          expect(td.find({ event: "node_dead" }, from)).toEqual([]);
          expect(await hb.nodeStatus("node2")).toBe("active");
          expect(await hbLink(hb_tty)).toBe("up");
          expect(hb.logged(/node node2: is dead|Late heartbeat: Node node2/, mark), dump()).toBe(false);
          process.stderr.write(`[heartbeat serial] tandem's serial link: ${JSON.stringify(serialRow(st))}; line (to tandem, to Heartbeat): ${JSON.stringify(cable.stats())}\n`);
          // Heartbeat accepted every message of ours on the line: no auth or parse complaints
          expect(hbLog().join("\n")).not.toMatch(/authentication failed|authtoken does not match|string2msg|Cannot convert|bad message|lost packet/i);
          const complaints = hbLog().filter((l) => /ERROR|WARN|CRIT/.test(l) && !/Logging daemon is disabled|initdead|Initial dead time|Core dumps could be lost|core_pattern|core_uses_pid|respawn|must precede/.test(l));
          process.stderr.write(`[heartbeat serial] Heartbeat's warnings and errors: ${complaints.length === 0 ? "none" : `\n${complaints.join("\n")}`}\n`);
        } finally {
          await c.restore("node1", 0);
        }
        expect(await until(async () => peerLink(await td.tryStatus(), "ucast") === "up" && (await hbLink(udp)) === "up", 10_000), `ucast did not come back${dump()}`).toBe(true);
      },
      60_000,
    );

    test(
      "cable pulled (both ends stay open, silent): the serial link dies on both sides, membership holds over UDP; plugged in again: up again",
      async () => {
        expect(peer(await td.tryStatus())?.state).toBe("up");
        const mark = hb.logLines();
        const from = td.events.length;
        cable.cut();
        expect(await until(async () => peerLink(await td.tryStatus(), "serial") === "down", deadtime_ms + margin_ms), `tandem's serial link did not go down${dump()}`).toBe(true);
        expect(await until(async () => (await hbLink(hb_tty)) === "dead", deadtime_ms + margin_ms), `Heartbeat's serial link did not go dead${dump()}`).toBe(true);
        expect(peer(await td.status())?.state).toBe("up");
        expect(await hb.nodeStatus("node2")).toBe("active");
        cable.restore();
        expect(await until(async () => peerLink(await td.tryStatus(), "serial") === "up" && (await hbLink(hb_tty)) === "up", 10_000), `the serial link did not come back${dump()}`).toBe(true);
        expect(td.find({ event: "node_dead" }, from)).toEqual([]);
        expect(hb.logged(/node node2: is dead/, mark)).toBe(false);
      },
      60_000,
    );

    test(
      "socat on tandem's side killed (its pty hangs up): tandem reports serial_down, Heartbeat's serial link dies; UDP cut as well: each declares the other dead",
      async () => {
        expect(peer(await td.tryStatus())?.state).toBe("up");
        const mark = hb.logLines();
        const from = td.events.length;
        await cable.right.stop();
        expect(await td.waitEvent({ event: "serial_down" }, deadtime_ms + margin_ms, from), `no serial_down${dump()}`).not.toBeNull();
        expect(await until(async () => peerLink(await td.tryStatus(), "serial") === "down", deadtime_ms + margin_ms), `tandem's serial link did not go down${dump()}`).toBe(true);
        expect(await until(async () => (await hbLink(hb_tty)) === "dead", deadtime_ms + margin_ms), `Heartbeat's serial link did not go dead${dump()}`).toBe(true);
        expect(peer(await td.status())?.state).toBe("up");
        expect(await hb.nodeStatus("node2")).toBe("active");

        // now UDP too: nothing joins them
        await c.cut("node1", 0);
        try {
          const dead = await td.waitEvent({ event: "node_dead", node: "node1" }, deadtime_ms + margin_ms, from);
          expect(dead, `tandem did not declare node1 dead${dump()}`).not.toBeNull();
          expect(dead!.fields.reason).toBe("deadtime");
          expect(await until(() => hb.logged(/node node2: is dead/, mark), deadtime_ms + margin_ms), `Heartbeat did not declare node2 dead${dump()}`).toBe(true);
        } finally {
          await c.restore("node1", 0);
        }
      },
      60_000,
    );
  });
}
