import { MongooseStore, MongooseStoreError, type MongooseStoreOptions } from '../lib/index';
import { useDeleters } from './support/deleter';
import {
  cookie,
  describeIf,
  eventually,
  server,
  sid,
  uniqueCollection,
  useDatabase,
} from './support/server';

const db = useDatabase('indexes');
const deleter = useDeleters();

// Each test has a collection of its own, so no index one test creates or leaves can change
// what another sees.
let name = '';
beforeEach(() => {
  name = uniqueCollection();
});
const sessions = () => db.db.collection<{ _id: string; expiresAt: Date }>(name);
const open = (options: MongooseStoreOptions = {}) => db.open({ collection: name, ...options });
const expiresAtIndexes = async () =>
  (
    await sessions()
      .listIndexes()
      .toArray()
      .catch(() => [])
  ).filter((ix) => Object.keys(ix.key).includes('expiresAt'));
const sweeperInterval = (store: object) =>
  (store as { cleanup: { interval: number | undefined } }).cleanup.interval;

/** Starts a store on this test's collection and gives it with the error of its start, if any. */
function start(options: MongooseStoreOptions = {}) {
  return new Promise<{ store: MongooseStore; err: Error | undefined }>((ok) => {
    const store: MongooseStore = new MongooseStore(
      db.uri,
      { collection: name, ...options },
      (err) => ok({ store, err }),
    );
    db.stores.push(store);
  });
}

/**
 * What the server itself answers, on a scratch collection, to changing an existing index on
 * expiresAt (made with `existing`) into a TTL index with expireAfterSeconds 0: `null` when it
 * does so, else its error. The store's expected outcome follows from this answer.
 */
async function serverAnswerToCollMod(existing: {
  expireAfterSeconds?: number;
}): Promise<{ code?: number } | null> {
  const scratch = uniqueCollection('probe');
  await db.db
    .collection(scratch)
    .createIndex({ expiresAt: 1 }, { name: 'expiresAt_1', ...existing });
  return db.db
    .command({ collMod: scratch, index: { name: 'expiresAt_1', expireAfterSeconds: 0 } })
    .then(
      () => null,
      (err: { code?: number }) => err,
    );
}

/**
 * The outcome where the server will not change the existing index: an ERR_INDEX_CONFLICT that
 * names the index and its fix, the index left as it was, and a store that works on, with the
 * fallback sweeper deleting expired sessions.
 */
async function expectConflict(
  { store, err }: { store: MongooseStore; err: Error | undefined },
  had: number | undefined,
): Promise<void> {
  expect(err).toBeInstanceOf(MongooseStoreError);
  expect((err as MongooseStoreError).code).toBe('ERR_INDEX_CONFLICT');
  expect(err?.message).toContain(`index "expiresAt_1" on ${name}.expiresAt`);
  expect(err?.message).toMatch(/Drop it.*autoIndex: false/);
  const found = await expiresAtIndexes();
  expect(found).toHaveLength(1);
  expect(found[0].expireAfterSeconds).toBe(had);
  expect(sweeperInterval(store)).toBe(60_000);
  const id = sid();
  await store.set(id, { cookie: cookie(), n: 1 } as never);
  expect(await store.get(id)).toMatchObject({ n: 1 });
}

describe('autoIndex: false', () => {
  it('creates no index and runs no sweeper unless lifecheck asks', async () => {
    const store = await open({ autoIndex: false });
    expect(await expiresAtIndexes()).toHaveLength(0);
    expect(sweeperInterval(store)).toBeUndefined();
  });
});

describe('on any server', () => {
  it('leaves exactly one index on expiresAt, even when one existed without TTL', async () => {
    await sessions().createIndex({ expiresAt: 1 }, { name: 'expiresAt_1' });
    if (!server.caps.ttlIndex.ok) {
      // No TTL indexes at all: the user's index stays as it is, and the sweeper takes over.
      const store = await open();
      const found = await expiresAtIndexes();
      expect(found).toEqual([expect.objectContaining({ name: 'expiresAt_1' })]);
      expect(found[0].expireAfterSeconds).toBeUndefined();
      expect(sweeperInterval(store)).toBe(60_000);
      return;
    }
    if ((await serverAnswerToCollMod({})) === null) {
      // mongod 5.1+ turns it into the TTL index in place.
      const store = await open();
      expect(await expiresAtIndexes()).toEqual([
        expect.objectContaining({ name: 'expiresAt_1', expireAfterSeconds: 0 }),
      ]);
      expect(sweeperInterval(store)).toBeUndefined();
      return;
    }
    // DocumentDB (FerretDB 2.x) and mongod before 5.1 answer InvalidOptions (72).
    await expectConflict(await start(), undefined);
  });
});

