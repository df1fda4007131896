import { createHash } from 'node:crypto';

/**
 * What went wrong, as a stable string you can branch on.
 *
 * - `ERR_SESSION_TOO_LARGE`: the stored document would pass the server's 16 MiB limit.
 * - `ERR_SESSION_SERIALIZE`: the serializer could not turn the session into something storable
 *   (a cycle, a `BigInt`, a throwing `toJSON`).
 * - `ERR_SESSION_REJECTED`: the document holds a value or a key that the server cannot hold (a
 *   `NaN` or an infinite number under `serializer: 'bson'`, a key with a NUL byte, a key the
 *   server refuses); refused before it is sent when the store can tell, else by the server.
 * - `ERR_SESSION_UNREADABLE`: a stored session could not be decoded (another serializer wrote
 *   it, or it was damaged). Reported through the `error` event; the session reads as missing.
 * - `ERR_SESSION_DECRYPT`: with a `secret`, a stored session did not decrypt and authenticate
 *   (a key not among the secrets, a changed byte, a value copied from another session, or
 *   one stored without encryption). Reported through the `error` event; it reads as missing.
 * - `ERR_REENCRYPT_INCOMPLETE`: `reencrypt()` found sessions still under an older secret, or in
 *   the form this store does not write, after its last pass (the app kept changing them, or an
 *   instance still writes with an older secret first, or with another `secretFormat`): keep
 *   every secret, and run it again.
 * - `ERR_INVALID_TTL`: a `ttl` function threw, or gave something other than a finite number of
 *   milliseconds within the allowed range.
 * - `ERR_INVALID_USER_ID`: a `userId` function threw, or gave something other than a non-empty
 *   string or `undefined`.
 * - `ERR_INDEX_REFUSED`: the server refused the index on `user`; reported through the `error`
 *   event, and `listByUser`/`destroyByUser` then scan the collection.
 * - `ERR_INDEX_CONFLICT`: an index on `expiresAt` has other options and could not be corrected.
 * - `ERR_STORE_CLOSED`: the store was closed.
 * - `ERR_SERVER_UNAVAILABLE`: no server could be selected within the store's own bound (the
 *   `waitForServer` option), the connection to it failed or was lost, or a request's operation
 *   had no answer within that bound: the database is down or out of reach. The session is
 *   untouched, but for a write that had no answer, which may still land.
 * - `ERR_SERVER_BUSY`: the server kept answering with a transient error (a lock held, a
 *   primary stepping down, a write conflict) through every retry of a long job (`reencrypt()`,
 *   a sweep); run it again later. Nothing it had done is undone.
 * - `ERR_LEASE_INVALID`: a document in the sweep lease collection is not a well-formed term
 *   (written by hand or by another program); it is ignored, and reported once.
 */
export type MongooseStoreErrorCode =
  | 'ERR_SESSION_TOO_LARGE'
  | 'ERR_SESSION_SERIALIZE'
  | 'ERR_SESSION_REJECTED'
  | 'ERR_SESSION_UNREADABLE'
  | 'ERR_SESSION_DECRYPT'
  | 'ERR_REENCRYPT_INCOMPLETE'
  | 'ERR_INVALID_TTL'
  | 'ERR_INVALID_USER_ID'
  | 'ERR_INDEX_REFUSED'
  | 'ERR_INDEX_CONFLICT'
  | 'ERR_STORE_CLOSED'
  | 'ERR_SERVER_UNAVAILABLE'
  | 'ERR_SERVER_BUSY'
  | 'ERR_LEASE_INVALID';

/**
 * The error the store gives for anything but bad arguments (those are a `TypeError`).
 * In every case the stored session is left as it was. Its message never holds a session id or
 * session data (at most {@link sidTag}'s short tag), so it is safe to log.
 */
export class MongooseStoreError extends Error {
  /** A stable code; see {@link MongooseStoreErrorCode}. */
  readonly code: MongooseStoreErrorCode;

  /**
   * @param code - the stable code.
   * @param message - the explanation; the package name is prefixed.
   * @param cause - the underlying error, if any.
   */
  constructor(code: MongooseStoreErrorCode, message: string, cause?: unknown) {
    super(`connect-mongoose-session: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'MongooseStoreError';
    this.code = code;
  }
}

/**
 * A short tag for a session id, for messages and debug lines: the first 8 hex digits of its
 * SHA-256. It tells two sessions apart in a log without giving anyone the id to replay.
 */
export function sidTag(sid: unknown): string {
  // A stored document's `_id` may be no string (a stray document): tagged all the same.
  return `#${createHash('sha256').update(String(sid)).digest('hex').slice(0, 8)}`;
}

/** `ERR_STORE_CLOSED`: what an operation gets once the store is closed. */
export function closedError(): MongooseStoreError {
  return new MongooseStoreError('ERR_STORE_CLOSED', 'the store is closed');
}

/** The server's duplicate key error code: a unique index (`_id` included) refused a write. */
export const DUPLICATE_KEY = 11000;

/** A `TypeError` whose message starts with the package name. */
export function typeError(message: string): TypeError {
  return new TypeError(`connect-mongoose-session: ${message}`);
}

/** The `code` a driver or server error carries, if any. */
export function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/**
 * The server's code name and number, without its message: a server's message may quote the
 * session (a key, a value), so only these go into our messages.
 */
export function serverSaid(err: unknown): string {
  const e = err as { codeName?: unknown; code?: unknown; name?: unknown } | null;
  if (typeof e?.codeName === 'string') return `${e.codeName} (code ${String(e.code)})`;
  if (typeof e?.code === 'number') return `error (code ${e.code})`;
  return typeof e?.name === 'string' ? e.name : 'error';
}
