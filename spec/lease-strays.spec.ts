import { MongooseStore } from '../lib/index';
import { eventually, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('lease_strays');

const EVERY = 200;
const takenAt = new Date(0);

/** Documents someone might leave in `<collection>.lease`, by hand or by another program. */
const strays: [string, Record<string, unknown>][] = [
  ['a string _id', { _id: 'left-by-hand', note: 'not a term' }],
  ['an object _id', { _id: { by: 'hand' }, holder: 'someone-else', term: EVERY, takenAt }],
  ['no term', { _id: 1_000, holder: 'someone-else', takenAt }],
  ['a term of 10^15 ms', { _id: 1_000, holder: 'someone-else', term: 1e15, takenAt }],
  ['an _id of 2^53', { _id: 2 ** 53, holder: null, term: 0, takenAt }],
];

/** A store sweeping `name` every {@link EVERY} ms, with its errors and sweeps counted. */
async function sweeping(name: string) {
  const seen = { sweeps: 0, errors: [] as Error[] };
  const store = await new Promise<MongooseStore>((ok, fail) => {
    const s: MongooseStore = new MongooseStore(
      db.uri,
      { collection: name, autoIndex: false, lifecheck: EVERY },
      (err) => (err ? fail(err) : ok(s)),
    );
    db.stores.push(s);
    // From the constructor on: a report may come before the store is ready.
    s.on('error', (e) => seen.errors.push(e));
    s.on('sweep', () => {
      seen.sweeps += 1;
    });
  });
  return { store, seen };
}

describe('a stray document in the lease collection', () => {
  it.each(strays)(
    'with %s is ignored and reported once, and sweeps go on',
    async (_what, stray) => {
      const name = uniqueCollection();
      const { seen } = await sweeping(name);
      await eventually(() => seen.sweeps >= 1, 10_000, 'a first sweep');
      await db.db.collection(`${name}.lease`).insertOne(stray as never);
      const planted = seen.sweeps;
      // A heartbeat reads the stray within half a term; a takeover from it takes one term.
      await eventually(() => seen.sweeps >= planted + 5, 15_000, 'five sweeps after the stray');
      const reports = seen.errors.filter(
        (e) => (e as { code?: unknown }).code === 'ERR_LEASE_INVALID',
      );
      expect(reports).toHaveLength(1);
      expect(reports[0].message).toMatch(
        /^connect-mongoose-session: a document in \S+\.lease is not a term of the sweep lease \(its \w+ .+\)/,
      );
      // What is wrong, in words; nothing the document holds.
      expect(reports[0].message).not.toMatch(/left-by-hand|someone-else|hand|1000|1e\+15|9007/);
      expect(seen.errors).toEqual(reports);
    },
    30_000,
  );

  it('is reported once by each store, however many heartbeats read it', async () => {
    const name = uniqueCollection();
    await db.db.collection(`${name}.lease`).insertOne({ _id: 'left-by-hand' } as never);
    const two = await Promise.all([sweeping(name), sweeping(name)]);
    await eventually(
      () => two.reduce((n, t) => n + t.seen.sweeps, 0) >= 10,
      15_000,
      'ten sweeps between the two stores',
    );
    for (const { seen } of two) expect(seen.errors.map((e) => e.message)).toHaveLength(1);
  }, 30_000);

  it('at the last term number, leaves each store sweeping alone, said once', async () => {
    const name = uniqueCollection();
    // Well-formed, but numbered so that no next term can be taken: only by hand.
    await db.db
      .collection(`${name}.lease`)
      .insertOne({ _id: 2 ** 52, holder: null, term: 0, takenAt } as never);
    const two = await Promise.all([sweeping(name), sweeping(name)]);
    await eventually(
      () => two.every((t) => t.seen.sweeps >= 3),
      15_000,
      'three sweeps by each store',
    );
    for (const { seen } of two) {
      expect(seen.errors).toHaveLength(1);
      expect(seen.errors[0]).toMatchObject({ code: 'ERR_LEASE_INVALID' });
      expect(seen.errors[0].message).toMatch(/the last one a lease counts to .*sweeps alone/);
    }
  }, 30_000);
});
