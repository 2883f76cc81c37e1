// The daemon's side of `tandem config push`: listen on TCP at ha.cf's
// udpport, on the addresses of this node's heartbeat interfaces only (the
// cluster's own network, never every address). Failing to listen is logged,
// not fatal: config push is a convenience, heartbeats are not.
import { networkInterfaces } from "node:os";
import type { HaConfig, LinkSpec } from "../config/types.ts";
import { startSyncServer } from "./config_sync.ts";

export interface SyncHookOptions {
  dir: string;
  node: string;
  init_dir?: string;
}

export function heartbeatAddresses(specs: LinkSpec[]): string[] {
  const ifaces = new Set(specs.flatMap((l) => (l.kind === "serial" ? [] : [l.iface])));
  const nics = networkInterfaces();
  const out: string[] = [];
  for (const name of ifaces) {
    for (const a of nics[name] ?? []) {
      // link-local IPv6 needs a scope id to bind: the heartbeat interface's IPv4 or global IPv6 serve
      if (a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80:")) continue;
      if (!out.includes(a.address)) out.push(a.address);
    }
  }
  return out;
}

export async function startConfigSync(
  opts: SyncHookOptions,
  hacf: HaConfig,
  specs: LinkSpec[],
  log: (event: string, fields: Record<string, unknown>) => void,
): Promise<{ close(): void } | null> {
  const addresses = heartbeatAddresses(specs);
  if (addresses.length === 0) {
    log("config_sync_off", { reason: "no address on the heartbeat interfaces" });
    return null;
  }
  try {
    const s = await startSyncServer({ dir: opts.dir, node: opts.node, addresses, port: hacf.udpport, init_dir: opts.init_dir, log });
    log("config_sync_listening", { addresses: addresses.join(","), port: hacf.udpport });
    return s;
  } catch (e) {
    log("config_sync_off", { reason: (e as Error).message });
    return null;
  }
}
