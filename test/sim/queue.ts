// The simulators' event queue: ordered by (virtual time, rank, insertion
// order), so that equal-time events replay in one order and deliveries
// (rank 0) run before wake-ups: I/O is drained first, as the daemon does.
// Bounded: a runaway schedule is a simulator bug, not a hang.
//
// Timers: a node's wake-up is re-armed after every step. Pushing a fresh
// entry each time left the superseded ones in the heap until they popped as
// no-ops (three quarters of all pops in a long run); a Timer is one entry
// per node that `arm` moves instead. Arming gives it the next insertion
// number, exactly what a fresh push would get, so the order of every live
// entry (and so the schedule) is what it was with pushes.
//
// Layout, for speed only (the order is the same total order, and every key
// is unique, so any correct priority queue pops the same sequence): pushed
// events sit in a binary heap of parallel arrays (time, and rank and order
// folded into one exact number), with no entry object per push, each with
// a small integer beside it (aux: a delivery's receiver and link, so one
// event object serves every copy); the few timers (one per node) sit
// outside it; so do events queued up front in key order (pushSorted: the
// faults a schedule draws at its start), in a FIFO, so the heap holds only
// what is near (far-off faults in it made every push and pop sift through
// more levels). pop takes the earliest of the heap's top, the earliest
// armed timer and the FIFO's head.

export interface Timer<E> {
  at: number;
  order: number;
  rank: number;
  ev: E;
  /** queued (armed and not yet popped) */
  armed: boolean;
  /** rank * 2^52 + order, as in the heap */
  ro: number;
}

/** What pop() returns: one record, overwritten by the next pop. */
export interface Popped<E> {
  at: number;
  ev: E;
  /** the small integer pushed with ev (0 for timers) */
  aux: number;
}

// rank * 2^52 + order is exact (order < 2^52) and orders as (rank, order)
const rank_unit = 2 ** 52;

export class EventQueue<E> {
  private at: Float64Array = new Float64Array(256);
  private ro: Float64Array = new Float64Array(256);
  private evs: E[] = [];
  /** a small integer beside each event (a delivery's receiver and link), so events can be shared */
  private aux: Int32Array = new Int32Array(256);
  private n = 0;
  /** the FIFO of pushSorted entries, consumed from s_head */
  private s_at: number[] = [];
  private s_ro: number[] = [];
  private s_ev: E[] = [];
  private s_head = 0;
  private timers: Timer<E>[] = [];
  private armed = 0;
  /** the earliest armed timer; undefined when not known */
  private first: Timer<E> | null | undefined = null;
  private order = 0;
  private readonly popped: Popped<E> = { at: 0, ev: undefined as E, aux: 0 };
  constructor(
    private readonly rankOf: (ev: E) => number,
    private readonly size_max = Number.POSITIVE_INFINITY,
  ) {}

  get size(): number {
    return this.n + this.armed + this.s_at.length - this.s_head;
  }

