// Ping nodes (Heartbeat's `ping` and `ping_group`): third parties that tell a
// node cut off from its peer whether it is the one cut off. Each address is
// probed by one long-lived iputils `ping` child (no fork per probe, no raw
// socket code of our own); a reply within deadping_ms keeps it reachable.
// The score is what placement's ipfail rule and the fencing core use:
// ping nodes reachable + ping groups with at least one member reachable.
import type { Subprocess } from "bun";
import type { HaConfig } from "../config/types.ts";

/** iputils refuses intervals below 2 ms; one probe a second is plenty for deadping >= 1 s */
const interval_ms_min = 10;
const interval_ms_max = 1_000;
/** a `ping` child that exits is restarted after this long (it should not exit) */
const restart_ms = 1_000;
/** bounded line buffer: a reply line is < 200 bytes */
const line_bytes_max = 4_096;

export interface PingUnit {
  name: string;
  addrs: string[];
}

/** The units the score counts: each `ping` address alone, each ping_group as one. */
export function pingUnits(hacf: Pick<HaConfig, "ping_nodes" | "ping_groups">): PingUnit[] {
  return [...hacf.ping_nodes.map((a) => ({ name: a, addrs: [a] })), ...hacf.ping_groups.map((g) => ({ name: g.name, addrs: g.addrs }))];
}

/** Score from the last reply times: pure, for the daemon and the tests. */
export function pingScore(units: PingUnit[], last_reply_ms: Map<string, number>, now_ms: number, deadping_ms: number): number {
  let score = 0;
  for (const u of units) if (u.addrs.some((a) => now_ms - (last_reply_ms.get(a) ?? -Infinity) < deadping_ms)) score++;
  return score;
}

/** A reply line of iputils ping: "64 bytes from 192.0.2.1: icmp_seq=3 ttl=64 time=0.051 ms". */
export function isReplyLine(line: string): boolean {
  return /^\d+ bytes from \S+: icmp_seq=\d+/.test(line);
}

export class PingMonitor {
  readonly units: PingUnit[];
  private last_reply_ms = new Map<string, number>();
  private children = new Map<string, Subprocess>();
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private check_timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private score = -1;
  private readonly interval_ms: number;

  constructor(
    hacf: Pick<HaConfig, "ping_nodes" | "ping_groups" | "keepalive_ms" | "deadping_ms">,
    private onScore: (score: number, units: number) => void,
    private log: (event: string, fields: Record<string, string | number>) => void,
    private ping_bin = Bun.which("ping") ?? "/bin/ping",
  ) {
    this.units = pingUnits(hacf);
    this.deadping_ms = hacf.deadping_ms;
    // Probe a few times per deadping so one lost reply does not count.
    this.interval_ms = Math.min(interval_ms_max, Math.max(interval_ms_min, Math.min(hacf.keepalive_ms, Math.floor(hacf.deadping_ms / 4))));
  }
  private readonly deadping_ms: number;

  start(): void {
    const addrs = new Set(this.units.flatMap((u) => u.addrs));
    for (const a of addrs) this.spawn(a);
    this.check_timer = setInterval(() => this.check(), this.interval_ms);
    this.check();
  }

  close(): void {
    this.closed = true;
    if (this.check_timer) clearInterval(this.check_timer);
    for (const t of this.timers) clearTimeout(t);
    for (const c of this.children.values()) c.kill("SIGKILL");
    this.children.clear();
  }

  status(): { units: number; score: number; nodes: { addr: string; last_reply_ms_ago: number | null }[] } {
    const now = performance.now();
    const nodes = [...new Set(this.units.flatMap((u) => u.addrs))].map((addr) => {
      const t = this.last_reply_ms.get(addr);
      return { addr, last_reply_ms_ago: t === undefined ? null : Math.round(now - t) };
    });
    return { units: this.units.length, score: Math.max(0, this.score), nodes };
  }

  private check(): void {
    const s = pingScore(this.units, this.last_reply_ms, performance.now(), this.deadping_ms);
    if (s === this.score) return;
    this.log("ping_score", { score: s, units: this.units.length, was: Math.max(0, this.score) });
    this.score = s;
    this.onScore(s, this.units.length);
  }

  private spawn(addr: string): void {
    if (this.closed) return;
    const v6 = addr.includes(":");
    const argv = [this.ping_bin, ...(v6 ? ["-6"] : ["-4"]), "-n", "-i", (this.interval_ms / 1000).toFixed(3), addr];
    let child: Subprocess<"ignore", "pipe", "pipe">;
    try {
      child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    } catch (e) {
      this.log("ping_error", { addr, error: `cannot run ${this.ping_bin}: ${(e as Error).message}` });
      return this.restartLater(addr);
    }
    this.children.set(addr, child);
    void this.read(addr, child.stdout);
    void new Response(child.stderr).text().then((t) => {
      if (t.trim() && !this.closed) this.log("ping_error", { addr, error: t.trim().slice(0, 300) });
    });
    void child.exited.then((code) => {
      if (this.children.get(addr) === child) this.children.delete(addr);
      if (this.closed) return;
      this.log("ping_exited", { addr, code: code ?? -1 });
      this.restartLater(addr);
    });
  }

  private restartLater(addr: string): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.spawn(addr);
    }, restart_ms);
    this.timers.add(t);
  }

  private async read(addr: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      if (buf.length > line_bytes_max) buf = buf.slice(-line_bytes_max);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (isReplyLine(line)) {
          const first = !this.last_reply_ms.has(addr);
          this.last_reply_ms.set(addr, performance.now());
          if (first) this.check(); // the first reply counts at once: boot waits on it
        }
      }
    }
  }
}
