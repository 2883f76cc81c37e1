// `tandem lab`: a throw-away two-node cluster in network namespaces, driven
// through a failure story step by step: both nodes up, node2 crashes
// (SIGKILL) and node1 detects it after deadtime, node2 restarts and rejoins,
// one of the two heartbeat links is cut and the peer stays up; then the
// service: a floating IP plus a tiny web server (resource.d/labweb) held by
// node1 fails over to node2 when node1 dies, timed from a client namespace.
// Everything is removed on exit, on error and on Ctrl-C.
//
// The lab is a list of steps sharing one context; later issues append steps
// (a service and its failover) without touching the earlier ones.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { renderTable } from "../cli/status.ts";
import { LabDaemon, peerState, selfCommand, type TandemEvent, until } from "./daemons.ts";
import {
  killServer,
  ourServerPid,
  type Sample,
  startHttpProbe,
  startPingProbe,
  type WebSite,
  web_port,
  web_script,
  webServerKind,
  writeWebSite,
} from "./http_service.ts";
import { authkeys, type Cluster, createCluster, haCf, ifaceName, ipv4, sweep, unavailableReason, writeConfigDir } from "./netns.ts";

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const lab_usage = `usage: tandem lab [--keepalive-ms N] [--deadtime-ms N]
  Builds two nodes with two heartbeat links in network namespaces (192.0.2.0/24,
  2001:db8::/64, nothing routed out), runs two tandem daemons, crashes one,
  restarts it, cuts a link, then fails a floating IP and a web server over
  from node1 to node2 as seen by a client, and removes everything again.
  Needs root.
  --keepalive-ms N   heartbeat interval (default 100)
  --deadtime-ms N    declare a silent peer dead after N ms (default 500)`;

export interface LabOptions {
  keepalive_ms: number;
  deadtime_ms: number;
}

export function parseLabArgs(argv: string[]): LabOptions | { help: true } | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { "keepalive-ms": { type: "string" }, "deadtime-ms": { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return (e as Error).message;
  }
  if (values.help) return { help: true };
  const num = (name: string, dflt: number): number | string => {
    const v = values[name];
    if (v === undefined) return dflt;
    if (typeof v !== "string" || !/^\d+$/.test(v)) return `--${name} must be a whole number of milliseconds, got ${JSON.stringify(v)}`;
    return Number(v);
  };
  const keepalive = num("keepalive-ms", 100);
  if (typeof keepalive === "string") return keepalive;
  const deadtime = num("deadtime-ms", 500);
  if (typeof deadtime === "string") return deadtime;
  if (keepalive < 10 || keepalive > 10_000) return "--keepalive-ms must be between 10 and 10000";
  if (deadtime < 2 * keepalive) return "--deadtime-ms must be at least twice --keepalive-ms";
  if (deadtime > 60_000) return "--deadtime-ms must be at most 60000";
  return { keepalive_ms: keepalive, deadtime_ms: deadtime };
}

export class LabFailure extends Error {
  override name = "LabFailure";
}

export interface LabContext {
  opts: LabOptions;
  out: Out;
  cmd: string[];
  cluster: Cluster;
  nodes: Map<string, LabDaemon>;
  /** wall-clock epoch ms when the lab started */
  t0: number;
  /** lab actions, for the timeline (daemon events are added from their logs) */
  actions: { t: number; text: string }[];
  /** facts steps leave for later steps and the summary */
  facts: Record<string, string | number>;
  /** the web service's files per node (written at setup) */
  sites: Map<string, WebSite>;
}

/** the service address: host 50 on link 0, a /26 like the lab's links */
export const lab_vip = ipv4(0, 50);

export interface LabStep {
  title: string;
  run(ctx: LabContext): Promise<void>;
}

/** How long the lab waits for things the cluster should do quickly. */
function bounds(o: LabOptions) {
  return {
    start_ms: 15_000,
    membership_ms: Math.max(5_000, 2 * o.deadtime_ms + 3_000),
    detect_ms: o.deadtime_ms + Math.max(2_000, o.deadtime_ms),
    link_ms: o.deadtime_ms + Math.max(2_000, o.deadtime_ms),
  };
}

