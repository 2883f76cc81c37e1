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
    h.push({ at, order: this.order++, rank: this.rankOf(ev), ev });
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): QueueItem<E> | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (l + 1 < h.length && before(h[l + 1]!, h[m]!)) m = l + 1;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before<E>(a: QueueItem<E>, b: QueueItem<E>): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.rank !== b.rank) return a.rank < b.rank;
  return a.order < b.order;
}
