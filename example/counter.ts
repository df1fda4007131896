// The page at `/`: the seed README's counter (a per-session count, flash messages, the live
// session count, and a new session id at the 10th view), saying what the store does.
import type { MongooseStore } from 'connect-mongoose-session';
import { type Request, type Response, Router } from 'express';
import { flash, takeFlash } from './flash';
import { escapeHtml, flashes, layout } from './html';
import { regenerate, save } from './promises';
import { currentUser, takeSignIn } from './user';

declare module 'express-session' {
  interface SessionData {
    /** Views of `/` in this session. */
    count: number;
  }
}

const TITLE = 'Session counter - connect-mongoose-session demo';
/** The view that gives the session a new id. */
const REGENERATE_AT = 10;

function accountLink(user: string | undefined): string {
  return user === undefined
    ? '<p><a class="cta" href="/sign-in">Sign in</a> to see your devices</p>'
    : `<p class="muted">Signed in as <strong>${escapeHtml(user)}</strong></p>
<p><a class="cta" href="/account">Your devices</a></p>`;
}

/** What the store does for this view. */
function what(count: number): string {
  return count === 1
    ? 'This session had no count yet: the store saves it with view 1.'
    : `The store read this session at view ${count - 1}, and saves view ${count}.`;
}

function page(info: string[], online: number, count: number, user: string | undefined): string {
  return layout({
    title: TITLE,
    body: `<h1>Session counter</h1>
${flashes(info)}
<p>Each view of this page adds one to a number kept in your session, which
connect-mongoose-session stores as one MongoDB document. At view ${REGENERATE_AT}, the session
gets a new id, as a sign-in does.</p>
<div class="stats">
<p class="stat"><span class="num" id="count">${count}</span> ${count === 1 ? 'view' : 'views'} in this session</p>
<p class="stat"><span class="num" id="online">${online}</span> live ${online === 1 ? 'session' : 'sessions'} in the store</p>
</div>
<p class="did">${what(count)}</p>
<form method="post"><button type="submit">Count again</button></form>
${accountLink(user)}`,
  });
}

/** `GET /` and `POST /`, as the seed's example, with a redirect after the POST. */
export function counter(store: MongooseStore): Router {
  const router = Router();
  router.get('/', async (req: Request, res: Response) => {
    req.session.count = (req.session.count ?? 0) + 1;
    if (req.session.count < REGENERATE_AT) {
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
    flash(req, 'info', 'New session: the store deleted the old id and saved this one.');
    // Saved before the page goes out: express-session writes most of the body before its own
    // save ends, and a browser that follows the link at once would read no session yet.
    await save(req);
    res.type('html').send(
      layout({
        title: TITLE,
        body: `<h1>Session counter</h1>
<p id="regenerated">View ${REGENERATE_AT}: regenerated session. Your session has a new id; the old
one is deleted from the store, and the count starts again.</p>
<p><a class="cta" href="/">Back to the counter</a></p>`,
      }),
    );
  });
  // The button's POST redirects to the page view, and the view does the counting: a click
  // still counts once, and reloading the page never posts again.
  router.post('/', (_req: Request, res: Response) => res.redirect(303, '/'));
  return router;
}
