import diagnosticsChannel from 'node:diagnostics_channel';

/** The name of the tracing channel every operation is published on. */
export const OPERATION_CHANNEL = 'connect-mongoose-session:operation';

/** An operation the store publishes. */
export type TracedOperation =
  | 'get'
  | 'set'
  | 'touch'
  | 'destroy'
  | 'length'
  | 'all'
  | 'clear'
  | 'listByUser'
  | 'destroyByUser'
  | 'destroyByHandle'
  | 'reencrypt'
  | 'sweep';

/**
 * What a subscriber to {@link OPERATION_CHANNEL} is given: the operation, the collection, and
 * before the end, its outcome. Never a session id or session data.
 */
export interface OperationContext {
  /** Which operation. */
  operation: TracedOperation;
  /** The sessions collection's name. */
  collection: string;
  /**
   * How it went, set before the end: for `get` `'hit'`, `'miss'`, `'expired'` or
   * `'unreadable'`; for `touch` `'written'` or `'skipped'`; for `sweep` the number deleted.
   */
  outcome?: string | number;
  /** Set by the channel on `error`: what the operation failed with. */
  error?: unknown;
}

const channel = diagnosticsChannel.tracingChannel<unknown, OperationContext>(OPERATION_CHANNEL);

/** Where operations write their outcome while nobody listens: written, never read. */
const UNTRACED: OperationContext = { operation: 'get', collection: '' };

/**
 * Runs `work` as operation `operation` on `collection`, published on the tracing channel
 * (start, end, asyncStart, asyncEnd, error) while it has subscribers; at no cost otherwise:
 * `work` then gets a context nobody reads.
 */
export function traced<T>(
  operation: TracedOperation,
  collection: string,
  work: (context: OperationContext) => Promise<T>,
): Promise<T> {
  if (!channel.hasSubscribers) return work(UNTRACED);
  const context: OperationContext = { operation, collection };
  // The channel puts what the promise resolves to on the context as `result`: sessions and
  // ids, which subscribers must never see. The traced promise resolves to nothing instead.
  let value: T;
  return channel
    .tracePromise(async () => {
      value = await work(context);
    }, context)
    .then(() => value);
}

/** Whether anyone subscribes to the channel: a skipped touch is published only then. */
export function tracing(): boolean {
  return channel.hasSubscribers;
}

/** Marks a touch whose write was skipped (within `touchAfter`). */
export function skipped(context: OperationContext): void {
  context.outcome = 'skipped';
}
