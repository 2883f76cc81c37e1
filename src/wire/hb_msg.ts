// Heartbeat 3.0.6 messages (cluster-glue's struct ha_msg) and their two
// text encodings, as bytes. Pure: parsers never throw, they return the
// message or the reason for refusing the input; serializers assert (a bad
// message here is our bug).
//
// Facts (cluster-glue lib/clplumbing/cl_msg.c, cl_netstring.c,
// cl_msg_types.c; checked against the capture in
// test/fixtures/heartbeat3/wire-heartbeat3.txt):
// - A message is an ordered list of fields; names are C strings, values are
//   typed: 0 string, 1 binary, 2 struct (a nested message), 3 list (of
//   strings), 4 compressed, 5 uncompressed (compression's internal forms).
// - Netstring form (what 3.0.6 sends on UDP): "###\n", then per field the
//   netstring "<len>:(<T>)<name>=<value>," (len counts "(T)name=value";
//   struct values are a nested "###\n...%%%\n" without trailer, list values
//   are "<len>:<s>," per element), then "%%%\n", then the auth trailer
//   netstring "<len>:<keyid> <token>,".
// - Classic form (what scripts write to the FIFO, what the serial plugin
//   sends, what the receiver still accepts): ">>>\n", per field one line
//   "name=value\n" with "(T)" before non-string names, binary values in
//   base64, '\n' inside a string value written as byte 19, then "<<<\n".
//   The "auth" field's token is computed over this form without the
//   markers and without the auth field itself.
// Strings travel as bytes; here they are latin1 strings (one char = one
// byte) so that a message re-encodes to exactly the bytes it came from.

/** cluster-glue's MAXMSG: the largest message on the wire (include/clplumbing/ipc.h). */
export const hb_msg_size_max = 256 * 1024;
/** cluster-glue's MAXDEPTH: nesting of struct fields. */
export const hb_depth_max = 16;
/** Bounds of our own (Heartbeat grows its arrays without a fixed bound). */
export const hb_fields_max = 256;
export const hb_name_len_max = 128;
export const hb_list_len_max = 256;

export const FieldType = { string: 0, binary: 1, struct: 2, list: 3, compressed: 4, uncompressed: 5 } as const;

export type HbValue =
  | { type: "string"; value: string }
  | { type: "binary"; value: Uint8Array }
  | { type: "struct"; value: HbMessage }
  | { type: "list"; value: string[] };

export interface HbField {
  name: string;
  v: HbValue;
}

export interface HbMessage {
  fields: HbField[];
}

export type HbParseError =
  | "too_big"
  | "bad_start"
  | "truncated"
  | "bad_length"
  | "bad_field"
  | "bad_name"
  | "bad_value"
  | "too_many_fields"
  | "too_deep"
  | "compressed"
  | "no_trailer"
  | "bad_trailer"
  | "trailing_garbage";

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: HbParseError };

export interface NetstringParse {
  msg: HbMessage;
  /** bytes "###\n" .. "%%%\n" inclusive: what the trailer authenticates */
  signed: Uint8Array;
  /** the trailer's key index and token, or null when absent (nested messages) */
  trailer: { keyid: number; token: string } | null;
}

const te_latin1 = (s: string): Uint8Array => {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
};
export const latin1 = te_latin1;

