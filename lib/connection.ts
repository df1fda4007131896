import mongoose, { type Connection, type mongo } from 'mongoose';
import { MongooseStoreError, typeError } from './errors.js';
import { log } from './log.js';
import { isMongooseClient, type ResolvedOptions } from './options.js';

/** What the connection tells the store. */
export interface ConnectionHooks {
  /** The server can be reached (first open, or back after an outage). */
  up(conn: Connection): void;
  /** The server cannot be reached (a failed open, or lost after being up). */
  down(): void;
  /** Something went wrong that nobody awaits. */
  error(err: Error): void;
}

const FIRST_RETRY = 1_000;
const MAX_RETRY = 30_000;
/** Once the server is down, the first ping waits this long, then doubles. */
const FIRST_PROBE = 100;
const MAX_PROBE = 2_000;
/**
 * After an operation could not reach a server the driver still lists, a ping must answer within
 * this long, in milliseconds, or the server is taken as down.
 */
const CHECK_BOUND = 1_000;
/**
 * Server types a session's operations (reads and writes on the primary) can be sent to. In a
 * `Single` topology any known server is used as it is.
 */
const WRITABLE = new Set(['Standalone', 'Mongos', 'RSPrimary', 'LoadBalancer']);
/** How long close() lets last words (the sweep lease's give-up) use a connection of ours. */
const LAST_WORDS = 500;
/** mongoose's `readyState` while an open is under way. */
const CONNECTING = 2;

/**
 * Errors that say the server could not be reached, by name: a user's connection may come from
 * another copy of mongoose and its driver. A pool cleared after a network error, and a server
 * selection that timed out, say it too.
 */
const UNREACHABLE = new Set([
  'MongooseServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoPoolClearedError',
  'MongoServerSelectionError',
]);

function unreachable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 4; depth++, e = e.cause) {
    if (UNREACHABLE.has(e.name) || e instanceof mongoose.mongo.MongoNetworkError) return true;
  }
  return false;
}

const closedError = () => new MongooseStoreError('ERR_STORE_CLOSED', 'the store is closed');

/** A server selection that timed out, as the driver and as mongoose (for a first open) say it. */
const SELECTION_FAILED = new Set(['MongoServerSelectionError', 'MongooseServerSelectionError']);

/**
 * An operation's error as the store gives it: a server selection that failed becomes
 * `ERR_SERVER_UNAVAILABLE`, in one line without the driver's words (they list the servers),
 * which stay in `cause`. Anything else is passed on as it is.
 */
export function unavailableError(err: unknown): unknown {
  if (!(err instanceof Error) || !SELECTION_FAILED.has(err.name)) return err;
  return new MongooseStoreError(
    'ERR_SERVER_UNAVAILABLE',
    'no server could be selected: the database is down or out of reach',
    err,
  );
}

/** Whether a topology has a server a session's operations can be sent to. */
function selectable(topology: mongo.TopologyDescription): boolean {
  if (topology.type === 'LoadBalanced') return true;
  for (const server of topology.servers.values()) {
    if (topology.type === 'Single' ? server.type !== 'Unknown' : WRITABLE.has(server.type))
      return true;
  }
  return false;
}

/** Whether `db` answers a ping within `ms`; never rejects. */
async function answers(db: mongo.Db, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((done) => {
    timer = setTimeout(done, ms, false);
    timer.unref();
  });
  const ping = db.command({ ping: 1 }).then(
    () => true,
    () => false,
  );
  const answered = await Promise.race([ping, timeout]);
  clearTimeout(timer);
  return answered;
}

/** Waits for `work` to settle, or `ms` to pass, whichever comes first; never rejects. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((done) => {
    timer = setTimeout(done, ms);
    timer.unref();
  });
  await Promise.race([work.catch(() => {}), timeout]);
  clearTimeout(timer);
}

/** Closes a connection of ours for good, which also takes it out of `mongoose.connections`. */
async function discard(conn: Connection): Promise<void> {
  conn.removeAllListeners();
  // mongoose emits 'error' only while someone listens; none may be thrown from here.
  conn.on('error', () => {});
  await conn.destroy(true).catch(() => {});
}

/** Lets go of a connection on the user's client: out of `mongoose.connections`, client open. */
function release(conn: Connection): void {
  conn.removeAllListeners();
  conn.on('error', () => {});
  const at = mongoose.connections.indexOf(conn);
  if (at !== -1) mongoose.connections.splice(at, 1);
}

