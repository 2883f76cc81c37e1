// The built-in IP resource (Heartbeat's `IPaddr::...` / `IPaddr2::...` in
// haresources), in-process over the native addon: no `ip`, `arping` or
// `send_arp` is run on the takeover path.
//
// Resource argument forms (Heartbeat's IPaddr, one `::` argument):
//   192.0.2.10                     interface and netmask found (see below)
//   192.0.2.10/24                  netmask given (bits or 255.255.255.0)
//   192.0.2.10/24/eth0             interface given; eth0:lbl sets an IPv4 label
//   192.0.2.10/24/eth0/192.0.2.255 broadcast given (else computed from the netmask)
//   2001:db8::10/64/eth0           IPv6 the same way (no label, no broadcast)
// An empty field is the same as an absent one (192.0.2.10//eth0).
//
// Finding the interface (as IPaddr's findif does from the routing table):
// the interface that already carries an address whose subnet contains the
// floating address, the most specific subnet winning; the netmask, when not
// given, is that subnet's. If the floating address is itself already on an
// interface, that interface is it.
//
// Announcing a new owner: right after the address is added the first
// announcement goes out synchronously (that is the takeover path), the rest
// on timers. An announcement is, for IPv4, a gratuitous ARP request then a
// gratuitous ARP reply (native.sendGarp "both": Heartbeat's libnet send_arp
// sends this pair because some hosts heed only one form); for IPv6 an
// unsolicited Neighbour Advertisement with the Override flag. Defaults are
// IPaddr2's (resource-agents heartbeat/IPaddr2): arp_count 5, arp_interval
// 200 ms. (Heartbeat 1's IPaddr used ARP_REPEAT 10, ARP_INTERVAL_MS 500;
// both are options here.) A failed announcement is logged, never fatal: the
// address is up, and that is what start promises, as in IPaddr2.
//
// Idempotent like an OCF agent: start of a present address and stop of an
// absent one succeed without touching anything; stop also cancels a burst
// still in progress (IPaddr2 kills its backgrounded send_arp).
//
// Announcing again (reannounce): a start's burst sent while the interface
// had no carrier, or while the client's segment was cut off, went nowhere,
// and a client keeps the previous holder's MAC until its entry expires. The
// daemon calls reannounce() for the addresses it holds when the network
// comes back (a link or a peer up, a conflict resolved) and, with ha.cf's
// `arp_refresh`, periodically (keepalived's garp_master_refresh). Bounded:
// a request while a burst is in flight is absorbed by it; bursts of one
// address start at least reannounce_gap_ms apart, a request inside the gap
// being deferred to its end (at most one pending), so a flapping link sends
// at most one burst per gap.

import { type AddrAddOptions, type AddrInfo, type AnnounceResult, type GarpMode, native } from "../native/addon.ts";

export const arp_count_default = 5;
export const arp_interval_ms_default = 200;
export const arp_count_max = 1000;
export const arp_interval_ms_max = 60_000;
/** re-announcement bursts of one address start at least this far apart */
export const reannounce_gap_ms_default = 2_000;

/** A parsed IP resource. */
export interface IpSpec {
  family: 4 | 6;
  /** canonical text (IPv6 compressed, lower case) */
  address: string;
  /** null: the netmask of the interface's subnet that contains the address */
  prefixlen: number | null;
  /** null: the interface whose subnet contains the address */
  ifname: string | null;
  /** IPv4 label (`eth0:vip`), from `.../eth0:vip`; null for none */
  label: string | null;
  /** IPv4 broadcast; null: computed from the netmask (none for /31 and /32) */
  broadcast: string | null;
  /** the argument as written */
  text: string;
}

/** What the addon offers this module (tests substitute a fake). */
export type IpAddon = Pick<typeof native, "addrAdd" | "addrDel" | "addrList" | "sendGarp" | "sendUnsolicitedNa">;

