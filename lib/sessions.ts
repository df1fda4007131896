import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { deleteInBatches } from './batches.js';
import { sameData } from './changes.js';
import type { DecodedSession, SessionCodec } from './codec.js';
import {
  byId,
  fullWrite,
  liveById,
  liveFilter,
  merged,
  peerLive,
  peerLiveById,
  peerTouchWrite,
  peerWrite,
  type SessionDocument,
  type SessionFilter,
  type SessionUpdate,
  storedExpiry,
  touchWrite,
} from './document.js';
import { codeOf, DUPLICATE_KEY, MongooseStoreError, sidTag, typeError } from './errors.js';
import { expiryOf, touchSlack } from './expiry.js';
import { GuardedWrites } from './guarded.js';
import { checkSid } from './ids.js';
import { encodePeer, type PeerForm } from './legacy.js';
import { log } from './log.js';
import type { ResolvedOptions } from './options.js';
import type { SessionRecord } from './record.js';
import { SessionRecords } from './record.js';
import { reencryptAll } from './reencrypt.js';
import { refusing } from './rejection.js';
import { UserSessions } from './user-sessions.js';

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
 * operations. What the store knows of a loaded session lives in its {@link SessionRecord};
 * every filter and update comes from lib/document.ts. The hot paths are one round trip
 * filtered by `_id`.
 */
