import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sign } from 'cookie-signature';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../example/app';
import type { MongooseStore } from '../../lib/index';
import { cookie, sid, useDatabase } from '../support/server';

const db = useDatabase('example');
const ROOT = join(__dirname, '..', '..');

const countOf = (html: string) => Number(/id="count">(\d+)</.exec(html)?.[1]);
const onlineOf = (html: string) => Number(/id="online">(\d+)</.exec(html)?.[1]);

describe('the demo app', () => {
  it('counts 1..9, regenerates at 10, then says so without the id and starts at 1', async () => {
    const store = await db.open();
    const agent = request.agent(createApp({ store, secret: 's', maxAge: 60_000 }));
    for (let n = 1; n <= 9; n++) {
      // The POST answers 303 to `/`, and that view counts: one click, one count.
      const res =
        n % 2
          ? await agent.get('/')
          : await agent.post('/').type('form').send({ foo: 'bar' }).redirects(1);
      expect(countOf(res.text)).toBe(n);
      expect(res.text).toContain('<button type="submit">Count again</button>');
    }
    const tenth = await agent.get('/').expect(200);
    expect(tenth.text).toContain('regenerated session.');
    expect(tenth.text).toContain('href="/">Back to the counter</a>');
    const newId = decodeURIComponent(tenth.headers['set-cookie'][0])
      .split(';')[0]
      .slice('sid=s:'.length)
      .split('.')[0];
    const eleventh = await agent.get('/').expect(200);
    expect(eleventh.text).toContain(
      '<p class="flash">New session: the store deleted the old id and saved this one.</p>',
    );
    // No session id on any page: a page can be shared, screenshotted, or read by a script.
    for (const page of [tenth.text, eleventh.text]) expect(page).not.toContain(newId);
    expect(countOf(eleventh.text)).toBe(1);
    expect(eleventh.text.indexOf('New session:')).toBeLessThan(eleventh.text.indexOf('id="count"'));
    // The flash is shown once.
    expect((await agent.get('/')).text).not.toContain('New session:');
  });

  it('shows 2 live sessions with two clients at once', async () => {
    const store = await db.open();
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    const a = request.agent(app);
    const b = request.agent(app);
    await Promise.all([a.get('/'), b.get('/')]);
    expect(onlineOf((await a.get('/')).text)).toBe(2);
  });

  it('escapes what it prints', async () => {
    const store = await db.open();
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    // Plant a session whose flash holds markup, then present its signed cookie.
    const id = sid();
    await store.set(id, {
      cookie: cookie(),
      count: 1,
      flash: { info: ['<script>alert(1)</script> & "x"'] },
    } as never);
    const res = await request(app)
      .get('/')
      .set('Cookie', `sid=${encodeURIComponent(`s:${sign(id, 's')}`)}`)
      .expect(200);
    expect(countOf(res.text)).toBe(2);
    expect(res.text).not.toContain('<script>');
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;');
  });
});

/** The session id in a response's `sid` cookie, if it sets one. */
function idOf(res: request.Response): string | undefined {
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const sid = cookies.find((c) => c.startsWith('sid='));
  if (sid === undefined) return undefined;
  return decodeURIComponent(sid.split(';')[0]).slice('sid=s:'.length).split('.')[0];
}

/** Posts the sign-in form as `agent`, expecting the 303 to /account; gives the new id. */
async function signIn(agent: Agent, name: string): Promise<string> {
  const res = await agent
    .post('/sign-in')
    .type('form')
    .send({ name })
    .expect(303)
    .expect('Location', '/account');
  return idOf(res) as string;
}

type Agent = ReturnType<typeof request.agent>;

