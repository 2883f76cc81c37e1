// The fixture corpus (test/fixtures/config) through loadConfig and `tandem check`:
// real-world seeds, bad files with their exact file:line, and file-level
// trouble (modes, symlinks, FIFOs, junk, size). Fixtures are copied into a
// temp dir with explicit modes: git does not keep 0600, and tests run as root.
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCheck } from "../../src/cli/check.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Diagnostic } from "../../src/config/types.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const fixtures = join(import.meta.dir, "../fixtures/config");
const freshDir = scratchDirs("tandem-config-");

/** Copy a fixture dir; files it lacks come from good/basic. authkeys gets `mode`. */
function stage(fixture: string, mode = 0o600): string {
  const d = freshDir();
  for (const f of ["ha.cf", "authkeys"]) {
    const own = join(fixtures, fixture, f);
    copyFileSync(existsSync(own) ? own : join(fixtures, "good/basic", f), join(d, f));
  }
  chmodSync(join(d, "authkeys"), mode);
  return d;
}

function write(files: Record<string, string | Uint8Array>, mode = 0o600): string {
  const d = freshDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(d, name), content);
  if (existsSync(join(d, "authkeys"))) chmodSync(join(d, "authkeys"), mode);
  return d;
}

const errorsOf = (ds: Diagnostic[]) => ds.filter((d) => d.severity === "error");
const show = (ds: Diagnostic[]) => ds.map((d) => `${d.file}:${d.line}: ${d.severity}: ${d.message}`).join("\n");

