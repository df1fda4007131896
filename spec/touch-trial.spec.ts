// A touch of a loaded session writes its cookie only when it changed beyond its expiry, and a
// read puts the stored expiry back into the cookie: what an express-session app sees of it.
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import { tagOf } from './support/sealed';
import { uniqueCollection, useDatabase } from './support/server';

/**
 * An `originalMaxAge` as a request gave it back, in whole seconds: express-session's
 * resetMaxAge (a rolling or resaved request) now and then gives it back a millisecond short.
 */
const inSeconds = (ms: number | null) => (ms === null ? null : Math.round(ms / 1000));

const db = useDatabase('touchtrial');

const DAY = 86_400_000;
const HOUR = 3_600_000;
type Doc = { _id: string; expiresAt: Date; cookie: unknown; session: unknown };

async function open(options: MongooseStoreOptions = {}, name = uniqueCollection()) {
  const store = await db.open({ collection: name, ...options });
  return { store, name, coll: db.db.collection<Doc>(name) };
}

/** An app whose routes change the loaded session's cookie, not its data: express-session touches. */
function app(
  store: MongooseStore,
  opts: { rolling?: boolean; resave?: boolean; maxAge?: number } = {},
) {
  const a = express();
  a.use(
    session({
      store,
      secret: 'trial secret',
      resave: opts.resave ?? false,
      rolling: opts.rolling ?? false,
      saveUninitialized: false,
      cookie: { maxAge: opts.maxAge ?? HOUR },
    }),
  );
  a.get('/login', (req, res) => {
    (req.session as unknown as Record<string, unknown>).user = 'ann';
    res.json(req.session.cookie);
  });
  const cookieFrom = (req: express.Request) => {
    const c = req.session.cookie;
    const q = req.query as Record<string, string>;
    if (q.maxAge !== undefined)
      c.maxAge = q.maxAge === 'null' ? (null as unknown as number) : Number(q.maxAge);
    if (q.sameSite !== undefined) c.sameSite = q.sameSite as 'strict';
    if (q.path !== undefined) c.path = q.path;
    if (q.domain !== undefined) c.domain = q.domain;
  };
  a.get('/cookie', (req, res) => {
    cookieFrom(req);
    res.json(req.session.cookie);
  });
  // Changes the data too: express-session saves the session (a set, not a touch).
  a.get('/count', (req, res) => {
    cookieFrom(req);
    const s = req.session as unknown as Record<string, number>;
    s.n = (s.n ?? 0) + 1;
    res.json(req.session.cookie);
  });
  a.get('/read', (req, res) => {
    res.json({
      cookie: req.session.cookie,
      user: (req.session as unknown as Record<string, unknown>).user,
    });
  });
  return a;
}

type Seen = {
  originalMaxAge: number | null;
  expires: string | null;
  sameSite?: string;
  path?: string;
};

async function login(a: express.Express) {
  const res = await request(a).get('/login').expect(200);
  return String(res.headers['set-cookie']).split(';')[0];
}

const read = async (a: express.Express, c: string) =>
  (await request(a).get('/read').set('Cookie', c).expect(200)).body as {
    cookie: Seen;
    user: string;
  };

describe('a cookie changed on a loaded session (express-session touches it)', () => {
  it('30 days set by a later request are kept, by this store and a new one on the collection', async () => {
    const { store, name, coll } = await open();
    const a = app(store);
    const c = await login(a);
    await request(a)
      .get(`/cookie?maxAge=${30 * DAY}`)
      .set('Cookie', c)
      .expect(200);
    const seen = await read(a, c);
    expect(inSeconds(seen.cookie.originalMaxAge)).toBe((30 * DAY) / 1000);
    expect(Date.parse(String(seen.cookie.expires))).toBeGreaterThan(Date.now() + 29 * DAY);
    const doc = await coll.findOne({});
    expect(doc?.expiresAt.getTime()).toBeGreaterThan(Date.now() + 29 * DAY);
    const again = await read(app(await db.open({ collection: name })), c);
    expect(inSeconds(again.cookie.originalMaxAge)).toBe((30 * DAY) / 1000);
    // And back to an hour: the server keeps it an hour, not 30 days.
    await request(a).get(`/cookie?maxAge=${HOUR}`).set('Cookie', c).expect(200);
    const back = await read(a, c);
    expect(inSeconds(back.cookie.originalMaxAge)).toBe(HOUR / 1000);
    expect((await coll.findOne({}))?.expiresAt.getTime()).toBeLessThan(Date.now() + 2 * HOUR);
  });

  it('a browser-session cookie (maxAge null) set on a loaded session stays one', async () => {
    // maxAge = the default ttl: the touch's expiry (now + ttl) lands where the stored one was.
    const { store } = await open();
    const a = app(store, { maxAge: 14 * DAY });
    const c = await login(a);
    await request(a).get('/cookie?maxAge=null').set('Cookie', c).expect(200);
    const seen = await read(a, c);
    expect(seen.cookie.expires).toBeNull();
    expect(seen.cookie.originalMaxAge).toBeNull();
  });

  it.each([
    ['sameSite', 'strict'],
    ['path', '/app'],
    ['domain', 'example.com'],
  ])('%s changed on a loaded session is kept', async (field, value) => {
    const { store } = await open();
    const a = app(store);
    const c = await login(a);
    await request(a).get(`/cookie?${field}=${value}`).set('Cookie', c).expect(200);
    // The path cookie is sent on /app paths only by a browser; supertest sends it anyway.
    const seen = await read(a, c);
    expect((seen.cookie as Record<string, unknown>)[field]).toBe(value);
  });
});

