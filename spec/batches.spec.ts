import { mongo } from 'mongoose';
import { deleteInBatches } from '../lib/batches';
import { cookie, eventually, sid, useDatabase } from './support/server';

const db = useDatabase('batches');

type Doc = { _id: string; expiresAt: Date; cookie?: string; session?: string };

/** `n` documents, expired (`ms` < 0) or live, with expiries spread over distinct milliseconds. */
function docs(n: number, ms: number, tag: string): Doc[] {
  const at = Date.now() + ms;
  return Array.from({ length: n }, (_, i) => ({
    _id: `${tag}-${i}`,
    expiresAt: new Date(at - (i % 5_000)),
    cookie: '{"path":"/"}',
    session: '{"n":1}',
  }));
}

async function insert(coll: mongo.Collection<Doc>, all: Doc[]): Promise<void> {
  for (let i = 0; i < all.length; i += 5_000) {
    await coll.insertMany(all.slice(i, i + 5_000), { ordered: false });
  }
}

describe('deleteInBatches', () => {
  let client: mongo.MongoClient;
  const deletes: number[] = [];
  beforeAll(async () => {
    client = await mongo.MongoClient.connect(db.uri, { monitorCommands: true });
    client.on('commandSucceeded', (e) => {
      if (e.commandName === 'delete') deletes.push(Number((e.reply as { n?: number }).n));
    });
  });
  afterAll(() => client.close());

  it('deletes only what matches, never more than a batch per delete, ties included', async () => {
    const coll = client.db(db.name).collection<Doc>('ties');
    const past = new Date(Date.now() - 60_000);
    const expired = [
      // Seven share one expiry: more than a batch of 3 ties at the edge.
      ...Array.from({ length: 7 }, (_, i) => ({ _id: `tie-${i}`, expiresAt: past })),
      ...docs(8, -1_000, 'old'),
    ];
    const live = docs(4, 60_000, 'live');
    await coll.insertMany([...expired, ...live]);
    deletes.length = 0;
    const n = await deleteInBatches(
      coll as unknown as mongo.Collection,
      { expiresAt: { $lte: new Date() } },
      'expiresAt',
      { batch: 3 },
    );
    expect(n).toBe(expired.length);
    expect(Math.max(...deletes)).toBeLessThanOrEqual(3);
    expect((await coll.find().toArray()).map((d) => d._id).sort()).toEqual(
      live.map((d) => d._id).sort(),
    );
  });

  it('stops between batches when asked', async () => {
    const coll = client.db(db.name).collection<Doc>('stop');
    await coll.insertMany(docs(10, -1_000, 'x'));
    let rounds = 0;
    const n = await deleteInBatches(coll as unknown as mongo.Collection, {}, '_id', {
      stopped: () => rounds++ > 0,
      batch: 4,
    });
    expect(n).toBe(4);
    expect(await coll.countDocuments()).toBe(6);
  });

  it('with retry, runs a round again after a transient error and deletes everything once', async () => {
    const coll = client.db(db.name).collection<Doc>('busy');
    await coll.insertMany(docs(10, -1_000, 'b'));
    // The second and third deletes meet a lock, as FerretDB 1.x on SQLite answers under load.
    let calls = 0;
    const busy = new Proxy(coll, {
      get(target, key, receiver) {
        if (key !== 'deleteMany') return Reflect.get(target, key, receiver);
        return (...args: Parameters<typeof coll.deleteMany>) => {
          calls += 1;
          if (calls === 2 || calls === 3)
            return Promise.reject(new Error('database is locked (5) (SQLITE_BUSY)'));
          return target.deleteMany(...args);
        };
      },
    });
    const n = await deleteInBatches(busy as unknown as mongo.Collection, {}, '_id', {
      batch: 4,
      retry: 'test sweep',
    });
    expect(n).toBe(10);
    expect(calls).toBe(5);
    expect(await coll.countDocuments()).toBe(0);
  });
});

describe('a backlog of 40,000 expired sessions', () => {
  // No TTL index on this collection (autoIndex: false): only the store's sweeper deletes, on
  // any server, so the spec holds whether or not the server has a TTL monitor of its own.
  it('is worked through by the sweeper, live sessions kept and served meanwhile', async () => {
    const coll = db.db.collection<Doc>('backlog');
    const live = docs(100, 3_600_000, 'live');
    await insert(coll, [...docs(40_000, -60_000, 'expired'), ...live]);
    const started = Date.now();
    const store = await db.open({ collection: 'backlog', autoIndex: false, lifecheck: 200 });
    let swept = 0;
    store.on('sweep', (n) => {
      swept += n;
    });
    // Reads are served, right, while the sweep works through its batches.
    let reads = 0;
    await eventually(
      async () => {
        expect(await store.get(live[reads % live.length]._id)).toMatchObject({ n: 1 });
        reads += 1;
        return swept >= 40_000;
      },
      400_000,
      'the backlog to be swept',
    );
    expect(reads).toBeGreaterThan(1);
    console.log(`40,000 expired sessions swept in ${Date.now() - started} ms`);
    expect(swept).toBe(40_000);
    expect(await coll.countDocuments()).toBe(100);
    expect(await store.length()).toBe(100);
    for (const d of live.slice(0, 5)) expect(await store.get(d._id)).toMatchObject({ n: 1 });
  }, 420_000);

  it('is emptied by clear(), however large', async () => {
    const coll = db.db.collection<Doc>('clear_backlog');
    await insert(coll, docs(40_000, -60_000, 'e'));
    const store = await db.open({ collection: 'clear_backlog', autoIndex: false, lifecheck: -1 });
    await store.set(sid(), { cookie: cookie() } as never);
    const started = Date.now();
    await store.clear();
    console.log(`clear() of 40,001 sessions took ${Date.now() - started} ms`);
    expect(await coll.countDocuments()).toBe(0);
  }, 420_000);
});
