import type { EventEmitter } from 'node:events';
import { rethrowLater } from './callback.js';
import { closedError } from './errors.js';
import { log } from './log.js';

/**
 * Says an error nobody awaits: through the `error` event while someone listens, else in the
 * `debug` log (an `error` event without a listener would crash the app). A listener that throws
 * must not stop the sweeper, the lease or a start that reports through here: its error surfaces
 * as an uncaught exception, as any listener's would.
 */
export function report(emitter: EventEmitter, err: Error): void {
  if (emitter.listenerCount('error') === 0) {
    log('error: %s', err.message);
    return;
  }
  try {
    emitter.emit('error', err);
  } catch (thrown) {
    rethrowLater(thrown);
  }
}

/**
 * Emits an event nobody awaits (`expired`, `sweep`): a listener that throws surfaces as an
 * uncaught exception, as any listener's would, and stops neither the sweeper nor the others.
 */
export function tell(emitter: EventEmitter, event: string, ...args: unknown[]): void {
  try {
    emitter.emit(event, ...args);
  } catch (thrown) {
    rethrowLater(thrown);
  }
}

/** The constructor's callback: told once how the first start went. */
export class StartCallback {
  constructor(private callback: ((err?: Error) => void) | undefined) {}

  /**
   * Calls back, the first time only. A start cut short by close (`closed`) says so, not what
   * the closing driver threw. Outside our promise chains: a throwing callback is an uncaught
   * exception, as the callback of any other method, never an unhandled rejection.
   */
  settle(err: Error | undefined, closed: boolean): void {
    const callback = this.callback;
    this.callback = undefined;
    if (callback === undefined) return;
    try {
      callback(closed && err !== undefined ? closedError() : err);
    } catch (thrown) {
      rethrowLater(thrown);
    }
  }
}
