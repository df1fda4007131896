// resave: true and rolling cookies: a save that finds the data unchanged since load writes only
// what a touch writes, never loses a change, and never brings a destroyed session back.
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import { uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('resave');

type Data = Record<string, unknown>;
type Doc = { _id: string; expiresAt: Date; session: string; cookie: string };

/** A store on a collection of the test's own; the spec reads its documents directly. */
async function open(options: MongooseStoreOptions = {}) {
  const name = uniqueCollection();
  const store = await db.open({ collection: name, ...options });
  return { store, coll: db.db.collection<Doc>(name) };
}

/**
 * An app with resave: true. `/change?op=…` applies one of the mutations below; `/wait` holds
 * its response until `release()` is called, as a slow request does; `/logout` destroys.
 */
function app(store: MongooseStore, rolling = false) {
  const held: (() => void)[] = [];
  const a = express();
  a.use(
    session({
      store,
      secret: 'resave secret',
      resave: true,
      rolling,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  const mutations: Record<string, (s: Data) => void> = {
    init: (s) => {
      s.profile = { name: 'ann', tags: ['a'] };
      s.when = new Date(0).toISOString();
      s.extra = 1;
    },
    nested: (s) => {
      (s.profile as { name: string }).name = 'bea';
    },
    push: (s) => {
      (s.profile as { tags: string[] }).tags.push('b');
    },
    date: (s) => {
      s.when = new Date(1_000).toISOString();
    },
    delete: (s) => {
      delete s.extra;
    },
  };
  a.get('/change', (req, res) => {
    mutations[String(req.query.op)](req.session as unknown as Data);
    res.json(req.session);
  });
  a.get('/read', (req, res) => {
    res.json(req.session);
  });
  a.get('/wait', (req, res) => {
    held.push(() => res.json(req.session));
  });
  a.get('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.send('bye')));
  });
  const release = () => {
    for (const h of held.splice(0)) h();
  };
  const waiting = () => held.length;
  return { app: a, release, waiting };
}

const dataOf = async (coll: ReturnType<typeof db.db.collection<Doc>>) => {
  const [doc] = await coll.find().toArray();
  return JSON.parse(doc.session) as Data;
};

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

/**
 * Starts a session, then holds a slow request that loaded it while a quick one requests
 * `path`, then lets the slow one save; gives the collection to check what stayed.
 */
async function whileHeld(path: string) {
  const { store, coll } = await open();
  const { app: a, release, waiting } = app(store);
  const agent = request.agent(a);
  await agent.get('/change?op=init').expect(200);
  const slow = agent.get('/wait').then((r) => r);
  await until(() => waiting() === 1);
  await agent.get(path).expect(200);
  release();
  await slow;
  return coll;
}

describe('resave: true', () => {
  it('stores every kind of change: nested values, arrays, dates, deleted keys', async () => {
    const { store, coll } = await open();
    const agent = request.agent(app(store).app);
    await agent.get('/change?op=init').expect(200);
    for (const [op, check] of [
      ['nested', (d: Data) => expect((d.profile as { name: string }).name).toBe('bea')],
      ['push', (d: Data) => expect((d.profile as { tags: string[] }).tags).toEqual(['a', 'b'])],
      ['date', (d: Data) => expect(d.when).toBe(new Date(1_000).toISOString())],
      ['delete', (d: Data) => expect(d).not.toHaveProperty('extra')],
    ] as const) {
      await agent.get(`/change?op=${op}`).expect(200);
      check(await dataOf(coll));
    }
    // An unchanged request keeps all of it.
    await agent.get('/read').expect(200);
    expect(await dataOf(coll)).toMatchObject({ profile: { name: 'bea', tags: ['a', 'b'] } });
  });

  it('keeps a change that another request saved between this one’s load and save', async () => {
    // A slow request loads the session, then a quick one changes it and saves.
    const coll = await whileHeld('/change?op=nested');
    // The slow request saved an unchanged session: it must not put back the old name.
    expect((await dataOf(coll)).profile).toMatchObject({ name: 'bea' });
  });

  it('does not bring back a session destroyed while a request held it', async () => {
    const coll = await whileHeld('/logout');
    expect(await coll.countDocuments()).toBe(0);
  });

  it('moves the expiry forward with rolling: true and touchAfter 0, and reads give it to the cookie', async () => {
    const { store, coll } = await open({ touchAfter: 0 });
    const agent = request.agent(app(store, true).app);
    await agent.get('/change?op=init').expect(200);
    const [before] = await coll.find().toArray();
    await new Promise((r) => setTimeout(r, 20));
    await agent.get('/read').expect(200);
    const [after] = await coll.find().toArray();
    expect(after.expiresAt.getTime()).toBeGreaterThan(before.expiresAt.getTime());
    // Two dates written: the cookie did not change beyond its expiry, and a read puts it back.
    expect(after.cookie).toBe(before.cookie);
    expect((await store.get(after._id))?.cookie.expires).toBe(after.expiresAt.toISOString());
    expect(after.session).toBe(before.session);
  });

  it('lets touchAfter skip the write of an unchanged session, never of a changed one', async () => {
    const { store, coll } = await open({ touchAfter: 60_000 });
    const agent = request.agent(app(store, true).app);
    await agent.get('/change?op=init').expect(200);
    const [first] = await coll.find().toArray();
    await new Promise((r) => setTimeout(r, 20));
    await agent.get('/read').expect(200);
    const [skipped] = await coll.find().toArray();
    expect(skipped.expiresAt).toEqual(first.expiresAt);
    await agent.get('/change?op=nested').expect(200);
    const [changed] = await coll.find().toArray();
    expect(JSON.parse(changed.session).profile.name).toBe('bea');
    expect(changed.expiresAt.getTime()).toBeGreaterThan(first.expiresAt.getTime());
  });
});
