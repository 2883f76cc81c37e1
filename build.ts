// Builds tandem: ./node_modules/.bin/bun run build.ts [all|addon|bin]
//
//   all    (default) the addon, then dist/tandem
//   addon  only native/*.c -> src/native/tandem.node
//   bin    only dist/tandem (the addon must already be built)
//   image  the appliance disk, kernel and initrd from dist/tandem (root;
//          image/build.ts says how; cached in /var/cache/tandem-vm)
//   deb    the addon and dist/tandem, then dist/tandem_<version>_<arch>.deb
//          (packaging/deb.ts says what goes in; needs dpkg-deb)
//
// Why no other dependencies: tandem is a failover daemon that must start on
// a half-broken machine, so it ships as ONE executable (`bun build
// --compile`) with nothing to install beside it: no node_modules, no
// runtime, no shared libraries beyond libc. The only build tools are the
// pinned Bun from package.json and a C compiler with the Node-API headers
// (apt: gcc libc6-dev libnode-dev). No npm packages, no node-gyp/cmake.
//
// What the addon is for: the few Linux system calls Bun cannot make -
// SO_PEERCRED on the control socket (who is talking to us), mlockall and
// SCHED_RR (a heartbeat daemon must not be paged out or starved), floating
// IP addresses with gratuitous ARP / unsolicited NA (native/ip.c), and later
// the watchdog device, termios for serial links and DRBD.
// It is plain C against node_api.h (native/*.c), compiled into
// src/native/tandem.node; src/native/addon.ts loads it with a literal
// require() so `bun build --compile` embeds it in dist/tandem, and the
// compiled binary unpacks it into $TMPDIR at run time and dlopen()s it.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

const root = import.meta.dir;
const addon_sources = ["native/tandem.c", "native/ip.c", "native/watchdog.c", "native/serial.c", "native/drbd.c", "native/tandem.h"].map((p) => join(root, p));
const addon_units = addon_sources.filter((p) => p.endsWith(".c"));
const addon_out = join(root, "src/native/tandem.node");
const entry = join(root, "src/main.ts");
const bin_out = join(root, "dist/tandem");
const cflags = ["-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror"];

class BuildError extends Error {}

function which(cmd: string): string | null {
  return Bun.which(cmd);
}

function findCompiler(): string {
  const wanted = process.env.CC?.trim();
  if (wanted) {
    const found = which(wanted);
    if (!found) throw new BuildError(`$CC=${wanted} not found in PATH`);
    return found;
  }
  const cc = which("cc") ?? which("gcc") ?? which("clang");
  if (!cc) throw new BuildError("no C compiler (cc, gcc or clang) in PATH; install one: apt-get install gcc libc6-dev");
  return cc;
}

function findNodeApiInclude(): string {
  const candidates = ["/usr/include/node"];
  const node = which("node");
  if (node) candidates.push(join(dirname(dirname(node)), "include/node"));
  candidates.push("/usr/local/include/node");
  for (const dir of candidates) {
    if (existsSync(join(dir, "node_api.h"))) return dir;
  }
  throw new BuildError(
    `Node-API header node_api.h not found (looked in ${candidates.join(", ")}); install it: apt-get install libnode-dev`,
  );
}

function mtime(path: string): number {
  return statSync(path).mtimeMs;
}

function run(argv: string[], what: string): void {
  const proc = Bun.spawnSync(argv, { cwd: root, stdout: "inherit", stderr: "inherit", env: process.env });
  if (proc.exitCode !== 0) {
    throw new BuildError(`${what} failed (exit ${proc.exitCode ?? `signal ${proc.signalCode}`}): ${argv.join(" ")}`);
  }
}

function buildAddon(): void {
  for (const src of addon_sources) {
    if (!existsSync(src)) throw new BuildError(`missing addon source ${src}`);
  }
  if (existsSync(addon_out)) {
    const newest_input = Math.max(...addon_sources.map(mtime), mtime(import.meta.path));
    if (mtime(addon_out) >= newest_input) {
      console.log(`addon: ${rel(addon_out)} is up to date`);
      return;
    }
  }
  const cc = findCompiler();
  const include = findNodeApiInclude();
  // Write to a temporary name and rename, so a failed compile never leaves
  // a half-written tandem.node behind for the bundler to embed.
  const tmp = `${addon_out}.tmp-${process.pid}`;
  try {
    run([cc, ...cflags, `-I${include}`, "-o", tmp, ...addon_units], "compiling the addon");
    renameSync(tmp, addon_out);
  } finally {
    rmSync(tmp, { force: true });
  }
  console.log(`addon: built ${rel(addon_out)}`);
}

function buildBinary(): void {
  if (!existsSync(addon_out)) {
    throw new BuildError(`${rel(addon_out)} is missing; run \`bun run build.ts addon\` (or plain \`bun run build.ts\`)`);
  }
  mkdirSync(dirname(bin_out), { recursive: true });
  // process.execPath is the pinned Bun running this script. No --minify or
  // strip: stack traces from the field should stay readable.
  run([process.execPath, "build", "--compile", entry, "--outfile", bin_out], "bun build --compile");
  console.log(`bin: built ${rel(bin_out)}`);
}

function rel(path: string): string {
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

const usage = "usage: bun run build.ts [all|addon|bin|image|deb]";
const target = process.argv[2] ?? "all";
try {
  switch (target) {
    case "all":
      buildAddon();
      buildBinary();
      break;
    case "addon":
      buildAddon();
      break;
    case "bin":
      buildBinary();
      break;
    case "image":
      run([process.execPath, join(root, "image/build.ts")], "image/build.ts");
      break;
    case "deb":
      buildAddon();
      buildBinary();
      run([process.execPath, join(root, "packaging/deb.ts")], "packaging/deb.ts");
      break;
    case "-h":
    case "--help":
      console.log(usage);
      break;
    default:
      console.error(`build.ts: unknown target ${JSON.stringify(target)}\n${usage}`);
      process.exit(2);
  }
} catch (e) {
  if (e instanceof BuildError) {
    console.error(`build.ts: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
