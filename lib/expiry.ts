import type { SessionData } from 'express-session';

/** A lifetime in milliseconds, or a function of the session that returns one. */
export type Ttl = number | ((session: SessionData) => number);

/**
 * When a session expires: its cookie's `expires` when the cookie has one, else `now + ttl`.
 * The only place the store computes an expiry.
 */
export function expiryOf(session: SessionData, ttl: Ttl, now: number): Date {
  const expires: unknown = session.cookie?.expires;
  if (expires instanceof Date || typeof expires === 'string' || typeof expires === 'number') {
    const at = new Date(expires);
    if (!Number.isNaN(at.getTime())) return at;
  }
  const ms = typeof ttl === 'function' ? ttl(session) : ttl;
  return new Date(now + (Number.isFinite(ms) ? ms : 0));
}
