// Shared plumbing of the /etc/ha.d parsers: bounded line splitting that never
// throws (binary junk, NUL bytes, CRLF, huge lines), diagnostics with
// {file, line, keyword}, and "did you mean" suggestions.
import type { Diagnostic, Severity } from "./types.ts";

/** Files above this are refused whole: an ha.cf or authkeys is a few kB. */
export const file_size_max = 1024 * 1024;
/** Longer lines get an error and are skipped (Heartbeat's own buffer silently split them). */
export const line_len_max = 4096;
/** Bound on lines looked at, so a file of empty lines cannot keep us busy. */
export const line_count_max = 100_000;

export interface Line {
  /** 1-based */
  number: number;
  /** without the line terminator */
  text: string;
}

export class Diagnostics {
  readonly list: Diagnostic[] = [];
  constructor(readonly file: string) {}

  add(severity: Severity, line: number, message: string, keyword?: string): void {
    const d: Diagnostic = { file: this.file, line, severity, message };
    if (keyword !== undefined) d.keyword = keyword;
    this.list.push(d);
  }
  error(line: number, message: string, keyword?: string): void {
    this.add("error", line, message, keyword);
  }
  warning(line: number, message: string, keyword?: string): void {
    this.add("warning", line, message, keyword);
  }
  get errorCount(): number {
    return this.list.filter((d) => d.severity === "error").length;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Split a file into lines. Lines that are too long, hold a NUL byte or are not
 * valid UTF-8 get an error and are left out; a CR before LF is dropped.
 */
export function splitLines(input: string | Uint8Array, diags: Diagnostics): Line[] {
  const size = typeof input === "string" ? input.length : input.byteLength;
  if (size > file_size_max) {
    diags.error(0, `file is ${size} bytes, more than the ${file_size_max} allowed: this is not a Heartbeat configuration file (check the path)`);
    return [];
  }
  const text = typeof input === "string" ? input : decoder.decode(input);
  const raw = text.split("\n");
  const out: Line[] = [];
  const count = Math.min(raw.length, line_count_max);
  for (let i = 0; i < count; i++) {
    const line = lineProblem(raw[i]!, i + 1, diags);
    if (line !== null) out.push({ number: i + 1, text: line });
  }
  if (raw.length > line_count_max) diags.error(line_count_max, `more than ${line_count_max} lines: the rest is ignored`);
  return out;
}

function lineProblem(text: string, number: number, diags: Diagnostics): string | null {
  if (text.endsWith("\r")) text = text.slice(0, -1);
  if (text.length > line_len_max) {
    diags.error(number, `line is ${text.length} characters long, more than ${line_len_max}: split it or remove it`);
    return null;
  }
  if (text.includes("\0")) {
    diags.error(number, "line contains a NUL byte (binary data?): remove it");
    return null;
  }
  if (text.includes("\uFFFD")) {
    diags.error(number, "line is not valid UTF-8 text (binary data or a Latin-1 editor?): retype it in plain ASCII");
    return null;
  }
  return text;
}

/** Heartbeat's WHITESPACE (" \t\n\r\f") and DELIMS (WHITESPACE plus ","). */
const whitespace_re = /[ \t\n\r\f]+/;
const delims_re = /[ \t\n\r\f,]+/;

export function splitWords(s: string): string[] {
  return s.split(whitespace_re).filter((w) => w.length > 0);
}

export function splitOptions(s: string): string[] {
  return s.split(delims_re).filter((w) => w.length > 0);
}

/** Edit distance counting a swap of neighbours as one edit (optimal string
 * alignment); inputs are capped so a junk line stays cheap. */
export function editDistance(a: string, b: string): number {
  a = a.slice(0, 64);
  b = b.slice(0, 64);
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j]!, before[j - 2]! + 1);
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest known word, if it is close enough to be a typo. */
export function suggest(word: string, known: readonly string[]): string | null {
  const lower = word.toLowerCase();
  const exact_case = known.find((k) => k.toLowerCase() === lower);
  if (exact_case) return exact_case;
  let best: string | null = null;
  let best_d = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(lower, k);
    if (d < best_d) [best, best_d] = [k, d];
  }
  const allowed = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  if (best !== null && best_d <= allowed) return best;
  // "initdeadtime" for "initdead", "keepalives" for "keepalive"
  const prefix = known.filter((k) => k.length >= 4 && (lower.startsWith(k) || (k.startsWith(lower) && lower.length >= 4)));
  return prefix.length === 1 ? prefix[0]! : null;
}

/** Show a user's word in a message without letting junk flood the terminal. */
export function quote(s: string): string {
  const short = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return `\`${short.replace(/[^\x20-\x7e]/g, "?")}\``;
}