export function fromLatin1(b: Uint8Array): string {
  let s = "";
  // chunked: String.fromCharCode(...big) would overflow the call stack
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

const NS_START = te_latin1("###\n");
const NS_END = te_latin1("%%%\n");
const CL_START = te_latin1(">>>\n");
const CL_END = te_latin1("<<<\n");
/** a '\n' inside a classic string value (SPECIAL_SYM in cl_msg_types.c) */
const special_sym = 19;
/** per-depth replacement of '\n' inside a nested classic struct (SPECIAL_SYMS[]) */
const special_syms = [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 15, 16, 17, 18];

function startsWith(b: Uint8Array, at: number, p: Uint8Array): boolean {
  if (at + p.length > b.length) return false;
  for (let i = 0; i < p.length; i++) if (b[at + i] !== p[i]) return false;
  return true;
}

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const no = <T>(reason: HbParseError): ParseResult<T> => ({ ok: false, reason });

function validName(name: string): boolean {
  // names are C strings cut at '=' and at newlines in the classic form
  return name.length >= 1 && name.length <= hb_name_len_max && !/[\0=\n\r]/.test(name);
}

// ---- netstring ---------------------------------------------------------------

/** One "<len>:<data>," at `at`: the data's span and where the next one starts. */
function peel(b: Uint8Array, at: number, end: number): ParseResult<{ start: number; len: number; next: number }> {
  let i = at;
  let len = 0;
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39) {
    len = len * 10 + (b[i]! - 0x30);
    if (len > hb_msg_size_max) return no("bad_length");
    i++;
  }
  if (i === at || i >= end) return no(i >= end ? "truncated" : "bad_length");
  if (b[i] !== 0x3a /* : */) return no("bad_length");
  const start = i + 1;
  if (start + len >= end) return no("truncated");
  if (b[start + len] !== 0x2c /* , */) return no("bad_length");
  return ok({ start, len, next: start + len + 1 });
}

/**
 * Parse a netstring message. With `top`, the auth trailer must follow
 * "%%%\n" and nothing but NUL padding may follow it.
 */
export function parseNetstring(b: Uint8Array, top = true): ParseResult<NetstringParse> {
  if (b.length > hb_msg_size_max) return no("too_big");
  return netstringAt(b, 0, b.length, 0, top);
}

function netstringAt(b: Uint8Array, from: number, end: number, depth: number, top: boolean): ParseResult<NetstringParse> {
  if (depth >= hb_depth_max) return no("too_deep");
  if (!startsWith(b, from, NS_START)) return no("bad_start");
  let i = from + NS_START.length;
  const fields: HbField[] = [];
  for (;;) {
    if (i >= end) return no("truncated");
    if (startsWith(b, i, NS_END)) break;
    if (fields.length >= hb_fields_max) return no("too_many_fields");
    const p = peel(b, i, end);
    if (!p.ok) return p;
    const { start, len, next } = p.value;
    const f = netstringField(b, start, start + len, depth);
    if (!f.ok) return f;
    fields.push(f.value);
    i = next;
  }
  const signed_end = i + NS_END.length;
  const msg = { fields };
  const signed = b.subarray(from, signed_end);
  if (!top) {
    if (signed_end !== end) return no("trailing_garbage");
    return ok({ msg, signed, trailer: null });
  }
  if (signed_end >= end) return no("no_trailer");
  const t = peel(b, signed_end, end);
  if (!t.ok) return no("bad_trailer");
  const trailer = parseAuthString(fromLatin1(b.subarray(t.value.start, t.value.start + t.value.len)));
  if (!trailer) return no("bad_trailer");
  for (let k = t.value.next; k < end; k++) if (b[k] !== 0) return no("trailing_garbage");
  return ok({ msg, signed, trailer });
}

/** "<keyid> <token>": keyid 1..15 (authkeys), token printable. */
export function parseAuthString(s: string): { keyid: number; token: string } | null {
  const m = /^(\d{1,2}) ([!-~]{1,128})$/.exec(s);
  if (!m) return null;
  const keyid = Number(m[1]);
  if (keyid < 1 || keyid > 15) return null;
  return { keyid, token: m[2]! };
}

