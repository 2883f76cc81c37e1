// ha.cf and authkeys parsers: every directive, time forms, every rule.
import { describe, expect, test } from "bun:test";
import { parseAuthKeys } from "../../src/config/authkeys.ts";
import { checkHaCf, complete, directives, parseHaCf } from "../../src/config/hacf.ts";
import { suggest } from "../../src/config/lines.ts";
import type { Diagnostic } from "../../src/config/types.ts";
import { parseTimeMs } from "../../src/config/values.ts";

const base = "bcast eth0\nauto_failback off\nnode alice bob\n";

function check(text: string, self_node?: string) {
  return checkHaCf(text, "ha.cf", { self_node });
}
const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === "error");
const warnings = (ds: Diagnostic[]) => ds.filter((d) => d.severity === "warning");
const show = (ds: Diagnostic[]) => ds.map((d) => `${d.line}:${d.severity}:${d.message}`).join("\n");

function expectOnly(ds: Diagnostic[], severity: "error" | "warning", line: number, ...parts: string[]) {
  const hits = ds.filter((d) => d.severity === severity);
  expect(hits.length, show(ds)).toBe(1);
  expect(hits[0]!.line).toBe(line);
  for (const p of parts) expect(hits[0]!.message).toContain(p);
}

describe("time values (cl_get_msec)", () => {
  const cases: [string, number][] = [
    ["1", 1000], ["2", 2000], ["1.5", 1500], [".5", 500], ["0.001", 1], ["10.", 10000],
    ["500ms", 500], ["500MS", 500], ["500msec", 500], ["1000000us", 1000], ["1000usec", 1],
    ["499us", 0], ["501us", 1], ["1.5ms", 2], ["0", 0],
  ];
  for (const [s, ms] of cases) test(`${s} = ${ms} ms`, () => expect(parseTimeMs(s)).toEqual({ ok: true, value: ms }));
  for (const s of ["2s", "1sec", "1m", "1h", "", "-1", "+1", "1e3", "ms", "1 ms", "1.2.3", "0x10", "١"]) {
    test(`${JSON.stringify(s)} is refused, naming the forms`, () => {
      const r = parseTimeMs(s);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toContain("`500ms`");
    });
  }
  test("more than a day is refused", () => expect(parseTimeMs("86401").ok).toBe(false));
});

describe("defaults as Heartbeat 3.0.6", () => {
  test("keepalive 1 s, deadtime 30 s, warntime deadtime/2, initdead = deadtime above 10 s, udpport 694", () => {
    const { config, diagnostics } = check(base);
    expect(errors(diagnostics)).toEqual([]);
    expect(config).toMatchObject({ keepalive_ms: 1000, deadtime_ms: 30000, warntime_ms: 15000, initdead_ms: 30000, deadping_ms: 30000, udpport: 694, baud: 19200, realtime: true, debug_level: 0, auto_failback: "off", autojoin: "none" });
  });
  test("initdead default: 12 s below a 6 s deadtime, else 2 x deadtime up to 10 s", () => {
    expect(check(`${base}deadtime 5\n`).config!.initdead_ms).toBe(12000);
    expect(check(`${base}deadtime 8\n`).config!.initdead_ms).toBe(16000);
    expect(check(`${base}deadtime 10\n`).config!.initdead_ms).toBe(20000);
    expect(check(`${base}deadtime 11\n`).config!.initdead_ms).toBe(11000);
  });
  test("no auto_failback: legacy, with Heartbeat's warning", () => {
    const r = check("bcast eth0\nnode a b\n");
    expect(r.config!.auto_failback).toBe("legacy");
    expectOnly(r.diagnostics, "warning", 0, "auto_failback on", "auto_failback off");
  });
});

