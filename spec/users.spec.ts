import express from 'express';
import expressSession, { type SessionData } from 'express-session';
import request from 'supertest';
import { MongooseStore, MongooseStoreError, type MongooseStoreOptions } from '../lib/index';
import { captureDebug } from './support/debug-lines';
import { cookie, eventually, sid, useDatabase } from './support/server';

const db = useDatabase('users');
const raw = () => db.db.collection<{ _id: string; user?: string; expiresAt: Date }>('sessions');

/** A session signed in through passport as `user` (a string or a number), or signed out. */
function session(user?: unknown, data: Record<string, unknown> = {}, maxAge = 60_000): SessionData {
  const passport = user === undefined ? {} : { passport: { user } };
  return { cookie: cookie(maxAge), ...passport, ...data } as unknown as SessionData;
}

const ids = (list: { id: string }[]) => list.map((s) => s.id).sort();

describe.each([['json'], ['bson']] as const)('with the %s serializer', (serializer) => {
  const open = (o: MongooseStoreOptions = {}) => db.open({ serializer, ...o });

  it('keeps passport users in an indexed top-level user field, numbers as strings', async () => {
    const store = await open();
    const [a, b, c] = [sid(), sid(), sid()];
    await store.set(a, session('alice'));
    await store.set(b, session(42));
    await store.set(c, session());
    expect((await raw().findOne({ _id: a }))?.user).toBe('alice');
    expect((await raw().findOne({ _id: b }))?.user).toBe('42');
    expect(await raw().findOne({ _id: c })).not.toHaveProperty('user');
    const indexes = await raw().listIndexes().toArray();
    expect(indexes.some((ix) => ix.key?.user === 1)).toBe(true);
  });

  it('lists a user’s live sessions, latest expiry first, never the expired or other users', async () => {
    const store = await open();
    const soon = sid();
    const later = sid();
    await store.set(soon, session('alice', { n: 1 }, 30_000));
    await store.set(later, session('alice', { n: 2 }, 90_000));
    await store.set(sid(), session('bob'));
    const expired = sid();
    await store.set(expired, session('alice'));
    await raw().updateOne({ _id: expired }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });
    const list = await store.listByUser('alice');
    expect(list.map((s) => s.id)).toEqual([later, soon]);
    expect(list[0].expiresAt).toBeInstanceOf(Date);
    expect(list[0].session).toMatchObject({ n: 2, passport: { user: 'alice' } });
    expect(list[0].session.cookie).toBeDefined();
  });

  it('destroys all of a user’s sessions, counting only live ones', async () => {
    const store = await open();
    const mine = [sid(), sid(), sid()];
    for (const id of mine) await store.set(id, session('alice'));
    const other = sid();
    await store.set(other, session('bob'));
    const expired = sid();
    await store.set(expired, session('alice'));
    await raw().updateOne({ _id: expired }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });
    expect(await store.destroyByUser('alice')).toBe(3);
    for (const id of mine) expect(await store.get(id)).toBeNull();
    expect(await store.get(other)).toMatchObject({ passport: { user: 'bob' } });
  });

  it('keeps the session named by except, or the several named', async () => {
    const store = await open();
    const [a, b, c, d] = [sid(), sid(), sid(), sid()];
    for (const id of [a, b, c, d]) await store.set(id, session('alice'));
    expect(await store.destroyByUser('alice', { except: a })).toBe(3);
    expect(ids(await store.listByUser('alice'))).toEqual([a]);
    for (const id of [b, c, d]) await store.set(id, session('alice'));
    expect(await store.destroyByUser('alice', { except: [a, c] })).toBe(2);
    expect(ids(await store.listByUser('alice'))).toEqual([a, c].sort());
  });

  it('moves a session to its new user when it signs in as someone else, and off on logout', async () => {
    const store = await open();
    const id = sid();
    await store.set(id, session('alice'));
    await store.set(id, session('bob'));
    expect(await store.listByUser('alice')).toEqual([]);
    expect(ids(await store.listByUser('bob'))).toEqual([id]);
    await store.set(id, session());
    expect(await store.listByUser('bob')).toEqual([]);
  });

  it('leaves the user to the write that writes the data: a touch never moves it', async () => {
    const store = await open();
    const id = sid();
    await store.set(id, session('alice'));
    // A touch carries a copy of the session that may be older than the stored data.
    await store.touch(id, session('carol'));
    await store.touch(id, session());
    expect(ids(await store.listByUser('alice'))).toEqual([id]);
    expect(await store.listByUser('carol')).toEqual([]);
  });
});

