// connect-mongo users hand over a MongoClient (`client`) or a promise of one (`clientPromise`):
// the store runs on it through a mongoose Connection, and never closes it.
import mongoose, { mongo } from 'mongoose';
import { MongooseStore } from '../lib/index';
import { cookie, sid, useDatabase } from './support/server';

const db = useDatabase('client');

function start(options: ConstructorParameters<typeof MongooseStore>[1]) {
  return new Promise<MongooseStore>((ok, fail) => {
    const store: MongooseStore = new MongooseStore(null, { lifecheck: -1, ...options }, (err) =>
      err ? fail(err) : ok(store),
    );
    db.stores.push(store);
  });
}

const session = () => ({ cookie: cookie(), n: 1 }) as never;

describe.each([
  ['client, connected', async (c: mongo.MongoClient) => ({ client: await c.connect() })],
  ['client, not yet connected', async (c: mongo.MongoClient) => ({ client: c })],
  ['clientPromise', async (c: mongo.MongoClient) => ({ clientPromise: c.connect() })],
])('a store given a %s', (_what, given) => {
  it('serves sessions, and close() leaves the client open and no Connection behind', async () => {
    const client = new mongo.MongoClient(db.uri);
    const before = mongoose.connections.length;
    try {
      const store = await start(await given(client));
      const id = sid();
      await store.set(id, session());
      expect(await store.get(id)).toMatchObject({ n: 1 });
      // The store wrote to the client's own default database.
      expect(
        await client
          .db()
          .collection('sessions')
          .countDocuments({ _id: id as never }),
      ).toBe(1);
      await store.close();
      expect(mongoose.connections.length).toBe(before);
      expect(await client.db().command({ ping: 1 })).toMatchObject({ ok: 1 });
    } finally {
      await client.close();
    }
  });
});

describe('a clientPromise that rejects', () => {
  it('fails the start and the operations, with nothing unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const rejected = Promise.reject(new Error('no client today'));
      const err = await start({ clientPromise: rejected }).catch((e: unknown) => e);
      expect((err as Error).message).toBe('no client today');
      const store = db.stores.at(-1) as MongooseStore;
      await expect(store.get(sid())).rejects.toThrow('no client today');
      await store.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('invalid client options', () => {
  it.each([
    [
      'a client of another copy of mongodb',
      { client: { db() {}, connect() {} } },
      /client:.*another copy of mongodb.*pass its URI/,
    ],
    ['a client that is not a client', { client: {} }, /client: expected a MongoClient/],
    [
      'a clientPromise that is not a promise',
      { clientPromise: 5 },
      /clientPromise: expected a promise/,
    ],
    [
      'a client and a connection',
      {
        client: new mongo.MongoClient('mongodb://127.0.0.1:1/'),
        connection: mongoose.createConnection(),
      },
      /give only one of them/,
    ],
    [
      'a client with connectionOptions',
      { client: new mongo.MongoClient('mongodb://127.0.0.1:1/'), connectionOptions: {} },
      /connectionOptions: not used with a client/,
    ],
  ])('refuses %s with a TypeError naming the option', (_what, options, message) => {
    expect(() => new MongooseStore(null, options as never)).toThrow(TypeError);
    expect(() => new MongooseStore(null, options as never)).toThrow(message);
  });

  it('refuses a client given with uris', () => {
    const client = new mongo.MongoClient(db.uri);
    expect(() => new MongooseStore(db.uri, { client })).toThrow(
      /uris, client: give only one of them/,
    );
  });
});

describe('close() with a client of the user’s', () => {
  it('settles at once while the clientPromise is still pending', async () => {
    const store = new MongooseStore(null, { lifecheck: -1, clientPromise: new Promise(() => {}) });
    const pending = store.get(sid()).catch((e: unknown) => e);
    const started = Date.now();
    await store.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await pending).toMatchObject({ code: 'ERR_STORE_CLOSED' });
  });

  it('takes mongoose’s listeners off the client: stores come and go without a leak', async () => {
    const client = await new mongo.MongoClient(db.uri).connect();
    try {
      const count = () =>
        client.eventNames().reduce((n, e) => n + client.listenerCount(e as string), 0);
      const before = count();
      for (let i = 0; i < 12; i++) {
        const store = await start({ client });
        await store.set(sid(), session());
        await store.close();
      }
      expect(count()).toBe(before);
    } finally {
      await client.close();
    }
  });
});

describe('a rejected clientPromise without a callback', () => {
  it('is said through the error event', async () => {
    const store = new MongooseStore(null, {
      lifecheck: -1,
      clientPromise: Promise.reject(new Error('no client today')),
    });
    db.stores.push(store);
    const err = await new Promise<Error>((ok) => store.once('error', ok));
    expect(err.message).toBe('no client today');
  });
});