// One correct line per directive Heartbeat 3.0.6 accepts, and what tandem makes of it.
const good_lines: Record<string, { line: string; status: "implemented" | "later" | "obsolete"; warns?: boolean }> = {
  node: { line: "node carol", status: "implemented" },
  keepalive: { line: "keepalive 2", status: "implemented" },
  deadtime: { line: "deadtime 10", status: "implemented" },
  warntime: { line: "warntime 5", status: "implemented" },
  initdead: { line: "initdead 60", status: "implemented" },
  deadping: { line: "deadping 30", status: "implemented" },
  udpport: { line: "udpport 694", status: "implemented" },
  baud: { line: "baud 38400", status: "implemented" },
  ucast: { line: "ucast eth1 10.0.0.2", status: "implemented" },
  ucast6: { line: "ucast6 eth1 fe80::2", status: "implemented" },
  bcast: { line: "bcast eth1", status: "implemented" },
  mcast: { line: "mcast eth1 239.0.0.1 694 1 0", status: "implemented" },
  mcast6: { line: "mcast6 eth1 ff05::1:3 694 2 1", status: "implemented" },
  serial: { line: "serial /dev/ttyS1", status: "implemented" },
  ping: { line: "ping 10.0.0.254", status: "implemented" },
  ping6: { line: "ping6 fe80::1", status: "later" },
  ping_group: { line: "ping_group gw 10.0.0.253 10.0.0.254", status: "implemented" },
  hbaping: { line: "hbaping qlogic-qla2200-0", status: "obsolete" },
  rds: { line: "rds eth1 10.0.0.2", status: "obsolete" },
  tipc: { line: "tipc 1 2", status: "obsolete" },
  auto_failback: { line: "auto_failback on", status: "implemented" },
  nice_failback: { line: "nice_failback on", status: "obsolete", warns: true },
  stonith: { line: "stonith baytech /etc/ha.d/conf/stonith.baytech", status: "implemented" },
  stonith_host: { line: "stonith_host * baytech 10.0.0.3 login secret", status: "implemented" },
  // tandem's own fencing directives (issue 5), not Heartbeat's
  fence: { line: "fence node2 fence_ipmilan ip=192.0.2.130 username=admin password=secret lanplus=1", status: "implemented" },
  fence_timeout: { line: "fence_timeout 60", status: "implemented" },
  fence_delay: { line: "fence_delay 5", status: "implemented" },
  wait_for_all: { line: "wait_for_all on", status: "implemented" },
  quorum: { line: "quorum auto", status: "implemented" },
  no_quorum_policy: { line: "no_quorum_policy stop", status: "implemented" },
  respawn: { line: "respawn root /usr/local/bin/monitor -v", status: "implemented" },
  failfast: { line: "failfast root /usr/local/bin/monitor", status: "later" },
  env: { line: "env FOO=bar", status: "later" },
  watchdog: { line: "watchdog /dev/watchdog", status: "implemented" },
  realtime: { line: "realtime off", status: "implemented" },
  rtprio: { line: "rtprio 50", status: "implemented" },
  logfile: { line: "logfile /var/log/ha-log", status: "implemented" },
  debugfile: { line: "debugfile /var/log/ha-debug", status: "implemented" },
  logfacility: { line: "logfacility local7", status: "implemented" },
  debug: { line: "debug 3", status: "implemented" },
  cluster: { line: "cluster prod", status: "later" },
  hopfudge: { line: "hopfudge 2", status: "later" },
  msgfmt: { line: "msgfmt netstring", status: "later" },
  log_badpack: { line: "log_badpack off", status: "later" },
  syslogmsgfmt: { line: "syslogmsgfmt on", status: "later" },
  coredumps: { line: "coredumps off", status: "later" },
  coreroot: { line: "coreroot /var/lib/heartbeat/cores", status: "later" },
  max_rexmit_delay: { line: "max_rexmit_delay 250", status: "later" },
  autojoin: { line: "autojoin none", status: "implemented" },
  wire: { line: "wire heartbeat", status: "implemented", warns: true },
  metrics_listen: { line: "metrics_listen 127.0.0.1:9464", status: "implemented" },
  arp_count: { line: "arp_count 3", status: "implemented" },
  arp_interval: { line: "arp_interval 100ms", status: "implemented" },
  arp_refresh: { line: "arp_refresh 60", status: "implemented" },
  crm: { line: "crm off", status: "obsolete" },
  pacemaker: { line: "pacemaker no", status: "obsolete" },
  crm_daemon_dir: { line: "crm_daemon_dir /usr/lib/pacemaker", status: "obsolete", warns: true },
  crmd_spawns_pengine: { line: "crmd_spawns_pengine on", status: "obsolete", warns: true },
  record_config_changes: { line: "record_config_changes on", status: "obsolete", warns: true },
  record_pengine_inputs: { line: "record_pengine_inputs on", status: "obsolete", warns: true },
  enable_config_writes: { line: "enable_config_writes on", status: "obsolete", warns: true },
  quorum_server: { line: "quorum_server q.example.com", status: "obsolete", warns: true },
  apiauth: { line: "apiauth ipfail gid=haclient uid=hacluster", status: "obsolete", warns: true },
  use_logd: { line: "use_logd yes", status: "obsolete", warns: true },
  conn_logd_time: { line: "conn_logd_time 60", status: "obsolete", warns: true },
  use_apphbd: { line: "use_apphbd no", status: "obsolete", warns: true },
  hbgenmethod: { line: "hbgenmethod file", status: "obsolete", warns: true },
  uuidfrom: { line: "uuidfrom nodename", status: "obsolete", warns: true },
  compression: { line: "compression bz2", status: "obsolete", warns: true },
  compression_threshold: { line: "compression_threshold 2", status: "obsolete", warns: true },
  traditional_compression: { line: "traditional_compression off", status: "obsolete", warns: true },
  memreserve: { line: "memreserve 6500", status: "obsolete", warns: true },
  normalpoll: { line: "normalpoll on", status: "obsolete", warns: true },
};
const unsupported_media = new Set(["hbaping", "rds", "tipc"]);

