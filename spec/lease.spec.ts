import mongoose, { type mongo } from 'mongoose';
import { MongooseStore, type MongooseStoreOptions } from '../lib/index';
import { Lease, type LeaseTerm, leaseName } from '../lib/lease';
import { log } from '../lib/log';
import type { Capability } from '../tools/capabilities';
import { describeIf, eventually, server, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('lease');

/** Leases made by a test, stopped after it. */
const leases: Lease[] = [];
afterEach(async () => {
  await Promise.all(leases.splice(0).map((l) => l.stop()));
});

/** A lease on `coll` that can be cut off from the server, as a partitioned instance is. */
function leaseOn(coll: mongo.Collection<LeaseTerm>) {
  const errors: Error[] = [];
  const state = { cut: false };
  const lease = new Lease(
    async () => {
      if (state.cut) throw new Error('cut off from the server');
      return coll;
    },
    {
      taken: () => {},
      refused: (e) => errors.push(e),
      failed: (e) => errors.push(e),
      invalid: (e) => errors.push(e),
    },
  );
  leases.push(lease);
  return { lease, errors, state };
}

/** Samples how many of `leases` are held, every few milliseconds, until stopped. */
function sampleHolders(of: Lease[]) {
  const seen = { samples: 0, most: 0, none: 0 };
  const timer = setInterval(() => {
    const n = of.filter((l) => l.held).length;
    seen.samples += 1;
    seen.most = Math.max(seen.most, n);
    if (n === 0) seen.none += 1;
  }, 2);
  return { seen, stop: () => clearInterval(timer) };
}

const newestTerm = async (coll: mongo.Collection<LeaseTerm>) =>
  (await coll.find({}, { sort: { _id: -1 }, limit: 1 }).toArray())[0];

describe('Lease', () => {
  it('is held by at most one of four leases at any moment, and passes from term to term', async () => {
    const coll = db.db.collection<LeaseTerm>(uniqueCollection('lease'));
    const four = [1, 2, 3, 4].map(() => leaseOn(coll).lease);
    const sampling = sampleHolders(four);
    for (const l of four) l.start(100);
    try {
      await eventually(async () => ((await newestTerm(coll))?._id ?? 0) >= 10, 20_000, '10 terms');
    } finally {
      sampling.stop();
    }
    expect(sampling.seen.most).toBe(1);
    // Old terms are deleted as new ones are taken.
    expect(await coll.countDocuments()).toBeLessThanOrEqual(3);
  });

  it('passes to another instance within a term and a half once the holder is cut off', async () => {
    const coll = db.db.collection<LeaseTerm>(uniqueCollection('lease'));
    // Long enough that a busy server's latency fits in the half term of slack.
    const term = 1_000;
    const three = [1, 2, 3].map(() => leaseOn(coll));
    const sampling = sampleHolders(three.map((t) => t.lease));
    for (const t of three) t.lease.start(term);
    try {
      await eventually(() => three.some((t) => t.lease.held), 5_000, 'a holder');
      const holder = three.find((t) => t.lease.held) as (typeof three)[number];
      holder.state.cut = true;
      const cut = performance.now();
      await eventually(
        () => three.some((t) => t !== holder && t.lease.held),
        5_000,
        'another holder',
      );
      const took = performance.now() - cut;
      expect(took).toBeLessThan(2 * term);
      expect(holder.lease.held).toBe(false);
      // It said once that it could not reach the server, however many heartbeats failed.
      expect(holder.errors.map((e) => e.message)).toEqual(['cut off from the server']);
    } finally {
      sampling.stop();
    }
    expect(sampling.seen.most).toBe(1);
  });

  it('is given up by stop(), in a term with no holder that the next heartbeat takes', async () => {
    const coll = db.db.collection<LeaseTerm>(uniqueCollection('lease'));
    const a = leaseOn(coll).lease;
    a.start(60_000);
    await eventually(() => a.held, 5_000, 'a to hold the lease');
    const b = leaseOn(coll).lease;
    b.start(60_000);
    await eventually(async () => (await newestTerm(coll))?._id === 1, 5_000, 'b to see term 1');
    await a.stop();
    expect(a.held).toBe(false);
    // The give-up is a term of its own with no holder; b may take the next one at once.
    expect(await coll.findOne({ _id: 2 })).toMatchObject({ holder: null });
    if (!b.held) {
      // b's next heartbeat is half a term away: stop and start it to have it now.
      await b.stop();
      b.start(60_000);
    }
    await eventually(() => b.held, 5_000, 'b to take the free lease');
    // b holds the newest term (it may have renewed once or twice by now).
    const newest = await newestTerm(coll);
    expect(newest).toMatchObject({ holder: b.me });
    expect(newest?._id).toBeGreaterThanOrEqual(3);
  });
});

/** The holder of `name`'s lease, as the lease collection says. */
const leaseOf = (name: string) => db.db.collection<LeaseTerm>(leaseName(name));

/** Counts the sweeps of each of `stores`. */
function sweepsOf(stores: MongooseStore[]): number[] {
  const runs = stores.map(() => 0);
  stores.forEach((s, i) => {
    s.on('sweep', () => {
      runs[i] += 1;
    });
  });
  return runs;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('the lease among stores', () => {
  const every = 200;
  let name = '';
  beforeEach(() => {
    name = uniqueCollection();
  });
  const open = (options: MongooseStoreOptions = {}) =>
    db.open({ collection: name, autoIndex: false, lifecheck: every, ...options });

  it('lets four stores on one collection sweep it about once per interval between them', async () => {
    const stores = await Promise.all([1, 2, 3, 4].map(() => open()));
    const runs = sweepsOf(stores);
    const started = performance.now();
    await eventually(() => sum(runs) >= 12, 20_000, '12 sweeps in all');
    const intervals = (performance.now() - started) / every;
    // Unshared, four stores would sweep four times per interval.
    expect(sum(runs)).toBeLessThanOrEqual(intervals * 1.3 + 1);
  });

  const aHolder = () =>
    eventually(
      async () => typeof (await newestTerm(leaseOf(name)))?.holder === 'string',
      5_000,
      'a holder',
    );

  it('gives the lease up on close(), before closing its connection: the next store takes it at once', async () => {
    const first = await open({ lifecheck: 60_000 });
    await aHolder();
    await first.close();
    expect(await newestTerm(leaseOf(name))).toMatchObject({ holder: null });
    await open({ lifecheck: 60_000 });
    // Long before a 60 s term could have ended.
    await aHolder();
  });

  it('gives the lease up on close() of a store on a connection given to it', async () => {
    const conn = await mongoose.createConnection(db.uri).asPromise();
    try {
      const store = await new Promise<MongooseStore>((ok, fail) => {
        const s: MongooseStore = new MongooseStore(
          null,
          { connection: conn, collection: name, autoIndex: false, lifecheck: 60_000 },
          (err) => (err ? fail(err) : ok(s)),
        );
      });
      await aHolder();
      await store.close();
      // The connection stays open, and the give-up goes through it.
      await eventually(
        async () => (await newestTerm(leaseOf(name)))?.holder === null,
        5_000,
        'a term with no holder',
      );
    } finally {
      await conn.close();
    }
  });

  it('writes no lease with lifecheck -1', async () => {
    await open({ lifecheck: -1 });
    // A sweeping store on another collection: by its first sweep, a lease would have been written.
    const witness = await db.open({
      collection: uniqueCollection(),
      autoIndex: false,
      lifecheck: 50,
    });
    await new Promise<void>((done) => witness.once('sweep', () => done()));
    expect(await db.db.listCollections({ name: leaseName(name) }).toArray()).toEqual([]);
  });

  describeIf(server.caps.ttlIndex, 'with the TTL index in charge and no lifecheck', () => {
    it('runs no sweeper and writes no lease', async () => {
      const store = await db.open({ collection: name });
      expect(
        (store as unknown as { cleanup: { interval: number | undefined } }).cleanup.interval,
      ).toBeUndefined();
      const witness = await db.open({
        collection: uniqueCollection(),
        autoIndex: false,
        lifecheck: 50,
      });
      await new Promise<void>((done) => witness.once('sweep', () => done()));
      expect(await db.db.listCollections({ name: leaseName(name) }).toArray()).toEqual([]);
    });
  });

  describeIf(refusableLease(), 'on a server that refuses the lease collection', () => {
    it('sweeps alone in every store, and each says so once', async () => {
      // A name the server takes for sessions, and refuses once '.lease' is added to it.
      name = 'x'.repeat(longestName() as number);
      const lines: string[] = [];
      const { enabled, log: print } = log;
      log.enabled = true;
      log.log = (...args: unknown[]) => lines.push(args.map(String).join(' '));
      try {
        // Listening from the constructor on: the refusal may come before the store is ready.
        const errors: Error[][] = [[], []];
        const stores = await Promise.all(
          errors.map(
            (seen) =>
              new Promise<MongooseStore>((ok, fail) => {
                const store: MongooseStore = new MongooseStore(
                  db.uri,
                  { collection: name, autoIndex: false, lifecheck: every },
                  (err) => (err ? fail(err) : ok(store)),
                );
                db.stores.push(store);
                store.on('error', (e) => seen.push(e));
              }),
          ),
        );
        const runs = sweepsOf(stores);
        await eventually(() => runs.every((n) => n >= 3), 10_000, 'three sweeps by each store');
        for (const e of errors) {
          expect(e.map((x) => x.message)).toEqual([
            expect.stringMatching(/refused the sweep lease .*this store sweeps alone/),
          ]);
        }
        expect(lines.filter((l) => /refused the sweep lease/.test(l))).toHaveLength(2);
      } finally {
        log.enabled = enabled;
        log.log = print;
      }
    });
  });
});

/**
 * The longest collection name the run's server takes in the spec's database: FerretDB 1.x
 * takes 235 characters; mongod 255 bytes with the database's name and a dot. Unknown for a
 * server given by `MONGODB_URI`.
 */
function longestName(): number | undefined {
  if (server.kind === 'ferretdb') return 235;
  if (server.kind === 'mongod') return 255 - db.name.length - 1;
  return undefined;
}

function refusableLease(): Capability {
  return longestName() === undefined
    ? { ok: false, reason: `the longest collection name a ${server.kind} server takes is unknown` }
    : { ok: true, reason: '' };
}
