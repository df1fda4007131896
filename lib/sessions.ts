import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { deleteInBatches } from './batches.js';
import { type DecodedSession, type SessionCodec, sameData, type TouchUpdate } from './codec.js';
import { MongooseStoreError, sidTag, typeError } from './errors.js';
import { expiryOf } from './expiry.js';
import { GuardedWrites } from './guarded.js';
import { checkSid } from './ids.js';
import { liveFilter, storedExpiry } from './legacy.js';
import { log } from './log.js';
import type { ResolvedOptions } from './options.js';
import { Recent, RecentExpiries } from './recent.js';
import { reencryptAll } from './reencrypt.js';
import type { SessionDocument } from './schema.js';
import { UserSessions } from './user-sessions.js';

/** The server's duplicate key error code. */
const DUPLICATE_KEY = 11000;

function checkSession(session: unknown, method: string, needsCookie: boolean): void {
  if (session === null || typeof session !== 'object')
    throw typeError(
      `${method}: session must be an object, got ${session === null ? 'null' : typeof session}`,
    );
  const { cookie } = session as { cookie?: unknown };
  // touch writes the cookie alone: without one it would wipe the stored cookie.
  if (needsCookie && (cookie === null || typeof cookie !== 'object'))
    throw typeError(`${method}: session must have a cookie object`);
}

/** What the session operations tell the store. */
export interface SessionsHooks {
  /** A problem that fails no request (a stored session that cannot be read). */
  report(err: Error): void;
}

/**
 * The session documents: every read and write of one session, and the whole-collection
 * operations. The hot paths are one round trip filtered by `_id` (plus, for `touch`, the
 * expiry it must not revive).
 */
export class Sessions {
  private readonly recent = new RecentExpiries();
  /** Sessions express-session loaded from us; `set` on them never re-creates a destroyed one. */
  private readonly loaded = new WeakSet<object>();
  /**
   * The data each loaded session was stored with: a `set` that finds it
   * unchanged (`resave: true`, rolling cookies) writes only what a touch writes.
   */
  private readonly stored = new WeakMap<object, unknown>();
  /** Peers' documents read lately: their next touch rewrites them whole, in our shape. */
  private readonly legacy = new RecentExpiries();
  /**
   * The stored data of sessions read under an older secret: their next write re-encrypts it.
   * Fewer than the expiries, as each holds a whole sealed session; one forgotten is left to
   * `reencrypt()`.
   */
  private readonly stale = new Recent<Pick<SessionDocument, 'session' | 'user'>>(1_000);
  private readonly guarded: GuardedWrites;

