// A save of a loaded session whose cookie changed only in its expiry leaves the stored cookie
// as it is. What an express-session app must still see: every cookie change kept, every
// document with its cookie, every read with the cookie and expiry last saved.
import express from 'express';
import session, { type SessionData } from 'express-session';
import request from 'supertest';
import { fullWrite, type Presence } from '../lib/document';
import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import { tagOf } from './support/sealed';
import { cookie, eventually, sid, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('savetrial');

const HOUR = 3_600_000;
const SECRET = 'a secret for the save trial, thirty-two characters';
type Doc = { _id: string; expiresAt?: Date; expires?: Date; cookie?: unknown; session?: unknown };
type Seen = {
  cookie: { originalMaxAge: number | null; expires: string | null };
  user?: string;
  n?: number;
};

async function open(options: MongooseStoreOptions = {}, name = uniqueCollection()) {
  const store = await db.open({ collection: name, autoIndex: false, lifecheck: -1, ...options });
  return { store, name, coll: db.db.collection<Doc>(name) };
}

/** A request held after express-session loaded its session, until the spec lets it go on. */
class Held {
  #arrived!: () => void;
  readonly arrived = new Promise<void>((ok) => {
    this.#arrived = ok;
  });
  #go!: () => void;
  readonly released = new Promise<void>((ok) => {
    this.#go = ok;
  });
  arrive(): void {
    this.#arrived();
  }
  release(): void {
    this.#go();
  }
}

/**
 * Starts a request on `/held` with cookie `c`, and gives it once the app has loaded its
 * session and waits for `held.release()`. In an object: a promise given back by an async
 * function would be awaited.
 */
async function holding(a: express.Express, c: string, held: Held) {
  const late = request(a)
    .get('/held')
    .set('Cookie', c)
    .then((r) => r);
  await held.arrived;
  return { late };
}

/**
 * A counter app. `/count` changes the data (a set); `?maxAge=` changes the cookie with it;
 * `/held` loads, waits for the spec, then counts; `/regenerate` gives the session a new id.
 */
function app(
  store: MongooseStore,
  opts: { rolling?: boolean; resave?: boolean; held?: Held } = {},
) {
  const a = express();
  a.use(
    session({
      store,
      secret: 'save trial cookie secret',
      resave: opts.resave ?? false,
      rolling: opts.rolling ?? false,
      saveUninitialized: false,
      cookie: { maxAge: HOUR },
    }),
  );
  const data = (req: express.Request) => req.session as unknown as Record<string, unknown>;
  a.get('/login', (req, res) => {
    Object.assign(data(req), { user: 'ann', n: 0 });
    res.send('in');
  });
  a.get('/count', (req, res) => {
    const q = req.query as Record<string, string>;
    if (q.maxAge !== undefined)
      req.session.cookie.maxAge = q.maxAge === 'null' ? (null as never) : Number(q.maxAge);
    data(req).n = Number(data(req).n ?? 0) + 1;
    res.send(String(data(req).n));
  });
  a.get('/held', async (req, res) => {
    opts.held?.arrive();
    await opts.held?.released;
    data(req).n = Number(data(req).n ?? 0) + 1;
    res.send(String(data(req).n));
  });
  a.get('/regenerate', (req, res, next) => {
    const n = data(req).n;
    req.session.regenerate((err) => {
      if (err) return next(err);
      Object.assign(data(req), { user: 'ann', n });
      res.send('regenerated');
    });
  });
  a.get('/read', (req, res) => {
    res.json({ cookie: req.session.cookie, user: data(req).user, n: data(req).n });
  });
  return a;
}

async function login(a: express.Express): Promise<string> {
  const res = await request(a).get('/login').expect(200);
  return String(res.headers['set-cookie']).split(';')[0] as string;
}

const read = async (a: express.Express, c: string) =>
  (await request(a).get('/read').set('Cookie', c).expect(200)).body as Seen;

describe('a save of a loaded session keeps what the user changed', () => {
  it.each([
    ['in clear', {}],
    ['sealed', { secret: SECRET }],
  ])('a browser-session cookie (maxAge null) saved with the data stays one (%s)', async (_w, o) => {
    const { store, name } = await open(o);
    const a = app(store, { rolling: true });
    const c = await login(a);
    await request(a).get('/count?maxAge=null').set('Cookie', c).expect(200, '1');
    const seen = await read(app(await db.open({ collection: name, ...o })), c);
    expect(seen.cookie.expires).toBeNull();
    expect(seen.cookie.originalMaxAge).toBeNull();
    expect(seen.n).toBe(1);
  });

  it('a rolling save with the bson serializer reads back with the new expiry, not the stored one', async () => {
    // BSON keeps the cookie's expiry a Date: a read must still take it from expiresAt.
    const { store, coll } = await open({ serializer: 'bson' });
    const a = app(store, { rolling: true });
    const c = await login(a);
    const stored = (await coll.findOne({}))?.cookie as { expires: Date };
    await eventually(() => Date.now() > stored.expires.getTime() - HOUR + 5, 1_000, 'a tick');
    await request(a).get('/count').set('Cookie', c).expect(200, '1');
    const doc = await coll.findOne({});
    expect(doc?.cookie).toEqual(stored);
    const other = await db.open({ collection: coll.collectionName, serializer: 'bson' });
    const got = (await other.get(doc?._id as string)) as unknown as { cookie: { expires: Date } };
    expect(new Date(got.cookie.expires).getTime()).toBe(doc?.expiresAt?.getTime());
    expect(new Date(got.cookie.expires).getTime()).toBeGreaterThan(stored.expires.getTime());
  });

  it('regenerate() gives the new session its own cookie, and the old one is gone', async () => {
    const { store, coll, name } = await open({ secret: SECRET });
    const a = app(store, { rolling: true });
    const c = await login(a);
    await request(a).get('/count').set('Cookie', c).expect(200, '1');
    const res = await request(a).get('/regenerate').set('Cookie', c).expect(200);
    const fresh = String(res.headers['set-cookie']).split(';')[0] as string;
    const docs = await coll.find().toArray();
    expect(docs).toHaveLength(1);
    // Its cookie is stored, sealed: a value with a key tag.
    expect(tagOf(docs[0]?.cookie)).toEqual(expect.any(String));
    const seen = await read(app(await db.open({ collection: name, secret: SECRET })), fresh);
    expect(seen).toMatchObject({ user: 'ann', n: 1, cookie: { originalMaxAge: HOUR } });
  });

  it('a session destroyed while a request held it is not brought back by that request’s save', async () => {
    const held = new Held();
    const { store, coll } = await open({ secret: SECRET });
    const a = app(store, { rolling: true, held });
    const c = await login(a);
    const { late } = await holding(a, c, held);
    await store.destroy(((await coll.findOne({})) as Doc)._id);
    held.release();
    await late;
    expect(await coll.countDocuments()).toBe(0);
  });

  it('a session set again by direct calls after its document was deleted is stored whole', async () => {
    // Not loaded in a request: the second set may have to insert, and then needs the cookie.
    const { store } = await open({ secret: SECRET, touchAfter: 60_000 });
    const id = sid();
    const s = { cookie: cookie(HOUR), n: 1 } as unknown as SessionData;
    await store.set(id, s);
    await store.destroy(id);
    (s as unknown as { n: number }).n = 2;
    await store.set(id, s);
    expect(await store.get(id)).toMatchObject({ n: 2, cookie: { originalMaxAge: HOUR } });
  });
});

describe('a rolling switch from legacy: true to legacy off (migration step 2)', () => {
  it('a save on an instance with legacy off, racing one on an instance still on legacy, leaves a readable session', async () => {
    // Step 2 of docs/migrating.md rolls: for a while some instances still write the peers' shape,
    // which has no cookie field. A save with legacy off that started before such a write must
    // not leave our shape without its cookie: that signs the user out.
    const held = new Held();
    const { store: off, name, coll } = await open();
    const { store: on } = await open({ legacy: true }, name);
    const offApp = app(off, { held });
    const c = await login(offApp);
    const { late } = await holding(offApp, c, held);
    await request(app(on)).get('/count').set('Cookie', c).expect(200, '1');
    held.release();
    await late;
    const doc = await coll.findOne({});
    expect(doc).not.toBeNull();
    const fresh = await open({}, name);
    const seen = await read(app(fresh.store), c);
    expect(seen.user).toBe('ann');
    expect(seen.n).toBe(1);
  });
});

describe('fullWrite', () => {
  const fields = {
    expiresAt: new Date(2_000),
    cookie: 'the cookie',
    session: 'the data',
    user: 'the user',
  };
  const presence: Presence = { seenAt: new Date(1_000), createdAt: undefined, device: undefined };

  it('sets every field of ours, unsets the peers’ expiry, and dates a new document', () => {
    expect(fullWrite(fields, presence)).toEqual({
      $set: {
        expiresAt: fields.expiresAt,
        cookie: 'the cookie',
        session: 'the data',
        user: 'the user',
        lastSeenAt: presence.seenAt,
      },
      $unset: { expires: '', lastModified: '' },
      $setOnInsert: { createdAt: presence.seenAt },
    });
  });

  it('leaves the stored cookie when given none, unsets a user gone, and sets device and createdAt', () => {
    const at = new Date(500);
    const update = fullWrite(
      { ...fields, cookie: undefined, user: undefined },
      { seenAt: presence.seenAt, createdAt: at, device: 'the device' },
    );
    expect(update).toEqual({
      $set: {
        expiresAt: fields.expiresAt,
        session: 'the data',
        lastSeenAt: presence.seenAt,
        device: 'the device',
        createdAt: at,
      },
      $unset: { expires: '', lastModified: '', user: '' },
    });
    expect(Object.keys(update.$set ?? {})).not.toContain('cookie');
  });
});
