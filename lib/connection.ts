import type { Connection, mongo } from 'mongoose';
import { Availability, unavailableError, within } from './availability.js';
import { Deadlines } from './deadlines.js';
import type { SessionDocument } from './document.js';
import { closedError } from './errors.js';
import { log } from './log.js';
import type { ResolvedOptions } from './options.js';
import { type SourceContext, type SourceStrategy, strategyOf } from './sources.js';

export { unavailableError } from './availability.js';

/** What the connection tells the store. */
export interface ConnectionHooks {
  /** The server can be reached (first open, or back after an outage): the sessions collection. */
  up(coll: mongo.Collection<SessionDocument>): void;
  /** The server cannot be reached (a failed open, or lost after being up). */
  down(): void;
  /** Something went wrong that nobody awaits. */
  error(err: Error): void;
}

const FIRST_RETRY = 1_000;
const MAX_RETRY = 30_000;
/** How long close() lets last words (the sweep lease's give-up) use a connection of ours. */
const LAST_WORDS = 500;
/** mongoose's `readyState` while an open is under way. */
const CONNECTING = 2;

/**
 * The store's connection as a lifecycle, not a promise frozen at birth.
 *
 * Where the connection comes from (a URI, the user's connection, the user's client) is one
 * {@link SourceStrategy}, chosen once; this class only calls it. A failed open is retried in
 * the background with backoff, and at once by the next operation that needs the server. Once
 * open, the driver itself rides out outages, and {@link Availability} says whether a server is
 * there. We close only what we opened.
 */
export class SessionConnection {
  private readonly source: SourceStrategy;
  private readonly availability: Availability;
  /** How long a request's operation may wait for an answer. */
  private readonly deadlines: Deadlines;
  /** The open connection: ours once open, or the user's from the start. */
  private conn: Connection | undefined;
  /** What operations wait on while nothing is open; close() fails it at once. */
  private opening: Promise<Connection> | undefined;
  private abort: ((err: Error) => void) | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = FIRST_RETRY;
  /** 'unknown' until the first open settles, so the first failure is announced too. */
  private state: 'unknown' | 'up' | 'down' = 'unknown';

