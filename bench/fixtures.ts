// The sessions the phases write: shaped as express-session hands them to a store.
import type { SessionData } from 'express-session';

export const DAY = 86_400_000;

/**
 * What a store may read of the request that holds a session (the `metadata` option reads
 * `ip` and the user agent): one client for every session, as one browser would be.
 */
export const REQUEST = {
  ip: '203.0.113.7',
  headers: {
    'user-agent':
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  },
};

/**
 * Attaches {@link REQUEST} to `s` as express-session's Session does: non-enumerable, so no
 * serializer writes it, and a store that records devices finds it.
 */
export function withRequest<T extends object>(s: T): T {
  Object.defineProperty(s, 'req', { value: REQUEST, configurable: true });
  return s;
}

/**
 * A session as express-session would hand it over: cookie first, then some data, passport's
 * signed-in user (`user-<i>`: one live session per user, so a per-user cap checks, never
 * evicts), and its request attached.
 */
export function sess(i: number, expiresIn = DAY, extra: Record<string, unknown> = {}): SessionData {
  return withRequest({
    cookie: {
      originalMaxAge: DAY,
      expires: new Date(Date.now() + expiresIn),
      httpOnly: true,
      path: '/',
    },
    user: { id: `u${i}`, name: 'Ada Lovelace', roles: ['reader', 'writer'] },
    cart: [
      { sku: 'A-1', qty: 2 },
      { sku: 'B-7', qty: 1 },
    ],
    views: i,
    passport: { user: `user-${i}` },
    ...extra,
  } as unknown as SessionData);
}

/** One line on stderr, with the time: what the run is doing now. */
export const progress = (what: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}\n`);
