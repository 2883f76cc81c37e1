// `tandem export pacemaker`: haresources + ha.cf -> a pcs script that builds
// the same cluster in Pacemaker, for sites that outgrow two nodes.
//
// Pure: config in, text out (the CLI in src/cli/export.ts reads the files).
// The script edits a CIB *file* (`pcs -f`), so it can be reviewed and
// checked (crm_verify -x) before `pcs cluster cib-push FILE --config`.
//
// Mapping (facts from Pacemaker 2.1 / pcs 0.11 / resource-agents):
// - haresources line -> a group (members start in order, stop in reverse,
//   run together: Heartbeat's group semantics) with `location GROUP prefers
//   NODE=100` for its preferred node.
// - IP words -> ocf:heartbeat:IPaddr2 (IPv6: ocf:heartbeat:IPv6addr);
//   Filesystem::dev::dir::fstype[::opts] -> ocf:heartbeat:Filesystem;
//   datadisk/drbddisk::r0 and ocf:linbit:drbd -> a promotable
//   ocf:linbit:drbd clone, the group colocated with its Promoted role and
//   started after the promotion; IPaddr/IPaddr2/MailTo:: -> their OCF twins;
//   init scripts -> lsb:NAME; systemd:UNIT and ocf:P:T as they are; other
//   resource.d scripts -> heartbeat:NAME with params 1=, 2= (Pacemaker's
//   deprecated heartbeat class; a comment says so).
// - auto_failback on/legacy -> resource-stickiness=0 (groups go home);
//   off -> resource-stickiness=200, above the location score 100 (they stay).
// - `# tandem: monitor` -> op monitor interval/timeout; interval 0 -> none.
// - fence lines -> stonith devices with pcmk_host_list; stonith/stonith_host
//   -> cluster-glue devices (Pacemaker runs them as stonith:TYPE); manual ->
//   no device, `stonith_admin --confirm NODE` is the equivalent of
//   `tandem fence-confirm NODE`; fence_timeout -> stonith-timeout;
//   fence_delay -> priority-fencing-delay (the node running more resources
//   wins a fence race: tandem's split-brain rule).
// - two nodes -> `pcs cluster setup` writes corosync's two_node: 1 itself;
//   wait_for_all off -> quorum wait_for_all=0; no_quorum_policy freeze ->
//   no-quorum-policy=freeze (stop is Pacemaker's default; votequorum counts
//   one vote a node, as tandem's `quorum auto`).
import type { FenceDeviceSpec, HaConfig, HaResources, ResourceGroup, ResourceSpec } from "../config/types.ts";

export interface ExportInput {
  hacf: HaConfig;
  haresources: HaResources | null;
  /** where the files were read, for the script's header */
  dir: string;
  /** cluster-glue device type -> its parameter names in order (`stonith -t TYPE -n`),
   *  to turn Heartbeat's positional stonith parameters into name=value; absent: unknown */
  stonith_params?: (type: string) => string[] | null;
  /** Heartbeat's `stonith TYPE FILE`: the file's words (cluster-glue -F), or null when unreadable */
  read_stonith_file?: (path: string) => string[] | null;
}

export interface ExportResult {
  script: string;
  /** things the script could not carry over, also written as comments in it */
  warnings: string[];
  /** what the script creates, for tests and the CLI's summary */
  groups: { id: string; node: string; members: { id: string; agent: string }[] }[];
  stonith: { id: string; agent: string; target: string }[];
}

/** Location score of a group's preferred node; stickiness above it keeps groups where they run. */
export const location_score = 100;
export const stickiness_off = 200;

/** shell-quote one word (single quotes unless it is plainly safe). */
export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A Pacemaker id: XML NCName-like, not starting with a digit. */
export function pcmkId(raw: string): string {
  let id = raw.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^_+|_+$/g, "");
  if (id === "" || !/^[A-Za-z_]/.test(id)) id = `r_${id}`;
  return id.slice(0, 64);
}

