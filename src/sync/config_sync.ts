// `tandem config push`: copy /etc/ha.d to the peer, authenticated by authkeys.
//
// Heartbeat admins used scp; here the daemon listens on TCP at ha.cf's
// udpport, on the addresses of its heartbeat interfaces only, and the CLI
// talks to the peer's daemon:
//
//   server -> client  {"hello": {v, node, nonce}}
//   client -> server  {"body": JSON, "key": N, "mac": hex}
//                     body = {op: "get"|"put", from, to, nonce, cnonce, files?}
//   server -> client  {"body": JSON, "key": N, "mac": hex}
//                     body = {op, node, cnonce, files|written|error}
//
// Every body is HMAC'd with an authkeys key (crc is refused: it has no key).
// The server's nonce makes a recorded request useless on another connection;
// the client's nonce does the same for replies. One request per connection.
//
// Refusals (pushRefusal, checked by the client before it asks and again by
// the server before it writes): the pushed node list must be the peer's
// current one; the pushed authkeys must still hold the key the peer signs
// with now; udpport and wire must not change; the pushed files must pass
// `tandem check` for the peer's node. Any of those, once the peer restarts,
// leaves two nodes that cannot hear each other: a split cluster.
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, readConfigFile } from "../config/load.ts";
import { type AuthKey, type AuthKeys, formatDiagnostic, type HaConfig } from "../config/types.ts";
import { computeMac, verifyMac } from "../wire/auth.ts";

export const sync_protocol_version = 1;
/** Bounds: a configuration directory is a handful of small files. */
export const files_max = 64;
export const file_bytes_max = 256 * 1024;
export const message_bytes_max = 8 * 1024 * 1024;
export const sync_timeout_ms = 10_000;
export const connections_max = 4;

/** A configuration file by its path relative to the directory: `ha.cf`, `resource.d/foo`. */
export interface ConfigFile {
  data: Buffer;
  mode: number;
}
export type ConfigFiles = Map<string, ConfigFile>;

export class SyncError extends Error {
  override name = "SyncError";
}

const top_files = ["ha.cf", "authkeys", "haresources"];
const name_re = /^(ha\.cf|authkeys|haresources|resource\.d\/[A-Za-z0-9_.+-]{1,128})$/;

