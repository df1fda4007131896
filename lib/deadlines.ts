import { MongooseStoreError } from './errors.js';

/**
 * How many times `waitForServer` an operation waits on a server that answers others: 30 s at
 * the default, the driver's own `serverSelectionTimeoutMS`.
 */
const LONGEST_WAIT = 6;

/** One operation waited on: when it is late, and how to fail it then. */
interface Pending {
  at: number;
  fail: (err: Error) => void;
}

/**
 * How long a request's operation may wait on a silent server: once `waitForServer` ms have
 * passed with no operation answered, those waiting longer fail with `ERR_SERVER_UNAVAILABLE`.
 * A server that keeps its connections open and answers nothing (a frozen host, a firewall that
 * drops packets) stays listed by the driver until its heartbeat times out, tens of seconds, and
 * a request is not kept waiting that long. A busy server that still answers is waited on, up to
 * {@link LONGEST_WAIT} times as long: under a burst, a request queued behind others is served
 * late rather than failed, and one slow operation is no outage.
 *
 * One timer for all of them, ticking only while some are waited on: an operation costs a set
 * entry, not a timer of its own. It fails within a tick of its deadline. The work goes on
 * unheeded once failed: a write may still land.
 */
export class Deadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tick: number;
  /** When an operation last got its answer (epoch ms). */
  private answeredAt = 0;

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
          this.answeredAt = Date.now();
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
    // Answering others lately: busy, not silent, and those waiting wait on, up to
    // LONGEST_WAIT times as long (a lost answer on one connection must not hang its request).
    const busy = now - this.answeredAt < this.ms;
    let failed = false;
    // In the order they were added, which is the order of their deadlines.
    for (const entry of this.pending) {
      if (entry.at > now) break;
      if (busy && entry.at + (LONGEST_WAIT - 1) * this.ms > now) break;
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