class Ids {
  private used = new Set<string>();
  take(raw: string): string {
    const base = pcmkId(raw);
    let id = base;
    for (let i = 2; this.used.has(id); i++) id = `${base}-${i}`;
    this.used.add(id);
    return id;
  }
}

interface Primitive {
  id: string;
  agent: string;
  params: [string, string][];
  comment?: string;
}

interface Drbd {
  id: string;
  resource: string;
}

function secs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** One haresources resource -> a primitive, or a DRBD clone the group depends on. */
function mapResource(r: ResourceSpec, ids: Ids, warnings: string[]): Primitive | Drbd {
  const name = r.name;
  const args = r.args;
  if (r.kind === "ip" && r.ip) {
    const ip = r.ip;
    const params: [string, string][] = [];
    if (ip.family === 6) {
      params.push(["ipv6addr", ip.address]);
      if (ip.prefixlen !== null) params.push(["cidr_netmask", String(ip.prefixlen)]);
      if (ip.ifname !== null) params.push(["nic", ip.ifname]);
      return { id: ids.take(`ip-${ip.address}`), agent: "ocf:heartbeat:IPv6addr", params };
    }
    params.push(["ip", ip.address]);
    if (ip.prefixlen !== null) params.push(["cidr_netmask", String(ip.prefixlen)]);
    if (ip.ifname !== null) params.push(["nic", ip.ifname]);
    if (ip.label !== null) params.push(["iflabel", ip.label]);
    if (ip.broadcast !== null) params.push(["broadcast", ip.broadcast]);
    return { id: ids.take(`ip-${ip.address}`), agent: "ocf:heartbeat:IPaddr2", params };
  }
  if (name === "datadisk" || name === "drbddisk" || name === "ocf:linbit:drbd") {
    const resource = name === "ocf:linbit:drbd" ? (r.params?.drbd_resource ?? kv(args).get("drbd_resource") ?? "") : (args[0] ?? "");
    return { id: ids.take(`drbd-${resource}`), resource };
  }
  if (name === "Filesystem" && r.kind === "heartbeat") {
    const [device = "", directory = "", fstype = "", options] = args;
    const params: [string, string][] = [["device", device], ["directory", directory], ["fstype", fstype]];
    if (options !== undefined && options !== "") params.push(["options", options]);
    return { id: ids.take(`fs-${directory.split("/").filter(Boolean).join("-") || "root"}`), agent: "ocf:heartbeat:Filesystem", params };
  }
  if (name === "MailTo" && r.kind === "heartbeat") {
    const params: [string, string][] = [["email", args[0] ?? "root"]];
    if (args[1] !== undefined) params.push(["subject", args[1]]);
    return { id: ids.take("mailto"), agent: "ocf:heartbeat:MailTo", params };
  }
  switch (r.kind) {
    case "ocf": {
      const params = Object.entries(r.params ?? Object.fromEntries(kv(args)));
      const type = name.split(":")[2] ?? name;
      return { id: ids.take(type.toLowerCase()), agent: name, params };
    }
    case "systemd": {
      const unit = name.slice("systemd:".length);
      return { id: ids.take(unit.replace(/\.service$/, "")), agent: `systemd:${unit}`, params: [] };
    }
    case "lsb":
      if (args.length > 0) warnings.push(`${r.raw}: LSB scripts take no arguments in Pacemaker; ${args.join("::")} dropped`);
      return { id: ids.take(name), agent: `lsb:${name}`, params: [] };
    default: {
      const msg = `${r.raw}: a Heartbeat resource.d script; Pacemaker runs it with the deprecated heartbeat class (heartbeat:${name}, arguments as 1=, 2=): an OCF agent is better`;
      warnings.push(msg);
      return { id: ids.take(name), agent: `heartbeat:${name}`, params: args.map((a, i) => [String(i + 1), a] as [string, string]), comment: msg };
    }
  }
}