describeIf(
  {
    ok: !server.caps.ttlIndex.ok,
    reason: 'the server accepts TTL indexes, so there is no refusal to fall back from',
  },
  'a server that refuses the TTL index',
  () => {
    it('turns the sweeper on, every 60 s by default, and creates no index', async () => {
      const store = await open();
      expect(sweeperInterval(store)).toBe(60_000);
      expect(await expiresAtIndexes()).toHaveLength(0);
    });

    it('emits ttlRefused with the server refusal and the interval', async () => {
      const said = await new Promise<[Error, number]>((ok) => {
        const store = new MongooseStore(db.uri, { collection: name, lifecheck: 250 });
        db.stores.push(store);
        store.on('ttlRefused', (reason, every) => ok([reason, every]));
      });
      expect(said[1]).toBe(250);
      expect(server.caps.ttlIndex.reason).toContain(String((said[0] as { code?: number }).code));
    });

    it('keeps expired sessions from piling up: the fallback sweeper deletes them', async () => {
      const store = await open({ lifecheck: 100 });
      await sessions().insertOne({ _id: sid(), expiresAt: new Date(Date.now() - 1) });
      await eventually(
        async () => (await sessions().countDocuments()) === 0,
        15_000,
        'the sweeper to delete',
      );
      expect(sweeperInterval(store)).toBe(100);
    });
  },
);

describeIf(server.caps.ttlIndex, 'a server with TTL indexes', () => {
  it('has the TTL index on expiresAt with expireAfterSeconds 0', async () => {
    await open();
    expect(await expiresAtIndexes()).toEqual([
      expect.objectContaining({ key: { expiresAt: 1 }, expireAfterSeconds: 0 }),
    ]);
  });

  it('runs no sweeper by default', async () => {
    const store = await open();
    expect(sweeperInterval(store)).toBeUndefined();
  });

  it('runs the sweeper alongside when lifecheck is given', async () => {
    const store = await open({ lifecheck: 30_000 });
    expect(sweeperInterval(store)).toBe(30_000);
  });

  it('corrects an existing TTL index with another expireAfterSeconds in place, where the server can', async () => {
    await sessions().createIndex(
      { expiresAt: 1 },
      { name: 'expiresAt_1', expireAfterSeconds: 3600 },
    );
    if ((await serverAnswerToCollMod({ expireAfterSeconds: 3600 })) !== null) {
      await expectConflict(await start(), 3600);
      return;
    }
    await open();
    expect(await expiresAtIndexes()).toEqual([
      expect.objectContaining({ name: 'expiresAt_1', expireAfterSeconds: 0 }),
    ]);
  });
});

describeIf(server.caps.ttlMonitor, "the server's TTL monitor", () => {
  it('deletes an expired session by itself, with the sweeper off', async () => {
    const store = await open({ lifecheck: -1 });
    const id = sid();
    await store.set(id, { cookie: { expires: new Date(Date.now() + 500) } } as never);
    // The capability probe waited up to 70 s for the monitor; so may this.
    await eventually(
      async () => (await sessions().countDocuments({ _id: id })) === 0,
      75_000,
      'the TTL monitor',
    );
  }, 90_000);
});

describe('while another client deletes expired sessions the moment they expire', () => {
  it('checks its index as the server answers and serves live sessions, never expired ones', async () => {
    const expired = sid();
    await sessions().insertOne({ _id: expired, expiresAt: new Date(Date.now() - 1) });
    const running = deleter(sessions());
    const store = await open();
    if (server.caps.ttlIndex.ok) {
      expect(await expiresAtIndexes()).toEqual([
        expect.objectContaining({ expireAfterSeconds: 0 }),
      ]);
      expect(sweeperInterval(store)).toBeUndefined();
    } else {
      expect(await expiresAtIndexes()).toHaveLength(0);
      expect(sweeperInterval(store)).toBe(60_000);
    }
    expect(await store.get(expired)).toBeNull();
    const live = sid();
    const brief = sid();
    await store.set(live, { cookie: cookie(), n: 1 } as never);
    await store.set(brief, { cookie: { expires: new Date(Date.now() + 50) } } as never);
    await eventually(
      async () => (await sessions().countDocuments({ _id: { $in: [expired, brief] } })) === 0,
      15_000,
      'both expired sessions to vanish',
    );
    expect(running.rounds).toBeGreaterThan(0);
    expect(await store.get(live)).toMatchObject({ n: 1 });
    expect(await store.length()).toBe(1);
  });
});
