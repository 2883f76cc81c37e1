// Serial links between real daemons in namespaces. The cable is a socat pty
// pair in the host's filesystem (a network namespace does not hide files),
// each node's ha.cf naming its own end. Cases: one UDP link plus one serial
// link survives either being cut; the cable unplugged and plugged in again
// comes back; the serial link alone carries membership and detects a death;
// noise injected on a paced 19200-baud line is counted and dropped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { LabDaemon, peerState, type Status, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, writeConfigDir } from "../../src/lab/netns.ts";
import { LineRelay, NullModem } from "../../src/lab/serial.ts";
import { netnsAvailable, tandem } from "./support.ts";

const keepalive_ms = 100;
const deadtime_ms = 1000;
const margin_ms = 1500;

interface SerialLinkStatus {
  name: string;
  state?: string;
  opens?: number;
  rx_packets: number;
  framer?: { frames_in: number; garbage_bytes: number; resyncs: number; rejected: number };
}

function linkState(st: Status | null, peer: string, prefix: string): string | null {
  return peerState(st, peer)?.links.find((l) => l.name.startsWith(prefix))?.state ?? null;
}

function serialStats(st: Status): SerialLinkStatus {
  const l = (st.links as SerialLinkStatus[]).find((x) => x.name.startsWith("serial "));
  if (!l) throw new Error(`no serial link in status: ${JSON.stringify(st.links)}`);
  return l;
}

