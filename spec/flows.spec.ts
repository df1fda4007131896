import express from 'express';
import session, { type SessionOptions } from 'express-session';
import request from 'supertest';
import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import { useDeleters } from './support/deleter';
import { eventually, uniqueCollection, useDatabase } from './support/server';

declare module 'express-session' {
  interface SessionData {
    count: number;
    user: string;
  }
}

const db = useDatabase('flows');
const deleter = useDeleters();
const sessions = (name = 'sessions') =>
  db.db.collection<{ _id: string; expiresAt: Date; session: string }>(name);

/**
 * A store on a collection of the test's own that no TTL index covers (autoIndex: false) and no
 * sweeper sweeps: on any server, an expired session stays until the spec deletes it.
 */
async function storeNobodyExpires(options: MongooseStoreOptions = {}) {
  const name = uniqueCollection();
  const store = await db.open({ collection: name, autoIndex: false, lifecheck: -1, ...options });
  return { store, coll: sessions(name) };
}

/** Requests to /slow-save that loaded their session, each waiting for its go-ahead. */
const slowSaves: (() => void)[] = [];

/** An app whose routes exercise the session the way real apps do. */
function app(store: MongooseStore, options: Partial<SessionOptions> = {}) {
  const a = express();
  a.use(
    session({
      store,
      secret: 'test secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
      ...options,
    }),
  );
  a.get('/count', (req, res) => {
    req.session.count = (req.session.count ?? 0) + 1;
    res.send(String(req.session.count));
  });
  a.get('/peek', (req, res) => {
    res.send(String(req.session.count ?? 0));
  });
  a.get('/nothing', (_req, res) => {
    res.send('ok');
  });
  a.get('/login', (req, res, next) => {
    const before = req.sessionID;
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = 'ann';
      res.json({ before, after: req.sessionID });
    });
  });
  a.get('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.send('bye')));
  });
  a.get('/slow-save', (req, res) => {
    // Loads the session, then changes it once the spec says so: a request racing a logout.
    slowSaves.push(() => {
      req.session.count = 99;
      res.send('saved late');
    });
  });
  a.get('/reload', (req, res, next) => {
    req.session.reload((err) => (err ? next(err) : res.send(String(req.session.count))));
  });
  return a;
}

const sidOf = (cookieHeader: string) =>
  decodeURIComponent(cookieHeader.split(';')[0].split('=')[1]).slice(2).split('.')[0];

