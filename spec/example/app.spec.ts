import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { sign } from 'cookie-signature';
import request from 'supertest';
import { createApp } from '../../example/app';
import { cookie, sid, useDatabase } from '../support/server';

const db = useDatabase('example');
const ROOT = join(__dirname, '..', '..');

const countOf = (html: string) => Number(/count: (\d+)/.exec(html)?.[1]);
const onlineOf = (html: string) => Number(/online : (\d+)/.exec(html)?.[1]);

describe('the demo app', () => {
  it('counts 1..9, regenerates at 10, then shows the flash with the new id and starts at 1', async () => {
    const store = await db.open();
    const agent = request.agent(createApp({ store, secret: 's', maxAge: 60_000 }));
    for (let n = 1; n <= 9; n++) {
      // The POST answers 303 to `/`, and that view counts: one click, one count.
      const res =
        n % 2
          ? await agent.get('/')
          : await agent.post('/').type('form').send({ foo: 'bar' }).redirects(1);
      expect(countOf(res.text)).toBe(n);
      expect(res.text).toContain('value="POST request!"');
    }
    const tenth = await agent.get('/').expect(200);
    expect(tenth.text).toContain('<p>regenerated session.</p>');
    expect(tenth.text).toContain('<a href="/">');
    const newId = decodeURIComponent(tenth.headers['set-cookie'][0])
      .split(';')[0]
      .slice('sid=s:'.length)
      .split('.')[0];
    const eleventh = await agent.get('/').expect(200);
    expect(eleventh.text).toContain(`New session. ${newId}`);
    expect(countOf(eleventh.text)).toBe(1);
    expect(eleventh.text.indexOf('New session.')).toBeLessThan(eleventh.text.indexOf('online : '));
    expect(eleventh.text.indexOf('online : ')).toBeLessThan(eleventh.text.indexOf('count: '));
    // The flash is shown once.
    expect((await agent.get('/')).text).not.toContain('New session.');
  });

  it('shows online : 2 with two clients at once', async () => {
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

describe('the demo app: POST / and the regeneration', () => {
  it('answers POST / with a 303 to /, which counts the click', async () => {
    const store = await db.open();
    const agent = request.agent(createApp({ store, secret: 's', maxAge: 60_000 }));
    await agent.get('/');
    await agent.post('/').type('form').send({ foo: 'bar' }).expect(303).expect('Location', '/');
    expect(countOf((await agent.get('/')).text)).toBe(2);
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

/** Spawns the demo as `npm start` runs it (without the build), on the embedded server. */
function startDemo(port: number) {
  const env = { ...process.env, PORT: String(port), SESSION_SECRET: 'x' } as NodeJS.ProcessEnv;
  delete env.MONGODB_URI;
  const child = spawn(
    process.execPath,
    [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'example/server.ts'],
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

describe('npm start', () => {
  it('prints its URL, serves the page, and leaves no server or temp dir behind on SIGINT', async () => {
    const demo = startDemo(0);
    const url = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no URL printed:\n${demo.out}`)), 60_000);
      demo.child.stdout.on('data', () => {
        const m = /demo on (http:\/\/localhost:\d+\/)/.exec(demo.out);
        if (m) {
          clearTimeout(timer);
          ok(m[1]);
        }
      });
    });
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
