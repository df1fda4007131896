// The seed README's page at `/`: a per-session count, flash messages, `online : N`, and a new
// session at the 10th view.
import type { MongooseStore } from 'connect-mongoose-session';
import { type Request, type Response, Router } from 'express';
import { flash, takeFlash } from './flash';
import { flashes, layout } from './html';
import { regenerate } from './promises';

declare module 'express-session' {
  interface SessionData {
    /** Views of `/` in this session. */
    count: number;
  }
}

const TITLE = 'connect-mongoose-session - sample';

function page(info: string[], online: number, count: number): string {
  return layout({
    title: TITLE,
    body: `${flashes(info)}
<form method="post">
<input type="hidden" name="foo" value="bar">
<input type="submit" value="POST request!">
</form>
<hr>
<p id="online">online : ${online}</p>
<p id="count">count: ${count}</p>`,
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
      res.type('html').send(page(info, online, req.session.count));
      return;
    }
    await regenerate(req);
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
