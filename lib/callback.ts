/** A Node-style callback, as express-session passes to a store. */
export type Callback<T> = (err: Error | null, value?: T) => void;

/** Surfaces what a user's callback threw as an uncaught exception, outside our promises. */
export function rethrowLater(thrown: unknown): void {
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
