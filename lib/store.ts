import { type Session, type SessionData, Store } from 'express-session';
import type { mongo } from 'mongoose';
import { type Callback, settle } from './callback.js';
import { Cleanup } from './cleanup.js';
import { SessionConnection } from './connection.js';
import type { SessionDocument } from './document.js';
import { typeError } from './errors.js';
import type { Listener, MongooseStoreEvents } from './events.js';
import { report, StartCallback, tell } from './notices.js';
import {
  type MongooseStoreOptions,
  type MongooseStoreUris,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { detectProfile } from './server-profile.js';
import { Sessions } from './sessions.js';
import { countsOf, type StoreStats } from './stats.js';
import * as trace from './tracing.js';
import type { UserSession } from './user-sessions.js';
import type { DestroyByUserOptions } from './users.js';

/**
 * The operations express-session runs in a request: each waits at most `waitForServer` for the
 * server's answer. The others (`all`, `clear`, `reencrypt`, the user methods) may rightly take
 * longer on a large collection.
 */
const PER_REQUEST = new Set<trace.TracedOperation>(['get', 'set', 'touch', 'destroy']);

/** The request express-session hands a store, as its own types say it (not express's). */
type SessionRequest = Parameters<Store['createSession']>[0];

// Typed overloads for the events above, merged into the class. The merge adds only method
// signatures that EventEmitter implements, so nothing is left uninitialised.
export interface MongooseStore {
  on<E extends keyof MongooseStoreEvents>(event: E, listener: Listener<E>): this;
  once<E extends keyof MongooseStoreEvents>(event: E, listener: Listener<E>): this;
  off<E extends keyof MongooseStoreEvents>(event: E, listener: Listener<E>): this;
  emit<E extends keyof MongooseStoreEvents>(event: E, ...args: MongooseStoreEvents[E]): boolean;
}

/**
 * An express-session store that keeps each session as one MongoDB document, through mongoose.
 *
 * Every method returns a promise, or takes a Node-style callback instead; a callback is called
 * exactly once, asynchronously.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface holds only typed event overloads
export class MongooseStore extends Store {
  private readonly options: ResolvedOptions;
  private readonly connection: SessionConnection;
  private readonly cleanup: Cleanup;
  private readonly sessions: Sessions;
  private readonly starting: StartCallback;
  private closed = false;

  /**
   * @param uris - one MongoDB URI (standalone or mongos), or an array of the members of one
   *   replica set; `null` when `options.connection`, `client` or `clientPromise` is given.
   * @param options - see {@link MongooseStoreOptions}.
   * @param callback - called once: with no error when the store is connected and its index
   *   checked, or with the error that stopped the first start (the store keeps retrying).
   * @throws TypeError for invalid or conflicting options.
   */
  constructor(
    uris: MongooseStoreUris,
    options?: MongooseStoreOptions,
    callback?: (err?: Error) => void,
  ) {
    super();
    if (callback !== undefined && typeof callback !== 'function')
      throw typeError('callback: expected a function');
    this.options = resolveOptions(uris, options);
    this.starting = new StartCallback(callback);
    this.sessions = new Sessions(this.options, () => this.connection.collection(), {
      report: (err) => report(this, err),
    });
    this.cleanup = new Cleanup(this.options, () => this.connection.collection(), {
      swept: (deleted) => this.emit('sweep', deleted),
      failed: (err) => {
        // A sweep cut short by close() is no news.
        if (this.closed) return;
        void this.connection.suspect(err);
        report(this, err);
      },
      refused: (reason, every) => this.emit('ttlRefused', reason, every),
      expired: (sid, session) => tell(this, 'expired', sid, session),
      decode: (doc) => this.sessions.sessionOf(doc),
    });
    this.connection = new SessionConnection(this.options, {
      up: (coll) => this.onUp(coll),
      down: () => this.emit('disconnect'),
      error: (err) => report(this, err),
    });
    // A failed first open goes to the callback; the connection keeps retrying by itself.
    this.connection.begin().catch((err: Error) => this.starting.settle(err, this.closed));
  }

  /** Fetches a live session, or `null` when it is missing, expired or destroyed. */
  get(sid: string): Promise<SessionData | null>;
  get(sid: string, callback: Callback<SessionData | null>): void;
  get(
    sid: string,
    callback?: Callback<SessionData | null>,
  ): Promise<SessionData | null> | undefined {
    return this.run('get', (t) => this.sessions.read(sid, t), callback);
  }

  /** Creates or replaces a session; one whose expiry is already past is deleted instead. */
  set(sid: string, session: SessionData): Promise<void>;
  set(sid: string, session: SessionData, callback: Callback<void>): void;
  set(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | undefined {
    return this.run('set', () => this.sessions.write(sid, session), callback);
  }

  /** Moves a session's expiry and stored cookie forward; a missing session stays missing. */
  touch(sid: string, session: SessionData): Promise<void>;
  touch(sid: string, session: SessionData, callback: Callback<void>): void;
  touch(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | undefined {
    // The common case is "nothing to write": decided without an async chain.
    if (!this.closed && this.sessions.skips(sid, session)) {
      // Published only while someone subscribes: then it costs what a traced operation does.
      if (trace.tracing()) return this.run('touch', async (t) => trace.skipped(t), callback);
      if (typeof callback !== 'function') return Promise.resolve();
      // A tick of its own, not one shared with other skips: nextTick carries the caller's
      // AsyncLocalStorage context, which a shared tick would mix up between requests.
      process.nextTick(callback, null);
      return undefined;
    }
    return this.run('touch', (t) => this.sessions.refresh(sid, session, t), callback);
  }

  /** Deletes a session. Deleting a missing one is not an error. */
  destroy(sid: string): Promise<void>;
  destroy(sid: string, callback: Callback<void>): void;
  destroy(sid: string, callback?: Callback<void>): Promise<void> | undefined {
    return this.run('destroy', () => this.sessions.remove(sid), callback);
  }

  /** Every live session, keyed by session id. */
  all(): Promise<Record<string, SessionData>>;
  all(callback: Callback<Record<string, SessionData>>): void;
  all(
    callback?: Callback<Record<string, SessionData>>,
  ): Promise<Record<string, SessionData>> | undefined {
    return this.run('all', () => this.sessions.all.list(), callback);
  }

  /** How many live sessions there are. */
  length(): Promise<number>;
  length(callback: Callback<number>): void;
  length(callback?: Callback<number>): Promise<number> | undefined {
    return this.run('length', () => this.sessions.all.count(), callback);
  }

  /** Another name for {@link MongooseStore.length}: how many live sessions there are. */
  count(): Promise<number>;
  count(callback: Callback<number>): void;
  count(callback?: Callback<number>): Promise<number> | undefined {
    return this.run('length', () => this.sessions.all.count(), callback);
  }

  /**
   * The live sessions of one user (see the `userId` option), latest expiry first: "where am I
   * signed in". Expired sessions are never listed.
   * @throws TypeError (as a rejection) when `userId` is not a non-empty string.
   */
  listByUser(userId: string): Promise<UserSession[]>;
  listByUser(userId: string, callback: Callback<UserSession[]>): void;
  listByUser(
    userId: string,
    callback?: Callback<UserSession[]>,
  ): Promise<UserSession[]> | undefined {
    return this.run('listByUser', () => this.sessions.users.list(userId), callback);
  }

  /**
   * Deletes every live session of one user ("sign out everywhere"), or all but `except`: one
   * session id or an array of them ("sign out my other devices"). Resolves to how many were
   * deleted; expired sessions are not counted.
   * @throws TypeError (as a rejection) when `userId` is not a non-empty string, or `except`
   *   is not a session id or an array of them.
   */
  destroyByUser(userId: string, options?: DestroyByUserOptions): Promise<number>;
  destroyByUser(userId: string, callback: Callback<number>): void;
  destroyByUser(userId: string, options: DestroyByUserOptions, callback: Callback<number>): void;
  destroyByUser(
    userId: string,
    options?: DestroyByUserOptions | Callback<number>,
    callback?: Callback<number>,
  ): Promise<number> | undefined {
    const [opts, cb] = typeof options === 'function' ? [undefined, options] : [options, callback];
    return this.run('destroyByUser', () => this.sessions.users.destroy(userId, opts?.except), cb);
  }

  /**
   * Signs out the one live session of `userId` that `handle` names (see `listByUser`):
   * "sign out this device". Resolves to `true`, or `false` when that user has no such session;
   * another user's session is never touched.
   * @throws TypeError (as a rejection) when `userId` is not a non-empty string or `handle` is
   *   not a string.
   */
  destroyByHandle(userId: string, handle: string): Promise<boolean>;
  destroyByHandle(userId: string, handle: string, callback: Callback<boolean>): void;
  destroyByHandle(
    userId: string,
    handle: string,
    callback?: Callback<boolean>,
  ): Promise<boolean> | undefined {
    return this.run(
      'destroyByHandle',
      () => this.sessions.users.destroyHandle(userId, handle),
      callback,
    );
  }

  /**
   * With `secret`, rewrites every live session still under an older secret with the first
   * one, while the app serves, walking the collection until a walk finds nothing to rewrite;
   * resolves to how many it rewrote. Then the older secrets can be dropped.
   * @throws MongooseStoreError (as a rejection) `ERR_REENCRYPT_INCOMPLETE` when sessions are
   *   still under an older secret after 5 walks; `ERR_SERVER_BUSY` when the server kept
   *   answering with transient errors. TypeError when `secret` is not set.
   */
  reencrypt(): Promise<number>;
  reencrypt(callback: Callback<number>): void;
  reencrypt(callback?: Callback<number>): Promise<number> | undefined {
    return this.run('reencrypt', () => this.sessions.all.reencrypt(), callback);
  }

  /**
   * How the store is doing: connected or not, what deletes expired sessions, its part in the
   * sweep lease, the live and expired-but-stored counts, and its last sweep. Three index-backed
   * queries on mongod; on FerretDB 1.x each scans the collection.
   */
  async stats(): Promise<StoreStats> {
    const counts = await this.connection
      .collection()
      .then((coll) => countsOf(coll, this.options.legacy, this.options.maxLifetime))
      .catch((err: unknown) => this.connection.failure(err));
    const { expiry, leaseRole: lease, lastSweep } = this.cleanup;
    return { connected: this.connection.up, expiry, lease, ...counts, lastSweep };
  }

  /** Deletes every session. Works before the collection exists. */
  clear(): Promise<void>;
  clear(callback: Callback<void>): void;
  clear(callback?: Callback<void>): Promise<void> | undefined {
    return this.run('clear', () => this.sessions.all.clear(), callback);
  }

  /**
   * Stops the sweeper and retries, and closes the connection if the store opened it (a
   * connection given as `options.connection` is left open). Settles at once in every state,
   * without waiting for a connect under way; operations still in flight fail with
   * `ERR_STORE_CLOSED`. A second call settles when the first does.
   */
  close(): Promise<void>;
  close(callback: Callback<void>): void;
  close(callback?: Callback<void>): Promise<void> | undefined {
    if (this.closed) return settle(this.connection.close(), callback);
    this.closed = true;
    // The sweep lease is given up through our connection, if it still answers, before it closes.
    return settle(this.connection.close(this.cleanup.stop()), callback);
  }

  /**
   * Builds the request's session from what `get` gave, and carries over what the store knows
   * of it: `set` then never re-creates it once destroyed, and skips unchanged data.
   */
  override createSession(req: SessionRequest, session: SessionData): Session & SessionData {
    const created = super.createSession(req, session);
    this.sessions.loadedFrom(session, created, req.sessionID);
    return created;
  }

  /** Runs one operation for a public method; see {@link SessionConnection.failure}. */
  private run<T>(
    operation: trace.TracedOperation,
    work: (context: trace.OperationContext) => Promise<T>,
    callback: Callback<T> | undefined,
  ) {
    const done = trace.traced(operation, this.options.collection, (context) =>
      (PER_REQUEST.has(operation) ? this.connection.answered(work(context)) : work(context)).catch(
        (err: unknown) => this.connection.failure(err),
      ),
    );
    return settle(done, callback);
  }

  private onUp(coll: mongo.Collection<SessionDocument>): void {
    // Once per connect: the server may have changed during an outage. Never rejects.
    void detectProfile(coll.db);
    this.emit('connect');
    // Each index in its own call; the user index never fails the start (it is reported).
    Promise.all([this.cleanup.prepare(coll), this.sessions.users.prepare(coll)]).then(
      () => this.starting.settle(undefined, this.closed),
      (err: Error) => {
        // An index check cut short by close() is no news; the callback still hears of it.
        if (!this.closed) report(this, err);
        this.starting.settle(err, this.closed);
      },
    );
  }
}
