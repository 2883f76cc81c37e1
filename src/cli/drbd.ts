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
// UpToDate); gone by a graceful stop (its goodbye: it stopped its groups,
// so r0 is Secondary there, and nobody fences it) -> 5 as well, unless a
// fence of it is under way (a failed stop escalated) -> wait for it. While the peer is alive to tandem (only DRBD's path broke), the
// daemon asks the peer's daemon over tandem's own authenticated links to
// outdate its disk (Heartbeat's dopd; src/core/outdate.ts), repeated every
// keepalive until it answers:
//   outdated now, or already Outdated            -> 4
//   the peer is Primary                          -> 6 (DRBD outdates us)
//   the peer's disk is Inconsistent or Diskless  -> 3
//   no DRBD module or no such resource there     -> 1 at once: nothing
//       vouches for the peer's data (DRBD keeps I/O frozen with
//       resource-and-stonith)
//   DRBD there still connected, or busy          -> asked again
// If the peer dies meanwhile, its verdict decides (7 / 5). Nothing decided
// within --timeout (default 60 s): exit 1, with the last answer.
import { parseArgs } from "node:util";
import { defaults } from "../daemon/daemon.ts";
import { request } from "./client.ts";
import type { Out } from "./status.ts";
import { exitForAnswer, FencePeerExit, type OutdateResultName } from "../core/outdate.ts";
import type { OutdateReport } from "../daemon/drbd_control.ts";

export const exit_peer_inconsistent = FencePeerExit.inconsistent;
export const exit_peer_outdated = FencePeerExit.outdated;
export const exit_peer_unreachable = FencePeerExit.unreachable;
export const exit_peer_primary = FencePeerExit.peer_primary;
export const exit_peer_fenced = FencePeerExit.fenced;
export const exit_failed = FencePeerExit.failed;

/** What the daemon says about the peer (control command drbd-fence-peer). */
export interface PeerReport {
  peer: string;
  /** membership: self, init, up, dead */
  state: string;
  /** a fence device is configured for the peer */
  fencing: boolean;
  /** the fencing phase for the peer ("done": fenced since it died) */
  fence_phase: string | null;
  /** dead because it said goodbye (absent from older daemons) */
  left?: boolean;
  /** the outdate request to the live peer (absent from older daemons; null while the peer is not up) */
  outdate?: OutdateReport | null;
  /** why the daemon cannot ask the peer (`wire heartbeat`) */
  outdate_unavailable?: string | null;
}

/** The exit code for one report; null: not decided yet (keep asking until the timeout). */
export function fencePeerVerdict(r: PeerReport): { code: number; why: string } | null {
  if (r.state === "dead") {
    if (!r.fencing) return { code: exit_peer_unreachable, why: `${r.peer} is dead to tandem (deadtime passed; no fence device configured)` };
    // A graceful leave comes after the peer's groups stopped (r0 demoted there):
    // no fence is due, so waiting for one would freeze our I/O until --timeout.
    // A fence under way (a failed stop escalated) still decides.
    if (r.left && (r.fence_phase === null || r.fence_phase === "idle")) {
      return { code: exit_peer_unreachable, why: `${r.peer} left the cluster gracefully (stopped its groups first; no fence due)` };
    }
    if (r.fence_phase === "done") return { code: exit_peer_fenced, why: `${r.peer} is dead and was fenced` };
    return null; // fencing in progress
  }
  const a = r.state === "up" ? r.outdate?.answer : null;
  if (a?.final) {
    const code = exitForAnswer(a.result as OutdateResultName);
    const said = `${r.peer} is alive and answered ${a.result}${a.detail ? ` (${a.detail})` : ""}`;
    const meaning: Record<number, string> = {
      [exit_peer_outdated]: "its disk is Outdated",
      [exit_peer_primary]: "it is Primary: DRBD outdates this node",
      [exit_peer_inconsistent]: "its disk is not UpToDate",
      [exit_failed]: "it could not outdate its disk, so nothing vouches for its data",
    };
    return { code, why: `${said}: ${meaning[code] ?? ""}` };
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
    const timed_out = !v && performance.now() >= deadline;
    if (v || timed_out) {
      let code: number;
      let why: string;
      if (v) ({ code, why } = v);
      else {
        const o = reply.outdate;
        const asked = o ? (o.answer ? `; asked to outdate ${o.sends} times, last answer ${o.answer.result}${o.answer.detail ? ` (${o.answer.detail})` : ""}` : `; asked to outdate ${o.sends} times, no answer`) : reply.outdate_unavailable ? `; cannot ask it to outdate: ${reply.outdate_unavailable}` : "";
        code = exit_failed;
        why = `${reply.peer} is ${reply.state}${reply.fencing ? `, fence phase ${reply.fence_phase}` : ""} after ${timeout_s} s${asked}`;
      }
      if (code === exit_failed) why += `; DRBD assumes nothing about the peer's data: with fencing resource-and-stonith, I/O on ${resource} here stays frozen until the connection to ${reply.peer} is back, or until \`drbdadm resume-io ${resource}\` once ${reply.peer} is off or Secondary with an Outdated disk (never while it is Primary: that is a split brain)`;
      const line = `${resource}: ${why}: exit ${code}\n`;
      if (code === exit_failed) out.stderr(line);
      else out.stdout(line);
      // DRBD starts the handler without a terminal: the daemon's log is where an admin finds this
      await request(path, { cmd: `drbd-${kind}`, resource, peer, repeat: true, exit: code, why }).catch(() => null);
      return code;
    }
    await Bun.sleep(250);
  }
  return exit_failed;
}
