// A corpus of broken configurations through the real CLI (`tandem check`,
// dist/tandem or src/main.ts): typos, wrong units, contradictions, missing
// nodes, world-readable or missing authkeys, huge files, binary junk,
// symlink loops, FIFOs. Each case must exit 1 and name the file and line of
// the problem with a fix (`PATH:LINE: error: ...`); no output line may be
// anything else (no stack trace, whatever the files hold).
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { preferredCommand } from "../../src/lab/daemons.ts";
import { Prng } from "../sim/prng.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const freshDir = scratchDirs("tandem-badcfg-");
const tandem = preferredCommand().argv;

const base_hacf = [
  "# a valid two-node cluster", // 1
  "keepalive 500ms", // 2
  "warntime 2", // 3
  "deadtime 5", // 4
  "initdead 20", // 5
  "udpport 694", // 6
  "ucast eth1 192.0.2.1", // 7
  "ucast eth1 192.0.2.2", // 8
  "auto_failback off", // 9
  "node alice bob", // 10
];
const base_authkeys = "auth 1\n1 sha256 4f1c0a7d9e2b8c6f3a5d7e9b1c3f5a7d\n";
const base_haresources = "alice 192.0.2.50/24/eth1 svc\n";

interface Case {
  name: string;
  /** replace base ha.cf lines (1-based line -> text; null deletes) or append lines */
  hacf?: { set?: Record<number, string | null>; add?: string[] } | string | Uint8Array;
  authkeys?: string | Uint8Array;
  authkeys_mode?: number;
  haresources?: string | Uint8Array;
  /** more set-up of the directory (symlinks, FIFOs, removals) */
  setup?: (dir: string) => void;
  /** [file, line, part of the message]: each must be an error line of the output */
  want: [string, number, string][];
}

function hacfText(c: Case["hacf"]): string | Uint8Array {
  if (c === undefined) return `${base_hacf.join("\n")}\n`;
  if (typeof c === "string" || c instanceof Uint8Array) return c;
  const lines = base_hacf.map((l, i) => (c.set && i + 1 in c.set ? c.set[i + 1] : l));
  return `${[...lines.filter((l): l is string => l !== null), ...(c.add ?? [])].join("\n")}\n`;
}

const junk = (seed: number, n: number) => {
  const r = new Prng(seed);
  return new Uint8Array(n).map(() => r.int(0, 255));
};

