// `tandem lab`: a throw-away two-node cluster in network namespaces, driven
// through a failure story step by step: both nodes up, node2 crashes
// (SIGKILL) and node1 detects it after deadtime, node2 restarts and rejoins,
// one of the two heartbeat links is cut and the peer stays up. Everything
// is removed on exit, on error and on Ctrl-C.
//
// The lab is a list of steps sharing one context; later issues append steps
// (a service and its failover) without touching the earlier ones.
import { parseArgs } from "node:util";
import { renderTable } from "../cli/status.ts";
import { LabDaemon, peerState, selfCommand, type TandemEvent, until } from "./daemons.ts";
import { authkeys, type Cluster, createCluster, haCf, sweep, unavailableReason, writeConfigDir } from "./netns.ts";

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const lab_usage = `usage: tandem lab [--keepalive-ms N] [--deadtime-ms N]
  Builds two nodes with two heartbeat links in network namespaces (192.0.2.0/24,
  2001:db8::/64, nothing routed out), runs two tandem daemons, crashes one,
  restarts it, cuts a link, and removes everything again. Needs root.
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
}

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
      for (const h of c.nodes) {
        const d = new LabDaemon(c, h, ctx.cmd);
        writeConfigDir(d.dir, hacf, authkeys(secret));
        ctx.nodes.set(h.name, d);
      }
      say(ctx, `  ha.cf (same on both nodes):`);
      for (const l of hacf.trimEnd().split("\n")) if (!l.startsWith("#")) say(ctx, `    ${l}`);
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
];

const timeline_events = new Set(["started", "node_up", "node_dead", "link_up", "link_down", "leave_sent", "stopping", "fatal"]);

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
    }
  } finally {
    await cluster.destroy();
    say(ctx, "lab removed (daemons stopped, namespaces deleted)");
  }
  return failed ? 1 : 0;
}
