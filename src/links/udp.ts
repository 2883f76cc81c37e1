// UDP heartbeat media from ha.cf: `ucast IF ADDR`, `bcast IF`,
// `mcast IF GROUP PORT TTL LOOP` (and mcast6), IPv4 and IPv6, any number.
//
// Receiving: one socket per port, bound to the wildcard address (dual-stack
// `::` when any link on the port is IPv6, else `0.0.0.0`, which also works
// where IPv6 is disabled), shared by every link on that port (Linux delivers
// multicast and broadcast to it as well). A datagram is attributed to a link by its source address:
// first an exact `ucast` peer address, then the interface whose subnet holds
// the source (bcast/mcast links). Unattributable datagrams are counted and
// dropped: they would otherwise make the wrong link look alive.
//
// Sending: ucast and bcast through the shared socket; each mcast link has
// its own send socket so its interface, TTL and loop settings never race.
//
// Sockets are Bun.udpSocket, not node:dgram: dgram resolves the destination
// with getaddrinfo on the thread pool for every send (a netlink socket per
// heartbeat, several futex wake-ups), which tripled idle CPU. Bun.udpSocket
// takes literal addresses only, which is all ha.cf allows.
//
// Bun reports ICMP errors (ECONNREFUSED when a peer is down) through the
// socket's error handler, read from the error queue; without a handler they
// kill the process. Every socket has one: errors are counted and logged at a
// bounded rate, and the socket keeps serving the other peers.
import { isIP } from "node:net";
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import type { LinkSpec } from "../config/types.ts";
import { frame_size_max } from "../wire/types.ts";
import { emptyStats, type Link, type LinkStats, type OnDatagram } from "./types.ts";

export class LinkError extends Error {
  override name = "LinkError";
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface UdpOptions {
  udpport: number;
  onDatagram: OnDatagram;
  log: (msg: string) => void;
  /** seam for tests; defaults to os.networkInterfaces() */
  interfaces?: () => Interfaces;
}

/** Socket errors are logged at most this often per socket (the rest counted). */
const error_log_interval_ms = 10_000;
/** Interface addresses are re-read at most this often (a netlink dump each time). */
const iface_cache_ms = 1_000;
/** How often a link whose interface is missing looks for it again. */
const iface_retry_interval_ms = 5_000;

type Family = "udp4" | "udp6";
type Sock = Bun.udp.Socket<"uint8array">;

interface RecvSocket {
  port: number;
  /** bound to `::` (IPv4 peers then appear as ::ffff:a.b.c.d) */
  dual: boolean;
  sock: Sock;
  errors: number;
  last_error_log_ms: number;
}

/** The set of UDP links of one daemon, sharing their receive sockets. */
export class UdpTransport {
  readonly links: UdpLink[] = [];
  private sockets = new Map<number, RecvSocket>();
  /** `${port}/${addr}` -> ucast link */
  private by_peer = new Map<string, UdpLink>();
  unattributed = 0;

  private constructor(private opts: UdpOptions) {}

  static async open(specs: LinkSpec[], opts: UdpOptions): Promise<UdpTransport> {
    const t = new UdpTransport(opts);
    try {
      const dual_ports = new Set<number>();
      for (const spec of specs) if (linkFamily(spec) === "udp6") dual_ports.add(linkPort(spec, opts.udpport));
      for (const spec of specs) await t.add(spec, dual_ports);
    } catch (e) {
      t.close();
      throw e;
    }
    return t;
  }

  private iface_cache: { at_ms: number; value: Interfaces } | null = null;

  ifaces(): Interfaces {
    const now = performance.now();
    if (!this.iface_cache || now - this.iface_cache.at_ms >= iface_cache_ms) {
      this.iface_cache = { at_ms: now, value: (this.opts.interfaces ?? networkInterfaces)() };
    }
    return this.iface_cache.value;
  }

  private async add(spec: LinkSpec, dual_ports: Set<number>): Promise<void> {
    if (spec.kind === "serial") throw new LinkError(`${spec.name}: not a UDP link`);
    if (spec.kind === "ucast" && !familyOf(spec.addr)) throw new LinkError(`${spec.name}: ${spec.addr} is not an IP address`);
    const port = linkPort(spec, this.opts.udpport);
    const rs = await this.recvSocket(port, dual_ports.has(port));
    let send: Sock | null = null;
    if (spec.kind === "mcast" || spec.kind === "mcast6") {
      send = await bindSocket(spec.kind === "mcast" ? "0.0.0.0" : "::", 0, (e) => this.socketError(rs, e));
    }
    const link = new UdpLink(spec, this, rs, send);
    if (spec.kind === "ucast") this.by_peer.set(`${port}/${spec.addr}`, link);
    if (spec.kind === "bcast") rs.sock.setBroadcast(true);
    if (send) link.joinMulticast();
    this.links.push(link);
  }