function netstringField(b: Uint8Array, start: number, end: number, depth: number): ParseResult<HbField> {
  // "(T)name=value"
  if (end - start < 5 || b[start] !== 0x28 || b[start + 2] !== 0x29) return no("bad_field");
  const t = b[start + 1]! - 0x30;
  if (t < 0 || t > 9) return no("bad_field");
  let eq = start + 3;
  while (eq < end && b[eq] !== 0x3d /* = */) eq++;
  if (eq >= end) return no("bad_field");
  const name = fromLatin1(b.subarray(start + 3, eq));
  if (!validName(name)) return no("bad_name");
  const vs = eq + 1;
  switch (t) {
    case FieldType.string: {
      const v = b.subarray(vs, end);
      if (v.includes(0)) return no("bad_value");
      return ok({ name, v: { type: "string", value: fromLatin1(v) } });
    }
    case FieldType.binary:
      return ok({ name, v: { type: "binary", value: b.slice(vs, end) } });
    case FieldType.struct: {
      const inner = netstringAt(b, vs, end, depth + 1, false);
      if (!inner.ok) return inner;
      return ok({ name, v: { type: "struct", value: inner.value.msg } });
    }
    case FieldType.list: {
      const items: string[] = [];
      let i = vs;
      while (i < end) {
        if (items.length >= hb_list_len_max) return no("too_many_fields");
        const p = peel(b, i, end);
        if (!p.ok) return no("bad_value");
        const item = b.subarray(p.value.start, p.value.start + p.value.len);
        if (item.includes(0) || item.length === 0) return no("bad_value");
        items.push(fromLatin1(item));
        i = p.value.next;
      }
      return ok({ name, v: { type: "list", value: items } });
    }
    case FieldType.compressed:
    case FieldType.uncompressed:
      // Only Pacemaker's large CIB messages are compressed; R1 never is.
      return no("compressed");
    default:
      return no("bad_field");
  }
}

/** "###\n" fields "%%%\n" (no trailer). */
export function toNetstring(m: HbMessage): Uint8Array {
  return te_latin1(netstringText(m, 0));
}

function netstringText(m: HbMessage, depth: number): string {
  assert(depth < hb_depth_max, "struct nesting too deep");
  let s = "###\n";
  for (const f of m.fields) {
    assert(validName(f.name), `bad field name ${JSON.stringify(f.name)}`);
    let body: string;
    switch (f.v.type) {
      case "string":
        assert(!f.v.value.includes("\0"), "NUL in a string value");
        body = f.v.value;
        break;
      case "binary":
        body = fromLatin1(f.v.value);
        break;
      case "struct":
        body = netstringText(f.v.value, depth + 1);
        break;
      case "list":
        body = f.v.value.map((x) => `${x.length}:${x},`).join("");
        break;
    }
    const item = `(${FieldType[f.v.type]})${f.name}=${body}`;
    s += `${item.length}:${item},`;
  }
  return `${s}%%%\n`;
}

// ---- classic -----------------------------------------------------------------

/** Parse a classic ">>>\n...<<<\n" message (trailing NULs allowed, as scripts write them). */
export function parseClassic(b: Uint8Array): ParseResult<HbMessage> {
  if (b.length > hb_msg_size_max) return no("too_big");
  const r = classicAt(fromLatin1(b), 0);
  if (!r.ok) return r;
  for (let k = r.value.end; k < b.length; k++) if (b[k] !== 0) return no("trailing_garbage");
  return ok(r.value.msg);
}

function classicAt(s: string, depth: number): ParseResult<{ msg: HbMessage; end: number }> {
  if (depth >= hb_depth_max) return no("too_deep");
  if (!s.startsWith(">>>\n")) return no("bad_start");
  let i = 4;
  const fields: HbField[] = [];
  for (;;) {
    while (s[i] === "\n" || s[i] === "\r") i++;
    if (i >= s.length) return no("truncated");
    if (s.startsWith("<<<\n", i)) return ok({ msg: { fields }, end: i + 4 });
    if (fields.length >= hb_fields_max) return no("too_many_fields");
    let nl = i;
    while (nl < s.length && s[nl] !== "\n" && s[nl] !== "\r") nl++;
    if (nl >= s.length) return no("truncated");
    const f = classicField(s.slice(i, nl), depth);
    if (!f.ok) return f;
    fields.push(f.value);
    i = nl;
  }
}