function kv(args: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of args) {
    const eq = a.indexOf("=");
    if (eq > 0) m.set(a.slice(0, eq), a.slice(eq + 1));
  }
  return m;
}

function pcsParams(params: [string, string][]): string {
  return params.map(([k, v]) => ` ${shq(`${k}=${v}`)}`).join("");
}

/** fence lines and Heartbeat's stonith directives -> pcs stonith create lines. */
function fencing(input: ExportInput, ids: Ids, out: string[], warnings: string[], created: ExportResult["stonith"]): void {
  const cfg = input.hacf;
  const emit = (raw_id: string, agent: string, params: [string, string][], targets: string[], note: string, extra: string[] = []): void => {
    const id = ids.take(raw_id);
    out.push(`# ${note}`);
    out.push(`pcs -f "$CIB" stonith create $PCS_FORCE ${id} ${shq(agent)}${pcsParams([...params, ["pcmk_host_list", targets.join(",")]])}${extra.map((e) => ` ${shq(e)}`).join("")}`);
    for (const t of targets) created.push({ id, agent, target: t });
    // A device never runs on the node it fences (it could not report back).
    if (targets.length === 1) out.push(`pcs -f "$CIB" constraint location ${id} avoids ${shq(targets[0]!)}`);
  };
  for (const f of cfg.fence_devices) fenceLine(f, emit, out, warnings);
  const positional = (type: string, words: string[], line: number): [string, string][] | null => {
    const names = input.stonith_params?.(type) ?? null;
    if (names === null || names.length === 0) {
      warnings.push(`ha.cf line ${line}: stonith type ${type}: its parameter names are unknown here (\`stonith -t ${type} -n\` lists them): fill them in by hand`);
      return null;
    }
    // cluster-glue reads the words in order; the last parameter takes the
    // rest (rps10's serial_to_targets is "/dev/ttyS1 node2 0").
    const head = words.slice(0, names.length - 1).map((w, i) => [names[i]!, w] as [string, string]);
    const rest = words.slice(names.length - 1);
    return rest.length > 0 ? [...head, [names[names.length - 1]!, rest.join(" ")]] : head;
  };
  if (cfg.stonith) {
    const s = cfg.stonith;
    const words = input.read_stonith_file?.(s.file) ?? null;
    const params = words === null ? null : positional(s.type, words, s.line);
    if (words === null) warnings.push(`ha.cf line ${s.line}: stonith ${s.type} ${s.file}: the file cannot be read here; its values are the device's parameters in order (\`stonith -t ${s.type} -n\`): fill them in by hand`);
    if (params === null) out.push(`# FIXME (ha.cf line ${s.line}): pcs -f "$CIB" stonith create stonith-${pcmkId(s.type)} ${shq(s.type)} PARAM=VALUE... pcmk_host_list=${cfg.nodes.join(",")}`);
    else emit(`stonith-${s.type}`, s.type, params, cfg.nodes, `ha.cf line ${s.line}: stonith ${s.type} ${s.file} (cluster-glue; fences any node)`);
  }
  for (const h of cfg.stonith_hosts) {
    const params = positional(h.type, h.params, h.line);
    // Heartbeat's stonith_host FROM: the device is usable from FROM and fences the others.
    const targets = h.from_node === "*" ? cfg.nodes : cfg.nodes.filter((n) => n !== h.from_node);
    if (params === null) {
      out.push(`# FIXME (ha.cf line ${h.line}): pcs -f "$CIB" stonith create stonith-${pcmkId(h.type)} ${shq(h.type)} PARAM=VALUE... pcmk_host_list=${targets.join(",")}`);
      continue;
    }
    emit(`stonith-${h.type}-${h.from_node === "*" ? "any" : h.from_node}`, h.type, params, targets, `ha.cf line ${h.line}: stonith_host ${h.from_node} ${h.type} (cluster-glue)`);
  }
}

