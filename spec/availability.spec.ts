// When does the store say the server is away, and how long does an operation wait for one?
// One operation that times out is no outage: express-session must keep serving sessions. A
// server that is down at start fails operations within `waitForServer`, in one line.
import type { AddressInfo } from 'node:net';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import mongoose from 'mongoose';
import { MongooseStore, type MongooseStoreError } from '../lib/index';
import { formatUri, parseUri } from '../lib/uris';
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

declare module 'express-session' {
  interface SessionData {
    n: number;
  }
}

const db = useDatabase('availability');

/**
 * A TCP proxy in front of the test server that passes everything on, except, while armed, the
 * requests whose bytes hold `mark` (one operation, and the driver's retry of it): those and
 * whatever follows on their connections are held back, unanswered, so that the operation times
 * out while the server is fine. Frozen, it passes nothing on at all, on any connection, old or
 * new, and closes none: a host that hangs, or a firewall that drops packets.
 */
class StallingProxy {
  readonly server: Server;
  private mark: Buffer | undefined;
  stalled = 0;
  frozen = false;
  private readonly sockets = new Set<Socket>();

  constructor(host: string, port: number) {
    this.server = createServer((inbound) => {
      const outbound = createConnection({ host, port });
      this.sockets.add(inbound).add(outbound);
      let holding = false;
      inbound.on('data', (chunk: Buffer) => {
        if (!holding && this.mark !== undefined && chunk.includes(this.mark)) {
          this.stalled += 1;
          holding = true;
        }
        if (!holding && !this.frozen) outbound.write(chunk);
      });
      outbound.on('data', (chunk: Buffer) => {
        if (!this.frozen) inbound.write(chunk);
      });
      const end = () => {
        inbound.destroy();
        outbound.destroy();
      };
      for (const s of [inbound, outbound]) {
        s.on('error', end);
        s.on('close', () => {
          end();
          this.sockets.delete(s);
        });
      }
    });
  }

  listen(): Promise<number> {
    return new Promise((ok) =>
      this.server.listen(0, '127.0.0.1', () => ok((this.server.address() as AddressInfo).port)),
    );
  }

  /** Holds back the requests that mention `text`, until disarmed. */
  arm(text: string): void {
    this.mark = Buffer.from(text);
  }

  disarm(): void {
    this.mark = undefined;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}

const target = parseUri(server.uri);
const proxiable = {
  ok: target.scheme === 'mongodb' && target.hosts.length === 1,
  reason: 'the test server is not one host of a mongodb:// URI, which a TCP proxy can stand for',
};

/** An app whose routes say whether the request has a session, and its number. */
function sessionApp(store: MongooseStore) {
  const app = express();
  app.use(
    session({
      store,
      secret: 'test secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  app.get('/start', (req, res) => {
    req.session.n = Number(req.query.n);
    res.json({ sid: req.sessionID });
  });
  app.get('/peek', (req, res) => {
    res.json({ session: req.session !== undefined, n: req.session?.n ?? null });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({
      error: err.name,
      code: (err as { code?: string }).code,
      cause: (err.cause as Error | undefined)?.name,
    });
  });
  return app;
}

interface Answer {
  status: number;
  body: {
    sid?: string;
    session?: boolean;
    n?: number | null;
    error?: string;
    code?: string;
    cause?: string;
  };
  cookie?: string;
}

async function call(port: number, path: string, cookieHeader?: string): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: cookieHeader === undefined ? {} : { cookie: cookieHeader },
  });
  return {
    status: res.status,
    body: (await res.json()) as Answer['body'],
    cookie: res.headers.get('set-cookie')?.split(';')[0],
  };
}

