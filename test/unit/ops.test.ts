// Operations pieces without a daemon: the event history's rotation and
// bounds on a real directory, --since, the status table and its schema, the
// Prometheus text, per-link loss, log priorities and syslog datagrams to a
// real AF_UNIX socket.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLog, events_file, events_file_old, isHistory, parseSince, readEvents } from "../../src/daemon/events.ts";
import { Logger, priorityOf, syslogTime } from "../../src/daemon/log.ts";
import { LinkLoss, loss_window, Registry } from "../../src/daemon/metrics.ts";
import { status_json_schema, validate, type StatusV2 } from "../../src/daemon/status_schema.ts";
import { age, renderTable, runStatus } from "../../src/cli/status.ts";
import { native } from "../../src/native/addon.ts";
import { parseHaCf } from "../../src/config/hacf.ts";

const tmp = mkdtempSync(join(tmpdir(), "tandem-ops-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("event history on disk", () => {
  test("rotates at the cap into events.1.jsonl, keeps at most two files, reads back oldest first", async () => {
    const dir = mkdtempSync(join(tmp, "ev-"));
    const cap = 4096;
    const log = new EventLog(dir, "node1", { file_bytes_max: cap });
    for (let i = 0; i < 200; i++) log.record("node_dead", { node: "node2", i }, Date.UTC(2026, 10, 24, 9, 0, i));
    await log.flushed();
    expect(statSync(join(dir, events_file)).size).toBeLessThanOrEqual(cap);
    expect(statSync(join(dir, events_file_old)).size).toBeLessThanOrEqual(cap);
    const back = readEvents(dir);
    // the newest survive, in order, without gaps; the oldest were rotated away
    const is = back.map((e) => e.fields.i as number);
    expect(is.at(-1)).toBe(199);
    expect(is.length).toBeLessThan(200);
    expect(is.every((v, k) => k === 0 || v === is[k - 1]! + 1)).toBe(true);
    expect(back[0]).toMatchObject({ v: 1, host: "node1", event: "node_dead" });
    expect(back.at(-1)!.t).toBe("2026-11-24T09:03:19.000Z");
  });

  test("a line cut by a crash and garbage are skipped; a new log appends to what is there", async () => {
    const dir = mkdtempSync(join(tmp, "ev-"));
    writeFileSync(join(dir, events_file), '{"v":1,"t":"2026-11-24T09:00:00.000Z","host":"n","event":"started","fields":{}}\nnot json\n{"v":1,"t":"2026-');
    appendFileSync(join(dir, events_file), "\n");
    const log = new EventLog(dir, "n");
    log.record("node_up", { node: "b" });
    await log.flushed();
    expect(readEvents(dir).map((e) => e.event)).toEqual(["started", "node_up"]);
  });

  test("an unwritable directory loses history (counted, reported once), never throws", async () => {
    const errors: string[] = [];
    const log = new EventLog(join(tmp, "missing", "dir"), "n", { on_error: (m) => errors.push(m) });
    log.record("node_dead", { node: "b" });
    await log.flushed();
    log.record("node_dead", { node: "c" });
    await log.flushed();
    expect(log.write_errors).toBe(2);
    expect(errors.length).toBe(1);
    expect(errors[0]).toContain("ENOENT");
  });

  test("huge fields are cut; followers see events at once and are bounded", () => {
    const log = new EventLog(mkdtempSync(join(tmp, "ev-")), "n");
    const seen: string[] = [];
    const unsub = log.follow((e) => seen.push(e.event))!;
    const e = log.record("resource_failed", { detail: "x".repeat(100_000) });
    expect(String(e.fields.detail).length).toBeLessThan(1100);
    expect(seen).toEqual(["resource_failed"]);
    unsub();
    const more = Array.from({ length: 20 }, () => log.follow(() => {}));
    expect(more.filter((u) => u === null).length).toBe(12); // followers_max = 8
  });

  test("what is history", () => {
    for (const n of ["node_dead", "node_up", "group_takeover", "group_state", "fence_ok", "fence_attempt", "resource_failed", "started", "watchdog_feeding_stopped"]) expect(isHistory(n)).toBe(true);
    for (const n of ["late_heartbeat", "drop", "hb_send", "realtime", "control"]) expect(isHistory(n)).toBe(false);
  });

  test("--since: ages and times; nonsense is an error that says what to write", () => {
    const now = Date.UTC(2026, 10, 24, 12, 0, 0);
    expect(parseSince("90s", now)).toBe(now - 90_000);
    expect(parseSince("10m", now)).toBe(now - 600_000);
    expect(parseSince("2h", now)).toBe(now - 7_200_000);
    expect(parseSince("1d", now)).toBe(now - 86_400_000);
    expect(parseSince("2026-11-24T09:00:00Z", now)).toBe(Date.UTC(2026, 10, 24, 9));
    expect(parseSince("2026-11-24", now)).toBe(Date.UTC(2026, 10, 24));
    expect(parseSince("yesterday", now)).toContain("give an age");
    expect(parseSince("10 m", now)).toContain("give an age");
  });
});