/**
 * The store's connection as a lifecycle, not a promise frozen at birth.
 *
 * A failed open is retried in the background with backoff, and at once by the next operation
 * that needs the server. Once open, the driver itself rides out outages; we follow its topology:
 * the server is down while it lists no server to send a session's operations to, or once an
 * operation could not reach the server and a ping then found no answer within
 * {@link CHECK_BOUND} ms. One operation that timed out on a server that answers says nothing.
 * Operations wait at most `waitForServer` ms for a server; while one is there they wait for
 * nothing. We close only a connection we opened.
 */
export class SessionConnection {
  /** Ours, once open. A given connection is read from the options. */
  private conn: Connection | undefined;
  /** Ours while its open is under way, so that close() can cut it short. */
  private pending: Connection | undefined;
  /** What operations wait on while nothing is open; close() fails it at once. */
  private opening: Promise<Connection> | undefined;
  private abort: ((err: Error) => void) | undefined;
  /** Our open attempt under way, settled either way: close() waits for it to clean up. */
  private attempting: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = FIRST_RETRY;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** A ping under way to tell whether an operation's network error means an outage. */
  private checking: Promise<void> | undefined;
  /** What the driver's topology says; taken as true until it says otherwise. */
  private selectable = true;
  /** Operations waiting for the topology to list a server again; close() fails them. */
  private serving:
    | { promise: Promise<void>; ok: () => void; fail: (err: Error) => void }
    | undefined;
  /** The driver's last word on why it could not reach a server, as the cause of our error. */
  private lastError: Error | undefined;
  /** Takes our topology listener off the client it is on. */
  private unwatchTopology: (() => void) | undefined;
  private topologyClient: mongo.MongoClient | undefined;
  /** 'unknown' until the first open settles, so the first failure is announced too. */
  private state: 'unknown' | 'up' | 'down' = 'unknown';
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Takes mongoose's listeners off the user's client, which outlives us. */
  private detachClient: (() => void) | undefined;
  /** Detaches our listeners from a watched connection; a user's connection outlives us. */
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    if (options.connection !== undefined) this.adopt(options.connection);
  }

  /**
   * Starts the first open. A given connection that nobody has opened yet is waited for through
   * its events, not failed: its owner may open it right after creating the store.
   */
  begin(): Promise<unknown> {
    const given = this.options.connection;
    if (given !== undefined && given.db === undefined && given.readyState !== CONNECTING)
      return Promise.resolve();
    return this.open();
  }

  /** The open connection; opens (or retries) it first when needed. */
  open(): Promise<Connection> {
    if (this.closed) return Promise.reject(closedError());
    const ready = this.ready();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.opening === undefined) {
      const attempt = this.attempt();
      const opening = new Promise<Connection>((ok, fail) => {
        this.abort = fail;
        attempt.then(ok, fail);
      });
      const done = () => {
        if (this.opening !== opening) return;
        this.opening = undefined;
        this.abort = undefined;
      };
      opening.then(done, done);
      this.opening = opening;
    }
    return this.opening;
  }

  /**
   * The open connection when the driver lists a server for it: what operations use, with no
   * wait at all. `undefined` while none has opened, or none is listed.
   */
  usable(): Connection | undefined {
    return this.selectable && !this.closed ? this.ready() : undefined;
  }

  /**
   * The open connection, once it has a server to send operations to: waits for the open (or
   * for the topology to list a server again) at most `waitForServer` ms, then fails with
   * `ERR_SERVER_UNAVAILABLE`. The open goes on in the background.
   */
  serve(): Promise<Connection> {
    const conn = this.ready();
    if (this.closed || conn === undefined) return this.bounded(this.open());
    if (this.selectable) return Promise.resolve(conn);
    if (this.serving === undefined) {
      let ok = () => {};
      let fail: (err: Error) => void = () => {};
      const promise = new Promise<void>((resolve, reject) => {
        ok = resolve;
        fail = reject;
      });
      promise.catch(() => {});
      this.serving = { promise, ok, fail };
    }
    return this.bounded(this.serving.promise.then(() => conn));
  }

  /** `waiting`, or `ERR_SERVER_UNAVAILABLE` once `waitForServer` ms have passed. */
  private bounded(waiting: Promise<Connection>): Promise<Connection> {
    const ms = this.options.waitForServer;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => {
        // Nothing to send operations to for this long: express-session is better told, and
        // serves the next requests at once, without a session.
        this.markDown();
        fail(
          new MongooseStoreError(
            'ERR_SERVER_UNAVAILABLE',
            `no server could be selected within ${ms} ms (waitForServer): the database is down or out of reach`,
            this.lastError,
          ),
        );
      }, ms);
    });
    return Promise.race([
      waiting.catch((err: unknown) => {
        throw unavailableError(err);
      }),
      timeout,
    ]).finally(() => clearTimeout(timer));
  }

  /** The connection operations can use now, or `undefined` while none has opened. */
  private ready(): Connection | undefined {
    const conn = this.options.connection ?? this.conn;
    // One that has opened is used as it is, even while the server is away: the driver rides
    // out outages, and the operations say how it goes. One that (re)opens is waited for.
    return conn?.db !== undefined && conn.readyState !== CONNECTING ? conn : undefined;
  }

  private attempt(): Promise<Connection> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const given = this.options.connection;
    if (given !== undefined) return this.awaitGiven(given);
    const client = this.options.client;
    const attempt = client === undefined ? this.openOurs() : this.openOn(client);
    this.attempting = attempt.then(
      () => {},
      () => {},
    );
    return attempt;
  }

  /** A given connection is not ours to open: wait for its owner's open to settle. */
  private async awaitGiven(given: Connection): Promise<Connection> {
    if (given.readyState !== CONNECTING)
      throw typeError(
        'connection: the mongoose Connection has not been opened; open it (mongoose.connect(uri) or conn.openUri(uri)) before using the store',
      );
    try {
      await given.asPromise();
    } catch (err) {
      this.lastError = err as Error;
      this.markDown();
      throw err;
    }
    this.watchTopology(given.getClient());
    return given;
  }

  /**
   * A mongoose Connection on the user's client. The Connection is ours (it is taken out of
   * `mongoose.connections` on close); the client is theirs, and never closed by us.
   */
  private async openOn(given: mongo.MongoClient | Promise<mongo.MongoClient>): Promise<Connection> {
    let client: mongo.MongoClient;
    try {
      client = await given;
      if (!isMongooseClient(client))
        throw typeError(
          "clientPromise: resolved to something other than a MongoClient of mongoose's own driver",
        );
      this.watchTopology(client);
      // connect() is idempotent: a client already connected answers at once.
      await client.connect();
    } catch (err) {
      this.lastError = err as Error;
      this.markDown();
      // Nobody may await this start (createStore takes no callback): say it.
      if (!this.closed) this.hooks.error(err as Error);
      // A promise that rejected stays rejected: retrying would give the same answer.
      if (given === this.options.client) this.scheduleRetry();
      throw err;
    }
    if (this.closed) throw closedError();
    // mongoose puts listeners on the client; they are taken off again on close.
    const before = new Map(client.eventNames().map((e) => [e, client.listeners(e)]));
    const conn = mongoose.createConnection().setClient(client);
    this.detachClient = () => {
      for (const event of client.eventNames()) {
        const had = before.get(event) ?? [];
        for (const listener of client.listeners(event)) {
          if (!had.includes(listener))
            client.off(event as string, listener as (...args: unknown[]) => void);
        }
      }
    };
    this.watch(conn);
    this.conn = conn;
    this.retryDelay = FIRST_RETRY;
    this.markUp();
    return conn;
  }

  private async openOurs(): Promise<Connection> {
    const conn = mongoose.createConnection();
    this.pending = conn;
    this.watch(conn);
    try {
      const opening = conn.openUri(this.options.uri as string, {
        ...this.options.connectionOptions,
        autoIndex: false,
        autoCreate: false,
      });
      // mongoose makes the client before its first await: the topology tells why it waits.
      this.watchTopology(conn.getClient());
      await opening;
    } catch (err) {
      this.lastError = err as Error;
      this.unwatchTopology?.();
      await discard(conn);
      this.markDown();
      this.scheduleRetry();
      throw err;
    } finally {
      this.pending = undefined;
    }
    if (this.closed) {
      await discard(conn);
      throw closedError();
    }
    this.conn = conn;
    this.retryDelay = FIRST_RETRY;
    this.markUp();
    return conn;
  }

  private adopt(conn: Connection): void {
    this.watch(conn);
    if (this.ready() === undefined) return;
    this.watchTopology(conn.getClient());
    // Tell listeners on the next tick, once they are attached.
    process.nextTick(() => this.markUp());
  }

  private watch(conn: Connection): void {
    // With no 'error' listener mongoose stays quiet; with ours, its errors reach the hooks.
    const onError = (err: Error) => this.hooks.error(err);
    const onConnected = () => {
      // A given connection may have been opened (or reopened) on a client we do not watch yet.
      if (conn === this.options.connection) this.watchTopology(conn.getClient());
      this.markUp();
    };
    const onDisconnected = () => this.markDown();
    conn.on('error', onError);
    conn.on('connected', onConnected);
    conn.on('disconnected', onDisconnected);
    this.unwatch = () => {
      conn.off('error', onError);
      conn.off('connected', onConnected);
      conn.off('disconnected', onDisconnected);
    };
  }

  /**
   * Follows the driver's topology (the SDAM events of its client): the server is down while no
   * server is listed to send operations to, and up again once one is. The driver takes a server
   * off the list on a network error, at once, but not on a timeout.
   */
  private watchTopology(client: mongo.MongoClient | undefined): void {
    if (client === undefined || client === this.topologyClient) return;
    this.unwatchTopology?.();
    const onChange = (event: mongo.TopologyDescriptionChangedEvent) => {
      const topology = event.newDescription;
      for (const server of topology.servers.values()) {
        if (server.error) this.lastError = server.error;
      }
      const now = selectable(topology);
      if (now === this.selectable) return;
      this.selectable = now;
      if (now) {
        this.serving?.ok();
        this.serving = undefined;
        this.markUp();
      } else if (this.ready() !== undefined && this.state === 'up') {
        log('the driver lists no server to send operations to');
        this.markDown();
        this.probe(FIRST_PROBE);
      }
    };
    client.on('topologyDescriptionChanged', onChange);
    this.topologyClient = client;
    this.unwatchTopology = () => {
      client.off('topologyDescriptionChanged', onChange);
      this.topologyClient = undefined;
      this.unwatchTopology = undefined;
    };
  }

  /**
   * Takes an operation's failure into account, and settles (never rejects) once the verdict is
   * in, so that a `disconnect` it leads to is said before that operation's error is given. A
   * network error or a timeout on one operation is no outage by itself (one slow query, one
   * dropped connection): a ping tells, and only one that does not answer within
   * {@link CHECK_BOUND} ms marks the server down. Then pings tell when it answers again. Any
   * number of failures at once share one ping.
   */
  suspect(err: unknown): Promise<void> {
    if (this.checking !== undefined) return this.checking;
    const db = this.ready()?.db;
    if (this.closed || this.state !== 'up' || !unreachable(err) || db === undefined)
      return Promise.resolve();
    const what = (err as Error).name;
    this.checking = answers(db, CHECK_BOUND).then((answered) => {
      this.checking = undefined;
      if (answered) {
        log('an operation could not reach the server (%s), but it answers a ping', what);
        return;
      }
      if (this.closed || this.state !== 'up') return;
      log('an operation could not reach the server (%s), nor could a ping', what);
      this.markDown();
      this.probe(FIRST_PROBE);
    });
    return this.checking;
  }

  /** Pings the server, one ping at a time and on a growing delay, until it is up. */
  private probe(delay: number): void {
    if (this.probing) return;
    this.probing = true;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      const db = this.ready()?.db;
      if (this.closed || this.state === 'up' || db === undefined) {
        this.probing = false;
        return;
      }
      db.command({ ping: 1 }).then(
        () => {
          this.probing = false;
          this.markUp();
        },
        () => {
          this.probing = false;
          if (!this.closed && this.state === 'down') this.probe(Math.min(delay * 2, MAX_PROBE));
        },
      );
    }, delay);
    this.probeTimer.unref();
  }

  private markUp(): void {
    const conn = this.ready();
    if (this.closed || this.state === 'up' || conn === undefined) return;
    this.state = 'up';
    this.hooks.up(conn);
  }

  private markDown(): void {
    if (this.closed || this.state === 'down') return;
    this.state = 'down';
    this.hooks.down();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY);
    log('connect failed; retrying in %d ms', delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open().catch(() => {});
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * Stops retrying and probing, fails what waits for an open with `ERR_STORE_CLOSED`, and
   * closes the connection if the store opened it, cutting a pending open short. While the
   * server answers, `lastWords` may still use it for up to {@link LAST_WORDS} ms. A second call
   * settles with the first.
   */
  close(lastWords: Promise<unknown> = Promise.resolve()): Promise<void> {
    this.closing ??= this.shut(lastWords);
    return this.closing;
  }

  private async shut(lastWords: Promise<unknown>): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.probeTimer);
    this.retryTimer = undefined;
    this.probeTimer = undefined;
    this.abort?.(closedError());
    this.serving?.fail(closedError());
    this.serving = undefined;
    this.unwatch?.();
    this.unwatchTopology?.();
    if (this.options.connection !== undefined) return;
    if (this.options.client !== undefined) {
      // Not waited for: the user's client (or promise) may take as long as it likes. An open
      // that ends after this finds the store closed and adopts nothing.
      if (this.conn !== undefined && this.state === 'up') await within(lastWords, LAST_WORDS);
      if (this.conn !== undefined) release(this.conn);
      this.detachClient?.();
      return;
    }
    // Closing the client fails the server selection its open waits in, at once, rather than
    // when serverSelectionTimeoutMS runs out.
    await this.pending
      ?.getClient()
      ?.close(true)
      .catch(() => {});
    await this.attempting;
    const conn = this.conn;
    if (conn === undefined) return;
    if (this.state === 'up') await within(lastWords, LAST_WORDS);
    await discard(conn);
  }
}
