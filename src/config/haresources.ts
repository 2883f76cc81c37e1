// haresources: Heartbeat 3.0.6's R1 resource groups, read as Heartbeat reads them.
//
// Facts from Heartbeat 3.0.6 (heartbeat/lib/ResourceManager.in, which runs
// the groups; heartbeat/config.c parse_ha_resources, which checks the file
// at startup; resources/heartbeat/IPv6addr.in; the annotated haresources
// sample):
// - ResourceManager reads the file through
//     sed -e 's%#.*%%' -e :a -e '/\\$/N; s/\\\n//; ta' ...
//   so: '#' starts a comment anywhere on a line; a line whose text (after the
//   comment is cut) ends with '\' is joined to the next physical line, the
//   '\' and the newline removed and nothing put in between (`a::b\` + `c`
//   reads `a::bc`; indent continuation lines or leave a blank before the
//   '\'); a '\' followed by blanks does not continue the line (config.c
//   agrees: it looks at the character right before the newline); the joined
//   line is NOT stripped of comments again, so a '#' on a continuation line
//   becomes resource words (tandem refuses that, see below); a blank line
//   ends a continuation. Words are separated by blanks and tabs.
// - One logical line = one resource group: the preferred node, then the
//   resources in start order (stopped in reverse). config.c refuses to start
//   when the first word is not a `node` of ha.cf ("Bad nodename"); node
//   names are compared ignoring case (awk lowercases the first word).
// - A resource is NAME or NAME::ARG1::ARG2 ('::' separates arguments, empty
//   arguments vanish in the shell's word splitting). A word that looks like
//   an IPv4 address (the shell pattern [0-9]*.[0-9]*.[0-9]*.[0-9]*) means
//   IPaddr::WORD. IPaddr's argument is ADDRESS[/NETMASK[/IFACE[/BROADCAST]]],
//   and the sample also documents ADDRESS/NETMASK/BROADCAST (a third field
//   that is an IPv4 address is the broadcast).
// - The group is named by its first resource, as written ("Taking over
//   resource group 192.168.0.200", `ResourceManager listkeys` = field 2), and
//   ResourceManager finds a group by grepping " KEY " in the whole file: the
//   first resource must be unique in the file.
// - Scripts are looked up in $HA_DIR/resource.d, then $INITDIR (-f and -x),
//   and called as `SCRIPT ARG... start|stop|status`.
// - IPv6: since every '::' separates arguments, `IPv6addr::2001:db8::10/64`
//   reaches Heartbeat's IPv6addr wrapper as two arguments and the wrapper
//   refuses them (it wants exactly ADDRESS and the action); with Heartbeat an
//   IPv6 address in haresources has to be written without '::'
//   (2001:db8:0:0:0:0:0:10). A bare IPv6 address is not an address to
//   Heartbeat at all (no dots: it would look for a script `2001:db8`).
//
// What tandem does on top (each also in the messages):
// - IP resources (IPaddr, IPaddr2, IPv6addr, a bare IPv4 or IPv6 address)
//   take the whole rest of the word as one argument, so `::` inside an IPv6
//   address works; a warning says when Heartbeat could not read the line.
// - `ocf:PROVIDER:TYPE::key=value::key=value` (an OCF agent; an argument
//   that does not start with `NAME=` continues the previous value after a
//   `::`, so `ip=2001:db8::10` works) and `systemd:UNIT`.
// - A comment on a continuation line is an error (Heartbeat would run `#`).
// - Per-group monitoring, on a comment line of its own right above the
//   group, which Heartbeat skips as a comment:
//       # tandem: monitor interval=10s timeout=20s
//       node1 192.0.2.10 httpd
//   interval=0 (or `monitor off`) turns monitoring off for the group. Times:
//   10, 10s, 500ms, 1m. Defaults: interval 10 s, timeout 20 s. Other
//   comments and blank lines may stand between the directive and its group.
//   ha.cf was not used for this: Heartbeat refuses unknown ha.cf directives.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { isBareAddress } from "../agents/resolve.ts";
import { parseIpResource } from "../agents/ipaddr.ts";
import { parseDuration } from "../agents/metadata.ts";
import { checkOcfParams, ocf_root_default } from "../agents/ocf.ts";
import { checkUnitName } from "../agents/systemd.ts";
import { parseDrbdWord } from "../agents/drbd.ts";
import { isValidNodeName } from "../wire/native.ts";
import { isExecutable } from "./host.ts";
import { Diagnostics, type Line, quote, splitLines, suggest } from "./lines.ts";
import type { Diagnostic, HaResources, MonitorOptions, ResourceGroup, ResourceSpec } from "./types.ts";

