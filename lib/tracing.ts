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

type Channel = diagnosticsChannel.TracingChannel<unknown, OperationContext>;

const START = `tracing:${OPERATION_CHANNEL}:start`;

/**
 * Every operation channel a subscriber may hold: the one Node's registry gave when this module
 * loaded, then each it gave instead later, newest last.
 *
 * The registry (Node 20 to 22 at least) drops the entry of a live channel when an older
 * channel of the same name, made and let go before (by a probe, or an earlier copy of this
 * module, as each jest test file loads), is collected after the newer one was made. Who asks
 * for the channel after that gets a new one; who subscribed before holds the first. So each
 * traced operation checks that the registry still names the newest here (one map lookup, some
 * 50 ns), takes the registry's when it does not, and is published on each that has
 * subscribers. The list grows only by such a drop, and the channels here are never collected:
 * it stays short.
 */
const channels: Channel[] = [diagnosticsChannel.tracingChannel(OPERATION_CHANNEL)];

/** The channels that have subscribers now, the registry's checked first. */
function heard(): Channel[] {
  if (diagnosticsChannel.channel(START) !== (channels[channels.length - 1] as Channel).start)
    channels.push(diagnosticsChannel.tracingChannel(OPERATION_CHANNEL));
  if (channels.length === 1) return (channels[0] as Channel).hasSubscribers ? channels : [];
  return channels.filter((c) => c.hasSubscribers);
}

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
  const on = heard();
  if (on.length === 0) return work(UNTRACED);
  const context: OperationContext = { operation, collection };
  // The channel puts what the promise resolves to on the context as `result`: sessions and
  // ids, which subscribers must never see. The traced promise resolves to nothing instead.
  let value: T;
  let run = async (): Promise<void> => {
    value = await work(context);
  };
  // Rarely more than one (see `channels`): each wraps the last, all with the one context.
  for (const channel of on) {
    const inner = run;
    run = () => channel.tracePromise(inner, context);
  }
  return run().then(() => value);
}

/**
 * Whether anyone subscribes to the channels known here: a skipped touch is published only then.
 * It takes no look at the registry, on a path of a microsecond: the request's `get` before it
 * did.
 */
export function tracing(): boolean {
  for (const c of channels) if (c.hasSubscribers) return true;
  return false;
}

/** Marks a touch whose write was skipped (within `touchAfter`). */
export function skipped(context: OperationContext): void {
  context.outcome = 'skipped';
}