describe("every Heartbeat 3.0.6 directive is recognised", () => {
  test("the table covers exactly the directives tested here", () => {
    expect(Object.keys(directives).sort()).toEqual(Object.keys(good_lines).sort());
  });
  for (const [kw, g] of Object.entries(good_lines)) {
    test(`${kw} (${g.status})`, () => {
      expect(directives[kw]!.status).toBe(g.status);
      const { config, diagnostics } = parseHaCf(`${g.line}\n`, "ha.cf");
      expect(config.raw.get(kw)).toEqual([{ args: g.line.split(" ").slice(1), line: 1 }]);
      if (unsupported_media.has(kw)) return expectOnly(diagnostics, "error", 1, "not supported by tandem");
      expect(errors(diagnostics), show(diagnostics)).toEqual([]);
      expect(warnings(diagnostics).length, show(diagnostics)).toBe(g.warns ? 1 : 0);
      if (g.warns) expect(diagnostics[0]!.message).toMatch(/remove the line|replace this line/);
    });
  }
});

describe("implemented directives fill the model", () => {
  test("values land in their fields, converted to ms", () => {
    const { config, diagnostics } = check(
      [
        "keepalive 250ms", "deadtime 2.5", "warntime 1", "initdead 12", "deadping 3", "udpport 695", "baud 115200",
        "logfile /l", "debugfile /d", "logfacility none", "debug 2", "realtime no", "rtprio 10", "watchdog /dev/watchdog",
        "ucast eth1 10.0.0.1", "ucast eth1 fd00::2", "ucast6 eth1 fe80::3", "bcast eth2,eth3", "mcast eth4 239.1.2.3 700 2 1",
        "mcast6 eth5 ff02::1:2 701 1 0", "serial /dev/ttyS0 /dev/ttyS1", "ping 10.0.0.254 gw.example", "ping_group g 10.0.0.1 10.0.0.2",
        "respawn root /bin/true -x", "stonith baytech /etc/st.cfg", "stonith_host alice rps10 /dev/ttyS1 bob 0",
        "node alice", "node bob carol", "auto_failback legacy",
      ].join("\n"),
    );
    expect(errors(diagnostics), show(diagnostics)).toEqual([]);
    const c = config!;
    expect(c).toMatchObject({
      keepalive_ms: 250, deadtime_ms: 2500, warntime_ms: 1000, initdead_ms: 12000, deadping_ms: 3000, udpport: 695, baud: 115200,
      logfile: "/l", debugfile: "/d", logfacility: null, debug_level: 2, realtime: false, rtprio: 10, watchdog: "/dev/watchdog",
      nodes: ["alice", "bob", "carol"], ping_nodes: ["10.0.0.254", "gw.example"], auto_failback: "legacy",
      ping_groups: [{ name: "g", addrs: ["10.0.0.1", "10.0.0.2"], line: 23 }],
      respawn: [{ user: "root", command: "/bin/true -x", line: 24 }],
      stonith: { type: "baytech", file: "/etc/st.cfg", line: 25 },
      stonith_hosts: [{ from_node: "alice", type: "rps10", params: ["/dev/ttyS1", "bob", "0"], line: 26 }],
    });
    expect(c.links).toEqual([
      { kind: "ucast", name: "ucast eth1 10.0.0.1", iface: "eth1", addr: "10.0.0.1", line: 15 },
      { kind: "ucast", name: "ucast eth1 fd00::2", iface: "eth1", addr: "fd00::2", line: 16 },
      { kind: "ucast", name: "ucast eth1 fe80::3", iface: "eth1", addr: "fe80::3", line: 17 },
      { kind: "bcast", name: "bcast eth2", iface: "eth2", line: 18 },
      { kind: "bcast", name: "bcast eth3", iface: "eth3", line: 18 },
      { kind: "mcast", name: "mcast eth4 239.1.2.3 700", iface: "eth4", group: "239.1.2.3", port: 700, ttl: 2, loop: true, line: 19 },
      { kind: "mcast6", name: "mcast6 eth5 ff02::1:2 701", iface: "eth5", group: "ff02::1:2", port: 701, hops: 1, loop: false, line: 20 },
      { kind: "serial", name: "serial /dev/ttyS0", device: "/dev/ttyS0", line: 21 },
      { kind: "serial", name: "serial /dev/ttyS1", device: "/dev/ttyS1", line: 21 },
    ]);
    // the legacy warning
    expect(warnings(diagnostics).map((d) => d.line)).toEqual([29]);
  });
  test("auto_failback accepts Heartbeat's booleans", () => {
    for (const [v, want] of [["yes", "on"], ["TRUE", "on"], ["1", "on"], ["n", "off"], ["false", "off"], ["Legacy", "legacy"]] as const) {
      expect(parseHaCf(`auto_failback ${v}\n`, "f").config.auto_failback).toBe(want);
    }
  });
  test("nice_failback maps as Heartbeat did, with a warning", () => {
    const on = parseHaCf("nice_failback on\n", "f");
    expect(on.config.auto_failback).toBe("off");
    expectOnly(on.diagnostics, "warning", 1, "auto_failback off");
    const off = parseHaCf("nice_failback off\n", "f");
    expect(off.config.auto_failback).toBe("legacy");
    expectOnly(off.diagnostics, "warning", 1, "auto_failback on");
  });
  test("comments, leading blanks, tabs, CRLF, commas in option lists", () => {
    const r = check("  # comment\n\tnode alice,bob # trailing\r\nbcast eth0#x\r\n\r\nauto_failback off\n   \n");
    expect(r.diagnostics).toEqual([]);
    expect(r.config!.nodes).toEqual(["alice", "bob"]);
  });
  test("ucast naming two peers: the second would be ignored by Heartbeat, so it is an error", () => {
    expectOnly(check(`ucast eth1 10.0.0.1 10.0.0.2\n${base}`).diagnostics, "error", 1, "own line");
  });
  test("Heartbeat API clients under respawn are dropped with a warning", () => {
    const r = parseHaCf("respawn hacluster /usr/lib/heartbeat/dopd\n", "f");
    expect(r.config.respawn).toEqual([]);
    expectOnly(r.diagnostics, "warning", 1, "remove this line");
  });
  test("a repeated directive: the last wins; watchdog and baud twice are refused as in Heartbeat", () => {
    expect(check(`${base}keepalive 1\nkeepalive 2\ndeadtime 10\n`).config!.keepalive_ms).toBe(2000);
    expectOnly(check(`${base}watchdog /dev/watchdog\nwatchdog /dev/watchdog2\n`).diagnostics, "error", 5, "given twice", "line 4");
    expectOnly(check(`baud 19200\n${base}baud 9600\n`).diagnostics, "error", 5, "given twice");
  });
});

