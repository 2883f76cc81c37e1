// The control socket: a Unix stream socket speaking JSON lines, one request
// per line, one reply per line. The socket file is mode 0600 in a 0700
// directory, and each connection's peer credentials (SO_PEERCRED through
// the addon) must be root or the daemon's own user: `tandem standby` moves
// resources, so nobody else may talk to it.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import net from "node:net";
import { dirname } from "node:path";
import { native } from "../native/addon.ts";

/** A request line longer than this is refused (the protocol's are tiny). */
export const request_bytes_max = 64 * 1024;
/** Concurrent control connections; more are refused at once. */
export const connections_max = 16;
/** A connection idle this long is closed (a stuck client cannot pin a slot). */
export const idle_timeout_ms = 30_000;

export interface ControlOptions {
  path: string;
  handle: (req: unknown, peer: PeerCred | null) => unknown | Promise<unknown>;
  log: (msg: string) => void;
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export class ControlSocketError extends Error {
  override name = "ControlSocketError";
}

/** A follower that lets this much output pile up unread is cut off (it cannot pin the daemon's memory). */
export const stream_backlog_bytes_max = 1 << 20;

/**
 * A reply that stays open (`tandem events --follow`): `first` is written as
 * usual, then every object passed to `send` as one more line, until the
 * client goes away. `subscribe` returns the unsubscribe function, or null to
 * end the connection after `first`.
 */
export class StreamReply {
  constructor(
    readonly first: unknown,
    readonly subscribe: (send: (obj: unknown) => void) => (() => void) | null,
  ) {}
}

export async function startControlServer(opts: ControlOptions): Promise<{ close(): Promise<void> }> {
  await prepareSocketPath(opts.path);
  let open = 0;
  let cred_warned = false;
  // every live connection, so close() can end them: server.close() alone
  // waits for clients, and a follower (`tandem events --follow`) never leaves
  const conns = new Set<net.Socket>();
  const server = net.createServer((conn) => {
    conns.add(conn);
    conn.once("close", () => conns.delete(conn));
    if (open >= connections_max) {
      conn.end(`${JSON.stringify({ ok: false, error: "too many control connections; try again" })}\n`);
      return;
    }
    let peer: PeerCred | null = null;
    try {
      peer = peerOf(conn);
    } catch (e) {
      // Without the addon we cannot read credentials; the socket's mode 0600
      // still limits it to root. Say so once, loudly.
      if (!cred_warned) opts.log(`peer credentials unavailable (${(e as Error).message}); relying on socket mode 0600`);
      cred_warned = true;
    }
    const my_uid = process.getuid?.() ?? 0;
    if (peer && peer.uid !== 0 && peer.uid !== my_uid) {
      opts.log(`refused control connection from uid ${peer.uid} pid ${peer.pid}`);
      conn.end(`${JSON.stringify({ ok: false, error: "permission denied: run tandem as root" })}\n`);
      return;
    }
    open++;
    conn.on("close", () => open--);
    serveConnection(conn, peer, opts);
  });
  server.maxConnections = connections_max * 2;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new ControlSocketError(`cannot listen on ${opts.path}: ${e.message}`, { cause: e })));
    server.listen(opts.path, () => resolve());
  });
  server.on("error", (e) => opts.log(`control socket error: ${e.message}`));
  chmodSync(opts.path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of conns) c.destroy();
        try {
          unlinkSync(opts.path);
        } catch {
          // already gone
        }
      }),
  };
}

function peerOf(conn: net.Socket): PeerCred {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("no file descriptor for the connection");
  return native.peerCred(fd);
}

function serveConnection(conn: net.Socket, peer: PeerCred | null, opts: ControlOptions): void {
  let buf = "";
  let busy = Promise.resolve();
  conn.setEncoding("utf8");
  conn.setTimeout(idle_timeout_ms, () => conn.destroy());
  conn.on("error", () => conn.destroy());
  conn.on("data", (chunk: string) => {
    buf += chunk;
    if (buf.length > request_bytes_max && !buf.includes("\n")) {
      conn.end(`${JSON.stringify({ ok: false, error: `request longer than ${request_bytes_max} bytes` })}\n`);
      buf = "";
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === "") continue;
      // Replies go out in request order, even when a handler is async.
      busy = busy.then(() => answer(conn, line, peer, opts));
    }
  });
}

async function answer(conn: net.Socket, line: string, peer: PeerCred | null, opts: ControlOptions): Promise<void> {
  let reply: unknown;
  try {
    reply = await opts.handle(JSON.parse(line), peer);
  } catch (e) {
    reply = { ok: false, error: e instanceof SyntaxError ? `not JSON: ${e.message}` : `internal error: ${(e as Error).message}` };
    if (!(e instanceof SyntaxError)) opts.log(`control handler failed: ${(e as Error).stack ?? e}`);
  }
  if (reply instanceof StreamReply) return stream(conn, reply);
  if (!conn.destroyed) conn.write(`${JSON.stringify(reply)}\n`);
}

function stream(conn: net.Socket, reply: StreamReply): void {
  if (conn.destroyed) return;
  conn.write(`${JSON.stringify(reply.first)}\n`);
  const unsubscribe = reply.subscribe((obj) => {
    if (conn.destroyed) return;
    if (conn.writableLength > stream_backlog_bytes_max) return void conn.destroy();
    conn.write(`${JSON.stringify(obj)}\n`);
  });
  if (!unsubscribe) return void conn.end();
  conn.setTimeout(0); // a follower is idle by design
  conn.once("close", unsubscribe);
}

/**
 * Create the socket's directory (0700) and clear a stale socket file left by
 * a crashed daemon, but never steal the socket of a running one.
 */
async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new ControlSocketError(`cannot create ${dir}: ${(e as Error).message}`, { cause: e });
  }
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) throw new ControlSocketError(`${path} exists and is not a socket; remove it or choose --socket`);
  if (await answers(path)) throw new ControlSocketError(`another tandem daemon is running on ${path}`);
  unlinkSync(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (v: boolean) => {
      c.destroy();
      resolve(v);
    };
    c.once("connect", () => done(true));
    c.once("error", () => done(false));
    setTimeout(() => done(false), 1000);
  });
}
