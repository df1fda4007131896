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
   * `'unreadable'`; for `touch` `'written'`, `'skipped'` (within `touchAfter`) or `'missing'` (no
   * live session to move: expired, destroyed, or never stored); for `sweep` the number deleted.
   */
  outcome?: string | number;
  /** Set by the channel on `error`: what the operation failed with. */
  error?: unknown;
}

type Event = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
type Channel = diagnosticsChannel.Channel<unknown, OperationContext>;

/**
 * For each of the five events of the tracing channel, every channel of its name a subscriber
 * may hold: the one Node's registry gave when this module loaded, then each it gave later.
 *
 * The registry (Node 20 to 22 at least) drops the entry of a live channel when an older
 * channel of the same name, made and let go before (by a probe, or an earlier copy of this
 * module, as each jest test file loads), is collected after the newer one was made; each of
 * the five names on its own. Who asks for the channel after that gets a new one; who
 * subscribed before holds the first. So each traced operation takes what the registry names
 * now (five map lookups, some 250 ns) and publishes each event once on each channel known
 * for it. A list grows only by such a drop, and the channels here are never collected: the
 * lists stay short.
 */
const known: Record<Event, Channel[]> = {
  start: [],
  end: [],
  asyncStart: [],
  asyncEnd: [],
  error: [],
};
const EVENTS = Object.keys(known) as Event[];
const NAMES = EVENTS.map((event) => `tracing:${OPERATION_CHANNEL}:${event}`);
/** The channels of all five lists, in one: what {@link listened} looks at. */
const every: Channel[] = [];

/** Adds, for each event, the channel the registry names now when it is new. */
function refresh(): void {
  for (let i = 0; i < EVENTS.length; i++) {
    const list = known[EVENTS[i] as Event];
    const named = diagnosticsChannel.channel(NAMES[i] as string) as Channel;
    if (!list.includes(named)) {
      list.push(named);
      every.push(named);
    }
  }
}
refresh();

/** Whether any channel known here has subscribers. */
function listened(): boolean {
  for (let i = 0; i < every.length; i++) if ((every[i] as Channel).hasSubscribers) return true;
  return false;
}

function publish(event: Event, context: OperationContext): void {
  for (const c of known[event]) c.publish(context);
}

/** Where operations write their outcome while nobody listens: written, never read. */
const UNTRACED: OperationContext = { operation: 'get', collection: '' };

/**
 * Runs `work` as operation `operation` on `collection`, published on the tracing channel
 * while it has subscribers; at no cost otherwise: `work` then gets a context nobody reads.
 * The events come as a tracing channel's `tracePromise` gives them: `start` (with the stores
 * bound to it around the work), `end` once `work` returned, then `error` if it failed, and
 * `asyncStart` and `asyncEnd` once it settled. What it resolves to (sessions, ids) is never put
 * on the context. A synchronous throw from `work` comes back as a rejection.
 */
export function traced<T>(
  operation: TracedOperation,
  collection: string,
  work: (context: OperationContext) => Promise<T>,
): Promise<T> {
  refresh();
  if (!listened()) {
    try {
      return work(UNTRACED);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const context: OperationContext = { operation, collection };
  const failed = (err: unknown) => {
    context.error = err;
    publish('error', context);
  };
  const settled = () => {
    publish('asyncStart', context);
    publish('asyncEnd', context);
  };
  let run = (): Promise<T> => {
    let promise: Promise<T>;
    try {
      promise = work(context);
    } catch (err) {
      // As tracePromise: error, then end, and no async events.
      failed(err);
      return Promise.reject(err);
    } finally {
      publish('end', context);
    }
    return promise.then(
      (value) => {
        settled();
        return value;
      },
      (err: unknown) => {
        failed(err);
        settled();
        throw err;
      },
    );
  };
  // Each start channel publishes, and binds its stores, around the last: rarely more than one.
  for (const c of known.start) {
    const inner = run;
    run = () => c.runStores(context, inner);
  }
  return run();
}

/** Whether anyone subscribes to the channels known here: a skipped touch is published only then. */
export function tracing(): boolean {
  return listened();
}

/** Marks a touch whose write was skipped (within `touchAfter`). */
export function skipped(context: OperationContext): void {
  context.outcome = 'skipped';
}
