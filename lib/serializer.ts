/**
 * How session data is kept in the document. The store calls it twice per write: once for the
 * cookie and once for the rest of the session, so a `touch` can rewrite the cookie alone.
 */
export interface SessionSerializer {
  /** Turns plain session data into the value stored. May throw; the store reports it. */
  serialize(value: Record<string, unknown>): unknown;
  /** Turns a stored value back into session data. */
  deserialize(stored: unknown): Record<string, unknown>;
}

/**
 * The default: a JSON string, so `get` returns exactly what `JSON.parse(JSON.stringify(session))`
 * gives, as express-session's MemoryStore does. Any key is allowed.
 */
export const jsonSerializer: SessionSerializer = {
  serialize: (value) => JSON.stringify(value),
  deserialize: (stored) => (typeof stored === 'string' ? JSON.parse(stored) : {}),
};

/**
 * Stores the session as a BSON subdocument, so it can be queried on the server
 * (`{ 'session.userId': … }`). Dates stay Dates. Keys the server cannot hold (FerretDB refuses
 * `.` and a leading `$`) make `set` fail with `ERR_SESSION_REJECTED`, and the stored session
 * is left as it was.
 */
export const bsonSerializer: SessionSerializer = {
  serialize: (value) => value,
  deserialize: (stored) =>
    stored !== null && typeof stored === 'object' ? (stored as Record<string, unknown>) : {},
};