function say(ctx: LabContext, s: string): void {
  ctx.out.stdout(`${s}\n`);
}

function act(ctx: LabContext, text: string): void {
  ctx.actions.push({ t: Date.now(), text });
}

function daemon(ctx: LabContext, name: string): LabDaemon {
  const d = ctx.nodes.get(name);
  if (!d) throw new LabFailure(`no node ${name}`);
  return d;
}

async function showStatus(ctx: LabContext, name: string): Promise<void> {
  const st = await daemon(ctx, name).tryStatus(2000);
  if (!st) throw new LabFailure(`${name}: no answer on its control socket ${daemon(ctx, name).socket}`);
  for (const l of renderTable(st as Parameters<typeof renderTable>[0]).trimEnd().split("\n")) say(ctx, `    ${l}`);
}

async function waitMutualUp(ctx: LabContext, a: string, b: string, what: string): Promise<void> {
  const ms = bounds(ctx.opts).membership_ms;
  const ok = await until(async () => {
    const [sa, sb] = await Promise.all([daemon(ctx, a).tryStatus(), daemon(ctx, b).tryStatus()]);
    return peerState(sa, b)?.state === "up" && peerState(sb, a)?.state === "up";
  }, ms);
  if (!ok) throw new LabFailure(`${what}: ${a} and ${b} did not see each other up within ${ms} ms`);
}

