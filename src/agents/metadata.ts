// Minimal, bounded reading of OCF meta-data XML: the agent's name, its
// <parameters> (name, required, unique, default) and its <actions> (name,
// timeout, interval, role, depth). Not a general XML parser: a linear scan
// over tags that skips comments, CDATA, processing instructions and
// declarations, and never backtracks. Text content is ignored.

import { OcfMetadataError } from "./types.ts";

export const metadata_chars_max = 256 * 1024;
export const metadata_tags_max = 10_000;
export const metadata_actions_max = 64;
export const metadata_parameters_max = 256;
const attrs_max = 32;
/** Longest timeout we accept from meta-data or config (1 day). */
export const duration_ms_max = 24 * 3600 * 1000;

export interface OcfActionMeta {
  name: string;
  timeout_ms: number | null;
  interval_ms: number | null;
  role: string | null;
  depth: string | null;
}

export interface OcfParameterMeta {
  name: string;
  required: boolean;
  unique: boolean;
  default: string | null;
}

export interface OcfMetadata {
  name: string | null;
  parameters: OcfParameterMeta[];
  /** every <action>, in document order (monitor may appear once per role/interval) */
  actions: OcfActionMeta[];
}

/** The entry that sets an action's timeout: the first one without a role. */
export function actionMeta(meta: OcfMetadata, name: string): OcfActionMeta | null {
  return meta.actions.find((a) => a.name === name && a.role === null) ?? meta.actions.find((a) => a.name === name) ?? null;
}

/**
 * Pacemaker's duration syntax: a number with an optional unit (ms, msec, us,
 * usec, s, sec, m, min, h, hr); no unit means seconds. Returns milliseconds
 * (rounded up to 1 for sub-millisecond values), or null when the text is not
 * a duration or is outside (0, 1 day].
 */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d{1,9}(?:\.\d{1,9})?)\s*([a-zA-Z]{0,4})\s*$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const scale: Record<string, number> = { "": 1000, s: 1000, sec: 1000, ms: 1, msec: 1, us: 0.001, usec: 0.001, m: 60_000, min: 60_000, h: 3_600_000, hr: 3_600_000 };
  const k = scale[unit];
  if (k === undefined) return null;
  const ms = n * k;
  if (!(ms > 0) || ms > duration_ms_max) return null;
  return Math.max(1, Math.round(ms));
}

interface Tag {
  name: string;
  closing: boolean;
  self_closing: boolean;
  attrs: Map<string, string>;
}

/** Yields the element tags of `xml` in order; throws OcfMetadataError on malformed markup or too many tags. */
export function* tags(xml: string): Generator<Tag> {
  let i = 0;
  let count = 0;
  const n = xml.length;
  while (i < n) {
    const lt = xml.indexOf("<", i);
    if (lt < 0) return;
    if (xml.startsWith("<!--", lt)) {
      i = skipPast(xml, lt + 4, "-->");
      continue;
    }
    if (xml.startsWith("<![CDATA[", lt)) {
      i = skipPast(xml, lt + 9, "]]>");
      continue;
    }
    if (xml.startsWith("<?", lt)) {
      i = skipPast(xml, lt + 2, "?>");
      continue;
    }
    if (xml.startsWith("<!", lt)) {
      // <!DOCTYPE ...>: no internal subsets in OCF meta-data
      i = skipPast(xml, lt + 2, ">");
      continue;
    }
    if (++count > metadata_tags_max) throw new OcfMetadataError(`meta-data has more than ${metadata_tags_max} tags`);
    const r = readTag(xml, lt);
    i = r.end;
    yield r.tag;
  }
}

function skipPast(xml: string, from: number, end: string): number {
  const j = xml.indexOf(end, from);
  if (j < 0) throw new OcfMetadataError(`meta-data: unterminated markup (expected ${end})`);
  return j + end.length;
}

const name_char = /[A-Za-z0-9_:.-]/;

