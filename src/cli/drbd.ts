// DRBD's handlers, answered by the local daemon:
//
//   handlers {
//     fence-peer  "/usr/sbin/tandem drbd-fence-peer";
//     split-brain "/usr/sbin/tandem drbd-split-brain";
//   }
//
// fence-peer is what Pacemaker's crm-fence-peer.sh is to a Pacemaker
// cluster: DRBD runs it (through drbdadm, with DRBD_RESOURCE and DRBD_PEER
// set) when a Primary loses its peer, or when a Secondary without an
// UpToDate peer is promoted, and acts on its exit code (the kernel's
// conn_try_outdate_peer in drbd_nl.c):
//   3  peer is inconsistent          4  peer is outdated (fenced by resource)
//   5  peer is down / unreachable    6  peer is primary: outdate myself
//   7  peer was fenced (STONITH)     anything else: "helper broken", DRBD
//                                    keeps I/O frozen (resource-and-stonith)
// tandem answers from its membership and fencing: the peer declared dead and
// fenced by a fence device -> 7; declared dead with no fence device
// configured -> 5 (DRBD then marks it Outdated only if our disk is
// UpToDate). While the peer is still alive to tandem it waits, up to
// --timeout, for the deadtime verdict and the fence; a peer that stays
// alive cannot be outdated from here (tandem has no outdate channel to the
// peer, as Heartbeat's dopd had), so that is exit 1 and DRBD does not
// assume anything about the peer's data.
import { parseArgs } from "node:util";
import { defaults } from "../daemon/daemon.ts";
import { request } from "./client.ts";
import type { Out } from "./status.ts";

export const exit_peer_outdated = 4;
export const exit_peer_unreachable = 5;
export const exit_peer_fenced = 7;
export const exit_failed = 1;

/** What the daemon says about the peer (control command drbd-fence-peer). */
export interface PeerReport {
  peer: string;
  /** membership: self, init, up, dead */
  state: string;
  /** a fence device is configured for the peer */
  fencing: boolean;
  /** the fencing phase for the peer ("done": fenced since it died) */
  fence_phase: string | null;
}

/** The exit code for one report; null: not decided yet (keep asking until the timeout). */
export function fencePeerVerdict(r: PeerReport): { code: number; why: string } | null {
  if (r.state === "dead") {
    if (!r.fencing) return { code: exit_peer_unreachable, why: `${r.peer} is dead to tandem (deadtime passed; no fence device configured)` };
    if (r.fence_phase === "done") return { code: exit_peer_fenced, why: `${r.peer} is dead and was fenced` };
    return null; // fencing in progress
  }
  return null;
}

export async function runDrbdHandler(kind: "fence-peer" | "split-brain", argv: string[], out: Out, env = process.env): Promise<number> {
  const usage = `usage: tandem drbd-${kind} [RESOURCE] [--peer NODE] [--socket PATH]${kind === "fence-peer" ? " [--timeout SECONDS]" : ""}  (DRBD sets DRBD_RESOURCE and DRBD_PEER)`;
  let parsed: { values: { socket?: string; peer?: string; timeout?: string }; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { socket: { type: "string" }, peer: { type: "string" }, timeout: { type: "string" } }, strict: true, allowPositionals: true });
  } catch (e) {
    out.stderr(`tandem drbd-${kind}: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  const resource = parsed.positionals[0] ?? env.DRBD_RESOURCE ?? "";
  const peer = parsed.values.peer ?? env.DRBD_PEER ?? env.DRBD_PEERS?.split(/\s+/)[0] ?? "";
  if (resource === "" || parsed.positionals.length > 1) {
    out.stderr(`tandem drbd-${kind}: no resource (DRBD_RESOURCE unset and none given)\n${usage}\n`);
    return 2;
  }
  const timeout_s = Number(parsed.values.timeout ?? "60");
  if (!Number.isFinite(timeout_s) || timeout_s < 0 || timeout_s > 3600) {
    out.stderr(`tandem drbd-${kind}: --timeout must be 0..3600 seconds\n${usage}\n`);
    return 2;
  }
  const path = parsed.values.socket ?? defaults.socket;
  const deadline = performance.now() + timeout_s * 1000;
  // bounded: one request a quarter second until the deadline
  for (let i = 0; i < 4 * 3600 + 1; i++) {
    let reply: { ok?: boolean; error?: string } & Partial<PeerReport>;
    try {
      // repeat: the daemon counts one handler run once in `tandem status`
      reply = await request(path, { cmd: `drbd-${kind}`, resource, peer, ...(i > 0 ? { repeat: true } : {}) });
    } catch (e) {
      out.stderr(`tandem drbd-${kind}: ${(e as Error).message}\n`);
      return exit_failed;
    }
    if (!reply?.ok) {
      out.stderr(`tandem drbd-${kind}: ${reply?.error ?? "refused"}\n`);
      return exit_failed;
    }
    if (kind === "split-brain") {
      out.stdout(`split brain on ${resource} reported to tandem\n`);
      return 0;
    }
    const v = fencePeerVerdict(reply as PeerReport);
    if (v) {
      out.stdout(`${resource}: ${v.why}: exit ${v.code}\n`);
      return v.code;
    }
    if (performance.now() >= deadline) {
      out.stderr(`${resource}: ${reply.peer} is ${reply.state}${reply.fencing ? `, fence phase ${reply.fence_phase}` : ""} after ${timeout_s} s: tandem cannot outdate a live peer; DRBD decides by its fencing policy\n`);
      return exit_failed;
    }
    await Bun.sleep(250);
  }
  return exit_failed;
}
