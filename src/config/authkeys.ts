// authkeys: which key signs outgoing packets and which keys are accepted.
//
// Facts from Heartbeat 3.0.6 (heartbeat/auth.c parse_authfile, MAXAUTH in
// include/heartbeat.h):
// - '#' comments only at the start of a line (after blanks); a '#' later on
//   the line is part of the key.
// - `auth N` picks the signing key; key lines are `N METHOD [KEY]` read with
//   sscanf("%d%s%s"), so the key is the first word after the method and any
//   further words are silently dropped.
// - N is 0..15 (MAXAUTH 16). crc takes no key; md5 and sha1 need one.
// - The file is refused when group or others can read it (fstat after open,
//   so a symlink is followed): "Bad permissions on keyfile, 600 recommended".
// tandem adds sha256 (HMAC-SHA256), refuses duplicate indexes and a second
// `auth` line (Heartbeat: last one wins), and any group/other permission bit.
import { Diagnostics, quote, splitLines, splitWords, suggest } from "./lines.ts";
import type { AuthKey, AuthKeys, AuthMethod, Diagnostic } from "./types.ts";

export const auth_index_max = 15;
/** Keys shorter than this get a warning: they are guessable offline from one captured packet. */
export const key_len_min = 16;

const keyword_table: Record<AuthMethod, { needs_key: boolean; advice: string | null }> = {
  sha256: { needs_key: true, advice: null },
  sha1: { needs_key: true, advice: null },
  md5: { needs_key: true, advice: "md5 is weak: prefer `N sha256 SECRET` (tandem) or sha1 (if Heartbeat must still read this file)" },
  crc: { needs_key: false, advice: "crc checks integrity only, with no authentication: anyone on the heartbeat network can forge packets; use `N sha256 SECRET`" },
};
const methods = Object.keys(keyword_table) as AuthMethod[];

interface State {
  diags: Diagnostics;
  keys: Map<number, AuthKey>;
  auth: { index: number; line: number } | null;
}

/** Parse authkeys text. `keys` is null when there are errors. Never throws. */
export function parseAuthKeys(input: string | Uint8Array, file: string): { keys: AuthKeys | null; diagnostics: Diagnostic[] } {
  const st: State = { diags: new Diagnostics(file), keys: new Map(), auth: null };
  for (const line of splitLines(input, st.diags)) parseLine(st, line.number, line.text);
  const active = completeAuth(st);
  const keys = active && st.diags.errorCount === 0 ? { file, active, keys: st.keys } : null;
  return { keys, diagnostics: st.diags.list };
}

function parseLine(st: State, line: number, text: string): void {
  const words = splitWords(text);
  if (words.length === 0 || words[0]!.startsWith("#")) return;
  if (words[0] === "auth") return authLine(st, line, words);
  if (/^\d+$/.test(words[0]!)) return keyLine(st, line, words);
  const near = suggest(words[0]!, ["auth"]);
  st.diags.error(line, `${quote(words[0]!)} is neither \`auth N\` nor a key line \`N METHOD KEY\`${near ? "; did you mean `auth`?" : ""}`, "auth");
}

function authLine(st: State, line: number, words: string[]): void {
  if (words.length !== 2 || !/^\d{1,3}$/.test(words[1]!) || Number(words[1]) > auth_index_max) {
    st.diags.error(line, `write \`auth N\` with N the signing key's index (0..${auth_index_max}), e.g. \`auth 1\``, "auth");
    return;
  }
  if (st.auth) {
    st.diags.error(line, `second \`auth\` line (first on line ${st.auth.line}): keep exactly one`, "auth");
    return;
  }
  st.auth = { index: Number(words[1]), line };
}

function keyLine(st: State, line: number, words: string[]): void {
  const index = Number(words[0]);
  const d = st.diags;
  if (words[0]!.length > 3 || index > auth_index_max) return d.error(line, `key index ${quote(words[0]!)} is out of range 0..${auth_index_max}`, "key");
  const method = words[1];
  if (method === undefined) return d.error(line, `key ${index} has no method: write \`${index} sha256 SECRET\``, "key");
  if (!(methods as string[]).includes(method)) {
    const near = suggest(method, methods);
    return d.error(line, `unknown method ${quote(method)}${near ? `; did you mean \`${near}\`?` : ""} (use sha256, sha1, md5 or crc)`, "key");
  }
  const m = method as AuthMethod;
  const key = words[2] ?? "";
  if (!keyword_table[m].needs_key && key !== "") {
    return d.error(line, `crc takes no key, but ${quote(key)} follows: remove it (comments must be on their own line)`, "key");
  }
  if (keyword_table[m].needs_key && key === "") return d.error(line, `${m} needs a key: write \`${index} ${m} SECRET\``, "key");
  const twin = st.keys.get(index);
  if (twin) return d.error(line, `key ${index} is defined twice (first on line ${twin.line}): remove one or give it another index`, "key");
  keyWarnings(st, line, index, m, key, words);
  st.keys.set(index, { index, method: m, key, line });
}

function keyWarnings(st: State, line: number, index: number, m: AuthMethod, key: string, words: string[]): void {
  const advice = keyword_table[m].advice;
  if (advice) st.diags.warning(line, `key ${index}: ${advice}`, "key");
  if (words.length > 3) {
    st.diags.warning(line, `key ${index}: only the first word (${quote(key)}) is the key; Heartbeat dropped the rest and so does tandem: write the key without spaces`, "key");
  }
  if (keyword_table[m].needs_key && key.length < key_len_min) {
    st.diags.warning(line, `key ${index} is ${key.length} characters: use at least ${key_len_min} random ones, e.g. from \`openssl rand -hex 32\``, "key");
  }
}

function completeAuth(st: State): AuthKey | null {
  if (!st.auth) {
    st.diags.error(0, "no `auth N` line: add `auth 1` (the index of the key that signs outgoing packets) above the keys", "auth");
    return null;
  }
  const active = st.keys.get(st.auth.index);
  if (!active) {
    const have = [...st.keys.keys()];
    const fix = have.length > 0 ? `add \`${st.auth.index} sha256 SECRET\` or change it to \`auth ${have[0]}\`` : `add \`${st.auth.index} sha256 SECRET\``;
    st.diags.error(st.auth.line, `auth ${st.auth.index} names a key that is not defined: ${fix}`, "auth");
    return null;
  }
  return active;
}

/** Heartbeat refused authkeys readable by group or others; tandem refuses any group/other bit. */
export function authKeysModeProblem(mode: number, path: string): string | null {
  const extra = mode & 0o077;
  if (extra === 0) return null;
  const what = mode & 0o044 ? "readable" : mode & 0o022 ? "writable" : "accessible";
  return `mode ${(mode & 0o777).toString(8).padStart(3, "0")} makes the keys ${what} by group or others: run \`chmod 600 ${path}\``;
}