/** What a push copies: ha.cf, authkeys, haresources and resource.d's regular files. */
export function collectConfig(dir: string): ConfigFiles {
  const out: ConfigFiles = new Map();
  const add = (rel: string): void => {
    if (out.size >= files_max) throw new SyncError(`${dir} has more than ${files_max} files to copy`);
    const r = readConfigFile(join(dir, rel), rel);
    if ("problem" in r) throw new SyncError(formatDiagnostic(r.problem));
    if (r.bytes.length > file_bytes_max) throw new SyncError(`${join(dir, rel)} is larger than ${file_bytes_max} bytes`);
    out.set(rel, { data: Buffer.from(r.bytes), mode: r.stats.mode & 0o7777 });
  };
  for (const f of top_files) if (exists(join(dir, f))) add(f);
  const rd = join(dir, "resource.d");
  if (exists(rd)) {
    for (const e of readdirSync(rd, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isFile() && name_re.test(`resource.d/${e.name}`)) add(`resource.d/${e.name}`);
    }
  }
  return out;
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function encodeFiles(files: ConfigFiles): Record<string, { b64: string; mode: number }> {
  const o: Record<string, { b64: string; mode: number }> = {};
  for (const [k, v] of files) o[k] = { b64: v.data.toString("base64"), mode: v.mode };
  return o;
}

function decodeFiles(o: unknown): ConfigFiles {
  if (typeof o !== "object" || o === null) throw new SyncError("bad files in message");
  const out: ConfigFiles = new Map();
  for (const [k, v] of Object.entries(o)) {
    if (!name_re.test(k)) throw new SyncError(`refusing file name ${JSON.stringify(k)}`);
    const f = v as { b64?: unknown; mode?: unknown };
    if (typeof f.b64 !== "string" || typeof f.mode !== "number") throw new SyncError(`bad entry for ${k}`);
    const data = Buffer.from(f.b64, "base64");
    if (data.length > file_bytes_max) throw new SyncError(`${k} is larger than ${file_bytes_max} bytes`);
    out.set(k, { data, mode: f.mode & 0o755 });
    if (out.size > files_max) throw new SyncError(`more than ${files_max} files`);
  }
  return out;
}

// ---- what would split the cluster ----------------------------------------------

/** The parsed view of a file set (parsed in a scratch directory, as the daemon would). */
export interface ParsedConfig {
  hacf: HaConfig | null;
  authkeys: AuthKeys | null;
  problems: string[];
}

export function parseFiles(files: ConfigFiles, self_node?: string, init_dir?: string): ParsedConfig {
  const dir = mkdtempSync(join(tmpdir(), "tandem-sync-"));
  try {
    writeFiles(dir, files);
    const loaded = loadConfig({ dir, self_node, init_dir });
    const problems = loaded.diagnostics.filter((d) => d.severity === "error").map((d) => formatDiagnostic(d).replace(`${dir}/`, ""));
    return { hacf: loaded.hacf, authkeys: loaded.authkeys, problems };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sameKey(a: AuthKey | undefined, b: AuthKey): boolean {
  return a !== undefined && a.index === b.index && a.method === b.method && a.key === b.key;
}

/**
 * Why pushing `next` onto a peer running `current` would split the cluster,
 * or [] when it is safe. `next` is parsed for the peer's node name.
 */
export function pushRefusal(next: ParsedConfig, current: ParsedConfig, peer: string): string[] {
  const why: string[] = [];
  if (next.problems.length > 0) why.push(`the files do not pass \`tandem check\` for ${peer}: ${next.problems.join("; ")}`);
  if (!next.hacf || !next.authkeys) return why.length > 0 ? why : ["the files cannot be read as a configuration"];
  if (!current.hacf || !current.authkeys) return [`${peer}'s current configuration cannot be read (${current.problems.join("; ")}): copy the files by hand`];
  const a = [...next.hacf.nodes].sort().join(" ");
  const b = [...current.hacf.nodes].sort().join(" ");
  if (a !== b) {
    why.push(`node list changes (${peer} has \`${b}\`, the push has \`${a}\`): a running peer cannot change membership alone; stop both nodes, copy the files, start both`);
  }
  if (!sameKey(next.authkeys.keys.get(current.authkeys.active.index), current.authkeys.active)) {
    why.push(`authkeys no longer holds key ${current.authkeys.active.index} (${current.authkeys.active.method}), which ${peer} signs with now: keep it in the file (switch \`auth N\` later) so both nodes verify each other while they restart`);
  }
  if (next.hacf.udpport !== current.hacf.udpport) why.push(`udpport changes (${current.hacf.udpport} -> ${next.hacf.udpport}): the nodes would stop hearing each other after one restarts`);
  if (next.hacf.wire !== current.hacf.wire) why.push(`wire changes (${current.hacf.wire} -> ${next.hacf.wire}): the nodes would stop understanding each other after one restarts`);
  return why;
}

// ---- writing ---------------------------------------------------------------------

/** Write each file to a temporary name, fsync, rename: a crash leaves old or new, never half. */
export function writeFiles(dir: string, files: ConfigFiles): string[] {
  const written: string[] = [];
  for (const [rel, f] of files) {
    const path = join(dir, rel);
    mkdirSync(join(path, ".."), { recursive: true, mode: 0o755 });
    const tmp = `${path}.tandem-push-${process.pid}`;
    const fd = openSync(tmp, "w", rel === "authkeys" ? 0o600 : f.mode);
    try {
      writeSync(fd, f.data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, rel === "authkeys" ? 0o600 : f.mode);
    renameSync(tmp, path);
    written.push(rel);
  }
  return written;
}

// ---- signed messages ------------------------------------------------------------------

function signingKey(keys: AuthKeys): AuthKey {
  if (keys.active.method === "crc") throw new SyncError("authkeys uses crc, which has no secret: config push needs md5, sha1 or sha256 (`auth 1` / `1 sha256 SECRET`)");
  return keys.active;
}

function seal(keys: AuthKeys, body: object): string {
  const k = signingKey(keys);
  const text = JSON.stringify(body);
  return `${JSON.stringify({ body: text, key: k.index, mac: Buffer.from(computeMac(k, Buffer.from(text))).toString("hex") })}\n`;
}

// biome-ignore lint: the body's fields are checked by each caller
function open(keys: AuthKeys, line: string): any {
  let msg: { body?: unknown; key?: unknown; mac?: unknown };
  try {
    msg = JSON.parse(line);
  } catch {
    throw new SyncError("the peer sent something that is not JSON");
  }
  if (typeof msg.body !== "string" || typeof msg.key !== "number" || typeof msg.mac !== "string") throw new SyncError("malformed message");
  const k = keys.keys.get(msg.key);
  if (!k || k.method === "crc" || !verifyMac(k, Buffer.from(msg.body), Buffer.from(msg.mac, "hex"))) {
    throw new SyncError("authentication failed: the two nodes' authkeys differ (or the message was altered)");
  }
  return JSON.parse(msg.body);
}

/** Read newline-terminated lines from a socket, bounded in size. */
function lineReader(sock: net.Socket, onLine: (line: string) => void, onError: (e: Error) => void): void {
  let buf = "";
  sock.setEncoding("utf8");
  sock.on("data", (chunk: string) => {
    buf += chunk;
    if (buf.length > message_bytes_max) return onError(new SyncError(`message larger than ${message_bytes_max} bytes`));
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
}

// ---- server (in the daemon) ------------------------------------------------------------

export interface SyncServerOptions {
  dir: string;
  node: string;
  /** addresses to listen on (the heartbeat interfaces' own addresses) */
  addresses: string[];
  port: number;
  /** where haresources scripts are looked for, to check pushed files as the daemon would */
  init_dir?: string;
  log: (event: string, fields: Record<string, unknown>) => void;
}

export async function startSyncServer(opts: SyncServerOptions): Promise<{ close(): void; ports: number[] }> {
  const servers: net.Server[] = [];
  let open_count = 0;
  for (const addr of opts.addresses) {
    const server = net.createServer((sock) => {
      if (open_count >= connections_max) return void sock.destroy();
      open_count++;
      sock.on("close", () => open_count--);
      serve(sock, opts);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: addr, port: opts.port, exclusive: true }, () => resolve());
      });
    } catch (e) {
      for (const s of servers) s.close();
      throw new SyncError(`cannot listen on ${addr} port ${opts.port}: ${(e as Error).message}`);
    }
    server.on("error", (e) => opts.log("config_sync_error", { error: e.message }));
    servers.push(server);
  }
  return {
    ports: servers.map((s) => (s.address() as net.AddressInfo).port),
    close: () => {
      for (const s of servers) s.close();
    },
  };
}

function serve(sock: net.Socket, opts: SyncServerOptions): void {
  const nonce = randomBytes(16).toString("hex");
  const peer = `${sock.remoteAddress}:${sock.remotePort}`;
  sock.setTimeout(sync_timeout_ms, () => sock.destroy());
  sock.on("error", () => sock.destroy());
  sock.write(`${JSON.stringify({ hello: { v: sync_protocol_version, node: opts.node, nonce } })}\n`);
  let done = false;
  lineReader(
    sock,
    (line) => {
      if (done) return;
      done = true;
      // Keys are read per request: a push may just have replaced authkeys.
      const here = loadConfig({ dir: opts.dir, init_dir: opts.init_dir });
      if (!here.authkeys || !here.hacf) return void sock.end(`${JSON.stringify({ error: "this node's configuration has errors" })}\n`);
      try {
        const req = open(here.authkeys, line);
        if (req.nonce !== nonce || req.to !== opts.node || typeof req.cnonce !== "string" || !here.hacf.nodes.includes(req.from) || req.from === opts.node) {
          throw new SyncError("request not for this node or this connection");
        }
        const reply = handle(req, opts, here.authkeys);
        opts.log("config_sync", { op: req.op, from: req.from, peer, ...(reply.error ? { error: reply.error } : {}), ...(reply.written ? { written: reply.written.length } : {}) });
        sock.end(seal(here.authkeys, { ...reply, op: req.op, node: opts.node, cnonce: req.cnonce }));
      } catch (e) {
        opts.log("config_sync_refused", { peer, error: (e as Error).message });
        sock.end(`${JSON.stringify({ error: (e as Error).message })}\n`);
      }
    },
    () => sock.destroy(),
  );
}

// biome-ignore lint: request fields checked here
function handle(req: any, opts: SyncServerOptions, _keys: AuthKeys): { files?: object; written?: string[]; error?: string } {
  const current = collectConfig(opts.dir);
  if (req.op === "get") return { files: encodeFiles(current) };
  if (req.op !== "put") throw new SyncError(`unknown op ${JSON.stringify(req.op)}`);
  const next = decodeFiles(req.files);
  const why = pushRefusal(parseFiles(next, opts.node, opts.init_dir), parseFiles(current, opts.node, opts.init_dir), opts.node);
  if (why.length > 0) return { error: `refused: ${why.join("; ")}` };
  return { written: writeFiles(opts.dir, next) };
}

// ---- client (the CLI) ---------------------------------------------------------------------

export interface SyncRequest {
  host: string;
  port: number;
  self: string;
  keys: AuthKeys;
  op: "get" | "put";
  files?: ConfigFiles;
}

export interface SyncReply {
  node: string;
  files?: ConfigFiles;
  written?: string[];
  error?: string;
}

export function syncRequest(r: SyncRequest): Promise<SyncReply> {
  signingKey(r.keys); // crc: refuse before connecting
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: r.host, port: r.port });
    const cnonce = randomBytes(16).toString("hex");
    let step: "hello" | "reply" = "hello";
    let peer_node = "";
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new SyncError(`no answer from ${r.host}:${r.port} within ${sync_timeout_ms} ms`)), sync_timeout_ms);
    sock.on("error", (e: NodeJS.ErrnoException) =>
      fail(new SyncError(e.code === "ECONNREFUSED" ? `nothing listens on ${r.host}:${r.port} (is tandem running there, with this udpport?)` : `${r.host}:${r.port}: ${e.message}`)),
    );
    lineReader(
      sock,
      (line) => {
        try {
          if (step === "hello") {
            const m = JSON.parse(line);
            if (m.error) throw new SyncError(`${r.host}: ${m.error}`);
            if (m.hello?.v !== sync_protocol_version) throw new SyncError(`${r.host} speaks config sync version ${m.hello?.v}, this is ${sync_protocol_version}`);
            peer_node = String(m.hello.node);
            step = "reply";
            const body = { op: r.op, from: r.self, to: peer_node, nonce: m.hello.nonce, cnonce, ...(r.files ? { files: encodeFiles(r.files) } : {}) };
            sock.write(seal(r.keys, body));
            return;
          }
          const raw = JSON.parse(line);
          if (raw.error) throw new SyncError(`${peer_node}: ${raw.error}`);
          const rep = open(r.keys, line);
          if (rep.cnonce !== cnonce || rep.node !== peer_node) throw new SyncError("reply not for this request");
          clearTimeout(timer);
          sock.destroy();
          resolve({ node: peer_node, files: rep.files ? decodeFiles(rep.files) : undefined, written: rep.written, error: rep.error });
        } catch (e) {
          fail(e instanceof SyncError ? e : new SyncError((e as Error).message));
        }
      },
      fail,
    );
  });
}

/** `diff -u` of two file sets (the system's diff, on scratch copies). "" when equal. */
export function unifiedDiff(peer: ConfigFiles, local: ConfigFiles, peer_name: string): string {
  const root = mkdtempSync(join(tmpdir(), "tandem-diff-"));
  try {
    const a = join(root, peer_name);
    const b = join(root, "push");
    mkdirSync(a);
    mkdirSync(b);
    writeFiles(a, peer);
    writeFiles(b, local);
    const p = Bun.spawnSync(["diff", "-ruN", peer_name, "push"], { cwd: root, stdout: "pipe", stderr: "pipe" });
    if (p.exitCode !== 0 && p.exitCode !== 1) throw new SyncError(`diff failed: ${p.stderr.toString().trim()}`);
    // Never print the secret: authkeys lines are masked.
    return p.stdout.toString().replace(/^([-+ ]\s*\d+\s+(?:md5|sha1|sha256)\s+)\S.*$/gm, "$1********");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