export const steps: LabStep[] = [
  {
    title: "start two daemons",
    async run(ctx) {
      const c = ctx.cluster;
      const hacf = haCf(c, { keepalive_ms: ctx.opts.keepalive_ms, deadtime_ms: ctx.opts.deadtime_ms });
      const secret = `lab-${crypto.randomUUID()}`;
      const server = webServerKind();
      if (!server) throw new LabFailure("the web service needs busybox or python3 in /usr/sbin:/usr/bin:/sbin:/bin");
      const haresources = `# tandem: monitor interval=1s timeout=5s\nnode1 ${lab_vip}/26/${ifaceName(0)} ${web_script}\n`;
      for (const h of c.nodes) {
        const d = new LabDaemon(c, h, ctx.cmd);
        writeConfigDir(d.dir, hacf, authkeys(secret));
        writeFileSync(join(d.dir, "haresources"), haresources);
        const base = dirname(d.dir);
        ctx.sites.set(h.name, writeWebSite({ node: h.name, ha_dir: d.dir, base, rsctmp: join(d.state_dir, "rsctmp"), vip: lab_vip }));
        ctx.nodes.set(h.name, d);
      }
      say(ctx, `  ha.cf (same on both nodes):`);
      for (const l of hacf.trimEnd().split("\n")) if (!l.startsWith("#")) say(ctx, `    ${l}`);
      say(ctx, `  haresources (same on both nodes):`);
      for (const l of haresources.trimEnd().split("\n")) say(ctx, `    ${l}`);
      say(ctx, `  resource.d/${web_script}: ${server} web server on ${lab_vip}:${web_port}, a page naming the node`);
      for (const d of ctx.nodes.values()) {
        act(ctx, `start ${d.name}`);
        try {
          await d.start(bounds(ctx.opts).start_ms);
        } catch (e) {
          throw new LabFailure((e as Error).message);
        }
        say(ctx, `  ${d.name}: pid ${d.proc?.pid} in namespace ${d.host.ns}`);
      }
    },
  },
  {
    title: "wait until both nodes see each other",
    async run(ctx) {
      const t = performance.now();
      await waitMutualUp(ctx, "node1", "node2", "start-up");
      say(ctx, `  both up after ${Math.round(performance.now() - t)} ms`);
      for (const n of ["node1", "node2"]) await showStatus(ctx, n);
    },
  },
  {
    title: "crash node2 (SIGKILL: no goodbye, node1 must notice the silence)",
    async run(ctx) {
      const n1 = daemon(ctx, "node1");
      const n2 = daemon(ctx, "node2");
      const from = n1.events.length;
      const t_kill = Date.now();
      act(ctx, "SIGKILL node2");
      n2.kill("SIGKILL");
      const b = bounds(ctx.opts).detect_ms;
      const ev = await n1.waitEvent({ event: "node_dead", node: "node2" }, b, from);
      if (!ev) throw new LabFailure(`node1 did not declare node2 dead within ${b} ms of the SIGKILL (deadtime ${ctx.opts.deadtime_ms} ms)`);
      await n2.proc?.wait(2000);
      const heard = Number(ev.fields.last_heard_ms_ago);
      say(ctx, `  node1: node_dead node=node2 reason=${ev.fields.reason}`);
      say(ctx, `    last heard ${ev.fields.last_heard_ms_ago} ms before (deadtime ${ctx.opts.deadtime_ms} ms), ${ev.fields.lateness_ms} ms after the deadline`);
      say(ctx, `    ${ev.t - t_kill} ms from the SIGKILL to the log line (node2's last heartbeat left up to one keepalive before the kill)`);
      ctx.facts.detect_last_heard_ms = heard;
      ctx.facts.detect_lateness_ms = ev.fields.lateness_ms ?? "?";
      ctx.facts.detect_after_kill_ms = ev.t - t_kill;
      if (ev.fields.reason !== "deadtime") throw new LabFailure(`expected reason=deadtime, got ${ev.fields.reason}`);
      await showStatus(ctx, "node1");
    },
  },
  {
    title: "restart node2 (a new generation rejoins)",
    async run(ctx) {
      const n1 = daemon(ctx, "node1");
      const n2 = daemon(ctx, "node2");
      const from = n1.events.length;
      act(ctx, "restart node2");
      try {
        await n2.start(bounds(ctx.opts).start_ms);
      } catch (e) {
        throw new LabFailure((e as Error).message);
      }
      const b = bounds(ctx.opts).membership_ms;
      const ev = await n1.waitEvent({ event: "node_up", node: "node2" }, b, from);
      if (!ev) throw new LabFailure(`node1 did not see node2 come back within ${b} ms of its restart`);
      say(ctx, `  node1: node_up node=node2 generation=${ev.fields.generation} rejoined=${ev.fields.rejoined}`);
      if (ev.fields.rejoined !== "true") throw new LabFailure(`expected rejoined=true on node2's return, got ${ev.line}`);
      await waitMutualUp(ctx, "node1", "node2", "rejoin");
      await showStatus(ctx, "node1");
    },
  },
  {
    title: "cut link 2 of node2 (the peer must stay up on link 1)",
    async run(ctx) {
      const c = ctx.cluster;
      const n1 = daemon(ctx, "node1");
      const lname = `ucast ${c.node("node2").links[1]!.iface} ${c.node("node2").links[1]!.v4}`;
      const from = n1.events.length;
      act(ctx, "cut node2's link 2");
      await c.cut("node2", 1);
      const b = bounds(ctx.opts).link_ms;
      const ev = await n1.waitEvent({ event: "link_down", node: "node2", link: lname }, b, from);
      if (!ev) throw new LabFailure(`node1 did not report link "${lname}" down within ${b} ms of the cut`);
      say(ctx, `  node1: link_down node=node2 link="${lname}"`);
      const st = await n1.tryStatus();
      const p = peerState(st, "node2");
      if (p?.state !== "up") throw new LabFailure(`node2 should stay up with one link left, node1 says ${p?.state ?? "nothing"}`);
      const dead = n1.find({ event: "node_dead", node: "node2" }, from);
      if (dead.length > 0) throw new LabFailure(`node1 declared node2 dead although one link was still working: ${dead[0]!.line}`);
      await showStatus(ctx, "node1");
      act(ctx, "restore node2's link 2");
      const from2 = n1.events.length;
      await c.restore("node2", 1);
      const up = await n1.waitEvent({ event: "link_up", node: "node2", link: lname }, b, from2);
      if (!up) throw new LabFailure(`node1 did not report link "${lname}" up again within ${b} ms of the repair`);
      say(ctx, `  node1: link_up node=node2 link="${lname}" after the repair`);
    },
  },
  {
    title: "fail the service over: the node holding the VIP and the web server dies",
    async run(ctx) {
      const c = ctx.cluster;
      const client = c.client;
      if (!client) throw new LabFailure("the lab cluster has no client namespace");
      const url = `http://${lab_vip}:${web_port}/`;
      const ip_res = `${lab_vip}/26/${ifaceName(0)}`;

      // node1 should hold the group (its preferred node); if its start failed
      // (a loaded machine), node2 does: the lab fails over whichever holds it
      const b = bounds(ctx.opts);
      const holder = await until(async () => {
        const [s1, s2] = await Promise.all([daemon(ctx, "node1").tryStatus(), daemon(ctx, "node2").tryStatus()]);
        const g1 = s1?.groups?.[0] as { holder?: string | null } | undefined;
        const g2 = s2?.groups?.[0] as { holder?: string | null } | undefined;
        const h = g1?.holder;
        if (!h || g2?.holder !== h) return null;
        const own = (h === "node1" ? s1 : s2)?.groups?.[0] as { state?: string } | undefined;
        return own?.state === "running" ? h : null;
      }, b.start_ms);
      if (!holder) throw new LabFailure(`no node held a running group within ${b.start_ms} ms (both must agree on the holder)`);
      const survivor = holder === "node1" ? "node2" : "node1";
      if (holder !== "node1") say(ctx, `  node1 could not start the group (see its log), so ${holder} holds it`);
      const n1 = daemon(ctx, holder);
      const n2 = daemon(ctx, survivor);
      const http = startHttpProbe(c, client.ns, url);
      if (!http) throw new LabFailure("the client needs python3, curl or wget to fetch the page");
      const first = await waitSample(http.samples, (s) => s.ok, 5_000, 0);
      if (!first) throw new LabFailure(`the client could not fetch ${url} from ${holder} within 5 s: ${lastText(http.samples)}`);
      say(ctx, `  client ${client.links[0]!.v4} -> GET ${url}: "${first.text}"`);
      if (first.text !== `served by ${holder}`) throw new LabFailure(`expected the page from ${holder}, got "${first.text}"`);
      await showStatus(ctx, holder);

      const ping = startPingProbe(c, client.ns, lab_vip);
      if (!(await waitSample(ping.samples, (s) => s.ok, 3_000, 0))) throw new LabFailure(`the client gets no ping reply from ${lab_vip}`);

      // the fault: freeze node1, pull its service cable, kill it (the VIP stays
      // configured in node1's namespace, as on a crashed machine)
      const from2 = n2.events.length;
      const http_from = http.samples.length;
      const t_fault = Date.now();
      act(ctx, `SIGSTOP ${holder}, cut its link 1, SIGKILL ${holder}`);
      n1.kill("SIGSTOP");
      await c.cut(holder, 0);
      n1.kill("SIGKILL");
      const dead = await n2.waitEvent({ event: "node_dead", node: holder }, b.detect_ms, from2);
      if (!dead) throw new LabFailure(`${survivor} did not declare ${holder} dead within ${b.detect_ms} ms of the fault`);
      const take_ms = 10_000;
      const ip_ok = await n2.waitEvent({ event: "resource_ok", resource: ip_res, action: "start" }, take_ms, from2);
      if (!ip_ok) throw new LabFailure(`${survivor} did not start ${ip_res} within ${take_ms} ms: ${lastFailure(n2, from2)}`);
      const web_ok = await n2.waitEvent({ event: "resource_ok", resource: web_script, action: "start" }, take_ms, from2);
      if (!web_ok) throw new LabFailure(`${survivor} did not start ${web_script} within ${take_ms} ms: ${lastFailure(n2, from2)}`);
      const served = await waitSample(http.samples, (s) => s.ok && s.text === `served by ${survivor}`, 5_000, http_from);
      if (!served) throw new LabFailure(`the client did not get ${survivor}'s page within 5 s of its start: ${lastText(http.samples)}`);
      const pong = await waitSample(ping.samples, (s) => s.ok && s.t > t_fault, 3_000, 0);
      // echo requests between the last reply before the fault and the first after it
      const seq = (x: Sample | undefined) => Number(/icmp_seq=(\d+)/.exec(x?.text ?? "")?.[1] ?? Number.NaN);
      const lost = pong ? seq(pong) - seq(ping.samples.filter((x) => x.ok && x.t <= t_fault).at(-1)) - 1 : Number.NaN;
      await ping.proc.stop(500);
      await http.proc.stop(500);
      await n1.proc?.wait(2000);

      say(ctx, `  fault: SIGSTOP ${holder}, cut its ${ifaceName(0)} cable, SIGKILL ${holder} (deadtime ${ctx.opts.deadtime_ms} ms);`);
      say(ctx, `  times from the fault (${holder}'s last heartbeat left up to ${ctx.opts.keepalive_ms} ms before it):`);
      const rows: [number, string][] = [
        [t_fault, "fault"],
        [dead.t, `${survivor}: node_dead node=${holder} reason=${dead.fields.reason} (detection)`],
        [ip_ok.t, `${survivor}: resource_ok resource=${ip_res} action=start (takeover of the VIP, ${ip_ok.fields.ms} ms)`],
        [web_ok.t, `${survivor}: resource_ok resource=${web_script} action=start (${web_ok.fields.ms} ms)`],
        [served.t, `client: GET ${url} -> "${served.text}" (first page from ${survivor})`],
      ];
      if (pong) rows.push([pong.t, `client: first ping reply from ${lab_vip} (${Number.isNaN(lost) ? "?" : lost} echo requests unanswered, by icmp_seq; ping -i 0.01 slows down while unanswered)`]);
      rows.sort((x, y) => x[0] - y[0]);
      for (const [t, text] of rows) say(ctx, `  ${String(Math.round(t - t_fault)).padStart(6)} ms  ${text}`);
      if (!pong) say(ctx, `  client: no ping reply after the fault (within 3 s of the page)`);
      ctx.facts.svc_detect_ms = dead.t - t_fault;
      ctx.facts.svc_takeover_ms = ip_ok.t - t_fault;
      ctx.facts.svc_http_ms = served.t - t_fault;
      ctx.facts.svc_holder = holder;
      ctx.facts.svc_survivor = survivor;
      if (pong) ctx.facts.svc_ping_ms = Math.round(pong.t - t_fault);
      await showStatus(ctx, survivor);

      act(ctx, `restore ${holder}'s link 1`);
      await c.forgetNeighbours(holder); // the killed daemon's queued datagrams die with the "machine"
      await c.restore(holder, 0);
    },
  },
];