/** Every error, in order, as [file basename, line, part of the message]. */
function expectErrors(ds: Diagnostic[], want: [string, number, string][]) {
  const got = errorsOf(ds);
  expect(got.length, show(ds)).toBe(want.length);
  want.forEach(([file, line, part], i) => {
    expect(got[i]!.file.endsWith(`/${file}`), show(ds)).toBe(true);
    expect(got[i]!.line, show(ds)).toBe(line);
    expect(got[i]!.message, show(ds)).toContain(part);
  });
}

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCheck(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

describe("seeds: real ha.cf/authkeys from articles pass (warnings allowed)", () => {
  const seeds = readdirSync(join(fixtures, "seeds"));
  test("there are seeds", () => expect(seeds.length).toBeGreaterThanOrEqual(6));
  for (const name of seeds) {
    test(name, async () => {
      const d = stage(`seeds/${name}`);
      const loaded = loadConfig({ dir: d });
      expect(errorsOf(loaded.diagnostics), show(loaded.diagnostics)).toEqual([]);
      expect(loaded.hacf).not.toBeNull();
      expect(loaded.authkeys).not.toBeNull();
      const r = await cli(["--dir", d]);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^${d}: OK( \\(\\d+ warnings?\\))?$`, "m"));
    });
  }
  test("the crc seeds warn about crc", () => {
    const loaded = loadConfig({ dir: stage("seeds/openintegra-drbd") });
    expect(loaded.diagnostics.some((d) => d.file.endsWith("authkeys") && d.line === 2 && d.message.includes("integrity only"))).toBe(true);
  });
  test("a seed with its node name checks with --node", () => {
    const d = stage("seeds/suse-tutorial-drbd");
    expect(errorsOf(loadConfig({ dir: d, self_node: "node2" }).diagnostics)).toEqual([]);
    expectErrors(loadConfig({ dir: d, self_node: "node3" }).diagnostics, [["ha.cf", 0, "add `node node3` or start with --node"]]);
  });
});

describe("good fixtures", () => {
  for (const name of readdirSync(join(fixtures, "good"))) {
    test(name, () => {
      const loaded = loadConfig({ dir: stage(`good/${name}`) });
      expect(errorsOf(loaded.diagnostics), show(loaded.diagnostics)).toEqual([]);
    });
  }
  test("CRLF files read like LF files", () => {
    const loaded = loadConfig({ dir: stage("good/crlf") });
    expect(loaded.diagnostics.filter((d) => d.file.endsWith("ha.cf"))).toEqual([]);
    expect(loaded.hacf!.nodes).toEqual(["a", "b"]);
    expect(loaded.authkeys!.active.key).toBe("0123456789abcdef0123456789abcdef");
  });
  test("good/basic fills the model the daemon uses", () => {
    const { hacf, authkeys } = loadConfig({ dir: stage("good/basic"), self_node: "alice" });
    expect(hacf).toMatchObject({ nodes: ["alice", "bob"], keepalive_ms: 500, warntime_ms: 2000, deadtime_ms: 5000, initdead_ms: 20000, udpport: 694, auto_failback: "off", logfacility: "local0" });
    expect(hacf!.links.map((l) => l.name)).toEqual(["ucast eth1 10.0.1.1", "ucast eth1 10.0.1.2", "ucast eth2 fd00::1", "ucast eth2 fd00::2"]);
    expect(authkeys!.active).toMatchObject({ index: 1, method: "sha256" });
  });
});

describe("bad fixtures: exact file:line and a message naming the fix", () => {
  const cases: Record<string, [string, number, string][]> = {
    "typo-directive": [["ha.cf", 2, "did you mean `deadtime`?"]],
    "wrong-units": [["ha.cf", 2, "milliseconds with `ms` (`500ms`)"]],
    "deadtime-vs-keepalive": [["ha.cf", 2, "raise deadtime above 4000ms or lower keepalive"]],
    "warntime-vs-deadtime": [["ha.cf", 3, "less than deadtime"]],
    "initdead-vs-deadtime": [["ha.cf", 3, "raise initdead to at least deadtime"]],
    "no-nodes": [["ha.cf", 0, "add `node NAME`"]],
    "no-links": [["ha.cf", 0, "add e.g. `ucast eth1 PEER-IP`"]],
    "duplicate-node": [["ha.cf", 4, "remove one"]],
    "crm-yes": [["ha.cf", 3, "remove the line (or write `crm off`)"]],
    "bad-mcast": [
      ["ha.cf", 0, "no heartbeat medium"],
      ["ha.cf", 1, "224.0.0.0 to 239.255.255.255"],
      ["ha.cf", 2, "out of range 0..4"],
      ["ha.cf", 3, "needs 5 values"],
    ],
    "ucast-hostname": [["ha.cf", 0, "no heartbeat medium"], ["ha.cf", 1, "tandem needs the address itself"]],
    "bad-interface": [["ha.cf", 0, "no heartbeat medium"], ["ha.cf", 1, "no '/'"], ["ha.cf", 2, "1 to 15 characters"]],
    "autojoin-any": [["ha.cf", 2, "remove the line or write `autojoin none`"]],
    "fence-unknown-node": [["ha.cf", 4, "`carol` is not a declared node"], ["ha.cf", 5, "`username` is not key=value"]],
    "suse-tutorial-original": [["ha.cf", 3, "`s`/`sec` does not"], ["ha.cf", 4, "did you mean `initdead`?"]],
    "auth-missing-auth": [["authkeys", 0, "add `auth 1`"]],
    "auth-undefined-index": [["authkeys", 1, "add `2 sha256 SECRET` or change it to `auth 1`"]],
    "auth-duplicate-index": [["authkeys", 3, "defined twice (first on line 2)"]],
    "auth-crc-comment": [["authkeys", 1, "names a key that is not defined"], ["authkeys", 2, "comments must be on their own line"]],
    "auth-unknown-method": [["authkeys", 1, "names a key that is not defined"], ["authkeys", 2, "did you mean `sha1`?"]],
    "auth-index-range": [["authkeys", 0, "add `auth 1`"], ["authkeys", 1, "`auth 1`"], ["authkeys", 2, "out of range 0..15"]],
    "auth-no-key": [["authkeys", 1, "names a key that is not defined"], ["authkeys", 2, "write `1 sha1 SECRET`"]],
  };
  test("every bad fixture has expectations", () => expect(readdirSync(join(fixtures, "bad")).sort()).toEqual(Object.keys(cases).sort()));
  for (const [name, want] of Object.entries(cases)) {
    test(name, async () => {
      const d = stage(`bad/${name}`);
      const loaded = loadConfig({ dir: d });
      expectErrors(loaded.diagnostics, want);
      const r = await cli(["--dir", d]);
      expect(r.code).toBe(1);
      const [file, line] = want[0]!;
      expect(r.stdout).toContain(`${d}/${file}:${line}: error: `);
      expect(r.stdout.trimEnd().split("\n").pop()).toMatch(new RegExp(`^${d}: ${want.length} errors?`));
    });
  }
});

describe("warning-only fixtures still pass", () => {
  const cases: Record<string, [string, number, string]> = {
    "nice-failback": ["ha.cf", 2, "replace this line with `auto_failback off`"],
    "obsolete-logd": ["ha.cf", 3, "remove the line"],
    "key-with-spaces": ["authkeys", 2, "write the key without spaces"],
  };
  for (const [name, [file, line, part]] of Object.entries(cases)) {
    test(name, () => {
      const loaded = loadConfig({ dir: stage(`warn/${name}`) });
      expect(errorsOf(loaded.diagnostics), show(loaded.diagnostics)).toEqual([]);
      expect(loaded.diagnostics.some((d) => d.file.endsWith(file) && d.line === line && d.message.includes(part)), show(loaded.diagnostics)).toBe(true);
    });
  }
});

describe("authkeys permissions (Heartbeat refuses keys others can read)", () => {
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o700 | 0o001]) {
    test(`mode ${mode.toString(8)} is refused with chmod 600`, () => {
      const d = stage("good/basic", mode);
      const loaded = loadConfig({ dir: d });
      expectErrors(loaded.diagnostics, [["authkeys", 0, `run \`chmod 600 ${d}/authkeys\``]]);
      expect(loaded.authkeys).toBeNull();
    });
  }
  for (const mode of [0o600, 0o400, 0o700]) {
    test(`mode ${mode.toString(8)} is fine`, () => expect(errorsOf(loadConfig({ dir: stage("good/basic", mode) }).diagnostics)).toEqual([]));
  }
});