describeIf(proxiable, 'one operation that times out while the server answers', () => {
  /** A socket timeout the test server beats by far, and a stall that outlasts it. */
  const SOCKET_TIMEOUT = 1_500;
  /** How long after the timeout we keep watching: the store's ping check takes at most 1 s. */
  const WATCH_AFTER = 1_500;
  const seen = {
    victim: undefined as Answer | undefined,
    victimMs: Number.NaN,
    events: [] as string[],
    others: [] as { expected: number; answer: Answer; afterTimeout: boolean }[],
    stalled: 0,
  };

  beforeAll(async () => {
    const [host, port] = target.hosts[0].split(':');
    const proxy = new StallingProxy(host, Number(port ?? 27017));
    const proxyPort = await proxy.listen();
    const uri = formatUri({
      ...parseUri(db.uri),
      hosts: [`127.0.0.1:${proxyPort}`],
    });
    const store = await db.open(
      {
        collection: uniqueCollection(),
        lifecheck: -1,
        connectionOptions: { socketTimeoutMS: SOCKET_TIMEOUT, directConnection: true },
      },
      uri,
    );
    for (const e of ['connect', 'disconnect'] as const) store.on(e, () => seen.events.push(e));
    const listener = sessionApp(store).listen(0, '127.0.0.1');
    await new Promise((ok) => listener.once('listening', ok));
    const port0 = (listener.address() as AddressInfo).port;
    try {
      const users = await Promise.all(
        Array.from({ length: 8 }, async (_, n) => ({
          n,
          cookie: (await call(port0, `/start?n=${n}`)).cookie as string,
        })),
      );
      const victimStart = await call(port0, '/start?n=99');
      proxy.arm(victimStart.body.sid as string);

      let timedOutAt = Number.POSITIVE_INFINITY;
      const started = performance.now();
      const victim = call(port0, '/peek', victimStart.cookie).then((answer) => {
        timedOutAt = performance.now();
        proxy.disarm();
        seen.victimMs = timedOutAt - started;
        seen.victim = answer;
      });
      // Every user keeps asking, one request at a time, from before the stall until well after
      // the timeout: each must have its session throughout.
      await Promise.all(
        users.map(async (u) => {
          while (performance.now() < timedOutAt + WATCH_AFTER) {
            const answer = await call(port0, '/peek', u.cookie);
            seen.others.push({
              expected: u.n,
              answer,
              afterTimeout: performance.now() > timedOutAt,
            });
          }
        }),
      );
      await victim;
      seen.stalled = proxy.stalled;
    } finally {
      listener.closeAllConnections();
      await new Promise((ok) => listener.close(ok));
      await proxy.close();
    }
  }, 40_000);

  it('has the one operation time out on the socket (the scenario is real)', () => {
    // The operation, and the driver's one retry of a read.
    expect(seen.stalled).toBeGreaterThanOrEqual(1);
    expect(seen.stalled).toBeLessThanOrEqual(2);
    // Typed, with the driver's socket timeout as the cause.
    expect(seen.victim).toMatchObject({
      status: 500,
      body: {
        error: 'MongooseStoreError',
        code: 'ERR_SERVER_UNAVAILABLE',
        cause: 'MongoNetworkTimeoutError',
      },
    });
    expect(seen.victimMs).toBeGreaterThanOrEqual(SOCKET_TIMEOUT - 50);
  });

  it('says no disconnect while the server answers pings', () => {
    expect(seen.events).not.toContain('disconnect');
  });

  it('keeps every other request’s session through express-session, during and after it', () => {
    expect(seen.others.filter((o) => o.afterTimeout).length).toBeGreaterThan(8);
    const wrong = seen.others.filter(
      (o) =>
        o.answer.status !== 200 || o.answer.body.session !== true || o.answer.body.n !== o.expected,
    );
    expect(wrong).toEqual([]);
  });
});

describeIf(proxiable, 'a server that stops answering, its connections left open', () => {
  const WAIT = 1_000;

  it('fails each request’s operation with ERR_SERVER_UNAVAILABLE soon after waitForServer, and says disconnect', async () => {
    const [host, port] = target.hosts[0].split(':');
    const proxy = new StallingProxy(host, Number(port ?? 27017));
    const proxyPort = await proxy.listen();
    const uri = formatUri({ ...parseUri(db.uri), hosts: [`127.0.0.1:${proxyPort}`] });
    try {
      const store = await db.open(
        {
          collection: uniqueCollection(),
          lifecheck: -1,
          waitForServer: WAIT,
          connectionOptions: { directConnection: true },
        },
        uri,
      );
      const events: string[] = [];
      for (const e of ['connect', 'disconnect'] as const) store.on(e, () => events.push(e));
      const id = sid();
      await store.set(id, { cookie: cookie(60_000), n: 1 } as never);
      const loaded = await store.get(id);
      proxy.frozen = true;
      // The driver keeps the server listed until its heartbeat times out (some 30 s or more):
      // until this fix, these waited 40 to 90 s, and some failed with the driver's own error.
      const outcomes = await Promise.all(
        [
          () => store.get(id),
          () => store.set(sid(), { cookie: cookie(60_000), n: 2 } as never),
          () => store.touch(id, { ...loaded, cookie: cookie(120_000) } as never),
          () => store.destroy(sid()),
        ].map((op) => timed(op)),
      );
      for (const { ms, err } of outcomes) {
        expect(err).toMatchObject({ name: 'MongooseStoreError', code: 'ERR_SERVER_UNAVAILABLE' });
        expect(ms).toBeGreaterThanOrEqual(WAIT - 50);
        // waitForServer, the ping that tells it is down (1 s), and room for a loaded machine.
        expect(ms).toBeLessThan(WAIT + 10_000);
      }
      expect(events).toContain('disconnect');
    } finally {
      await proxy.close();
    }
  }, 40_000);
});

