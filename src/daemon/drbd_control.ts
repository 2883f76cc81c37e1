// Control commands for DRBD's handlers (src/cli/drbd.ts):
//   drbd-fence-peer  {resource, peer} -> what membership and fencing say about the peer
//   drbd-split-brain {resource, peer} -> recorded, logged, shown in `tandem status`
// The answers are facts; the exit code DRBD gets is decided in the CLI
// (fencePeerVerdict), so a DRBD handler never blocks the daemon.

export interface DrbdControlContext {
  self: string;
  /** membership view: name and state (self, init, up, dead) */
  nodes: () => { name: string; state: string }[];
  /** fencing view: one entry per peer a fence device is configured for */
  fencing: () => { node: string; phase: string }[];
  log: (event: string, fields: Record<string, string | number | boolean | null>) => void;
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

  /** `repeat`: the same handler run asking again (drbd-fence-peer polls until decided): answered, not counted. */
  handle(cmd: string, req: { resource?: unknown; peer?: unknown; repeat?: unknown }): object {
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
      const state = this.ctx.nodes().find((n) => n.name === peer)?.state ?? "unknown";
      const f = this.ctx.fencing().find((x) => x.node === peer);
      if (req.repeat !== true) this.note(resource, peer, "fence-peer");
      this.ctx.log("drbd_fence_peer", { resource, peer, peer_state: state, fencing: Boolean(f), fence_phase: f?.phase ?? null });
      return { ok: true, peer, state, fencing: Boolean(f), fence_phase: f?.phase ?? null };
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
