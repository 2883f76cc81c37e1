// Link impairment without netem: test/cts/impair.py relays one node's link
// through userspace, in the cluster's bridge namespace:
//
//   node netns          lan netns
//   veth-a ====== n1l0 [detached]  <- relay (AF_PACKET) ->  ri1l0 ====== rb1l0 [on br0]
//
// so that delay, jitter, loss, duplication and reordering can be applied per
// direction and changed at runtime (set/clear through the relay's control
// socket). remove() stops the relay and puts n<k>l<i> back on its bridge. The
// relay is a Cluster.spawn()ed process (SIGKILLed with its parent through
// PR_SET_PDEATHSIG, stopped by destroy()), and the extra veth pair lives in
// the lan namespace, so destroy() and sweep() remove everything of a run that
// never got to remove().
import { createConnection } from "node:net";
import { join } from "node:path";
import type { Cluster, Proc } from "../../src/lab/netns.ts";
import { until } from "../../src/lab/daemons.ts";

const relay_py = join(import.meta.dir, "impair.py");

export interface ImpairParams {
  loss_pct?: number;
  delay_ms?: number;
  jitter_ms?: number;
  dup_pct?: number;
  reorder_pct?: number;
  reorder_ms?: number;
}

export interface DirectionStats {
  params: Required<ImpairParams>;
  counters: { rx: number; tx: number; lost: number; duplicated: number; reordered: number; delayed: number; overflow: number; send_errors: number; csum_fixed: number };
  queued: number;
}

export class Impairment {
  private proc: Proc | null = null;
  private removed = false;

  private constructor(
    readonly c: Cluster,
    readonly host: string,
    readonly link: number,
    readonly port: string,
    readonly relay_if: string,
    readonly bridge_if: string,
    readonly ctl: string,
  ) {}

  /** Put a relay into `host`'s link `link` (transparent until set()). */
  static async insert(c: Cluster, host: string, link: number, seed = 1): Promise<Impairment> {
    const h = c.node(host);
    const l = h.links[link];
    if (!l) throw new Error(`${host} has no link ${link}`);
    const tag = `${h.host}l${link}`;
    const x = new Impairment(c, host, link, l.port, `ri${tag}`, `rb${tag}`, join(c.tmp, `impair-${tag}.sock`));
    const ip = async (...args: string[]) => {
      const r = await c.exec(c.lan_ns, ["ip", ...args]);
      if (r.code !== 0) throw new Error(`impair ${host} link ${link}: ip ${args.join(" ")}: ${r.stderr.trim()}`);
    };
    try {
      await ip("link", "add", x.relay_if, "type", "veth", "peer", "name", x.bridge_if);
      await ip("link", "set", x.bridge_if, "master", `br${link}`, "up");
      await ip("link", "set", x.relay_if, "up", "promisc", "on");
      await ip("link", "set", l.port, "promisc", "on");
      const lines: string[] = [];
      x.proc = c.spawn(c.lan_ns, ["python3", "-u", relay_py, "--node", l.port, "--bridge", x.relay_if, "--ctl", x.ctl, "--seed", String(seed)], {
        on_line: (line) => void lines.push(line),
      });
      const ready = await until(() => lines.includes("ready") || !x.proc!.running, 10_000, 20);
      if (!ready || !lines.includes("ready")) throw new Error(`impair relay did not start: ${x.proc.lines.slice(-10).join("\n")}`);
      // last: from here on, the node's frames go through the relay only
      await ip("link", "set", l.port, "nomaster");
    } catch (e) {
      await x.remove();
      throw e;
    }
    return x;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  private async request(req: object): Promise<Record<string, unknown>> {
    return await new Promise((resolve, reject) => {
      const s = createConnection(this.ctl);
      let buf = "";
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`impair ${this.host} link ${this.link}: no answer from the relay`));
      }, 3000);
      s.on("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
      s.on("connect", () => s.write(`${JSON.stringify(req)}\n`));
      s.on("data", (d) => {
        buf += d.toString();
        const nl = buf.indexOf("\n");
        if (nl < 0) return;
        clearTimeout(t);
        s.destroy();
        const rep = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        if (rep.ok !== true) reject(new Error(`impair: ${String(rep.error)}`));
        else resolve(rep);
      });
    });
  }

  /** Change the impairment, per direction: out = from the node, in = to the node. */
  async set(p: { out?: ImpairParams; in?: ImpairParams }): Promise<void> {
    await this.request({ cmd: "set", ...p });
  }

  /** Heal: every parameter back to 0 (frames already queued still go out). */
  async clear(): Promise<void> {
    await this.request({ cmd: "clear" });
  }

  async stats(): Promise<{ out: DirectionStats; in: DirectionStats }> {
    return (await this.request({ cmd: "stats" })) as unknown as { out: DirectionStats; in: DirectionStats };
  }

  /** Stop the relay and put the node's port back on its bridge. Idempotent. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    await this.proc?.stop();
    const lan = this.c.lan_ns;
    // the cluster may be torn down already: these are best effort
    await this.c.exec(lan, ["ip", "link", "set", this.port, "promisc", "off"]).catch(() => {});
    await this.c.exec(lan, ["ip", "link", "set", this.port, "master", `br${this.link}`]).catch(() => {});
    await this.c.exec(lan, ["ip", "link", "del", this.relay_if]).catch(() => {});
  }
}