  /** "Sign out everywhere": the sessions of one user. */
  readonly users: UserSessions;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly codec: SessionCodec,
    private readonly collection: () => Promise<mongo.Collection<SessionDocument>>,
    private readonly hooks: SessionsHooks,
  ) {
    this.guarded = new GuardedWrites(collection);
    this.users = new UserSessions(options, codec, collection, {
      decode: (doc) => this.decoded(doc),
      // A skipped touch of a deleted session would write nothing anyway: forget them all.
      forget: () => this.recent.forget(),
      report: hooks.report,
    });
  }

  /** Marks `session`, which express-session built from `data` we returned, as loaded from us. */
  loadedFrom(session: object, data: object): void {
    this.loaded.add(session);
    if (this.stored.has(data)) this.stored.set(session, this.stored.get(data));
  }

  async read(sid: string): Promise<SessionData | null> {
    checkSid(sid);
    const doc = await (await this.collection()).findOne({ _id: sid });
    // The TTL monitor may lag by a minute or be absent: expiry is checked here on every read.
    const at = doc === null ? 0 : storedExpiry(doc);
    if (doc === null || at <= Date.now()) return null;
    const decoded = this.decoded(doc);
    if (decoded === null) return null;
    if (decoded.legacy) this.legacy.remember(sid, at);
    if (decoded.stale) this.stale.remember(sid, { session: doc.session, user: doc.user });
    else this.stale.forget(sid);
    this.stored.set(decoded.session, decoded.data);
    if (this.options.touchAfter > 0) this.recent.remember(sid, at);
    return decoded.session;
  }

  async write(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    checkSession(session, 'set', false);
    const now = Date.now();
    const at = expiryOf(session, this.options.ttl, now);
    if (at <= now) return this.remove(sid);
    const { doc, data } = this.codec.encode(sid, session, new Date(at));
    const loaded = this.loaded.has(session);
    if (loaded && sameData(this.stored.get(session), data)) {
      // Nothing but the cookie changed since it was loaded: write what a touch writes (or
      // nothing, within touchAfter), and leave the data that another request may have saved.
      // Filtered by _id alone, as the full write is: this request loaded it live.
      if (this.options.touchAfter > 0 && this.fresh(sid, session)) return;
      return this.update({ _id: sid }, sid, at, this.codec.partial(doc));
    }
    const coll = await this.collection();
    // A session loaded from the store is only updated, never inserted: if a concurrent
    // request destroyed it (logout), this late save must not bring it back.
    const upsert = !loaded;
    const replace = () => coll.replaceOne({ _id: sid }, doc, { upsert });
    const result = await replace()
      // Two upserts of one new id can race to insert it. mongod retries that itself; FerretDB
      // answers E11000, and then the document exists: replacing it again is what we meant.
      .catch((err: { code?: unknown }) =>
        upsert && err?.code === DUPLICATE_KEY ? replace() : Promise.reject(err),
      )
      .catch((err) => {
        throw this.codec.rejection(err);
      });
    if (result.matchedCount + result.upsertedCount === 0) {
      log('set %s: destroyed meanwhile; not re-created', sidTag(sid));
      return;
    }
    if (loaded) this.stored.set(session, data);
    this.legacy.forget(sid);
    this.stale.forget(sid);
    if (this.options.touchAfter > 0) this.recent.remember(sid, at);
  }

  /**
   * Whether a touch to this expiry may be skipped: the stored one is younger than touchAfter.
   * Never throws (it runs synchronously inside `touch`): when in doubt, the touch is written,
   * and the write path reports what went wrong.
   */
  fresh(sid: string, session: SessionData): boolean {
    const stored = this.recent.get(sid);
    if (stored === undefined || session?.cookie == null) return false;
    // Read under an older secret: this write is what re-encrypts it.
    if (this.stale.get(sid) !== undefined) return false;
    let at: number;
    try {
      at = expiryOf(session, this.options.ttl);
    } catch {
      return false;
    }
    // A shorter expiry is always written, so the server never keeps a session past its cookie.
    return at >= stored && at - stored < this.options.touchAfter;
  }

  async refresh(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    checkSession(session, 'touch', true);
    const now = Date.now();
    const at = expiryOf(session, this.options.ttl, now);
    if (this.legacy.get(sid) !== undefined && (await this.rewrite(sid, session, at, now))) return;
    // Only a live session is moved forward: one that expired, though not deleted yet, stays
    // missing, as `get` already said it was. A session express-session loaded from us in
    // this request was live then, as for `set`: `_id` alone, the filter FerretDB 1.x answers
    // in SQL (the expiry condition made it decode every document, about 4x the cost).
    const filter = this.loaded.has(session)
      ? { _id: sid }
      : { _id: sid, expiresAt: { $gt: new Date(now) } };
    await this.update(filter, sid, at, this.codec.touch(sid, session, new Date(at)));
  }

  /**
   * Rewrites a peer's live document whole, in our shape: a touch cannot move it forward.
   * Only while it is still theirs: one another instance rewrote meanwhile is left to `update`.
   */
  private async rewrite(
    sid: string,
    session: SessionData,
    at: number,
    now: number,
  ): Promise<boolean> {
    this.legacy.forget(sid);
    const { doc } = this.codec.encode(sid, session, new Date(at));
    const result = await (await this.collection())
      .replaceOne({ _id: sid, expires: { $gt: new Date(now) } }, doc)
      .catch((err) => {
        throw this.codec.rejection(err);
      });
    return result.matchedCount > 0;
  }

  /** Writes a touch's update where `filter` matches: never creates a session. */
  private async update(
    filter: mongo.Filter<SessionDocument>,
    sid: string,
    at: number,
    update: TouchUpdate,
  ): Promise<void> {
    // No await at all for the common case: nothing read under an older secret.
    const matched =
      (this.stale.get(sid) !== undefined && (await this.rekey(filter, sid, update))) ||
      (await (
        await this.collection()
      )
        .updateOne(filter, update)
        .then((result) => result.matchedCount > 0)
        .catch((err) => {
          throw this.codec.rejection(err);
        }));
    if (this.options.touchAfter > 0) {
      if (matched) this.recent.remember(sid, at);
      else this.recent.forget(sid);
    }
  }

  /**
   * For a session read under an older secret: the touch's update, plus its stored data sealed
   * again with the newest, while the data is still what was read (else a save came between,
   * already under the newest secret). Resolves to whether it wrote.
   */
  private async rekey(
    filter: mongo.Filter<SessionDocument>,
    sid: string,
    update: TouchUpdate,
  ): Promise<boolean> {
    const old = this.stale.get(sid);
    if (old === undefined) return false;
    this.stale.forget(sid);
    let resealed: TouchUpdate;
    try {
      resealed = this.codec.reseal(sid, old.session, old.user);
    } catch {
      // Its userId function fails on it now: the touch is written as usual, and
      // reencrypt() reports what it cannot rewrite.
      return false;
    }
    const live = (filter.expiresAt as { $gt?: Date } | undefined)?.$gt;
    const $set = { ...update.$set, ...resealed.$set };
    return this.guarded
      .update(sid, { session: old.session, liveAt: live }, { ...resealed, $set })
      .catch((err) => {
        throw this.codec.rejection(err);
      });
  }

  /** Re-encrypts every live session still under an older secret; resolves to how many. */
  async reencrypt(): Promise<number> {
    if (this.options.cipher === undefined)
      throw typeError('reencrypt: the secret option is not set, so no session is encrypted');
    return reencryptAll(await this.collection(), this.codec, this.guarded, this.hooks.report);
  }

  async remove(sid: string): Promise<void> {
    checkSid(sid);
    this.recent.forget(sid);
    await (await this.collection()).deleteOne({ _id: sid });
  }

  async list(): Promise<Record<string, SessionData>> {
    const docs = await (await this.collection())
      .find(liveFilter(new Date(), this.options.legacy))
      .toArray();
    const entries: [string, SessionData][] = [];
    for (const doc of docs) {
      const decoded = this.decoded(doc);
      if (decoded !== null) entries.push([doc._id, decoded.session]);
    }
    // fromEntries defines own properties, so an id like "__proto__" cannot touch the prototype.
    return Object.fromEntries(entries);
  }

  async countLive(): Promise<number> {
    return (await this.collection()).countDocuments(liveFilter(new Date(), this.options.legacy));
  }

  async removeAll(): Promise<void> {
    this.recent.forget();
    await deleteInBatches((await this.collection()) as unknown as mongo.Collection, {}, '_id');
  }

  /** A stored session, or `null` (reported) when it cannot be read: its owner is not locked out. */
  decoded(doc: SessionDocument): DecodedSession | null {
    try {
      return this.codec.decode(doc);
    } catch (err) {
      if (!(err instanceof MongooseStoreError)) throw err;
      this.hooks.report(err);
      return null;
    }
  }
}