  private async recvSocket(port: number, dual: boolean): Promise<RecvSocket> {
    const have = this.sockets.get(port);
    if (have) return have;
    const rs: RecvSocket = { port, dual, sock: null as unknown as Sock, errors: 0, last_error_log_ms: -Infinity };
    rs.sock = await bindSocket(dual ? "::" : "0.0.0.0", port, (e) => this.socketError(rs, e), (bytes, addr) =>
      this.onMessage(rs, bytes, addr),
    );
    this.sockets.set(port, rs);
    return rs;
  }

  socketError(rs: RecvSocket, e: Error): void {
    rs.errors++;
    for (const l of this.links) if (l.recv === rs) l.noteSocketError(e);
    const now = performance.now();
    if (now - rs.last_error_log_ms >= error_log_interval_ms) {
      rs.last_error_log_ms = now;
      this.opts.log(`socket port ${rs.port}: ${e.message} (${rs.errors} so far; peer down or unreachable?)`);
    }
  }

  private onMessage(rs: RecvSocket, bytes: Uint8Array, src_raw: string): void {
    if (bytes.length > frame_size_max) {
      this.unattributed++;
      return;
    }
    const src = normalizeAddress(src_raw);
    const link = this.by_peer.get(`${rs.port}/${src}`) ?? this.bySubnet(rs, src);
    if (!link) {
      this.unattributed++;
      return;
    }
    link.rx_packets++;
    this.opts.onDatagram(link.name, bytes);
  }

  private bySubnet(rs: RecvSocket, src: string): UdpLink | undefined {
    if (!this.links.some((l) => l.recv === rs && l.spec.kind !== "ucast")) return undefined;
    const ifs = this.ifaces();
    for (const l of this.links) {
      if (l.recv !== rs || l.spec.kind === "ucast") continue;
      const addrs = ifs[(l.spec as { iface: string }).iface] ?? [];
      if (addrs.some((a) => a.cidr !== null && inSubnet(src, a.cidr))) return l;
    }
    return undefined;
  }

  close(): void {
    for (const l of this.links) l.close();
    for (const rs of this.sockets.values()) closeQuietly(rs.sock);
    this.sockets.clear();
  }
}

export class UdpLink implements Link {
  readonly name: string;
  private s: LinkStats = emptyStats();
  private dest: { addr: string; port: number } | null = null;
  private iface_checked_ms = -Infinity;

  constructor(
    readonly spec: LinkSpec,
    private t: UdpTransport,
    readonly recv: RecvSocket,
    private send_sock: Sock | null,
  ) {
    this.name = spec.name;
    if (spec.kind === "ucast") this.dest = { addr: spec.addr, port: recv.port };
    if (spec.kind === "bcast") this.resolveBroadcast();
  }

  set rx_packets(n: number) {
    this.s.rx_packets = n;
  }
  get rx_packets(): number {
    return this.s.rx_packets;
  }

  noteSocketError(e: Error): void {
    this.s.socket_errors++;
    this.s.last_error = e.message;
  }

  /** Join the group on the configured interface; retried from send() while the interface is missing. */
  joinMulticast(): boolean {
    const spec = this.spec;
    if ((spec.kind !== "mcast" && spec.kind !== "mcast6") || !this.send_sock) return false;
    this.iface_checked_ms = performance.now();
    const family: Family = spec.kind === "mcast" ? "udp4" : "udp6";
    const local = ifaceAddress(this.t.ifaces(), spec.iface, family);
    if (!local) {
      this.s.last_error = `interface ${spec.iface} has no ${family === "udp4" ? "IPv4" : "IPv6"} address (yet)`;
      return false;
    }
    try {
      this.recv.sock.addMembership(spec.group, local);
      this.send_sock.setMulticastInterface(local);
      this.send_sock.setMulticastTTL(spec.kind === "mcast" ? spec.ttl : spec.hops);
      this.send_sock.setMulticastLoopback(spec.loop);
    } catch (e) {
      this.s.last_error = `joining ${spec.group} on ${spec.iface}: ${(e as Error).message}`;
      return false;
    }
    this.dest = { addr: spec.group, port: spec.port };
    return true;
  }

  private resolveBroadcast(): void {
    if (this.spec.kind !== "bcast") return;
    this.iface_checked_ms = performance.now();
    const info = (this.t.ifaces()[this.spec.iface] ?? []).find((a) => a.family === "IPv4");
    if (!info) {
      this.s.last_error = `interface ${this.spec.iface} has no IPv4 address (yet)`;
      return;
    }
    this.dest = { addr: broadcastAddress(info.address, info.netmask), port: this.recv.port };
  }