describe('express-session with the store', () => {
  it('counts across requests', async () => {
    const agent = request.agent(app(await db.open()));
    for (const n of [1, 2, 3]) await agent.get('/count').expect(200, String(n));
    expect(await sessions().countDocuments()).toBe(1);
  });

  it('does not serve a session whose 1 s cookie has expired, even before any deletion', async () => {
    const { store, coll } = await storeNobodyExpires();
    const res = await request(app(store, { cookie: { maxAge: 1_000 } }))
      .get('/count')
      .expect(200, '1');
    const cookie = res.headers['set-cookie'][0];
    const id = sidOf(cookie);
    await eventually(async () => (await store.get(id)) === null, 15_000, 'the session to expire');
    expect(await coll.countDocuments({ _id: id })).toBe(1);
    // The stale cookie, sent again, starts over.
    await request(app(store, { cookie: { maxAge: 1_000 } }))
      .get('/count')
      .set('Cookie', cookie.split(';')[0])
      .expect(200, '1');
  });

  it('with rolling and touchAfter 0, touches an unmodified session: expiresAt and the stored cookie move forward', async () => {
    const store = await db.open({ touchAfter: 0 });
    const agent = request.agent(app(store, { rolling: true }));
    const res = await agent.get('/count').expect(200, '1');
    const id = sidOf(res.headers['set-cookie'][0]);
    const first = await sessions().findOne({ _id: id });
    await new Promise((r) => setTimeout(r, 20));
    const again = await agent.get('/peek').expect(200, '1');
    expect(again.headers['set-cookie']).toBeDefined();
    const second = await sessions().findOne({ _id: id });
    expect(second?.expiresAt.getTime()).toBeGreaterThan(first?.expiresAt.getTime() ?? 0);
    const stored = (await store.get(id)) as unknown as { cookie: { expires: string } };
    expect(new Date(stored.cookie.expires).getTime()).toBe(second?.expiresAt.getTime());
  });

  it('with rolling at the default touchAfter, writes a touch only once it would move the expiry by 1 % of the lifetime', async () => {
    const store = await db.open();
    // A 60 s session: 1 % is 600 ms.
    const agent = request.agent(app(store, { rolling: true }));
    const res = await agent.get('/count').expect(200, '1');
    const id = sidOf(res.headers['set-cookie'][0]);
    const expiryOf = async () => (await sessions().findOne({ _id: id }))?.expiresAt.getTime();
    const first = await expiryOf();
    const sent = Date.now();
    await agent.get('/peek').expect(200, '1');
    // Sent within the 600 ms: its touch is skipped, and the cookie is still sent (rolling).
    if (Date.now() - sent < 500) expect(await expiryOf()).toBe(first);
    // The time it takes for the expiry to move by more than 1 % of the session's life.
    await new Promise((r) => setTimeout(r, 700));
    const again = await agent.get('/peek').expect(200, '1');
    expect(again.headers['set-cookie']).toBeDefined();
    const moved = (await expiryOf()) ?? 0;
    expect(moved).toBeGreaterThan(first ?? 0);
    const stored = (await store.get(id)) as unknown as { cookie: { expires: string } };
    expect(new Date(stored.cookie.expires).getTime()).toBe(moved);
  });

  it('with saveUninitialized: false, stores nothing and sets no cookie for an untouched session', async () => {
    const res = await request(app(await db.open()))
      .get('/nothing')
      .expect(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await sessions().countDocuments()).toBe(0);
  });

  it('with resave: false, does not rewrite an unmodified session', async () => {
    const store = await db.open();
    const agent = request.agent(app(store));
    await agent.get('/count').expect(200, '1');
    const before = await sessions().findOne({});
    await agent.get('/peek').expect(200, '1');
    const after = await sessions().findOne({});
    expect(after?.session).toBe(before?.session);
  });

  it('regenerates: a new id, the old session gone', async () => {
    const store = await db.open();
    const agent = request.agent(app(store));
    await agent.get('/count').expect(200, '1');
    const { before, after } = (await agent.get('/login').expect(200)).body;
    expect(after).not.toBe(before);
    expect(await store.get(before)).toBeNull();
    expect(await store.get(after)).toMatchObject({ user: 'ann' });
  });

  it('destroys on logout', async () => {
    const store = await db.open();
    const agent = request.agent(app(store));
    await agent.get('/count').expect(200, '1');
    await agent.get('/logout').expect(200, 'bye');
    expect(await sessions().countDocuments()).toBe(0);
  });

  it('does not bring a session back when a slow request saves after logout', async () => {
    const store = await db.open();
    const agent = request.agent(app(store));
    await agent.get('/count').expect(200, '1');
    // supertest sends a request only once it is awaited: start it now.
    const slow = agent
      .get('/slow-save')
      .expect(200, 'saved late')
      .then(() => undefined);
    await eventually(() => slowSaves.length > 0, 10_000, 'the slow request to load its session');
    await agent.get('/logout').expect(200, 'bye');
    for (const go of slowSaves.splice(0)) go();
    await slow;
    expect(await sessions().countDocuments()).toBe(0);
  });

  it('reloads what another request saved', async () => {
    const store = await db.open();
    const agent = request.agent(app(store));
    await agent.get('/count').expect(200, '1');
    await agent.get('/count').expect(200, '2');
    const id = (await sessions().findOne({}))?._id as string;
    const current = (await store.get(id)) as unknown as Record<string, unknown>;
    await store.set(id, { ...current, count: 41 } as never);
    await agent.get('/reload').expect(200, '41');
  });
});

describe('express-session with the store, while another client deletes expired sessions at once', () => {
  it('counts across requests: live sessions are never the deleted ones', async () => {
    const { store, coll } = await storeNobodyExpires();
    const running = deleter(coll);
    const agent = request.agent(app(store));
    for (const n of [1, 2, 3]) await agent.get('/count').expect(200, String(n));
    expect(running.rounds).toBeGreaterThan(0);
    expect(await coll.countDocuments()).toBe(1);
  });

  it('starts over from a stale cookie whose expired session was already deleted', async () => {
    const { store, coll } = await storeNobodyExpires();
    const running = deleter(coll);
    const res = await request(app(store, { cookie: { maxAge: 1_000 } }))
      .get('/count')
      .expect(200, '1');
    const cookie = res.headers['set-cookie'][0];
    const id = sidOf(cookie);
    // Only the deleter can remove it: the store neither sweeps nor has a TTL index here.
    await eventually(
      async () => (await coll.countDocuments({ _id: id })) === 0,
      15_000,
      'the deleter to remove the expired session',
    );
    expect(running.deleted).toBeGreaterThan(0);
    const again = await request(app(store, { cookie: { maxAge: 1_000 } }))
      .get('/count')
      .set('Cookie', cookie.split(';')[0])
      .expect(200, '1');
    expect(sidOf(again.headers['set-cookie'][0])).not.toBe(id);
  });
});
