// Builds dist/tandem_<version>_<arch>.deb from dist/tandem (build.ts deb
// runs this after building the binary; `--out DIR` puts it elsewhere). dpkg-deb --root-owner-group makes
// every file root:root without fakeroot; gzip, not xz: xz takes minutes on
// the 100 MB executable, gzip seconds.
//
// Contents: /usr/sbin/tandem (not stripped: `bun build --compile` appends the
// bundle to the executable, and strip would cut it off), the systemd unit,
// tandem(8) and tandem-directives(5), bash completion, example /etc/ha.d
// under /usr/share/doc/tandem/examples. Maintainer scripts in packaging/deb/
// (postinst enables the unit only when /etc/ha.d/ha.cf exists and never
// starts it).
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";

const root = join(import.meta.dir, "..");
const bin = join(root, "dist/tandem");

export class PackageError extends Error {
  override name = "PackageError";
}

function sh(argv: string[]): string {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new PackageError(`${argv.join(" ")} failed (exit ${p.exitCode}): ${p.stderr.toString().trim()}`);
  return p.stdout.toString().trim();
}

function put(stage: string, path: string, data: Uint8Array | string, mode: number): void {
  const dst = join(stage, path);
  mkdirSync(dirname(dst), { recursive: true, mode: 0o755 });
  writeFileSync(dst, data);
  chmodSync(dst, mode);
}

function copy(stage: string, path: string, src: string, mode: number): void {
  put(stage, path, readFileSync(src), mode);
}

/** gzip -9n equivalent: no name, no timestamp (reproducible). */
function gz(src: string): Uint8Array {
  return gzipSync(readFileSync(src), { level: 9 });
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out.sort();
}

/** out_dir: where the .deb goes (default dist/; the package test uses its own). */
export function buildDeb(out_dir = join(root, "dist")): string {
  try {
    statSync(bin);
  } catch {
    throw new PackageError("dist/tandem is missing: run `bun run build.ts` first");
  }
  const version: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  const arch = sh(["dpkg", "--print-architecture"]);
  const out = join(out_dir, `tandem_${version}_${arch}.deb`);
  const stage = join(out_dir, `deb-stage-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  try {
    copy(stage, "usr/sbin/tandem", bin, 0o755);
    copy(stage, "lib/systemd/system/tandem.service", join(root, "systemd/tandem.service"), 0o644);
    put(stage, "usr/share/man/man8/tandem.8.gz", gz(join(root, "docs/tandem.8")), 0o644);
    put(stage, "usr/share/man/man5/tandem-directives.5.gz", gz(join(root, "docs/tandem-directives.5")), 0o644);
    copy(stage, "usr/share/bash-completion/completions/tandem", join(root, "completions/tandem.bash"), 0o644);
    for (const f of ["ha.cf", "authkeys", "haresources"]) {
      copy(stage, `usr/share/doc/tandem/examples/ha.d/${f}`, join(root, "packaging/examples/ha.d", f), 0o644);
    }
    put(stage, "usr/share/doc/tandem/README.md", readFileSync(join(root, "README.md")), 0o644);
    const files = walk(stage);
    const md5sums = files.map((f) => `${createHash("md5").update(readFileSync(f)).digest("hex")}  ${relative(stage, f)}`).join("\n");
    const size_kib = Math.ceil(files.reduce((n, f) => n + statSync(f).size, 0) / 1024);
    const control = [
      "Package: tandem",
      `Version: ${version}`,
      `Architecture: ${arch}`,
      "Maintainer: tandem developers <tandem@localhost>",
      `Installed-Size: ${size_kib}`,
      "Depends: libc6 (>= 2.31)",
      "Recommends: iputils-ping, resource-agents",
      "Suggests: fence-agents, cluster-glue, pcs",
      "Section: admin",
      "Priority: optional",
      "Description: Heartbeat-compatible two-node failover cluster",
      " tandem reads Heartbeat 3.0.6's /etc/ha.d (ha.cf, authkeys, haresources)",
      " as it is and runs the same resource groups with faster failure detection,",
      " fencing and a single self-contained executable.",
      " .",
      " The service is enabled only when /etc/ha.d/ha.cf exists and is never",
      " started by the installation.",
      "",
    ].join("\n");
    put(stage, "DEBIAN/control", control, 0o644);
    put(stage, "DEBIAN/md5sums", `${md5sums}\n`, 0o644);
    for (const s of ["postinst", "prerm", "postrm"]) copy(stage, `DEBIAN/${s}`, join(root, "packaging/deb", s), 0o755);
    mkdirSync(dirname(out), { recursive: true });
    sh(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", stage, out]);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.main) {
  try {
    const i = process.argv.indexOf("--out");
    const out_dir = i > 0 ? process.argv[i + 1] : undefined;
    if (i > 0 && !out_dir) throw new PackageError("--out needs a directory");
    console.log(`deb: built ${relative(root, buildDeb(out_dir))}`);
  } catch (e) {
    if (!(e instanceof PackageError)) throw e;
    console.error(`packaging/deb.ts: ${e.message}`);
    process.exit(1);
  }
}
