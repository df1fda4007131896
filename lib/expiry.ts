import type { SessionData } from 'express-session';

/** A lifetime in milliseconds, or a function of the session that returns one. */
export type Ttl = number | ((session: SessionData) => number);

/**
 * When a session expires, in epoch milliseconds: its cookie's `expires` when the cookie has
 * one, else `now + ttl`. The only place the store computes an expiry. It returns a number,
 * not a Date, so the touch path that decides to skip allocates nothing; and it reads the
 * clock only when the cookie has no expiry, when `now` is not given.
 */
export function expiryOf(session: SessionData, ttl: Ttl, now?: number): number {
  const expires: unknown = session?.cookie?.expires;
  const at =
    expires instanceof Date
      ? expires.getTime()
      : typeof expires === 'string' || typeof expires === 'number'
        ? new Date(expires).getTime()
        : Number.NaN;
  if (!Number.isNaN(at)) return at;
  const ms = typeof ttl === 'function' ? ttl(session) : ttl;
  return (now ?? Date.now()) + (Number.isFinite(ms) ? ms : 0);
}
