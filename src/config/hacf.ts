// ha.cf: Heartbeat 3.0.6's main configuration file, read as it is.
//
// Facts from Heartbeat 3.0.6 (heartbeat/config.c, include/hb_api.h,
// lib/plugins/HBcomm/*.c, cluster-glue's cl_get_msec/cl_str_to_boolean):
// - A line is a directive name and values; '#' starts a comment anywhere;
//   CR/LF end the line. The name is split off at whitespace and is
//   case-sensitive.
// - "Option" directives (Directives[] in config.c, bcast/serial/ping media)
//   split their values at whitespace *and commas* and apply each in turn.
//   Whole-line directives (stonith, stonith_host, respawn, failfast, apiauth,
//   and the ucast/ucast6/mcast/mcast6/ping_group media) split at whitespace.
// - Defaults: keepalive 1000ms, deadtime 30000ms, warntime deadtime/2,
//   initdead = deadtime if deadtime > 10 s, else 12 s if deadtime < 6 s, else
//   2 x deadtime; deadping = deadtime; udpport 694; baud 19200;
//   auto_failback legacy (with a warning); realtime on; debug 0.
// - Rules (init_config): deadtime > 2 x keepalive; initdead >= deadtime,
//   warning below 10 s; deadping > 2 x keepalive; at least one medium; at
//   least one node; autojoin other/any conflicts with haresources (R1).
//
// The table `directives` below lists every directive Heartbeat 3.0.6 accepts.
// Each entry says whether tandem implements it now, parses it for a later
// feature (kept in `raw`), or treats it as obsolete (a warning or an error
// that says what to do).
import { arp_count_default, arp_count_max, arp_interval_ms_default, arp_interval_ms_max, reannounce_gap_ms_default } from "../agents/ipaddr.ts";

/** arp_refresh at most once a day (a larger value is a typo for seconds vs ms) */
const arp_refresh_ms_max = 86_400_000;
import { Diagnostics, type Line, quote, splitLines, splitOptions, splitWords, suggest } from "./lines.ts";
import type { FenceAction } from "../fencing/types.ts";
import type { AutoFailback, Diagnostic, FenceDeviceSpec, HaConfig, LinkSpec } from "./types.ts";
import {
  checkIface,
  checkIPv6Multicast,
  isHostName,
  isIPv4,
  isIPv4Multicast,
  isIPv6,
  type Parsed,
  parseBool,
  parseIntIn,
  parseTimeMs,
} from "./values.ts";
import { isValidNodeName } from "../wire/native.ts";

export const hacf_defaults = {
  keepalive_ms: 1000,
  deadtime_ms: 30_000,
  udpport: 694,
  baud: 19200,
} as const;

/** Heartbeat's MAXNODE. */
export const node_count_max = 100;
/** Bound on heartbeat media; Heartbeat's sysmedia[] was fixed-size too. */
export const link_count_max = 64;

type Status = "implemented" | "later" | "obsolete";
/** "options": values split at whitespace and commas; "line": at whitespace only. */
type Form = "options" | "line";

interface Ctx {
  cfg: HaConfig;
  diags: Diagnostics;
  keyword: string;
  line: number;
  /** keyword -> line it was first seen on */
  seen: Map<string, number>;
  /** line of the first medium, for "udpport must precede media" */
  first_media_line: number | null;
}

interface Directive {
  status: Status;
  form: Form;
  /** a correct line, quoted in messages */
  example: string;
  /** Heartbeat refuses a second occurrence ("multiply specified") */
  once?: boolean;
  handle(ctx: Ctx, args: string[]): void;
}

const err = (c: Ctx, message: string): void => c.diags.error(c.line, `${c.keyword}: ${message}`, c.keyword);
const warn = (c: Ctx, message: string): void => c.diags.warning(c.line, `${c.keyword}: ${message}`, c.keyword);

/** Exactly one value, else an error naming the directive's example. */
function one(c: Ctx, args: string[], example: string): string | null {
  if (args.length === 1) return args[0]!;
  if (args.length === 0) err(c, `needs a value, e.g. \`${example}\``);
  else err(c, `takes one value, got ${args.length} (${args.slice(0, 4).map(quote).join(" ")}): keep one, e.g. \`${example}\``);
  return null;
}

function value<T>(c: Ctx, p: Parsed<T>): T | null {
  if (p.ok) return p.value;
  err(c, p.message);
  return null;
}

function oneTime(c: Ctx, args: string[], example: string): number | null {
  const s = one(c, args, example);
  return s === null ? null : value(c, parseTimeMs(s));
}

function oneBool(c: Ctx, args: string[], example: string): boolean | null {
  const s = one(c, args, example);
  return s === null ? null : value(c, parseBool(s));
}

function oneInt(c: Ctx, args: string[], example: string, min: number, max: number): number | null {
  const s = one(c, args, example);
  return s === null ? null : value(c, parseIntIn(s, min, max));
}

function iface(c: Ctx, s: string): boolean {
  const problem = checkIface(s);
  if (problem) err(c, problem);
  return problem === null;
}

function addLink(c: Ctx, spec: LinkSpec): void {
  if (c.cfg.links.length >= link_count_max) {
    err(c, `more than ${link_count_max} heartbeat media: remove some`);
    return;
  }
  const twin = c.cfg.links.find((l) => linkKey(l) === linkKey(spec));
  if (twin) warn(c, `the same medium as line ${twin.line}: remove one of them`);
  else c.cfg.links.push(spec);
  c.first_media_line ??= c.line;
}

function linkKey(l: LinkSpec): string {
  return l.kind === "serial" ? `serial ${l.device}` : l.name;
}

// ---- handlers: timing ------------------------------------------------------

function keepalive(c: Ctx, args: string[]): void {
  const ms = oneTime(c, args, "keepalive 2");
  if (ms === null) return;
  if (ms < 1) return err(c, `${args[0]} rounds to 0 ms: keepalive must be at least 1ms`);
  c.cfg.keepalive_ms = ms;
}

function timeField(field: "deadtime_ms" | "warntime_ms" | "initdead_ms" | "deadping_ms", example: string, min_ms: number) {
  return (c: Ctx, args: string[]): void => {
    const ms = oneTime(c, args, example);
    if (ms === null) return;
    if (ms < min_ms) return err(c, `${args[0]} rounds to 0 ms: give a positive time, e.g. \`${example}\``);
    c.cfg[field] = ms;
  };
}

// ---- handlers: nodes --------------------------------------------------------

function node(c: Ctx, args: string[]): void {
  if (args.length === 0) return err(c, "needs at least one node name, e.g. `node alice bob` (as `uname -n` prints them)");
  for (const name of args) addNode(c, name);
}

