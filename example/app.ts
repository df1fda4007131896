import type { MongooseStore } from 'connect-mongoose-session';
import express, { type Express, type Request, type Response } from 'express';
import session from 'express-session';
import { flash, takeFlash } from './flash';

declare module 'express-session' {
  interface SessionData {
    count: number;
  }
}

/** The demo's settings; see example/server.ts for where they come from. */
export interface DemoOptions {
  store: MongooseStore;
  secret: string;
  /** Session cookie lifetime in ms. */
  maxAge: number;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

function page(info: string[], online: number, count: number): string {
  const flashes = info.map((m) => `<p class="flash">${escapeHtml(m)}</p>`).join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>connect-mongoose-session - sample</title></head>
<body>
${flashes}
<form method="post">
<input type="hidden" name="foo" value="bar">
<input type="submit" value="POST request!">
</form>
<hr>
<p id="online">online : ${online}</p>
<p id="count">count: ${count}</p>
</body></html>`;
}

/** The seed README's example on today's express: a counter, flash, "online" and regenerate at 10. */
export function createApp({ store, secret, maxAge }: DemoOptions): Express {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      name: 'sid',
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      cookie: { path: '/', httpOnly: true, maxAge },
    }),
  );
  const handler = async (req: Request, res: Response) => {
    req.session.count = (req.session.count ?? 0) + 1;
    if (req.session.count < 10) {
      const info = takeFlash(req, 'info');
      const online = await store.length();
      res.type('html').send(page(info, online, req.session.count));
      return;
    }
    req.session.regenerate((err) => {
      if (err) {
        res.status(500).type('text').send('could not regenerate the session');
        return;
      }
      flash(req, 'info', `New session. ${req.sessionID}`);
      res.type('html').send('regenerated session.');
    });
  };
  app.get('/', handler);
  app.post('/', handler);
  return app;
}
