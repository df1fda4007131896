// "You were signed out from another device". A browser whose session was deleted elsewhere
// still sends its old cookie; express-session finds nothing and starts a new, empty session,
// which alone cannot tell "signed out" from "never signed in". So the demo keeps a small
// signed cookie of its own while signed in, holding when the session would expire if left
// alone: with it and no user, the session was ended early (from elsewhere) or ran out.
import { sign, unsign } from 'cookie-signature';
import type { NextFunction, Request, Response } from 'express';
import { flash } from './flash';
import { save } from './promises';
import { currentUser } from './user';

/** The cookie that says "this browser was signed in". */
export const MARK = 'signed-in';

/** What the mark needs from the app. */
export interface MarkOptions {
  /** The cookie-signing secret. */
  secret: string;
  /** The session's lifetime without use, in ms (the session cookie's `maxAge`). */
  maxAge: number;
}

/** The raw value of cookie `name` in `req`, if sent. */
function cookieValue(req: Request, name: string): string | undefined {
  for (const pair of (req.get('cookie') ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(pair.slice(at + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Sets (or refreshes) the mark: signed in, and expiring `maxAge` from now unless used. */
export function markSignedIn(res: Response, { secret, maxAge }: MarkOptions): void {
  const until = String(Date.now() + maxAge);
  // It outlives the session cookie by a day, to tell "it ran out" once the session is gone.
  res.cookie(MARK, sign(until, secret), {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    maxAge: maxAge + 86_400_000,
  });
}

/** Removes the mark (and any refresh of it this response carried): this browser signed out. */
export function clearMark(res: Response): void {
  const set = ([] as (string | number)[]).concat(res.getHeader('Set-Cookie') ?? []);
  res.setHeader(
    'Set-Cookie',
    set.map(String).filter((c) => !c.startsWith(`${MARK}=`)),
  );
  res.clearCookie(MARK, { path: '/' });
}

/** `ms` in its largest whole unit, rounded: "1 minute", "2 days". */
function roughly(ms: number): string {
  if (ms >= 86_400_000) return plural(Math.round(ms / 86_400_000), 'day');
  if (ms >= 3_600_000) return plural(Math.round(ms / 3_600_000), 'hour');
  if (ms >= 60_000) return plural(Math.round(ms / 60_000), 'minute');
  return plural(Math.round(ms / 1000), 'second');
}
const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

/**
 * Refreshes the mark on each request of a signed-in session; on a request that carries the
 * mark but whose session has no user, queues the message that says why, and clears the mark.
 */
export function signedOutNotice(options: MarkOptions) {
  // The store may skip a touch that moves the expiry by less than its touchAfter (by default
  // 1 % of the lifetime, at most a minute): a session can end that much before the mark says.
  const slack = Math.min(60_000, options.maxAge / 100) + 1_000;
  return async (req: Request, res: Response, next: NextFunction) => {
    const raw = cookieValue(req, MARK);
    if (currentUser(req) !== undefined) {
      markSignedIn(res, options);
      return next();
    }
    if (raw === undefined) return next();
    clearMark(res);
    const until = Number(unsign(raw, options.secret));
    // A forged or damaged mark says nothing.
    if (!Number.isFinite(until) || until <= 0) return next();
    flash(
      req,
      'info',
      Date.now() < until - slack
        ? 'You were signed out from another device.'
        : `Your session ended after ${roughly(options.maxAge)} without use. Sign in again.`,
    );
    // Stored before the page answers: a redirect may be followed before express-session's
    // own save ends.
    await save(req);
    next();
  };
}