function addNode(c: Ctx, name: string): void {
  if (!isValidNodeName(name)) {
    return err(c, `${quote(name)} is not a valid node name: use 1 to 64 of A-Z a-z 0-9 . _ - (as \`uname -n\` prints it)`);
  }
  // Heartbeat lowercased node names and compared them case-insensitively;
  // tandem keeps them as written and compares exactly, so a case-only
  // duplicate is the same node to Heartbeat and a conflict here.
  const twin = c.cfg.nodes.find((n) => n.toLowerCase() === name.toLowerCase());
  if (twin !== undefined) {
    return err(c, `node ${quote(name)} is declared twice${twin === name ? "" : ` (as ${quote(twin)}; Heartbeat ignores case in node names)`}: remove one`);
  }
  if (c.cfg.nodes.length >= node_count_max) return err(c, `more than ${node_count_max} nodes (Heartbeat's limit)`);
  c.cfg.nodes.push(name);
}

// ---- handlers: media ----------------------------------------------------------

function ucast(c: Ctx, args: string[], v6_only: boolean): void {
  const example = v6_only ? "ucast6 eth1 fe80::2" : "ucast eth1 10.0.0.2";
  if (args.length !== 2) {
    const why = args.length < 2 ? "needs an interface and the peer's IP address" : "takes one interface and one peer address; put each peer on its own line";
    return err(c, `${why}, e.g. \`${example}\``);
  }
  const [dev, addr] = args as [string, string];
  if (!iface(c, dev)) return;
  const ok = v6_only ? isIPv6(addr) : isIPv4(addr) || isIPv6(addr);
  if (!ok) {
    const want = v6_only ? "an IPv6 address" : "an IPv4 or IPv6 address";
    const hint = isHostName(addr) ? " (Heartbeat looked host names up once at startup; tandem needs the address itself)" : "";
    return err(c, `${quote(addr)} is not ${want}${hint}: write the peer's address, e.g. \`${example}\``);
  }
  addLink(c, { kind: "ucast", name: `ucast ${dev} ${addr}`, iface: dev, addr, line: c.line });
}

function bcast(c: Ctx, args: string[]): void {
  if (args.length === 0) return err(c, "needs an interface, e.g. `bcast eth1`");
  for (const dev of args) {
    if (iface(c, dev)) addLink(c, { kind: "bcast", name: `bcast ${dev}`, iface: dev, line: c.line });
  }
}

function mcast(c: Ctx, args: string[]): void {
  if (args.length !== 5) return err(c, "needs 5 values: `mcast IFACE GROUP PORT TTL LOOP`, e.g. `mcast eth1 239.0.0.1 694 1 0`");
  const [dev, group, port_s, ttl_s, loop_s] = args as [string, string, string, string, string];
  if (!iface(c, dev)) return;
  if (!isIPv4Multicast(group)) return err(c, `${quote(group)} is not an IPv4 multicast group (224.0.0.0 to 239.255.255.255)`);
  const port = value(c, parseIntIn(port_s, 1, 65535));
  // The ha.cf sample says 0-255 but the plugin (mcast.c) refuses ttl > 4.
  const ttl = value(c, parseIntIn(ttl_s, 0, 4));
  const loop = value(c, parseIntIn(loop_s, 0, 1));
  if (port === null || ttl === null || loop === null) return;
  if (ttl === 0) warn(c, "ttl 0 keeps heartbeats on this host: use 1 for peers on the same LAN");
  addLink(c, { kind: "mcast", name: `mcast ${dev} ${group} ${port}`, iface: dev, group, port, ttl, loop: loop === 1, line: c.line });
}

function mcast6(c: Ctx, args: string[]): void {
  if (args.length !== 5) return err(c, "needs 5 values: `mcast6 IFACE GROUP PORT HOPS LOOP`, e.g. `mcast6 eth1 ff02::694 694 1 0`");
  const [dev, group, port_s, hops_s, loop_s] = args as [string, string, string, string, string];
  if (!iface(c, dev)) return;
  const problem = checkIPv6Multicast(group);
  if (problem) return err(c, problem);
  const port = value(c, parseIntIn(port_s, 1, 65535));
  const hops = value(c, parseIntIn(hops_s, 0, 4)); // mcast6.c: hops > 4 is refused
  const loop = value(c, parseIntIn(loop_s, 0, 1));
  if (port === null || hops === null || loop === null) return;
  addLink(c, { kind: "mcast6", name: `mcast6 ${dev} ${group} ${port}`, iface: dev, group, port, hops, loop: loop === 1, line: c.line });
}

function serial(c: Ctx, args: string[]): void {
  if (args.length === 0) return err(c, "needs a device, e.g. `serial /dev/ttyS0`");
  for (const device of args) {
    if (!device.startsWith("/")) {
      err(c, `${quote(device)} is not a full path: write e.g. \`serial /dev/ttyS0\``);
      continue;
    }
    addLink(c, { kind: "serial", name: `serial ${device}`, device, line: c.line });
  }
}

function ping(c: Ctx, args: string[], v6_only: boolean): void {
  if (args.length === 0) return err(c, `needs an address, e.g. \`${v6_only ? "ping6 fe80::1" : "ping 10.0.0.254"}\``);
  for (const host of args) {
    const ok = v6_only ? isIPv6(host) : isIPv4(host) || isHostName(host);
    if (!ok) {
      err(c, `${quote(host)} is not ${v6_only ? "an IPv6 address" : "an IPv4 address or host name"} (a comment needs a \`#\`)`);
      continue;
    }
    if (!v6_only) c.cfg.ping_nodes.push(host);
  }
}

function pingGroup(c: Ctx, args: string[]): void {
  if (args.length < 2) return err(c, "needs a group name and at least one address, e.g. `ping_group gw 10.0.0.253 10.0.0.254`");
  const [name, ...addrs] = args as [string, ...string[]];
  const bad_addr = addrs.find((a) => !(isIPv4(a) || isHostName(a)));
  if (bad_addr !== undefined) return err(c, `${quote(bad_addr)} is not an IPv4 address or host name`);
  if (c.cfg.ping_groups.some((g) => g.name === name)) return err(c, `group ${quote(name)} is defined twice: merge the lines`);
  c.cfg.ping_groups.push({ name, addrs, line: c.line });
}

function unsupportedMedium(what: string) {
  return (c: Ctx): void => err(c, `the ${what} medium is not supported by tandem: use \`ucast\`, \`bcast\` or \`mcast\``);
}

// ---- handlers: logging, process -----------------------------------------------

const syslog_facilities = [
  "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user", "uucp",
  "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7", "none",
];