const cases: Case[] = [
  // ---- ha.cf: typos ----
  { name: "misspelt directive", hacf: { set: { 2: "keepalvie 500ms" } }, want: [["ha.cf", 2, "keepalvie"]] },
  { name: "misspelt value", hacf: { set: { 9: "auto_failback of" } }, want: [["ha.cf", 9, "auto_failback"]] },
  { name: "directive in upper case", hacf: { add: ["DEADTIME 5"] }, want: [["ha.cf", 11, "DEADTIME"]] },
  { name: "missing value", hacf: { set: { 4: "deadtime" } }, want: [["ha.cf", 4, "deadtime"]] },
  { name: "two values", hacf: { set: { 2: "keepalive 2 s" } }, want: [["ha.cf", 2, "keepalive"]] },
  // ---- wrong units ----
  { name: "seconds suffix (Heartbeat refuses 2s)", hacf: { set: { 4: "deadtime 10s" } }, want: [["ha.cf", 4, "deadtime"]] },
  { name: "minutes", hacf: { set: { 5: "initdead 2min" } }, want: [["ha.cf", 5, "initdead"]] },
  { name: "negative time", hacf: { set: { 4: "deadtime -5" } }, want: [["ha.cf", 4, "deadtime"]] },
  { name: "zero keepalive", hacf: { set: { 2: "keepalive 0" } }, want: [["ha.cf", 2, "keepalive"]] },
  { name: "port out of range", hacf: { set: { 6: "udpport 70000" } }, want: [["ha.cf", 6, "udpport"]] },
  { name: "comma decimal", hacf: { set: { 3: "warntime 2,5" } }, want: [["ha.cf", 3, "warntime"]] },
  // ---- contradictions ----
  { name: "deadtime below keepalive", hacf: { set: { 2: "keepalive 10", 3: "warntime 20", 4: "deadtime 5" } }, want: [["ha.cf", 4, "deadtime"]] },
  { name: "warntime above deadtime", hacf: { set: { 3: "warntime 9" } }, want: [["ha.cf", 3, "warntime"]] },
  { name: "obsolete crm yes", hacf: { add: ["crm yes"] }, want: [["ha.cf", 11, "crm"]] },
  { name: "wire heartbeat with sha256 keys", hacf: { add: ["# tandem: wire heartbeat"] }, want: [["authkeys", 2, "sha256"]] },
  // ---- nodes ----
  { name: "no node line", hacf: { set: { 10: null } }, want: [["ha.cf", 0, "node"]] },
  { name: "node declared twice", hacf: { add: ["node alice"] }, want: [["ha.cf", 11, "alice"]] },
  { name: "bad node name", hacf: { set: { 10: "node alice b/ob" } }, want: [["ha.cf", 10, "b/ob"]] },
  { name: "fence for an unknown node", hacf: { add: ["fence carol manual"] }, want: [["ha.cf", 11, "carol"]] },
  { name: "fence word that is not key=value", hacf: { add: ["fence bob fence_ipmilan ip=192.0.2.9 lanplus"] }, want: [["ha.cf", 11, "lanplus"]] },
  { name: "haresources names a node not in ha.cf", haresources: "carol 192.0.2.50/24/eth1 svc\n", want: [["haresources", 1, "carol"]] },
  // ---- addresses ----
  { name: "ucast to an impossible address", hacf: { set: { 8: "ucast eth1 192.0.2.300" } }, want: [["ha.cf", 8, "192.0.2.300"]] },
  { name: "ucast to a hostname", hacf: { set: { 8: "ucast eth1 bob.example" } }, want: [["ha.cf", 8, "bob.example"]] },
  { name: "mcast to a unicast group", hacf: { add: ["mcast eth1 192.0.2.7 694 1 0"] }, want: [["ha.cf", 11, "192.0.2.7"]] },
  { name: "ping of a bad address", hacf: { add: ["ping 192.0.2.999"] }, want: [["ha.cf", 11, "192.0.2.999"]] },
  // ---- authkeys ----
  { name: "world-readable authkeys", authkeys_mode: 0o644, want: [["authkeys", 0, "chmod 600"]] },
  { name: "group-readable authkeys", authkeys_mode: 0o640, want: [["authkeys", 0, "chmod 600"]] },
  { name: "authkeys without auth line", authkeys: "1 sha256 4f1c0a7d9e2b8c6f3a5d7e9b1c3f5a7d\n", want: [["authkeys", 0, "auth"]] },
  { name: "auth names a missing key", authkeys: "auth 2\n1 sha256 4f1c0a7d9e2b8c6f3a5d7e9b1c3f5a7d\n", want: [["authkeys", 1, "2"]] },
  { name: "unknown hash method", authkeys: "auth 1\n1 sha512 4f1c0a7d9e2b8c6f3a5d7e9b1c3f5a7d\n", want: [["authkeys", 2, "sha512"]] },
  { name: "key index out of range", authkeys: "auth 16\n16 sha1 4f1c0a7d9e2b8c6f3a5d7e9b1c3f5a7d\n", want: [["authkeys", 2, "16"]] },
  { name: "duplicate key index", authkeys: "auth 1\n1 sha1 4f1c0a7d9e2b8c6f3a5d7e9b1c3f5a7d\n1 md5 4f1c0a7d9e2b8c6f3a5d7e9b1c3f5a7d\n", want: [["authkeys", 3, "1"]] },
  { name: "key without secret", authkeys: "auth 1\n1 sha1\n", want: [["authkeys", 2, "sha1"]] },
  { name: "empty authkeys", authkeys: "", want: [["authkeys", 0, "auth"]] },
  { name: "missing authkeys", setup: (d) => rmSync(join(d, "authkeys")), want: [["authkeys", 0, "missing"]] },
  // ---- haresources ----
  { name: "resource script that does not exist", haresources: "alice 192.0.2.50/24/eth1 nosuchsvc\n", want: [["haresources", 1, "nosuchsvc"]] },
  { name: "IP resource with a bad address", haresources: "alice IPaddr::192.0.2.300/24/eth1 svc\n", want: [["haresources", 1, "192.0.2.300"]] },
  { name: "monitor comment with a bad interval", haresources: "# tandem: monitor interval=often timeout=20s\nalice svc\n", want: [["haresources", 1, "often"]] },
  { name: "group with no resources", haresources: "alice 192.0.2.50/24/eth1 svc\nbob\n", want: [["haresources", 2, "bob"]] },
  { name: "continuation at end of file", haresources: "alice 192.0.2.50/24/eth1 \\", want: [["haresources", 1, ""]] },
  // ---- files that are not configuration files ----
  { name: "binary junk ha.cf", hacf: junk(1, 3000), want: [["ha.cf", -1, ""]] },
  { name: "binary junk authkeys", authkeys: junk(2, 500), want: [["authkeys", -1, ""]] },
  { name: "binary junk haresources", haresources: junk(3, 2000), want: [["haresources", -1, ""]] },
  { name: "invalid UTF-8 in a directive", hacf: { add: ["node \xff\xfe"] }, want: [["ha.cf", 11, ""]] },
  { name: "NUL bytes", hacf: { add: ["deadtime 5\0 0"] }, want: [["ha.cf", 11, "NUL"]] },
  { name: "huge ha.cf", hacf: `${base_hacf.join("\n")}\n${"# padding padding padding padding\n".repeat(400_000)}`, want: [["ha.cf", 0, "bytes"]] },
  { name: "huge haresources", haresources: `alice svc\n${"#\n".repeat(6_000_000)}`, want: [["haresources", 0, "bytes"]] },
  { name: "ha.cf is a directory", setup: (d) => (rmSync(join(d, "ha.cf")), mkdirSync(join(d, "ha.cf"))), want: [["ha.cf", 0, "regular file"]] },
  { name: "missing ha.cf", setup: (d) => rmSync(join(d, "ha.cf")), want: [["ha.cf", 0, "missing"]] },
  {
    name: "ha.cf symlink loop",
    setup: (d) => (rmSync(join(d, "ha.cf")), symlinkSync("ha.cf.2", join(d, "ha.cf")), symlinkSync("ha.cf", join(d, "ha.cf.2"))),
    want: [["ha.cf", 0, ""]],
  },
  { name: "authkeys dangling symlink", setup: (d) => (rmSync(join(d, "authkeys")), symlinkSync("/nonexistent/authkeys", join(d, "authkeys"))), want: [["authkeys", 0, "symlink"]] },
  {
    name: "ha.cf is a FIFO (must not hang)",
    setup: (d) => {
      rmSync(join(d, "ha.cf"));
      Bun.spawnSync(["mkfifo", join(d, "ha.cf")]);
    },
    want: [["ha.cf", 0, "FIFO"]],
  },
];

