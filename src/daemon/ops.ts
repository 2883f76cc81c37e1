// What the admin reads: the event history (src/daemon/events.ts), the
// per-link loss counts shown by `tandem status`, and the optional
// Prometheus listener (ha.cf `metrics_listen`). The daemon feeds it log
// records, accepted frames and group-state changes; it never feeds back
// into the cluster's decisions.
import type { Server } from "bun";
import { EventLog, followers_max, isHistory, parseSince, type ClusterEvent } from "./events.ts";
import type { Logger, LogRecord } from "./log.ts";
import { type Gauge, type Labels, LinkLoss, Registry } from "./metrics.ts";
import { StreamReply } from "./control.ts";
import type { StatusV2 } from "./status_schema.ts";

/** how often the event-loop lag probe runs (metrics on only) */
export const lag_probe_ms = 100;
/** the most events one `tandem events` reply carries (the newest) */
export const events_reply_max = 20_000;

export interface OpsOptions {
  node: string;
  state_dir: string;
  log: Logger;
  metrics_listen: { host: string; port: number } | null;
}

export class Ops {
  readonly events: EventLog;
  readonly metrics = new Registry();
  readonly loss = new LinkLoss();
  private server: Server<undefined> | null = null;
  private lag_timer: ReturnType<typeof setInterval> | null = null;
  private lag_max_s = 0;
  /** node -> performance.now() of its death verdict */
  private deaths = new Map<string, number>();
  /** group -> when its takeover began (the old holder's death, or the decision) */
  private takeovers = new Map<string, number>();
  private group_states = new Map<string, string>();
  /** group name -> wall ms of its last state change seen here */
  readonly group_since = new Map<string, number>();
  status: (() => StatusV2) | null = null;
  metrics_address: string | null = null;

  constructor(private o: OpsOptions) {
    this.events = new EventLog(o.state_dir, o.node, { on_error: (msg) => o.log.event("events_write_error", { error: msg }) });
    const m = this.metrics;
    m.counter("tandem_link_heartbeats_received_total", "Heartbeats accepted from a peer on a link.");
    m.counter("tandem_link_heartbeats_lost_total", "Heartbeats a peer sent that never arrived on this link (sequence gaps).");
    m.histogram("tandem_link_heartbeat_interval_seconds", "Time between consecutive heartbeats from a peer on a link (keepalive plus jitter; a lost one doubles it).");
    m.histogram("tandem_detection_seconds", "From the last heartbeat heard to the verdict that the peer is dead (deadtime plus lateness).");
    m.histogram("tandem_takeover_seconds", "From a peer's death verdict (or the takeover decision) to the group running here.");
    m.counter("tandem_node_deaths_total", "Peers declared dead, by reason (deadtime, left, restarted).");
    m.counter("tandem_fence_total", "Fence requests finished, by result.");
    m.counter("tandem_fence_attempts_total", "Fence device runs, by device and result.");
    m.histogram("tandem_fence_duration_seconds", "Duration of one fence device run.");
    m.counter("tandem_resource_failures_total", "Failed resource agent calls, by group and action.");
    m.histogram("tandem_event_loop_lag_seconds", `How late a ${lag_probe_ms} ms timer fires (event-loop stalls delay heartbeats too).`, [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    ]);
  }

  /** Logger sink: history to disk, counters to the registry. */
  onLog(r: LogRecord): void {
    if (isHistory(r.name)) this.events.record(r.name, r.fields, r.wall_ms);
    const f = r.fields;
    const s = (k: string) => (f[k] === undefined || f[k] === null ? "" : String(f[k]));
    switch (r.name) {
      case "node_dead": {
        this.deaths.set(s("node"), performance.now());
        this.metrics.inc("tandem_node_deaths_total", { node: s("node"), reason: s("reason") });
        const ago = Number(f.last_heard_ms_ago);
        if (s("reason") === "deadtime" && f.last_heard_ms_ago !== null && Number.isFinite(ago)) {
          this.metrics.observe("tandem_detection_seconds", { node: s("node") }, ago / 1000);
        }
        break;
      }
      case "group_takeover": {
        const group = s("group");
        if (!group) break;
        const died = this.deaths.get(s("node"));
        // a death more than a minute before is not what this takeover answers
        const now = performance.now();
        this.takeovers.set(group, died !== undefined && now - died < 60_000 ? died : now);
        break;
      }
      case "fence_ok":
      case "fence_failed":
        this.metrics.inc("tandem_fence_total", { node: s("node"), result: r.name === "fence_ok" ? "ok" : "failed" });
        break;
      case "fence_attempt":
        this.metrics.inc("tandem_fence_attempts_total", { node: s("node"), device: s("device"), result: f.ok === true ? "ok" : "failed" });
        if (typeof f.duration_ms === "number") this.metrics.observe("tandem_fence_duration_seconds", { node: s("node"), device: s("device") }, f.duration_ms / 1000);
        break;
      case "resource_failed":
        this.metrics.inc("tandem_resource_failures_total", { group: s("group"), action: s("action") });
        break;
    }
  }