export const monitor_interval_ms_default = 10_000;
export const monitor_timeout_ms_default = 20_000;
export const monitor_interval_ms_min = 1_000;
/** Bounds so that a junk file stays cheap; Heartbeat had none. */
export const group_resources_max = 128;
export const resource_args_max = 64;

export interface HaResourcesOptions {
  /** node names from ha.cf; null: ha.cf could not be read, nodes are not checked */
  nodes: readonly string[] | null;
  /** the configuration directory: scripts are looked up in DIR/resource.d first */
  dir: string;
  /** default /etc/init.d */
  init_dir?: string;
  /** default /usr/lib/ocf */
  ocf_root?: string;
  /** false: do not look for scripts and OCF agents on this host (parse only). Default true. */
  resolve?: boolean;
}

/** Script, provider and type names: one plain path component (as src/agents/resolve.ts). */
const file_name_re = /^[A-Za-z0-9_+@][A-Za-z0-9_.+@-]{0,127}$/;
const ip_names: ReadonlySet<string> = new Set(["IPaddr", "IPaddr2", "IPv6addr"]);
const ocf_param_start_re = /^[A-Za-z_][A-Za-z0-9_]*=/;
const directive_re = /^#[ \t]*tandem:(.*)$/;
const near_directive_re = /^#[ \t]*tandem\b(?!:)/i;

interface Word {
  text: string;
  line: number;
}

interface LogicalLine {
  /** first physical line */
  line: number;
  words: Word[];
  /** the physical line before this one ended in `\` + blanks (a continuation that is not one) */
  after_broken_continuation: number | null;
}

interface PendingMonitor {
  monitor: MonitorOptions;
}

interface Ctx {
  diags: Diagnostics;
  opts: HaResourcesOptions;
  file: string;
  /** duplicate key -> where it was first seen */
  seen: Map<string, { group: number; group_id: string; line: number; raw: string }>;
  /** index of the group being parsed */
  group: number;
  /** lazily listed names in resource.d and init.d, for "did you mean" */
  script_names: string[] | null;
}

/** Parse haresources text. Never throws; every problem is a Diagnostic. */
export function parseHaResources(input: string | Uint8Array, file: string, opts: HaResourcesOptions): { resources: HaResources; diagnostics: Diagnostic[] } {
  const diags = new Diagnostics(file);
  const resources: HaResources = { file, groups: [] };
  const ctx: Ctx = { diags, opts, file, seen: new Map(), group: 0, script_names: null };
  let pending: PendingMonitor | null = null;
  for (const item of logicalLines(splitLines(input, diags), diags)) {
    if ("directive" in item) {
      const m = monitorDirective(ctx, item.directive, item.line);
      if (m === undefined) continue;
      if (pending) diags.error(pending.monitor.line, "tandem: monitor: no resource group follows before the next `# tandem: monitor` line: put each right above its group");
      pending = { monitor: m };
      continue;
    }
    const group = parseGroup(ctx, item, pending?.monitor ?? null);
    ctx.group++;
    pending = null;
    if (group) resources.groups.push(group);
  }
  if (pending) diags.error(pending.monitor.line, "tandem: monitor: no resource group follows: put it on the line right above the group it is for");
  return { resources, diagnostics: diags.list.map((d, i) => ({ d, i })).sort((a, b) => a.d.line - b.d.line || a.i - b.i).map((x) => x.d) };
}

// ---- lines -----------------------------------------------------------------

type Item = LogicalLine | { directive: string; line: number };