function logfacility(c: Ctx, args: string[]): void {
  const s = one(c, args, "logfacility local0");
  if (s === null) return;
  if (!syslog_facilities.includes(s)) {
    const near = suggest(s, syslog_facilities);
    return err(c, `${quote(s)} is not a syslog facility${near ? `; did you mean \`${near}\`?` : ""} (use one of ${syslog_facilities.join(", ")})`);
  }
  c.cfg.logfacility = s === "none" ? null : s;
}

/** tandem's own `metrics_listen ADDRESS:PORT` (IPv6 as `[::1]:9464`): the Prometheus listener, off unless given. */
function metricsListen(c: Ctx, args: string[]): void {
  const ex = "metrics_listen 127.0.0.1:9464";
  const s = one(c, args, ex);
  if (s === null) return;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
  if (!m) return err(c, `${quote(s)} is not ADDRESS:PORT: write e.g. \`${ex}\` or \`metrics_listen [::1]:9464\` (an address, not a host name)`);
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (m[1] !== undefined ? !isIPv6(host) : !isIPv4(host)) return err(c, `${quote(host)} is not an IP${m[1] !== undefined ? "v6" : "v4"} address: write e.g. \`${ex}\``);
  if (port < 1 || port > 65535) return err(c, `port ${port} is out of range 1..65535: write e.g. \`${ex}\``);
  if (host === "0.0.0.0" || host === "::") warn(c, `${quote(host)} serves metrics on every interface, heartbeat links included: prefer a management or loopback address`);
  c.cfg.metrics_listen = { host, port, line: c.line };
}

function pathField(field: "logfile" | "debugfile" | "watchdog", example: string) {
  return (c: Ctx, args: string[]): void => {
    const s = one(c, args, example);
    if (s === null) return;
    if (!s.startsWith("/")) return err(c, `${quote(s)} is not a full path: write e.g. \`${example}\``);
    c.cfg[field] = s;
  };
}

/** Heartbeat API clients: they need Heartbeat's client library and socket, which tandem does not offer. */
const api_clients = ["ipfail", "ccm", "cib", "crmd", "attrd", "stonithd", "lrmd", "pengine", "pingd", "mgmtd", "hbagent", "dopd", "cl_status"];

function respawn(c: Ctx, args: string[]): void {
  if (args.length < 2) return err(c, "needs a user and a full command path, e.g. `respawn hacluster /usr/local/bin/mymonitor`");
  const [user, command, ...rest] = args as [string, string, ...string[]];
  if (!command.startsWith("/")) return err(c, `command ${quote(command)} is not a full path: Heartbeat and tandem both need one`);
  const base = command.slice(command.lastIndexOf("/") + 1);
  // Heartbeat's ipfail moved groups to the node that reaches more ping nodes;
  // tandem does that itself whenever ping nodes are configured (complete()
  // warns when there are none).
  if (base === "ipfail") return;
  if (api_clients.includes(base)) {
    return warn(c, `${base} is a Heartbeat API client and cannot run under tandem (no Heartbeat client API): remove this line; it is ignored`);
  }
  c.cfg.respawn.push({ user, command: [command, ...rest].join(" "), line: c.line });
}

function stonith(c: Ctx, args: string[]): void {
  if (args.length < 2) return err(c, "needs a device type and its configuration file, e.g. `stonith baytech /etc/ha.d/conf/stonith.baytech`");
  const [type, ...file] = args as [string, ...string[]];
  if (c.cfg.stonith) warn(c, `replaces the stonith device of line ${c.cfg.stonith.line} (Heartbeat keeps only the last)`);
  c.cfg.stonith = { type, file: file.join(" "), line: c.line };
}

function stonithHost(c: Ctx, args: string[]): void {
  if (args.length < 2) return err(c, "needs the node it runs on (or *), a device type and its parameters, e.g. `stonith_host * baytech 10.0.0.3 login secret`");
  const [from_node, type, ...params] = args as [string, string, ...string[]];
  if (from_node !== "*" && !isValidNodeName(from_node)) return err(c, `${quote(from_node)} is neither \`*\` nor a node name`);
  c.cfg.stonith_hosts.push({ from_node, type, params, line: c.line });
}

// ---- handlers: fencing (tandem's own directives) --------------------------------

/** Bounds on `fence` lines: a two-node cluster has a handful. */
export const fence_devices_max = 64;
export const fence_params_max = 64;
const fence_example = "fence node2 fence_ipmilan ip=192.0.2.130 username=admin password=secret lanplus=1";
const fence_agent_re = /^fence_[A-Za-z0-9_-]{1,64}$/;
const fence_key_re = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** cluster-glue types: `apcmaster`, `external/ssh` */
export const stonith_type_re = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}(\/[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63})?$/;

/**
 * `fence NODE AGENT [key=value ...]`: how to fence NODE, tried in file order.
 * AGENT is a fence-agents program (`fence_ipmilan` or a full path to a
 * fence_* program), `manual` (wait for `tandem fence-confirm NODE`) or
 * `stonith TYPE` (cluster-glue's `stonith -t TYPE name=value ...`).
 * `action=off|reboot` pins what this device does; other pairs go to the agent.
 */
function fence(c: Ctx, args: string[]): void {
  if (args.length < 2) {
    return err(c, `needs a node and an agent, e.g. \`${fence_example}\`, \`fence node2 manual\` or \`fence node2 stonith external/ssh hostlist=node2\``);
  }
  const [target, agent_word, ...rest] = args as [string, string, ...string[]];
  if (!isValidNodeName(target)) return err(c, `${quote(target)} is not a node name: write the node to fence first, e.g. \`${fence_example}\``);
  if (c.cfg.fence_devices.length >= fence_devices_max) return err(c, `more than ${fence_devices_max} fence lines: remove some`);
  let kind: FenceDeviceSpec["kind"];
  let agent: string;
  let words: string[];
  if (agent_word === "manual" || agent_word === "meatware") {
    if (rest.length > 0) return err(c, `\`${agent_word}\` takes no parameters (an admin powers ${target} off and runs \`tandem fence-confirm ${target}\`): remove ${quote(rest[0]!)}`);
    [kind, agent, words] = ["manual", "manual", []];
  } else if (agent_word === "stonith") {
    const type = rest[0];
    if (type === undefined || type.includes("=")) return err(c, "needs a cluster-glue device type after `stonith`, e.g. `fence node2 stonith external/ssh hostlist=node2` (`stonith -L` lists the types)");
    if (!stonith_type_re.test(type)) return err(c, `${quote(type)} is not a cluster-glue device type (e.g. \`external/ssh\`, \`apcmaster\`; \`stonith -L\` lists them)`);
    [kind, agent, words] = ["stonith", type, rest.slice(1)];
  } else if (fence_agent_re.test(agent_word) || (agent_word.startsWith("/") && fence_agent_re.test(agent_word.slice(agent_word.lastIndexOf("/") + 1)))) {
    [kind, agent, words] = ["fence_agent", agent_word, rest];
  } else {
    const near = suggest(agent_word, ["manual", "stonith", "fence_ipmilan"]);
    const hint = agent_word.includes("=") ? ": the agent comes before the key=value pairs" : near ? `; did you mean \`${near}\`?` : "";
    return err(c, `${quote(agent_word)} is not a fence agent${hint} (use a fence-agents program such as \`fence_ipmilan\`, \`manual\`, or \`stonith TYPE\`), e.g. \`${fence_example}\``);
  }
  const parsed = fenceParams(c, words, kind === "stonith" ? `fence ${target} stonith ${agent} hostlist=${target}` : fence_example);
  if (parsed === null) return;
  const spec: FenceDeviceSpec = { target, kind, agent, params: parsed.params, line: c.line };
  if (parsed.action !== null) spec.action = parsed.action;
  c.cfg.fence_devices.push(spec);
}

