// The Debian package: packaging/deb.ts builds it from dist/tandem (what
// `bun run build.ts deb` does after building the binary), dpkg-deb -c/-I
// show its contents and control data, and dpkg installs it into a
// throw-away root (--root, scripts run chrootless with $DPKG_ROOT, so the
// real postinst/prerm/postrm and deb-systemd-helper run against that root,
// never this machine's /usr or /etc).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "tandem-deb-"));
const version: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
let deb = "";

function run(argv: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
}

function ok(argv: string[]): string {
  const r = run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.err}`);
  return r.out + r.err;
}

/** A fresh dpkg database under DIR. */
function newRoot(name: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, "var/lib/dpkg/info"), { recursive: true });
  mkdirSync(join(dir, "var/lib/dpkg/updates"), { recursive: true });
  writeFileSync(join(dir, "var/lib/dpkg/status"), "");
  return dir;
}

function dpkg(dir: string, ...args: string[]): string {
  // --force-depends: the throw-away root has no libc6 package registered.
  return ok(["dpkg", `--root=${dir}`, "--force-not-root", "--force-script-chrootless", "--force-depends", "--log=/dev/null", ...args]);
}

const wants = "etc/systemd/system/multi-user.target.wants/tandem.service";
/** The enablement symlink points at /lib/systemd/system/tandem.service as
 *  the target system sees it, so look at the link itself (lstat), not through it. */
function enabled(dir: string): boolean {
  try {
    return lstatSync(join(dir, wants)).isSymbolicLink() && readlinkSync(join(dir, wants)) === "/lib/systemd/system/tandem.service";
  } catch {
    return false;
  }
}

beforeAll(() => {
  expect(existsSync(join(root, "dist/tandem"))).toBe(true); // ./run test builds it
  const out = ok([process.execPath, join(root, "packaging/deb.ts"), "--out", work]);
  expect(out).toContain("deb: built");
  deb = join(work, `tandem_${version}_${ok(["dpkg", "--print-architecture"]).trim()}.deb`);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("tandem .deb", () => {
  test("build.ts has the deb target", () => {
    expect(ok([process.execPath, join(root, "build.ts"), "--help"])).toContain("deb");
  });

  test("dpkg-deb -c: binary, unit, man pages, completion, examples", () => {
    const listing = ok(["dpkg-deb", "-c", deb]);
    for (const path of [
      "./usr/sbin/tandem",
      "./lib/systemd/system/tandem.service",
      "./usr/share/man/man8/tandem.8.gz",
      "./usr/share/man/man5/tandem-directives.5.gz",
      "./usr/share/bash-completion/completions/tandem",
      "./usr/share/doc/tandem/examples/ha.d/ha.cf",
      "./usr/share/doc/tandem/examples/ha.d/authkeys",
      "./usr/share/doc/tandem/examples/ha.d/haresources",
    ]) {
      expect(listing).toMatch(new RegExp(`root/root .* ${path.replace(/\./g, "\\.")}$`, "m"));
    }
    expect(listing).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/sbin\/tandem$/m);
    // Nothing under /etc: /etc/ha.d is the admin's.
    expect(listing).not.toMatch(/ \.\/etc\//);
  });

  test("dpkg-deb -I: control fields and the three maintainer scripts", () => {
    const info = ok(["dpkg-deb", "-I", deb]);
    expect(info).toContain("Package: tandem");
    expect(info).toContain(`Version: ${version}`);
    expect(info).toMatch(/Depends: libc6/);
    for (const s of ["postinst", "prerm", "postrm"]) expect(info).toMatch(new RegExp(`\\*\\s+${s}\\s`));
  });

  test("install without ha.cf: state dir, not enabled, binary runs, man page renders; remove and purge", () => {
    const dir = newRoot("bare");
    const out = dpkg(dir, "-i", deb);
    expect(out).toContain("no /etc/ha.d/ha.cf: the service is not enabled");
    expect(enabled(dir)).toBe(false);
    expect(statSync(join(dir, "var/lib/tandem")).mode & 0o777).toBe(0o700);
    // Not stripped: the installed executable is dist/tandem byte for byte (the bundle is appended to it).
    expect(Bun.hash(readFileSync(join(dir, "usr/sbin/tandem")))).toBe(Bun.hash(readFileSync(join(root, "dist/tandem"))));
    expect(ok([join(dir, "usr/sbin/tandem"), "version"])).toContain(`tandem ${version}`);
    expect(ok(["man", "-l", join(dir, "usr/share/man/man8/tandem.8.gz")])).toContain("export pacemaker");
    // The example configuration passes `tandem check` once authkeys is 0600.
    const etc = join(dir, "etc/ha.d");
    mkdirSync(etc, { recursive: true });
    for (const f of ["ha.cf", "authkeys", "haresources"]) copyFileSync(join(dir, "usr/share/doc/tandem/examples/ha.d", f), join(etc, f));
    chmodSync(join(etc, "authkeys"), 0o600);
    expect(run([join(dir, "usr/sbin/tandem"), "check", "--dir", etc, "--node", "node1"]).code).toBe(0);
    dpkg(dir, "-r", "tandem");
    expect(existsSync(join(dir, "usr/sbin/tandem"))).toBe(false);
    expect(existsSync(join(etc, "ha.cf"))).toBe(true); // never touched
    expect(existsSync(join(dir, "var/lib/tandem"))).toBe(true);
    dpkg(dir, "--purge", "tandem");
    expect(existsSync(join(dir, "var/lib/tandem"))).toBe(false);
    expect(existsSync(join(etc, "ha.cf"))).toBe(true);
  });

  test("install with ha.cf: the unit is enabled (deb-systemd-helper), never started", () => {
    const dir = newRoot("configured");
    mkdirSync(join(dir, "etc/ha.d"), { recursive: true });
    copyFileSync(join(root, "packaging/examples/ha.d/ha.cf"), join(dir, "etc/ha.d/ha.cf"));
    const out = dpkg(dir, "-i", deb);
    expect(out).not.toContain("not enabled");
    expect(enabled(dir)).toBe(true);
    expect(existsSync(join(dir, "var/lib/systemd/deb-systemd-helper-enabled/tandem.service.dsh-also"))).toBe(true);
    // Upgrade in place keeps it enabled; remove masks-then-forgets like debhelper's scripts.
    dpkg(dir, "-i", deb);
    expect(enabled(dir)).toBe(true);
    dpkg(dir, "--purge", "tandem");
    expect(enabled(dir)).toBe(false);
  });
});
