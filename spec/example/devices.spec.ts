import { sign } from 'cookie-signature';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../example/app';
import type { MongooseStore } from '../../lib/index';
import { eventually, sid, useDatabase } from '../support/server';

const db = useDatabase('devices');

const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const EDGE_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0';

type Agent = ReturnType<typeof request.agent>;

/** An agent that sends `userAgent` with every request. */
function browser(app: Express, userAgent: string): Agent {
  return request.agent(app).set('User-Agent', userAgent);
}

async function signIn(agent: Agent, name: string): Promise<void> {
  await agent
    .post('/sign-in')
    .type('form')
    .send({ name })
    .expect(303)
    .expect('Location', '/account');
}

/** The handle in the form of the device named `label` on `page`. */
function handleFor(page: string, label: string): string {
  const item = page.split('<li ').find((li) => li.includes(`aria-label="Sign out ${label}"`));
  const handle = /name="handle" value="([^"]+)"/.exec(item ?? '')?.[1];
  if (handle === undefined) throw new Error(`no sign-out form for ${label} on the page:\n${page}`);
  return handle;
}

describe('the devices page', () => {
  let store: MongooseStore;
  let app: Express;
  beforeEach(async () => {
    store = await db.open({ metadata: { ip: true, userAgent: true } });
    app = createApp({ store, secret: 's', maxAge: 600_000 });
  });

  it('shows each device as browser and OS, its IP and when it signed in, and no session id', async () => {
    const linux = browser(app, FIREFOX_LINUX);
    const phone = browser(app, SAFARI_IPHONE);
    await signIn(linux, 'ann');
    await signIn(phone, 'ann');
    const page = (await linux.get('/account').expect(200)).text;
    expect(page).toContain('<strong class="browser">Firefox 128 on Linux</strong>');
    expect(page).toContain('<strong class="browser">Safari 17 on iOS</strong>');
    expect(page).toMatch(/Phone · IP <span class="ip">[^<]*127\.0\.0\.1<\/span>/);
    expect(page).toMatch(/Signed in <time datetime="[^"]+" title="[^"]+ UTC">just now<\/time>/);
    // This device is marked, and has no button of its own: it signs out below.
    const mine = page.split('<li ').find((li) => li.includes('class="session current"')) ?? '';
    expect(mine).toContain('Firefox 128 on Linux');
    expect(mine).toContain('<span class="badge">This device</span>');
    expect(mine).not.toContain('name="handle"');
    for (const s of await store.listByUser('ann')) expect(page).not.toContain(s.id);
    // The raw user agent is not printed: it says little to a person.
    expect(page).not.toContain('Gecko/20100101');
  });

  it('signs out one device with its button; that device hears why at its next page, the others stay', async () => {
    const linux = browser(app, FIREFOX_LINUX);
    const phone = browser(app, SAFARI_IPHONE);
    const windows = browser(app, EDGE_WINDOWS);
    for (const agent of [linux, phone, windows]) await signIn(agent, 'ann');
    const page = (await linux.get('/account')).text;
    await linux
      .post('/account/devices/sign-out')
      .type('form')
      .send({ handle: handleFor(page, 'Safari 17 on iOS') })
      .expect(303)
      .expect('Location', '/account');
    const after = (await linux.get('/account').expect(200)).text;
    expect(after).toContain('<p class="flash">Signed out Safari 17 on iOS.</p>');
    expect(after).toContain('on 2 devices.');

    await phone.get('/account').expect(303).expect('Location', '/sign-in');
    const signInPage = (await phone.get('/sign-in').expect(200)).text;
    expect(signInPage).toContain(
      '<p class="flash notice">You were signed out from another device.</p>',
    );
    // Said once.
    expect((await phone.get('/sign-in')).text).not.toContain('signed out from another device');
    await windows.get('/account').expect(200);
    expect((await store.listByUser('ann')).map((s) => s.userAgent).sort()).toEqual(
      [EDGE_WINDOWS, FIREFOX_LINUX].sort(),
    );
  });

  it('shows the message on the counter too, when that is the next page', async () => {
    const linux = browser(app, FIREFOX_LINUX);
    const phone = browser(app, SAFARI_IPHONE);
    await signIn(linux, 'ann');
    await signIn(phone, 'ann');
    await linux.post('/account/sign-out-others').expect(303);
    const home = (await phone.get('/').expect(200)).text;
    expect(home).toContain('<p class="flash">You were signed out from another device.</p>');
    expect(home).toContain('href="/sign-in"');
  });

  it("never signs out another user's device, nor this one, by a posted handle", async () => {
    const ann = browser(app, FIREFOX_LINUX);
    const bob = browser(app, EDGE_WINDOWS);
    await signIn(ann, 'ann');
    await signIn(bob, 'bob');
    const [bobs] = await store.listByUser('bob');
    const [anns] = await store.listByUser('ann');
    for (const handle of [bobs.handle, anns.handle, 'nonsense', '']) {
      await ann.post('/account/devices/sign-out').type('form').send({ handle }).expect(303);
    }
    expect(await store.listByUser('bob')).toHaveLength(1);
    const page = (await ann.get('/account').expect(200)).text;
    expect(page).toContain('That device was already signed out.');
    expect(page).toContain('To sign out of this device, use');
    await bob.get('/account').expect(200);
  });

  it('says nothing of another device after signing out here with "Sign out of this device"', async () => {
    const agent = browser(app, FIREFOX_LINUX);
    await signIn(agent, 'ann');
    await agent.post('/sign-out').expect(303).expect('Location', '/sign-in');
    const page = (await agent.get('/sign-in').expect(200)).text;
    expect(page).not.toContain('<p class="flash');
  });

  it('says the session ran out, not "another device", when it expired unused', async () => {
    // The browser's cookies after a session that expired a second ago: the mark holds that
    // expiry, and the session cookie names a session the store no longer has.
    const mark = sign(String(Date.now() - 1_000), 's');
    const cookies = [
      `sid=${encodeURIComponent(`s:${sign(sid(), 's')}`)}`,
      `signed-in=${encodeURIComponent(mark)}`,
    ].join('; ');
    const res = await request(app).get('/account').set('Cookie', cookies).expect(303);
    const set = res.headers['set-cookie'] as unknown as string[];
    expect(set.join('\n')).toMatch(/signed-in=;.*Expires=Thu, 01 Jan 1970/);
    const next = set.find((c) => c.startsWith('sid=')) ?? '';
    const page = (await request(app).get('/sign-in').set('Cookie', next.split(';')[0])).text;
    expect(page).toContain('Your session ended after 10 minutes without use. Sign in again.');
    expect(page).not.toContain('another device');
  });

  it('ignores a forged mark', async () => {
    const res = await request(app)
      .get('/')
      .set('Cookie', `signed-in=${String(Date.now() + 600_000)}`)
      .expect(200);
    expect(res.text).not.toContain('signed out');
  });

  it('says the session ran out once the store has expired it', async () => {
    const short = createApp({ store, secret: 's', maxAge: 1_500 });
    const agent = browser(short, FIREFOX_LINUX);
    await signIn(agent, 'ann');
    await eventually(async () => (await store.listByUser('ann')).length === 0, 10_000, 'expiry');
    const page = (await agent.get('/').expect(200)).text;
    expect(page).toContain('Your session ended after 2 seconds without use.');
  });
});

describe('the counter page', () => {
  it('has a heading, says what the store did, the live count, and links to the devices', async () => {
    const store = await db.open({ metadata: { ip: true, userAgent: true } });
    const app = createApp({ store, secret: 's', maxAge: 600_000 });
    const agent = browser(app, FIREFOX_LINUX);
    const first = (await agent.get('/').expect(200)).text;
    expect(first).toContain('<h1>Session counter</h1>');
    expect(first).toContain('This session had no count yet: the store saves it with view 1.');
    await browser(app, EDGE_WINDOWS).get('/');
    await signIn(agent, 'ann');
    const page = (await agent.get('/').expect(200)).text;
    expect(page).toContain('<span class="num" id="online">2</span> live sessions in the store');
    expect(page).toContain('This session had no count yet');
    const next = (await agent.get('/').expect(200)).text;
    expect(next).toContain('The store read this session at view 1, and saves view 2.');
    expect(page).toContain('<a class="cta" href="/account">Your devices</a>');
    for (const s of await store.listByUser('ann')) expect(page).not.toContain(s.id);
  });
});
