// Control commands for DRBD's handlers (src/cli/drbd.ts):
//   drbd-fence-peer  {resource, peer} -> what membership and fencing say about the peer;
//                    while the peer is up, also the outdate request made to it
//                    (src/daemon/drbd_outdate.ts) and its answer so far
//   drbd-split-brain {resource, peer} -> recorded, logged, shown in `tandem status`
// The answers are facts; the exit code DRBD gets is decided in the CLI
// (fencePeerVerdict), so a DRBD handler never blocks the daemon.
import { isFinal, type OutdateRequest } from "../core/outdate.ts";

export interface DrbdControlContext {
  self: string;
  /** membership view: name and state (self, init, up, dead) */
  nodes: () => { name: string; state: string }[];
  /** fencing view: one entry per peer a fence device is configured for */
  fencing: () => { node: string; phase: string }[];
  /** the peer is dead because it said goodbye (a graceful stop), not by deadtime */
  left?: (node: string) => boolean;
  log: (event: string, fields: Record<string, string | number | boolean | null>) => void;
  /**
   * Ask the live peer to outdate its disk of `resource` (fresh: a new handler
   * run, a new request id); a string says why this daemon cannot (`wire heartbeat`).
   */
  outdate?: (resource: string, peer: string, fresh: boolean) => OutdateRequest | string;
}

/** The outdate part of a drbd-fence-peer reply (src/cli/drbd.ts reads it). */
export interface OutdateReport {
  id: number;
  /** request frames sent so far */
  sends: number;
  /** the newest answer: result (src/core/outdate.ts OutdateResult names), DRBD's detail, final or asked again */
  answer: { result: string; detail: string; final: boolean } | null;
}

export interface DrbdEventRecord {
  resource: string;
  peer: string;
  event: "split-brain" | "fence-peer";
  at: string;
  count: number;
}

/** Kept per resource and event; bounded so a flapping link cannot grow it. */
const records_max = 64;

export class DrbdControl {
  private records = new Map<string, DrbdEventRecord>();

  constructor(private ctx: DrbdControlContext) {}

  /** per resource, the fence-peer answer last logged: a poll that learns nothing new is not logged again */
  private logged = new Map<string, string>();

  /**
   * `repeat`: the same handler run asking again (drbd-fence-peer polls until decided): answered, not counted.
   * `exit` + `why`: the handler's verdict, logged here because DRBD runs it without a terminal.
   */
  handle(cmd: string, req: { resource?: unknown; peer?: unknown; repeat?: unknown; exit?: unknown; why?: unknown }): object {
    const resource = typeof req.resource === "string" ? req.resource : "";
    if (!/^[A-Za-z0-9_.+-]{1,127}$/.test(resource)) return { ok: false, error: `${cmd} needs a DRBD resource name (DRBD_RESOURCE)` };
    const peer = this.peerName(typeof req.peer === "string" ? req.peer : "");
    if (peer === null) return { ok: false, error: `cannot tell which node is the DRBD peer of ${resource}: give --peer NODE (a node of ha.cf)` };
    if (cmd === "drbd-split-brain") {
      this.note(resource, peer, "split-brain");
      this.ctx.log("drbd_split_brain", { resource, peer, action: "DRBD dropped the connection (StandAlone); resolve as drbd.conf's after-sb-* policies and the DRBD guide say" });
      return { ok: true, peer };
    }
    if (cmd === "drbd-fence-peer") {
      if (typeof req.exit === "number" && Number.isInteger(req.exit) && req.exit >= 0 && req.exit <= 255) {
        const why = typeof req.why === "string" ? req.why.slice(0, 500) : "";
        this.logged.delete(resource);
        this.ctx.log("drbd_fence_peer_exit", { resource, peer, exit: req.exit, why });
        return { ok: true, peer };
      }
      const state = this.ctx.nodes().find((n) => n.name === peer)?.state ?? "unknown";
      const f = this.ctx.fencing().find((x) => x.node === peer);
      const left = state === "dead" && (this.ctx.left?.(peer) ?? false);
      if (req.repeat !== true) this.note(resource, peer, "fence-peer");
      // a live peer can outdate its own disk (tandem's dopd); a dead one is for membership and fencing
      let outdate: OutdateReport | null = null;
      let outdate_unavailable: string | null = null;
      if (state === "up") {
        const r = this.ctx.outdate?.(resource, peer, req.repeat !== true) ?? "this daemon has no outdate channel";
        if (typeof r === "string") outdate_unavailable = r;
        else outdate = { id: r.id, sends: r.sends, answer: r.answer ? { result: r.answer.result, detail: r.answer.detail, final: isFinal(r.answer.result) } : null };
      }
      // the handler polls 4 times a second for up to minutes: log a run's first poll and every change, not each poll
      const fields = { resource, peer, peer_state: state, left, fencing: Boolean(f), fence_phase: f?.phase ?? null, outdate: outdate?.answer?.result ?? null };
      const key = JSON.stringify(fields);
      if (req.repeat !== true || this.logged.get(resource) !== key) {
        if (!this.logged.has(resource) && this.logged.size >= records_max) this.logged.delete(this.logged.keys().next().value!);
        this.logged.set(resource, key);
        this.ctx.log("drbd_fence_peer", fields);
      }
      return { ok: true, peer, state, left, fencing: Boolean(f), fence_phase: f?.phase ?? null, outdate, outdate_unavailable };
    }
    return { ok: false, error: `unknown command ${JSON.stringify(cmd)}; known: drbd-fence-peer, drbd-split-brain` };
  }

  /** For `tandem status`: the handler calls seen since start. */
  status(): DrbdEventRecord[] {
    return [...this.records.values()];
  }

  /** The named node if ha.cf has it; else the only other node (DRBD's host names may differ from ha.cf's). */
  private peerName(given: string): string | null {
    const nodes = this.ctx.nodes();
    if (given !== "" && given !== this.ctx.self && nodes.some((n) => n.name === given)) return given;
    const others = nodes.filter((n) => n.name !== this.ctx.self);
    return others.length === 1 ? others[0]!.name : null;
  }

  private note(resource: string, peer: string, event: DrbdEventRecord["event"]): void {
    const key = `${resource} ${event}`;
    const r = this.records.get(key);
    if (r) {
      r.count++;
      r.at = new Date().toISOString();
      r.peer = peer;
      return;
    }
    if (this.records.size >= records_max) this.records.delete(this.records.keys().next().value!);
    this.records.set(key, { resource, peer, event, at: new Date().toISOString(), count: 1 });
  }
}
