import { codeOf, MongooseStoreError, serverSaid } from './errors.js';
import { log } from './log.js';

/** How many times a long job tries one step that fails with a transient error. */
export const RETRY_ATTEMPTS = 6;
/** The first wait after a transient error, in milliseconds; it doubles, up to {@link MAX_WAIT}. */
const FIRST_WAIT = 50;
/** The longest wait between two tries, in milliseconds. */
const MAX_WAIT = 2_000;

// Server codes that mean "try again in a moment": the write lost a race or the server is
// busy or changing hands, and nothing was applied. InterruptedDueToReplStateChange (11602),
// NotWritablePrimary (10107), NotPrimaryNoSecondaryOk (13435), NotPrimaryOrSecondary (13436),
// PrimarySteppedDown (189), ShutdownInProgress (91), InterruptedAtShutdown (11600),
// HostUnreachable (6), HostNotFound (7), NetworkTimeout (89), SocketException (9001),
// ExceededTimeLimit (262), LockTimeout (24), LockBusy (46), WriteConflict (112).
const TRANSIENT_CODES = new Set([
  6, 7, 24, 46, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
]);
/** The driver's labels for an error a retry may cure. */
const TRANSIENT_LABELS = ['RetryableWriteError', 'TransientTransactionError'];
/** Driver errors that say the server could not be reached this time. */
const TRANSIENT_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoPoolClearedError',
  'MongoServerSelectionError',
]);
/**
 * FerretDB 1.x on SQLite answers a write that meets another's lock with InternalError (1) and
 * SQLite's own words; there is no code of its own to go by.
 */
const SQLITE_BUSY = /SQLITE_BUSY|database is locked/;

/** Whether `err` says "not now" rather than "never": a retry of the same step may succeed. */
export function transient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof MongooseStoreError) return false;
  if (TRANSIENT_NAMES.has(err.name)) return true;
  if (TRANSIENT_CODES.has(codeOf(err) as number)) return true;
  const labels = (err as { errorLabels?: unknown }).errorLabels;
  if (Array.isArray(labels) && labels.some((l) => TRANSIENT_LABELS.includes(l))) return true;
  return SQLITE_BUSY.test(err.message);
}

/** Waits `ms` milliseconds without keeping the process alive. */
function pause(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

/**
 * Runs one step of a long job (`reencrypt()`, a sweep), again after a transient error (see
 * {@link transient}), up to {@link RETRY_ATTEMPTS} tries with a growing, jittered wait. Any
 * other error is passed on at once. After the last try it gives up with `ERR_SERVER_BUSY`,
 * naming `what` and the server's code, never its message.
 *
 * Only for steps that are safe to repeat: a guarded update, a delete by filter, a read.
 * @param stopped - asked before each retry: once it says yes, the last error is passed on.
 */
export async function retrying<T>(
  what: string,
  step: () => Promise<T>,
  stopped: () => boolean = () => false,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!transient(err) || stopped()) throw err;
      if (attempt >= RETRY_ATTEMPTS)
        throw new MongooseStoreError(
          'ERR_SERVER_BUSY',
          `${what}: the server answered ${serverSaid(err)} ${attempt} times in a row; gave up (run it again later)`,
          err,
        );
      const wait = Math.min(FIRST_WAIT * 2 ** (attempt - 1), MAX_WAIT) * (0.5 + Math.random());
      log(
        '%s: transient %s; try %d in %d ms',
        what,
        serverSaid(err),
        attempt + 1,
        Math.round(wait),
      );
      await pause(wait);
    }
  }
}
