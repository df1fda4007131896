// The seed README's page at `/`: a per-session count, flash messages, `online : N`, and a new
// session at the 10th view.
import type { MongooseStore } from 'connect-mongoose-session';
import { type Request, type Response, Router } from 'express';
import { flash, takeFlash } from './flash';
import { escapeHtml, flashes, layout } from './html';
import { regenerate } from './promises';
import { currentUser, takeSignIn } from './user';

declare module 'express-session' {
  interface SessionData {
    /** Views of `/` in this session. */
    count: number;
  }
}

const TITLE = 'connect-mongoose-session - sample';

function accountLink(user: string | undefined): string {
  return user === undefined
    ? '<nav><a href="/sign-in">Sign in</a> to see your devices</nav>'
    : `<nav>Signed in as <strong>${escapeHtml(user)}</strong> · <a href="/account">Your devices</a></nav>`;
}

function page(info: string[], online: number, count: number, user: string | undefined): string {
  return layout({
    title: TITLE,
    body: `${flashes(info)}
<form method="post">
<input type="hidden" name="foo" value="bar">
<input type="submit" value="POST request!">
</form>
<hr>
<p id="online">online : ${online}</p>
<p id="count">count: ${count}</p>
${accountLink(user)}`,
  });
}

/** `GET /` and `POST /`, as the seed's example, with a redirect after the POST. */
export function counter(store: MongooseStore): Router {
  const router = Router();
  router.get('/', async (req: Request, res: Response) => {
    req.session.count = (req.session.count ?? 0) + 1;
    if (req.session.count < 10) {
      const info = takeFlash(req, 'info');
      const online = await store.length();
      res.type('html').send(page(info, online, req.session.count, currentUser(req)));
      return;
    }
    // A new id, as the seed does, but whoever was signed in stays signed in: regenerating
    // is what a login should do, not a reason to log out.
    const signIn = takeSignIn(req);
    await regenerate(req);
    if (signIn !== undefined) Object.assign(req.session, signIn);
    flash(req, 'info', `New session. ${req.sessionID}`);
    res.type('html').send(
      layout({
        title: TITLE,
        body: '<p>regenerated session.</p>\n<p><a href="/">Back to the counter</a></p>',
      }),
    );
  });
  // The button's POST redirects to the page view, and the view does the counting: a click
  // still counts once, and reloading the page never posts again.
  router.post('/', (_req: Request, res: Response) => res.redirect(303, '/'));
  return router;
}