function sampleStatus(): StatusV2 {
  return {
    schema_version: 2,
    schema: 2,
    node: "node1",
    generation: 1795528657,
    started: "2026-11-24T09:00:00.000Z",
    now: "2026-11-24T09:10:00.000Z",
    timing: { keepalive_ms: 100, warntime_ms: 250, deadtime_ms: 500, initdead_ms: 1500 },
    nodes: [
      { name: "node1", state: "self", generation: 1795528657, last_heard_ms_ago: 0, late_count: 0, links: [] },
      {
        name: "node2",
        state: "dead",
        generation: 1795528600,
        last_heard_ms_ago: 192_000,
        late_count: 1,
        links: [
          { name: "ucast eth1 192.0.2.2", state: "down", last_heard_ms_ago: 192_000, received: 950, lost: 50, loss_recent: 0.1 },
          { name: "ucast eth2 192.0.2.66", state: "down", last_heard_ms_ago: null, received: 0, lost: 0, loss_recent: null },
        ],
      },
    ],
    groups: [
      {
        name: "web",
        id: "web",
        holder: "node1",
        holders: ["node1"],
        target: "node1",
        state: "running",
        since: "2026-11-24T09:06:48.000Z",
        failures: 0,
        blocked: false,
        last_failure: { at: "2026-11-24T09:06:40.000Z", action: "monitor", detail: "httpd: not running" },
      },
    ],
    fencing: [{ node: "node2", phase: "backoff", reason: "dead", attempts: 3, for_ms: 12_000, next_in_ms: 4000, last_result: { ok: false, detail: "fence_ipmilan: timed out" } }],
    quorum: { required: true, quorate: false, votes: 1, needed: 2, total: 3, policy: "stop" },
    watchdog: { device: "/dev/watchdog", feeding: false, timeout_ms: 10_000, feed_interval_ms: 2500, self_fence: "isolated" },
    events: { dir: "/var/lib/tandem", dropped: 0, write_errors: 0 },
    metrics: { address: "127.0.0.1:9464" },
    ping: null,
    realtime: null,
    links: [{ name: "ucast eth1 192.0.2.2" }],
    counters: {},
  };
}

