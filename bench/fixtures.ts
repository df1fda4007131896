// The sessions the phases write: shaped as express-session hands them to a store.
import type { SessionData } from 'express-session';

export const DAY = 86_400_000;

/** A session as express-session would hand it over: cookie first, then some data. */
export function sess(i: number, expiresIn = DAY, extra: Record<string, unknown> = {}): SessionData {
  return {
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
    ...extra,
  } as unknown as SessionData;
}

/** One line on stderr, with the time: what the run is doing now. */
export const progress = (what: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}\n`);