function classicField(line: string, depth: number): ParseResult<HbField> {
  if (line.includes("\0")) return no("bad_value");
  let type = 0;
  let rest = line;
  if (line.startsWith("(")) {
    if (line[2] !== ")" || !/[0-9]/.test(line[1] ?? "")) return no("bad_field");
    type = Number(line[1]);
    if (type === FieldType.string) return no("bad_field"); // "(0)" is refused by Heartbeat too
    rest = line.slice(3);
  }
  const eq = rest.indexOf("=");
  if (eq <= 0) return no("bad_field");
  const name = rest.slice(0, eq);
  if (!validName(name)) return no("bad_name");
  const raw = rest.slice(eq + 1);
  switch (type) {
    case FieldType.string:
      return ok({ name, v: { type: "string", value: raw.replaceAll(String.fromCharCode(special_sym), "\n") } });
    case FieldType.binary: {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 !== 0) return no("bad_value");
      return ok({ name, v: { type: "binary", value: new Uint8Array(Buffer.from(raw, "base64")) } });
    }
    case FieldType.struct: {
      const inner = classicAt(raw.replaceAll(String.fromCharCode(special_syms[depth]!), "\n"), depth + 1);
      if (!inner.ok) return inner;
      return ok({ name, v: { type: "struct", value: inner.value.msg } });
    }
    case FieldType.list: {
      const items: string[] = [];
      let i = 0;
      while (i < raw.length) {
        if (items.length >= hb_list_len_max) return no("too_many_fields");
        const m = /^(\d{1,6}):/.exec(raw.slice(i, i + 8));
        if (!m) return no("bad_value");
        const n = Number(m[1]);
        const st = i + m[0].length;
        if (n < 1 || st + n >= raw.length + 1 || raw[st + n] !== ",") return no("bad_value");
        items.push(raw.slice(st, st + n));
        i = st + n + 1;
      }
      return ok({ name, v: { type: "list", value: items } });
    }
    case FieldType.compressed:
    case FieldType.uncompressed:
      return no("compressed");
    default:
      return no("bad_field");
  }
}

/**
 * Classic text. `head`: with ">>>\n"/"<<<\n" (the wire form); without, and
 * without the auth field, it is what the auth field's token covers.
 */
export function classicText(m: HbMessage, head: boolean, depth = 0): string {
  assert(depth < hb_depth_max, "struct nesting too deep");
  let s = head ? ">>>\n" : "";
  for (const f of m.fields) {
    if (!head && f.name === "auth") continue;
    if (f.v.type !== "string") s += `(${FieldType[f.v.type]})`;
    s += `${f.name}=`;
    switch (f.v.type) {
      case "string":
        s += f.v.value.replaceAll("\n", String.fromCharCode(special_sym));
        break;
      case "binary":
        s += Buffer.from(f.v.value).toString("base64");
        break;
      case "struct":
        s += classicText(f.v.value, true, depth + 1).replaceAll("\n", String.fromCharCode(special_syms[depth]!));
        break;
      case "list":
        s += f.v.value.map((x) => `${x.length}:${x},`).join("");
        break;
    }
    s += "\n";
  }
  return head ? `${s}<<<\n` : s;
}

// ---- access helpers ------------------------------------------------------------

export function getString(m: HbMessage, name: string): string | null {
  const f = m.fields.find((x) => x.name === name);
  return f?.v.type === "string" ? f.v.value : null;
}

export function getBinary(m: HbMessage, name: string): Uint8Array | null {
  const f = m.fields.find((x) => x.name === name);
  return f?.v.type === "binary" ? f.v.value : null;
}

/** Heartbeat's numbers: lowercase hex without 0x (sscanf "%lx"); null when absent or not hex. */
export function getHex(m: HbMessage, name: string): number | null {
  const s = getString(m, name);
  if (s === null || !/^[0-9a-fA-F]{1,13}$/.test(s)) return null;
  return parseInt(s, 16);
}

export const str = (name: string, value: string): HbField => ({ name, v: { type: "string", value } });
export const bin = (name: string, value: Uint8Array): HbField => ({ name, v: { type: "binary", value } });

function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`hb_msg: ${msg}`);
}
