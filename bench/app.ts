// The express apps the HTTP rows load: express-session over a store, and a route that does
// to the session what its row says.
import express, { type Express, type RequestHandler } from 'express';
import session, { type Store } from 'express-session';
import { DAY } from './fixtures';

/**
 * What a route does with the session:
 * - `write` changes it on every request (get + set);
 * - `read` changes it only on the first (get + touch, or get + set with `resave: true`);
 * - `app` is a signed-in user browsing: the first request signs in (passport's
 *   `passport.user`, a profile, a cart, a CSRF token: about 600 bytes), every request reads
 *   them, and one request in {@link CHANGE_EVERY} changes the cart.
 */
export type Route = 'write' | 'read' | 'app';

/** How often the `app` route changes the session: one request in this many. */
export const CHANGE_EVERY = 10;

/**
 * What `touchAfter` a row's stores run with:
 * - `every`: every touch writes (ours `touchAfter: 0`, connect-mongo's default 0), beside
 *   connect-mongodb-session, which never touches;
 * - `defaults`: each store as it comes (ours adaptive, connect-mongo 0,
 *   connect-mongodb-session);
 * - `60 s`: ours and connect-mongo with `touchAfter` 60 s (connect-mongodb-session has none).
 */
export type TouchSetting = 'every' | 'defaults' | '60 s';

/** One HTTP row: its name in the table and for `--http-rows`, the route, and express-session's settings. */
export interface Scenario {
  op: string;
  name: string;
  route: Route;
  resave: boolean;
  rolling: boolean;
  /** The stores the row runs, and with what `touchAfter`. */
  touch: TouchSetting;
}

interface Counter {
  views?: number;
}

interface Shopper {
  passport?: { user: string };
  profile: { id: string; name: string; email: string; locale: string; roles: string[] };
  cart: { sku: string; name: string; qty: number; price: number }[];
  csrf: string;
  prefs: { theme: string; timeZone: string };
}

function counter(changeEveryTime: boolean): RequestHandler {
  return (req, res) => {
    const s = req.session as unknown as Counter;
    if (changeEveryTime || s.views === undefined) s.views = (s.views ?? 0) + 1;
    res.send(String(s.views));
  };
}

function shop(): RequestHandler {
  let requests = 0;
  let users = 0;
  return (req, res) => {
    const s = req.session as unknown as Shopper;
    requests += 1;
    if (s.passport === undefined) {
      const id = `user-${users++}`;
      s.passport = { user: id };
      s.profile = {
        id,
        name: 'Ada Lovelace',
        email: `${id}@example.org`,
        locale: 'en-GB',
        roles: ['reader', 'writer'],
      };
      s.cart = [
        { sku: 'A-1', name: 'Difference engine, small', qty: 1, price: 1_999 },
        { sku: 'B-7', name: 'Punched cards (box of 500)', qty: 2, price: 450 },
        { sku: 'C-3', name: 'Brass gear set', qty: 1, price: 1_250 },
      ];
      s.csrf = 'k3J9cQ2mX7vR1tY8wP4zL6nB0dF5hG2sA9eU3iO7pQ1';
      s.prefs = { theme: 'dark', timeZone: 'Europe/London' };
    } else if (requests % CHANGE_EVERY === 0) {
      s.cart[0].qty += 1;
    }
    const items = s.cart.reduce((n, item) => n + item.qty, 0);
    res.send(`${s.profile.name} (${s.passport.user}): ${items} items, theme ${s.prefs.theme}`);
  };
}

/** An express app serving one row's route on `store`. */
export function benchApp(store: Store, { route, resave, rolling }: Scenario): Express {
  const app = express();
  app.use(
    session({
      store,
      secret: 'bench',
      resave,
      rolling,
      saveUninitialized: false,
      cookie: { maxAge: DAY },
    }),
  );
  app.get('/', route === 'app' ? shop() : counter(route === 'write'));
  return app;
}
