// bench/icmp_probe: a 10 ms ICMP echo prober for bench/failover.ts, one
// process per run inside the client namespace (raw socket through bun:ffi,
// nothing spawned per probe). `ping -i 0.01` does not do: it sends every
// ~16 ms here and stops sending after a dozen unanswered requests, exactly
// when a failover is being measured.
//
//   ip netns exec CLIENT bun bench/icmp_probe.ts TARGET [--interval-ms 10] [--duration-s 60] [--rt PRIO]
//
// Prints "S <seq> <t_ms>" per request sent and "R <seq> <t_ms>" per echo
// reply from TARGET with our identifier; t_ms is CLOCK_MONOTONIC in ms (the
// same clock as monoMs() below, system-wide, so the parent's fault times
// compare directly). Ends after --duration-s (a bound on the loop) or on
// SIGTERM (default action: the loop is synchronous on purpose, no JS handler).
// It also prints "A <op> <sender mac> <t_ms>" for every ARP packet whose
// sender address is TARGET (an AF_PACKET socket: the new holder's gratuitous
// ARP as it reaches the client, at sub-ms resolution; the echo replies are
// quantised by the 10 ms probe interval).
// --rt N switches to SCHED_FIFO N once set up, as the reference probe does,
// so its timestamps stay honest on a busy host.
import { dlopen, FFIType, ptr } from "bun:ffi";
import { writeSync } from "node:fs";

const libc = dlopen("libc.so.6", {
  clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
  recvfrom: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i64 },
  ppoll: { args: [FFIType.ptr, FFIType.u64, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  sched_setscheduler: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
});

const CLOCK_MONOTONIC = 1;
const ts_buf = new BigInt64Array(2);

/** CLOCK_MONOTONIC in ms (fractional): the one clock the bench and the probe share. */
export function monoMs(): number {
  libc.symbols.clock_gettime(CLOCK_MONOTONIC, ptr(ts_buf));
  return Number(ts_buf[0]!) * 1000 + Number(ts_buf[1]!) / 1e6;
}

/** SCHED_FIFO prio (>0) or back to SCHED_OTHER (0) for the calling thread; false when refused. */
export function setFifo(prio: number): boolean {
  const param = new Int32Array([prio]);
  return libc.symbols.sched_setscheduler(0, prio > 0 ? 1 : 0, ptr(param)) === 0;
}

function checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function parseIPv4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const b = m.slice(1).map(Number);
  return b.every((x) => x <= 255) ? new Uint8Array(b) : null;
}

function fail(msg: string): never {
  process.stderr.write(`icmp_probe: ${msg}\n`);
  process.exit(2);
}