  send(frame: Uint8Array): void {
    if (!this.dest && performance.now() - this.iface_checked_ms >= iface_retry_interval_ms) {
      if (this.spec.kind === "bcast") this.resolveBroadcast();
      else this.joinMulticast();
    }
    const dest = this.dest;
    if (!dest) {
      this.s.tx_errors++;
      return;
    }
    const sock = this.send_sock ?? this.recv.sock;
    try {
      // false: the kernel would block (full socket buffer); a heartbeat
      // that cannot leave now is worthless later, so it is counted, not queued
      if (sock.send(frame, dest.port, dest.addr)) this.s.tx_packets++;
      else this.txError(new Error("socket buffer full"));
    } catch (e) {
      this.txError(e as Error);
    }
  }

  private txError(e: Error): void {
    this.s.tx_errors++;
    this.s.last_error = e.message;
  }

  stats(): LinkStats {
    return { ...this.s };
  }

  close(): void {
    if (this.send_sock) closeQuietly(this.send_sock);
    this.send_sock = null;
    this.dest = null;
  }
}

function linkFamily(spec: LinkSpec): Family {
  if (spec.kind === "mcast6") return "udp6";
  if (spec.kind === "ucast") return familyOf(spec.addr) ?? "udp4";
  return "udp4";
}

function linkPort(spec: LinkSpec, udpport: number): number {
  return spec.kind === "mcast" || spec.kind === "mcast6" ? spec.port : udpport;
}

async function bindSocket(
  hostname: string,
  port: number,
  onError: (e: Error) => void,
  onData: (bytes: Uint8Array, addr: string) => void = () => {},
): Promise<Sock> {
  try {
    return await Bun.udpSocket({
      hostname,
      port,
      binaryType: "uint8array",
      socket: {
        data: (_sock, bytes, _port, addr) => onData(bytes, addr),
        // Bun calls error(err) with the socket as `this`
        error: (e: unknown) => onError(e instanceof Error ? e : new Error(String(e))),
      },
    });
  } catch (e) {
    throw new LinkError(`cannot bind UDP ${hostname} port ${port}: ${(e as Error).message}`, { cause: e });
  }
}

function closeQuietly(sock: Sock): void {
  try {
    sock.close();
  } catch {
    // already closed
  }
}

function familyOf(addr: string): Family | null {
  const v = isIP(addr);
  return v === 4 ? "udp4" : v === 6 ? "udp6" : null;
}

/** `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) -> `192.0.2.1`; scope dropped. */
function normalizeAddress(addr: string): string {
  const a = stripScope(addr);
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

function stripScope(addr: string): string {
  const i = addr.indexOf("%");
  return i < 0 ? addr : addr.slice(0, i);
}

function ifaceAddress(ifs: Interfaces, iface: string, family: Family): string | null {
  const want = family === "udp4" ? "IPv4" : "IPv6";
  const a = (ifs[iface] ?? []).find((x) => x.family === want);
  if (!a) return null;
  // IPv6 multicast interfaces are named by scope, not address.
  return want === "IPv4" ? a.address : `::%${iface}`;
}

export function broadcastAddress(addr: string, netmask: string): string {
  const a = addr.split(".").map(Number);
  const m = netmask.split(".").map(Number);
  return a.map((x, i) => (x | (~m[i]! & 0xff)) & 0xff).join(".");
}

/** Does `addr` lie in `cidr` (IPv4 or IPv6)? Addresses of the other family never do. */
export function inSubnet(addr: string, cidr: string): boolean {
  const slash = cidr.lastIndexOf("/");
  const net = stripScope(cidr.slice(0, slash));
  const bits = Number(cidr.slice(slash + 1));
  const a = ipBytes(addr);
  const n = ipBytes(net);
  if (!a || !n || a.length !== n.length || !(bits >= 0 && bits <= a.length * 8)) return false;
  for (let i = 0; i < a.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
    if ((a[i]! & mask) !== (n[i]! & mask)) return false;
  }
  return true;
}

function ipBytes(addr: string): number[] | null {
  const v = isIP(addr);
  if (v === 4) return addr.split(".").map(Number);
  if (v !== 6) return null;
  const [head, tail] = addr.includes("::") ? addr.split("::") : [addr, null];
  const groups = (s: string | null | undefined) => (s ? s.split(":") : []);
  let h = groups(head);
  let t = groups(tail);
  // an embedded IPv4 tail (::ffff:192.0.2.1) is two groups
  const v4 = (xs: string[]) =>
    xs.flatMap((g) => {
      if (!g.includes(".")) return [g];
      const b = g.split(".").map(Number);
      return [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)];
    });
  h = v4(h);
  t = v4(t);
  const zeros = tail === null ? [] : new Array<string>(8 - h.length - t.length).fill("0");
  const all = [...h, ...zeros, ...t];
  if (all.length !== 8) return null;
  return all.flatMap((g) => {
    const x = parseInt(g, 16);
    return [x >> 8, x & 0xff];
  });
}
