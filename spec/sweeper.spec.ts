import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import { Sweeper } from '../lib/sweeper';
import { useDeleters } from './support/deleter';
import { cookie, eventually, sid, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('sweeper');
const deleter = useDeleters();

// The store specs sweep a collection of the test's own with autoIndex: false, which no TTL
// index covers: whatever the server, only our sweeper (or the spec's own deleter) deletes.
let name = '';
beforeEach(() => {
  name = uniqueCollection();
});
const sessions = () => db.db.collection<{ _id: string; expiresAt: Date }>(name);
const open = (options: MongooseStoreOptions) =>
  db.open({ collection: name, autoIndex: false, ...options });
const sweeperInterval = (store: object) =>
  (store as { cleanup: { interval: number | undefined } }).cleanup.interval;
const expired = (ms = 1_000) => ({ _id: sid(), expiresAt: new Date(Date.now() - ms) });

/** Counts the sweeps of `store` from now on. */
function sweepsOf(store: MongooseStore): { runs: number; deleted: number } {
  const seen = { runs: 0, deleted: 0 };
  store.on('sweep', (n) => {
    seen.runs += 1;
    seen.deleted += n;
  });
  return seen;
}

/**
 * Resolves once a running sweeper on a collection of its own has swept `runs` more times: long
 * enough for any sweeper at `every` ms to have run too, however slow the machine is today.
 */
async function sweeperTime(every: number, runs = 3): Promise<void> {
  const witness = await db.open({
    collection: uniqueCollection('witness'),
    autoIndex: false,
    lifecheck: every,
  });
  const seen = sweepsOf(witness);
  await eventually(() => seen.runs >= runs, 30_000, `${runs} sweeps of a witness`);
}

describe('Sweeper', () => {
  it('never overlaps runs, even when a run outlasts the interval', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const sweeper = new Sweeper(
      async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 60));
        running -= 1;
        runs += 1;
        return 0;
      },
      { swept: () => {}, failed: () => {} },
    );
    sweeper.start(5);
    await eventually(() => runs >= 4, 5_000, 'four sweeps');
    sweeper.stop();
    expect(maxRunning).toBe(1);
  });

  it('reports a failed run and keeps sweeping', async () => {
    const errors: Error[] = [];
    let runs = 0;
    const sweeper = new Sweeper(
      async () => {
        runs += 1;
        if (runs === 1) throw new Error('first run fails');
        return 3;
      },
      { swept: () => {}, failed: (e) => errors.push(e) },
    );
    sweeper.start(5);
    await eventually(() => runs >= 2, 5_000, 'a second sweep');
    sweeper.stop();
    expect(errors.map((e) => e.message)).toEqual(['first run fails']);
  });

  it('does not report a run that did not sweep', async () => {
    const swept: number[] = [];
    let runs = 0;
    const sweeper = new Sweeper(
      async () => {
        runs += 1;
        // Every other run finds another instance holding the lease.
        return runs % 2 === 0 ? undefined : runs;
      },
      { swept: (n) => swept.push(n), failed: () => {} },
    );
    sweeper.start(5);
    await eventually(() => runs >= 4, 5_000, 'four runs');
    sweeper.stop();
    expect(swept.slice(0, 2)).toEqual([1, 3]);
  });

  it('sweeps at once when asked to, then every interval again', async () => {
    let runs = 0;
    const sweeper = new Sweeper(
      async () => {
        runs += 1;
        return 0;
      },
      { swept: () => {}, failed: () => {} },
    );
    sweeper.start(60_000);
    sweeper.soon();
    await eventually(() => runs === 1, 5_000, 'a sweep long before the interval');
    expect(sweeper.interval).toBe(60_000);
    expect((sweeper as unknown as { timer: NodeJS.Timeout | undefined }).timer).toBeDefined();
    sweeper.stop();
  });

  it('is not made to overlap a run under way, nor to run while stopped, by a call to sweep at once', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let finish = () => {};
    const sweeper = new Sweeper(
      async () => {
        running += 1;
        runs += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((done) => {
          finish = done;
        });
        running -= 1;
        return 0;
      },
      { swept: () => {}, failed: () => {} },
    );
    sweeper.soon();
    expect(runs).toBe(0);
    sweeper.start(60_000);
    sweeper.soon();
    sweeper.soon();
    expect(runs).toBe(1);
    finish();
    sweeper.stop();
    expect(maxRunning).toBe(1);
  });

  it('does not keep the process alive', () => {
    const sweeper = new Sweeper(async () => 0, { swept: () => {}, failed: () => {} });
    sweeper.start(60_000);
    const timer = (sweeper as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
    sweeper.stop();
  });
});

describe('the store sweeper', () => {
  it('deletes expired sessions every lifecheck ms and reports the count', async () => {
    const store = await open({ lifecheck: 100 });
    const seen = sweepsOf(store);
    const live = sid();
    await store.set(live, { cookie: cookie() } as never);
    await sessions().insertMany([expired(1_000), expired(2_000)]);
    // A sweep may fall between the two inserts: count what all sweeps deleted.
    await eventually(() => seen.deleted >= 2, 15_000, 'sweeps that delete both');
    expect(seen.deleted).toBe(2);
    expect((await sessions().find().toArray()).map((d) => d._id)).toEqual([live]);
  });

  it('stops on close', async () => {
    const store = await open({ lifecheck: 50 });
    const seen = sweepsOf(store);
    const errors: Error[] = [];
    store.on('error', (err) => errors.push(err));
    // Closed from the sweep event, when no run is under way: what is tested is that none
    // starts after close.
    await new Promise<void>((done, fail) =>
      store.once('sweep', () => {
        store.close().then(done, fail);
      }),
    );
    const after = seen.runs;
    await sessions().insertOne(expired());
    await sweeperTime(50);
    expect(seen.runs).toBe(after);
    expect(errors).toEqual([]);
    // A sweeper left running would only fail, silently, against the closed store: ask it.
    expect(sweeperInterval(store)).toBeUndefined();
    expect(await sessions().countDocuments()).toBe(1);
  });

  it('does not run with lifecheck -1, even where the server refuses TTL', async () => {
    const store = await db.open({ collection: name, lifecheck: -1 });
    const seen = sweepsOf(store);
    expect(sweeperInterval(store)).toBeUndefined();
    await sweeperTime(50);
    expect(seen.runs).toBe(0);
  });
});

describe('the store sweeper, while another client deletes expired sessions at once', () => {
  it('keeps sweeping without error, never deletes a live session, and deletes each expired one once between them', async () => {
    const store = await open({ lifecheck: 50 });
    const errors: Error[] = [];
    store.on('error', (err) => errors.push(err));
    const seen = sweepsOf(store);
    const running = deleter(sessions());
    const live = sid();
    await store.set(live, { cookie: cookie(), n: 1 } as never);
    const stale = [expired(1_000), expired(2_000), expired(3_000)];
    await sessions().insertMany(stale);
    await eventually(
      async () => (await sessions().countDocuments({ _id: { $ne: live } })) === 0,
      15_000,
      'the expired sessions to vanish',
    );
    const runs = seen.runs;
    await eventually(() => seen.runs >= runs + 2, 15_000, 'two more sweeps');
    expect(errors).toEqual([]);
    expect(seen.deleted + running.deleted).toBe(stale.length);
    expect(await store.get(live)).toMatchObject({ n: 1 });
  });
});
