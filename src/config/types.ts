// Data model of Heartbeat's /etc/ha.d files after parsing.
// Parsers (hacf.ts, authkeys.ts) fill these; complete() in hacf.ts applies
// cross-keyword rules. Every time value is converted to milliseconds at parse
// time so that nothing downstream ever sees Heartbeat's "2" / "500ms" forms.

import type { FenceAction } from "../fencing/types.ts";

export type Severity = "error" | "warning";

/** One problem found in a file. Printed as `file:line: severity: message`. */
export interface Diagnostic {
  file: string;
  /** 1-based; 0 when the problem is about the file as a whole (missing, mode). */
  line: number;
  severity: Severity;
  message: string;
  /** the directive the problem is about (`keepalive`, `auth`), when there is one */
  keyword?: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}: ${d.severity}: ${d.message}`;
}

/** A heartbeat medium from ha.cf. One entry per interface/device. */
export type LinkSpec =
  | { kind: "ucast"; name: string; iface: string; addr: string; line: number }
  | { kind: "bcast"; name: string; iface: string; line: number }
  | {
      kind: "mcast";
      name: string;
      iface: string;
      group: string;
      port: number;
      ttl: number;
      loop: boolean;
      line: number;
    }
  | { kind: "mcast6"; name: string; iface: string; group: string; port: number; hops: number; loop: boolean; line: number }
  | { kind: "serial"; name: string; device: string; line: number };

export type AutoFailback = "on" | "off" | "legacy";

export interface StonithHost {
  /** node that may run this device ("*" = any) */
  from_node: string;
  type: string;
  params: string[];
  line: number;
}

/** One way to fence one node, from a `fence` line of ha.cf (tandem's own
 *  directive) or derived from `stonith` / `stonith_host` (cluster-glue). */
export interface FenceDeviceSpec {
  /** node this device fences */
  target: string;
  /** "fence_agent": a fence_* program (key=value on stdin);
   *  "stonith": cluster-glue's `stonith -t TYPE`;
   *  "manual": wait for `tandem fence-confirm NODE` (meatware) */
  kind: "fence_agent" | "stonith" | "manual";
  /** program (fence_ipmilan) or cluster-glue type (external/ssh) */
  agent: string;
  /** key=value pairs, in order (for stonith: its -p parameters or -F file) */
  params: [string, string][];
  line: number;
  /** pinned by `action=off|reboot` on the fence line, or "reboot" for devices
   *  from Heartbeat's stonith/stonith_host (Heartbeat only ever reset): used
   *  whatever action the core asks for */
  action?: FenceAction;
}

export interface HaConfig {
  file: string;
  nodes: string[];
  keepalive_ms: number;
  deadtime_ms: number;
  warntime_ms: number;
  initdead_ms: number;
  /** dead time of ping nodes (`deadping`); Heartbeat's default is deadtime */
  deadping_ms: number;
  udpport: number;
  baud: number;
  links: LinkSpec[];
  auto_failback: AutoFailback;
  watchdog: string | null;
  logfile: string | null;
  debugfile: string | null;
  logfacility: string | null;
  /** 0 = off; Heartbeat's `debug N` (0..255) */
  debug_level: number;
  /** tandem's own `metrics_listen ADDR:PORT`: Prometheus text on http://ADDR:PORT/metrics; null = off */
  metrics_listen: { host: string; port: number; line: number } | null;
  /** tandem's own `arp_count N`: gratuitous ARPs / unsolicited NAs per floating IP start (IPaddr2's default 5) */
  arp_count: number;
  /** tandem's own `arp_interval T`: between them (IPaddr2's default 200 ms) */
  arp_interval_ms: number;
  /** tandem's own `arp_refresh T`: one announcement per held floating IP this often (keepalived's garp_master_refresh); 0 = off */
  arp_refresh_ms: number;
  ping_nodes: string[];
  ping_groups: { name: string; addrs: string[]; line: number }[];
  respawn: { user: string; command: string; line: number }[];
  stonith: { type: string; file: string; line: number } | null;
  stonith_hosts: StonithHost[];
  /** tandem's own `fence NODE AGENT key=value...` lines (fence-agents, manual) */
  fence_devices: FenceDeviceSpec[];
  /** one fence attempt (all devices for a node, in order) is killed after this */
  fence_timeout_ms: number;
  /** split brain: the node that does not hold the groups waits this long
   *  before fencing, so the holder wins (Pacemaker's pcmk_delay_base) */
  fence_delay_ms: number;
  /** with fencing configured, a node that booted and never saw its peer does
   *  not fence it or start groups until it has (corosync's wait_for_all);
   *  `tandem fence-confirm PEER` or `tandem takeover` overrides */
  wait_for_all: boolean;
  /** tandem's own `quorum auto|on|off`: act (start groups, fence) only in a
   *  partition holding a majority of the `node`s; auto = on with 3+ nodes
   *  (two nodes keep the tie-break and fence_delay, corosync's two_node) */
  quorum: "auto" | "on" | "off";
  /** tandem's own `no_quorum_policy stop|freeze`: without quorum, stop what
   *  runs here (Pacemaker's default) or keep it running and start nothing */
  no_quorum_policy: "stop" | "freeze";
  realtime: boolean;
  rtprio: number | null;
  /** `autojoin`; only "none" is compatible with haresources (R1) */
  autojoin: "none" | "other" | "any";
  /** tandem's own `wire native|heartbeat`: the message format on every link;
   *  heartbeat = Heartbeat 3.0.6's, to run next to Heartbeat nodes (src/wire/heartbeat.ts) */
  wire: "native" | "heartbeat";
  /** every directive seen, raw, for features of later issues: keyword -> values */
  raw: Map<string, { args: string[]; line: number }[]>;
}

export type AuthMethod = "crc" | "md5" | "sha1" | "sha256";

export interface AuthKey {
  index: number;
  method: AuthMethod;
  /** empty for crc */
  key: string;
  line: number;
}

export interface AuthKeys {
  file: string;
  /** the key used to sign outgoing packets (`auth N`) */
  active: AuthKey;
  /** every key, accepted on input (Heartbeat verifies with the index the packet names) */
  keys: Map<number, AuthKey>;
}

/** What a haresources word resolved to; `ip` resources go to the built-in IP layer. */
export type ResourceKind = "ip" | "heartbeat" | "lsb" | "ocf" | "systemd" | "drbd";

/** One resource of a group, from one haresources word (see haresources.ts). */
export interface ResourceSpec {
  kind: ResourceKind;
  /**
   * What src/agents resolveResource(name, args) takes: `IPaddr`, `IPaddr2`
   * or `IPv6addr` (a bare address becomes IPaddr, or IPv6addr for IPv6), a
   * script name, `ocf:PROVIDER:TYPE`, or `systemd:UNIT`.
   */
  name: string;
  /**
   * ip: the one ADDRESS[/NETMASK[/IFACE[/BROADCAST]]] argument (parseIpResource's input);
   * heartbeat/lsb: the `::` arguments, passed before the action; ocf: `key=value` strings; systemd: [].
   */
  args: string[];
  /** ocf only: the parameters (OCF_RESKEY_key=value) */
  params?: Record<string, string>;
  /** ip only: the parsed address */
  ip?: IpSpec;
  /** drbd only (`drbddisk::r0`, `ocf:linbit:drbd::drbd_resource=r0`): the built-in DRBD resource's name */
  drbd?: { resource: string };
  /** heartbeat, lsb, ocf: the executable found on this host (absent when not looked up) */
  path?: string;
  /** 1-based line of the word */
  line: number;
  /** the word as written */
  raw: string;
}

/** Periodic monitoring of a group's resources (`# tandem: monitor ...`). */
export interface MonitorOptions {
  /** 0 = not monitored */
  interval_ms: number;
  timeout_ms: number;
  /** line of the directive; 0 = the defaults */
  line: number;
}

/** One haresources line: resources started left to right on one node, stopped right to left. */
export interface ResourceGroup {
  /** the first resource as written: Heartbeat's name and key for the group; unique in the file */
  id: string;
  /** as ha.cf spells it */
  preferred_node: string;
  resources: ResourceSpec[];
  /** first line of the group */
  line: number;
  monitor: MonitorOptions;
}

export interface HaResources {
  file: string;
  groups: ResourceGroup[];
}

export interface LoadedConfig {
  hacf: HaConfig | null;
  authkeys: AuthKeys | null;
  /** null when DIR/haresources does not exist (a membership-only cluster) or has errors */
  haresources: HaResources | null;
  diagnostics: Diagnostic[];
}

export function hasErrors(ds: Diagnostic[]): boolean {
  return ds.some((d) => d.severity === "error");
}