/** A loopback URI where nothing listens yet. */
async function nowhere(): Promise<{ port: number; uri: string }> {
  const port = await freePort();
  return { port, uri: `mongodb://127.0.0.1:${port}/${db.name}` };
}

/** How long `work` took to settle, and what it rejected with. */
async function timed(work: () => Promise<unknown>): Promise<{ ms: number; err: unknown }> {
  const started = performance.now();
  const err = await work().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { ms: performance.now() - started, err };
}

describe('waitForServer, with the database down', () => {
  const WAIT = 1_000;

  it('fails get within waitForServer with ERR_SERVER_UNAVAILABLE, in one line', async () => {
    // The driver's own serverSelectionTimeoutMS stays at its default, 30 s.
    const { port, uri } = await nowhere();
    const store = new MongooseStore(uri, { lifecheck: -1, waitForServer: WAIT });
    db.stores.push(store);
    const { ms, err } = await timed(() => store.get(sid()));
    expect(err).toMatchObject({ name: 'MongooseStoreError', code: 'ERR_SERVER_UNAVAILABLE' });
    const message = (err as Error).message;
    expect(message).toMatch(
      /^connect-mongoose-session: no server could be selected within 1000 ms/,
    );
    expect(message).not.toMatch(/\n/);
    expect(message).not.toContain(String(port));
    expect(ms).toBeGreaterThanOrEqual(WAIT - 50);
    expect(ms).toBeLessThan(WAIT + 1_000);
  }, 15_000);

  it('gives the driver’s error as the cause', async () => {
    const { uri } = await nowhere();
    const store = new MongooseStore(uri, { lifecheck: -1, waitForServer: WAIT });
    db.stores.push(store);
    const { err } = await timed(() => store.get(sid()));
    expect((err as MongooseStoreError).cause).toMatchObject({
      name: expect.stringMatching(/^Mongo/),
    });
    expect(String(((err as MongooseStoreError).cause as Error).message)).toMatch(/ECONNREFUSED/);
  }, 15_000);

  it('fails through the callback the same way', async () => {
    const { uri } = await nowhere();
    const store = new MongooseStore(uri, { lifecheck: -1, waitForServer: WAIT });
    db.stores.push(store);
    const started = performance.now();
    const err = await new Promise<unknown>((ok) => store.get(sid(), (e) => ok(e)));
    expect(err).toMatchObject({ code: 'ERR_SERVER_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(WAIT + 1_000);
  }, 15_000);

  it('bounds the wait for a given connection still opening, leaving its options alone', async () => {
    const { uri } = await nowhere();
    const conn = mongoose.createConnection(uri, { serverSelectionTimeoutMS: 8_000 });
    conn.on('error', () => {});
    try {
      const store = new MongooseStore(null, { connection: conn, waitForServer: WAIT });
      db.stores.push(store);
      const { ms, err } = await timed(() => store.get(sid()));
      expect(err).toMatchObject({ code: 'ERR_SERVER_UNAVAILABLE' });
      expect(ms).toBeLessThan(WAIT + 1_000);
      expect(conn.getClient().options.serverSelectionTimeoutMS).toBe(8_000);
    } finally {
      // mongoose's close() waits for an open under way; closing its client cuts that short.
      await conn.getClient().close(true);
      await conn.close(true).catch(() => {});
    }
  }, 15_000);
});

describeIf(launchable(server.mongodBinary), 'waitForServer, as the database comes up', () => {
  let srv: RunningServer | undefined;

  afterAll(async () => {
    await srv?.stop();
  });

  it('says disconnect, then serves sessions once the server is up, with no call to make', async () => {
    const port = await freePort();
    const store = new MongooseStore(`mongodb://127.0.0.1:${port}/late`, {
      lifecheck: -1,
      waitForServer: 500,
    });
    db.stores.push(store);
    const events: string[] = [];
    for (const e of ['connect', 'disconnect'] as const) store.on(e, () => events.push(e));
    await expect(store.get(sid())).rejects.toMatchObject({ code: 'ERR_SERVER_UNAVAILABLE' });
    expect(events).toEqual(['disconnect']);

    srv = await startServerOn(port, server.mongodBinary || undefined);
    const upAt = performance.now();
    await eventually(() => events.at(-1) === 'connect', 10_000, 'connect');
    const connectMs = performance.now() - upAt;
    const id = sid();
    await store.set(id, { cookie: cookie(), n: 1 } as never);
    expect(await store.get(id)).toMatchObject({ n: 1 });
    console.log(`waitForServer: connect ${Math.round(connectMs)} ms after the server came up`);
    expect(events).toEqual(['disconnect', 'connect']);
  }, 30_000);
});