describe('a cookie whose fields read like others', () => {
  it('a path that spells out another field is still a change, and is written within touchAfter', async () => {
    const { store, name } = await open({ touchAfter: HOUR });
    const id = 'spelled-out-cookie-id';
    const cookie = { originalMaxAge: HOUR, expires: new Date(Date.now() + HOUR), path: '/a' };
    await store.set(id, { cookie: { ...cookie, domain: 'x' } } as never);
    const loaded = (await store.get(id)) as unknown as { cookie: Record<string, unknown> };
    loaded.cookie.path = '/a"|domain="x';
    loaded.cookie.domain = undefined;
    await store.touch(id, loaded as never);
    const other = await db.open({ collection: name });
    const again = (await other.get(id)) as unknown as { cookie: Record<string, unknown> };
    expect(again.cookie.path).toBe('/a"|domain="x');
    expect(again.cookie.domain ?? null).toBeNull();
  });
});

describe('what a touch writes', () => {
  it('a touch through express-session of an unchanged cookie leaves the stored cookie', async () => {
    const { store, coll } = await open({ touchAfter: 0 });
    const a = app(store);
    const c = await login(a);
    const before = (await coll.findOne({}))?.cookie;
    const at = (await coll.findOne({}))?.expiresAt.getTime() as number;
    await new Promise((r) => setTimeout(r, 20));
    await read(a, c);
    const doc = await coll.findOne({});
    expect(doc?.expiresAt.getTime()).toBeGreaterThan(at);
    expect(doc?.cookie).toEqual(before);
  });
});

describe('what a save of changed data writes', () => {
  it.each([
    ['in clear', {}],
    ['sealed', { secret: 'a secret of thirty-two characters or more, for saves' }],
  ])(
    'a cookie changed only in its expiry is left as stored (%s), and read back with the new one',
    async (_w, options) => {
      const { store, coll } = await open(options);
      const a = app(store, { rolling: true });
      const c = await login(a);
      const before = await coll.findOne({});
      await new Promise((r) => setTimeout(r, 20));
      await request(a).get('/count').set('Cookie', c).expect(200);
      const doc = await coll.findOne({});
      expect(doc?.session).not.toEqual(before?.session);
      expect(doc?.expiresAt.getTime()).toBeGreaterThan(before?.expiresAt.getTime() as number);
      expect(doc?.cookie).toEqual(before?.cookie);
      const seen = await read(a, c);
      expect(inSeconds(seen.cookie.originalMaxAge)).toBe(HOUR / 1000);
      // /read is rolling too: its touch may move the expiry on again, never back.
      expect(Date.parse(String(seen.cookie.expires))).toBeGreaterThanOrEqual(
        doc?.expiresAt.getTime() as number,
      );
    },
  );

  it.each([
    ['sameSite', 'strict', {}],
    ['maxAge', String(30 * DAY), {}],
    ['path', '/app', { secret: 'a secret of thirty-two characters or more, for saves' }],
  ])(
    'a cookie whose %s changed with the data is written with it',
    async (field, value, options) => {
      const { store, coll } = await open(options);
      const a = app(store);
      const c = await login(a);
      const before = await coll.findOne({});
      await request(a).get(`/count?${field}=${value}`).set('Cookie', c).expect(200);
      expect((await coll.findOne({}))?.cookie).not.toEqual(before?.cookie);
      const seen = (
        await read(app(await db.open({ collection: coll.collectionName, ...options })), c)
      ).cookie as Record<string, unknown>;
      // maxAge as the others are read back: in whole seconds (express-session's resetMaxAge
      // may give a millisecond less).
      if (field === 'maxAge')
        expect(inSeconds(seen.originalMaxAge as number)).toBe(Number(value) / 1000);
      else expect(String(seen[field])).toBe(value);
    },
  );

  it('a session saved under an older secret gets its cookie re-encrypted too', async () => {
    const OLD = 'the old secret, thirty-two characters or more';
    const NEW = 'the new secret, thirty-two characters or more!';
    const { store, coll } = await open({ secret: OLD });
    const c = await login(app(store));
    const old = tagOf((await coll.findOne({}))?.cookie);
    const rotated = await db.open({ collection: coll.collectionName, secret: [NEW, OLD] });
    await request(app(rotated)).get('/count').set('Cookie', c).expect(200);
    const doc = await coll.findOne({});
    expect(tagOf(doc?.cookie)).not.toBe(old);
    expect(tagOf(doc?.cookie)).toBe(tagOf(doc?.session));
  });
});