export class Sessions {
  private readonly records = new SessionRecords();
  private readonly guarded: GuardedWrites;
  /**
   * The peers' form this store writes with `legacy` (a rolling deploy): the one of the last
   * peer's document read, else connect-mongo's default, a JSON string.
   */
  private peerForm: PeerForm = 'string';

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
      report: hooks.report,
    });
  }

  /** express-session built `created` from `loaded`, which `get` returned for session `sid`. */
  loadedFrom(loaded: object, created: object, sid: string): void {
    this.records.carry(loaded, created, sid);
  }

  async read(sid: string): Promise<SessionData | null> {
    checkSid(sid);
    const doc = await (await this.collection()).findOne(byId(sid));
    // The TTL monitor may lag by a minute or be absent: expiry is checked here on every read.
    const at = doc === null ? 0 : storedExpiry(doc);
    if (doc === null || at <= Date.now()) return null;
    const decoded = this.decoded(doc);
    if (decoded === null) return null;
    if (decoded.peer !== undefined) this.peerForm = decoded.peer;
    this.records.keep(decoded.session, {
      sid,
      data: decoded.data,
      expiresAt: at,
      peer: decoded.peer,
      inRequest: false,
      stale: decoded.stale ? { session: doc.session, user: doc.user } : undefined,
    });
    return decoded.session;
  }

  async write(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    checkSession(session, 'set', false);
    const now = Date.now();
    const at = expiryOf(session, this.options.ttl, now);
    if (at <= now) return this.remove(sid);
    const record = this.records.of(session, sid);
    const inRequest = record?.inRequest === true;
    const expiresAt = new Date(at);
    const { fields, data } = this.codec.encode(sid, session, expiresAt);
    if (inRequest && record?.peer === undefined && sameData(record?.data, data)) {
      // Nothing but the cookie changed since it was loaded: write what a touch writes (or
      // nothing, within touchAfter), and leave the data that another request may have saved.
      // Filtered by _id alone, as the full write is: this request loaded it live.
      if (this.options.touchAfter !== 0 && this.fresh(sid, session)) return;
      return this.update(byId(sid), record, at, touchWrite(expiresAt, fields.cookie));
    }
    const update = this.options.legacy
      ? peerWrite(encodePeer(session, expiresAt, record?.peer ?? this.peerForm))
      : fullWrite(fields);
    // A session loaded from the store is only updated, never inserted: if a concurrent
    // request destroyed it (logout), this late save must not bring it back.
    const upsert = !inRequest;
    const coll = await this.collection();
    const save = () => coll.updateOne(byId(sid), update, { upsert });
    const result = await refusing(
      save()
        // Two upserts of one new id can race to insert it. mongod retries that itself;
        // FerretDB answers E11000, and then the document exists: writing it again is meant.
        .catch((err: unknown) =>
          upsert && codeOf(err) === DUPLICATE_KEY ? save() : Promise.reject(err),
        ),
    );
    if (result.matchedCount + result.upsertedCount === 0) {
      log('set %s: destroyed meanwhile; not re-created', sidTag(sid));
      return;
    }
    if (record !== undefined) {
      record.data = this.options.legacy ? undefined : data;
      record.expiresAt = at;
      record.peer = this.options.legacy ? (record.peer ?? this.peerForm) : undefined;
      record.stale = undefined;
    }
  }

  /**
   * Whether a touch to this expiry may be skipped: the stored one is younger than touchAfter.
   * Never throws (it runs synchronously inside `touch`): when in doubt, the touch is written,
   * and the write path reports what went wrong.
   */
  fresh(sid: string, session: SessionData): boolean {
    const record = this.records.of(session, sid);
    // Unknown, read under an older secret (this write re-encrypts it), or a peer's document
    // to be rewritten in our shape: written.
    if (record === undefined || record.stale !== undefined || record.expiresAt === 0) return false;
    if (record.peer !== undefined && !this.options.legacy) return false;
    if (session?.cookie == null) return false;
    let at: number;
    try {
      at = expiryOf(session, this.options.ttl);
    } catch {
      return false;
    }
    // A shorter expiry is always written, so the server never keeps a session past its cookie.
    return (
      at >= record.expiresAt &&
      at - record.expiresAt < touchSlack(this.options.touchAfter, at, Date.now())
    );
  }

  async refresh(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    checkSession(session, 'touch', true);
    const now = Date.now();
    const at = expiryOf(session, this.options.ttl, now);
    const record = this.records.of(session, sid);
    const expiresAt = new Date(at);
    if (record?.peer !== undefined) return this.refreshPeer(sid, session, record, at, now);
    // Only a live session is moved forward: one that expired, though not deleted yet, stays
    // missing, as `get` already said it was. A session express-session loaded from us in
    // this request was live then, as for `set`: `_id` alone, the filter FerretDB 1.x answers
    // in SQL (the expiry condition made it decode every document, about 4x the cost).
    const filter = record?.inRequest ? byId(sid) : liveById(sid, new Date(now));
    await this.update(filter, record, at, touchWrite(expiresAt, this.codec.cookie(sid, session)));
    if (record === undefined && this.options.touchAfter !== 0) {
      // A caller that touches the same object again (no get between) may skip then.
      this.records.keep(session, {
        sid,
        data: undefined,
        expiresAt: at,
        peer: undefined,
        inRequest: false,
        stale: undefined,
      });
    }
  }

  /**
   * A touch of a session read in a peer's shape. With `legacy` (a rolling deploy) it moves
   * the peer's expiry as their own touch does, and leaves the shape, so their instances can
   * still read it; without,
   * it rewrites the session whole in ours, only while it is still theirs: one another
   * instance rewrote meanwhile is moved forward as ours.
   */
  private async refreshPeer(
    sid: string,
    session: SessionData,
    record: SessionRecord,
    at: number,
    now: number,
  ): Promise<void> {
    const coll = await this.collection();
    const expiresAt = new Date(at);
    const update = this.options.legacy
      ? peerTouchWrite(expiresAt)
      : fullWrite(this.codec.encode(sid, session, expiresAt).fields);
    const result = await refusing(coll.updateOne(peerLiveById(sid, new Date(now)), update));
    if (result.matchedCount > 0) {
      record.expiresAt = at;
      if (!this.options.legacy) record.peer = undefined;
      return;
    }
    if (this.options.legacy) return;
    record.peer = undefined;
    await this.update(
      liveById(sid, new Date(now)),
      record,
      at,
      touchWrite(expiresAt, this.codec.cookie(sid, session)),
    );
  }

  /** Writes a touch's update where `filter` matches: never creates a session. */
  private async update(
    filter: SessionFilter,
    record: SessionRecord | undefined,
    at: number,
    update: SessionUpdate,
  ): Promise<void> {
    // No await at all for the common case: nothing read under an older secret.
    const matched =
      (record?.stale !== undefined && (await this.rekey(filter, record, update))) ||
      (await refusing((await this.collection()).updateOne(filter, update))).matchedCount > 0;
    if (matched && record !== undefined) record.expiresAt = at;
  }

  /**
   * For a session read under an older secret: the touch's update, plus its stored data sealed
   * again with the newest, while the data is still what was read (else a save came between,
   * already under the newest secret). Resolves to whether it wrote.
   */
  private async rekey(
    filter: SessionFilter,
    record: SessionRecord,
    update: SessionUpdate,
  ): Promise<boolean> {
    const old = record.stale;
    if (old === undefined) return false;
    record.stale = undefined;
    let resealed: SessionUpdate;
    try {
      resealed = this.codec.reseal(record.sid, old.session, old.user);
    } catch {
      // Its userId function fails on it now: the touch is written as usual, and
      // reencrypt() reports what it cannot rewrite.
      return false;
    }
    const live = (filter.expiresAt as { $gt?: Date } | undefined)?.$gt;
    return refusing(
      this.guarded.update(
        record.sid,
        { session: old.session, liveAt: live },
        merged(update, resealed),
      ),
    );
  }

  /** Re-encrypts every live session still under an older secret; resolves to how many. */
  async reencrypt(): Promise<number> {
    if (this.options.cipher === undefined)
      throw typeError('reencrypt: the secret option is not set, so no session is encrypted');
    return reencryptAll(await this.collection(), this.codec, this.guarded, this.hooks.report);
  }

  async remove(sid: string): Promise<void> {
    checkSid(sid);
    await (await this.collection()).deleteOne(byId(sid));
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

  /**
   * How many live sessions there are, as {@link list} would give them: this store's by an
   * index-backed count; with `legacy`, the peers' one by one, leaving out any that cannot be
   * read, as `all()` does.
   */
  async countLive(): Promise<number> {
    const coll = await this.collection();
    const now = new Date();
    const ours = await coll.countDocuments(liveFilter(now, false));
    if (!this.options.legacy) return ours;
    let peers = 0;
    for await (const doc of coll.find(peerLive(now))) {
      if (this.decodedQuietly(doc) !== null) peers++;
    }
    return ours + peers;
  }

  async removeAll(): Promise<void> {
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

  /** A stored session, or `null` when it cannot be read, without a report: for counting. */
  private decodedQuietly(doc: SessionDocument): DecodedSession | null {
    try {
      return this.codec.decode(doc);
    } catch {
      return null;
    }
  }
}