describe('the demo app: POST / and the regeneration', () => {
  it('answers POST / with a 303 to /, which counts the click', async () => {
    const store = await db.open();
    const agent = request.agent(createApp({ store, secret: 's', maxAge: 60_000 }));
    await agent.get('/');
    await agent.post('/').type('form').send({ foo: 'bar' }).expect(303).expect('Location', '/');
    expect(countOf((await agent.get('/')).text)).toBe(2);
  });

  it('keeps the signed-in user across the regeneration at 10, under the new id only', async () => {
    const store = await db.open();
    const agent = request.agent(createApp({ store, secret: 's', maxAge: 60_000 }));
    const before = await signIn(agent, 'ann');
    for (let n = 1; n <= 9; n++) await agent.get('/');
    const after = idOf(await agent.get('/').expect(200));
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect((await store.listByUser('ann')).map((s) => s.id)).toEqual([after]);
  });

  it('links to the sign-in from /, and to the account once signed in', async () => {
    const store = await db.open();
    const agent = request.agent(createApp({ store, secret: 's', maxAge: 60_000 }));
    expect((await agent.get('/')).text).toContain('<a class="cta" href="/sign-in">Sign in</a>');
    await signIn(agent, 'ann');
    const res = await agent.get('/');
    expect(res.text).toContain('Signed in as <strong>ann</strong>');
    expect(res.text).toContain('<a class="cta" href="/account">Your devices</a>');
  });
});

