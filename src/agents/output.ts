// Bounded capture of a child's output: the first half of the budget keeps the
// head, the second half a ring of the most recent bytes, and the bytes in
// between are only counted. Memory never exceeds bytes_max, whatever the child
// prints.

export const output_bytes_max_default = 64 * 1024;
/** Smallest budget accepted: room for a useful head and tail. */
export const output_bytes_min = 256;

export class BoundedOutput {
  private readonly head: Uint8Array;
  private head_len = 0;
  private readonly tail: Uint8Array;
  /** total bytes written into the tail ring (position = tail_written % tail.length) */
  private tail_written = 0;
  total_bytes = 0;

  constructor(readonly bytes_max = output_bytes_max_default) {
    if (!Number.isInteger(bytes_max) || bytes_max < output_bytes_min) {
      throw new RangeError(`output bytes_max must be an integer >= ${output_bytes_min}, got ${bytes_max}`);
    }
    const head_max = Math.floor(bytes_max / 2);
    this.head = new Uint8Array(head_max);
    this.tail = new Uint8Array(bytes_max - head_max);
  }

  get truncated(): boolean {
    return this.total_bytes > this.bytes_max;
  }

  push(chunk: Uint8Array): void {
    this.total_bytes += chunk.length;
    let rest = chunk;
    if (this.head_len < this.head.length) {
      const n = Math.min(this.head.length - this.head_len, rest.length);
      this.head.set(rest.subarray(0, n), this.head_len);
      this.head_len += n;
      rest = rest.subarray(n);
    }
    if (rest.length === 0) return;
    const cap = this.tail.length;
    // only the last `cap` bytes of this chunk can survive
    if (rest.length > cap) {
      this.tail_written += rest.length - cap;
      rest = rest.subarray(rest.length - cap);
    }
    let pos = this.tail_written % cap;
    let off = 0;
    while (off < rest.length) {
      const n = Math.min(cap - pos, rest.length - off);
      this.tail.set(rest.subarray(off, off + n), pos);
      off += n;
      pos = (pos + n) % cap;
    }
    this.tail_written += rest.length;
  }

  /** The kept bytes as text; a marker line names the number of bytes left out. */
  text(): string {
    const dec = new TextDecoder("utf-8", { fatal: false });
    const head = dec.decode(this.head.subarray(0, this.head_len));
    const cap = this.tail.length;
    const kept = Math.min(this.tail_written, cap);
    const ring = new Uint8Array(kept);
    if (this.tail_written <= cap) {
      ring.set(this.tail.subarray(0, kept));
    } else {
      const pos = this.tail_written % cap;
      ring.set(this.tail.subarray(pos), 0);
      ring.set(this.tail.subarray(0, pos), cap - pos);
    }
    const tail = dec.decode(ring);
    if (!this.truncated) return head + tail;
    const omitted = this.total_bytes - this.head_len - kept;
    return `${head}\n[... ${omitted} bytes omitted of ${this.total_bytes} ...]\n${tail}`;
  }
}