/** ResourceManager's sed: cut comments, join `\` lines, drop blank lines. */
function* logicalLines(lines: Line[], diags: Diagnostics): Generator<Item> {
  let broken: number | null = null;
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    const hash = first.text.indexOf("#");
    let text = hash >= 0 ? first.text.slice(0, hash) : first.text;
    if (hash >= 0) {
      const comment = first.text.slice(hash);
      const only_comment = text.trim() === "";
      if (directive_re.test(comment)) {
        if (only_comment) {
          yield { directive: directive_re.exec(comment)![1]!, line: first.number };
          continue;
        }
        diags.error(first.number, "a `# tandem:` directive must be on a comment line of its own, right above the group it is for");
      } else if (only_comment && near_directive_re.test(comment)) {
        diags.warning(first.number, "this comment looks like a tandem directive but is not one: write `# tandem: monitor ...` (with the colon)");
      }
    }
    // Segments of the logical line: [offset in joined text, physical line].
    const segments: [number, number][] = [[0, first.number]];
    let joined = text;
    while (joined.endsWith("\\")) {
      joined = joined.slice(0, -1);
      const next = lines[i + 1];
      if (next === undefined || next.number !== lines[i]!.number + 1) {
        // The last line, or the next one was dropped as unreadable.
        diags.error(lines[i]!.number, "the line ends with `\\` but no line follows: remove the `\\`");
        break;
      }
      i++;
      let cont = next.text;
      const h = cont.indexOf("#");
      if (h >= 0) {
        diags.error(next.number, "a `#` comment on a continuation line: Heartbeat's ResourceManager does not cut it and would take `#` and the words after it as resources; put the comment on its own line above the group");
        cont = cont.slice(0, h);
      }
      segments.push([joined.length, next.number]);
      joined += cont;
    }
    const this_broken = broken;
    // `\` followed by blanks: not a continuation (Heartbeat looks at the last character).
    broken = null;
    if (segments.length === 1 && /(^|[ \t])\\[ \t]+$/.test(joined)) {
      broken = first.number;
      joined = joined.replace(/\\[ \t]+$/, "");
      diags.error(first.number, "the line ends with `\\` followed by blanks, which does not continue it (Heartbeat looks at the very last character): remove the blanks after the `\\`");
    }
    const words = splitBlanks(joined, segments);
    if (words.length === 0) continue;
    yield { line: first.number, words, after_broken_continuation: this_broken };
  }
}

function splitBlanks(text: string, segments: [number, number][]): Word[] {
  const words: Word[] = [];
  const re = /[^ \t]+/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    let line = segments[0]![1];
    for (const [offset, l] of segments) if (offset <= m.index) line = l;
    words.push({ text: m[0], line });
  }
  return words;
}

// ---- the tandem: monitor directive -----------------------------------------

/** undefined: an error was reported. */
function monitorDirective(ctx: Ctx, body: string, line: number): MonitorOptions | undefined {
  const words = body.split(/[ \t]+/).filter((w) => w !== "");
  const [verb, ...rest] = words;
  const example = "`# tandem: monitor interval=10s timeout=20s`";
  if (verb !== "monitor") {
    const near = verb === undefined ? null : suggest(verb, ["monitor"]);
    ctx.diags.error(line, `tandem: ${verb === undefined ? "nothing after `tandem:`" : `unknown directive ${quote(verb)}${near ? `; did you mean \`${near}\`?` : ""}`}: the one directive is ${example}`);
    return undefined;
  }
  const m: MonitorOptions = { interval_ms: monitor_interval_ms_default, timeout_ms: monitor_timeout_ms_default, line };
  if (rest.length === 1 && rest[0] === "off") return { ...m, interval_ms: 0 };
  let ok = true;
  const given = new Set<string>();
  for (const w of rest) {
    const eq = w.indexOf("=");
    const key = eq < 0 ? w : w.slice(0, eq);
    const value = eq < 0 ? "" : w.slice(eq + 1);
    if (key !== "interval" && key !== "timeout") {
      const near = suggest(key, ["interval", "timeout"]);
      ctx.diags.error(line, `tandem: monitor: unknown option ${quote(w)}${near ? `; did you mean \`${near}=\`?` : ""}: write ${example} (or \`# tandem: monitor off\`)`);
      ok = false;
      continue;
    }
    if (given.has(key)) {
      ctx.diags.error(line, `tandem: monitor: ${key} given twice: keep one`);
      ok = false;
      continue;
    }
    given.add(key);
    if (key === "interval" && (value === "0" || value === "off")) {
      m.interval_ms = 0;
      continue;
    }
    const ms = parseDuration(value);
    if (ms === null) {
      ctx.diags.error(line, `tandem: monitor: ${key}=${quote(value)} is not a time: write e.g. \`${key}=10s\`, \`${key}=500ms\` or \`${key}=1m\`${key === "interval" ? " (`interval=0` turns monitoring off)" : ""}`);
      ok = false;
      continue;
    }
    if (key === "interval" && ms < monitor_interval_ms_min) {
      ctx.diags.error(line, `tandem: monitor: interval=${value} is below ${monitor_interval_ms_min / 1000}s: monitor less often (or \`interval=0\` for never)`);
      ok = false;
      continue;
    }
    if (key === "interval") m.interval_ms = ms;
    else m.timeout_ms = ms;
  }
  if (!ok) return undefined;
  if (rest.length === 0) ctx.diags.warning(line, `tandem: monitor: no options, so the defaults apply (interval ${monitor_interval_ms_default / 1000}s, timeout ${monitor_timeout_ms_default / 1000}s): write them, e.g. ${example}`);
  return m;
}