function readTag(xml: string, lt: number): { tag: Tag; end: number } {
  let i = lt + 1;
  const closing = xml[i] === "/";
  if (closing) i++;
  const name_start = i;
  while (i < xml.length && name_char.test(xml[i]!)) i++;
  const name = xml.slice(name_start, i);
  if (name === "") throw new OcfMetadataError(`meta-data: bad tag at offset ${lt}`);
  const attrs = new Map<string, string>();
  for (;;) {
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
    if (i >= xml.length) throw new OcfMetadataError(`meta-data: unterminated tag <${name}>`);
    const c = xml[i]!;
    if (c === ">") return { tag: { name, closing, self_closing: false, attrs }, end: i + 1 };
    if (c === "/" && xml[i + 1] === ">") return { tag: { name, closing, self_closing: true, attrs }, end: i + 2 };
    const a_start = i;
    while (i < xml.length && name_char.test(xml[i]!)) i++;
    const a_name = xml.slice(a_start, i);
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
    if (a_name === "" || xml[i] !== "=") throw new OcfMetadataError(`meta-data: bad attribute in <${name}> at offset ${i}`);
    i++;
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
    const q = xml[i];
    if (q !== '"' && q !== "'") throw new OcfMetadataError(`meta-data: unquoted attribute ${a_name} in <${name}>`);
    const close = xml.indexOf(q, i + 1);
    if (close < 0) throw new OcfMetadataError(`meta-data: unterminated attribute ${a_name} in <${name}>`);
    if (attrs.size >= attrs_max) throw new OcfMetadataError(`meta-data: more than ${attrs_max} attributes in <${name}>`);
    attrs.set(a_name, decodeEntities(xml.slice(i + 1, close)));
    i = close + 1;
  }
}

function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (_, e: string) => {
    switch (e) {
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "amp":
        return "&";
      case "quot":
        return '"';
      case "apos":
        return "'";
    }
    const cp = e.startsWith("#x") ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : "\uFFFD";
  });
}

function flag(v: string | undefined): boolean {
  return v === "1" || v === "true" || v === "yes";
}

/** Parse an agent's meta-data output. Throws OcfMetadataError when it is not OCF meta-data. */
export function parseOcfMetadata(xml: string): OcfMetadata {
  if (xml.length > metadata_chars_max) throw new OcfMetadataError(`meta-data is larger than ${metadata_chars_max} characters`);
  const meta: OcfMetadata = { name: null, parameters: [], actions: [] };
  let seen_root = false;
  let in_actions = false;
  let in_parameters = false;
  for (const t of tags(xml)) {
    if (t.name === "resource-agent" && !t.closing) {
      seen_root = true;
      meta.name = t.attrs.get("name") ?? null;
    } else if (t.name === "actions") {
      in_actions = !t.closing && !t.self_closing;
    } else if (t.name === "parameters") {
      in_parameters = !t.closing && !t.self_closing;
    } else if (t.name === "action" && in_actions && !t.closing) {
      const name = t.attrs.get("name");
      if (!name) continue;
      if (meta.actions.length >= metadata_actions_max) throw new OcfMetadataError(`meta-data lists more than ${metadata_actions_max} actions`);
      const timeout = t.attrs.get("timeout");
      const interval = t.attrs.get("interval");
      meta.actions.push({
        name,
        timeout_ms: timeout === undefined ? null : parseDuration(timeout),
        interval_ms: interval === undefined ? null : interval.trim() === "0" ? 0 : parseDuration(interval),
        role: t.attrs.get("role") ?? null,
        depth: t.attrs.get("depth") ?? null,
      });
    } else if (t.name === "parameter" && in_parameters && !t.closing) {
      const name = t.attrs.get("name");
      if (!name) continue;
      if (meta.parameters.length >= metadata_parameters_max) throw new OcfMetadataError(`meta-data lists more than ${metadata_parameters_max} parameters`);
      meta.parameters.push({ name, required: flag(t.attrs.get("required")), unique: flag(t.attrs.get("unique")), default: null });
    } else if (t.name === "content" && in_parameters && !t.closing) {
      const p = meta.parameters.at(-1);
      const d = t.attrs.get("default");
      if (p && d !== undefined) p.default = d;
    }
  }
  if (!seen_root) throw new OcfMetadataError("meta-data has no <resource-agent> element");
  return meta;
}
