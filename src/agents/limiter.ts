// A process-wide cap on concurrent agent calls: at most `running_max` at once,
// the rest wait first-in first-out in a queue of at most `queued_max`; beyond
// that a call is refused at once (AgentQueueFullError) rather than piling up.

import { AgentQueueFullError } from "./types.ts";

export const agent_calls_running_max = 8;
export const agent_calls_queued_max = 256;

export class Limiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly running_max = agent_calls_running_max,
    readonly queued_max = agent_calls_queued_max,
  ) {
    if (!Number.isInteger(running_max) || running_max < 1) throw new RangeError(`running_max must be >= 1, got ${running_max}`);
    if (!Number.isInteger(queued_max) || queued_max < 0) throw new RangeError(`queued_max must be >= 0, got ${queued_max}`);
  }

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves with a release function once a slot is free; rejects with AgentQueueFullError when the queue is full. */
  acquire(): Promise<() => void> {
    if (this.running < this.running_max) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.queued_max) {
      return Promise.reject(
        new AgentQueueFullError(`agent call refused: ${this.running} running and ${this.queue.length} queued (limit ${this.running_max} + ${this.queued_max})`),
      );
    }
    return new Promise((resolve) => {
      // the slot is handed over directly: `running` stays the same
      this.queue.push(() => resolve(this.releaser()));
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
      if (this.running < 0) throw new Error("limiter: more releases than acquires");
    };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** The limiter every agent uses unless given another (tests pass their own). */
export const default_limiter = new Limiter();