/** key=value words; `action=` is tandem's (pins the action), the rest go to the agent in order. */
function fenceParams(c: Ctx, words: string[], example: string): { params: [string, string][]; action: FenceAction | null } | null {
  if (words.length > fence_params_max) return err(c, `more than ${fence_params_max} parameters: remove some`), null;
  const params: [string, string][] = [];
  let action: FenceAction | null = null;
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) return err(c, `${quote(w)} is not key=value: write e.g. \`${w}=1\` (\`${example}\`)`), null;
    const [key, val] = [w.slice(0, eq), w.slice(eq + 1)];
    if (!fence_key_re.test(key)) return err(c, `${quote(key)} is not a parameter name (letters, digits, _ and -; e.g. \`ip=192.0.2.130\`)`), null;
    if (key === "action") {
      if (val !== "off" && val !== "reboot") return err(c, `action=${val.slice(0, 20)}: a device can be pinned to \`action=off\` or \`action=reboot\` only (tandem asks for the action itself; leave it out)`), null;
      action = val;
      continue;
    }
    if (params.some(([k]) => k === key)) return err(c, `${quote(key)} is given twice: keep one`), null;
    params.push([key, val]);
  }
  return { params, action };
}

function fenceTime(field: "fence_timeout_ms" | "fence_delay_ms", example: string, min_ms: number) {
  return (c: Ctx, args: string[]): void => {
    const ms = oneTime(c, args, example);
    if (ms === null) return;
    if (ms < min_ms) return err(c, `${args[0]} is less than ${min_ms} ms: a fence agent needs seconds, e.g. \`${example}\``);
    c.cfg[field] = ms;
  };
}

// ---- handlers: failback, scheduling, misc ------------------------------------

function autoFailback(c: Ctx, args: string[]): void {
  const s = one(c, args, "auto_failback off");
  if (s === null) return;
  if (s.toLowerCase() === "legacy") {
    warn(c, "`legacy` is deprecated (Heartbeat warns too): use `auto_failback on` (resources move back to their home node) or `off`");
    c.cfg.auto_failback = "legacy";
    return;
  }
  const b = parseBool(s);
  if (!b.ok) return err(c, `${quote(s)} is not on, off or legacy`);
  c.cfg.auto_failback = b.value ? "on" : "off";
}

function niceFailback(c: Ctx, args: string[]): void {
  const b = oneBool(c, args, "nice_failback on");
  if (b === null) return;
  // Heartbeat: "nice_failback on" became "auto_failback off", "off" became "legacy".
  const mapped: AutoFailback = b ? "off" : "legacy";
  warn(c, `obsolete: read as \`auto_failback ${mapped}\`; replace this line with \`auto_failback ${b ? "off" : "on"}\``);
  c.cfg.auto_failback = mapped;
}

function pacemaker(c: Ctx, args: string[]): void {
  const s = one(c, args, "crm off");
  if (s === null) return;
  const b = parseBool(s);
  if (b.ok && !b.value) return; // crm off: R1 mode, what tandem runs
  const modes = ["minimal", "manual", "respawn", "ccm-only", "valgrind"];
  if (!b.ok && !modes.includes(s.toLowerCase())) return err(c, `${quote(s)} is not on/off or one of ${modes.join(", ")}`);
  err(
    c,
    `\`${c.keyword} ${s}\` hands resources to Pacemaker (CIB), but tandem runs Heartbeat R1 resources from haresources: remove the line (or write \`${c.keyword} off\`) and describe the resources in haresources; a Pacemaker cluster should stay on Pacemaker`,
  );
}

function autojoin(c: Ctx, args: string[]): void {
  const s = one(c, args, "autojoin none");
  if (s === null) return;
  const v = s.toLowerCase();
  if (v !== "none" && v !== "other" && v !== "any") return err(c, `${quote(s)} is not none, other or any`);
  c.cfg.autojoin = v;
}

/** A directive kept in `raw` for a later feature, with its value checked now. */
function later(check: (c: Ctx, args: string[]) => void): (c: Ctx, args: string[]) => void {
  return check;
}

/** An obsolete directive: value still checked, then a warning saying what to do. */
function obsolete(advice: string, check?: (c: Ctx, args: string[]) => void) {
  return (c: Ctx, args: string[]): void => {
    const before = c.diags.list.length;
    check?.(c, args);
    if (c.diags.list.length === before) warn(c, `ignored by tandem: ${advice}`);
  };
}

const boolCheck = (example: string) => (c: Ctx, args: string[]) => void oneBool(c, args, example);
const timeCheck = (example: string) => (c: Ctx, args: string[]) => void oneTime(c, args, example);
const intCheck = (example: string, min: number, max: number) => (c: Ctx, args: string[]) => void oneInt(c, args, example, min, max);
const wordCheck = (example: string, words: string[]) => (c: Ctx, args: string[]) => {
  const s = one(c, args, example);
  if (s !== null && !words.includes(s)) err(c, `${quote(s)} is not one of ${words.join(", ")}`);
};
const anyCheck = (example: string) => (c: Ctx, args: string[]) => void one(c, args, example);

const pcmk_only = "it only matters with Pacemaker (`crm on`), which tandem does not run; remove the line";

// ---- the keyword table ---------------------------------------------------------

