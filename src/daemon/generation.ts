// Per-boot generation, persisted in the state directory before the first
// packet is sent. Peers drop packets of an older generation, so a restarted
// node must never reuse one: the new value is max(stored + 1, unix seconds),
// which also survives a lost or reset state file.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";

export class StateDirError extends Error {
  override name = "StateDirError";
}

export function nextGeneration(state_dir: string, now_unix_s = Math.floor(Date.now() / 1000)): number {
  try {
    mkdirSync(state_dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StateDirError(`cannot create state directory ${state_dir}: ${(e as Error).message}`, { cause: e });
  }
  const file = join(state_dir, "generation");
  let stored = 0;
  try {
    const text = readFileSync(file, "utf8").trim();
    if (/^\d{1,15}$/.test(text)) stored = Number(text);
  } catch {
    // first boot, or unreadable: the clock-based floor still gives a fresh value
  }
  const generation = Math.max(stored + 1, now_unix_s);
  const tmp = `${file}.tmp`;
  try {
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${generation}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dir_fd = openSync(state_dir, "r");
    try {
      fsyncSync(dir_fd);
    } finally {
      closeSync(dir_fd);
    }
  } catch (e) {
    // Running on a generation that is not on disk could repeat it at the next
    // start (peers would take the new boot's packets for the old one's), so
    // the daemon refuses to start; the message says how to get going again.
    throw new StateDirError(
      `cannot persist generation in ${file}: ${(e as Error).message}; not starting with a generation that could repeat (free space in ${state_dir}, or give --state-dir on another file system)`,
      { cause: e },
    );
  }
  return generation;
}