  /** Whether the server can be reached, as far as the store knows now. */
  get up(): boolean {
    return this.state === 'up';
  }
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Detaches our listeners from the connection we watch; a user's outlives us. */
  private unwatch: (() => void) | undefined;
  /** The sessions collection on the open connection. */
  private coll: mongo.Collection<SessionDocument> | undefined;
  /** What the source may ask of us. */
  private readonly context: SourceContext;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.availability = new Availability(options.waitForServer, {
      db: () => this.ready()?.db,
      isUp: () => this.state === 'up',
      up: () => this.markUp(),
      down: () => this.markDown(),
    });
    this.deadlines = new Deadlines(options.waitForServer, () => {
      void this.availability.silent();
    });
    this.context = {
      closed: () => this.closed,
      watchTopology: (client) => this.availability.watchTopology(client),
      unwatchTopology: () => this.availability.unwatch(),
      watch: (conn) => this.watch(conn),
    };
    this.source = strategyOf(options.source);
    this.conn = this.source.adopt(this.context);
    const conn = this.ready();
    if (conn === undefined) return;
    this.availability.watchTopology(conn.getClient());
    // Tell listeners on the next tick, once they are attached.
    process.nextTick(() => this.markUp());
  }

  /**
   * Starts the first open. A given connection that nobody has opened yet is waited for through
   * its events, not failed: its owner may open it right after creating the store.
   */
  begin(): Promise<unknown> {
    return this.source.waitsForOwner() ? Promise.resolve() : this.open();
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
    return this.availability.selectable && !this.closed ? this.ready() : undefined;
  }

  /**
   * The open connection, once it has a server to send operations to: waits for the open (or
   * for the topology to list a server again) at most `waitForServer` ms, then fails with
   * `ERR_SERVER_UNAVAILABLE`. The open goes on in the background.
   */
  serve(): Promise<Connection> {
    const conn = this.ready();
    if (this.closed || conn === undefined) return this.availability.bounded(this.open());
    return this.availability.listed(conn);
  }

  /**
   * The sessions collection, on the connection {@link serve} gives: at once, with no timer and
   * no wait, while the driver lists a server.
   */
  async collection(): Promise<mongo.Collection<SessionDocument>> {
    if (this.closed) throw closedError();
    if (this.coll !== undefined && this.usable() !== undefined) return this.coll;
    // From the connection the open gives, not from the up hook: that may come a tick later.
    const conn = await this.serve();
    this.coll ??= this.collectionOn(conn);
    return this.coll;
  }

  private collectionOn(conn: Connection): mongo.Collection<SessionDocument> {
    return (conn.db as mongo.Db).collection<SessionDocument>(this.options.collection);
  }

  /**
   * Takes an operation's failure into account, and settles (never rejects) once the verdict is
   * in: see {@link Availability.suspect}.
   */
  suspect(err: unknown): Promise<void> {
    return this.closed ? Promise.resolve() : this.availability.suspect(err);
  }

  /**
   * An operation's failure as the store gives it: one still in flight when the store is
   * closed fails with `ERR_STORE_CLOSED`, not with whatever the closing driver threw; a
   * network error may be the first sign of an outage, said (see {@link suspect}) before this
   * error is given; a failed server selection is `ERR_SERVER_UNAVAILABLE`. Bad arguments stay
   * a `TypeError`.
   */
  async failure(err: unknown): Promise<never> {
    if (this.closed && !(err instanceof TypeError)) throw closedError();
    await this.suspect(err);
    if (this.closed && !(err instanceof TypeError)) throw closedError();
    throw unavailableError(err);
  }

  /** The connection operations can use now, or `undefined` while none has opened. */
  private ready(): Connection | undefined {
    const conn = this.conn;
    // One that has opened is used as it is, even while the server is away: the driver rides
    // out outages, and the operations say how it goes. One that (re)opens is waited for.
    return conn?.db !== undefined && conn.readyState !== CONNECTING ? conn : undefined;
  }

  private async attempt(): Promise<Connection> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let conn: Connection;
    try {
      conn = await this.source.open(this.context);
    } catch (err) {
      const failure = this.source.failed(err);
      if (failure.down) {
        this.availability.lastError = err as Error;
        this.markDown();
      }
      // Nobody may await this start (createStore takes no callback): say it.
      if (failure.report && !this.closed) this.hooks.error(err as Error);
      if (failure.retry) this.scheduleRetry();
      throw err;
    }
    this.conn = conn;
    this.retryDelay = FIRST_RETRY;
    this.markUp();
    return conn;
  }

  private watch(conn: Connection): void {
    // With no 'error' listener mongoose stays quiet; with ours, its errors reach the hooks.
    const onError = (err: Error) => this.hooks.error(err);
    const onConnected = () => {
      // A connection may have been opened (or reopened) on a client we do not watch yet.
      this.availability.watchTopology(conn.getClient());
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

  private markUp(): void {
    const conn = this.ready();
    if (this.closed || this.state === 'up' || conn === undefined) return;
    this.state = 'up';
    this.coll = this.collectionOn(conn);
    this.hooks.up(this.coll);
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
  /**
   * `work`, a request's operation, or `ERR_SERVER_UNAVAILABLE` once `waitForServer` ms pass
   * without the server's answer (see {@link Deadlines}).
   */
  answered<T>(work: Promise<T>): Promise<T> {
    return this.deadlines.answered(work);
  }

  close(lastWords: Promise<unknown> = Promise.resolve()): Promise<void> {
    this.closing ??= this.shut(lastWords);
    return this.closing;
  }

  private async shut(lastWords: Promise<unknown>): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.abort?.(closedError());
    this.availability.stop(closedError());
    this.deadlines.stop();
    this.unwatch?.();
    await this.source.cancel();
    const conn = this.conn;
    if (conn === undefined) return;
    const up = this.state === 'up';
    await this.source.release(conn, async () => {
      if (up) await within(lastWords, LAST_WORDS);
    });
  }
}