describe('the demo app: the account flow', () => {
  let store: MongooseStore;
  let app: Express;
  beforeEach(async () => {
    store = await db.open();
    app = createApp({ store, secret: 's', maxAge: 60_000 });
  });

  it('signs in with a new session id, stored under passport.user, and redirects to /account', async () => {
    const agent = request.agent(app);
    const first = idOf(await agent.get('/'));
    const id = await signIn(agent, 'ann');
    expect(id).not.toBe(first);
    expect(await store.get(first as string)).toBeNull();
    const [only] = await store.listByUser('ann');
    expect(only.id).toBe(id);
    expect(only.session.passport).toEqual({ user: 'ann' });
  });

  it('trims the name, and takes one of 64 characters', async () => {
    await signIn(request.agent(app), '  ann  ');
    await signIn(request.agent(app), 'x'.repeat(64));
    expect(await store.listByUser('ann')).toHaveLength(1);
    expect(await store.listByUser('x'.repeat(64))).toHaveLength(1);
  });

  it.each([
    ['an empty name', { name: '' }],
    ['a blank name', { name: ' \t ' }],
    ['a name of 65 characters', { name: 'x'.repeat(65) }],
    ['no name field', {}],
    ['a repeated name field', 'name=a&name=b'],
  ])('refuses %s with a 303 back to /sign-in and an error there', async (_what, body) => {
    const agent = request.agent(app);
    await agent.post('/sign-in').type('form').send(body).expect(303).expect('Location', '/sign-in');
    const page = await agent.get('/sign-in').expect(200);
    expect(page.text).toContain('<p class="flash error">Type a name of 1 to 64 characters.</p>');
    await agent.get('/account').expect(303).expect('Location', '/sign-in');
  });

  it('lists both sessions of a user on each, marking this device, with no session id', async () => {
    const a = request.agent(app);
    const b = request.agent(app);
    const ids = [await signIn(a, 'ann'), await signIn(b, 'ann')];
    await signIn(request.agent(app), 'bob');
    for (const agent of [a, b]) {
      const page = (await agent.get('/account').expect(200)).text;
      expect(page).toContain('Signed in as <strong id="user">ann</strong> on 2 devices.');
      expect(page.match(/<li class="session current">/g)).toHaveLength(1);
      expect(page.match(/<li class="session">/g)).toHaveLength(1);
      // This device comes first, marked.
      expect(page.indexOf('<li class="session current">')).toBeLessThan(
        page.indexOf('<li class="session">'),
      );
      expect(page).toContain('<span class="badge">This device</span>');
      expect(page).toMatch(/Expires <time datetime="[^"]+"[^>]*>in \d+ (seconds|minutes?)<\/time>/);
      for (const id of ids) expect(page).not.toContain(id);
    }
  });

  it('shows the sign-in message once, on the account page', async () => {
    const agent = request.agent(app);
    await signIn(agent, 'ann');
    expect((await agent.get('/account')).text).toContain('<p class="flash">Signed in as ann.</p>');
    expect((await agent.get('/account')).text).not.toContain('Signed in as ann.');
  });

  it('signs out the other devices, keeps this one, and redirects to /account with the count', async () => {
    const a = request.agent(app);
    const b = request.agent(app);
    const c = request.agent(app);
    const keep = await signIn(a, 'ann');
    await signIn(b, 'ann');
    await signIn(c, 'ann');
    await a.post('/account/sign-out-others').expect(303).expect('Location', '/account');
    expect((await store.listByUser('ann')).map((s) => s.id)).toEqual([keep]);
    const page = (await a.get('/account').expect(200)).text;
    expect(page).toContain('<p class="flash">Signed out 2 other devices.</p>');
    expect(page).toContain(' on 1 device.');
    expect(page).not.toContain('Sign out all other devices');
    await b.get('/account').expect(303).expect('Location', '/sign-in');
  });

  it('signs out this device: deleted, cookie cleared, and a 303 to /sign-in', async () => {
    const agent = request.agent(app);
    const id = await signIn(agent, 'ann');
    const res = await agent.post('/sign-out').expect(303).expect('Location', '/sign-in');
    expect(res.headers['set-cookie']?.[0]).toMatch(/^sid=;.*Expires=Thu, 01 Jan 1970/);
    expect(await store.get(id)).toBeNull();
    expect(await store.listByUser('ann')).toEqual([]);
    await agent.get('/account').expect(303).expect('Location', '/sign-in');
  });

  it('sends /account to /sign-in when signed out, and /sign-in to /account when signed in', async () => {
    const agent = request.agent(app);
    await agent.get('/account').expect(303).expect('Location', '/sign-in');
    await agent.post('/account/sign-out-others').expect(303).expect('Location', '/sign-in');
    await signIn(agent, 'ann');
    await agent.get('/sign-in').expect(303).expect('Location', '/account');
  });

  it('escapes the name wherever it prints it', async () => {
    const agent = request.agent(app);
    await signIn(agent, '<b>&"');
    const escaped = '&lt;b&gt;&amp;&quot;';
    const account = (await agent.get('/account')).text;
    expect(account).toContain(`Signed in as <strong id="user">${escaped}</strong>`);
    expect(account).toContain(`<p class="flash">Signed in as ${escaped}.</p>`);
    const home = (await agent.get('/')).text;
    expect(home).toContain(`Signed in as <strong>${escaped}</strong>`);
    for (const page of [account, home]) expect(page).not.toContain('<b>');
  });

  it('gives every page a viewport meta tag, and the account pages a heading', async () => {
    const agent = request.agent(app);
    const viewport = '<meta name="viewport" content="width=device-width, initial-scale=1">';
    const signInForm = (await agent.get('/sign-in')).text;
    expect(signInForm).toContain('<h1>Sign in</h1>');
    await signIn(agent, 'ann');
    const account = (await agent.get('/account')).text;
    expect(account).toContain('<h1>Your devices</h1>');
    for (const page of [signInForm, account, (await agent.get('/')).text])
      expect(page).toContain(viewport);
  });
});

const portOpen = (port: number) =>
  new Promise<boolean>((ok) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      ok(true);
    });
    s.once('error', () => ok(false));
  });

/**
 * Spawns the demo as `npm start` runs it (without the build), on the embedded server. Through
 * tsx's loader, not its CLI: the CLI's parent process waits 30 ms for the demo to confirm a
 * relayed SIGINT and otherwise kills it with SIGKILL, which a loaded machine can miss.
 */