describe("status", () => {
  test("the sample is valid; broken statuses name the path of each problem", () => {
    expect(validate(sampleStatus())).toEqual([]);
    const bad = sampleStatus() as unknown as Record<string, unknown>;
    bad.schema_version = 1;
    (bad.nodes as { state: string }[])[1]!.state = "zombie";
    delete bad.groups;
    (bad.fencing as { attempts: number }[])[0]!.attempts = -1;
    bad.now = "yesterday";
    expect(validate(bad)).toEqual([
      "$: missing groups",
      "$.schema_version: must be 2, got 1",
      "$.now: \"yesterday\" is not an RFC 3339 date-time",
      '$.nodes[1].state: "zombie" is not one of ["self","init","up","dead"]',
      "$.fencing[0].attempts: -1 < 0",
    ]);
    expect(status_json_schema.title).toBe("tandem status --json");
  });

  test("the table: nodes, links with loss, groups with since and failure, fencing advice, watchdog", () => {
    const t = renderTable(sampleStatus(), false);
    expect(t).toContain("tandem on node1 (generation 1795528657, schema 2)");
    expect(t).toContain("watchdog: /dev/watchdog NOT FED: the node resets within 10 s (self-fence: isolated)");
    expect(t).toMatch(/^node2\s+dead\s+1795528600\s+3m12s ago\s+ucast eth1 192\.0\.2\.2: down, ucast eth2 192\.0\.2\.66: down$/m);
    expect(t).toMatch(/^node2\s+ucast eth1 192\.0\.2\.2\s+down\s+3m12s ago\s+10\.0% \(50 of 1000\)$/m);
    expect(t).toMatch(/^node2\s+ucast eth2 192\.0\.2\.66\s+down\s+never\s+-$/m);
    expect(t).toMatch(/^web\s+node1\s+running\s+3m12s ago\s+monitor: httpd: not running \(3m20s ago\)$/m);
    expect(t).toContain("FENCING FAILS");
    expect(t).toContain("quorum: NO, 1 of 3 votes (2 needed): fencing nobody, starting nothing, stopping what runs here");
    // two nodes (quorum off): no line, the node table stays the table's third line
    expect(renderTable({ ...sampleStatus(), quorum: { required: false, quorate: true, votes: 1, needed: 2, total: 2, policy: "stop" } }, false)).not.toContain("quorum:");
    expect(t).not.toContain("\x1b[");
    const c = renderTable(sampleStatus(), true);
    expect(c).toContain("\x1b[31mdead \x1b[0m");
    // colour codes go around padded cells: stripped, the table is the same
    expect(c.replace(/\x1b\[\d+m/g, "")).toBe(t);
  });

  test("ages", () => {
    expect(age(null)).toBe("never");
    expect(age(12)).toBe("12 ms ago");
    expect(age(59_400)).toBe("59s ago");
    expect(age(3_600_000 * 5 + 60_000 * 7)).toBe("5h07m ago");
    expect(age(86_400_000 * 2 + 3_600_000 * 3)).toBe("2d3h ago");
  });

  test("bad arguments exit 2 with the usage; --watch without a daemon keeps trying and says why", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const o = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) };
    expect(await runStatus(["--interval-ms", "100"], o)).toBe(2);
    expect(await runStatus(["--watch", "--interval-ms", "5"], o)).toBe(2);
    expect(await runStatus(["--watch", "--count", "0"], o)).toBe(2);
    expect(err.join("")).toContain("usage: tandem status");
    const sock = join(tmp, "nobody.sock");
    const code = await runStatus(["--watch", "--interval-ms", "100", "--count", "2", "--socket", sock], o, { tty: true, env: {} });
    expect(code).toBe(1);
    const text = out.join("");
    expect(text.match(/\x1b\[H\x1b\[2J/g)?.length).toBe(2); // a terminal: redrawn in place
    expect(text).toContain("no tandem daemon is listening");
    out.length = 0;
    await runStatus(["--watch", "--interval-ms", "100", "--count", "1", "--socket", sock], o, { tty: true, env: { NO_COLOR: "1" } });
    expect(out.join("")).not.toContain("\x1b[31m");
  });
});