  /** node -> link -> labels, one object per pair (nodes and links come from ha.cf): the registry keys series by it */
  private frame_labels = new Map<string, Map<string, Labels>>();
  private frameLabels(node: string, link: string): Labels {
    let by_link = this.frame_labels.get(node);
    if (!by_link) this.frame_labels.set(node, (by_link = new Map()));
    let labels = by_link.get(link);
    if (!labels) by_link.set(link, (labels = { node, link }));
    return labels;
  }

  /** An accepted heartbeat or leave (after authentication). */
  onFrame(node: string, link: string, generation: number, seq: number, now_ms: number): void {
    const r = this.loss.frame(node, link, generation, seq, now_ms);
    const labels = this.frameLabels(node, link);
    this.metrics.inc("tandem_link_heartbeats_received_total", labels);
    this.metrics.inc("tandem_link_heartbeats_lost_total", labels, r.lost);
    if (r.interval_ms !== null) this.metrics.observe("tandem_link_heartbeat_interval_seconds", labels, r.interval_ms / 1000);
  }

  /**
   * The groups' states after placement ran: a change is logged (and so kept
   * in the history) as `group_state`; a group that reaches running after a
   * takeover gives the takeover time.
   */
  groupsChanged(groups: { name: string; state: string; holder: string | null }[]): void {
    for (const g of groups) {
      const before = this.group_states.get(g.name);
      if (before === g.state) continue;
      this.group_states.set(g.name, g.state);
      this.group_since.set(g.name, Date.now());
      if (before === undefined && g.state === "stopped") continue; // start-up, nothing happened
      this.o.log.event("group_state", { group: g.name, from: before ?? "none", to: g.state, holder: g.holder ?? "none" });
      const t0 = this.takeovers.get(g.name);
      if (t0 !== undefined && g.state === "running") {
        this.metrics.observe("tandem_takeover_seconds", { group: g.name }, (performance.now() - t0) / 1000);
        this.takeovers.delete(g.name);
      } else if (t0 !== undefined && g.state !== "starting") this.takeovers.delete(g.name);
    }
  }

  /** Control requests this module answers (`events`); undefined: not ours. */
  handleControl(req: Record<string, unknown>): unknown {
    if (req.cmd !== "events") return undefined;
    let since_ms = -Infinity;
    if (req.since !== undefined) {
      const t = typeof req.since === "string" ? parseSince(req.since) : "--since must be a string";
      if (typeof t === "string") return { ok: false, error: t };
      since_ms = t;
    }
    const limit = typeof req.limit === "number" && req.limit > 0 ? Math.min(req.limit, events_reply_max) : events_reply_max;
    const all = this.events.read().filter((e) => Date.parse(e.t) >= since_ms);
    const first = { ok: true, events: all.slice(-limit), dropped: this.events.dropped };
    if (req.follow !== true) return first;
    if (this.events.follower_count >= followers_max) return { ok: false, error: `${followers_max} followers already; stop one (tandem events --follow) and retry` };
    return new StreamReply(first, (send) => this.events.follow((e: ClusterEvent) => send({ event: e })));
  }

