// The daemon's side of the DRBD outdate channel (src/core/outdate.ts holds
// the decisions): it sends the core's frames on every link, feeds it the
// frames that arrive, and does the peer's kernel work: read the resource
// over DRBD's generic netlink, then DRBD_ADM_OUTDATE the minors outdatePlan
// names. Every netlink request runs on the addon's worker thread
// (DrbdNetlink.transact -> genlTransact), so the loop never blocks; this
// client has its own in-flight slots, so it never takes the ones a
// promotion or a monitor needs.
import type { DrbdNetlink } from "../agents/drbd_netlink.ts";
import {
  acceptFrame,
  ask,
  initialOutdateState,
  isFinal,
  onReply,
  onRequest,
  type OutdateAction,
  outdateDeadline,
  outdateDone,
  outdateOutcome,
  outdatePlan,
  type OutdateRequest,
  type OutdateResultName,
  type OutdateState,
  outdateTick,
} from "../core/outdate.ts";
import type { Frame } from "../wire/types.ts";

/** The kernel calls the peer's side makes (tests give a fake kernel; the daemon DRBD's netlink). */
export type OutdateKernel = Pick<DrbdNetlink, "resourceStatus" | "outdate">;

/** One netlink request's own bound (the kernel may hold genl_lock while drbdsetup attaches). */
export const kernel_timeout_ms = 5_000;

/** What `tandem status` shows (drbd.outdates): the newest exchange per resource, direction and peer. */
export interface OutdateRecord {
  resource: string;
  peer: string;
  /** asked: this node asked the peer (its fence-peer handler); served: the peer asked this node */
  direction: "asked" | "served";
  id: number;
  /** the latest request sent or received (ISO) */
  at: string;
  /** request frames sent (asked) or handled (served) for this id */
  count: number;
  result: OutdateResultName | null;
  detail: string | null;
  answered_at: string | null;
}

const records_max = 64;

export interface DrbdOutdaterOptions {
  self: string;
  keepalive_ms: number;
  /** encode as `kind` with this seq and send on every link */
  send: (kind: "drbd_outdate_request" | "drbd_outdate_reply", seq: number, body: Uint8Array) => void;
  /** membership's view of a node: replay and generation rules (acceptFrame) */
  member: (node: string) => { state: string; generation: number } | undefined;
  log: (event: string, fields: Record<string, string | number | boolean | null>) => void;
  /** its deadline moved: the daemon re-arms its timer */
  changed: () => void;
  kernel?: () => Promise<OutdateKernel>;
  now_ms?: () => number;
}

export class DrbdOutdater {
  private s: OutdateState;
  private records = new Map<string, OutdateRecord>();
  private kernel_p: Promise<OutdateKernel> | null = null;
  private now_ms: () => number;

  constructor(private o: DrbdOutdaterOptions) {
    this.now_ms = o.now_ms ?? (() => performance.now());
    // ids start at a random point: a restarted daemon's ids do not meet its old ones
    this.s = initialOutdateState({ self: o.self, keepalive_ms: o.keepalive_ms, first_id: (Math.random() * 0xffff_ffff) >>> 0 });
  }

  /** The fence-peer handler's poll (DrbdControl): start or continue the request for `resource`. */
  ask(resource: string, peer: string, fresh: boolean): OutdateRequest {
    const r = ask(this.s, { resource, peer, fresh }, this.now_ms());
    const view = { ...r, answer: r.answer ? { ...r.answer } : null };
    this.tick(); // the first request goes out now, not at the next keepalive
    return view;
  }

  tick(): void {
    this.run(outdateTick(this.s, this.now_ms()));
    this.o.changed();
  }

  nextDeadline(): number {
    return outdateDeadline(this.s);
  }

  /** A drbd_outdate_request or _reply, authenticated by the codec. */
  onFrame(f: Frame): void {
    const why = acceptFrame(this.s, f, this.o.member(f.node));
    if (why !== null) {
      // copies on the other links are the common case: not worth a line each
      if (why !== "replay") this.o.log("drbd_outdate_dropped", { from: f.node, kind: f.kind, reason: why });
      return;
    }
    const now = this.now_ms();
    this.run(f.kind === "drbd_outdate_request" ? onRequest(this.s, f.node, f.body) : onReply(this.s, f.node, f.body, now));
  }