describe("value errors name the directive and the fix", () => {
  const bad: [string, string][] = [
    ["keepalive 0", "at least 1ms"],
    ["keepalive 400us", "at least 1ms"],
    ["keepalive 2s", "`500ms`"],
    ["keepalive", "needs a value, e.g. `keepalive 2`"],
    ["keepalive 1 2", "takes one value"],
    ["deadtime 10 s", "takes one value"],
    ["warntime 0", "positive time"],
    ["udpport 0", "1..65535"],
    ["udpport 65536", "1..65535"],
    ["udpport 69x", "whole number"],
    ["baud 12345", "supported baud rate"],
    ["node bad/name", "valid node name"],
    ["node", "at least one node name"],
    ["ucast eth1", "needs an interface and the peer's IP address"],
    ["ucast eth1 10.0.0.256", "IPv4 or IPv6"],
    ["ucast6 eth1 10.0.0.2", "IPv6"],
    ["ucast eth1/2 10.0.0.2", "interface name"],
    ["bcast", "needs an interface"],
    ["bcast a_sixteen_chars_", "1 to 15"],
    ["mcast eth0 239.0.0.1 694 1", "needs 5 values"],
    ["mcast eth0 192.168.0.1 694 1 0", "multicast group"],
    ["mcast eth0 239.0.0.1 0 1 0", "1..65535"],
    ["mcast eth0 239.0.0.1 694 5 0", "0..4"],
    ["mcast eth0 239.0.0.1 694 1 2", "0..1"],
    ["mcast6 eth0 ff0e::1 694 1 0", "link-"],
    ["mcast6 eth0 fe80::1 694 1 0", "multicast"],
    ["mcast6 eth0 ff02:: 694 1 0", "reserved"],
    ["mcast6 eth0 ff02::1 694 9 0", "0..4"],
    ["serial ttyS0", "full path"],
    ["ping 10.0.0.1 (gateway)", "a comment needs a `#`"],
    ["ping6 10.0.0.1", "IPv6"],
    ["ping_group onlyname", "at least one address"],
    ["auto_failback maybe", "on, off or legacy"],
    ["nice_failback perhaps", "boolean"],
    ["respawn hacluster ipfail", "full path"],
    ["respawn hacluster", "needs a user"],
    ["stonith baytech", "configuration file"],
    ["stonith_host bad/node baytech", "node name"],
    ["watchdog dev/watchdog", "full path"],
    ["realtime maybe", "on/off"],
    ["rtprio 0", "1..99"],
    ["logfile var/log/ha-log", "full path"],
    ["logfacility local8", "did you mean `local0`?"],
    ["debug 256", "0..255"],
    ["hopfudge 256", "0..255"],
    ["msgfmt json", "classic, netstring"],
    ["autojoin some", "none, other or any"],
    ["wire hb", "native or heartbeat"],
    ["crm maybe", "on/off"],
    ["crm respawn", "haresources"],
    ["pacemaker on", "haresources"],
    ["use_logd sure", "boolean"],
    ["hbgenmethod random", "file, time"],
    ["env NOEQUALS", "NAME=value"],
    ["failfast root bin/x", "full command path"],
    ["max_rexmit_delay 0", "1..3600000"],
  ];
  for (const [line, part] of bad) {
    test(line, () => {
      const { diagnostics } = parseHaCf(`\n${line}\n`, "ha.cf");
      const e = errors(diagnostics);
      expect(e.length, show(diagnostics)).toBeGreaterThanOrEqual(1);
      expect(e[0]!.line).toBe(2);
      expect(e[0]!.keyword).toBe(line.split(" ")[0]!);
      expect(e[0]!.message).toContain(part);
      expect(e[0]!.message.startsWith(`${line.split(" ")[0]}: `)).toBe(true);
    });
  }
});