async function waitSample(samples: Sample[], pred: (s: Sample) => boolean, timeout_ms: number, from: number): Promise<Sample | null> {
  return until(() => samples.slice(from).find(pred) ?? null, timeout_ms, 10);
}

function lastText(samples: Sample[]): string {
  return samples.length === 0 ? "no answer at all" : `last: ${samples[samples.length - 1]!.text}`;
}

function lastFailure(d: LabDaemon, from: number): string {
  const f = d.events.slice(from).filter((e) => e.event === "resource_failed");
  return f.length === 0 ? "no resource_failed either" : f[f.length - 1]!.line;
}

/**
 * SIGKILL the web servers our script started that are still there: a
 * SIGKILLed daemon cannot stop its own, and a live daemon stops its own on
 * SIGTERM (`all`: after the teardown, whatever is left).
 */
function reapWebServers(ctx: LabContext, pids: Map<string, number>, all: boolean): void {
  for (const [name, site] of ctx.sites) {
    const pid = ourServerPid(site) ?? pids.get(name);
    if (pid !== undefined) pids.set(name, pid);
  }
  for (const [name, pid] of pids) {
    if (!all && ctx.nodes.get(name)?.running) continue;
    if (killServer(pid, ctx.sites.get(name)!.docroot)) say(ctx, `web server of ${name} left by its killed daemon: SIGKILL pid ${pid}`);
  }
}