if (netnsAvailable("serial.test.ts")) {
  describe(`serial links (${tandem.why})`, () => {
    let c: Cluster;
    const daemons = new Map<string, LabDaemon>();
    const cables: (NullModem | LineRelay)[] = [];
    const d = (n: string) => daemons.get(n)!;
    const tty = (n: string) => join(c.tmp, `tty-${n}`);

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 1 });
      for (const h of c.nodes) daemons.set(h.name, new LabDaemon(c, h, tandem.argv));
    });
    afterAll(async () => {
      for (const x of daemons.values()) await x.stop();
      for (const cable of cables) await cable.stop();
      await c?.destroy();
    });

    /** (Re)start both daemons: UDP link 0 if `udp`, plus each node's own end of the serial cable. */
    async function start(udp: boolean): Promise<void> {
      for (const x of daemons.values()) await x.stop();
      for (const h of c.nodes) {
        const text = haCf(c, { keepalive_ms, deadtime_ms, media: [udp ? "ucast" : null], extra: ["baud 19200", `serial ${tty(h.name)}`] });
        writeConfigDir(d(h.name).dir, text, authkeys("serial-secret"));
      }
      await Promise.all([...daemons.values()].map((x) => x.start()));
    }

    async function mutualUp(timeout_ms = 8000, serial_up = true): Promise<boolean> {
      const ok = await until(async () => {
        const [a, b] = await Promise.all([d("node1").tryStatus(), d("node2").tryStatus()]);
        const up = peerState(a, "node2")?.state === "up" && peerState(b, "node1")?.state === "up";
        return up && (!serial_up || (linkState(a, "node2", "serial") === "up" && linkState(b, "node1", "serial") === "up"));
      }, timeout_ms);
      return ok === true;
    }

    const dump = () => [...daemons.values()].map((x) => `\n--- ${x.name}:\n${x.output.slice(-20).join("\n")}`).join("");

    test("one UDP and one serial link: up over both, survives either being cut, the cable plugged in again comes back", async () => {
      const cable = new NullModem(tty("node1"), tty("node2"));
      cables.push(cable);
      await cable.start();
      try {
        await start(true);
        expect(await mutualUp(), dump()).toBe(true);
        const from1 = d("node1").events.length;
        const from2 = d("node2").events.length;

        // cut UDP: still up over the serial line
        await c.cut("node1", 0);
        const udp_down = await until(async () => linkState(await d("node1").tryStatus(), "node2", "ucast") === "down", deadtime_ms + margin_ms);
        expect(udp_down, dump()).toBe(true);
        await Bun.sleep(deadtime_ms);
        let st = await d("node1").status();
        expect(peerState(st, "node2")?.state).toBe("up");
        expect(linkState(st, "node2", "serial")).toBe("up");
        expect(serialStats(st).rx_packets).toBeGreaterThan(5);
        await c.restore("node1", 0);

        // unplug the cable (socat gone: both ports hang up): still up over UDP
        await cable.stop();
        const serial_down = await until(async () => linkState(await d("node2").tryStatus(), "node1", "serial") === "down", deadtime_ms + margin_ms);
        expect(serial_down, dump()).toBe(true);
        await Bun.sleep(deadtime_ms);
        st = await d("node2").status();
        expect(peerState(st, "node1")?.state).toBe("up");
        expect(linkState(st, "node1", "ucast")).toBe("up");
        expect(serialStats(st).state).toBe("down");

        // plug it in again (new ptys behind the same names): the serial link comes back
        await cable.start();
        expect(await mutualUp(), dump()).toBe(true);
        expect(serialStats(await d("node1").status()).opens).toBeGreaterThanOrEqual(2);

        expect(d("node1").find({ event: "node_dead" }, from1)).toEqual([]);
        expect(d("node2").find({ event: "node_dead" }, from2)).toEqual([]);
        expect(d("node1").find({ event: "serial_down" }, from1).length).toBeGreaterThanOrEqual(1);
      } finally {
        await c.restore("node1", 0).catch(() => {});
        for (const x of daemons.values()) await x.stop();
        await cable.stop();
      }
    }, 60_000);

    test("the serial link alone carries membership, and a SIGKILL is detected over it", async () => {
      const cable = new NullModem(tty("node1"), tty("node2"));
      cables.push(cable);
      // the daemons start before the cable exists: the ports are found when they appear
      await start(false);
      await Bun.sleep(300);
      await cable.start();
      try {
        expect(await mutualUp(), dump()).toBe(true);
        const st = await d("node1").status();
        expect(st.links.map((l) => l.name)).toEqual([`serial ${tty("node1")}`]);
        const from = d("node1").events.length;
        const t0 = performance.now();
        d("node2").kill("SIGKILL");
        const dead = await d("node1").waitEvent({ event: "node_dead", node: "node2" }, deadtime_ms + margin_ms, from);
        expect(dead, dump()).not.toBeNull();
        expect(dead!.fields.reason).toBe("deadtime");
        expect(performance.now() - t0).toBeLessThan(deadtime_ms + margin_ms);
      } finally {
        for (const x of daemons.values()) await x.stop();
        await cable.stop();
      }
    }, 60_000);

    test("noise on a paced 19200-baud line is counted and dropped; membership holds", async () => {
      const relay = new LineRelay(tty("node1"), tty("node2"), { baud: 19200 });
      cables.push(relay);
      await relay.start();
      try {
        await start(false);
        expect(await mutualUp(), dump()).toBe(true);
        const from = d("node2").events.length;
        const before = serialStats(await d("node2").status());
        // 3 s of noise toward node2: random bytes, runs of the frame marker, a fake header with a huge length
        let seed = 7;
        const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
        let injected = 0;
        for (let i = 0; i < 30; i++) {
          const noise = new Uint8Array(24);
          for (let k = 0; k < noise.length; k++) noise[k] = rnd();
          noise.set([0x7e, 0x54, 0x53, 0x4c, 0x05, 0x78, 0xfa, 0x87], 8); // marker, length 1400, check
          relay.inject(0, noise);
          injected += noise.length;
          await Bun.sleep(100);
        }
        await Bun.sleep(300);
        const after = serialStats(await d("node2").status());
        expect(after.framer!.garbage_bytes - before.framer!.garbage_bytes).toBeGreaterThan(injected / 2);
        expect(after.framer!.resyncs).toBeGreaterThan(before.framer!.resyncs);
        expect(after.rx_packets - before.rx_packets).toBeGreaterThan(15);
        const st = await d("node2").status();
        expect(peerState(st, "node1")?.state).toBe("up");
        expect(d("node2").find({ event: "node_dead" }, from)).toEqual([]);
        // noise is not a forged frame: the codec saw nothing it had to drop for a bad MAC
        expect(st.counters.dropped.bad_mac ?? 0).toBe(0);
      } finally {
        for (const x of daemons.values()) await x.stop();
        await relay.stop();
      }
    }, 60_000);
  });
}
