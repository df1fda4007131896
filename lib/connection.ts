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
/** After an operation could not reach the server, the first ping waits this long, then doubles. */
const FIRST_PROBE = 100;
const MAX_PROBE = 2_000;
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
 * that needs the server. Once open, the driver itself rides out outages; we follow its state,
 * and an operation that cannot reach the server marks it down at once, until a ping answers.
 * We close only a connection we opened.
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
      this.markDown();
      throw err;
    }
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
      // connect() is idempotent: a client already connected answers at once.
      await client.connect();
    } catch (err) {
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
      await conn.openUri(this.options.uri as string, {
        ...this.options.connectionOptions,
        autoIndex: false,
        autoCreate: false,
      });
    } catch (err) {
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
    // Tell listeners on the next tick, once they are attached.
    if (this.ready() !== undefined) process.nextTick(() => this.markUp());
  }

  private watch(conn: Connection): void {
    // With no 'error' listener mongoose stays quiet; with ours, its errors reach the hooks.
    const onError = (err: Error) => this.hooks.error(err);
    const onConnected = () => this.markUp();
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
   * Takes an operation's failure into account. One that could not reach the server marks it
   * down now: the driver may not notice before its next heartbeat, seconds away. A ping then
   * tells when it answers again.
   */
  suspect(err: unknown): void {
    if (this.closed || this.state !== 'up' || !unreachable(err)) return;
    log('an operation could not reach the server (%s)', (err as Error).name);
    this.markDown();
    this.probe(FIRST_PROBE);
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
    this.unwatch?.();
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
