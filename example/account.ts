// The account flow: sign in with a name, list this user's sessions, sign out other devices or
// this one. Every POST answers 303 to a page, so a reload never posts again.
import type { MongooseStore, UserSession } from 'connect-mongoose-session';
import { type Request, type Response, Router } from 'express';
import { accountPage, type Device, signInPage } from './account-view';
import { flash, takeFlash } from './flash';
import { destroy, regenerate, save } from './promises';
import { currentUser, parseName, signIn } from './user';

/** What the account routes need from the app. */
export interface AccountOptions {
  store: MongooseStore;
  /** The session cookie's name, cleared on sign-out. */
  cookieName: string;
}

/** This request's session first, then the others in the store's order (latest expiry first). */
function devices(req: Request, sessions: UserSession[]): Device[] {
  const list = sessions.map(
    ({ id, expiresAt, session }): Device => ({
      current: id === req.sessionID,
      // This request's own expiry is the one express-session is about to write.
      expiresAt: id === req.sessionID ? (req.session.cookie.expires ?? expiresAt) : expiresAt,
      signedInAt: typeof session.signedInAt === 'number' ? session.signedInAt : undefined,
      device: typeof session.device === 'string' ? session.device : undefined,
    }),
  );
  return [...list.filter((d) => d.current), ...list.filter((d) => !d.current)];
}

/** `/sign-in`, `/account`, `/account/sign-out-others` and `/sign-out`. */
export function account({ store, cookieName }: AccountOptions): Router {
  const router = Router();
  const see = (res: Response, path: string) => res.redirect(303, path);

  router.get('/sign-in', (req, res) => {
    if (currentUser(req) !== undefined) return see(res, '/account');
    res.type('html').send(signInPage(takeFlash(req, 'error')));
  });

  router.post('/sign-in', async (req, res) => {
    const name = parseName((req.body as Record<string, unknown> | undefined)?.name);
    if (name === undefined) {
      flash(req, 'error', 'Type a name of 1 to 64 characters.');
      await save(req);
      return see(res, '/sign-in');
    }
    // A new id at sign-in, so that an id known before it (a fixation) is worth nothing after.
    await regenerate(req);
    signIn(req, name);
    flash(req, 'info', `Signed in as ${name}.`);
    await save(req);
    see(res, '/account');
  });

  router.get('/account', async (req, res) => {
    const user = currentUser(req);
    if (user === undefined) return see(res, '/sign-in');
    const sessions = await store.listByUser(user);
    const page = accountPage(user, devices(req, sessions), takeFlash(req, 'info'), Date.now());
    res.type('html').send(page);
  });

  router.post('/account/sign-out-others', async (req, res) => {
    const user = currentUser(req);
    if (user === undefined) return see(res, '/sign-in');
    const n = await store.destroyByUser(user, { except: req.sessionID });
    flash(req, 'info', `Signed out ${n} other ${n === 1 ? 'device' : 'devices'}.`);
    await save(req);
    see(res, '/account');
  });

  router.post('/sign-out', async (req, res) => {
    await destroy(req);
    res.clearCookie(cookieName, { path: '/' });
    see(res, '/sign-in');
  });

  return router;
}