function fenceLine(
  f: FenceDeviceSpec,
  emit: (raw_id: string, agent: string, params: [string, string][], targets: string[], note: string, extra?: string[]) => void,
  out: string[],
  warnings: string[],
): void {
  if (f.kind === "manual") {
    const msg = `ha.cf line ${f.line}: fence ${f.target} manual: Pacemaker has no device for this; after checking ${f.target} is off, run \`stonith_admin --confirm ${f.target}\` (tandem fence-confirm)`;
    warnings.push(msg);
    out.push(`# ${msg}`);
    return;
  }
  const agent = f.kind === "fence_agent" ? f.agent.slice(f.agent.lastIndexOf("/") + 1) : f.agent;
  const extra: string[] = [];
  const params: [string, string][] = [...f.params];
  if (f.action !== undefined) params.push(["pcmk_reboot_action", f.action]);
  emit(`fence-${f.target}-${agent}`, agent, params, [f.target], `ha.cf line ${f.line}: fence ${f.target} ${f.kind === "stonith" ? `stonith ${f.agent}` : agent}`, extra);
}

export function exportPacemaker(input: ExportInput): ExportResult {
  const { hacf } = input;
  const warnings: string[] = [];
  const ids = new Ids();
  const result: ExportResult = { script: "", warnings, groups: [], stonith: [] };
  const body: string[] = [];

  const fencing_lines: string[] = [];
  fencing(input, ids, fencing_lines, warnings, result.stonith);
  const fencing_on = hacf.fence_devices.length > 0 || hacf.stonith !== null || hacf.stonith_hosts.length > 0;

  body.push("# ---- cluster options ----");
  body.push(`pcs -f "$CIB" property set stonith-enabled=${fencing_on}`);
  if (fencing_on) {
    body.push(`pcs -f "$CIB" property set stonith-timeout=${secs(hacf.fence_timeout_ms)}`);
    // tandem: the node holding fewer groups waits fence_delay; Pacemaker: the
    // node running higher-priority resources is fenced after this delay.
    body.push(`pcs -f "$CIB" property set priority-fencing-delay=${secs(hacf.fence_delay_ms)}`);
  }
  // no_quorum_policy stop is Pacemaker's default too; freeze carries over
  if (hacf.no_quorum_policy === "freeze") body.push(`pcs -f "$CIB" property set no-quorum-policy=freeze`);
  const stickiness = hacf.auto_failback === "off" ? stickiness_off : 0;
  body.push(`# auto_failback ${hacf.auto_failback}: ${stickiness === 0 ? "groups move back to their preferred node" : `stickiness ${stickiness} > location score ${location_score}: groups stay where they run`}`);
  body.push(`pcs -f "$CIB" resource defaults update resource-stickiness=${stickiness}${fencing_on ? " priority=1" : ""}`);

  const groups = input.haresources?.groups ?? [];
  for (const g of groups) body.push(...group(g, hacf, ids, warnings, result));
  if (groups.length === 0) body.push("# no haresources: a membership-only cluster, no resources");

  if (fencing_lines.length > 0) body.push("", "# ---- fencing ----", ...fencing_lines);

  const setup = clusterSetup(hacf);
  const header = [
    "#!/bin/sh",
    `# Generated by \`tandem export pacemaker --dir ${input.dir}\`: the Pacemaker equivalent of`,
    `# ${input.dir}/ha.cf and haresources. Review it; it only edits a CIB file.`,
    "#",
    "# Usage: sh THIS-SCRIPT [CIB-FILE]      (default tandem-cib.xml)",
    "#   1. corosync + pacemaker on every node, once (pcs host auth first):",
    ...setup.map((l) => `#        ${l}`),
    "#   2. sh THIS-SCRIPT cib.xml && crm_verify -V -x cib.xml",
    "#   3. pcs cluster cib-push cib.xml --config   (stop tandem on both nodes first)",
    "# pcs refuses agents not installed where the script runs: PCS_FORCE=--force",
    "# builds the CIB anyway (e.g. on a workstation); crm_verify still checks it.",
    ...(warnings.length > 0 ? ["#", "# Not carried over automatically (see the comments below):", ...warnings.map((w) => `#   - ${w}`)] : []),
    "set -eu",
    'CIB="${1:-tandem-cib.xml}"',
    'PCS_FORCE="${PCS_FORCE:-}"',
    '[ -s "$CIB" ] || pcs cluster cib "$CIB" 2>/dev/null || cibadmin --empty >"$CIB"',
    "",
  ];
  result.script = `${[...header, ...body, "", 'echo "tandem export: $CIB is ready; check it with crm_verify -V -x $CIB"'].join("\n")}\n`;
  return result;
}