export interface NativeIpOptions {
  /** announcements per start (each: GARP request + reply for IPv4, one NA for IPv6); 0 = none. Default 5. */
  arp_count?: number;
  /** ms between announcements. Default 200. */
  arp_interval_ms?: number;
  /** which gratuitous ARP form(s) each IPv4 announcement sends. Default "both". */
  garp_mode?: GarpMode;
  /** bursts (start's and reannounce()'s) start at least this far apart when reannounce() asks. Default 2000. */
  reannounce_gap_ms?: number;
  log?: (level: "info" | "warn", msg: string) => void;
  /** defaults to the real addon */
  addon?: IpAddon;
}

/** Where the address goes (or is), after finding the interface. */
export interface IpPlacement {
  ifname: string;
  prefixlen: number;
  broadcast: string | null;
}

export interface BurstResult {
  /** announcements planned */
  planned: number;
  /** announcements that went out without error */
  announced: number;
  /** packets sent in total */
  packets: number;
  errors: string[];
  cancelled: boolean;
}

/** An announcement burst in progress; `done` never rejects. */
export interface Burst {
  readonly done: Promise<BurstResult>;
  /** still sending: neither finished nor cancelled */
  readonly active: boolean;
  cancel(): void;
}

/**
 * What reannounce() did: a burst started now; one already in flight covers
 * the request; deferred to the end of the gap (or already pending); the
 * address is not up here, so nothing to announce.
 */
export type ReannounceResult = "started" | "in_flight" | "deferred" | "not_up";

/** Measurements of the last start() (ms since start() was called, performance.now() clock). */
export interface StartTiming {
  /** the address was already there: nothing added, nothing announced */
  already: boolean;
  /** addrAdd acked by the kernel */
  added_ms: number | null;
  /** first announcement sent (null: none planned, or it failed) */
  first_sent_ms: number | null;
}

export class IpError extends Error {
  override name = "IpError";
}

// --- addresses --------------------------------------------------------------

/** Dotted quad -> 32-bit number; null if not exactly that (no leading zeros, as inet_pton). */
export function parseIPv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** IPv6 text (with ::, an IPv4 tail allowed; no zone) -> 128-bit bigint; null if invalid. */
export function parseIPv6(text: string): bigint | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return null;
  let head = text;
  let v4tail: number | null = null;
  const last_colon = text.lastIndexOf(":");
  if (text.includes(".")) {
    v4tail = parseIPv4(text.slice(last_colon + 1));
    if (v4tail === null) return null;
    head = `${text.slice(0, last_colon + 1)}0:0`; // two placeholder groups, replaced below
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): string[] | null => {
    if (s === "") return [];
    const g = s.split(":");
    return g.every((x) => /^[0-9A-Fa-f]{1,4}$/.test(x)) ? g : null;
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (left === null || right === null) return null;
  let all: string[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    all = [...left, ...Array<string>(missing).fill("0"), ...right];
  } else {
    all = left;
  }
  if (all.length !== 8) return null;
  let n = 0n;
  for (const g of all) n = (n << 16n) | BigInt(Number.parseInt(g, 16));
  if (v4tail !== null) n = (n & ~0xffffffffn) | BigInt(v4tail);
  return n;
}

