import type { MongooseStore } from 'connect-mongoose-session';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { account } from './account';
import { counter } from './counter';
import { health } from './health';
import { metrics } from './metrics';
import { signedOutNotice } from './signed-out';

/** The demo's settings; see example/server.ts for where they come from. */
export interface DemoOptions {
  /** The store, made with `metadata: { ip: true, userAgent: true }` for the devices page. */
  store: MongooseStore;
  secret: string;
  /** Session cookie lifetime in ms. */
  maxAge: number;
}

const COOKIE = 'sid';

/**
 * The seed README's example on today's express (a counter, flash, the live session count and
 * regenerate at 10); beside it an account flow (sign in with a name, see and sign out your
 * devices), and `/metrics` and `/healthz` for an operator.
 */
export function createApp({ store, secret, maxAge }: DemoOptions): Express {
  const app = express();
  // Before the session: a browser asks for the icon beside every page, and a probe or scraper
  // every few seconds; each such request would load and touch a session for nothing.
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  app.use(health(store));
  app.use(metrics(store));
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      name: COOKIE,
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      // Lax: another site cannot post the sign-out buttons (or a sign-in) with this cookie.
      cookie: { path: '/', httpOnly: true, sameSite: 'lax', maxAge },
    }),
  );
  app.use(signedOutNotice({ secret, maxAge }));
  app.use(counter(store));
  app.use(account({ store, cookieName: COOKIE, secret, maxAge }));
  // The message only: express's default handler would print the stack into the page.
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    console.error('demo:', err.message);
    res.status(500).type('text').send('Something went wrong; try again.');
  });
  return app;
}
