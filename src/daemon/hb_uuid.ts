// This node's uuid for `wire heartbeat`: 16 random bytes kept in the state
// directory (Heartbeat keeps its own in /var/lib/heartbeat/hb_uuid), so a
// restart keeps the identity Heartbeat peers cached for our node name.
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { uuid_len } from "../wire/heartbeat.ts";
import { StateDirError } from "./generation.ts";

export function loadOrCreateUuid(state_dir: string): Uint8Array {
  const file = join(state_dir, "hb_uuid");
  try {
    const b = readFileSync(file);
    if (b.length === uuid_len && b.some((x) => x !== 0)) return new Uint8Array(b);
  } catch {
    // first start with `wire heartbeat`: create it
  }
  const uuid = new Uint8Array(randomBytes(uuid_len));
  const tmp = `${file}.tmp`;
  try {
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, uuid);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    throw new StateDirError(`cannot persist the Heartbeat uuid in ${file}: ${(e as Error).message}`, { cause: e });
  }
  return uuid;
}
