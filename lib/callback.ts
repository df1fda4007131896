/** A Node-style callback, as express-session passes to a store. */
export type Callback<T> = (err: Error | null, value?: T) => void;

function rethrowLater(thrown: unknown): void {
  // The callback itself threw. Calling it again would be wrong, and swallowing hides the
  // bug; so it surfaces as an uncaught exception, as a throwing callback of any Node API does.
  process.nextTick(() => {
    throw thrown;
  });
}

/**
 * Serves promise and callback callers from one promise.
 *
 * Without a callback the promise is returned. With one, the callback is called exactly once,
 * always asynchronously, and nothing is returned: a rejected promise nobody holds would be an
 * unhandled rejection.
 */
export function settle<T>(
  work: Promise<T>,
  callback: Callback<T> | undefined,
): Promise<T> | undefined {
  if (typeof callback !== 'function') return work;
  work
    .then(
      (value) => callback(null, value),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    )
    .catch(rethrowLater);
  return undefined;
}

/** Callbacks waiting for {@link drainSoon}; `head` is the next one to call. */
const soon: (Callback<void> | undefined)[] = [];
let head = 0;
let draining = false;

function drainSoon(): void {
  try {
    // Callbacks queued meanwhile run in this same pass, as Node's own nextTick queue does.
    while (head < soon.length) {
      const callback = soon[head] as Callback<void>;
      soon[head++] = undefined;
      // A chain that keeps queueing (each callback touching again) must not grow the array.
      if (head === 4_096) {
        soon.splice(0, head);
        head = 0;
      }
      callback(null);
    }
    soon.length = 0;
    head = 0;
    draining = false;
  } catch (thrown) {
    // The rest still get their call, on a later tick; the error surfaces as uncaught.
    process.nextTick(drainSoon);
    throw thrown;
  }
}

/**
 * Calls `callback(null)` after the caller has returned, as `process.nextTick` would, but
 * with one tick for every call made meanwhile: the touchAfter skip is answered this way, and
 * a tick per call would cost more than the decision itself.
 */
export function callBackSoon(callback: Callback<void>): void {
  soon.push(callback);
  if (draining) return;
  draining = true;
  process.nextTick(drainSoon);
}
