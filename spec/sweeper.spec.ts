import { Sweeper } from '../lib/sweeper';
import { eventually, sid, useDatabase } from './support/server';

const db = useDatabase('sweeper');
const sessions = () => db.db.collection<{ _id: string; expiresAt: Date }>('sessions');

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
    const store = await db.open({ lifecheck: 100 });
    const live = sid();
    await store.set(live, { cookie: { expires: new Date(Date.now() + 60_000) } } as never);
    await sessions().insertMany([
      { _id: sid(), expiresAt: new Date(Date.now() - 1_000) },
      { _id: sid(), expiresAt: new Date(Date.now() - 2_000) },
    ]);
    const deleted: number[] = [];
    store.on('sweep', (n) => deleted.push(n));
    await eventually(() => deleted.some((n) => n > 0), 5_000, 'a sweep that deletes');
    expect(deleted.reduce((a, b) => a + b, 0)).toBe(2);
    expect((await sessions().find().toArray()).map((d) => d._id)).toEqual([live]);
  });

  it('stops on close', async () => {
    const store = await db.open({ lifecheck: 50 });
    let sweeps = 0;
    store.on('sweep', () => {
      sweeps += 1;
    });
    await eventually(() => sweeps > 0, 5_000, 'a first sweep');
    await store.close();
    const after = sweeps;
    await sessions().insertOne({ _id: sid(), expiresAt: new Date(Date.now() - 1_000) });
    await new Promise((r) => setTimeout(r, 300));
    expect(sweeps).toBe(after);
    expect(await sessions().countDocuments()).toBe(1);
  });

  it('does not run with lifecheck -1, even where the server refuses TTL', async () => {
    const store = await db.open({ lifecheck: -1 });
    let sweeps = 0;
    store.on('sweep', () => {
      sweeps += 1;
    });
    expect(
      (store as unknown as { cleanup: { interval: number | undefined } }).cleanup.interval,
    ).toBeUndefined();
    expect(sweeps).toBe(0);
  });
});