describe("metrics", () => {
  test("Prometheus text: counters, histograms with cumulative buckets, escaped labels, gauges", () => {
    const r = new Registry();
    r.counter("t_total", "A counter.");
    r.histogram("t_seconds", "A histogram.", [0.1, 1]);
    r.inc("t_total", { link: 'ucast "eth1"\\x' }, 2);
    r.observe("t_seconds", {}, 0.05);
    r.observe("t_seconds", {}, 0.5);
    r.observe("t_seconds", {}, 5);
    const text = r.render([{ name: "g", help: "A gauge.", values: [[{ a: "b" }, 1.5]] }]);
    expect(text).toBe(
      [
        "# HELP t_total A counter.",
        "# TYPE t_total counter",
        't_total{link="ucast \\"eth1\\"\\\\x"} 2',
        "# HELP t_seconds A histogram.",
        "# TYPE t_seconds histogram",
        't_seconds_bucket{le="0.1"} 1',
        't_seconds_bucket{le="1"} 2',
        't_seconds_bucket{le="+Inf"} 3',
        "t_seconds_sum 5.55",
        "t_seconds_count 3",
        "# HELP g A gauge.",
        "# TYPE g gauge",
        'g{a="b"} 1.5',
        "",
      ].join("\n"),
    );
  });

  test("per-link loss from sequence gaps; replays, duplicates and a restarted peer", () => {
    const l = new LinkLoss();
    expect(l.frame("b", "eth1", 7, 1, 0)).toEqual({ interval_ms: null, lost: 0 });
    expect(l.frame("b", "eth1", 7, 2, 100)).toEqual({ interval_ms: 100, lost: 0 });
    expect(l.frame("b", "eth1", 7, 5, 400)).toEqual({ interval_ms: 300, lost: 2 });
    expect(l.frame("b", "eth1", 7, 4, 410).lost).toBe(0); // late copy
    expect(l.frame("b", "eth1", 6, 99, 420).lost).toBe(0); // old incarnation
    expect(l.counts("b", "eth1")).toEqual({ received: 3, lost: 2, loss_recent: 2 / 5 });
    expect(l.frame("b", "eth1", 8, 1, 500)).toEqual({ interval_ms: null, lost: 0 }); // restarted
    for (let s = 2; s < 2 + loss_window; s++) l.frame("b", "eth1", 8, s, 500 + s);
    expect(l.counts("b", "eth1")!.loss_recent).toBe(0); // the old gap left the window
    expect(l.counts("b", "eth2")).toBeNull();
  });
});