describe('the userId option', () => {
  it('takes a function of the session', async () => {
    const store = await db.open({
      userId: (s) => (s as unknown as { account?: { email: string } }).account?.email,
    });
    const id = sid();
    await store.set(id, { cookie: cookie(), account: { email: 'a@example.com' } } as never);
    expect(ids(await store.listByUser('a@example.com'))).toEqual([id]);
  });

  it('can be turned off with false: no user field and no index', async () => {
    const store = await db.open({ userId: false, collection: 'no_users' });
    const id = sid();
    await store.set(id, session('alice'));
    const coll = db.db.collection('no_users');
    expect(await coll.findOne({ _id: id as never })).not.toHaveProperty('user');
    const indexes = await coll.listIndexes().toArray();
    expect(indexes.some((ix) => ix.key?.user === 1)).toBe(false);
    // Not an empty answer an app could take for "signed out": it is told the feature is off.
    await expect(store.listByUser('alice')).rejects.toThrow(/userId option is false/);
    await expect(store.destroyByUser('alice')).rejects.toThrow(TypeError);
    expect(await store.get(id)).not.toBeNull();
  });

  it('ignores a passport user that is an object or not finite, and says so once of objects', async () => {
    const store = await db.open();
    const [a, b, c] = [sid(), sid(), sid()];
    const debug = captureDebug();
    try {
      await store.set(a, session({ id: 1 }));
      await store.set(c, session({ id: 2 }));
    } finally {
      debug.stop();
    }
    await store.set(b, session(Number.NaN));
    expect(await raw().countDocuments({ user: { $exists: true } })).toBe(0);
    expect(debug.lines.filter((l) => /passport\.user is an object/.test(l))).toHaveLength(1);
  });

  it.each([
    [
      'throws',
      () => {
        throw new Error('lookup failed');
      },
    ],
    ['gives a number', () => 7],
    ['gives an empty string', () => ''],
    ['gives null', () => null],
    ['gives a lone surrogate', () => 'a\uDC00'],
  ])(
    'fails set with ERR_INVALID_USER_ID when the function %s, changing nothing; touch does not ask it',
    async (_w, fn) => {
      let bad = false;
      const store = await db.open({ userId: () => (bad ? (fn() as string) : 'alice') });
      const id = sid();
      await store.set(id, session(undefined, { v: 1 }));
      const before = await raw().findOne({ _id: id });
      bad = true;
      const err = await store.set(id, session(undefined, { v: 2 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MongooseStoreError);
      expect((err as MongooseStoreError).code).toBe('ERR_INVALID_USER_ID');
      expect(await raw().findOne({ _id: id })).toEqual(before);
      // A touch writes no data, so it derives no user: it moves the expiry and keeps alice.
      await store.touch(id, session());
      expect(ids(await store.listByUser('alice'))).toEqual([id]);
    },
  );

  it('is a TypeError at construction when neither a function nor false', () => {
    expect(() => new MongooseStore(db.uri, { userId: 'passport.user' as never })).toThrow(
      /userId: expected a function or false/,
    );
  });
});

describe('listByUser and destroyByUser', () => {
  let store: MongooseStore;
  beforeEach(async () => {
    store = await db.open();
  });

  it.each([
    ['an operator object', { $ne: null }],
    ['an empty string', ''],
    ['a number', 1],
    ['undefined', undefined],
  ])('refuse %s as the user id with a TypeError, deleting nothing', async (_w, bad) => {
    const id = sid();
    await store.set(id, session('alice'));
    await expect(store.listByUser(bad as string)).rejects.toThrow(TypeError);
    await expect(store.destroyByUser(bad as string)).rejects.toThrow(TypeError);
    expect(await store.get(id)).not.toBeNull();
  });

  it.each([
    ['a lone low surrogate', 'a\uDC00'],
    ['a lone high surrogate', 'a\uD800'],
    ['a pair in the wrong order', '\uDC00\uD800'],
  ])('refuse %s in the user id: it would be U+FFFD, another user, on the wire', async (_w, bad) => {
    const id = sid();
    await store.set(id, session('a\uFFFD'));
    await expect(store.listByUser(bad)).rejects.toThrow(TypeError);
    await expect(store.destroyByUser(bad)).rejects.toThrow(/well-formed/);
    expect(await store.get(id)).not.toBeNull();
  });

  it('refuse an except that is not a session id or a list of them', async () => {
    const id = sid();
    await store.set(id, session('alice'));
    for (const except of [{ $ne: 'x' }, [1], '', ['\uD800']]) {
      await expect(store.destroyByUser('alice', { except } as never)).rejects.toThrow(TypeError);
    }
    expect(await store.get(id)).not.toBeNull();
  });

  it('take a callback as their last argument, called once', async () => {
    const id = sid();
    await store.set(id, session('alice'));
    const listed = await new Promise((ok, fail) =>
      store.listByUser('alice', (err, list) => (err ? fail(err) : ok(list))),
    );
    expect(ids(listed as { id: string }[])).toEqual([id]);
    const calls: unknown[] = [];
    await new Promise<void>((ok) =>
      store.destroyByUser('alice', { except: [] }, (err, n) => {
        calls.push([err, n]);
        ok();
      }),
    );
    await new Promise<void>((ok) =>
      store.destroyByUser('nobody', (err, n) => {
        calls.push([err, n]);
        ok();
      }),
    );
    expect(calls).toEqual([
      [null, 1],
      [null, 0],
    ]);
  });

  it('work across two stores on one collection', async () => {
    const other = await db.open();
    const [a, b] = [sid(), sid()];
    await store.set(a, session('alice'));
    await other.set(b, session('alice'));
    expect(ids(await other.listByUser('alice'))).toEqual([a, b].sort());
    expect(await other.destroyByUser('alice', { except: b })).toBe(1);
    expect(await store.get(a)).toBeNull();
    expect(await store.get(b)).not.toBeNull();
  });
});

describe('a request that loaded the session before its user signed in on it', () => {
  /**
   * A long poll: `/wait` loads the session, then holds its response until released, while
   * `/login` signs the same session in (no regenerate: passport 0.5, "switch account").
   */
  function app(store: MongooseStore, resave: boolean) {
    const held: (() => void)[] = [];
    const a = express();
    a.use(
      expressSession({
        store,
        secret: 'users spec secret',
        resave,
        rolling: true,
        saveUninitialized: false,
        cookie: { maxAge: 60_000 },
      }),
    );
    a.get('/visit', (req, res) => {
      (req.session as unknown as Record<string, unknown>).visits = 1;
      res.send('ok');
    });
    a.get('/login', (req, res) => {
      (req.session as unknown as Record<string, unknown>).passport = { user: 'alice' };
      res.send('ok');
    });
    a.get('/me', (req, res) => {
      const s = req.session as unknown as { passport?: { user?: string } } | undefined;
      res.json({ user: s?.passport?.user ?? null });
    });
    a.get('/wait', (_req, res) => {
      held.push(() => res.send('done'));
    });
    return { app: a, held };
  }

  it.each([
    ['a touch (resave: false)', false],
    ['an unchanged save (resave: true)', true],
  ])('does not hide the user from sign out everywhere when it ends with %s', async (_w, resave) => {
    const store = await db.open();
    const { app: a, held } = app(store, resave);
    const agent = request.agent(a);
    await agent.get('/visit').expect(200);
    // supertest sends a request only once it is awaited: start it now.
    const waiting = agent
      .get('/wait')
      .then((r) => r)
      .catch((e: unknown) => e);
    await eventually(() => held.length === 1, 10_000, 'the long poll to arrive');
    await agent.get('/login').expect(200);
    held.splice(0)[0]?.();
    await waiting;
    // Asked before any other request of hers: each would rewrite her session.
    expect(await store.listByUser('alice')).toHaveLength(1);
    expect(await store.destroyByUser('alice')).toBe(1);
    expect((await agent.get('/me')).body).toEqual({ user: null });
  });
});