function stage(c: Case): string {
  const d = freshDir();
  writeFileSync(join(d, "ha.cf"), hacfText(c.hacf));
  writeFileSync(join(d, "authkeys"), c.authkeys ?? base_authkeys);
  chmodSync(join(d, "authkeys"), c.authkeys_mode ?? 0o600);
  writeFileSync(join(d, "haresources"), c.haresources ?? base_haresources);
  mkdirSync(join(d, "resource.d"));
  writeFileSync(join(d, "resource.d/svc"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  c.setup?.(d);
  return d;
}

async function check(dir: string): Promise<{ code: number | null; out: string }> {
  const p = Bun.spawn([...tandem, "check", "--dir", dir, "--node", "alice", "--init-dir", join(dir, "no-init.d")], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000); // a hang is a failure, not a stuck suite
  const [o, e] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out: o + e };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe(`bad configuration corpus through \`tandem check\` (${tandem.join(" ")})`, () => {
  test("the base configuration is valid", async () => {
    const r = await check(stage({ name: "base", want: [] }));
    expect(r.out).not.toContain("error:");
    expect(r.code).toBe(0);
  });

  for (const c of cases) {
    test(c.name, async () => {
      const dir = stage(c);
      const r = await check(dir);
      const lines = r.out.split("\n").filter((l) => l.trim() !== "");
      // Only diagnostics and the summary: never a stack trace or a raw exception.
      const stray = lines.filter((l) => !new RegExp(`^${escape(dir)}(/[^:]+)?:(\\d+:)? (error|warning): .+|^${escape(dir)}: (\\d+ errors?(, \\d+ warnings?)?|OK)$`).test(l));
      expect(stray, r.out).toEqual([]);
      expect(r.out).not.toMatch(/^\s+at \S/m);
      expect(r.code, r.out).toBe(1);
      for (const [file, line, part] of c.want) {
        const line_re = line < 0 ? "\\d+" : String(line);
        const re = new RegExp(`^${escape(join(dir, file))}:${line_re}: error: .*${escape(part)}`);
        expect(lines.some((l) => re.test(l)), `want ${file}:${line}: error: ...${part}...\n${r.out}`).toBe(true);
      }
      // every error names its fix: something to do after the colon, not a bare complaint
      for (const l of lines.filter((x) => x.includes(": error: "))) expect(l.split(": error: ")[1]!.length, l).toBeGreaterThan(15);
    }, 30_000);
  }
});