/** RFC 5952 text: lower case, longest run (>= 2) of zero groups compressed, first one on a tie. */
export function formatIPv6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(16 * i)) & 0xffffn));
  let best = -1;
  let best_len = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + best_len))}`;
}

interface Ip {
  family: 4 | 6;
  value: bigint;
}

function parseIp(text: string): Ip | null {
  const v4 = parseIPv4(text);
  if (v4 !== null) return { family: 4, value: BigInt(v4) };
  const v6 = parseIPv6(text);
  if (v6 !== null) return { family: 6, value: v6 };
  return null;
}

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function maskOf(family: 4 | 6, prefixlen: number): bigint {
  const w = BigInt(bits(family));
  return ((1n << w) - 1n) ^ ((1n << (w - BigInt(prefixlen))) - 1n);
}

function sameSubnet(family: 4 | 6, a: bigint, b: bigint, prefixlen: number): boolean {
  const m = maskOf(family, prefixlen);
  return (a & m) === (b & m);
}

/** 255.255.255.0 -> 24; null unless a contiguous netmask. */
function netmaskBits(text: string): number | null {
  const n = parseIPv4(text);
  if (n === null) return null;
  for (let p = 0; p <= 32; p++) if (maskOf(4, p) === BigInt(n)) return p;
  return null;
}

/** The subnet broadcast of an IPv4 address (none for /31, /32). */
export function ipv4Broadcast(address: string, prefixlen: number): string | null {
  const n = parseIPv4(address);
  if (n === null || prefixlen > 30) return null;
  return formatIPv4(Number(BigInt(n) | (maskOf(4, prefixlen) ^ 0xffffffffn)));
}

const ifname_re = /^[^\s/:]{1,15}$/;

// --- parsing ----------------------------------------------------------------

/**
 * Parse an IP resource's haresources arguments (`IPaddr::ARG` gives [ARG]).
 * Returns the spec, or a one-line error text naming what is wrong.
 */
export function parseIpResource(args: string[]): IpSpec | string {
  if (args.length !== 1) {
    return `IP resource: expected one argument ADDRESS[/NETMASK[/INTERFACE[/BROADCAST]]], got ${args.length}`;
  }
  const text = args[0]!;
  const what = `IP resource ${JSON.stringify(text)}`;
  const fields = text.split("/");
  if (fields.length > 4) return `${what}: too many "/" fields (ADDRESS/NETMASK/INTERFACE/BROADCAST at most)`;
  const [addr_text = "", mask_text = "", nic_text = "", brd_text = ""] = fields;
  if (addr_text === "") return `${what}: no address`;
  const ip = parseIp(addr_text);
  if (ip === null) return `${what}: ${JSON.stringify(addr_text)} is not an IPv4 or IPv6 address`;
  const family = ip.family;
  const address = family === 4 ? formatIPv4(Number(ip.value)) : formatIPv6(ip.value);

  if (family === 4) {
    const first = Number(ip.value >> 24n);
    if (ip.value === 0n) return `${what}: 0.0.0.0 cannot be a floating address`;
    if (ip.value === 0xffffffffn) return `${what}: 255.255.255.255 cannot be a floating address`;
    if (first >= 224 && first <= 239) return `${what}: ${address} is a multicast address`;
  } else {
    if (ip.value === 0n) return `${what}: :: cannot be a floating address`;
    if (ip.value === 1n) return `${what}: ::1 cannot be a floating address`;
    if (ip.value >> 120n === 0xffn) return `${what}: ${address} is a multicast address`;
    if (ip.value >> 32n === 0xffffn) return `${what}: ${addr_text} is IPv4-mapped; write the IPv4 address`;
  }

  let prefixlen: number | null = null;
  if (mask_text !== "") {
    if (/^\d{1,3}$/.test(mask_text)) {
      prefixlen = Number(mask_text);
      if (prefixlen < 1 || prefixlen > bits(family)) {
        return `${what}: netmask /${mask_text} out of range (1..${bits(family)} for IPv${family})`;
      }
    } else if (family === 4 && mask_text.includes(".")) {
      prefixlen = netmaskBits(mask_text);
      if (prefixlen === null || prefixlen === 0) return `${what}: ${JSON.stringify(mask_text)} is not a netmask`;
    } else {
      return `${what}: netmask ${JSON.stringify(mask_text)} is not a number of bits${family === 4 ? " or a dotted netmask" : ""}`;
    }
    if (family === 4 && prefixlen <= 30) {
      const host = ip.value & (maskOf(4, prefixlen) ^ 0xffffffffn);
      if (host === 0n) return `${what}: ${address} is the network address of /${prefixlen}`;
      if (host === (maskOf(4, prefixlen) ^ 0xffffffffn)) return `${what}: ${address} is the broadcast address of /${prefixlen}`;
    }
  }

  let ifname: string | null = null;
  let label: string | null = null;
  if (nic_text !== "") {
    const colon = nic_text.indexOf(":");
    ifname = colon < 0 ? nic_text : nic_text.slice(0, colon);
    if (!ifname_re.test(ifname) || ifname === "." || ifname === "..") {
      return `${what}: ${JSON.stringify(ifname)} is not an interface name (1..15 characters, no "/", ":" or blanks)`;
    }
    if (colon >= 0) {
      if (family === 6) return `${what}: IPv6 addresses have no label (${JSON.stringify(nic_text)})`;
      const tag = nic_text.slice(colon + 1);
      if (tag === "" || /[\s/]/.test(tag)) return `${what}: bad label ${JSON.stringify(nic_text)}`;
      if (nic_text.length > 15) return `${what}: label ${JSON.stringify(nic_text)} is longer than 15 characters`;
      label = nic_text;
    }
  }

  let broadcast: string | null = null;
  if (brd_text !== "") {
    if (family === 6) return `${what}: IPv6 has no broadcast address (${JSON.stringify(brd_text)})`;
    const b = parseIPv4(brd_text);
    if (b === null) return `${what}: broadcast ${JSON.stringify(brd_text)} is not an IPv4 address`;
    broadcast = formatIPv4(b);
  }
  return { family, address, prefixlen, ifname, label, broadcast, text };
}

// --- the resource -------------------------------------------------------------

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function checkCount(name: string, v: number | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`NativeIp: ${name} must be an integer in 0..${max}, got ${v}`);
  return v;
}

export class NativeIp {
  readonly arp_count: number;
  readonly arp_interval_ms: number;
  readonly garp_mode: GarpMode;
  /** the announcement burst of the last start() that added the address, if any */
  burst: Burst | null = null;
  last_start: StartTiming | null = null;
  readonly reannounce_gap_ms: number;
  /** performance.now() when the last burst started; -Infinity before any */
  private burst_started_ms = -Infinity;
  /** a re-announcement deferred to the end of the gap (at most one) */
  private deferred: ReturnType<typeof setTimeout> | null = null;
  private readonly addon: IpAddon;
  private readonly log: (level: "info" | "warn", msg: string) => void;
  private readonly value: bigint;

  constructor(
    readonly spec: IpSpec,
    opts: NativeIpOptions = {},
  ) {
    const ip = parseIp(spec.address);
    if (ip === null || ip.family !== spec.family) throw new TypeError(`NativeIp: bad spec address ${spec.address}`);
    this.value = ip.value;
    this.arp_count = checkCount("arp_count", opts.arp_count, arp_count_default, arp_count_max);
    this.arp_interval_ms = checkCount("arp_interval_ms", opts.arp_interval_ms, arp_interval_ms_default, arp_interval_ms_max);
    const mode = opts.garp_mode ?? "both";
    if (mode !== "both" && mode !== "request" && mode !== "reply") throw new TypeError(`NativeIp: bad garp_mode ${String(mode)}`);
    this.garp_mode = mode;
    this.reannounce_gap_ms = checkCount("reannounce_gap_ms", opts.reannounce_gap_ms, reannounce_gap_ms_default, 3_600_000);
    this.addon = opts.addon ?? native;
    this.log = opts.log ?? (() => {});
  }

  /** `IPaddr::192.0.2.10/24/eth0` -> the spec's text form. */
  toString(): string {
    return `IPaddr::${this.spec.text}`;
  }

  private isMe(a: AddrInfo): boolean {
    if (a.family !== this.spec.family) return false;
    const v = parseIp(a.address);
    return v !== null && v.value === this.value;
  }

  /**
   * Where the address belongs: the named or found interface and the netmask
   * (see the top of this file). Throws IpError when it cannot be told.
   */
  place(list: AddrInfo[] = this.addon.addrList()): IpPlacement {
    const s = this.spec;
    const fam = list.filter((a) => a.family === s.family);
    let ifname = s.ifname;
    let prefixlen = s.prefixlen;
    // already up somewhere (acceptable to the spec): that is where it is
    const present = fam.find((a) => this.isMe(a) && (ifname === null || a.ifname === ifname) && (prefixlen === null || a.prefixlen === prefixlen));
    if (present !== undefined) {
      ifname = present.ifname;
      prefixlen = present.prefixlen;
    } else if (ifname === null || prefixlen === null) {
      const candidates = fam
        .filter((a) => !this.isMe(a) && (ifname === null || a.ifname === ifname) && a.scope !== 254)
        .filter((a) => {
          const v = parseIp(a.address);
          return v !== null && sameSubnet(s.family, v.value, this.value, a.prefixlen);
        })
        .sort((x, y) => y.prefixlen - x.prefixlen);
      const best = candidates[0];
      if (best === undefined) {
        throw new IpError(
          ifname === null
            ? `${this}: no interface has a subnet containing ${s.address}; name one: ${s.address}/BITS/IFNAME`
            : `${this}: ${ifname} has no subnet containing ${s.address}, so the netmask is unknown; give it: ${s.address}/BITS/${ifname}`,
        );
      }
      ifname ??= best.ifname;
      prefixlen ??= best.prefixlen;
    }
    const broadcast = s.family === 4 ? (s.broadcast ?? ipv4Broadcast(s.address, prefixlen)) : null;
    return { ifname, prefixlen, broadcast };
  }

  private isUp(list: AddrInfo[], p: IpPlacement): boolean {
    return list.some((a) => a.ifname === p.ifname && a.prefixlen === p.prefixlen && this.isMe(a));
  }

  /** One announcement; returns the packets sent. Throws the addon's error. */
  private announce(ifname: string): AnnounceResult {
    return this.spec.family === 4 ? this.addon.sendGarp(ifname, this.spec.address, this.garp_mode) : this.addon.sendUnsolicitedNa(ifname, this.spec.address);
  }

  /**
   * Bring the address up (success if it already is) and announce it. Resolves
   * once the address is added and the first announcement sent; the rest of
   * the burst runs on timers (see `burst`). Rejects with IpError or the
   * addon's Error (errno text) when the address cannot be added.
   */
  async start(): Promise<void> {
    const t0 = performance.now();
    const list = this.addon.addrList();
    const p = this.place(list);
    if (this.isUp(list, p)) {
      this.last_start = { already: true, added_ms: null, first_sent_ms: null };
      return;
    }
    const opts: AddrAddOptions = {};
    if (this.spec.family === 4) {
      if (p.broadcast !== null) opts.broadcast = p.broadcast;
      if (this.spec.label !== null) opts.label = this.spec.label;
    } else {
      opts.nodad = true; // a takeover cannot wait ~1 s for DAD
    }
    try {
      this.addon.addrAdd(p.ifname, this.spec.address, p.prefixlen, opts);
    } catch (e) {
      // added by someone else between the dump and here: it is up, which is what was asked
      if ((e as { code?: string }).code !== "EEXIST") throw e;
      this.last_start = { already: true, added_ms: null, first_sent_ms: null };
      return;
    }
    const added_ms = performance.now() - t0;
    this.last_start = { already: false, added_ms, first_sent_ms: null };
    this.burst?.cancel();
    this.burst = this.startBurst(p.ifname, t0, this.arp_count, true); // first announcement now, before anything else (logging included)
    this.burst_started_ms = t0;
    this.log("info", `${this}: added ${this.spec.address}/${p.prefixlen} on ${p.ifname}, announcing it ${this.arp_count} times every ${this.arp_interval_ms} ms`);
  }

  /**
   * Announce the address again, `count` times every arp_interval_ms (default
   * arp_count; the first at once), if it is up here. Rate-limited: see the
   * top of this file. `reason` goes to the log (null: not logged, for the
   * periodic refresh). A failed announcement is logged, never thrown.
   */
  reannounce(reason: string | null, count: number = this.arp_count): ReannounceResult {
    if (!Number.isInteger(count) || count < 0 || count > arp_count_max) throw new RangeError(`NativeIp.reannounce: count must be 0..${arp_count_max}, got ${count}`);
    if (this.burst?.active) return "in_flight";
    const now = performance.now();
    const wait_ms = this.burst_started_ms + this.reannounce_gap_ms - now;
    if (wait_ms > 0) {
      this.deferred ??= setTimeout(() => {
        this.deferred = null;
        this.reannounce(reason, count);
      }, Math.ceil(wait_ms));
      return "deferred";
    }
    let p: IpPlacement;
    try {
      const list = this.addon.addrList();
      p = this.place(list);
      if (!this.isUp(list, p)) return "not_up";
    } catch (e) {
      this.log("warn", `${this}: cannot re-announce ${this.spec.address}: ${describe(e)}`);
      return "not_up";
    }
    if (count === 0) return "not_up";
    if (reason !== null) this.log("info", `${this}: re-announcing ${this.spec.address} on ${p.ifname} (${reason}): ${count} times every ${this.arp_interval_ms} ms`);
    this.burst_started_ms = now;
    this.burst = this.startBurst(p.ifname, now, count, false);
    return "started";
  }

  /** First announcement now, the others every arp_interval_ms; `timed`: a start's, measured in last_start. */
  private startBurst(ifname: string, t0: number, count: number, timed: boolean): Burst {
    const r: BurstResult = { planned: count, announced: 0, packets: 0, errors: [], cancelled: false };
    let timer: ReturnType<typeof setTimeout> | null = null;
    let finish!: (v: BurstResult) => void;
    const done = new Promise<BurstResult>((res) => {
      finish = res;
    });
    let left = count;
    const once = (): void => {
      timer = null;
      if (r.cancelled) return;
      left--;
      try {
        const sent = this.announce(ifname);
        r.announced++;
        r.packets += sent.sent;
        if (timed && r.announced === 1 && this.last_start !== null) this.last_start.first_sent_ms = performance.now() - t0;
      } catch (e) {
        const msg = describe(e);
        r.errors.push(msg);
        this.log("warn", `${this}: announcing ${this.spec.address} on ${ifname} failed: ${msg}`);
      }
      if (left > 0) timer = setTimeout(once, this.arp_interval_ms);
      else finish(r);
    };
    const burst: Burst = {
      done,
      get active() {
        return left > 0 && !r.cancelled;
      },
      cancel: () => {
        if (r.cancelled || left === 0) return;
        r.cancelled = true;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        finish(r);
      },
    };
    if (left === 0) finish(r);
    else once(); // synchronously: this is the takeover path
    return burst;
  }

  /**
   * Take the address down (success if it is not there, or its interface or
   * netmask cannot be found: then it is not up either). Cancels a burst still
   * in progress. Rejects with the addon's Error when the kernel refuses.
   */
  async stop(): Promise<void> {
    this.burst?.cancel();
    if (this.deferred !== null) clearTimeout(this.deferred);
    this.deferred = null;
    const list = this.addon.addrList();
    let p: IpPlacement;
    try {
      p = this.place(list);
    } catch (e) {
      if (e instanceof IpError) return;
      throw e;
    }
    if (!this.isUp(list, p)) return;
    try {
      this.addon.addrDel(p.ifname, this.spec.address, p.prefixlen);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== "EADDRNOTAVAIL" && code !== "ENODEV") throw e; // gone meanwhile
      return;
    }
    this.log("info", `${this}: removed ${this.spec.address}/${p.prefixlen} from ${p.ifname}`);
  }

  /** "running" when the address is on its interface with its netmask. */
  async status(): Promise<"running" | "stopped"> {
    const list = this.addon.addrList();
    try {
      return this.isUp(list, this.place(list)) ? "running" : "stopped";
    } catch (e) {
      if (e instanceof IpError) return "stopped";
      throw e;
    }
  }
}
