// The simulators' event queue: a binary heap ordered by (virtual time,
// rank, insertion order), so that equal-time events replay in one order
// and deliveries (rank 0) run before wake-ups: I/O is drained first, as the
// daemon does. Bounded: a runaway schedule is a simulator bug, not a hang.

export interface QueueItem<E> {
  at: number;
  order: number;
  rank: number;
  ev: E;
}

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
    if (this.h.length >= this.size_max) throw new Error(`event queue exceeds ${this.size_max}`);
    const h = this.h;
    const item: QueueItem<E> = { at, order: this.order++, rank: this.rankOf(ev), ev };
    // sift up with a hole: parents move down, the item is written once
    let i = h.length;
    h.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!before(item, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = item;
  }

  pop(): QueueItem<E> | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    const n = h.length;
    if (n > 0 && last) {
      // sift down with a hole, as in push
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        let m = l;
        if (l + 1 < n && before(h[l + 1]!, h[l]!)) m = l + 1;
        if (!before(h[m]!, last)) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

function before<E>(a: QueueItem<E>, b: QueueItem<E>): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.rank !== b.rank) return a.rank < b.rank;
  return a.order < b.order;
}
