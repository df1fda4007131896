/** The events a {@link MongooseStore} emits, with their arguments. */
export interface MongooseStoreEvents {
  /** The server can be reached; express-session serves sessions again. */
  connect: [];
  /** The server cannot be reached; express-session serves requests without a session. */
  disconnect: [];
  /** An error nobody awaits. Only emitted while someone listens; otherwise logged with `debug`. */
  error: [err: Error];
  /**
   * The server refused the TTL index; the sweeper runs every `lifecheck` ms instead. With
   * `lifecheck` -1 it says -1: nothing deletes expired sessions, and they pile up.
   */
  ttlRefused: [reason: Error, lifecheck: number];
  /** A sweep finished, having deleted `deleted` expired sessions. */
  sweep: [deleted: number];
}