  /** Starts the metrics listener when configured; a failure is logged, not fatal (the cluster matters more). */
  start(): void {
    const ml = this.o.metrics_listen;
    if (!ml) return;
    let last = performance.now();
    this.lag_timer = setInterval(() => {
      const now = performance.now();
      const lag_s = Math.max(0, now - last - lag_probe_ms) / 1000;
      last = now;
      this.lag_max_s = Math.max(this.lag_max_s, lag_s);
      this.metrics.observe("tandem_event_loop_lag_seconds", {}, lag_s);
    }, lag_probe_ms);
    this.lag_timer.unref?.();
    try {
      this.server = Bun.serve({
        hostname: ml.host,
        port: ml.port,
        // scrapes are tiny; anything else is refused early
        maxRequestBodySize: 1024,
        fetch: (req) => this.serveHttp(req),
        error: () => new Response("internal error\n", { status: 500 }),
      });
      this.metrics_address = ml.host.includes(":") ? `[${ml.host}]:${this.server.port}` : `${ml.host}:${this.server.port}`;
      this.o.log.event("metrics_listening", { address: this.metrics_address, path: "/metrics" });
    } catch (e) {
      this.o.log.event("metrics_listen_failed", {
        address: `${ml.host}:${ml.port}`,
        error: (e as Error).message,
        fix: "choose a free port and an address of this host in `metrics_listen` (the daemon runs on without metrics)",
      });
    }
  }

  private serveHttp(req: Request): Response {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") return new Response("only GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
    if (url.pathname === "/metrics") {
      return new Response(this.renderMetrics(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
    }
    if (url.pathname === "/") return new Response("tandem: metrics at /metrics\n", { headers: { "content-type": "text/plain" } });
    return new Response("not found: metrics are at /metrics\n", { status: 404 });
  }

  /** The registry plus gauges read from the daemon's status now. */
  renderMetrics(): string {
    const g: Gauge[] = [];
    const st = this.status?.();
    if (st) {
      g.push({ name: "tandem_info", help: "This daemon: node name, generation, status schema.", values: [[{ node: st.node, generation: String(st.generation) }, 1]] });
      const peers = st.nodes.filter((n) => n.state !== "self");
      g.push({ name: "tandem_node_up", help: "1 when the peer is up, 0 when dead or not seen yet.", values: peers.map((n) => [{ node: n.name }, n.state === "up" ? 1 : 0]) });
      const links: [Labels, number][] = [];
      const heard: [Labels, number][] = [];
      for (const n of peers) {
        for (const l of n.links) {
          links.push([{ node: n.name, link: l.name }, l.state === "up" ? 1 : 0]);
          if (l.last_heard_ms_ago !== null) heard.push([{ node: n.name, link: l.name }, l.last_heard_ms_ago / 1000]);
        }
      }
      g.push({ name: "tandem_link_up", help: "1 when a peer's heartbeats arrive on the link.", values: links });
      g.push({ name: "tandem_link_last_heard_seconds", help: "Age of the last heartbeat from a peer on a link.", values: heard });
      g.push({
        name: "tandem_group_state",
        help: "1 for a resource group's current local state (stopped, starting, running, stopping, failed, ...).",
        values: st.groups.map((x) => [{ group: x.name, state: x.state }, 1]),
      });
      g.push({ name: "tandem_group_held_here", help: "1 when this node runs (or is starting) the group.", values: st.groups.map((x) => [{ group: x.name }, x.holder === st.node ? 1 : 0]) });
      g.push({
        name: "tandem_fence_pending",
        help: "1 while a fence of the node is wanted and not done (waiting, delayed, running or backing off).",
        values: st.fencing.map((f) => [{ node: f.node, phase: f.phase }, f.phase === "idle" ? 0 : 1]),
      });
      if (st.watchdog) g.push({ name: "tandem_watchdog_feeding", help: "1 while the watchdog device is being fed.", values: [[{ device: st.watchdog.device }, st.watchdog.feeding ? 1 : 0]] });
      g.push({ name: "tandem_events_dropped", help: "History records dropped (disk too slow or failing).", values: [[{}, this.events.dropped]] });
    }
    g.push({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", values: [[{}, process.memoryUsage.rss()]] });
    g.push({ name: "tandem_event_loop_lag_max_seconds", help: "Worst event-loop lag since start.", values: [[{}, this.lag_max_s]] });
    return this.metrics.render(g);
  }

  async close(): Promise<void> {
    if (this.lag_timer) clearInterval(this.lag_timer);
    this.server?.stop(true);
    await this.events.flushed();
  }
}