describe("logs", () => {
  test("priorities: deaths and failures stand out", () => {
    expect(priorityOf("fatal")).toBe(2);
    expect(priorityOf("fence_failed")).toBe(3);
    expect(priorityOf("node_dead")).toBe(4);
    expect(priorityOf("node_up")).toBe(5);
    expect(priorityOf("group_takeover")).toBe(5);
    expect(priorityOf("realtime")).toBe(6);
  });

  test("<N> prefixes, debug levels, sinks", () => {
    const lines: string[] = [];
    const seen: string[] = [];
    const log = new Logger("n1", { priority_prefix: true, debug_level: 1, stderr: (l) => void lines.push(l) });
    log.addSink((r) => seen.push(`${r.name}:${r.priority}`));
    log.event("node_dead", { node: "n2", reason: "deadtime" });
    log.debug("control_request", { cmd: "status" }, 1);
    log.debug("frame", { seq: 1 }, 2);
    expect(lines.length).toBe(2); // no debugfile: level-1 debug on stderr, level 2 not written at debug 1
    expect(lines[0]).toMatch(/^<4>\d{4}-\d\d-\d\dT[\d:.]+Z tandem\[n1\]: node_dead node=n2 reason=deadtime\n$/);
    expect(lines[1]).toMatch(/^<7>\S+ tandem\[n1\]: control_request cmd=status\n$/);
    expect(seen).toEqual(["node_dead:4"]);
  });

  test("logfile gets events, debugfile gets events and debug lines; stderr then has no debug", async () => {
    const lines: string[] = [];
    const logfile = join(tmp, "ha-log");
    const debugfile = join(tmp, "ha-debug");
    const log = new Logger("n1", { logfile, debugfile, debug_level: 2, stderr: (l) => void lines.push(l) });
    log.event("node_up", { node: "n2" });
    log.debug("frame", { seq: 1 }, 2);
    log.debug("deep", {}, 3);
    await log.close();
    expect(lines.length).toBe(1);
    expect(await Bun.file(logfile).text()).toMatch(/^\S+ tandem\[n1\]: node_up node=n2\n$/);
    expect((await Bun.file(debugfile).text()).split("\n").filter(Boolean).map((l) => l.split(": ")[1])).toEqual(["node_up node=n2", "frame seq=1"]);
  });

  test("logfacility: one RFC 3164 datagram per line to a real AF_UNIX socket; stderr skipped only under the journal", () => {
    const path = join(tmp, "devlog.sock");
    const fd = native.notifyBind(path);
    try {
      const lines: string[] = [];
      const log = new Logger("n1", { facility: "local0", syslog_path: path, send_datagram: native.notifySend, stderr_is_journal: true, stderr: (l) => void lines.push(l) });
      log.event("node_dead", { node: "n2" });
      log.event("node_up", { node: "n2" });
      const got = [native.notifyRecv(fd), native.notifyRecv(fd)];
      // local0 = 16: 16*8+4 = 132 (warning), 16*8+5 = 133 (notice)
      expect(got[0]).toMatch(/^<132>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d tandem\[\d+\]: \S+Z tandem\[n1\]: node_dead node=n2$/);
      expect(got[1]).toMatch(/^<133>.* node_up node=n2$/);
      expect(lines).toEqual([]);
      // syslog gone: the line falls back to stderr
      const log2 = new Logger("n1", { facility: "daemon", syslog_path: join(tmp, "nothing.sock"), send_datagram: native.notifySend, stderr_is_journal: true, stderr: (l) => void lines.push(l) });
      log2.event("node_dead", { node: "n2" });
      expect(lines.length).toBe(1);
      expect(log2.syslog_errors).toBe(1);
    } finally {
      native.closeFd(fd);
    }
    expect(syslogTime(new Date(2026, 0, 5, 7, 8, 9))).toBe("Jan  5 07:08:09");
  });
});

describe("metrics_listen in ha.cf", () => {
  const parse = (line: string) => parseHaCf(`node a b\n${line}\n`, "/etc/ha.d/ha.cf");
  test("accepted forms", () => {
    expect(parse("metrics_listen 127.0.0.1:9464").config.metrics_listen).toEqual({ host: "127.0.0.1", port: 9464, line: 2 });
    expect(parse("# tandem: metrics_listen [::1]:9464").config.metrics_listen).toEqual({ host: "::1", port: 9464, line: 2 });
    expect(parse("").config.metrics_listen).toBeNull();
  });
  test("errors name the line and the fix", () => {
    for (const [line, msg] of [
      ["metrics_listen localhost:9464", "not ADDRESS:PORT"],
      ["metrics_listen 127.0.0.1", "not ADDRESS:PORT"],
      ["metrics_listen 127.0.0.1:70000", "out of range"],
      ["metrics_listen 300.1.1.1:9464", "not an IPv4 address"],
      ["metrics_listen [zz::1]:9464", "not ADDRESS:PORT"],
      ["metrics_listen", "needs a value"],
    ] as const) {
      const d = parse(line).diagnostics.filter((x) => x.severity === "error");
      expect(d.length, line).toBe(1);
      expect(d[0]!.line).toBe(2);
      expect(d[0]!.message).toContain(msg);
      expect(d[0]!.message).toContain("metrics_listen 127.0.0.1:9464");
    }
    const w = parse("metrics_listen 0.0.0.0:9464").diagnostics;
    expect(w.map((x) => x.severity)).toEqual(["warning"]);
  });
});