describe('a cookie express-session reset a millisecond short', () => {
  it('is no change: a touch within touchAfter still writes nothing', async () => {
    const { store, coll } = await open({ touchAfter: 60_000 });
    const expires = new Date(Date.now() + HOUR);
    const cookie = { originalMaxAge: HOUR, expires, httpOnly: true, path: '/' };
    await store.set('drift', { cookie, user: 'ann' } as never);
    const before = await coll.findOne({ _id: 'drift' });
    const loaded = (await store.get('drift')) as unknown as { cookie: Record<string, unknown> };
    // resetMaxAge reads the clock twice: now and then originalMaxAge comes back 1 ms short.
    loaded.cookie.originalMaxAge = HOUR - 1;
    loaded.cookie.expires = new Date(expires.getTime() + 500);
    await store.touch('drift', loaded as never);
    const after = await coll.findOne({ _id: 'drift' });
    expect(after?.expiresAt).toEqual(before?.expiresAt);
    expect(after?.cookie).toEqual(before?.cookie);
  });
});

describe('touches across options and instances', () => {
  it('an unchanged cookie within touchAfter is still not written through express-session', async () => {
    const { store, coll } = await open({ touchAfter: 60_000 });
    const a = app(store);
    const c = await login(a);
    const first = await coll.findOne({});
    await new Promise((r) => setTimeout(r, 20));
    await read(a, c);
    await read(a, c);
    expect((await coll.findOne({}))?.expiresAt).toEqual(first?.expiresAt);
  });

  it('rolling + resave: Set-Cookie expiry and stored expiry agree over requests', async () => {
    const { store, coll } = await open();
    const a = app(store, { rolling: true, resave: true });
    const c = await login(a);
    for (let i = 0; i < 5; i++) {
      const res = await request(a).get('/read').set('Cookie', c).expect(200);
      const sent = Date.parse(/Expires=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1] ?? '');
      const stored = (await coll.findOne({}))?.expiresAt.getTime() as number;
      expect(Math.abs(sent - stored)).toBeLessThan(61_000);
      expect(Math.abs(Date.parse(res.body.cookie.expires) - sent)).toBeLessThan(1_000);
      await new Promise((r) => setTimeout(r, 30));
    }
  });

  it('maxLifetime: the expiry get returns never passes createdAt + maxLifetime', async () => {
    const { store, name } = await open({ maxLifetime: 2 * HOUR });
    const a = app(store);
    const c = await login(a);
    const t0 = Date.now();
    await request(a)
      .get(`/cookie?maxAge=${30 * DAY}`)
      .set('Cookie', c)
      .expect(200);
    const seen = await read(a, c);
    expect(Date.parse(String(seen.cookie.expires))).toBeLessThanOrEqual(t0 + 2 * HOUR);
    expect(seen.user).toBe('ann');
    const other = await db.open({ collection: name, maxLifetime: 2 * HOUR });
    const all = await other.all();
    const s = Object.values(all as unknown as Record<string, { cookie: { expires: string } }>)[0];
    expect(Date.parse(s.cookie.expires)).toBeLessThanOrEqual(t0 + 2 * HOUR);
  });

  it('secret rotation: a touch leaves no value under the old secret; instances read each other', async () => {
    const OLD = 'o'.repeat(40);
    const NEW = 'n'.repeat(40);
    const { store, name, coll } = await open({ secret: OLD });
    const c = await login(app(store));
    const oldTag = tagOf((await coll.findOne({}))?.cookie);
    expect(oldTag).toEqual(expect.any(String));
    const rotated = await db.open({ collection: name, secret: [NEW, OLD], touchAfter: 0 });
    const a = app(rotated);
    await read(a, c);
    const doc = await coll.findOne({});
    const newTag = tagOf(doc?.session);
    expect(newTag).toEqual(expect.any(String));
    expect(newTag).not.toBe(oldTag);
    expect(tagOf(doc?.cookie)).toBe(newTag);
    const second = await db.open({ collection: name, secret: [NEW, OLD] });
    const seen = await read(app(second), c);
    expect(seen.user).toBe('ann');
    await request(app(second))
      .get(`/cookie?maxAge=${30 * DAY}`)
      .set('Cookie', c)
      .expect(200);
    expect(inSeconds((await read(a, c)).cookie.originalMaxAge)).toBe((30 * DAY) / 1000);
  });

  it('bson serializer: remember me kept and touch skips the cookie', async () => {
    const { store, coll, name } = await open({ serializer: 'bson', touchAfter: 0 });
    const a = app(store);
    const c = await login(a);
    await request(a)
      .get(`/cookie?maxAge=${30 * DAY}`)
      .set('Cookie', c)
      .expect(200);
    const before = (await coll.findOne({}))?.cookie;
    await new Promise((r) => setTimeout(r, 20));
    const seen = await read(
      app(await db.open({ collection: name, serializer: 'bson', touchAfter: 0 })),
      c,
    );
    expect(inSeconds(seen.cookie.originalMaxAge)).toBe((30 * DAY) / 1000);
    expect(Date.parse(String(seen.cookie.expires))).toBeGreaterThan(Date.now() + 29 * DAY);
    expect((await coll.findOne({}))?.cookie).toEqual(before);
  });
});