export const directives: Record<string, Directive> = {
  // membership and timing
  node: { status: "implemented", form: "options", example: "node alice bob", handle: node },
  keepalive: { status: "implemented", form: "options", example: "keepalive 1", handle: keepalive },
  deadtime: { status: "implemented", form: "options", example: "deadtime 10", handle: timeField("deadtime_ms", "deadtime 10", 0) },
  warntime: { status: "implemented", form: "options", example: "warntime 5", handle: timeField("warntime_ms", "warntime 5", 1) },
  initdead: { status: "implemented", form: "options", example: "initdead 60", handle: timeField("initdead_ms", "initdead 60", 0) },
  deadping: { status: "implemented", form: "options", example: "deadping 30", handle: timeField("deadping_ms", "deadping 30", 0) },
  udpport: {
    status: "implemented", form: "options", example: "udpport 694",
    handle: (c, a) => {
      const port = oneInt(c, a, "udpport 694", 1, 65535);
      if (port === null) return;
      c.cfg.udpport = port;
      if (c.first_media_line !== null && port !== hacf_defaults.udpport) {
        warn(c, `comes after the medium on line ${c.first_media_line}: Heartbeat gave the media above it the default port; tandem uses ${port} for all of them; move \`udpport\` above the media lines`);
      }
    },
  },
  baud: {
    status: "implemented", form: "options", example: "baud 19200", once: true,
    handle: (c, a) => {
      const s = one(c, a, "baud 19200");
      if (s === null) return;
      const rates = [9600, 19200, 38400, 57600, 115200, 230400, 460800];
      if (!rates.includes(Number(s)) || !/^\d+$/.test(s)) return err(c, `${quote(s)} is not a supported baud rate (${rates.join(", ")})`);
      c.cfg.baud = Number(s);
      if (c.cfg.baud !== hacf_defaults.baud && c.cfg.links.some((l) => l.kind === "serial")) warn(c, "comes after a serial medium: move `baud` above the `serial` lines");
    },
  },
  // media
  ucast: { status: "implemented", form: "line", example: "ucast eth1 10.0.0.2", handle: (c, a) => ucast(c, a, false) },
  ucast6: { status: "implemented", form: "line", example: "ucast6 eth1 fe80::2", handle: (c, a) => ucast(c, a, true) },
  bcast: { status: "implemented", form: "options", example: "bcast eth1", handle: bcast },
  mcast: { status: "implemented", form: "line", example: "mcast eth1 239.0.0.1 694 1 0", handle: mcast },
  mcast6: { status: "implemented", form: "line", example: "mcast6 eth1 ff02::694 694 1 0", handle: mcast6 },
  serial: { status: "implemented", form: "options", example: "serial /dev/ttyS0", handle: serial },
  ping: { status: "implemented", form: "options", example: "ping 10.0.0.254", handle: (c, a) => ping(c, a, false) },
  ping6: { status: "later", form: "options", example: "ping6 fe80::1", handle: (c, a) => ping(c, a, true) },
  ping_group: { status: "implemented", form: "line", example: "ping_group gw 10.0.0.253 10.0.0.254", handle: pingGroup },
  hbaping: { status: "obsolete", form: "options", example: "", handle: unsupportedMedium("hbaping (Fibre Channel HBA)") },
  rds: { status: "obsolete", form: "line", example: "", handle: unsupportedMedium("rds") },
  tipc: { status: "obsolete", form: "line", example: "", handle: unsupportedMedium("tipc") },
  // resources, fencing, processes
  auto_failback: { status: "implemented", form: "options", example: "auto_failback off", handle: autoFailback },
  nice_failback: { status: "obsolete", form: "options", example: "auto_failback off", handle: niceFailback },
  stonith: { status: "implemented", form: "line", example: "stonith baytech /etc/ha.d/conf/stonith.baytech", handle: stonith },
  stonith_host: { status: "implemented", form: "line", example: "stonith_host * baytech 10.0.0.3 login secret", handle: stonithHost },
  fence: { status: "implemented", form: "line", example: fence_example, handle: fence },
  fence_timeout: { status: "implemented", form: "options", example: "fence_timeout 60", once: true, handle: fenceTime("fence_timeout_ms", "fence_timeout 60", 1000) },
  fence_delay: { status: "implemented", form: "options", example: "fence_delay 5", once: true, handle: fenceTime("fence_delay_ms", "fence_delay 5", 0) },
  wait_for_all: {
    status: "implemented", form: "options", example: "wait_for_all on", once: true,
    handle: (c, a) => {
      const b = oneBool(c, a, "wait_for_all on");
      if (b !== null) c.cfg.wait_for_all = b;
    },
  },
  quorum: {
    status: "implemented", form: "options", example: "quorum auto", once: true,
    handle: (c, a) => {
      const s = one(c, a, "quorum auto");
      if (s === null) return;
      if (s !== "auto" && s !== "on" && s !== "off") return err(c, `${quote(s)} is not auto, on or off: write e.g. \`quorum auto\` (on with 3 or more nodes)`);
      c.cfg.quorum = s;
    },
  },
  no_quorum_policy: {
    status: "implemented", form: "options", example: "no_quorum_policy stop", once: true,
    handle: (c, a) => {
      const s = one(c, a, "no_quorum_policy stop");
      if (s === null) return;
      if (s !== "stop" && s !== "freeze") return err(c, `${quote(s)} is not stop or freeze: write \`no_quorum_policy stop\` (Pacemaker's default) or \`no_quorum_policy freeze\``);
      c.cfg.no_quorum_policy = s;
    },
  },
  respawn: { status: "implemented", form: "line", example: "respawn hacluster /usr/local/bin/mymonitor", handle: respawn },
  failfast: {
    status: "later", form: "line", example: "failfast hacluster /usr/local/bin/mymonitor",
    handle: later((c, a) => {
      if (a.length < 2 || !a[1]!.startsWith("/")) err(c, "needs a user and a full command path, e.g. `failfast hacluster /usr/local/bin/mymonitor`");
    }),
  },
  env: {
    status: "later", form: "options", example: "env PATH=/usr/bin",
    handle: later((c, a) => {
      const s = one(c, a, "env NAME=value");
      if (s !== null && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(s)) err(c, `${quote(s)} is not NAME=value`);
    }),
  },
  watchdog: { status: "implemented", form: "options", example: "watchdog /dev/watchdog", once: true, handle: pathField("watchdog", "watchdog /dev/watchdog") },
  realtime: {
    status: "implemented", form: "options", example: "realtime on",
    handle: (c, a) => {
      const b = oneBool(c, a, "realtime on");
      if (b !== null) c.cfg.realtime = b;
    },
  },
  rtprio: {
    status: "implemented", form: "options", example: "rtprio 1",
    handle: (c, a) => {
      const n = oneInt(c, a, "rtprio 1", 1, 99); // sched_get_priority_{min,max}(SCHED_FIFO) on Linux
      if (n !== null) c.cfg.rtprio = n;
    },
  },
  // logging
  logfile: { status: "implemented", form: "options", example: "logfile /var/log/ha-log", handle: pathField("logfile", "logfile /var/log/ha-log") },
  debugfile: { status: "implemented", form: "options", example: "debugfile /var/log/ha-debug", handle: pathField("debugfile", "debugfile /var/log/ha-debug") },
  logfacility: { status: "implemented", form: "options", example: "logfacility local0", handle: logfacility },
  // tandem's own: Prometheus metrics on this address (off by default)
  metrics_listen: { status: "implemented", form: "options", example: "metrics_listen 127.0.0.1:9464", once: true, handle: metricsListen },
  // tandem's own: the announcement burst of the built-in floating IP
  arp_count: {
    status: "implemented", form: "options", example: "arp_count 5", once: true,
    handle: (c, a) => {
      const n = oneInt(c, a, "arp_count 5", 0, arp_count_max);
      if (n !== null) c.cfg.arp_count = n;
    },
  },
  arp_interval: {
    status: "implemented", form: "options", example: "arp_interval 200ms", once: true,
    handle: (c, a) => {
      const ms = oneTime(c, a, "arp_interval 200ms");
      if (ms === null) return;
      if (ms < 1 || ms > arp_interval_ms_max) return void err(c, `arp_interval must be 1ms..${arp_interval_ms_max / 1000}s, got ${ms} ms: write e.g. \`arp_interval 200ms\``);
      c.cfg.arp_interval_ms = ms;
    },
  },
  arp_refresh: {
    status: "implemented", form: "options", example: "arp_refresh 60", once: true,
    handle: (c, a) => {
      const ms = oneTime(c, a, "arp_refresh 60");
      if (ms === null) return;
      // below the re-announcement gap every refresh would be deferred to it
      if (ms !== 0 && (ms < reannounce_gap_ms_default || ms > arp_refresh_ms_max)) {
        return void err(c, `arp_refresh must be 0 (off) or ${reannounce_gap_ms_default / 1000}s..${arp_refresh_ms_max / 3_600_000}h, got ${ms} ms: write e.g. \`arp_refresh 60\``);
      }
      c.cfg.arp_refresh_ms = ms;
    },
  },
  debug: {
    status: "implemented", form: "options", example: "debug 1",
    handle: (c, a) => {
      const n = oneInt(c, a, "debug 1", 0, 255);
      if (n !== null) c.cfg.debug_level = n;
    },
  },
  // kept for later features
  cluster: { status: "later", form: "options", example: "cluster linux-ha", handle: later(anyCheck("cluster linux-ha")) },
  hopfudge: { status: "later", form: "options", example: "hopfudge 1", handle: later(intCheck("hopfudge 1", 0, 255)) },
  msgfmt: { status: "later", form: "options", example: "msgfmt classic", handle: later(wordCheck("msgfmt classic", ["classic", "netstring"])) },
  log_badpack: { status: "later", form: "options", example: "log_badpack on", handle: later(boolCheck("log_badpack on")) },
  syslogmsgfmt: { status: "later", form: "options", example: "syslogmsgfmt on", handle: later(boolCheck("syslogmsgfmt on")) },
  coredumps: { status: "later", form: "options", example: "coredumps on", handle: later(boolCheck("coredumps on")) },
  coreroot: { status: "later", form: "options", example: "coreroot /var/lib/heartbeat/cores", handle: later(anyCheck("coreroot /var/lib/heartbeat/cores")) },
  max_rexmit_delay: { status: "later", form: "options", example: "max_rexmit_delay 250", handle: later(intCheck("max_rexmit_delay 250", 1, 3_600_000)) },
  autojoin: { status: "implemented", form: "options", example: "autojoin none", handle: autojoin },
  // tandem's own, written `# tandem: wire heartbeat` in a file Heartbeat also reads:
  // speak Heartbeat 3.0.6's messages on every link (a mixed cluster during a migration)
  wire: {
    status: "implemented", form: "options", example: "wire heartbeat", once: true,
    handle: (c, a) => {
      const s = one(c, a, "wire heartbeat");
      if (s === null) return;
      if (s !== "native" && s !== "heartbeat") return err(c, `${quote(s)} is not native or heartbeat (\`wire heartbeat\` talks to Heartbeat 3.0.6 nodes; \`wire native\`, the default, only to tandem nodes)`);
      c.cfg.wire = s;
    },
  },
  // obsolete: Heartbeat internals tandem replaced, or Pacemaker
  crm: { status: "obsolete", form: "options", example: "crm off", once: true, handle: pacemaker },
  pacemaker: { status: "obsolete", form: "options", example: "pacemaker off", once: true, handle: pacemaker },
  crm_daemon_dir: { status: "obsolete", form: "options", example: "", handle: obsolete(pcmk_only, anyCheck("crm_daemon_dir /usr/lib/pacemaker")) },
  crmd_spawns_pengine: { status: "obsolete", form: "options", example: "", handle: obsolete(pcmk_only, boolCheck("crmd_spawns_pengine on")) },
  record_config_changes: { status: "obsolete", form: "options", example: "", handle: obsolete(pcmk_only, boolCheck("record_config_changes on")) },
  record_pengine_inputs: { status: "obsolete", form: "options", example: "", handle: obsolete(pcmk_only, boolCheck("record_pengine_inputs on")) },
  enable_config_writes: { status: "obsolete", form: "options", example: "", handle: obsolete(pcmk_only, boolCheck("enable_config_writes on")) },
  quorum_server: { status: "obsolete", form: "options", example: "", handle: obsolete("the quorum server belongs to Pacemaker's quorumd; remove the line", anyCheck("quorum_server host")) },
  apiauth: {
    status: "obsolete", form: "line", example: "",
    handle: obsolete("tandem has no Heartbeat client API (ipfail, dopd, ...), so there is nothing to authorize; remove the line"),
  },
  use_logd: { status: "obsolete", form: "options", example: "", handle: obsolete("tandem writes logfile/debugfile/syslog itself; remove the line and set `logfile` or `logfacility`", boolCheck("use_logd yes")) },
  conn_logd_time: { status: "obsolete", form: "options", example: "", handle: obsolete("there is no logging daemon to reconnect to; remove the line", timeCheck("conn_logd_time 60")) },
  use_apphbd: { status: "obsolete", form: "options", example: "", handle: obsolete("apphbd is not used; remove the line", boolCheck("use_apphbd no")) },
  hbgenmethod: { status: "obsolete", form: "options", example: "", handle: obsolete("tandem keeps its generation number in its state directory; remove the line", wordCheck("hbgenmethod file", ["file", "time"])) },
  uuidfrom: { status: "obsolete", form: "options", example: "", handle: obsolete("tandem identifies nodes by name; remove the line", wordCheck("uuidfrom file", ["file", "nodename"])) },
  compression: { status: "obsolete", form: "options", example: "", handle: obsolete("tandem's frames are small and never compressed; remove the line", anyCheck("compression zlib")) },
  compression_threshold: { status: "obsolete", form: "options", example: "", handle: obsolete("tandem never compresses; remove the line", intCheck("compression_threshold 2", 1, 1_000_000)) },
  traditional_compression: { status: "obsolete", form: "options", example: "", handle: obsolete("tandem never compresses; remove the line", boolCheck("traditional_compression off")) },
  memreserve: { status: "obsolete", form: "options", example: "", handle: obsolete("tandem sizes its own memory; remove the line", intCheck("memreserve 6500", 1, 10_000_000)) },
  normalpoll: { status: "obsolete", form: "options", example: "", handle: obsolete("poll choice is not configurable; remove the line", boolCheck("normalpoll on")) },
};

