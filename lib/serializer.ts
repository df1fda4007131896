import { checkBsonValue } from './bson-values.js';

/**
 * How session data is kept in the document. The store calls it twice per write: once for the
 * cookie and once for the rest of the session, so a `touch` can rewrite the cookie alone.
 */
export interface SessionSerializer {
  /** Turns plain session data into the value stored. May throw; the store reports it. */
  serialize(value: Record<string, unknown>): unknown;
  /**
   * Turns a stored value back into session data. Throws for a value it did not write (for
   * example one another serializer wrote): the store then treats the session as missing and
   * reports `ERR_SESSION_UNREADABLE`.
   */
  deserialize(stored: unknown): Record<string, unknown>;
}

function unreadable(expected: string, stored: unknown): never {
  throw new TypeError(
    `expected ${expected}, found ${stored === null ? 'null' : typeof stored} (another serializer wrote it?)`,
  );
}

/**
 * The default: a JSON string, so `get` returns exactly what `JSON.parse(JSON.stringify(session))`
 * gives, as express-session's MemoryStore does. Any key is allowed.
 */
export const jsonSerializer: SessionSerializer = {
  serialize: (value) => JSON.stringify(value),
  deserialize: (stored) => {
    const value: unknown =
      typeof stored === 'string' ? JSON.parse(stored) : unreadable('a JSON string', stored);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : unreadable('a JSON object', value);
  },
};

/**
 * Stores the session as a BSON subdocument, so it can be queried on the server
 * (`{ 'session.userId': … }`). Dates stay Dates. A value BSON or the server cannot hold is
 * refused before anything is sent: a NaN or infinite number or a key with a NUL byte with
 * `ERR_SESSION_REJECTED`, a `BigInt`, an Invalid Date or a cycle with `ERR_SESSION_SERIALIZE`.
 * Keys the server refuses (FerretDB refuses `.` and a leading `$`) make `set` fail with
 * `ERR_SESSION_REJECTED`. In every case the stored session is left as it was.
 */
export const bsonSerializer: SessionSerializer = {
  serialize: (value) => {
    checkBsonValue(value);
    return value;
  },
  deserialize: (stored) =>
    stored !== null && typeof stored === 'object' && !Array.isArray(stored)
      ? (stored as Record<string, unknown>)
      : unreadable('a BSON subdocument', stored),
};
