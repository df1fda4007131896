/**
 * What went wrong, as a stable string you can branch on.
 *
 * - `ERR_SESSION_TOO_LARGE`: the stored document would pass the server's 16 MiB limit.
 * - `ERR_SESSION_SERIALIZE`: the serializer could not turn the session into something storable
 *   (a cycle, a `BigInt`, a throwing `toJSON`).
 * - `ERR_SESSION_REJECTED`: the server refused the document (for example a key it cannot hold).
 * - `ERR_INDEX_CONFLICT`: an index on `expiresAt` has other options and could not be corrected.
 * - `ERR_STORE_CLOSED`: the store was closed.
 */
export type MongooseStoreErrorCode =
  | 'ERR_SESSION_TOO_LARGE'
  | 'ERR_SESSION_SERIALIZE'
  | 'ERR_SESSION_REJECTED'
  | 'ERR_INDEX_CONFLICT'
  | 'ERR_STORE_CLOSED';

/**
 * The error the store gives for anything but bad arguments (those are a `TypeError`).
 * In every case the stored session is left as it was.
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

/** A `TypeError` whose message starts with the package name. */
export function typeError(message: string): TypeError {
  return new TypeError(`connect-mongoose-session: ${message}`);
}