describe("unknown directives", () => {
  const cases: [string, string | null][] = [
    ["deadtim 10", "deadtime"], ["keepalve 1", "keepalive"], ["Keepalive 1", "keepalive"], ["initdeadtime 30", "initdead"],
    ["auto_fallback on", "auto_failback"], ["ucats eth0 1.2.3.4", "ucast"], ["udp eth0", "bcast"], ["nodes a b", "node"],
    ["frobnicate yes", null], ["\u00e9t\u00e9 1", null],
  ];
  for (const [line, near] of cases) {
    test(line, () => {
      const { diagnostics } = parseHaCf(`${line}\n`, "ha.cf");
      expectOnly(diagnostics, "error", 1, "unknown directive");
      if (near) expect(diagnostics[0]!.message).toContain(`did you mean \`${near}\`?`);
      else expect(diagnostics[0]!.message).not.toContain("did you mean");
    });
  }
  test("suggest stays quiet for far words", () => expect(suggest("zzzzzzzz", Object.keys(directives))).toBeNull());
});

describe("cross-keyword rules (complete)", () => {
  test("deadtime must exceed 2 x keepalive", () => {
    expectOnly(check(`${base}keepalive 2\ndeadtime 4\ninitdead 60\n`).diagnostics, "error", 5, "more than twice keepalive", "raise deadtime");
    expect(errors(check(`${base}keepalive 2\ndeadtime 4001ms\ninitdead 60\n`).diagnostics)).toEqual([]);
    // keepalive alone above the default deadtime/2: blame the keepalive line
    expectOnly(check(`${base}keepalive 20\n`).diagnostics, "error", 4, "more than twice keepalive");
  });
  test("warntime must be below deadtime; at or below keepalive only warns", () => {
    expectOnly(check(`${base}deadtime 10\nwarntime 10\n`).diagnostics, "error", 5, "less than deadtime");
    expectOnly(check(`${base}keepalive 1\ndeadtime 10\nwarntime 1\n`).diagnostics, "warning", 6, "late");
  });
  test("initdead >= deadtime; below 10 s or 2 x deadtime warns", () => {
    expectOnly(check(`${base}deadtime 10\ninitdead 5\n`).diagnostics, "error", 5, "raise initdead");
    expectOnly(check(`${base}keepalive 100ms\ndeadtime 1\ninitdead 3\n`).diagnostics, "warning", 6, "10 s");
    expectOnly(check(`${base}deadtime 10\ninitdead 15\n`).diagnostics, "warning", 5, "twice deadtime");
    expect(check(`${base}deadtime 10\ninitdead 20\n`).diagnostics).toEqual([]);
  });
  test("deadping must exceed 2 x keepalive", () => {
    expectOnly(check(`${base}keepalive 2\ndeadtime 10\ndeadping 4\n`).diagnostics, "error", 6, "deadping");
  });
  test("no node lines, no media: errors on line 0 naming the fix", () => {
    expectOnly(check("bcast eth0\nauto_failback on\n").diagnostics, "error", 0, "add `node NAME`");
    expectOnly(check("node a b\nauto_failback on\n").diagnostics, "error", 0, "add e.g. `ucast eth1 PEER-IP`");
  });
  test("duplicate nodes, also by case (Heartbeat lowercases names)", () => {
    expectOnly(check(`${base}node bob\n`).diagnostics, "error", 4, "declared twice");
    expectOnly(check(`${base}node BOB\n`).diagnostics, "error", 4, "ignores case");
  });
  test("autojoin other/any conflicts with R1 resources", () => {
    expectOnly(check(`${base}autojoin other\n`).diagnostics, "error", 4, "autojoin none");
  });
  test("the same medium twice warns", () => {
    expectOnly(check(`${base}bcast eth0\n`).diagnostics, "warning", 4, "same medium as line 1");
  });
  test("udpport after media warns only when it changes the port", () => {
    expect(check(`${base}udpport 694\n`).diagnostics).toEqual([]);
    expectOnly(check(`${base}udpport 700\n`).diagnostics, "warning", 4, "move `udpport` above");
  });
  test("stonith_host for an undeclared node warns", () => {
    expectOnly(check(`${base}stonith_host carol baytech x\n`).diagnostics, "warning", 4, "not a declared node");
  });
  test("self node: present, missing, or differing by case", () => {
    expect(check(base, "alice").diagnostics).toEqual([]);
    expectOnly(check(base, "carol").diagnostics, "error", 0, "add `node carol` or start with --node");
    expectOnly(check(base, "Alice").diagnostics, "error", 3, "Heartbeat ignored case", "--node alice");
  });
  test("complete() on a config without problems adds nothing", () => {
    const p = parseHaCf(base, "ha.cf");
    expect(complete(p.config, { self_node: "bob" })).toEqual([]);
  });
});