function startDemo(port: number, extra: Record<string, string> = {}) {
  const env = {
    ...process.env,
    PORT: String(port),
    SESSION_SECRET: 'x',
    ...extra,
  } as NodeJS.ProcessEnv;
  delete env.MONGODB_URI;
  const child = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href,
      'example/server.ts',
    ],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const demo = {
    child,
    out: '',
    exited: new Promise<number | null>((ok) => child.once('exit', (code) => ok(code))),
    /** The data directory the demo printed, if it started the embedded FerretDB. */
    dataDir: () => /data directory: (\S+)/.exec(demo.out)?.[1],
  };
  child.stdout.on('data', (d) => {
    demo.out += d;
  });
  child.stderr.on('data', (d) => {
    demo.out += d;
  });
  return demo;
}

/** The URL the demo prints once it listens. */
function urlOf(demo: ReturnType<typeof startDemo>): Promise<string> {
  return new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no URL printed:\n${demo.out}`)), 60_000);
    const check = () => {
      const m = /demo on (http:\/\/localhost:\d+\/)/.exec(demo.out);
      if (!m) return;
      clearTimeout(timer);
      ok(m[1] as string);
    };
    demo.child.stdout.on('data', check);
    check();
  });
}

describe('npm start', () => {
  it('prints its URL, serves the page, and leaves no server or temp dir behind on SIGINT', async () => {
    const demo = startDemo(0);
    const url = await urlOf(demo);
    const dbPort = Number(/mongodb:\/\/[^:]+:(\d+)/.exec(demo.out)?.[1] ?? 0);
    const res = await request(url).get('/').expect(200);
    expect(countOf(res.text)).toBe(1);

    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(await portOpen(Number(new URL(url).port))).toBe(false);
    if (dbPort) expect(await portOpen(dbPort)).toBe(false);
    // Only the demo's own data dir: other spec files start servers of their own meanwhile.
    const dir = demo.dataDir();
    if (dir !== undefined) expect(existsSync(dir)).toBe(false);
  }, 90_000);

  it('logs each session that expires, with a short tag and never its id', async () => {
    const demo = startDemo(0, { SESSION_MAX_AGE: '1000', LIFECHECK: '200' });
    try {
      const url = await urlOf(demo);
      const res = await request(url).get('/').expect(200);
      const id = decodeURIComponent(String(res.headers['set-cookie']?.[0] ?? '')).split(/[:.=]/)[2];
      await new Promise<void>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no expiry logged:\n${demo.out}`)), 30_000);
        const check = () => {
          if (!/a session expired after \d+ min idle \(#[0-9a-f]{8}\)/.test(demo.out)) return;
          clearTimeout(timer);
          ok();
        };
        demo.child.stdout.on('data', check);
        check();
      });
      expect(id?.length).toBeGreaterThan(10);
      expect(demo.out).not.toContain(id as string);
    } finally {
      demo.child.kill('SIGINT');
      await demo.exited;
    }
  }, 90_000);

  describe('with its port taken', () => {
    const holder = createServer();
    let port = 0;
    beforeAll(async () => {
      // No host: the demo listens on every address, so this must hold them all.
      await new Promise<void>((ok) => holder.listen(0, ok));
      port = (holder.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise((done) => holder.close(done));
    });

    it('says the port is in use, exits with 1, and removes its data directory', async () => {
      const demo = startDemo(port);
      expect(await demo.exited).toBe(1);
      expect(demo.out).toContain(`port ${port} is in use; set PORT`);
      expect(demo.out).not.toContain('TypeError');
      const dir = demo.dataDir();
      if (dir !== undefined) expect(existsSync(dir)).toBe(false);
    }, 90_000);
  });
});

describe('the icon a browser asks for beside every page', () => {
  it('is answered without loading or touching the session', async () => {
    const store = await db.open();
    const calls: string[] = [];
    for (const method of ['get', 'touch', 'set'] as const) {
      const original = store[method].bind(store) as (...args: unknown[]) => unknown;
      (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        calls.push(method);
        return original(...args);
      };
    }
    const agent = request.agent(createApp({ store, secret: 's', maxAge: 60_000 }));
    await agent.get('/').expect(200);
    calls.length = 0;
    await agent.get('/favicon.ico').expect(204);
    expect(calls).toEqual([]);
  });
});
