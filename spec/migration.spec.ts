// Moving from connect-mongo or connect-mongodb-session: their sessions, written by the real
// peers into the same collection, keep working through this store; nobody signs in again.
import MongoStore from 'connect-mongo';
import connectMongoDBSession from 'connect-mongodb-session';
import express from 'express';
import session, { type Store } from 'express-session';
import request from 'supertest';
import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import {
  cookie as cookieOf,
  describeIf,
  eventually,
  server,
  sid,
  uniqueCollection,
  useDatabase,
} from './support/server';

const db = useDatabase('migration');
const SECRET = 'the same cookie secret before and after';

type Raw = { _id: string; expires?: Date; expiresAt?: Date; session?: unknown; cookie?: unknown };

/** The counter app every step of a migration runs, on whichever store it is given. */
function app(store: Store) {
  const a = express();
  a.use(
    session({
      store,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  a.get('/count', (req, res) => {
    const s = req.session as unknown as { count?: number };
    s.count = (s.count ?? 0) + 1;
    res.send(String(s.count));
  });
  a.get('/peek', (req, res) => {
    res.send(String((req.session as unknown as { count?: number }).count ?? 0));
  });
  return a;
}

async function ours(collection: string, options: MongooseStoreOptions = {}) {
  return db.open({ collection, autoIndex: false, lifecheck: -1, ...options });
}

/** Counts to 2 through `peer`, then closes it: what the app did before the switch. */
async function countWith(peer: Store & { close?: () => unknown }) {
  const agent = request.agent(app(peer));
  await agent.get('/count').expect(200, '1');
  await agent.get('/count').expect(200, '2');
  await peer.close?.();
  return agent;
}

function connectMongo(collection: string, options: Record<string, unknown> = {}) {
  return MongoStore.create({
    mongoUrl: db.uri,
    collectionName: collection,
    // The peer's own TTL index would fail on a server without TTL indexes; not what is tested.
    autoRemove: 'disabled',
    ...options,
  }) as unknown as Store & { close(): Promise<void> };
}

describe.each([
  ['connect-mongo, stringify: true (its default)', {}],
  ['connect-mongo, stringify: false', { stringify: false }],
  ['connect-mongo with touchAfter (lastModified)', { touchAfter: 3600 }],
])('sessions written by %s', (_what, options) => {
  it('stay signed in through this store, and are rewritten in its shape', async () => {
    const name = uniqueCollection();
    const agent = await countWith(connectMongo(name, options));
    const coll = db.db.collection<Raw>(name);
    const [before] = await coll.find().toArray();
    expect(before.expires).toBeInstanceOf(Date);

    const store = await ours(name);
    const switched = request.agent(app(store));
    // The same cookie jar: the browser keeps its cookie across the deploy.
    switched.jar = agent.jar;
    await switched.get('/count').expect(200, '3');
    const [after] = await coll.find().toArray();
    expect(after._id).toBe(before._id);
    expect(after.expiresAt).toBeInstanceOf(Date);
    expect(after).not.toHaveProperty('expires');
    await switched.get('/count').expect(200, '4');
  });

  it('are rewritten in this store’s shape by a touch too', async () => {
    const name = uniqueCollection();
    const agent = await countWith(connectMongo(name, options));
    const store = await ours(name);
    const switched = request.agent(app(store));
    switched.jar = agent.jar;
    // /peek changes nothing: express-session touches the session.
    await switched.get('/peek').expect(200, '2');
    const [after] = await db.db.collection<Raw>(name).find().toArray();
    expect(after.expiresAt).toBeInstanceOf(Date);
    expect(after).not.toHaveProperty('expires');
    await switched.get('/peek').expect(200, '2');
  });
});

describe('a peer’s expired session', () => {
  it('is never served, and the sweeper removes it with legacy: true', async () => {
    const name = uniqueCollection();
    const agent = await countWith(connectMongo(name));
    const coll = db.db.collection<Raw>(name);
    await coll.updateMany({}, { $set: { expires: new Date(Date.now() - 1_000) } });
    const store = await ours(name, { legacy: true, lifecheck: 50 });
    const switched = request.agent(app(store));
    switched.jar = agent.jar;
    await switched.get('/peek').expect(200, '0');
    // Nothing else can delete it: no TTL index covers this collection (autoIndex: false).
    let swept = 0;
    store.on('sweep', (n) => {
      swept += n;
    });
    await eventually(
      async () => (await coll.countDocuments({ expires: { $exists: true } })) === 0,
      15_000,
      'the sweeper to remove the old expired document',
    );
    await eventually(() => swept >= 1, 15_000, 'the sweep event');
  });
});

describe('length, count and all', () => {
  async function mixed(options: MongooseStoreOptions, name = uniqueCollection()) {
    await countWith(connectMongo(name));
    await countWith(connectMongo(name, { stringify: false }));
    const store = await ours(name, options);
    await store.set('ours-1', {
      cookie: { maxAge: 60_000, expires: new Date(Date.now() + 60_000) },
    } as never);
    return store;
  }

  it('include the peers’ live sessions with legacy: true', async () => {
    const store = await mixed({ legacy: true });
    expect(await store.length()).toBe(3);
    expect(await store.count()).toBe(3);
    const all = await store.all();
    expect(Object.keys(all)).toHaveLength(3);
    for (const s of Object.values(all)) expect(s.cookie).toBeDefined();
  });

  it('agree with all() about an old document that cannot be read, with legacy: true', async () => {
    const name = uniqueCollection();
    const store = await mixed({ legacy: true }, name);
    store.on('error', () => {});
    await db.db.collection<Raw>(name).insertOne({
      _id: 'unreadable',
      expires: new Date(Date.now() + 60_000),
      session: 'encrypted-by-connect-mongo-crypto',
    });
    expect(Object.keys(await store.all())).toHaveLength(3);
    expect(await store.length()).toBe(3);
  });

  it('count only this store’s sessions by default, at no extra cost', async () => {
    const store = await mixed({});
    expect(await store.length()).toBe(1);
  });
});

describe('a document of a shape the store does not know', () => {
  it('reads as missing and is reported once through error, never a failed request', async () => {
    const name = uniqueCollection();
    const store: MongooseStore = await ours(name);
    const errors: Error[] = [];
    store.on('error', (e) => errors.push(e));
    await db.db.collection<Raw>(name).insertOne({
      _id: 'weird',
      expires: new Date(Date.now() + 60_000),
      session: 'encrypted-by-connect-mongo-crypto',
    });
    expect(await store.get('weird')).toBeNull();
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['ERR_SESSION_UNREADABLE']);
  });
});

describeIf(server.caps.ttlIndex, 'sessions written by connect-mongodb-session', () => {
  it('stay signed in through this store, and are rewritten in its shape', async () => {
    const name = uniqueCollection();
    const MongoDBStore = connectMongoDBSession(session);
    const peer = await new Promise<InstanceType<typeof MongoDBStore>>((ok, fail) => {
      const started = new MongoDBStore({ uri: db.uri, collection: name }, (err?: Error) =>
        err ? fail(err) : ok(started),
      );
    });
    const close = () => (peer as unknown as { client: { close(): Promise<void> } }).client.close();
    const agent = await countWith(Object.assign(peer, { close }) as unknown as Store);
    const store = await ours(name);
    const switched = request.agent(app(store));
    switched.jar = agent.jar;
    await switched.get('/count').expect(200, '3');
    const [after] = await db.db.collection<Raw>(name).find().toArray();
    expect(after.expiresAt).toBeInstanceOf(Date);
    expect(after).not.toHaveProperty('expires');
  });
});

describe('with legacy: true, a new session', () => {
  // connect-mongodb-session (and connect-mongo with stringify: false) hand `session` back as it
  // is stored: an old instance fails on a JSON string. A store that has read none of their
  // documents yet learns their form from the collection.
  it.each([
    ['an object, as connect-mongodb-session stores it', 'object'],
    ['a JSON string, as connect-mongo stores it by default', 'string'],
  ])(
    'is written in the peers’ form, %s, before the store has read one of theirs',
    async (_form, type) => {
      const name = uniqueCollection();
      const expires = new Date(Date.now() + 60_000);
      const theirs = {
        cookie: { originalMaxAge: 60_000, expires, httpOnly: true, path: '/' },
        n: 1,
      };
      await db.db.collection<Raw>(name).insertOne({
        _id: 'theirs',
        expires,
        session: type === 'object' ? theirs : JSON.stringify(theirs),
      });
      const store = await ours(name, { legacy: true });
      await store.set('new-one', { cookie: cookieOf(), n: 2 } as never);
      const stored = await db.db.collection<Raw>(name).findOne({ _id: 'new-one' });
      expect(typeof stored?.session).toBe(type);
    },
  );
});

describeIf(server.caps.ttlIndex, 'connect-mongo’s own TTL index beside ours', () => {
  it('is left alone, and our TTL index is built next to it without a conflict', async () => {
    const name = uniqueCollection();
    const coll = db.db.collection<Raw>(name);
    await coll.createIndex({ expires: 1 }, { expireAfterSeconds: 0 });
    const errors: Error[] = [];
    const store = await db.open({ collection: name, legacy: true });
    store.on('error', (e) => errors.push(e));
    const indexes = await coll.listIndexes().toArray();
    expect(indexes.find((ix) => ix.key?.expires === 1)?.expireAfterSeconds).toBe(0);
    expect(indexes.find((ix) => ix.key?.expiresAt === 1)?.expireAfterSeconds).toBe(0);
    await store.set('after-switch', {
      cookie: { maxAge: 60_000, expires: new Date(Date.now() + 60_000) },
    } as never);
    expect(await store.length()).toBe(1);
    expect(errors).toEqual([]);
  });
});

describe('sign out everywhere during a migration', () => {
  async function signedIn(name: string, user: string, options: Record<string, unknown>) {
    const peer = connectMongo(name, options);
    const a = express();
    a.use(session({ store: peer, secret: SECRET, resave: false, saveUninitialized: false }));
    a.get('/in', (req, res) => {
      (req.session as unknown as { passport: { user: string } }).passport = { user };
      res.send(req.sessionID);
    });
    const { text } = await request(a).get('/in').expect(200);
    await peer.close();
    return text;
  }

  it('lists and destroys a user’s sessions still in the peers’ shape, with legacy: true', async () => {
    const name = uniqueCollection();
    const a = await signedIn(name, 'alice', {});
    const b = await signedIn(name, 'alice', { stringify: false });
    const other = await signedIn(name, 'bob', {});
    const store = await ours(name, { legacy: true });
    const mine = sid();
    await store.set(mine, { cookie: cookieOf(), passport: { user: 'alice' } } as never);
    expect((await store.listByUser('alice')).map((s) => s.id).sort()).toEqual([a, b, mine].sort());
    expect(await store.destroyByUser('alice', { except: mine })).toBe(2);
    expect(await store.get(a)).toBeNull();
    expect(await store.get(b)).toBeNull();
    expect(await store.get(mine)).not.toBeNull();
    expect(await store.get(other)).not.toBeNull();
  });

  // Step 2 of the takeover: legacy off, connect-mongo gone. A session of theirs not used since
  // (an idle device, a stolen cookie) is still served until its next write: "sign out
  // everywhere" must end it too.
  it('lists and destroys a user’s idle sessions in the peers’ shape after legacy is turned off', async () => {
    const name = uniqueCollection();
    const a = await signedIn(name, 'alice', {});
    const b = await signedIn(name, 'alice', { stringify: false });
    const other = await signedIn(name, 'bob', {});
    const store = await ours(name);
    const mine = sid();
    await store.set(mine, { cookie: cookieOf(), passport: { user: 'alice' } } as never);
    expect(await store.get(a)).not.toBeNull();
    expect((await store.listByUser('alice')).map((s) => s.id).sort()).toEqual([a, b, mine].sort());
    expect(await store.destroyByUser('alice')).toBe(3);
    expect(await store.get(a)).toBeNull();
    expect(await store.get(b)).toBeNull();
    expect(await store.get(other)).not.toBeNull();
    const handle = (await store.listByUser('bob'))[0]?.handle as string;
    expect(await store.destroyByHandle('bob', handle)).toBe(true);
    expect(await store.get(other)).toBeNull();
  });
});

describe('two instances switching at once', () => {
  it('never undo each other: a touch does not rewrite what the other instance already saved', async () => {
    const name = uniqueCollection();
    await countWith(connectMongo(name));
    const [{ _id: id }] = await db.db.collection<Raw>(name).find().toArray();
    const a = await ours(name);
    const b = await ours(name);
    const loadedByA = await a.get(id);
    const loadedByB = (await b.get(id)) as unknown as { count: number };
    // B's request changes the session and saves it in this store's shape...
    await b.set(id, { ...loadedByB, count: 10 } as never);
    // ...then A's request, which changed nothing, ends with a touch.
    await a.touch(id, loadedByA as never);
    expect(await b.get(id)).toMatchObject({ count: 10 });
  });
});

describe.each([
  ['connect-mongo, stringify: true (its default)', {}],
  ['connect-mongo, stringify: false', { stringify: false }],
])('a rolling deploy from %s, with legacy: true', (_what, options) => {
  it('serves every request on old and new instances alike, in turn', async () => {
    const name = uniqueCollection();
    const agent = await countWith(connectMongo(name, options));
    const old = connectMongo(name, options);
    const store = await ours(name, { legacy: true });
    const apps = [app(store), app(old)];
    try {
      // Each request goes to the other instance, as a load balancer may send them.
      for (let n = 3; n <= 42; n++) {
        const next = request.agent(apps[n % 2]);
        next.jar = agent.jar;
        await next.get('/count').expect(200, String(n));
      }
    } finally {
      await old.close();
    }
    const [doc] = await db.db.collection<Raw>(name).find().toArray();
    // Still theirs to read: their expiry and their session, none of our expiry.
    expect(doc.expires).toBeInstanceOf(Date);
    expect(doc).not.toHaveProperty('expiresAt');
  });

  it('never lets a session that an old instance keeps alive end at our earlier expiry', async () => {
    const name = uniqueCollection();
    const agent = await countWith(connectMongo(name, options));
    const store = await ours(name, { legacy: true });
    const switched = request.agent(app(store));
    switched.jar = agent.jar;
    await switched.get('/count').expect(200, '3');
    const coll = db.db.collection<Raw>(name);
    const [doc] = await coll.find().toArray();
    // Our TTL index goes by expiresAt: a document without it is deleted by its expires only.
    expect(doc).not.toHaveProperty('expiresAt');
    // A document an old instance saved over one of ours: our expiry behind, theirs ahead.
    const id = sid();
    await coll.insertOne({
      _id: id,
      expiresAt: new Date(Date.now() - 1_000),
      expires: new Date(Date.now() + 60_000),
      session: JSON.stringify({ cookie: { originalMaxAge: 60_000, path: '/' }, count: 7 }),
    });
    expect(await store.get(id)).toMatchObject({ count: 7 });
  });

  it('goes back to this store’s shape alone once legacy is turned off', async () => {
    const name = uniqueCollection();
    const agent = await countWith(connectMongo(name, options));
    const during = await ours(name, { legacy: true });
    const first = request.agent(app(during));
    first.jar = agent.jar;
    await first.get('/count').expect(200, '3');
    await during.close();
    const after = await ours(name);
    const second = request.agent(app(after));
    second.jar = agent.jar;
    await second.get('/count').expect(200, '4');
    const [doc] = await db.db.collection<Raw>(name).find().toArray();
    expect(doc.expiresAt).toBeInstanceOf(Date);
    expect(doc).not.toHaveProperty('expires');
  });
});