describe("authkeys", () => {
  const k32 = "0123456789abcdef0123456789abcdef";
  const parse = (t: string) => parseAuthKeys(t, "authkeys");
  test("auth N picks the signing key; every key is accepted on input", () => {
    const r = parse(`# c\n  auth 2\n1 sha1 ${k32}\n2 sha256 ${k32}x\n15 md5 ${k32}\n0 crc\n`);
    expect(r.keys!.active).toEqual({ index: 2, method: "sha256", key: `${k32}x`, line: 4 });
    expect([...r.keys!.keys.keys()]).toEqual([1, 2, 15, 0]);
    expect(r.diagnostics.map((d) => `${d.line}:${d.severity}`)).toEqual(["5:warning", "6:warning"]);
    expect(r.diagnostics[1]!.message).toContain("integrity only");
    expect(r.diagnostics[0]!.message).toContain("md5 is weak");
  });
  test("a '#' after the start of a line is part of the key, as in Heartbeat", () => {
    expect(parse(`auth 1\n1 sha256 ${k32}#x\n`).keys!.active.key).toBe(`${k32}#x`);
  });
  test("a key with spaces: only the first word counts (Heartbeat's sscanf), with a warning", () => {
    const r = parse("auth 1\n1 sha256 correct horse battery staple\n");
    expect(r.keys!.active.key).toBe("correct");
    expect(r.diagnostics.some((d) => d.message.includes("without spaces"))).toBe(true);
  });
  const bad: [string, number, string][] = [
    [`1 sha256 ${k32}\n`, 0, "add `auth 1`"],
    [`auth 2\n1 sha256 ${k32}\n`, 1, "add `2 sha256 SECRET` or change it to `auth 1`"],
    [`auth 1\n1 sha256 ${k32}\n1 sha1 ${k32}\n`, 3, "defined twice"],
    [`auth 1\nauth 1\n1 sha256 ${k32}\n`, 2, "keep exactly one"],
    ["auth 1\n1 crc # note\n", 2, "comments must be on their own line"],
    [`auth 1\n1 SHA1 ${k32}\n`, 2, "did you mean `sha1`?"],
    [`auth 1\n1 sha512 ${k32}\n`, 2, "use sha256"],
    ["auth 1\n1 sha1\n", 2, "needs a key"],
    [`auth 16\n16 sha256 ${k32}\n`, 1, "0..15"],
    [`auth one\n1 sha256 ${k32}\n`, 1, "`auth 1`"],
    [`auth 1\n1\n`, 2, "has no method"],
    [`auht 1\n1 sha256 ${k32}\n`, 1, "did you mean `auth`?"],
  ];
  for (const [text, line, part] of bad) {
    test(`refused: ${JSON.stringify(text.split("\n")[0] + " / " + text.split("\n")[1])}`, () => {
      const r = parse(text);
      expect(r.keys).toBeNull();
      const e = errors(r.diagnostics);
      expect(e.length, show(r.diagnostics)).toBeGreaterThanOrEqual(1);
      expect(e.some((d) => d.line === line && d.message.includes(part)), show(r.diagnostics)).toBe(true);
    });
  }
  test("short keys warn", () => {
    expectOnly(parse("auth 1\n1 sha1 Test_HB!\n").diagnostics, "warning", 2, "openssl rand");
  });
});
