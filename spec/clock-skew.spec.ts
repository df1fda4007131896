import type { mongo } from 'mongoose';
import type { MongooseStore } from '../lib/index';
import type { SessionDocument } from '../lib/schema';
import { captureDebug } from './support/debug-lines';
import { eventually, sid, uniqueCollection, useDatabase } from './support/server';
import { countingSweeper } from './support/sweeper';

const db = useDatabase('clock_skew');

const MINUTE = 60_000;
const SKEW = 5 * MINUTE;

/** The server's time now, by its own clock. */
async function serverNow(): Promise<number> {
  const { localTime } = await db.db.command({ hello: 1 });
  return (localTime as Date).getTime();
}

/**
 * 100 sessions with 1 to 4 minutes left and 5 that expired 10 s ago, by the server's clock, in
 * a collection of their own without a TTL index: only the sweeper under test deletes there.
 */
async function plant(name: string): Promise<{ live: string[]; dead: string[] }> {
  const now = await serverNow();
  const live = Array.from({ length: 100 }, (_, i) => ({
    _id: sid(),
    expiresAt: new Date(now + MINUTE + i * 1_800),
  }));
  const dead = Array.from({ length: 5 }, (_, i) => ({
    _id: sid(),
    expiresAt: new Date(now - 10_000 - i),
  }));
  await db.db.collection<{ _id: string; expiresAt: Date }>(name).insertMany([...live, ...dead]);
  return { live: live.map((d) => d._id), dead: dead.map((d) => d._id) };
}

const ids = async (name: string) =>
  (await db.db.collection<{ _id: string }>(name).find().toArray()).map((d) => d._id).sort();

describe('a sweep by a lease holder whose clock runs 5 minutes ahead of the server', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('deletes what expired by the server clock, and no session with minutes left', async () => {
    const name = uniqueCollection();
    const { live } = await plant(name);
    // Only this process's Date runs ahead, and keeps running; its timers, the driver's and
    // the server stay real.
    const real = Date.now();
    jest.useFakeTimers({
      now: real + SKEW,
      advanceTimers: true,
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'requestAnimationFrame',
        'cancelAnimationFrame',
        'requestIdleCallback',
        'cancelIdleCallback',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    // A Date made without arguments, as the sweeper made its own, is ahead too.
    expect(new Date() >= new Date(real + SKEW)).toBe(true);
    const store: MongooseStore = await db.open({
      collection: name,
      autoIndex: false,
      lifecheck: 100,
    });
    const seen = { runs: 0, deleted: 0 };
    store.on('sweep', (n) => {
      seen.runs += 1;
      seen.deleted += n;
    });
    // Past the sweep that deleted the expired ones, two more: none takes a live session.
    await eventually(() => seen.deleted >= 5, 10_000, 'the expired sessions swept');
    const runs = seen.runs;
    await eventually(() => seen.runs >= runs + 2, 10_000, 'two more sweeps');
    jest.useRealTimers();
    expect(seen.deleted).toBe(5);
    expect(await ids(name)).toEqual(live.sort());
  });
});

describe('a sweep against a server whose hello gives no localTime', () => {
  it("sweeps by the host's clock and says so once in the debug log", async () => {
    const name = uniqueCollection();
    const { live } = await plant(name);
    const real = db.db.collection<SessionDocument>(name);
    // The same server, with localTime taken out of every hello answer.
    const timeless = new Proxy(db.db, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (key !== 'command') return typeof value === 'function' ? value.bind(target) : value;
        return async (cmd: mongo.Document, ...rest: unknown[]) => {
          const answer = await target.command(cmd, ...(rest as []));
          delete answer.localTime;
          return answer;
        };
      },
    });
    const coll = new Proxy(real, {
      get(target, key) {
        if (key === 'db') return timeless;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { lines, stop } = captureDebug();
    const { cleanup, seen } = countingSweeper(db.uri, name, coll, 100);
    try {
      await cleanup.prepare(coll);
      await eventually(() => seen.deleted >= 5, 10_000, 'the expired sessions swept');
      const runs = seen.runs;
      await eventually(() => seen.runs >= runs + 2, 10_000, 'two more sweeps');
    } finally {
      await cleanup.stop();
      stop();
    }
    expect(seen.errors).toEqual([]);
    expect(seen.deleted).toBe(5);
    expect(await ids(name)).toEqual(live.sort());
    expect(lines.filter((l) => /gives no localTime/.test(l))).toHaveLength(1);
  });
});
