import type { SessionData } from 'express-session';
import { MongooseStoreError } from './errors.js';

/**
 * A lifetime in milliseconds, or a function of the session that returns one. A function may
 * return 0 or less to have `set` delete the session.
 */
export type Ttl = number | ((session: SessionData) => number);

/** The longest lifetime a `ttl` may give: 100 years, in milliseconds. */
export const MAX_TTL = 100 * 365 * 24 * 60 * 60 * 1000;

function badTtl(detail: string, cause?: unknown): MongooseStoreError {
  return new MongooseStoreError('ERR_INVALID_TTL', `ttl: the function ${detail}`, cause);
}

/** What a `ttl` function gives for `session`, checked as the static option is. */
function lifetime(ttl: (session: SessionData) => number, session: SessionData): number {
  let ms: unknown;
  try {
    ms = ttl(session);
  } catch (err) {
    // The thrown error is the user's own: kept as the cause, never put in the message.
    throw badTtl('threw', err);
  }
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms > MAX_TTL)
    throw badTtl(
      `gave ${typeof ms === 'number' ? String(ms) : `a ${typeof ms}`}; expected milliseconds up to ${MAX_TTL}, or 0 or less to delete the session`,
    );
  return ms;
}

/**
 * When a session expires, in epoch milliseconds: its cookie's `expires` when the cookie has
 * one, else `now + ttl`. The only place the store computes an expiry. It returns a number,
 * not a Date, so the touch path that decides to skip allocates nothing; and it reads the
 * clock only when the cookie has no expiry, when `now` is not given.
 *
 * @throws MongooseStoreError `ERR_INVALID_TTL` when a `ttl` function throws or gives
 *   something other than a finite number of milliseconds up to {@link MAX_TTL}.
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
  const ms = typeof ttl === 'function' ? lifetime(ttl, session) : ttl;
  return (now ?? Date.now()) + ms;
}

/** The adaptive `touchAfter`: a touch may lag the cookie by this share of its lifetime... */
export const ADAPTIVE_TOUCH_SHARE = 0.01;
/** ...and by no more than this, in milliseconds. */
export const ADAPTIVE_TOUCH_MAX = 60_000;

/**
 * By how much, in milliseconds, a touch to expiry `at` may be short of the stored expiry's
 * move and still be skipped: `touchAfter` when it is a number; adaptive when it is
 * `undefined`: 1 % of the lifetime the touch grants (`at - now`), at most 60 s. So a 14-day
 * session is written at most once a minute, a 30-minute one every 18 s, and the stored expiry
 * never lags the cookie by more than that share.
 */
export function touchSlack(touchAfter: number | undefined, at: number, now: number): number {
  if (touchAfter !== undefined) return touchAfter;
  return Math.min((at - now) * ADAPTIVE_TOUCH_SHARE, ADAPTIVE_TOUCH_MAX);
}

/**
 * An expiry `at` (epoch ms) held to a session's absolute lifetime: never past
 * `createdAt + maxLifetime`. `maxLifetime` `undefined` (the option off) leaves it as it is.
 */
export function lifetimeEnd(
  at: number,
  maxLifetime: number | undefined,
  createdAt: number,
): number {
  return maxLifetime === undefined ? at : Math.min(at, createdAt + maxLifetime);
}
