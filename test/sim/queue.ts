// The simulators' event queue: a binary heap ordered by (virtual time,
// rank, insertion order), so that equal-time events replay in one order
// and deliveries (rank 0) run before wake-ups: I/O is drained first, as the
// daemon does. Bounded: a runaway schedule is a simulator bug, not a hang.
//
// Timers: a node's wake-up is re-armed after every step. Pushing a fresh
// entry each time left the superseded ones in the heap until they popped as
// no-ops (three quarters of all pops in a long run); a Timer is one entry
// per node that `arm` moves instead. Arming gives it the next insertion
// number, exactly what a fresh push would get, so the order of every live
// entry (and so the schedule) is what it was with pushes.

export interface QueueItem<E> {
  at: number;
  order: number;
  rank: number;
  ev: E;
  /** index in the heap; -1 when not queued */
  pos: number;
}

export type Timer<E> = QueueItem<E>;

export class EventQueue<E> {
  private h: QueueItem<E>[] = [];
  private order = 0;
  constructor(
    private readonly rankOf: (ev: E) => number,
    private readonly size_max = Number.POSITIVE_INFINITY,
  ) {}

  get size(): number {
    return this.h.length;
  }

  push(at: number, ev: E): void {
    this.insert({ at, order: this.order++, rank: this.rankOf(ev), ev, pos: -1 });
  }

  /** A timer entry, not queued until armed. */
  timer(ev: E): Timer<E> {
    return { at: 0, order: 0, rank: this.rankOf(ev), ev, pos: -1 };
  }

  /** The insertion number the next push would get (consumed). */
  reserve(): number {
    return this.order++;
  }

  /** Queue t at `at` with insertion number `order` (from reserve()), moving it if queued. */
  arm(t: Timer<E>, at: number, order: number): void {
    t.at = at;
    t.order = order;
    if (t.pos < 0) return this.insert(t);
    this.up(t.pos);
    this.down(t.pos);
  }

  /** The next item pop() would return, left queued. */
  peek(): QueueItem<E> | undefined {
    return this.h[0];
  }

  pop(): QueueItem<E> | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      last.pos = 0;
      this.down(0);
    }
    if (top) top.pos = -1;
    return top;
  }

  private insert(item: QueueItem<E>): void {
    if (this.h.length >= this.size_max) throw new Error(`event queue exceeds ${this.size_max}`);
    item.pos = this.h.length;
    this.h.push(item);
    this.up(item.pos);
  }

  /** sift up with a hole: parents move down, the item is written once */
  private up(i: number): void {
    const h = this.h;
    const item = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!before(item, parent)) break;
      h[i] = parent;
      parent.pos = i;
      i = p;
    }
    h[i] = item;
    item.pos = i;
  }

  private down(i: number): void {
    const h = this.h;
    const n = h.length;
    const item = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let m = l;
      if (l + 1 < n && before(h[l + 1]!, h[l]!)) m = l + 1;
      const child = h[m]!;
      if (!before(child, item)) break;
      h[i] = child;
      child.pos = i;
      i = m;
    }
    h[i] = item;
    item.pos = i;
  }
}

function before<E>(a: QueueItem<E>, b: QueueItem<E>): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.rank !== b.rank) return a.rank < b.rank;
  return a.order < b.order;
}