// ---- groups ----------------------------------------------------------------

function parseGroup(ctx: Ctx, ll: LogicalLine, monitor: MonitorOptions | null): ResourceGroup | null {
  const [node_word, ...rest] = ll.words as [Word, ...Word[]];
  const node = preferredNode(ctx, node_word, ll);
  if (rest.length === 0) {
    if (node !== null) ctx.diags.error(ll.line, `the group for node ${quote(node_word.text)} has no resources: list them after the node name, e.g. \`${node_word.text} 192.0.2.10 httpd\`, or remove the line`);
    return null;
  }
  if (rest.length > group_resources_max) {
    ctx.diags.error(ll.line, `more than ${group_resources_max} resources in one group: split it`);
    return null;
  }
  const id = rest[0]!.text;
  const resources: ResourceSpec[] = [];
  let ok = node !== null;
  for (const w of rest) {
    const r = parseResource(ctx, w);
    if (r === null) {
      ok = false;
      continue;
    }
    const key = duplicateKey(r);
    const twin = ctx.seen.get(key);
    if (twin) {
      const where = twin.group === ctx.group ? `earlier in this group (line ${twin.line})` : `in group ${quote(twin.group_id)} (line ${twin.line})`;
      ctx.diags.error(w.line, `${quote(w.text)} is the same resource as ${quote(twin.raw)} ${where}: a resource can belong to one group only; remove one`);
      ok = false;
      continue;
    }
    ctx.seen.set(key, { group: ctx.group, group_id: id, line: w.line, raw: w.text });
    resources.push(r);
  }
  if (!ok || node === null) return null;
  const mon = monitor ?? { interval_ms: monitor_interval_ms_default, timeout_ms: monitor_timeout_ms_default, line: 0 };
  return { id, preferred_node: node, resources, line: ll.line, monitor: mon };
}

function preferredNode(ctx: Ctx, w: Word, ll: LogicalLine): string | null {
  const nodes = ctx.opts.nodes;
  const broken = ll.after_broken_continuation !== null ? ` (the \`\\\` of line ${ll.after_broken_continuation} does not continue onto this line: see there)` : "";
  if (!isValidNodeName(w.text)) {
    ctx.diags.error(w.line, `${quote(w.text)} is not a node name: a group starts with the name of its preferred node (a \`node\` of ha.cf), then its resources${broken}`);
    return null;
  }
  if (nodes === null) return w.text;
  if (nodes.includes(w.text)) return w.text;
  const by_case = nodes.find((n) => n.toLowerCase() === w.text.toLowerCase());
  if (by_case !== undefined) {
    ctx.diags.warning(w.line, `node ${quote(w.text)} is written \`${by_case}\` in ha.cf: Heartbeat ignored case in node names and so does this file; write \`${by_case}\` to match`);
    return by_case;
  }
  const near = broken ? null : suggest(w.text, nodes);
  const hint = near ? `; did you mean \`${near}\`?` : nodes.length > 0 ? ` (ha.cf declares ${nodes.slice(0, 8).join(", ")})` : "";
  ctx.diags.error(w.line, `${quote(w.text)} is not a node in ha.cf${hint}: the first word of a group is its preferred node, as \`uname -n\` prints it (Heartbeat refuses this too: "Bad nodename")${broken}`);
  return null;
}

