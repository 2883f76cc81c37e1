// What an admin reads, from two real daemons in namespaces: `status --json`
// against its published schema, `status --watch`, the event history
// (followed live, then read back after the survivor's daemon restarts, and
// from the files with no daemon), and the Prometheus endpoint served inside
// the node's namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabDaemon, until } from "../../src/lab/daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, writeConfigDir } from "../../src/lab/netns.ts";
import { validate } from "../../src/daemon/status_schema.ts";
import { cli, netnsAvailable, tandem } from "./support.ts";

const vip = ipv4(0, 51);
const metrics_port = 9464;

if (netnsAvailable("ops.test.ts")) {
  describe("operations: status, events, metrics on real daemons", () => {
    let c: Cluster;
    const d: Record<string, LabDaemon> = {};
    let follower: ReturnType<typeof Bun.spawn> | null = null;
    let followed = "";

    beforeAll(async () => {
      c = await createCluster({ nodes: 2, links: 2 });
      // metrics on the namespace's own loopback: reachable only from inside it
      const text = haCf(c, { keepalive_ms: 100, deadtime_ms: 500, initdead_ms: 1500, extra: [`# tandem: metrics_listen 127.0.0.1:${metrics_port}`] });
      for (const h of c.nodes) {
        d[h.name] = new LabDaemon(c, h, tandem.argv);
        writeConfigDir(d[h.name]!.dir, text, authkeys("ops-secret"));
        writeFileSync(join(d[h.name]!.dir, "haresources"), `node1 ${vip}/26/${ifaceName(0)}\n`);
      }
      await Promise.all(Object.values(d).map((x) => x.start()));
    });

    afterAll(async () => {
      follower?.kill("SIGKILL");
      await c?.destroy();
    });

    const dump = () => Object.values(d).map((x) => `--- ${x.name}\n${x.output.slice(-30).join("\n")}`).join("\n");
    const group = async (node: string) => (await d[node]!.tryStatus())?.groups?.[0] as { holder: string | null; state: string } | undefined;
    const metrics = async (node: string) => {
      const r = await c.exec(c.node(node).ns, ["curl", "-sS", "--max-time", "3", `http://127.0.0.1:${metrics_port}/metrics`]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    const sample = (text: string, series: string): number | null => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : null;
    };

    test("status --json matches the published schema; the table and --watch show nodes, links, groups", async () => {
      const ok = await until(async () => (await group("node2"))?.holder === "node1" && (await group("node1"))?.state === "running", 10_000);
      expect(ok, dump()).toBe(true);
      const r = await cli(["status", "--json", "--socket", d.node2!.socket]);
      expect(r.code, r.stderr).toBe(0);
      const st = JSON.parse(r.stdout);
      expect(validate(st)).toEqual([]);
      expect(st.schema_version).toBe(2);
      const peer = st.nodes.find((n: { name: string }) => n.name === "node1");
      expect(peer.links.length).toBe(2);
      expect(peer.links.every((l: { received: number }) => l.received > 0)).toBe(true);
      expect(st.metrics).toEqual({ address: `127.0.0.1:${metrics_port}` });
      // the schema is printed, and it rejects what is not a status
      const schema = await cli(["status", "--schema"]);
      expect(JSON.parse(schema.stdout).title).toBe("tandem status --json");
      expect(validate({ ...st, nodes: [{ name: 1 }] }).length).toBeGreaterThan(0);

      const table = await cli(["status", "--socket", d.node1!.socket]);
      expect(table.stdout).toMatch(/PEER\s+LINK\s+STATE\s+LAST HEARD\s+LOSS/);
      expect(table.stdout).toMatch(/node1\s+running\s+\d+ ?\S+ ago/); // GROUP HOLDER STATE SINCE
      expect(table.stdout).not.toContain("\x1b["); // not a terminal: no colour
      const w = await cli(["status", "--watch", "--interval-ms", "100", "--count", "3", "--socket", d.node1!.socket]);
      expect(w.code, w.stderr).toBe(0);
      expect(w.stdout.match(/^tandem status every 0\.1 s/gm)?.length).toBe(3);
      expect(w.stdout).not.toContain("\x1b[2J"); // a pipe gets blocks, not screen clears
    });

    test("SIGKILL of the holder: followed live, counted in the metrics, kept across the survivor's restart", async () => {
      // follow node2's history from the host (the control socket is a path)
      follower = Bun.spawn([...tandem.argv, "events", "--follow", "--json", "--socket", d.node2!.socket], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      const reader = (async () => {
        for await (const chunk of follower!.stdout as ReadableStream<Uint8Array>) followed += new TextDecoder().decode(chunk);
      })();
      await until(() => followed.includes('"event":"started"'), 5000);
      d.node1!.kill("SIGKILL");
      await d.node1!.proc!.exited;
      const ok = await until(async () => (await group("node2"))?.state === "running", 10_000, 20);
      expect(ok, dump()).toBe(true);
      expect(await until(() => followed.includes('"event":"node_dead"') && followed.includes('"to":"running"'), 5000), followed).toBe(true);
      const live = followed.trim().split("\n").map((l) => JSON.parse(l));
      const dead = live.find((e) => e.event === "node_dead");
      expect(dead).toMatchObject({ host: "node2", fields: { node: "node1", reason: "deadtime" } });

      const m = await metrics("node2");
      expect(sample(m, 'tandem_node_deaths_total{node="node1",reason="deadtime"}')).toBe(1);
      expect(sample(m, 'tandem_detection_seconds_count{node="node1"}')).toBe(1);
      expect(sample(m, 'tandem_detection_seconds_sum{node="node1"}')).toBeGreaterThanOrEqual(0.45);
      expect(m).toMatch(/^tandem_takeover_seconds_count\{group="[^"]+"\} 1$/m);
      expect(m).toMatch(/^tandem_link_heartbeats_received_total\{node="node1",link="ucast [\w-]+ [\d.]+"\} [1-9]\d*$/m);
      expect(m).toMatch(/^tandem_link_heartbeat_interval_seconds_bucket\{node="node1",link="[^"]+",le="0\.25"\} [1-9]/m);
      expect(sample(m, 'tandem_node_up{node="node1"}')).toBe(0);
      expect(m).toMatch(/^tandem_group_state\{group="[^"]+",state="running"\} 1$/m);
      expect(sample(m, "process_resident_memory_bytes")).toBeGreaterThan(1e6);
      expect(m).toContain("tandem_event_loop_lag_seconds_count");
      // not served outside its address: the host cannot reach the namespace's loopback
      expect((await Bun.$`curl -sS --max-time 1 http://127.0.0.1:${metrics_port}/metrics`.nothrow().quiet()).exitCode).not.toBe(0);

      // restart the survivor's daemon: the history is on disk. Its stop
      // ends the follower's stream (and is not held up by it).
      await d.node2!.stop();
      const f_code = await Promise.race([follower.exited, Bun.sleep(5000).then(() => "still running")]);
      expect(f_code).toBe(0);
      await reader;
      follower = null;
      expect(d.node2!.find({ event: "stopping" }).length).toBe(1);
      const offline = await cli(["events", "--json", "--socket", d.node2!.socket, "--state-dir", d.node2!.state_dir]);
      expect(offline.code, offline.stderr).toBe(0);
      expect(offline.stderr).toContain("reading");
      expect(offline.stdout).toContain('"event":"node_dead"');
      await d.node2!.start();
      const r = await cli(["events", "--json", "--socket", d.node2!.socket]);
      expect(r.code, r.stderr).toBe(0);
      const evs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      const names = evs.map((e: { event: string }) => e.event);
      expect(names.filter((n: string) => n === "started").length).toBe(2);
      const i_dead = evs.findIndex((e: { event: string; fields: { node?: string } }) => e.event === "node_dead" && e.fields.node === "node1");
      const i_take = evs.findIndex((e: { event: string }) => e.event === "group_takeover");
      const i_run = evs.findIndex((e: { event: string; fields: { to?: string } }) => e.event === "group_state" && e.fields.to === "running" && evs.indexOf(e) > i_dead);
      expect(i_dead, r.stdout).toBeGreaterThanOrEqual(0);
      expect(i_take).toBeGreaterThan(i_dead);
      expect(i_run).toBeGreaterThan(i_take);
      // timestamps are wall clock, in order
      const ts = evs.map((e: { t: string }) => Date.parse(e.t));
      expect(ts.every((t: number, i: number) => i === 0 || t >= ts[i - 1]!)).toBe(true);
      // --since filters; the text form is one line per event
      const recent = await cli(["events", "--since", "1d", "--socket", d.node2!.socket]);
      expect(recent.stdout).toMatch(/^\S+Z node2 node_dead node=node1 reason=deadtime/m);
      expect((await cli(["events", "--since", "yesterday", "--socket", d.node2!.socket])).code).toBe(2);
    });
  });
}
