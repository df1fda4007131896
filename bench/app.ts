// The express apps the HTTP rows load: express-session over a store, and a route that does
// to the session what its row says.
import express, { type Express, type RequestHandler } from 'express';
import session, { type Store } from 'express-session';
import { DAY } from './fixtures';

/**
 * What a route does with the session:
 * - `write` changes it on every request (get + set);
 * - `read` changes it only on the first (get + touch).
 */
export type Route = 'write' | 'read';

/** One HTTP row: its name in the table, the route, and express-session's settings. */
export interface Scenario {
  op: string;
  route: Route;
  resave: boolean;
  rolling: boolean;
}

interface Counter {
  views?: number;
}

function counter(changeEveryTime: boolean): RequestHandler {
  return (req, res) => {
    const s = req.session as unknown as Counter;
    if (changeEveryTime || s.views === undefined) s.views = (s.views ?? 0) + 1;
    res.send(String(s.views));
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
  app.get('/', counter(route === 'write'));
  return app;
}
