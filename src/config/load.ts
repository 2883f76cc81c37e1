// Read DIR/ha.cf, DIR/authkeys and DIR/haresources from disk, parse, complete.
// Never throws: every problem (missing, unreadable, not a regular file, too
// big, bad mode) becomes a Diagnostic. haresources is optional: a cluster
// without it only does membership (Heartbeat R1 needs it for resources).
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats, statSync } from "node:fs";
import { join } from "node:path";
import { authKeysModeProblem, parseAuthKeys } from "./authkeys.ts";
import { hbAuthSupported } from "../wire/hb_auth.ts";
import { complete, parseHaCf } from "./hacf.ts";
import { parseHaResources } from "./haresources.ts";
import { hostChecks } from "./host.ts";
import { file_size_max } from "./lines.ts";
import type { Diagnostic, LoadedConfig } from "./types.ts";

export interface LoadOptions {
  dir: string;
  self_node?: string;
  /** where haresources scripts are looked for after DIR/resource.d; default /etc/init.d */
  init_dir?: string;
  /** OCF agents root for `ocf:` resources; default /usr/lib/ocf */
  ocf_root?: string;
}

export function loadConfig(opts: LoadOptions): LoadedConfig {
  try {
    return loadUnchecked(opts);
  } catch (e) {
    // A parser bug must not take the daemon or `tandem check` down with a stack trace.
    const message = `internal error while reading the configuration (${(e as Error)?.message ?? e}); please report it`;
    return { hacf: null, authkeys: null, haresources: null, diagnostics: [{ file: opts.dir, line: 0, severity: "error", message }] };
  }
}

function loadUnchecked(opts: LoadOptions): LoadedConfig {
  const diagnostics: Diagnostic[] = [];
  const hacf_path = join(opts.dir, "ha.cf");
  const auth_path = join(opts.dir, "authkeys");
  let hacf: LoadedConfig["hacf"] = null;
  /** node names for haresources, even when ha.cf has other errors; null when ha.cf could not be read */
  let nodes: string[] | null = null;
  const hacf_read = readConfigFile(hacf_path, "ha.cf");
  if ("problem" in hacf_read) diagnostics.push(hacf_read.problem);
  else {
    const parsed = parseHaCf(hacf_read.bytes, hacf_path);
    nodes = [...parsed.config.nodes];
    const rules = complete(parsed.config, { self_node: opts.self_node });
    const host = hostChecks(parsed.config);
    const all = [...parsed.diagnostics, ...rules, ...host];
    diagnostics.push(...sortByLine(all));
    if (!all.some((d) => d.severity === "error")) hacf = parsed.config;
  }
  let authkeys: LoadedConfig["authkeys"] = null;
  const auth_read = readConfigFile(auth_path, "authkeys");
  if ("problem" in auth_read) diagnostics.push(auth_read.problem);
  else {
    const mode_problem = authKeysModeProblem(auth_read.stats.mode, auth_path);
    const parsed = parseAuthKeys(auth_read.bytes, auth_path);
    const mode_diag: Diagnostic[] = mode_problem ? [{ file: auth_path, line: 0, severity: "error", message: mode_problem, keyword: "authkeys" }] : [];
    diagnostics.push(...sortByLine([...mode_diag, ...parsed.diagnostics]));
    if (!mode_problem) authkeys = parsed.keys;
    // `wire heartbeat` signs with the active key as Heartbeat does: Heartbeat has no sha256
    const k = parsed.keys?.active;
    if (hacf?.wire === "heartbeat" && k && !hbAuthSupported(k.method)) {
      const line = hacf.raw.get("wire")?.[0]?.line ?? 0;
      diagnostics.push({ file: auth_path, line: k.line, severity: "error", keyword: "authkeys", message: `key ${k.index} uses ${k.method}, but ha.cf line ${line} says \`wire heartbeat\` and Heartbeat 3.0.6 knows only crc, md5 and sha1: use \`${k.index} sha1 SECRET\` on both kinds of node` });
      authkeys = null;
    }
  }
  let haresources: LoadedConfig["haresources"] = null;
  const res_path = join(opts.dir, "haresources");
  if (exists(res_path)) {
    const res_read = readConfigFile(res_path, "haresources");
    if ("problem" in res_read) diagnostics.push(res_read.problem);
    else {
      const parsed = parseHaResources(res_read.bytes, res_path, { nodes, dir: opts.dir, init_dir: opts.init_dir, ocf_root: opts.ocf_root });
      diagnostics.push(...parsed.diagnostics);
      if (!parsed.diagnostics.some((d) => d.severity === "error")) haresources = parsed.resources;
    }
  }
  return { hacf, authkeys, haresources, diagnostics };
}