  status(): OutdateRecord[] {
    return [...this.records.values()];
  }

  private run(actions: OutdateAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case "send":
          this.o.send(a.kind, a.seq, a.body);
          if (a.kind === "drbd_outdate_request") {
            const r = this.note(a.resource, a.to, "asked", a.id);
            r.count = a.nth;
            if (a.nth === 1) this.o.log("drbd_outdate_request", { resource: a.resource, peer: a.to, id: a.id });
          } else {
            this.o.log("drbd_outdate_reply", { resource: a.resource, peer: a.to, id: a.id, result: a.result });
          }
          break;
        case "answer": {
          const r = this.note(a.resource, a.peer, "asked", a.id, false);
          r.result = a.result;
          r.detail = a.detail;
          r.answered_at = new Date().toISOString();
          this.o.log("drbd_outdate_answer", { resource: a.resource, peer: a.peer, id: a.id, result: a.result, final: a.final, detail: a.detail });
          break;
        }
        case "abandoned":
          this.o.log("drbd_outdate_abandoned", { resource: a.resource, peer: a.peer, id: a.id, sends: a.sends });
          break;
        case "ignored":
          this.o.log("drbd_outdate_ignored", { from: a.from, reason: a.reason });
          break;
        case "outdate": {
          const r = this.note(a.resource, a.from, "served", a.id);
          r.result = null;
          this.o.log("drbd_outdate_asked", { resource: a.resource, peer: a.from, id: a.id });
          void this.outdateHere(a.resource).then(({ answer, detail }) => {
            const done = this.note(a.resource, a.from, "served", a.id, false);
            done.result = answer;
            done.detail = detail;
            done.answered_at = new Date().toISOString();
            this.o.log("drbd_outdate_done", { resource: a.resource, peer: a.from, result: answer, final: isFinal(answer), detail });
            this.run(outdateDone(this.s, a.resource, answer, detail));
          });
          break;
        }
      }
    }
  }

  /** The peer's side on the kernel: read, decide (outdatePlan), outdate, sum up (outdateOutcome). Never rejects. */
  private async outdateHere(resource: string): Promise<{ answer: OutdateResultName; detail: string }> {
    try {
      const k = await this.kernel();
      const vols = await k.resourceStatus(resource, kernel_timeout_ms);
      const plan = outdatePlan(vols);
      if ("answer" in plan) return plan;
      const calls: { minor: number; code: number; text: string }[] = [];
      const { retCodeText } = await import("../agents/drbd_netlink.ts");
      for (const minor of plan.outdate) {
        const r = await k.outdate(minor, kernel_timeout_ms);
        calls.push({ minor, code: r.code, text: r.text ? `${retCodeText(r.code)} (${r.text})` : retCodeText(r.code) });
      }
      return outdateOutcome(calls);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const msg = (e as Error).message ?? String(e);
      if (code === "ENOENT") return { answer: "no_drbd", detail: msg };
      if (code === "ENODEV") return { answer: "unknown_resource", detail: msg };
      if (code === "EBUSY" || code === "ETIMEDOUT") return { answer: "busy", detail: msg };
      return { answer: "error", detail: msg };
    }
  }

  private kernel(): Promise<OutdateKernel> {
    if (this.o.kernel) return (this.kernel_p ??= this.o.kernel());
    this.kernel_p ??= import("../agents/drbd_netlink.ts").then(({ DrbdNetlink }) => new DrbdNetlink());
    return this.kernel_p;
  }

  private note(resource: string, peer: string, direction: OutdateRecord["direction"], id: number, touch = true): OutdateRecord {
    const key = `${resource} ${direction} ${peer}`;
    let r = this.records.get(key);
    const now = new Date().toISOString();
    if (!r || r.id !== id) {
      if (!r && this.records.size >= records_max) this.records.delete(this.records.keys().next().value!);
      r = { resource, peer, direction, id, at: now, count: 0, result: null, detail: null, answered_at: null };
      this.records.set(key, r);
    }
    if (touch) {
      r.at = now;
      if (direction === "served") r.count++;
    }
    return r;
  }
}