const timeline_events = new Set(["started", "node_up", "node_dead", "link_up", "link_down", "leave_sent", "stopping", "fatal", "resource_ok", "resource_failed"]);

function timeline(ctx: LabContext): string[] {
  const rows: { t: number; who: string; text: string }[] = ctx.actions.map((a) => ({ t: a.t, who: "lab", text: a.text }));
  for (const d of ctx.nodes.values())
    for (const e of d.events)
      if (timeline_events.has(e.event))
        rows.push({ t: e.t, who: e.node, text: `${e.event}${Object.entries(e.fields).map(([k, v]) => ` ${k}=${v}`).join("")}` });
  rows.sort((a, b) => a.t - b.t);
  return rows.map((r) => `  ${`+${((r.t - ctx.t0) / 1000).toFixed(3)}s`.padStart(9)}  ${r.who.padEnd(6)} ${r.text}`);
}

export async function runLab(argv: string[], out: Out, o: { cmd?: string[]; steps?: LabStep[] } = {}): Promise<number> {
  const parsed = parseLabArgs(argv);
  if (typeof parsed === "string") {
    out.stderr(`tandem lab: ${parsed}\n${lab_usage}\n`);
    return 2;
  }
  if ("help" in parsed) {
    out.stdout(`${lab_usage}\n`);
    return 0;
  }
  const why = await unavailableReason();
  if (why) {
    out.stderr(`tandem lab: cannot build the lab: ${why}.\n  The lab creates network namespaces; run it as root, e.g. \`sudo tandem lab\`.\n`);
    return 1;
  }
  const stale = await sweep().catch(() => null);
  if (stale && stale.removed.length > 0) out.stdout(`removed ${stale.removed.length} namespace(s) left by a crashed earlier lab: ${stale.removed.join(" ")}\n`);

  const t0 = Date.now();
  let cluster: Cluster;
  try {
    cluster = await createCluster({
      nodes: 2,
      links: 2,
      client: true,
      on_signal: (sig) => out.stderr(`\ntandem lab: ${sig}: stopping the daemons and removing the namespaces\n`),
    });
  } catch (e) {
    out.stderr(`tandem lab: building the namespaces failed: ${(e as Error).message}\n`);
    return 1;
  }
  const ctx: LabContext = {
    opts: parsed,
    out,
    cmd: o.cmd ?? selfCommand(),
    cluster,
    nodes: new Map(),
    t0,
    actions: [],
    facts: {},
    sites: new Map(),
  };
  const list = o.steps ?? steps;
  let failed: string | null = null;
  try {
    say(ctx, `tandem lab: keepalive ${parsed.keepalive_ms} ms, deadtime ${parsed.deadtime_ms} ms`);
    say(ctx, `namespaces: ${cluster.namespaces.join(" ")}`);
    for (const h of cluster.nodes) say(ctx, `  ${h.name}: ${h.links.map((l) => `${l.iface} ${l.v4_cidr}`).join(", ")}`);
    for (const [i, s] of list.entries()) {
      say(ctx, `\n[${i + 1}/${list.length}] ${s.title}`);
      try {
        await s.run(ctx);
      } catch (e) {
        failed = `step ${i + 1} (${s.title}): ${e instanceof LabFailure ? e.message : ((e as Error)?.stack ?? String(e))}`;
        break;
      }
    }
    say(ctx, "\ntimeline (wall clock, from the lab's start):");
    for (const l of timeline(ctx)) say(ctx, l);
    if (failed) {
      out.stderr(`\ntandem lab: FAILED at ${failed}\n`);
      for (const d of ctx.nodes.values()) {
        out.stderr(`--- last output of ${d.name}:\n`);
        for (const l of d.output.slice(-10)) out.stderr(`  ${l}\n`);
      }
    } else {
      say(ctx, `\nok: node2's crash detected ${ctx.facts.detect_last_heard_ms} ms after it was last heard (deadtime ${parsed.deadtime_ms} ms, lateness ${ctx.facts.detect_lateness_ms} ms); rejoin and single-link failure handled.`);
      if (ctx.facts.svc_http_ms !== undefined)
        say(ctx, `ok: service failover: ${ctx.facts.svc_holder} died, ${ctx.facts.svc_survivor} detected it after ${ctx.facts.svc_detect_ms} ms, held the VIP after ${ctx.facts.svc_takeover_ms} ms, the client pinged it after ${ctx.facts.svc_ping_ms ?? "?"} ms and got "served by ${ctx.facts.svc_survivor}" after ${ctx.facts.svc_http_ms} ms.`);
    }
  } finally {
    // a SIGKILLed daemon leaves its web server behind; the namespace would live on with it
    const pids = new Map<string, number>();
    reapWebServers(ctx, pids, false);
    await cluster.destroy();
    reapWebServers(ctx, pids, true);
    say(ctx, "lab removed (daemons stopped, namespaces deleted)");
  }
  return failed ? 1 : 0;
}
