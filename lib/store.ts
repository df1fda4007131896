import type { Request } from 'express';
import { type Session, type SessionData, Store } from 'express-session';
import mongoose, { type Connection, type mongo } from 'mongoose';
import { type Callback, settle } from './callback.js';
import { SessionConnection } from './connection.js';
import { MongooseStoreError, typeError } from './errors.js';
import { expiryOf } from './expiry.js';
import { ensureTtlIndex } from './indexes.js';
import { log } from './log.js';
import {
  FALLBACK_LIFECHECK,
  type MongooseStoreOptions,
  type MongooseStoreUris,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { RecentExpiries } from './recent.js';
import { type SessionDocument, ttlIndexSpec } from './schema.js';
import { Sweeper } from './sweeper.js';

/** The server's document size limit, in bytes. */
const MAX_DOCUMENT = 16 * 1024 * 1024;
/** Server error codes for a document over the size limit. */
const TOO_LARGE = new Set([10334, 17419, 17420]);
/** Server error codes for a document the server cannot hold (bad field names, bad values). */
const REJECTED = new Set([2, 52, 56, 57]);

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

function checkSid(sid: unknown): asserts sid is string {
  // Checked before any query is built: an object here would be an operator injection.
  if (typeof sid !== 'string' || sid === '')
    throw typeError(`session id must be a non-empty string, got ${typeof sid}`);
}

function plainCookie(cookie: unknown): Record<string, unknown> {
  const c = cookie as { toJSON?: () => Record<string, unknown> } | undefined;
  return typeof c?.toJSON === 'function' ? c.toJSON() : ((cookie ?? {}) as Record<string, unknown>);
}

function sizeOf(v: unknown): number {
  return typeof v === 'string'
    ? Buffer.byteLength(v)
    : mongoose.mongo.BSON.calculateObjectSize({ v });
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
  private readonly sweeper: Sweeper;
  private readonly recent = new RecentExpiries();
  /** Sessions express-session loaded from us; `set` on them never re-creates a destroyed one. */
  private readonly loaded = new WeakSet<object>();
  private coll: mongo.Collection<SessionDocument> | undefined;
  /** `unknown` until the server answered our TTL index; a refusal is final, other errors are retried. */
  private ttl: 'unknown' | 'ready' | 'refused' = 'unknown';
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
    this.starting = callback;
    this.sweeper = new Sweeper(() => this.sweep(), {
      swept: (deleted) => this.emit('sweep', deleted),
      failed: (err) => this.report(err),
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
    if (this.options.touchAfter > 0 && typeof sid === 'string' && this.fresh(sid, session)) {
      if (typeof callback !== 'function') return Promise.resolve();
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
    this.sweeper.stop();
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
    return this.decode(doc);
  }

  private async write(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    if (session === null || typeof session !== 'object')
      throw typeError('set: session must be an object');
    const now = Date.now();
    const at = expiryOf(session, this.options.ttl, now);
    if (at <= now) return this.remove(sid);
    const expiresAt = new Date(at);
    const { cookie, ...data } = session as SessionData & Record<string, unknown>;
    const doc = { expiresAt, cookie: this.encode(plainCookie(cookie)), session: this.encode(data) };
    if (sizeOf(doc.cookie) + sizeOf(doc.session) + Buffer.byteLength(sid) + 64 > MAX_DOCUMENT) {
      throw new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `session ${sid} is over the 16 MiB document limit`,
      );
    }
    const coll = await this.collection();
    // A session loaded from the store is only updated, never inserted: if a concurrent
    // request destroyed it (logout), this late save must not bring it back.
    const upsert = !this.loaded.has(session);
    const result = await coll.replaceOne({ _id: sid }, doc, { upsert }).catch((err) => {
      throw this.rejection(sid, err);
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
    const at = expiryOf(session, this.options.ttl, Date.now());
    // A shorter expiry is always written, so the server never keeps a session past its cookie.
    return at >= stored && at - stored < this.options.touchAfter;
  }

  private async refresh(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    const at = expiryOf(session, this.options.ttl, Date.now());
    const cookie = this.encode(plainCookie(session?.cookie));
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
    return Object.fromEntries(docs.map((d) => [d._id, this.decode(d)]));
  }

  private async countLive(): Promise<number> {
    return (await this.collection()).countDocuments({ expiresAt: { $gt: new Date() } });
  }

  private async removeAll(): Promise<void> {
    this.recent.forget();
    await (await this.collection()).deleteMany({});
  }

  private async sweep(): Promise<number> {
    const { deletedCount } = await (await this.collection()).deleteMany({
      expiresAt: { $lte: new Date() },
    });
    log('swept %d expired sessions', deletedCount);
    return deletedCount;
  }

  private decode(doc: SessionDocument): SessionData {
    const { serializer } = this.options;
    try {
      return {
        cookie: serializer.deserialize(doc.cookie),
        ...serializer.deserialize(doc.session),
      } as unknown as SessionData;
    } catch (err) {
      throw new MongooseStoreError(
        'ERR_SESSION_SERIALIZE',
        `stored session ${doc._id} could not be read`,
        err,
      );
    }
  }

  private encode(value: Record<string, unknown>): unknown {
    try {
      return this.options.serializer.serialize(value);
    } catch (err) {
      throw new MongooseStoreError(
        'ERR_SESSION_SERIALIZE',
        `session could not be serialized: ${(err as Error).message}`,
        err,
      );
    }
  }

  private rejection(sid: string, err: unknown): unknown {
    const code = (err as { code?: unknown } | null)?.code as number;
    if (TOO_LARGE.has(code)) {
      return new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `session ${sid} is over the document limit`,
        err,
      );
    }
    if (REJECTED.has(code)) {
      return new MongooseStoreError(
        'ERR_SESSION_REJECTED',
        `the server refused session ${sid}: ${(err as Error).message}`,
        err,
      );
    }
    return err;
  }

  private onUp(conn: Connection): void {
    this.coll = (conn.db as mongo.Db).collection<SessionDocument>(this.options.collection);
    this.emit('connect');
    this.prepare(this.coll).then(
      () => this.started(),
      (err: Error) => {
        this.report(err);
        this.started(err);
      },
    );
  }

  /** Checks the TTL index (once per store) and sets the sweeper from the server's answer. */
  private async prepare(coll: mongo.Collection<SessionDocument>): Promise<void> {
    const { autoIndex, lifecheck } = this.options;
    let refusal: Error | undefined;
    try {
      if (autoIndex && this.ttl === 'unknown') {
        const outcome = await ensureTtlIndex(coll as unknown as mongo.Collection, ttlIndexSpec());
        this.ttl = outcome.ttl ? 'ready' : 'refused';
        if (!outcome.ttl) refusal = outcome.reason;
      }
    } finally {
      // Without a confirmed TTL index, expired sessions would pile up: sweep unless told not to.
      const fallback = autoIndex && this.ttl !== 'ready';
      const every = lifecheck ?? (fallback ? FALLBACK_LIFECHECK : -1);
      if (this.closed || every === -1) this.sweeper.stop();
      else if (this.sweeper.interval !== every) this.sweeper.start(every);
    }
    if (refusal !== undefined) {
      log(
        'the server refused the TTL index (%s); sweeper every %d ms',
        refusal.message,
        lifecheck ?? FALLBACK_LIFECHECK,
      );
      this.emit('ttlRefused', refusal, lifecheck ?? FALLBACK_LIFECHECK);
    }
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