// ---- parsing -----------------------------------------------------------------------

export function emptyHaConfig(file: string): HaConfig {
  return {
    file,
    nodes: [],
    keepalive_ms: hacf_defaults.keepalive_ms,
    deadtime_ms: hacf_defaults.deadtime_ms,
    warntime_ms: 0, // resolved by complete(): deadtime / 2 unless given
    initdead_ms: 0, // resolved by complete()
    deadping_ms: 0, // resolved by complete(): deadtime unless given
    udpport: hacf_defaults.udpport,
    baud: hacf_defaults.baud,
    links: [],
    auto_failback: "legacy",
    watchdog: null,
    logfile: null,
    debugfile: null,
    logfacility: null,
    debug_level: 0,
    metrics_listen: null,
    arp_count: arp_count_default,
    arp_interval_ms: arp_interval_ms_default,
    arp_refresh_ms: 0,
    ping_nodes: [],
    ping_groups: [],
    respawn: [],
    stonith: null,
    stonith_hosts: [],
    fence_devices: [],
    fence_timeout_ms: 60_000,
    fence_delay_ms: 5_000,
    wait_for_all: true,
    quorum: "auto",
    no_quorum_policy: "stop",
    realtime: true,
    rtprio: null,
    autojoin: "none",
    wire: "native",
    raw: new Map(),
  };
}

