import { execFileSync } from 'node:child_process';
import type { SessionDocument } from '../lib/schema';
import type { Capability } from '../tools/capabilities';
import { describeIf, eventually, sid, uniqueCollection, useDatabase } from './support/server';
import { countingSweeper } from './support/sweeper';

const db = useDatabase('sweep_busy');

/** Only the store under test meets the fail point: its client carries this name. */
const APP = 'cms-sweep-busy';

/** `n` sessions that expired 10 s ago, in a collection of their own without a TTL index. */
async function plantExpired(name: string, n = 5): Promise<void> {
  const expired = Array.from({ length: n }, (_, i) => ({
    _id: sid(),
    expiresAt: new Date(Date.now() - 10_000 - i),
  }));
  await db.db.collection<{ _id: string; expiresAt: Date }>(name).insertMany(expired);
}

/**
 * The sweeper of a store on `name`, whose deletes meet a locked database as FerretDB 1.x on
 * SQLite answers under load: the `busy` first ones (all of them with Infinity).
 */
function busySweeper(name: string, busy: number, lifecheck: number) {
  const real = db.db.collection<SessionDocument>(name);
  let deletes = 0;
  const coll = new Proxy(real, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== 'deleteMany') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: Parameters<typeof real.deleteMany>) => {
        deletes += 1;
        if (deletes <= busy)
          return Promise.reject(new Error('database is locked (5) (SQLITE_BUSY)'));
        return target.deleteMany(...args);
      };
    },
  });
  const { cleanup, seen } = countingSweeper(db.uri, name, coll, lifecheck);
  return { cleanup, coll, seen };
}

describe('a sweep whose deletes meet a locked database', () => {
  it('is retried step by step, and deletes every expired session with no error', async () => {
    const name = uniqueCollection();
    await plantExpired(name);
    // A term of 1 s: on a busy machine, a shorter one may lapse while a step waits to retry.
    const { cleanup, coll, seen } = busySweeper(name, 2, 1_000);
    try {
      await cleanup.prepare(coll);
      await eventually(() => seen.deleted >= 5, 10_000, 'the expired sessions swept');
    } finally {
      await cleanup.stop();
    }
    expect(seen.errors).toEqual([]);
    expect(seen.deleted).toBe(5);
    expect(await db.db.collection(name).countDocuments()).toBe(0);
  });

  it('gives up with ERR_SERVER_BUSY, without the server text, and tries again next time', async () => {
    const name = uniqueCollection();
    await plantExpired(name);
    // A term of 1 s, renewed every half second, outlives the retries of a sweep (about 1.5 s).
    const { cleanup, coll, seen } = busySweeper(name, Number.POSITIVE_INFINITY, 1_000);
    try {
      await cleanup.prepare(coll);
      await eventually(() => seen.errors.length >= 2, 30_000, 'two sweeps that give up');
    } finally {
      await cleanup.stop();
    }
    for (const err of seen.errors.slice(0, 2)) {
      expect(err).toMatchObject({ code: 'ERR_SERVER_BUSY' });
      expect(err.message).not.toMatch(/locked|SQLITE/);
    }
    expect(seen.runs).toBe(0);
    expect(await db.db.collection(name).countDocuments()).toBe(5);
  }, 40_000);
});

/**
 * Whether the server has the `failCommand` fail point (mongod with enableTestCommands; not
 * FerretDB). Asked in a child process because `describeIf` needs the answer before any
 * test runs, and a spec file cannot await at its top level.
 */
function failCommand(): Capability {
  const script = `
    const { MongoClient } = require('mongodb');
    (async () => {
      const client = await MongoClient.connect(process.argv[1], { serverSelectionTimeoutMS: 5000 });
      try {
        await client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
        console.log('yes');
      } catch (err) {
        console.log(err.codeName ?? err.name, err.code ?? '');
      } finally {
        await client.close();
      }
    })();`;
  const answer = execFileSync(process.execPath, ['-e', script, db.uri], {
    encoding: 'utf8',
  }).trim();
  return answer === 'yes'
    ? { ok: true, reason: '' }
    : { ok: false, reason: `the server has no failCommand fail point (${answer})` };
}

describeIf(failCommand(), 'a sweep whose deletes the server refuses, transiently', () => {
  afterEach(async () => {
    await db.client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
  });

  it('is retried, and deletes every expired session with no error', async () => {
    const name = uniqueCollection();
    await plantExpired(name);
    // The next two deletes of the store's client fail as a write conflict would.
    await db.client.db('admin').command({
      configureFailPoint: 'failCommand',
      mode: { times: 2 },
      data: { failCommands: ['delete'], errorCode: 112, appName: APP },
    });
    const store = await db.open({
      collection: name,
      autoIndex: false,
      lifecheck: 100,
      connectionOptions: { appName: APP },
    });
    const errors: Error[] = [];
    store.on('error', (e) => errors.push(e));
    let deleted = 0;
    store.on('sweep', (n) => {
      deleted += n;
    });
    await eventually(() => deleted >= 5, 10_000, 'the expired sessions swept');
    expect(errors).toEqual([]);
    expect(deleted).toBe(5);
    expect(await db.db.collection(name).countDocuments()).toBe(0);
  });
});