function main(argv: string[]): void {
  let interval_ms = 10;
  let duration_s = 60;
  let rt = 0;
  let target: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (lo: number, hi: number) => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < lo || v > hi) fail(`${a} needs a number ${lo}..${hi}, got ${argv[i]}`);
      return v;
    };
    if (a === "--interval-ms") interval_ms = num(1, 1000);
    else if (a === "--duration-s") duration_s = num(1, 3600);
    else if (a === "--rt") rt = num(0, 99);
    else if (target === null && !a.startsWith("-")) target = a;
    else fail(`unexpected argument ${a}`);
  }
  if (target === null) fail("usage: icmp_probe.ts TARGET [--interval-ms N] [--duration-s N] [--rt PRIO]");
  const addr = parseIPv4(target) ?? fail(`not an IPv4 address: ${target}`);

  const AF_INET = 2;
  const SOCK_RAW = 3;
  const SOCK_NONBLOCK = 0o4000;
  const IPPROTO_ICMP = 1;
  const fd = libc.symbols.socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
  if (fd < 0) fail("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) failed (needs root / CAP_NET_RAW)");
  const sa = new Uint8Array(16);
  sa[0] = AF_INET; // sin_family, little-endian u16
  sa.set(addr, 4);
  const ident = process.pid & 0xffff;
  const payload = new TextEncoder().encode("tandem-failover-probe");
  const pkt = new Uint8Array(8 + payload.length);
  pkt.set(payload, 8);
  const rx = new Uint8Array(2048);
  const from = new Uint8Array(16);
  const fromlen = new Uint32Array([16]);
  // ETH_P_ARP in network byte order for the protocol argument
  const AF_PACKET = 17;
  const afd = libc.symbols.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, 0x0608);
  if (afd < 0) fail("socket(AF_PACKET, SOCK_RAW, ETH_P_ARP) failed (needs root / CAP_NET_RAW)");
  const pfd = new Int32Array(4); // 2 x struct pollfd { int fd; short events; short revents; }
  const tmo = new BigInt64Array(2);
  const out = (s: string) => writeSync(1, s);

  if (rt > 0 && !setFifo(rt)) process.stderr.write(`icmp_probe: SCHED_FIFO ${rt} refused, running SCHED_OTHER\n`);
  const end = monoMs() + duration_s * 1000;
  let next = monoMs();
  let seq = 0;
  for (;;) {
    let now = monoMs();
    if (now >= end) break;
    if (now >= next) {
      seq = (seq + 1) & 0xffff; // wraps after 655 s at 10 ms: the bench keeps runs far shorter
      pkt[0] = 8;
      pkt[1] = 0;
      pkt[2] = pkt[3] = 0;
      pkt[4] = ident >> 8;
      pkt[5] = ident & 0xff;
      pkt[6] = seq >> 8;
      pkt[7] = seq & 0xff;
      const c = checksum(pkt);
      pkt[2] = c >> 8;
      pkt[3] = c & 0xff;
      const t = monoMs();
      libc.symbols.sendto(fd, ptr(pkt), pkt.length, 0, ptr(sa), 16); // a failed send is a lost probe
      out(`S ${seq} ${t.toFixed(3)}\n`);
      next += interval_ms;
      if (next < now) next = now + interval_ms;
    }
    now = monoMs();
    const wait_ns = Math.max(0, Math.round((next - now) * 1e6));
    tmo[0] = BigInt(Math.floor(wait_ns / 1e9));
    tmo[1] = BigInt(wait_ns % 1e9);
    pfd[0] = fd;
    pfd[1] = 1; // events = POLLIN, revents = 0
    pfd[2] = afd;
    pfd[3] = 1;
    const r = libc.symbols.ppoll(ptr(pfd), 2, ptr(tmo), null);
    if (r <= 0) continue;
    for (let i = 0; i < 64; i++) {
      // bounded drain; Ethernet + ARP for IPv4: op at 20, sender MAC at 22, sender IP at 28
      const n = Number(libc.symbols.recvfrom(afd, ptr(rx), rx.length, 0, null, null));
      if (n <= 0) break;
      const t = monoMs();
      if (n < 42 || rx[12] !== 0x08 || rx[13] !== 0x06) continue;
      if (rx[28] !== addr[0] || rx[29] !== addr[1] || rx[30] !== addr[2] || rx[31] !== addr[3]) continue;
      const mac = Array.from(rx.subarray(22, 28), (b) => b.toString(16).padStart(2, "0")).join(":");
      out(`A ${(rx[20]! << 8) | rx[21]!} ${mac} ${t.toFixed(3)}\n`);
    }
    for (let i = 0; i < 64; i++) {
      // bounded drain
      fromlen[0] = 16;
      const n = Number(libc.symbols.recvfrom(fd, ptr(rx), rx.length, 0, ptr(from), ptr(fromlen)));
      if (n <= 0) break;
      const t = monoMs();
      const ihl = (rx[0]! & 0x0f) * 4;
      if (n < ihl + 8) continue;
      const type = rx[ihl]!;
      const rid = (rx[ihl + 4]! << 8) | rx[ihl + 5]!;
      const rseq = (rx[ihl + 6]! << 8) | rx[ihl + 7]!;
      const src_ok = from[4] === addr[0] && from[5] === addr[1] && from[6] === addr[2] && from[7] === addr[3];
      if (type === 0 && rid === ident && src_ok) out(`R ${rseq} ${t.toFixed(3)}\n`);
    }
  }
}

if (import.meta.main) main(process.argv.slice(2));
