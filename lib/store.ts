import type { Request } from 'express';
import { type Session, type SessionData, Store } from 'express-session';
import type { Connection, mongo } from 'mongoose';
import { type Callback, settle } from './callback.js';
import { Cleanup } from './cleanup.js';
import { SessionCodec } from './codec.js';
import { SessionConnection } from './connection.js';
import { MongooseStoreError, typeError } from './errors.js';
import { expiryOf } from './expiry.js';
import { log } from './log.js';
import {
  type MongooseStoreOptions,
  type MongooseStoreUris,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { RecentExpiries } from './recent.js';
import type { SessionDocument } from './schema.js';

/** The events a {@link MongooseStore} emits, with their arguments. */
export interface MongooseStoreEvents {
  /** The server can be reached; express-session serves sessions again. */
  connect: [];
  /** The server cannot be reached; express-session serves requests without a session. */
  disconnect: [];
  /** An error nobody awaits. Only emitted while someone listens; otherwise logged with `debug`. */
  error: [err: Error];
  /** The server refused the TTL index; the sweeper runs every `lifecheck` ms instead. */
  ttlRefused: [reason: Error, lifecheck: number];
  /** A sweep finished, having deleted `deleted` expired sessions. */
  sweep: [deleted: number];
}

// Typed overloads for the events above, merged into the class. The merge adds only method
// signatures that EventEmitter implements, so nothing is left uninitialised.
export interface MongooseStore {
  on<E extends keyof MongooseStoreEvents>(
    event: E,
    listener: (...args: MongooseStoreEvents[E]) => void,
  ): this;
  once<E extends keyof MongooseStoreEvents>(
    event: E,
    listener: (...args: MongooseStoreEvents[E]) => void,
  ): this;
  off<E extends keyof MongooseStoreEvents>(
    event: E,
    listener: (...args: MongooseStoreEvents[E]) => void,
  ): this;
  emit<E extends keyof MongooseStoreEvents>(event: E, ...args: MongooseStoreEvents[E]): boolean;
}

/** The server's duplicate key error code. */
const DUPLICATE_KEY = 11000;

function checkSid(sid: unknown): asserts sid is string {
  // Checked before any query is built: an object here would be an operator injection.
  if (typeof sid !== 'string' || sid === '')
    throw typeError(`session id must be a non-empty string, got ${typeof sid}`);
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
  private readonly recent = new RecentExpiries();
  private readonly codec: SessionCodec;
  /** Sessions express-session loaded from us; `set` on them never re-creates a destroyed one. */
  private readonly loaded = new WeakSet<object>();
  private coll: mongo.Collection<SessionDocument> | undefined;
  private starting: ((err?: Error) => void) | undefined;
  private closed = false;

  /**
   * @param uris - one MongoDB URI (standalone or mongos), or an array of the members of one
   *   replica set; `null` when `options.connection` is given.
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
    this.codec = new SessionCodec(this.options.serializer);
    this.starting = callback;
    this.cleanup = new Cleanup(this.options, () => this.collection(), {
      swept: (deleted) => this.emit('sweep', deleted),
      failed: (err) => this.report(err),
      refused: (reason, every) => this.emit('ttlRefused', reason, every),
    });
    this.connection = new SessionConnection(this.options, {
      up: (conn) => this.onUp(conn),
      down: () => this.emit('disconnect'),
      error: (err) => this.report(err),
    });
    // A failed first open goes to the callback; the connection keeps retrying by itself.
    this.connection.open().catch((err: Error) => this.started(err));
  }

  /** Fetches a live session, or `null` when it is missing, expired or destroyed. */
  get(sid: string): Promise<SessionData | null>;
  get(sid: string, callback: Callback<SessionData | null>): void;
  get(
    sid: string,
    callback?: Callback<SessionData | null>,
  ): Promise<SessionData | null> | undefined {
    return settle(this.read(sid), callback);
  }

  /** Creates or replaces a session; one whose expiry is already past is deleted instead. */
  set(sid: string, session: SessionData): Promise<void>;
  set(sid: string, session: SessionData, callback: Callback<void>): void;
  set(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | undefined {
    return settle(this.write(sid, session), callback);
  }

  /** Moves a session's expiry and stored cookie forward; a missing session stays missing. */
  touch(sid: string, session: SessionData): Promise<void>;
  touch(sid: string, session: SessionData, callback: Callback<void>): void;
  touch(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | undefined {
    // The common case with touchAfter is "nothing to write": decide it here, without an
    // async chain, and still call back asynchronously.
    if (
      this.options.touchAfter > 0 &&
      !this.closed &&
      typeof sid === 'string' &&
      this.fresh(sid, session)
    ) {
      if (typeof callback !== 'function') return Promise.resolve();
      // A tick of its own, not one shared with other skips: nextTick carries the caller's
      // AsyncLocalStorage context, which a shared tick would mix up between requests.
      process.nextTick(callback, null);
      return undefined;
    }
    return settle(this.refresh(sid, session), callback);
  }

  /** Deletes a session. Deleting a missing one is not an error. */
  destroy(sid: string): Promise<void>;
  destroy(sid: string, callback: Callback<void>): void;
  destroy(sid: string, callback?: Callback<void>): Promise<void> | undefined {
    return settle(this.remove(sid), callback);
  }

  /** Every live session, keyed by session id. */
  all(): Promise<Record<string, SessionData>>;
  all(callback: Callback<Record<string, SessionData>>): void;
  all(
    callback?: Callback<Record<string, SessionData>>,
  ): Promise<Record<string, SessionData>> | undefined {
    return settle(this.list(), callback);
  }

  /** How many live sessions there are. */
  length(): Promise<number>;
  length(callback: Callback<number>): void;
  length(callback?: Callback<number>): Promise<number> | undefined {
    return settle(this.countLive(), callback);
  }

  /** The seed's name for {@link MongooseStore.length}: how many live sessions there are. */
  count(): Promise<number>;
  count(callback: Callback<number>): void;
  count(callback?: Callback<number>): Promise<number> | undefined {
    return settle(this.countLive(), callback);
  }

  /** Deletes every session. Works before the collection exists. */
  clear(): Promise<void>;
  clear(callback: Callback<void>): void;
  clear(callback?: Callback<void>): Promise<void> | undefined {
    return settle(this.removeAll(), callback);
  }

  /** Stops the sweeper and closes the connection if the store opened it. Safe to call twice. */
  close(): Promise<void>;
  close(callback: Callback<void>): void;
  close(callback?: Callback<void>): Promise<void> | undefined {
    this.closed = true;
    this.cleanup.stop();
    return settle(this.connection.close(), callback);
  }

  /** Marks sessions loaded from this store, so that `set` will not resurrect them once destroyed. */
  override createSession(req: Request, session: SessionData): Session & SessionData {
    const created = super.createSession(req, session);
    this.loaded.add(created);
    return created;
  }

  private async collection(): Promise<mongo.Collection<SessionDocument>> {
    if (this.closed) throw new MongooseStoreError('ERR_STORE_CLOSED', 'the store is closed');
    if (this.coll !== undefined) return this.coll;
    await this.connection.open();
    return this.coll as unknown as mongo.Collection<SessionDocument>;
  }

  private async read(sid: string): Promise<SessionData | null> {
    checkSid(sid);
    const doc = await (await this.collection()).findOne({ _id: sid });
    // The TTL monitor may lag by a minute or be absent: expiry is checked here on every read.
    const at = doc?.expiresAt instanceof Date ? doc.expiresAt.getTime() : 0;
    if (doc === null || at <= Date.now()) return null;
    if (this.options.touchAfter > 0) this.recent.remember(sid, at);
    return this.codec.decode(doc);
  }

  private async write(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    if (session === null || typeof session !== 'object')
      throw typeError('set: session must be an object');
    const now = Date.now();
    const at = expiryOf(session, this.options.ttl, now);
    if (at <= now) return this.remove(sid);
    const doc = this.codec.encode(sid, session, new Date(at));
    const coll = await this.collection();
    // A session loaded from the store is only updated, never inserted: if a concurrent
    // request destroyed it (logout), this late save must not bring it back.
    const upsert = !this.loaded.has(session);
    const replace = () => coll.replaceOne({ _id: sid }, doc, { upsert });
    const result = await replace()
      // Two upserts of one new id can race to insert it. mongod retries that itself; FerretDB
      // answers E11000, and then the document exists: replacing it again is what we meant.
      .catch((err: { code?: unknown }) =>
        upsert && err?.code === DUPLICATE_KEY ? replace() : Promise.reject(err),
      )
      .catch((err) => {
        throw this.codec.rejection(sid, err);
      });
    if (result.matchedCount + result.upsertedCount === 0) {
      log('set %s: destroyed meanwhile; not re-created', sid);
      return;
    }
    if (this.options.touchAfter > 0) this.recent.remember(sid, at);
  }

  /** Whether a touch to this expiry may be skipped: the stored one is younger than touchAfter. */
  private fresh(sid: string, session: SessionData): boolean {
    const stored = this.recent.get(sid);
    if (stored === undefined) return false;
    const at = expiryOf(session, this.options.ttl);
    // A shorter expiry is always written, so the server never keeps a session past its cookie.
    return at >= stored && at - stored < this.options.touchAfter;
  }

  private async refresh(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    const at = expiryOf(session, this.options.ttl);
    const cookie = this.codec.cookie(session);
    const result = await (await this.collection()).updateOne(
      { _id: sid },
      { $set: { expiresAt: new Date(at), cookie } },
    );
    if (this.options.touchAfter > 0) {
      if (result.matchedCount > 0) this.recent.remember(sid, at);
      else this.recent.forget(sid);
    }
  }

  private async remove(sid: string): Promise<void> {
    checkSid(sid);
    this.recent.forget(sid);
    await (await this.collection()).deleteOne({ _id: sid });
  }

  private async list(): Promise<Record<string, SessionData>> {
    const docs = await (await this.collection()).find({ expiresAt: { $gt: new Date() } }).toArray();
    // fromEntries defines own properties, so an id like "__proto__" cannot touch the prototype.
    return Object.fromEntries(docs.map((d) => [d._id, this.codec.decode(d)]));
  }

  private async countLive(): Promise<number> {
    return (await this.collection()).countDocuments({ expiresAt: { $gt: new Date() } });
  }

  private async removeAll(): Promise<void> {
    this.recent.forget();
    await (await this.collection()).deleteMany({});
  }

  private onUp(conn: Connection): void {
    this.coll = (conn.db as mongo.Db).collection<SessionDocument>(this.options.collection);
    this.emit('connect');
    this.cleanup.prepare(this.coll).then(
      () => this.started(),
      (err: Error) => {
        this.report(err);
        this.started(err);
      },
    );
  }

  private started(err?: Error): void {
    const callback = this.starting;
    this.starting = undefined;
    callback?.(err);
  }

  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else log('error: %s', err.message);
  }
}

/**
 * Creates a {@link MongooseStore}.
 *
 * @param uris - one MongoDB URI (standalone or mongos), or an array of the members of one
 *   replica set; `null` when `options.connection` is given.
 * @param options - see {@link MongooseStoreOptions}.
 * @throws TypeError for invalid or conflicting options.
 */
export function createStore(
  uris: MongooseStoreUris,
  options?: MongooseStoreOptions,
): MongooseStore {
  return new MongooseStore(uris, options);
}
