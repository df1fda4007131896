// A subscriber to the store's tracing channel, doing what a metrics exporter does: a
// duration per operation into a histogram, and a count of errors. Subscribed only while the
// traced contestant runs: a subscription is process-wide, and the others must run without.
import diagnosticsChannel from 'node:diagnostics_channel';
import { OPERATION_CHANNEL, type OperationContext } from 'connect-mongoose-session';

/** Upper bounds of the histogram's buckets, in milliseconds (the last one is open). */
const BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1_000];

/** Per operation and outcome: how many, their total duration (ms), and the histogram. */
export interface Recorded {
  count: number;
  totalMs: number;
  buckets: number[];
  errors: number;
}

/** A metrics exporter's subscription: {@link subscribe} and {@link unsubscribe} bracket a batch. */
export class Tracer {
  readonly recorded = new Map<string, Recorded>();
  private readonly started = new WeakMap<object, bigint>();
  private readonly channel = diagnosticsChannel.tracingChannel<unknown, OperationContext>(
    OPERATION_CHANNEL,
  );
  private readonly handlers = {
    start: (context: OperationContext) => {
      this.started.set(context, process.hrtime.bigint());
    },
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (context: OperationContext) => this.finish(context, false),
    error: (context: OperationContext) => this.finish(context, true),
  };

  subscribe(): void {
    this.channel.subscribe(this.handlers);
  }

  unsubscribe(): void {
    this.channel.unsubscribe(this.handlers);
  }

  /** How many operations it recorded, all kinds together. */
  get count(): number {
    let n = 0;
    for (const r of this.recorded.values()) n += r.count;
    return n;
  }

  private finish(context: OperationContext, failed: boolean): void {
    const t = this.started.get(context);
    if (t === undefined) return;
    // A failed operation reaches both `error` and `asyncEnd`: it is recorded once.
    this.started.delete(context);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    const key = `${context.operation} ${context.outcome ?? ''}`.trim();
    let r = this.recorded.get(key);
    if (r === undefined) {
      r = { count: 0, totalMs: 0, buckets: new Array(BUCKETS_MS.length + 1).fill(0), errors: 0 };
      this.recorded.set(key, r);
    }
    r.count += 1;
    r.totalMs += ms;
    const b = BUCKETS_MS.findIndex((limit) => ms <= limit);
    r.buckets[b === -1 ? BUCKETS_MS.length : b] += 1;
    if (failed) r.errors += 1;
  }
}