/** Parse ha.cf text (no cross-keyword rules: see complete()). Never throws. */
export function parseHaCf(input: string | Uint8Array, file: string): { config: HaConfig; diagnostics: Diagnostic[] } {
  const diags = new Diagnostics(file);
  const cfg = emptyHaConfig(file);
  const ctx: Ctx = { cfg, diags, keyword: "", line: 0, seen: new Map(), first_media_line: null };
  for (const line of splitLines(input, diags)) parseLine(ctx, line);
  return { config: cfg, diagnostics: diags.list };
}

/** `# tandem: DIRECTIVE ...`: a directive of tandem's own that Heartbeat, reading the same file, sees as a comment. */
const tandem_comment_re = /^[ \t]*#[ \t]*tandem:(.*)$/;
/** the directives that may be written that way (Heartbeat refuses unknown directives: "Illegal directive") */
const tandem_own = new Set(["wire", "metrics_listen", "arp_count", "arp_interval", "arp_refresh"]);

function parseLine(ctx: Ctx, line: Line): void {
  let text = line.text;
  const own = tandem_comment_re.exec(text);
  if (own) {
    const word = own[1]!.trim().split(/[ \t]/)[0] ?? "";
    if (!tandem_own.has(word)) {
      ctx.line = line.number;
      ctx.diags.warning(line.number, `\`# tandem:\` lines carry only tandem's own directives (${[...tandem_own].join(", ")}), not ${quote(word)}: this line is ignored`, "tandem");
      return;
    }
    text = own[1]!;
  } else if (/^[ \t]*wire([ \t]|$)/.test(text)) {
    ctx.diags.warning(line.number, "Heartbeat 3.0.6 refuses this line (`Illegal directive [wire]`) and will not start: if Heartbeat nodes also read this file, replace this line with `# tandem: wire heartbeat`", "wire");
  }
  const hash = text.indexOf("#"); // Heartbeat cuts at the first '#', anywhere on the line
  if (hash >= 0) text = text.slice(0, hash);
  text = text.replace(/^[ \t\n\r\f]+/, "");
  const cr = text.indexOf("\r"); // and at a stray CR
  if (cr >= 0) text = text.slice(0, cr);
  if (text.trim() === "") return;
  const name_end = text.search(/[ \t\n\r\f]|$/);
  const keyword = text.slice(0, name_end);
  const rest = text.slice(name_end);
  ctx.keyword = keyword;
  ctx.line = line.number;
  const d = Object.hasOwn(directives, keyword) ? directives[keyword]! : null;
  if (!d) return unknownDirective(ctx, keyword);
  const args = d.form === "options" ? splitOptions(rest) : splitWords(rest);
  const first = ctx.seen.get(keyword);
  if (first !== undefined && d.once) return err(ctx, `given twice (first on line ${first}): Heartbeat refuses that; keep one`);
  if (first === undefined) ctx.seen.set(keyword, line.number);
  const list = ctx.cfg.raw.get(keyword) ?? [];
  list.push({ args, line: line.number });
  ctx.cfg.raw.set(keyword, list);
  d.handle(ctx, args);
}

function unknownDirective(ctx: Ctx, keyword: string): void {
  const near = keyword === "udp" ? "bcast" : suggest(keyword, Object.keys(directives));
  const hint = near ? `; did you mean \`${near}\`?` : "; see Heartbeat's ha.cf documentation for the directives";
  ctx.diags.error(ctx.line, `unknown directive ${quote(keyword)}${hint}`, keyword);
}

// ---- complete(): rules that span keywords --------------------------------------

export interface CompleteOptions {
  /** this node's name (`uname -n` or --node); checked against the node list */
  self_node?: string;
}

/** Resolve derived defaults and check cross-keyword rules. Mutates cfg. */
export function complete(cfg: HaConfig, opts: CompleteOptions = {}): Diagnostic[] {
  const diags = new Diagnostics(cfg.file);
  const given = (k: string): number | null => cfg.raw.get(k)?.[0]?.line ?? null;
  const at = (k: string): number => lastLine(cfg, k);
  resolveDefaults(cfg, given);
  if (cfg.nodes.length === 0) diags.error(0, "no `node` lines: add `node NAME` for every cluster member, as `uname -n` prints it", "node");
  if (cfg.links.length === 0) {
    diags.error(0, "no heartbeat medium: add e.g. `ucast eth1 PEER-IP` (one per peer), `bcast eth1` or `mcast eth1 239.0.0.1 694 1 0`", "ucast");
  }
  checkTimes(cfg, diags, given, at);
  if (cfg.autojoin !== "none") {
    diags.error(at("autojoin"), `autojoin ${cfg.autojoin} conflicts with haresources (R1) resource management, as in Heartbeat: remove the line or write \`autojoin none\``, "autojoin");
  }
  if (given("auto_failback") === null && given("nice_failback") === null) {
    diags.warning(0, "no `auto_failback`: Heartbeat's default is the deprecated `legacy`; add `auto_failback on` or `auto_failback off`", "auto_failback");
  }
  for (const h of cfg.stonith_hosts) {
    if (h.from_node !== "*" && !cfg.nodes.some((n) => n.toLowerCase() === h.from_node.toLowerCase())) {
      diags.warning(h.line, `stonith_host: ${quote(h.from_node)} is not a declared node, so no node will use this device: use a \`node\` name or \`*\``, "stonith_host");
    }
  }
  // One ha.cf serves every node, so with fencing on every node must be
  // fenceable by the others: a node without a device, once dead, keeps its
  // groups down for good (they wait for a fence that never comes).
  const heartbeat_stonith = cfg.stonith !== null || cfg.stonith_hosts.length > 0;
  if (cfg.fence_devices.length > 0 && !heartbeat_stonith) {
    for (const n of cfg.nodes) {
      if (cfg.fence_devices.some((f) => f.target === n)) continue;
      diags.warning(cfg.fence_devices[0]!.line, `fencing is on but no \`fence ${n} ...\` line fences ${n}: if it dies its groups stay down until \`tandem fence-confirm ${n}\`; add a device (or \`fence ${n} manual\`)`, "fence");
    }
  }
  const ipfail = (cfg.raw.get("respawn") ?? []).find((r) => /(^|\/)ipfail$/.test(r.args[1] ?? ""));
  if (ipfail && cfg.ping_nodes.length === 0 && cfg.ping_groups.length === 0) {
    diags.warning(ipfail.line, "ipfail is built into tandem and needs ping nodes: add `ping ADDRESS` or `ping_group NAME ADDRESS...` (without them this line does nothing)", "respawn");
  }
  checkFenceTargets(cfg, diags);
  checkQuorum(cfg, diags, given, at);
  if (opts.self_node !== undefined) checkSelf(cfg, diags, opts.self_node);
  return diags.list;
}

