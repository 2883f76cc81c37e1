// Value parsers shared by the keyword tables. Each returns the value or an
// error message that names the accepted forms; none of them throws.
import { isIP } from "node:net";

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(message: string): Parsed<T> => ({ ok: false, message });

/** Upper bound for any time value: a day. Heartbeat's C longs had none. */
export const time_ms_max = 86_400_000;

// cl_get_msec (cluster-glue, clplumbing/cl_misc.c): a number is seconds, may be
// fractional; "ms"/"msec" = milliseconds, "us"/"usec" = microseconds (case-
// insensitive); rounded to the nearest millisecond. Anything else (e.g. "2s")
// makes Heartbeat fail with a bare "configuration error".
const time_re = /^(\d+(?:\.\d*)?|\.\d+)(ms|msec|us|usec)?$/i;

export function parseTimeMs(s: string): Parsed<number> {
  const m = time_re.exec(s);
  if (!m) {
    return bad(
      `${JSON.stringify(s.slice(0, 40))} is not a time: write seconds as a plain number (\`2\`, \`1.5\`) or milliseconds with \`ms\` (\`500ms\`); \`us\` (microseconds) also works, \`s\`/\`sec\` does not`,
    );
  }
  const unit = (m[2] ?? "").toLowerCase();
  const per_unit_ms = unit === "" ? 1000 : unit.startsWith("m") ? 1 : 0.001;
  const ms = Math.floor(Number(m[1]) * per_unit_ms + 0.5);
  if (!Number.isFinite(ms) || ms > time_ms_max) return bad(`${s} is more than a day (${time_ms_max / 1000} s)`);
  return ok(ms);
}

/** cl_str_to_boolean: true/on/yes/y/1 and false/off/no/n/0, any case. */
export function parseBool(s: string): Parsed<boolean> {
  const v = s.toLowerCase();
  if (["true", "on", "yes", "y", "1"].includes(v)) return ok(true);
  if (["false", "off", "no", "n", "0"].includes(v)) return ok(false);
  return bad(`${JSON.stringify(s.slice(0, 40))} is not a boolean: use on/off (also yes/no, true/false, y/n, 1/0)`);
}

/** A plain decimal integer in [min, max]; Heartbeat used atoi, which read "12abc" as 12. */
export function parseIntIn(s: string, min: number, max: number): Parsed<number> {
  if (!/^\d{1,10}$/.test(s)) return bad(`${JSON.stringify(s.slice(0, 40))} is not a whole number (${min}..${max})`);
  const n = Number(s);
  if (n < min || n > max) return bad(`${n} is out of range ${min}..${max}`);
  return ok(n);
}

/** Linux interface names: 1..15 bytes (IFNAMSIZ-1), no '/', no whitespace, not "." or "..". */
export function checkIface(s: string): string | null {
  if (s.length < 1 || s.length > 15) return `interface name ${JSON.stringify(s.slice(0, 40))} must be 1 to 15 characters (Linux IFNAMSIZ)`;
  if (s === "." || s === ".." || /[/\s\x00-\x1f\x7f-\uffff]/.test(s)) {
    return `${JSON.stringify(s.slice(0, 40))} is not a valid interface name (no '/', spaces or control characters)`;
  }
  return null;
}

export function isIPv4(s: string): boolean {
  return isIP(s) === 4;
}

export function isIPv6(s: string): boolean {
  return isIP(stripScope(s)) === 6;
}

function stripScope(s: string): string {
  const i = s.indexOf("%");
  return i < 0 ? s : s.slice(0, i);
}

/** 224.0.0.0/4, as Heartbeat's mcast plugin (is_valid_mcast_addr) requires. */
export function isIPv4Multicast(s: string): boolean {
  if (!isIPv4(s)) return false;
  const first = Number(s.split(".")[0]);
  return first >= 224 && first <= 239;
}

/**
 * Heartbeat's mcast6 plugin (is_valid_mcast6_addr): ff00::/8 with no reserved
 * flag bits, scope link (2), admin (4), site (5) or organization (8) local,
 * and not all-zero after the first two bytes.
 */
export function checkIPv6Multicast(s: string): string | null {
  const bytes = ipv6Bytes(s);
  if (!bytes) return `${JSON.stringify(s.slice(0, 60))} is not an IPv6 address`;
  if (bytes[0] !== 0xff) return `${s} is not an IPv6 multicast address (ff00::/8)`;
  if ((bytes[1]! & 0xe0) !== 0) return `${s} sets reserved multicast flag bits`;
  const scope = bytes[1]! & 0x0f;
  if (![2, 4, 5, 8].includes(scope)) {
    return `${s} has multicast scope ${scope.toString(16)}: Heartbeat accepts link- (ff02::), admin- (ff04::), site- (ff05::) or organization-local (ff08::) groups only`;
  }
  if (bytes.slice(2).every((b) => b === 0)) return `${s} is a reserved multicast address (group id 0)`;
  return null;
}

function ipv6Bytes(s: string): number[] | null {
  if (isIP(s) !== 6) return null;
  let text = s;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail = v4[1]!.split(".").map(Number);
    text = `${text.slice(0, -v4[1]!.length)}0:0`;
  }
  const [head_s, rest_s] = text.includes("::") ? text.split("::") : [text, null];
  const head = head_s ? head_s.split(":") : [];
  const rest = rest_s ? rest_s.split(":") : [];
  const fill = rest_s === null ? 0 : 8 - head.length - rest.length;
  const groups = [...head, ...Array(fill).fill("0"), ...rest].map((g) => Number.parseInt(g, 16));
  if (groups.length !== 8) return null;
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** RFC 1123 host name, for ping nodes (Heartbeat resolved them with gethostbyname). */
export function isHostName(s: string): boolean {
  if (s.length < 1 || s.length > 253) return false;
  // RFC 1123 2.1: the last label is never all digits, so `192.0.2.999` is a
  // mistyped address, not a name to resolve (found by the bad-config corpus)
  if (/^[0-9]+$/.test(s.slice(s.lastIndexOf(".") + 1))) return false;
  return s.split(".").every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}