describe("files that are missing, odd or hostile", () => {
  const good = (f: string) => join(fixtures, "good/basic", f);
  test("missing files: line 0 with what to create", () => {
    const d = write({});
    const loaded = loadConfig({ dir: d });
    expectErrors(loaded.diagnostics, [["ha.cf", 0, "missing: create it"], ["authkeys", 0, "`chmod 600` it"]]);
    expect(loadConfig({ dir: join(d, "nope") }).diagnostics.length).toBe(2);
  });
  test("a valid haresources is not complained about (haresources.test.ts covers the rest)", () => {
    const d = stage("good/basic");
    writeFileSync(join(d, "haresources"), "alice 10.0.0.10\n");
    expect(loadConfig({ dir: d }).diagnostics).toEqual([]);
  });
  test("symlinks to regular files are followed, as Heartbeat's fopen did; the target's mode counts", () => {
    const d = freshDir();
    const target = freshDir();
    copyFileSync(good("ha.cf"), join(target, "real.cf"));
    copyFileSync(good("authkeys"), join(target, "keys"));
    chmodSync(join(target, "keys"), 0o600);
    symlinkSync(join(target, "real.cf"), join(d, "ha.cf"));
    symlinkSync(join(target, "keys"), join(d, "authkeys"));
    expect(loadConfig({ dir: d }).diagnostics).toEqual([]);
    chmodSync(join(target, "keys"), 0o644);
    expectErrors(loadConfig({ dir: d }).diagnostics, [["authkeys", 0, "chmod 600"]]);
  });
  test("a dangling symlink says so", () => {
    const d = stage("good/basic");
    rmSync(join(d, "ha.cf"));
    symlinkSync(join(d, "gone"), join(d, "ha.cf"));
    expectErrors(loadConfig({ dir: d }).diagnostics, [["ha.cf", 0, "symlink to a file that does not exist"]]);
  });
  test("a directory, a FIFO, a device: refused, and nothing blocks", () => {
    const d = stage("good/basic");
    rmSync(join(d, "authkeys"));
    mkdirSync(join(d, "authkeys"));
    expectErrors(loadConfig({ dir: d }).diagnostics, [["authkeys", 0, "not a regular file (a directory)"]]);
    rmSync(join(d, "ha.cf"));
    expect(Bun.spawnSync(["mkfifo", join(d, "ha.cf")]).exitCode).toBe(0);
    const loaded = loadConfig({ dir: d });
    expect(errorsOf(loaded.diagnostics)[0]!.message).toContain("(a FIFO)");
    const e = freshDir();
    symlinkSync("/dev/zero", join(e, "ha.cf"));
    expect(errorsOf(loadConfig({ dir: e }).diagnostics)[0]!.message).toContain("a character device");
  });
  test("a huge file is refused whole at line 0", () => {
    const d = write({ "ha.cf": new Uint8Array(1024 * 1024 + 1).fill(0x41), authkeys: "auth 1\n1 sha256 0123456789abcdef0123456789abcdef\n" });
    expectErrors(loadConfig({ dir: d }).diagnostics, [["ha.cf", 0, "more than 1048576"]]);
  });
  test("a huge line is an error for that line only", () => {
    const d = write({ "ha.cf": `bcast eth0\n${"x".repeat(5000)}\nauto_failback on\nnode a b\n`, authkeys: "auth 1\n1 sha256 0123456789abcdef0123456789abcdef\n" });
    expectErrors(loadConfig({ dir: d }).diagnostics, [["ha.cf", 2, "more than 4096"]]);
  });
  test("NUL bytes, binary junk and Latin-1: errors per line, never a throw", () => {
    const latin1 = new Uint8Array([...new TextEncoder().encode("bcast eth0\nauto_failback on\nnode a b\nnode caf"), 0xe9, 0x0a]);
    const d = write({ "ha.cf": latin1, authkeys: "auth 1\n1 sha256 0123\x00456789abcdef0123456789abcdef\n" });
    expectErrors(loadConfig({ dir: d }).diagnostics, [["ha.cf", 4, "not valid UTF-8"], ["authkeys", 1, "not defined"], ["authkeys", 2, "NUL byte"]]);
    const junk = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    const j = write({ "ha.cf": junk, authkeys: junk });
    const loaded = loadConfig({ dir: j });
    expect(errorsOf(loaded.diagnostics).length).toBeGreaterThan(0);
    expect(loaded.hacf).toBeNull();
    expect(loaded.authkeys).toBeNull();
  });
});

