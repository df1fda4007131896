import type { SessionData } from 'express-session';

/** The events a {@link MongooseStore} emits, with their arguments. */
export interface MongooseStoreEvents {
  /** The server can be reached; express-session serves sessions again. */
  connect: [];
  /**
   * The server cannot be reached: the driver lists no server to send operations to, a ping
   * after an operation's network error found no answer within 1 s, or no server could be
   * selected within `waitForServer` ms. One operation that timed out while the server answers
   * pings is no outage and says nothing. express-session serves requests without a session
   * until `connect`.
   */
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
  /**
   * With `expiredEvents`: session `sid` expired and was deleted. `session` is its stored data,
   * decoded (decrypted under `secret`), or `null` when it could not be read. Said once per
   * session across every store on the collection, never for a destroyed one.
   */
  expired: [sid: string, session: SessionData | null];
}

/** A listener of the store's event `E`. */
export type Listener<E extends keyof MongooseStoreEvents> = (
  ...args: MongooseStoreEvents[E]
) => void;
