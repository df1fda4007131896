import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { MongooseStore } from '../lib/index';
import { launchable } from '../tools/test-server';
import { describeIf, eventually, server, sid, useDatabase } from './support/server';

const db = useDatabase('connection');

describeIf(launchable(server.mongodBinary), 'a server that is down at start', () => {
  let seen: Record<string, unknown>;

  beforeAll(async () => {
    const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const run = await promisify(execFile)(tsx, [join(__dirname, 'fixtures', 'recovery.ts')], {
      env: { ...process.env, FIXTURE_MONGOD_BINARY: server.mongodBinary },
      timeout: 90_000,
    }).catch((err: { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }));
    const last = run.stdout.trim().split('\n').at(-1) ?? '{}';
    seen = JSON.parse(last);
    if (seen.failed) throw new Error(`the recovery fixture failed: ${seen.failed}\n${run.stderr}`);
  }, 100_000);

  it('leaves nothing unhandled', () => {
    expect(seen.unhandled).toEqual([]);
  });

  it('fails operations with a clear error within the selection timeout', () => {
    expect(seen.downError).toMatch(/ECONNREFUSED|Server selection timed out/);
    expect(seen.downMs).toBeLessThan(5_000);
  });

  it('reports the failed first start to the constructor callback', () => {
    expect(seen.startError).toMatch(/ECONNREFUSED|Server selection/);
  });

  it('recovers by itself when the server comes up, and serves sessions', () => {
    expect(seen.afterUp).toMatchObject({ n: 1 });
  });

  it('emits disconnect and connect as the server goes and comes back', () => {
    expect(seen.events).toEqual(['disconnect', 'connect', 'disconnect', 'connect']);
    expect(seen.afterBack).toMatchObject({ n: 1 });
  });

  it('refuses operations after close, which may be called twice', () => {
    expect(seen.closedError).toBe('ERR_STORE_CLOSED');
  });
});

describe('a connection given by the user', () => {
  it('is used, and left open by close()', async () => {
    const conn = await mongoose.createConnection(db.uri).asPromise();
    try {
      const store = await db.open({ connection: conn }, null as never);
      const id = sid();
      await store.set(id, { cookie: { expires: new Date(Date.now() + 60_000) } } as never);
      expect(await conn.db?.collection('sessions').countDocuments({ _id: id as never })).toBe(1);
      await store.close();
      expect(conn.readyState).toBe(mongoose.ConnectionStates.connected);
    } finally {
      await conn.close();
    }
  });

  it('takes its listeners off it on close, so stores come and go without a leak', async () => {
    const conn = await mongoose.createConnection(db.uri).asPromise();
    try {
      const before = ['error', 'connected', 'disconnected'].map((e) => conn.listenerCount(e));
      for (let i = 0; i < 3; i++) {
        const store = await db.open({ connection: conn }, null as never);
        await store.close();
      }
      expect(['error', 'connected', 'disconnected'].map((e) => conn.listenerCount(e))).toEqual(
        before,
      );
    } finally {
      await conn.close();
    }
  });

  it('sends background errors to an error listener, and only when there is one', async () => {
    const conn = await mongoose.createConnection(db.uri).asPromise();
    const store = await db.open({ connection: conn, lifecheck: 30 }, null as never);
    const emitted: string[] = [];
    const emit = store.emit.bind(store) as (event: string, ...args: unknown[]) => boolean;
    store.emit = ((event: string, ...args: unknown[]) => {
      emitted.push(event);
      return emit(event, ...args);
    }) as typeof store.emit;
    await conn.close();
    // The sweeper now fails on every run; with no listener nothing is emitted or thrown.
    await new Promise((r) => setTimeout(r, 200));
    expect(emitted).not.toContain('error');
    const err = await new Promise<Error>((ok) => store.once('error', ok));
    expect(err.message).toMatch(/closed|not connected|Client must be connected/i);
  });
});

describe('close', () => {
  it('is idempotent and makes later operations fail with ERR_STORE_CLOSED', async () => {
    const store = await db.open();
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
    await expect(store.get(sid())).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
  });

  it('fails a touch after close even when touchAfter would skip its write', async () => {
    const store = await db.open({ touchAfter: 60_000 });
    const id = sid();
    const cookie = { expires: new Date(Date.now() + 600_000) };
    await store.set(id, { cookie } as never);
    await store.close();
    await expect(store.touch(id, { cookie } as never)).rejects.toMatchObject({
      code: 'ERR_STORE_CLOSED',
    });
  });

  it('lets a store created and closed at once shut down cleanly', async () => {
    const store = new MongooseStore(db.uri, { lifecheck: 20 });
    await store.close();
    await expect(store.set(sid(), { cookie: {} } as never)).rejects.toMatchObject({
      code: 'ERR_STORE_CLOSED',
    });
    await eventually(() => true);
  });
});
