import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { MongooseStore } from '../lib/index';
import { freePort, launchable, type RunningServer, startServerOn } from '../tools/test-server';
import {
  cookie,
  describeIf,
  eventually,
  server,
  sid,
  uniqueCollection,
  useDatabase,
} from './support/server';

const db = useDatabase('connection');

/** A URI on a loopback port where nothing listens: connects are refused, and wait out the selection timeout. */
async function nowhere(): Promise<string> {
  return `mongodb://127.0.0.1:${await freePort()}/nowhere`;
}

/**
 * A store on {@link nowhere}, whose first connect waits `selectionMs` before it fails, and
 * what its constructor callback is given.
 */
async function stranded(
  selectionMs: number,
): Promise<{ store: MongooseStore; started: Promise<Error | undefined> }> {
  const uri = await nowhere();
  let store: MongooseStore | undefined;
  const started = new Promise<Error | undefined>((ok) => {
    store = new MongooseStore(
      uri,
      { connectionOptions: { serverSelectionTimeoutMS: selectionMs } },
      ok,
    );
  });
  return { store: store as MongooseStore, started };
}

/** How many milliseconds `work` took to settle. */
async function took(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work().catch(() => {});
  return performance.now() - started;
}

describeIf(launchable(server.mongodBinary), 'a server that is down at start', () => {
  let seen: Record<string, unknown>;
  let exitedAt = Number.NaN;

  beforeAll(async () => {
    const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const run = await promisify(execFile)(tsx, [join(__dirname, 'fixtures', 'recovery.ts')], {
      env: { ...process.env, FIXTURE_MONGOD_BINARY: server.mongodBinary },
      timeout: 90_000,
    }).catch((err: { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }));
    exitedAt = Date.now();
    const last = run.stdout.trim().split('\n').at(-1) ?? '{}';
    seen = JSON.parse(last);
    if (seen.failed) throw new Error(`the recovery fixture failed: ${seen.failed}\n${run.stderr}`);
  }, 100_000);

  it('leaves nothing unhandled', () => {
    expect(seen.unhandled).toEqual([]);
  });

  it('fails operations with ERR_SERVER_UNAVAILABLE in one line within the selection timeout', () => {
    expect(seen.downCode).toBe('ERR_SERVER_UNAVAILABLE');
    expect(seen.downError).toMatch(/^connect-mongoose-session: no server could be selected/);
    expect(seen.downError).not.toMatch(/\n|mongodb:\/\/|127\.0\.0\.1/);
    expect(seen.downCause).toMatch(/ECONNREFUSED|Server selection timed out/);
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

  it('announces an outage that only an operation saw, and the way back', () => {
    expect(seen.quietEvents).toEqual(['connect', 'disconnect', 'connect']);
  });

  it('lets the process exit once its stores are closed, even one closed while connecting', () => {
    expect(exitedAt - (seen.printedAt as number)).toBeLessThan(3_000);
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

  it('works from the first call when it is already open', async () => {
    const conn = await mongoose.createConnection(db.uri).asPromise();
    try {
      const store = new MongooseStore(null, { connection: conn });
      const id = sid();
      await store.set(id, { cookie: cookie() } as never);
      expect(await store.get(id)).toMatchObject({ cookie: { originalMaxAge: 60_000 } });
      await store.close();
    } finally {
      await conn.close();
    }
  });

  it('works from the first call when it is the mongoose default connection', async () => {
    // A Mongoose instance of its own: the worker's global default connection stays untouched.
    const m = new mongoose.Mongoose();
    await m.connect(db.uri);
    try {
      const store = new MongooseStore(null, { connection: m.connection });
      const id = sid();
      await store.set(id, { cookie: cookie() } as never);
      expect(await store.get(id)).not.toBeNull();
      await store.close();
    } finally {
      await m.disconnect();
    }
  });

  it('works from the first call when it is still opening', async () => {
    const conn = mongoose.createConnection(db.uri);
    try {
      const store = new MongooseStore(null, { connection: conn });
      const id = sid();
      await expect(store.get(id)).resolves.toBeNull();
      await store.set(id, { cookie: cookie() } as never);
      expect(await store.get(id)).not.toBeNull();
      await store.close();
    } finally {
      await conn.close();
    }
  });

  it('fails operations with a TypeError naming the option while it was never opened, and works once it is', async () => {
    const conn = mongoose.createConnection();
    try {
      const store = new MongooseStore(null, { connection: conn });
      const connected = new Promise<void>((ok) => store.once('connect', ok));
      await expect(store.get(sid())).rejects.toThrow(
        /^connect-mongoose-session: connection: .*not been opened/,
      );
      await conn.openUri(db.uri);
      await connected;
      await expect(store.get(sid())).resolves.toBeNull();
      await store.close();
    } finally {
      await conn.close();
    }
  });

  it.each([
    ['a driver Db', () => db.db, /connection: .*got a MongoDB driver Db/],
    ['a driver MongoClient', () => db.client, /connection: .*got a MongoDB driver MongoClient/],
  ])('refuses %s at construction, saying what to pass instead', (_, given, message) => {
    const create = () => new MongooseStore(null, { connection: given() as never });
    expect(create).toThrow(TypeError);
    expect(create).toThrow(message);
    expect(create).toThrow(/mongoose Connection \(mongoose\.connection/);
  });

  it('sends errors nobody awaits to an error listener, and only when there is one', async () => {
    const conn = await mongoose.createConnection(db.uri).asPromise();
    const store = await db.open({ connection: conn, lifecheck: 30 }, null as never);
    const emitted: string[] = [];
    const emit = store.emit.bind(store) as (event: string, ...args: unknown[]) => boolean;
    store.emit = ((event: string, ...args: unknown[]) => {
      emitted.push(event);
      return emit(event, ...args);
    }) as typeof store.emit;
    // A session nobody can read is reported, not thrown at the request that met it.
    await db.db.collection('sessions').insertOne({
      _id: 'unreadable' as never,
      expiresAt: new Date(Date.now() + 60_000),
      cookie: '{}',
      session: 'not json {',
    });
    expect(await store.get('unreadable')).toBeNull();
    expect(emitted).not.toContain('error');
    const heard = new Promise<Error>((ok) => store.once('error', ok));
    expect(await store.get('unreadable')).toBeNull();
    expect((await heard).message).toMatch(/could not be read/);
    // With the connection gone, the background work fails; with no listener nothing is
    // emitted or thrown.
    emitted.length = 0;
    await conn.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(emitted).not.toContain('error');
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

  it('settles at once while the first connect waits for a server that does not answer', async () => {
    const { store } = await stranded(5_000);
    expect(await took(() => store.close())).toBeLessThan(1_000);
  });

  it('settles at once while it waits to retry a failed first connect', async () => {
    const { store, started } = await stranded(100);
    await started;
    expect(await took(() => store.close())).toBeLessThan(1_000);
  });

  it('fails an operation waiting for the first connect with ERR_STORE_CLOSED, at once', async () => {
    const { store } = await stranded(5_000);
    const pending = store.get(sid());
    const closing = store.close();
    expect(await took(() => pending)).toBeLessThan(1_000);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
    await closing;
  });

  it('fails operations in flight with ERR_STORE_CLOSED, or lets them finish', async () => {
    const store = await db.open();
    const ops = Array.from({ length: 40 }, (_, i) =>
      i % 2 ? store.set(sid(), { cookie: cookie() } as never) : store.get(sid()),
    );
    await store.close();
    const outcomes = await Promise.allSettled(ops);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'ERR_STORE_CLOSED' });
    }
  });

  it('calls the constructor callback with ERR_STORE_CLOSED when closed before it started', async () => {
    const { store, started } = await stranded(5_000);
    await store.close();
    await expect(started).resolves.toMatchObject({ code: 'ERR_STORE_CLOSED' });
  });

  it('resolves a second close() only once the first has', async () => {
    const { store } = await stranded(3_000);
    const order: string[] = [];
    const first = store.close().then(() => order.push('first'));
    const second = store.close().then(() => order.push('second'));
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });

  it('leaves none of its connections in mongoose.connections, whatever state it closed in', async () => {
    const before = mongoose.connections.length;
    for (let i = 0; i < 10; i++) await (await db.open()).close();
    // Closed while its first connect waits, and closed after that connect failed.
    await (await stranded(5_000)).store.close();
    const failed = await stranded(100);
    await failed.started;
    await failed.store.close();
    expect(mongoose.connections.length).toBe(before);
  });

  it('never closes a connection given by the user, even one still opening', async () => {
    const conn = mongoose.createConnection(db.uri);
    try {
      const store = new MongooseStore(null, { connection: conn });
      expect(await took(() => store.close())).toBeLessThan(1_000);
      await conn.asPromise();
      expect(conn.readyState).toBe(mongoose.ConnectionStates.connected);
      expect(mongoose.connections).toContain(conn);
    } finally {
      await conn.close();
    }
  });

  it('gives the sweep lease up through its own connection before closing it', async () => {
    const collection = uniqueCollection();
    const lease = db.db.collection<{ _id: number; holder: string | null }>(`${collection}.lease`);
    const newest = () => lease.find().sort({ _id: -1 }).limit(1).next();
    const store = await db.open({ collection, autoIndex: false, lifecheck: 60_000 });
    await eventually(async () => typeof (await newest())?.holder === 'string', 5_000, 'a holder');
    await store.close();
    expect(await newest()).toMatchObject({ holder: null });
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

describeIf(launchable(server.mongodBinary), 'a short outage that only operations see', () => {
  const seen = {
    /** For each failed operation: whether `disconnect` had been said when it failed. */
    saidBeforeFailure: [] as boolean[],
    failures: [] as string[],
    downEvents: [] as string[],
    killToDisconnectMs: Number.NaN,
    backToConnectMs: Number.NaN,
    events: [] as string[],
    upEvents: [] as string[],
    afterBack: null as unknown,
    closeWhileDownMs: Number.NaN,
  };
  let srv: RunningServer | undefined;

  beforeAll(async () => {
    const port = await freePort();
    const binary = server.mongodBinary || undefined;
    srv = await startServerOn(port, binary);
    // The driver's monitor checks every 10 s (its default): a 2 s outage falls between two
    // checks, and only the operations that run into it can tell.
    const store = await new Promise<MongooseStore>((ok, fail) => {
      const s: MongooseStore = new MongooseStore(
        `${srv?.uri}outage`,
        { lifecheck: -1, connectionOptions: { serverSelectionTimeoutMS: 2_000 } },
        (err) => (err ? fail(err) : ok(s)),
      );
    });
    let disconnectedAt = Number.NaN;
    store.on('disconnect', () => {
      seen.events.push('disconnect');
      disconnectedAt = performance.now();
    });
    store.on('connect', () => seen.events.push('connect'));
    const id = sid();
    await store.set(id, { cookie: cookie() } as never);

    await srv.stop();
    const killedAt = performance.now();
    seen.failures = await Promise.all(
      Array.from({ length: 20 }, () =>
        store.get(id).then(
          () => 'none',
          (err: Error) => {
            seen.saidBeforeFailure.push(seen.events.includes('disconnect'));
            return err.name;
          },
        ),
      ),
    );
    seen.killToDisconnectMs = disconnectedAt - killedAt;
    seen.downEvents = [...seen.events];

    srv = await startServerOn(port, binary);
    const backAt = performance.now();
    await eventually(() => seen.events.at(-1) === 'connect', 8_000, 'connect').then(
      () => {
        seen.backToConnectMs = performance.now() - backAt;
      },
      () => {},
    );
    await store.set(id, { cookie: cookie(), n: 1 } as never);
    seen.afterBack = await store.get(id);
    seen.upEvents = [...seen.events];

    // Down again, and known to be: close() must not wait for the server.
    await srv.stop();
    srv = undefined;
    await store.get(id).catch(() => {});
    seen.closeWhileDownMs = await took(() => store.close());
  }, 60_000);

  afterAll(async () => {
    await srv?.stop();
  });

  it('says disconnect by the time the first operation fails', () => {
    expect(seen.failures.length).toBeGreaterThan(0);
    expect(seen.failures).not.toContain('none');
    expect(seen.saidBeforeFailure.every(Boolean)).toBe(true);
  });

  it('says disconnect once, however many operations fail', () => {
    expect(seen.downEvents).toEqual(['disconnect']);
  });

  it('says connect within 3 s of the server answering again, once', () => {
    expect(seen.backToConnectMs).toBeLessThan(3_000);
    expect(seen.upEvents).toEqual(['disconnect', 'connect']);
  });

  it('serves sessions again once it said connect', () => {
    expect(seen.afterBack).toMatchObject({ n: 1 });
  });

  it('closes at once while the server is down', () => {
    expect(seen.closeWhileDownMs).toBeLessThan(1_000);
  });
});