  /** Queue ev at `at`; `rank` is rankOf(ev), given by hot callers that know it; `aux` comes back with it. */
  push(at: number, ev: E, rank: number = this.rankOf(ev), aux = 0): void {
    if (this.size >= this.size_max) throw new Error(`event queue exceeds ${this.size_max}`);
    const ro = rank * rank_unit + this.order++;
    if (this.n === this.at.length) this.grow();
    // sift up with a hole: parents move down, the entry is written once
    const A = this.at;
    const R = this.ro;
    const V = this.evs;
    const X = this.aux;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pa = A[p]!;
      if (pa < at || (pa === at && R[p]! < ro)) break;
      A[i] = pa;
      R[i] = R[p]!;
      V[i] = V[p]!;
      X[i] = X[p]!;
      i = p;
    }
    A[i] = at;
    R[i] = ro;
    V[i] = ev;
    X[i] = aux;
  }

  /**
   * Queue ev at `at` like push, into the FIFO: for a run of events queued in
   * key order (each at or after the previous one), nothing consumed between.
   */
  pushSorted(at: number, ev: E, rank: number = this.rankOf(ev)): void {
    if (this.size >= this.size_max) throw new Error(`event queue exceeds ${this.size_max}`);
    const ro = rank * rank_unit + this.order++;
    const k = this.s_at.length - 1;
    if (k >= this.s_head && (this.s_at[k]! > at || (this.s_at[k] === at && this.s_ro[k]! > ro))) {
      throw new Error("pushSorted: not in key order");
    }
    this.s_at.push(at);
    this.s_ro.push(ro);
    this.s_ev.push(ev);
  }

  /** A timer entry, not queued until armed. */
  timer(ev: E): Timer<E> {
    const t: Timer<E> = { at: 0, order: 0, rank: this.rankOf(ev), ev, armed: false, ro: 0 };
    this.timers.push(t);
    return t;
  }

  /** The insertion number the next push would get (consumed). */
  reserve(): number {
    return this.order++;
  }

  /** Queue t at `at` with insertion number `order` (from reserve()), moving it if queued. */
  arm(t: Timer<E>, at: number, order: number): void {
    if (!t.armed) {
      if (this.size >= this.size_max) throw new Error(`event queue exceeds ${this.size_max}`);
      t.armed = true;
      this.armed++;
    }
    t.at = at;
    t.order = order;
    t.ro = t.rank * rank_unit + order;
    // keep the earliest timer known where that is cheap
    const f = this.first;
    if (f === t) this.first = undefined; // moved: another may be first now
    else if (f === null || (f !== undefined && (at < f.at || (at === f.at && t.ro < f.ro)))) this.first = t;
  }

  /** The time of the entry pop() would return next; Infinity when empty. */
  peekAt(): number {
    const t = this.firstTimer();
    let a = this.n > 0 ? this.at[0]! : Number.POSITIVE_INFINITY;
    if (t !== null && t.at < a) a = t.at;
    const h = this.s_head;
    if (h < this.s_at.length && this.s_at[h]! < a) a = this.s_at[h]!;
    return a;
  }

  /** The earliest entry, removed; null when empty. The record is reused by the next pop. */
  pop(): Popped<E> | null {
    const t = this.firstTimer();
    const h = this.s_head;
    const sorted = h < this.s_at.length;
    if (this.n === 0 && t === null && !sorted) return null;
    const out = this.popped;
    // the FIFO's head, if it comes before the heap's top and the first timer
    if (sorted) {
      const sa = this.s_at[h]!;
      const sr = this.s_ro[h]!;
      const before_heap = this.n === 0 || sa < this.at[0]! || (sa === this.at[0]! && sr < this.ro[0]!);
      const before_timer = t === null || sa < t.at || (sa === t.at && sr < t.ro);
      if (before_heap && before_timer) {
        out.at = sa;
        out.ev = this.s_ev[h]!;
        out.aux = 0;
        this.s_ev[h] = undefined as E; // let the event go
        this.s_head = h + 1;
        return out;
      }
    }
    if (t !== null && (this.n === 0 || t.at < this.at[0]! || (t.at === this.at[0]! && t.ro < this.ro[0]!))) {
      t.armed = false;
      this.armed--;
      this.first = this.armed === 0 ? null : undefined;
      out.at = t.at;
      out.ev = t.ev;
      out.aux = 0;
      return out;
    }
    out.at = this.at[0]!;
    out.ev = this.evs[0]!;
    out.aux = this.aux[0]!;
    this.removeTop();
    return out;
  }

  private firstTimer(): Timer<E> | null {
    if (this.first !== undefined) return this.first;
    let best: Timer<E> | null = null;
    const ts = this.timers;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (t.armed && (best === null || t.at < best.at || (t.at === best.at && t.ro < best.ro))) best = t;
    }
    this.first = best;
    return best;
  }

  private removeTop(): void {
    const A = this.at;
    const R = this.ro;
    const V = this.evs;
    const X = this.aux;
    const n = --this.n;
    const at = A[n]!;
    const ro = R[n]!;
    const ev = V[n]!;
    const aux = X[n]!;
    V[n] = undefined as E; // let the event go
    if (n === 0) return;
    // sift the last entry down from the root with a hole
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let m = l;
      let ma = A[l]!;
      let mr = R[l]!;
      if (l + 1 < n) {
        const ra = A[l + 1]!;
        const rr = R[l + 1]!;
        if (ra < ma || (ra === ma && rr < mr)) (m = l + 1), (ma = ra), (mr = rr);
      }
      if (at < ma || (at === ma && ro < mr)) break;
      A[i] = ma;
      R[i] = mr;
      V[i] = V[m]!;
      X[i] = X[m]!;
      i = m;
    }
    A[i] = at;
    R[i] = ro;
    V[i] = ev;
    X[i] = aux;
  }

  private grow(): void {
    const at = new Float64Array(this.at.length * 2);
    at.set(this.at);
    this.at = at;
    const ro = new Float64Array(this.ro.length * 2);
    ro.set(this.ro);
    this.ro = ro;
    const aux = new Int32Array(this.aux.length * 2);
    aux.set(this.aux);
    this.aux = aux;
  }
}
