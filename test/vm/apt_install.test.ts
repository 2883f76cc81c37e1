// `apt install ./tandem_*.deb` on a real Debian system (issue 10): the
// package from packaging/deb.ts goes into a Debian bookworm root with apt,
// dpkg, systemctl and deb-systemd-helper of its own: the appliance image's
// cached package layer (image/build.ts ensureDebianRoot, built once by
// debootstrap; the VM tests use the same cache). Each step runs chrooted
// into an overlay of that root (the cache is never written), in private
// mount, network, PID and UTS namespaces (host name node1): the overlay goes away with the process, and
// apt has no network at all, so the install can only use the local file and
// what the root already has (a real `apt install ./file.deb` resolves its
// Depends against the installed packages).
//
// test/integration/deb.test.ts covers the maintainer scripts' logic in a
// `dpkg --root` database; this one is what an admin types.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDebianRoot } from "../../image/build.ts";

const root = join(import.meta.dir, "../..");
const version: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
const work = mkdtempSync(join(tmpdir(), "tandem-apt-"));
let rootfs = "";
let deb = "";
let skip = "";

function run(argv: string[], timeout_ms = 120_000): { code: number; out: string } {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", timeout: timeout_ms });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

/** Runs `script` as root in a chroot of the overlay `name` (its upper layer
 *  persists between calls under work/, the lower is the cached Debian root). */
function inRoot(name: string, script: string): { code: number; out: string } {
  const upper = join(work, name, "upper");
  const wdir = join(work, name, "work");
  const mnt = join(work, name, "mnt");
  for (const d of [upper, wdir, mnt]) mkdirSync(d, { recursive: true });
  // /dev is a fresh tmpfs with the few nodes apt and dpkg open, not the
  // host's /dev; the deb is copied in (the overlay is private to this process).
  const outer = `set -e
mount -t overlay overlay -o lowerdir='${rootfs}',upperdir='${upper}',workdir='${wdir}' '${mnt}'
mount -t proc proc '${mnt}/proc'
mount -t tmpfs -o mode=755 tmpfs '${mnt}/dev'
mknod -m 666 '${mnt}/dev/null' c 1 3
mknod -m 666 '${mnt}/dev/zero' c 1 5
mknod -m 666 '${mnt}/dev/full' c 1 7
mknod -m 666 '${mnt}/dev/random' c 1 8
mknod -m 666 '${mnt}/dev/urandom' c 1 9
mkdir '${mnt}/dev/pts' && mount -t devpts -o newinstance,ptmxmode=0666 devpts '${mnt}/dev/pts' && ln -s pts/ptmx '${mnt}/dev/ptmx'
hostname node1
mount -t tmpfs tmpfs '${mnt}/tmp'
mount -t tmpfs tmpfs '${mnt}/run'
cp '${deb}' '${mnt}/root/'
exec chroot '${mnt}' /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/sh -c "$1" 2>&1`;
  return run(["unshare", "--mount", "--net", "--pid", "--uts", "--fork", "--propagation", "private", "/bin/bash", "-c", outer, "apt-root", script]);
}

const file = () => `./root/${deb.split("/").pop()}`;
const wants = "/etc/systemd/system/multi-user.target.wants/tandem.service";

beforeAll(() => {
  if (process.getuid?.() !== 0) {
    skip = "not root";
    return;
  }
  expect(existsSync(join(root, "dist/tandem"))).toBe(true); // ./run test builds it
  rootfs = ensureDebianRoot();
  const out = run([process.execPath, join(root, "packaging/deb.ts"), "--out", work]);
  expect(out.out).toContain("deb: built");
  deb = join(work, `tandem_${version}_${run(["dpkg", "--print-architecture"]).out.trim()}.deb`);
  expect(existsSync(deb)).toBe(true);
}, 3_600_000); // a cold cache runs debootstrap + apt (the VM tests' image build needs it anyway)

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("apt install ./tandem_*.deb on Debian bookworm", () => {
  test("no ha.cf: installed, binary and man pages in place, unit not enabled; admin enables it; remove keeps /etc/ha.d, purge removes the state", () => {
    if (skip) return console.log(`skipped: ${skip}`);
    // The image's root leaves out manual pages (dpkg path-exclude); a stock Debian system does not.
    const r = inRoot(
      "plain",
      `rm -f /etc/dpkg/dpkg.cfg.d/01-tandem-nodoc
test ! -e /etc/ha.d/ha.cf
apt-get install -y ${file()}; echo "apt-exit=$?"
dpkg-query -W -f='status=\${Status} version=\${Version}\\n' tandem
/usr/sbin/tandem version; echo "version-exit=$?"
ls /usr/share/man/man8/tandem.8.gz /usr/share/man/man5/tandem-directives.5.gz /usr/share/bash-completion/completions/tandem /lib/systemd/system/tandem.service
stat -c 'state=%a' /var/lib/tandem
echo "enabled=$(systemctl is-enabled tandem.service 2>/dev/null)"`,
    );
    console.log(r.out);
    expect(r.code).toBe(0);
    expect(r.out).toContain("apt-exit=0");
    expect(r.out).toContain("Setting up tandem");
    expect(r.out).toContain("no /etc/ha.d/ha.cf: the service is not enabled");
    expect(r.out).toContain(`status=install ok installed version=${version}`);
    expect(r.out).toContain("version-exit=0");
    expect(r.out).toContain("state=700");
    expect(r.out).toContain("enabled=disabled");

    // What the postinst tells the admin to do, then remove and purge.
    const s = inRoot(
      "plain",
      `cp /usr/share/doc/tandem/examples/ha.d/* /etc/ha.d/ && chmod 600 /etc/ha.d/authkeys
tandem check --dir /etc/ha.d; echo "check-exit=$?"
systemctl enable tandem.service; echo "enabled=$(systemctl is-enabled tandem.service)"
apt-get remove -y tandem; echo "remove-exit=$?"
test -e /usr/sbin/tandem && echo binary-left || echo binary-gone
test -f /etc/ha.d/ha.cf && echo hacf-kept
test -d /var/lib/tandem && echo state-kept
apt-get purge -y tandem; echo "purge-exit=$?"
test -d /var/lib/tandem && echo state-left || echo state-gone
test -e ${wants} && echo wants-left || echo wants-gone
echo "dpkg=$(dpkg-query -W -f='\${db:Status-Abbrev}' tandem 2>/dev/null)"`,
    );
    console.log(s.out);
    expect(s.out).toContain("check-exit=0");
    expect(s.out).toContain("enabled=enabled");
    expect(s.out).toContain("remove-exit=0");
    expect(s.out).toContain("binary-gone");
    expect(s.out).toContain("hacf-kept");
    expect(s.out).toContain("state-kept");
    expect(s.out).toContain("purge-exit=0");
    expect(s.out).toContain("state-gone");
    expect(s.out).toContain("wants-gone");
    expect(s.out).not.toMatch(/dpkg=ii/);
  }, 300_000);

  test("ha.cf already there (a Heartbeat box): apt enables the unit and starts nothing", () => {
    if (skip) return console.log(`skipped: ${skip}`);
    const r = inRoot(
      "heartbeat-box",
      `mkdir -p /etc/ha.d && printf 'node a b\\nucast eth0 192.0.2.2\\n' > /etc/ha.d/ha.cf
apt-get install -y ${file()}; echo "apt-exit=$?"
echo "enabled=$(systemctl is-enabled tandem.service 2>/dev/null)"
test -L ${wants} && echo "wants=$(readlink ${wants})"
ls /run/systemd/system 2>/dev/null && echo "systemd-running" || echo "no-systemd"
pgrep -x tandem && echo started || echo not-started`,
    );
    console.log(r.out);
    expect(r.out).toContain("apt-exit=0");
    expect(r.out).toContain("enabled=enabled");
    expect(r.out).toContain("wants=/lib/systemd/system/tandem.service");
    expect(r.out).not.toContain("no /etc/ha.d/ha.cf");
    expect(r.out).toContain("not-started");
  }, 300_000);
});
