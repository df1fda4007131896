// The store's operations as Prometheus metrics, from its tracing channel
// (`connect-mongoose-session:operation`): a duration histogram by operation and outcome, and
// the sweeper's deletions. The channel is one per process, so these metrics are too.
import { tracingChannel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { Counter, Histogram, Registry } from 'prom-client';

/** The name of the store's tracing channel. */
export const OPERATION_CHANNEL = 'connect-mongoose-session:operation';

/** What the store publishes about one operation (never a session id or data). */
interface OperationContext {
  operation: string;
  collection: string;
  /** For get: hit, miss, expired or unreadable; for touch: written or skipped; for a sweep: how many it deleted. */
  outcome?: string | number;
  error?: unknown;
}

/** The context, with what this subscriber keeps on it. */
type Timed = OperationContext & { [STARTED]?: number };
const STARTED = Symbol('started');

/** The registry of the operation metrics, shared by every app in this process. */
export const operationRegistry = new Registry();

const duration = new Histogram({
  name: 'connect_mongoose_session_operation_duration_seconds',
  help: 'Duration of session store operations, by operation and outcome.',
  labelNames: ['operation', 'outcome'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [operationRegistry],
});

const sweeps = new Counter({
  name: 'connect_mongoose_session_sweeps_total',
  help: 'Sweeps of expired sessions that ended, by outcome (ok or error).',
  labelNames: ['outcome'] as const,
  registers: [operationRegistry],
});

const swept = new Counter({
  name: 'connect_mongoose_session_swept_sessions_total',
  help: 'Expired sessions deleted by the sweeper.',
  registers: [operationRegistry],
});

/** The outcome label: the store's word, `error`, or `ok` (a sweep's count goes to a counter). */
function outcomeOf(ctx: Timed): string {
  if (ctx.error !== undefined) return 'error';
  return typeof ctx.outcome === 'string' ? ctx.outcome : 'ok';
}

/** Records one ended operation, once: the start time is taken off the context. */
function observe(ctx: Timed): void {
  const started = ctx[STARTED];
  if (started === undefined) return;
  delete ctx[STARTED];
  const outcome = outcomeOf(ctx);
  duration.observe({ operation: ctx.operation, outcome }, (performance.now() - started) / 1000);
  if (ctx.operation !== 'sweep') return;
  sweeps.inc({ outcome: outcome === 'error' ? 'error' : 'ok' });
  if (typeof ctx.outcome === 'number') swept.inc(ctx.outcome);
}

let subscribed = false;

/**
 * Subscribes to the store's tracing channel, once per process. A promise-returning operation
 * ends at `asyncEnd`; `end` comes right after the call returns its promise, so it counts only
 * for an operation that threw at once (its `error` came before its `end`).
 */
export function subscribeOperations(): void {
  if (subscribed) return;
  subscribed = true;
  tracingChannel<string, Timed>(OPERATION_CHANNEL).subscribe({
    start(ctx) {
      ctx[STARTED] = performance.now();
    },
    end(ctx) {
      if (ctx.error !== undefined) observe(ctx);
    },
    asyncStart() {},
    asyncEnd: observe,
    error() {},
  });
}