describe("tandem check (runCheck)", () => {
  test("valid: exit 0, warnings printed as PATH:LINE: warning:, summary with count", async () => {
    const d = stage("seeds/suse-apache");
    const r = await cli(["--dir", d]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      [
        `${d}/ha.cf:0: warning: no \`auto_failback\`: Heartbeat's default is the deprecated \`legacy\`; add \`auto_failback on\` or \`auto_failback off\``,
        `${d}/authkeys:3: warning: key 1: md5 is weak: prefer \`N sha256 SECRET\` (tandem) or sha1 (if Heartbeat must still read this file)`,
        `${d}: OK (2 warnings)`,
        "",
      ].join("\n"),
    );
  });
  test("clean: just OK", async () => {
    const d = stage("good/basic");
    expect(await cli([`--dir=${d}`, "--node", "bob"])).toEqual({ code: 0, stdout: `${d}: OK\n`, stderr: "" });
  });
  test("errors: exit 1 and a count", async () => {
    const d = stage("good/basic", 0o644);
    const r = await cli(["--dir", d, "--node=carol"]);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split("\n").pop()).toBe(`${d}: 2 errors`);
  });
  test("bad usage: exit 2 with the usage on stderr", async () => {
    for (const argv of [["--bogus"], ["--dir"], ["--node"], ["extra"], ["--dir="]]) {
      const r = await cli(argv);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("usage: tandem check [--dir DIR] [--node NAME]");
    }
    const h = await cli(["--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("usage: tandem check");
  });
  test("a missing directory: exit 1, no stack trace", async () => {
    const r = await cli(["--dir", "/nonexistent/tandem"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("/nonexistent/tandem/ha.cf:0: error: missing");
    expect(r.stdout).not.toContain("    at ");
    const f = await cli(["--dir", "/dev/null"]);
    expect(f.code).toBe(1);
    expect(f.stdout).toContain("its directory is not a directory");
  });
});