function duplicateKey(r: ResourceSpec): string {
  switch (r.kind) {
    case "ip":
      return `ip ${r.ip!.address}`;
    case "drbd":
      return `drbd ${r.drbd!.resource}`;
    case "ocf":
      return `ocf ${r.name} ${Object.entries(r.params ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(" ")}`;
    case "systemd":
      return `systemd ${r.name.slice("systemd:".length).replace(/\.service$/, "")}`;
    default:
      return `script ${r.name} ${r.args.join(" ")}`;
  }
}

// ---- resources ---------------------------------------------------------------

function parseResource(ctx: Ctx, w: Word): ResourceSpec | null {
  const err = (message: string): null => {
    ctx.diags.error(w.line, `${quote(w.text)}: ${message}`);
    return null;
  };
  const warn = (message: string): void => ctx.diags.warning(w.line, `${quote(w.text)}: ${message}`);
  const parts = w.text.split("::");
  const name = parts[0]!;
  let args = parts.slice(1);
  if (name === "") return err("no resource name before `::` (is there a blank before the `::`?): write NAME::ARG, e.g. `Filesystem::/dev/sda1::/data::ext3`");
  if (args.length > resource_args_max) return err(`more than ${resource_args_max} arguments`);

  const bare = !ip_names.has(name) && isBareAddress(name, args);
  if (ip_names.has(name) || bare) return ipResource(w, name, args, bare, err, warn);

  // Built in, like the IP: promoted over DRBD's netlink interface, no script (src/agents/drbd.ts).
  const drbd = parseDrbdWord(name, args);
  if (typeof drbd === "string") return err(drbd);
  if (drbd !== null) return { kind: "drbd", name, args, drbd, line: w.line, raw: w.text };

  if (name.startsWith("ocf:")) return ocfResource(ctx, w, name, args, err);
  if (name.startsWith("systemd:")) {
    const unit = name.slice("systemd:".length);
    try {
      checkUnitName(unit);
    } catch {
      return err(`${quote(unit)} is not a systemd unit name: write e.g. \`systemd:nginx.service\``);
    }
    if (args.length > 0) return err("systemd units take no arguments: write `systemd:UNIT` alone");
    return { kind: "systemd", name, args: [], line: w.line, raw: w.text };
  }

  if (args.some((a) => a === "")) {
    warn("an empty argument (`::::` or a trailing `::`): Heartbeat drops it and so does tandem; remove the extra `::`");
    args = args.filter((a) => a !== "");
  }
  if (!file_name_re.test(name)) {
    return err(`${quote(name)} is not a script name (letters, digits, \`_ . + @ -\`; no \`/\`): name a script of resource.d or /etc/init.d, an IP address, \`ocf:PROVIDER:TYPE\` or \`systemd:UNIT\``);
  }
  const base = { name, args, line: w.line, raw: w.text };
  if (ctx.opts.resolve === false) return { kind: "heartbeat", ...base };
  const ha_path = join(ctx.opts.dir, "resource.d", name);
  const init_path = join(ctx.opts.init_dir ?? "/etc/init.d", name);
  if (isExecutable(ha_path)) return { kind: "heartbeat", ...base, path: ha_path };
  if (isExecutable(init_path)) return { kind: "lsb", ...base, path: init_path };
  const near = suggest(name, scriptNames(ctx));
  const hint = near && near !== name ? `; did you mean \`${near}\`?` : "";
  return err(`no executable script ${ha_path} or ${init_path}${hint}: install it, fix the name or make it executable (the daemon could not start this group; check looks on this machine)`);
}

