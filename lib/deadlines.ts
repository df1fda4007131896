import { MongooseStoreError } from './errors.js';

/** One operation waited on: when it is late, and how to fail it then. */
interface Pending {
  at: number;
  fail: (err: Error) => void;
}

/**
 * How long a request's operation may wait for the server's answer: `waitForServer` ms, then it
 * fails with `ERR_SERVER_UNAVAILABLE`. A server that keeps its connections open and answers
 * nothing (a frozen host, a firewall that drops packets) stays listed by the driver until its
 * heartbeat times out, tens of seconds, and a request is not kept waiting that long.
 *
 * One timer for all of them, ticking only while some are waited on: an operation costs a set
 * entry, not a timer of its own. It fails within a tick of its deadline. The work goes on
 * unheeded once failed: a write may still land.
 */
export class Deadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tick: number;

  /**
   * @param ms - how long an operation may wait, in milliseconds (`waitForServer`).
   * @param late - called once per tick in which operations were failed.
   */
  constructor(
    private readonly ms: number,
    private readonly late: () => void,
  ) {
    this.tick = Math.min(100, Math.max(5, Math.floor(ms / 4)));
  }

  /** `work`, or `ERR_SERVER_UNAVAILABLE` once it has had no answer for `ms`. */
  answered<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((ok, fail) => {
      const entry: Pending = { at: Date.now() + this.ms, fail };
      this.pending.add(entry);
      if (this.timer === undefined) {
        this.timer = setInterval(() => this.sweep(), this.tick);
        this.timer.unref();
      }
      work.then(
        (value) => {
          this.pending.delete(entry);
          ok(value);
        },
        (err: unknown) => {
          this.pending.delete(entry);
          fail(err);
        },
      );
    });
  }

  /** Stops the timer; what is waited on is left to settle as it will. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private sweep(): void {
    const now = Date.now();
    let failed = false;
    // In the order they were added, which is the order of their deadlines.
    for (const entry of this.pending) {
      if (entry.at > now) break;
      this.pending.delete(entry);
      entry.fail(
        new MongooseStoreError(
          'ERR_SERVER_UNAVAILABLE',
          `the server did not answer within ${this.ms} ms (waitForServer): it is down, out of reach, or overloaded`,
        ),
      );
      failed = true;
    }
    if (failed) this.late();
    if (this.pending.size === 0) this.stop();
  }
}
