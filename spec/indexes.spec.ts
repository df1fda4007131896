import { MongooseStore } from '../lib/index';
import { describeIf, eventually, server, sid, useDatabase } from './support/server';

const db = useDatabase('indexes');
const sessions = () => db.db.collection<{ _id: string; expiresAt: Date }>('sessions');
const expiresAtIndexes = async () =>
  (
    await sessions()
      .listIndexes()
      .toArray()
      .catch(() => [])
  ).filter((ix) => Object.keys(ix.key).includes('expiresAt'));
const sweeperInterval = (store: object) =>
  (store as { cleanup: { interval: number | undefined } }).cleanup.interval;

describe('autoIndex: false', () => {
  it('creates no index and runs no sweeper unless lifecheck asks', async () => {
    const store = await db.open({ autoIndex: false, collection: 'unindexed' });
    expect(
      await db.db
        .collection('unindexed')
        .listIndexes()
        .toArray()
        .catch(() => []),
    ).not.toContainEqual(expect.objectContaining({ key: { expiresAt: 1 } }));
    expect(sweeperInterval(store)).toBeUndefined();
  });
});

describe('on any server', () => {
  it('leaves exactly one index on expiresAt, even when one existed without TTL', async () => {
    await sessions().createIndex({ expiresAt: 1 }, { name: 'expiresAt_1' });
    await db.open();
    expect(await expiresAtIndexes()).toHaveLength(1);
    await sessions().dropIndex('expiresAt_1');
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
      const store = await db.open();
      expect(sweeperInterval(store)).toBe(60_000);
      expect(await expiresAtIndexes()).toHaveLength(0);
    });

    it('emits ttlRefused with the server refusal and the interval', async () => {
      const said = await new Promise<[Error, number]>((ok) => {
        const store = new MongooseStore(db.uri, { lifecheck: 250 });
        db.stores.push(store);
        store.on('ttlRefused', (reason, every) => ok([reason, every]));
      });
      expect(said[1]).toBe(250);
      expect(server.caps.ttlIndex.reason).toContain(String((said[0] as { code?: number }).code));
    });

    it('keeps expired sessions from piling up: the fallback sweeper deletes them', async () => {
      const store = await db.open({ lifecheck: 100 });
      await sessions().insertOne({ _id: sid(), expiresAt: new Date(Date.now() - 1) });
      await eventually(
        async () => (await sessions().countDocuments()) === 0,
        5_000,
        'the sweeper to delete',
      );
      expect(sweeperInterval(store)).toBe(100);
    });
  },
);

describeIf(server.caps.ttlIndex, 'a server with TTL indexes', () => {
  it('has the TTL index on expiresAt with expireAfterSeconds 0', async () => {
    await db.open();
    const [ix] = await expiresAtIndexes();
    expect(ix).toMatchObject({ key: { expiresAt: 1 }, expireAfterSeconds: 0 });
  });

  it('runs no sweeper by default', async () => {
    const store = await db.open();
    expect(sweeperInterval(store)).toBeUndefined();
  });

  it('runs the sweeper alongside when lifecheck is given', async () => {
    const store = await db.open({ lifecheck: 30_000 });
    expect(sweeperInterval(store)).toBe(30_000);
  });

  it('corrects an existing TTL index with another expireAfterSeconds in place', async () => {
    await sessions()
      .dropIndexes()
      .catch(() => {});
    await sessions().createIndex({ expiresAt: 1 }, { expireAfterSeconds: 3600 });
    await db.open();
    const found = await expiresAtIndexes();
    expect(found).toHaveLength(1);
    expect(found[0].expireAfterSeconds).toBe(0);
  });
});

describeIf(server.caps.ttlMonitor, "the server's TTL monitor", () => {
  it('deletes an expired session by itself, with the sweeper off', async () => {
    const store = await db.open({ lifecheck: -1 });
    const id = sid();
    await store.set(id, { cookie: { expires: new Date(Date.now() + 500) } } as never);
    await eventually(
      async () => (await sessions().countDocuments({ _id: id })) === 0,
      15_000,
      'the TTL monitor',
    );
  });
});