function ipResource(w: Word, name: string, args: string[], bare: boolean, err: (m: string) => null, warn: (m: string) => void): ResourceSpec | null {
  // The whole rest of the word is the one argument: `::` inside an IPv6 address is not a separator here.
  const text = bare ? w.text : args.join("::");
  if (!bare && args.length === 0) return err(`${name} needs an address: write e.g. \`${name}::${name === "IPv6addr" ? "2001:db8::10/64/eth0" : "192.0.2.10/24/eth0"}\` or just the address`);
  // Heartbeat's sample: ADDRESS/NETMASK/BROADCAST (third field an IPv4 address) = no interface given.
  const fields = text.split("/");
  const normalized = fields.length === 3 && /^\d+\.\d+\.\d+\.\d+$/.test(fields[2]!) ? `${fields[0]}/${fields[1]}//${fields[2]}` : text;
  const spec = parseIpResource([normalized]);
  if (typeof spec === "string") {
    if (!bare && args.length > 1 && /^\d+\.\d+\.\d+\.\d+$/.test(args[0]!.split("/")[0]!)) {
      return err(`${name} takes one argument ADDRESS/NETMASK/INTERFACE/BROADCAST with \`/\` between the fields, not \`::\`: write e.g. \`${name}::${args[0]!.split("/")[0]}/24/eth0\``);
    }
    return err(spec.replace(/^IP resource "[^"]*": /, ""));
  }
  const canon_name = bare ? (spec.family === 4 ? "IPaddr" : "IPv6addr") : name;
  if (name === "IPaddr" && spec.family === 6) warn("IPaddr is IPv4 only in Heartbeat: write `IPv6addr::...` if Heartbeat must still read this file");
  if (spec.family === 6 && (bare || text.includes("::"))) {
    warn(
      bare
        ? "a bare IPv6 address: tandem reads it as IPv6addr, but Heartbeat would look for a script by that name; write `IPv6addr::` with the address in full form (no `::`) if Heartbeat must still read this file"
        : "Heartbeat splits arguments at every `::`, so its IPv6addr would get the address in pieces and refuse it; tandem reads it whole. If Heartbeat must still read this file, write the address in full form (no `::`)",
    );
  }
  return { kind: "ip", name: canon_name, args: [normalized], ip: spec, line: w.line, raw: w.text };
}

function ocfResource(ctx: Ctx, w: Word, name: string, args: string[], err: (m: string) => null): ResourceSpec | null {
  const parts = name.split(":");
  if (parts.length !== 3 || !file_name_re.test(parts[1]!) || !file_name_re.test(parts[2]!)) {
    return err("an OCF resource is `ocf:PROVIDER:TYPE` then `::key=value` parameters, e.g. `ocf:heartbeat:IPaddr2::ip=192.0.2.10::cidr_netmask=24`");
  }
  const [, provider, type] = parts as [string, string, string];
  // An argument that does not start with NAME= continues the previous value (an IPv6 address's `::`).
  const merged: string[] = [];
  for (const a of args) {
    if (ocf_param_start_re.test(a)) merged.push(a);
    else if (merged.length > 0) merged[merged.length - 1] += `::${a}`;
    else return err(`parameter ${quote(a)} is not key=value: write e.g. \`${name}::name=value\``);
  }
  const params: Record<string, string> = {};
  for (const a of merged) {
    const eq = a.indexOf("=");
    const k = a.slice(0, eq);
    if (Object.hasOwn(params, k)) return err(`parameter ${k} is given twice: keep one`);
    params[k] = a.slice(eq + 1);
  }
  try {
    checkOcfParams(params);
  } catch (e) {
    return err((e as Error).message);
  }
  const base: ResourceSpec = { kind: "ocf", name, args: merged, params, line: w.line, raw: w.text };
  if (ctx.opts.resolve === false) return base;
  const path = join(ctx.opts.ocf_root ?? ocf_root_default, "resource.d", provider, type);
  if (!isExecutable(path)) return err(`no executable OCF agent ${path}: install the agent (resource-agents) or fix PROVIDER:TYPE (the daemon could not start this group)`);
  return { ...base, path };
}


function scriptNames(ctx: Ctx): string[] {
  if (ctx.script_names !== null) return ctx.script_names;
  const names: string[] = [];
  for (const d of [join(ctx.opts.dir, "resource.d"), ctx.opts.init_dir ?? "/etc/init.d"]) {
    try {
      names.push(...readdirSync(d).slice(0, 2000));
    } catch {
      // no such directory here
    }
  }
  ctx.script_names = names;
  return names;
}