/** The path exists (a dangling symlink counts: readConfigFile then says what is wrong). */
function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    // ENOENT: no haresources, a membership-only cluster; ENOTDIR: ha.cf already
    // says the directory is wrong. Anything else (EACCES) is reported by readConfigFile.
    const code = (e as NodeJS.ErrnoException).code;
    return code !== "ENOENT" && code !== "ENOTDIR";
  }
}

function sortByLine(ds: Diagnostic[]): Diagnostic[] {
  return ds.map((d, i) => ({ d, i })).sort((a, b) => a.d.line - b.d.line || a.i - b.i).map((x) => x.d);
}

const missing_fix: Record<string, string> = {
  "ha.cf": "create it (Heartbeat's annotated sample is doc/ha.cf) with `node`, a medium such as `ucast`, and timing lines",
  authkeys: "create it with `auth 1` and `1 sha256 SECRET` lines, then `chmod 600` it",
};

type ReadResult = { bytes: Uint8Array; stats: Stats } | { problem: Diagnostic };

/** stat (following symlinks, as Heartbeat's fopen did), refuse non-regular and huge files, read. */
export function readConfigFile(path: string, what: string): ReadResult {
  const problem = (message: string): ReadResult => ({ problem: { file: path, line: 0, severity: "error", message, keyword: what } });
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return problem(isDanglingLink(path) ? "is a symlink to a file that does not exist: fix the link" : `missing: ${missing_fix[what] ?? "create it"}`);
    if (code === "EACCES") return problem("cannot be read (permission denied): run as root");
    if (code === "ENOTDIR") return problem("its directory is not a directory: check --dir");
    return problem(`cannot be read (${code ?? (e as Error).message})`);
  }
  if (!stats.isFile()) return problem(`is not a regular file (${fileKind(stats)}): replace it with a plain file`);
  if (stats.size > file_size_max) return problem(`is ${stats.size} bytes, more than ${file_size_max}: this is not a Heartbeat configuration file`);
  return readBounded(path, problem);
}

function readBounded(path: string, problem: (m: string) => ReadResult): ReadResult {
  let fd: number;
  try {
    // O_NONBLOCK: if a FIFO replaced the file since stat, open must not hang.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return problem(code === "EACCES" ? "cannot be read (permission denied): run as root" : `cannot be opened (${code ?? (e as Error).message})`);
  }
  try {
    // Re-check on the open descriptor: the file may have been swapped since stat.
    const fstats = fstatSync(fd);
    if (!fstats.isFile()) return problem("is not a regular file: replace it with a plain file");
    const buf = new Uint8Array(file_size_max + 1);
    let len = 0;
    for (let i = 0; i < 1024 && len < buf.length; i++) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
    }
    if (len > file_size_max) return problem(`grew past ${file_size_max} bytes while being read: this is not a Heartbeat configuration file`);
    return { bytes: buf.subarray(0, len), stats: fstats };
  } catch (e) {
    return problem(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

function isDanglingLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function fileKind(s: Stats): string {
  if (s.isDirectory()) return "a directory";
  if (s.isFIFO()) return "a FIFO";
  if (s.isCharacterDevice()) return "a character device";
  if (s.isBlockDevice()) return "a block device";
  if (s.isSocket()) return "a socket";
  return "not a file";
}
