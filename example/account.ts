// The account flow: sign in with a name, list this user's devices, sign out one of them, all
// the others, or this one. Every POST answers 303 to a page, so a reload never posts again.
import type { MongooseStore, UserSession } from 'connect-mongoose-session';
import { type Request, type Response, Router } from 'express';
import { accountPage, type Device, signInPage } from './account-view';
import { flash, takeFlash } from './flash';
import { destroy, regenerate, save } from './promises';
import { clearMark, type MarkOptions, markSignedIn } from './signed-out';
import { currentUser, parseName, signIn } from './user';
import { describeUserAgent } from './user-agent';

/** What the account routes need from the app. */
export interface AccountOptions extends MarkOptions {
  store: MongooseStore;
  /** The session cookie's name, cleared on sign-out. */
  cookieName: string;
}

/** One entry of `listByUser` as the page shows it. */
function deviceOf(req: Request, s: UserSession): Device {
  const current = s.id === req.sessionID;
  const signedInAt = s.session.signedInAt;
  return {
    current,
    handle: s.handle,
    browser: describeUserAgent(s.userAgent),
    ip: s.ip,
    // The sign-in time the demo carries across the regeneration at the 10th view; the store's
    // createdAt is when this id was first stored.
    signedInAt: typeof signedInAt === 'number' ? new Date(signedInAt) : s.createdAt,
    lastSeenAt: s.lastSeenAt,
    // This request's own expiry is the one express-session is about to write.
    expiresAt: current ? (req.session.cookie.expires ?? s.expiresAt) : s.expiresAt,
  };
}

/** This device first, then the others, most recently seen first. */
function devices(req: Request, sessions: UserSession[]): Device[] {
  const seen = (d: Device) => (d.lastSeenAt ?? d.signedInAt)?.getTime() ?? 0;
  return sessions
    .map((s) => deviceOf(req, s))
    .sort((a, b) => Number(b.current) - Number(a.current) || seen(b) - seen(a));
}

/** The `handle` field of a posted form, if it is one string. */
function handleOf(req: Request): string | undefined {
  const handle = (req.body as Record<string, unknown> | undefined)?.handle;
  return typeof handle === 'string' && handle !== '' ? handle : undefined;
}

/**
 * `/sign-in`, `/account`, `/account/devices/sign-out`, `/account/sign-out-others` and
 * `/sign-out`.
 */
export function account(options: AccountOptions): Router {
  const { store, cookieName } = options;
  const router = Router();
  const see = (res: Response, path: string) => res.redirect(303, path);

  router.get('/sign-in', (req, res) => {
    if (currentUser(req) !== undefined) return see(res, '/account');
    res.type('html').send(signInPage(takeFlash(req, 'info'), takeFlash(req, 'error')));
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
    markSignedIn(res, options);
    see(res, '/account');
  });

  router.get('/account', async (req, res) => {
    const user = currentUser(req);
    if (user === undefined) return see(res, '/sign-in');
    const sessions = await store.listByUser(user);
    const page = accountPage(user, devices(req, sessions), takeFlash(req, 'info'), Date.now());
    res.type('html').send(page);
  });

  router.post('/account/devices/sign-out', async (req, res) => {
    const user = currentUser(req);
    if (user === undefined) return see(res, '/sign-in');
    const handle = handleOf(req);
    const target = (await store.listByUser(user)).find((s) => s.handle === handle);
    if (handle === undefined || target === undefined) {
      flash(req, 'info', 'That device was already signed out.');
    } else if (target.id === req.sessionID) {
      // This device signs out with its own button, which also clears its cookies.
      flash(req, 'info', 'To sign out of this device, use "Sign out of this device".');
    } else {
      const gone = await store.destroyByHandle(user, handle);
      const name = describeUserAgent(target.userAgent).name;
      flash(req, 'info', gone ? `Signed out ${name}.` : 'That device was already signed out.');
    }
    await save(req);
    see(res, '/account');
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
    clearMark(res);
    see(res, '/sign-in');
  });

  return router;
}