/** `fence NODE ...`: NODE must be declared (lines for this node itself are the peer's: one file serves both). */
function checkFenceTargets(cfg: HaConfig, diags: Diagnostics): void {
  for (const f of cfg.fence_devices) {
    if (cfg.nodes.includes(f.target)) continue;
    const by_case = cfg.nodes.find((n) => n.toLowerCase() === f.target.toLowerCase());
    const fix = by_case !== undefined ? `write \`${by_case}\` as the \`node\` line spells it` : `use one of ${cfg.nodes.join(", ") || "the `node` names"} or add \`node ${f.target}\``;
    diags.error(f.line, `fence: ${quote(f.target)} is not a declared node: ${fix}`, "fence");
  }
}

/** Does this configuration act only with quorum? (`quorum auto`: with 3+ nodes) */
export function quorumRequired(cfg: Pick<HaConfig, "quorum" | "nodes">): boolean {
  return cfg.quorum === "on" || (cfg.quorum === "auto" && cfg.nodes.length >= 3);
}

function checkQuorum(cfg: HaConfig, diags: Diagnostics, given: (k: string) => number | null, at: (k: string) => number): void {
  const n = cfg.nodes.length;
  if (cfg.quorum === "on" && n === 2) {
    diags.warning(at("quorum"), "quorum on with two nodes: a survivor alone never has quorum (2 of 2 needed), so nothing fails over; use `quorum auto` (the tie-break and fence_delay decide a two-node split)", "quorum");
  } else if (cfg.quorum === "off" && n >= 3) {
    diags.warning(at("quorum"), `quorum off with ${n} nodes: a node cut off from the others fences them all and takes their groups; use \`quorum auto\``, "quorum");
  }
  if (given("no_quorum_policy") !== null && !quorumRequired(cfg)) {
    diags.warning(at("no_quorum_policy"), `no_quorum_policy has no effect: quorum is off (${n} node${n === 1 ? "" : "s"}, \`quorum ${cfg.quorum}\`)`, "no_quorum_policy");
  }
}

function lastLine(cfg: HaConfig, k: string): number {
  const l = cfg.raw.get(k);
  return l && l.length > 0 ? l[l.length - 1]!.line : 0;
}

function resolveDefaults(cfg: HaConfig, given: (k: string) => number | null): void {
  if (given("warntime") === null || cfg.warntime_ms <= 0) cfg.warntime_ms = Math.floor(cfg.deadtime_ms / 2);
  if (given("deadping") === null) cfg.deadping_ms = cfg.deadtime_ms;
  if (given("initdead") === null) {
    if (cfg.deadtime_ms > 10_000) cfg.initdead_ms = cfg.deadtime_ms;
    else cfg.initdead_ms = cfg.deadtime_ms < 6000 ? 12_000 : 2 * cfg.deadtime_ms;
  }
}

function checkTimes(cfg: HaConfig, diags: Diagnostics, given: (k: string) => number | null, at: (k: string) => number): void {
  const { keepalive_ms: ka, deadtime_ms: dead, warntime_ms: warn_ms, initdead_ms: init } = cfg;
  if (dead <= 2 * ka) {
    diags.error(at("deadtime") || at("keepalive"), `deadtime (${dead} ms) must be more than twice keepalive (${ka} ms): raise deadtime above ${2 * ka}ms or lower keepalive`, "deadtime");
  }
  if (given("warntime") !== null) {
    // Heartbeat itself does not check these; a warntime at or past deadtime
    // can never fire before the node is declared dead.
    if (warn_ms >= dead) diags.error(at("warntime"), `warntime (${warn_ms} ms) must be less than deadtime (${dead} ms): lower it, e.g. to ${Math.floor(dead / 2)}ms`, "warntime");
    else if (warn_ms <= ka) diags.warning(at("warntime"), `warntime (${warn_ms} ms) is not more than keepalive (${ka} ms): nearly every heartbeat will be logged as late; raise it, e.g. to ${Math.floor(dead / 2)}ms`, "warntime");
  }
  if (init < dead) {
    diags.error(at("initdead") || at("deadtime"), `initdead (${init} ms) is less than deadtime (${dead} ms): raise initdead to at least deadtime (2 x deadtime recommended)`, "initdead");
  } else if (given("initdead") !== null && init < 10_000) {
    diags.warning(at("initdead"), `initdead (${init} ms) may be too small: it covers the network coming up after boot; Heartbeat recommends >= deadtime and >= 10 s`, "initdead");
  } else if (given("initdead") !== null && init < 2 * dead) {
    diags.warning(at("initdead"), `initdead (${init} ms) is less than twice deadtime (${dead} ms), as the ha.cf documentation recommends`, "initdead");
  }
  if (given("deadping") !== null && cfg.deadping_ms <= 2 * ka) {
    diags.error(at("deadping"), `deadping (${cfg.deadping_ms} ms) must be more than twice keepalive (${ka} ms): raise it`, "deadping");
  }
}

function checkSelf(cfg: HaConfig, diags: Diagnostics, self: string): void {
  if (cfg.nodes.length === 0 || cfg.nodes.includes(self)) return;
  const by_case = cfg.nodes.find((n) => n.toLowerCase() === self.toLowerCase());
  if (by_case !== undefined) {
    diags.error(lastLine(cfg, "node"), `this node is ${quote(self)} but ha.cf says ${quote(by_case)}: Heartbeat ignored case in node names, tandem does not; write \`node ${self}\` or start with --node ${by_case}`, "node");
    return;
  }
  diags.error(0, `this node (${quote(self)}) is not in the node list (${cfg.nodes.join(", ")}): add \`node ${self}\` or start with --node NAME`, "node");
}

/** parseHaCf + complete; `config` is null when there are errors. */
export function checkHaCf(input: string | Uint8Array, file: string, opts: CompleteOptions = {}): { config: HaConfig | null; diagnostics: Diagnostic[] } {
  const parsed = parseHaCf(input, file);
  const diagnostics = [...parsed.diagnostics, ...complete(parsed.config, opts)];
  const failed = diagnostics.some((d) => d.severity === "error");
  return { config: failed ? null : parsed.config, diagnostics };
}
