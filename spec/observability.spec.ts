// See inside: stats() and the operations' tracing channel.
import { execFile } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SessionData } from 'express-session';
import { OPERATION_CHANNEL, type OperationContext } from '../lib/index';
import { cookie, eventually, sid, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('observe');
const channel = diagnosticsChannel.tracingChannel<unknown, OperationContext>(OPERATION_CHANNEL);

const session = (data: Record<string, unknown> = {}, maxAge = 60_000) =>
  ({ cookie: cookie(maxAge), ...data }) as unknown as SessionData;

/** Subscribes for the test: every asyncEnd and error context, in order. */
function listen() {
  const ended: OperationContext[] = [];
  const failed: OperationContext[] = [];
  const handlers = {
    start: () => {},
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (ctx: OperationContext) => {
      ended.push({ ...ctx });
    },
    error: (ctx: OperationContext) => {
      failed.push({ ...ctx });
    },
  };
  channel.subscribe(handlers);
  return { ended, failed, stop: () => channel.unsubscribe(handlers) };
}

describe('the tracing channel', () => {
  it('publishes every operation with its name, collection and outcome, and never an id', async () => {
    const collection = uniqueCollection();
    const store = await db.open({
      collection,
      userId: (s) => (s as unknown as { who?: string }).who,
    });
    const seen = listen();
    try {
      const id = sid();
      await store.set(id, session({ who: 'ann', secretValue: 'do-not-publish' }));
      const loaded = (await store.get(id)) as SessionData;
      await store.touch(id, loaded);
      await store.get(sid());
      await store.length();
      await store.all();
      await store.listByUser('ann');
      await store.destroyByHandle('ann', 'nothing');
      await store.destroyByUser('nobody');
      await store.destroy(id);
      await store.clear();
      const touchAfter0 = await db.open({ collection, touchAfter: 0 });
      const live = sid();
      await touchAfter0.set(live, session());
      await touchAfter0.touch(live, session());
      await touchAfter0.touch(sid(), session());
      const ops = seen.ended.map((c) => [c.operation, c.outcome]);
      expect(ops).toEqual([
        ['set', undefined],
        ['get', 'hit'],
        ['touch', 'skipped'],
        ['get', 'miss'],
        ['length', undefined],
        ['all', undefined],
        ['listByUser', undefined],
        ['destroyByHandle', undefined],
        ['destroyByUser', undefined],
        ['destroy', undefined],
        ['clear', undefined],
        ['set', undefined],
        ['touch', 'written'],
        // Never stored: nothing to move, nothing written.
        ['touch', 'missing'],
      ]);
      for (const ctx of seen.ended) expect(ctx.collection).toBe(collection);
      const text = JSON.stringify(seen.ended);
      expect(text).not.toContain(id);
      expect(text).not.toContain('do-not-publish');
    } finally {
      seen.stop();
    }
  });

  it('says an expired session is expired, and one it cannot read is unreadable', async () => {
    const collection = uniqueCollection();
    const store = await db.open({ collection, autoIndex: false, lifecheck: -1 });
    store.on('error', () => {});
    const coll = db.db.collection<{ _id: string }>(collection);
    const [old, bad] = [sid(), sid()];
    await coll.insertOne({
      _id: old,
      expiresAt: new Date(Date.now() - 60_000),
      cookie: '{}',
      session: '{}',
    } as never);
    await coll.insertOne({
      _id: bad,
      expiresAt: new Date(Date.now() + 60_000),
      cookie: '{}',
      session: 'not json {',
    } as never);
    const seen = listen();
    try {
      await store.get(old);
      await store.get(bad);
      expect(seen.ended.map((c) => c.outcome)).toEqual(['expired', 'unreadable']);
    } finally {
      seen.stop();
    }
  });

  it('publishes a failed operation on error, with what it failed with', async () => {
    const store = await db.open();
    const seen = listen();
    try {
      await expect(store.listByUser('')).rejects.toThrow(TypeError);
      expect(seen.failed.map((c) => c.operation)).toEqual(['listByUser']);
      expect(seen.failed[0]?.error).toBeInstanceOf(TypeError);
    } finally {
      seen.stop();
    }
  });

  it('publishes each sweep with how many it deleted', async () => {
    const collection = uniqueCollection();
    const coll = db.db.collection<{ _id: string }>(collection);
    const seen = listen();
    try {
      await coll.insertOne({ _id: sid(), expiresAt: new Date(Date.now() - 1_000) } as never);
      await db.open({ collection, autoIndex: false, lifecheck: 100 });
      await eventually(
        () => seen.ended.some((c) => c.operation === 'sweep' && c.outcome === 1),
        15_000,
        'a sweep that deleted the expired session',
      );
    } finally {
      seen.stop();
    }
  });

  // Node's channel registry drops a live channel's entry when an older one of the same name is
  // collected later (as in each jest test file after the first), each of the five names on its
  // own: subscribers who asked before and after the drop hold different channels, and each must
  // hear every event of every operation, once.
  it.each(['tracing', 'start', 'asyncEnd'])(
    'reaches subscribers on either side of Node dropping channels from its registry (probe: %s)',
    async (probe) => {
      const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
      const { stdout } = await promisify(execFile)(
        tsx,
        ['--expose-gc', join(__dirname, 'fixtures', 'channel-registry.ts'), probe],
        { env: { ...process.env, FIXTURE_URI: db.uri }, timeout: 30_000 },
      );
      const once = { start: 1, end: 1, asyncStart: 1, asyncEnd: 1, error: 0 };
      expect(JSON.parse(stdout.trim())).toEqual({
        early: once,
        late: once,
        lateAsyncEnd: 1,
        got: null,
      });
    },
    40_000,
  );
});

describe('stats()', () => {
  it('counts live and expired-but-stored sessions, and says who deletes them', async () => {
    const collection = uniqueCollection();
    const store = await db.open({ collection, autoIndex: false, lifecheck: 60_000 });
    const coll = db.db.collection<{ _id: string }>(collection);
    await store.set(sid(), session());
    await store.set(sid(), session());
    // Planted in a collection no TTL index covers, and no sweep is due for a minute.
    await coll.insertOne({ _id: sid(), expiresAt: new Date(Date.now() - 5_000) } as never);
    const stats = await store.stats();
    expect(stats).toMatchObject({
      connected: true,
      expiry: 'sweeper',
      live: 2,
      expired: 1,
    });
    expect(stats.oldestExpiredMs).toBeGreaterThanOrEqual(5_000);
    expect(['holder', 'follower']).toContain(stats.lease);
  });

  it('says none is expired, and what deletes them, with no sweeper and no TTL index', async () => {
    const store = await db.open({
      collection: uniqueCollection(),
      autoIndex: false,
      lifecheck: -1,
    });
    expect(await store.stats()).toMatchObject({
      connected: true,
      expiry: 'none',
      lease: 'off',
      live: 0,
      expired: 0,
      oldestExpiredMs: null,
      lastSweep: null,
    });
  });

  it('gives the last sweep once one ran', async () => {
    const store = await db.open({
      collection: uniqueCollection(),
      autoIndex: false,
      lifecheck: 100,
    });
    await eventually(async () => (await store.stats()).lastSweep !== null, 15_000, 'a sweep');
    const { lastSweep } = await store.stats();
    expect(lastSweep?.at).toBeInstanceOf(Date);
    expect(lastSweep?.deleted).toBe(0);
  });
});