function clusterSetup(hacf: HaConfig): string[] {
  const quorum = hacf.wait_for_all ? "" : " quorum wait_for_all=0";
  const lines = [`pcs cluster setup tandem ${hacf.nodes.map(shq).join(" ")}${quorum}`];
  if (hacf.nodes.length === 2) lines.push("(two nodes: pcs writes corosync's quorum { two_node: 1 }, which also sets wait_for_all)");
  const addrs = hacf.links.filter((l) => l.kind === "ucast").map((l) => (l.kind === "ucast" ? l.addr : ""));
  if (addrs.length > 0) lines.push(`(ha.cf's ucast addresses ${addrs.join(", ")}: give each node its own with NODE addr=ADDR)`);
  lines.push("pcs cluster start --all");
  return lines;
}

function group(g: ResourceGroup, hacf: HaConfig, ids: Ids, warnings: string[], result: ExportResult): string[] {
  const out: string[] = [];
  const gid = ids.take(`grp-${g.id.split("/")[0]}`); // 192.0.2.50/24/eth1 -> grp-192.0.2.50
  out.push("", `# ---- haresources line ${g.line}: ${g.preferred_node} ${g.resources.map((r) => r.raw).join(" ")} ----`);
  const monitor = g.monitor.interval_ms > 0 ? ` op monitor interval=${secs(g.monitor.interval_ms)} timeout=${secs(g.monitor.timeout_ms)}` : "";
  const members: ExportResult["groups"][number]["members"] = [];
  const drbds: Drbd[] = [];
  for (const r of g.resources) {
    const m = mapResource(r, ids, warnings);
    if ("resource" in m) {
      drbds.push(m);
      out.push(
        `pcs -f "$CIB" resource create $PCS_FORCE ${m.id} ocf:linbit:drbd drbd_resource=${shq(m.resource)} op monitor interval=29s role=Promoted op monitor interval=31s role=Unpromoted promotable promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true`,
      );
      continue;
    }
    if (m.comment) out.push(`# ${m.comment}`);
    out.push(`pcs -f "$CIB" resource create $PCS_FORCE ${m.id} ${shq(m.agent)}${pcsParams(m.params)} --no-default-ops${monitor} --group ${gid}`);
    members.push({ id: m.id, agent: m.agent });
  }
  if (members.length === 0) {
    warnings.push(`haresources line ${g.line}: only DRBD, no other resource: the group is the DRBD clone alone`);
  } else {
    out.push(`pcs -f "$CIB" constraint location ${gid} prefers ${shq(g.preferred_node)}=${location_score}`);
    for (const d of drbds) {
      // Heartbeat started datadisk (Primary) before what uses it, on the same node.
      out.push(`pcs -f "$CIB" constraint colocation add ${gid} with Promoted ${d.id}-clone INFINITY`);
      out.push(`pcs -f "$CIB" constraint order promote ${d.id}-clone then start ${gid}`);
    }
  }
  for (const d of drbds) out.push(`pcs -f "$CIB" constraint location ${d.id}-clone rule role=Promoted score=${location_score} '#uname' eq ${shq(g.preferred_node)}`);
  if (hacf.nodes.length > 0) result.groups.push({ id: gid, node: g.preferred_node, members });
  return out;
}
