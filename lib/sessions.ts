import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { AllSessions } from './all-sessions.js';
import { sameData } from './changes.js';
import { type DecodedSession, SessionCodec } from './codec.js';
import { deviceOf, sameDevice } from './devices.js';
import {
  byId,
  fullWrite,
  liveById,
  type Presence,
  peerLive,
  peerWrite,
  type SessionDocument,
  type SessionFilter,
  storedExpiry,
  touchWrite,
} from './document.js';
import { codeOf, DUPLICATE_KEY, MongooseStoreError, sidTag } from './errors.js';
import { expiryOf, lifetimeEnd, touchSlack } from './expiry.js';
import { GuardedWrites } from './guarded.js';
import { checkSession, checkSid } from './ids.js';
import { encodePeer, formOf, type PeerForm } from './legacy.js';
import { log } from './log.js';
import type { ResolvedOptions } from './options.js';
import { presenceOf } from './presence.js';
import { blankRecord, holdsCookie, type SessionRecord, SessionRecords } from './record.js';
import { refusing } from './rejection.js';
import { Rewrites } from './rewrites.js';
import { sealingOf } from './sealing.js';
import type { OperationContext } from './tracing.js';
import { UserSessions } from './user-sessions.js';

/** What the session operations tell the store. */
export interface SessionsHooks {
  /** A problem that fails no request (a stored session that cannot be read). */
  report(err: Error): void;
}

/**
 * Every read and write of one session. What the store knows of a loaded session lives in its
 * {@link SessionRecord}; every filter and update comes from lib/document.ts. The hot paths are
 * one round trip filtered by `_id`.
 */
export class Sessions {
  private readonly records = new SessionRecords();
  private readonly rewrites: Rewrites;
  /**
   * The peers' form this store writes with `legacy` (a rolling deploy): the one of the last
   * peer's document read, else connect-mongo's default, a JSON string.
   */
  private peerForm: PeerForm = 'string';
  /** With `legacy`: the one look at the collection that tells the peers' form. */
  private learning: Promise<void> | undefined;
  /** A peer's document was read since: its form is the one to write, whatever the look found. */
  private peerFormSeen = false;

  /** "Sign out everywhere": the sessions of one user. */
  readonly users: UserSessions;
  /** `all`, `length`, `clear`, `reencrypt`. */
  readonly all: AllSessions;

  private readonly codec: SessionCodec;
  private readonly report: (err: Error) => void;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly collection: () => Promise<mongo.Collection<SessionDocument>>,
    hooks: SessionsHooks,
  ) {
    const { serializer, userId, cipher } = options;
    const codec = new SessionCodec(serializer, userId, sealingOf(cipher));
    this.codec = codec;
    const guarded = new GuardedWrites(collection);
    const decode = (doc: SessionDocument) => this.decoded(doc, hooks.report);
    this.rewrites = new Rewrites(options, codec, guarded, collection);
    this.users = new UserSessions(options, codec, collection, { decode, report: hooks.report });
    this.all = new AllSessions(options, codec, guarded, collection, {
      decode,
      decodeQuietly: (doc) => this.decoded(doc, () => {}),
      report: hooks.report,
    });
    this.report = hooks.report;
  }

  /**
   * With `legacy`: learns the peers' form from one of their live documents, so that the first
   * session written here is in a shape the old instances read (connect-mongodb-session, and
   * connect-mongo with `stringify: false`, store an object; connect-mongo by default, a JSON
   * string). With none to look at, connect-mongo's default stays. Never rejects.
   */
  private learnPeerForm(coll: mongo.Collection<SessionDocument>): Promise<void> {
    this.learning ??= coll.findOne(peerLive(new Date()), { projection: { session: 1 } }).then(
      (doc) => {
        if (doc !== null && !this.peerFormSeen) this.peerForm = formOf(doc);
      },
      // Tried again by the next write.
      () => {
        this.learning = undefined;
      },
    );
    return this.learning;
  }

  /** express-session built `created` from `loaded`, which `get` returned for session `sid`. */
  loadedFrom(loaded: object, created: object, sid: string): void {
    this.records.carry(loaded, created, sid);
  }

  async read(sid: string, trace: OperationContext): Promise<SessionData | null> {
    checkSid(sid);
    const doc = await (await this.collection()).findOne(byId(sid));
    // The TTL monitor may lag by a minute or be absent: expiry is checked here on every read.
    const at = doc === null ? 0 : storedExpiry(doc);
    const now = Date.now();
    trace.outcome = doc === null ? 'miss' : 'expired';
    if (doc === null || at <= now) return null;
    const createdAt = doc.createdAt instanceof Date ? doc.createdAt.getTime() : undefined;
    const { maxLifetime } = this.options;
    if (maxLifetime !== undefined && createdAt !== undefined && createdAt + maxLifetime <= now)
      return null;
    const decoded = this.decoded(doc, this.report);
    trace.outcome = decoded === null ? 'unreadable' : 'hit';
    if (decoded === null) return null;
    if (decoded.peer !== undefined) {
      this.peerForm = decoded.peer;
      this.peerFormSeen = true;
    }
    this.records.keep(decoded.session, {
      ...blankRecord(sid),
      data: decoded.data,
      expiresAt: at,
      cookie: this.codec.cookieKey(decoded.session.cookie),
      createdAt,
      user: doc.user,
      device: this.options.metadata && this.codec.device(sid, doc.device),
      peer: decoded.peer,
      stale: decoded.stale ? { session: doc.session, user: doc.user } : undefined,
    });
    return decoded.session;
  }

  async write(sid: string, session: SessionData): Promise<void> {
    checkSid(sid);
    checkSession(session, 'set', false);
    const now = Date.now();
    const record = this.records.of(session, sid);
    const at = this.expiry(session, record, now);
    if (at <= now) return this.remove(sid);
    const inRequest = record?.inRequest === true;
    const expiresAt = new Date(at);
    // Serialized, not sealed yet: an unchanged session pays for no sealing of its data.
    const data = this.codec.data(session);
    const presence = presenceOf(this.options.metadata, this.codec, sid, session, record, now);
    if (inRequest && record?.peer === undefined && sameData(record?.data, data)) {
      // Nothing but the cookie changed since it was loaded: write what a touch writes (or
      // nothing, within touchAfter), and leave the data that another request may have saved.
      // Filtered by _id alone, as the full write is: this request loaded it live.
      if (this.options.touchAfter !== 0 && this.fresh(sid, session)) return;
      await this.touched(byId(sid), sid, session, record, at, presence);
      return;
    }
    // A loaded cookie changed only in its expiry is not sealed or written again, as a touch
    // leaves it (only an update: an upsert must give a new document its cookie).
    const cookie = this.codec.cookieKey(session.cookie);
    const keep = inRequest && holdsCookie(record, cookie);
    const fields = this.codec.fields(sid, session, expiresAt, data, !keep);
    const coll = await this.collection();
    // With legacy, a write waits for the look that tells the peers' form, until one is read.
    if (this.options.legacy && !this.peerFormSeen) await this.learnPeerForm(coll);
    const update = this.options.legacy
      ? peerWrite(encodePeer(session, expiresAt, record?.peer ?? this.peerForm))
      : fullWrite(fields, presence);
    // A session loaded from the store is only updated, never inserted: if a concurrent
    // request destroyed it (logout), this late save must not bring it back.
    const upsert = !inRequest;
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
    const signedIn = fields.user !== undefined && fields.user !== record?.user;
    if (record !== undefined) this.saved(record, data, at, fields.user, presence, session, cookie);
    else if (this.options.touchAfter !== 0)
      this.records.keep(session, { ...blankRecord(sid), expiresAt: at, cookie, createdAt: now });
    if (signedIn && !this.options.legacy && this.options.maxSessionsPerUser !== undefined) {
      // Under every secret: during a rotation, the user's older sessions count too.
      const user = this.codec.userFilterOf(session);
      if (user !== undefined) await this.users.cap(sid, user);
    }
  }

  /** Whether `touch(sid, session)` may skip its write: see {@link fresh}. */
  skips(sid: unknown, session: SessionData): boolean {
    return this.options.touchAfter !== 0 && typeof sid === 'string' && this.fresh(sid, session);
  }

  /**
   * Whether a touch may be skipped: the stored expiry is within touchAfter. Never throws (it runs
   * inside `touch`): in doubt, the touch is written, and the write path reports what went wrong.
   */
  fresh(sid: string, session: SessionData): boolean {
    const record = this.records.of(session, sid);
    // Unknown, read under an older secret (this write re-encrypts it), or a peer's document
    // to be rewritten in our shape: written.
    if (record === undefined || record.stale !== undefined || record.expiresAt === 0) return false;
    if (record.peer !== undefined && !this.options.legacy) return false;
    if (session?.cookie == null) return false;
    let at: number;
    const now = Date.now();
    try {
      at = this.expiry(session, record, now);
    } catch {
      return false;
    }
    // A new device is written at once; a shorter expiry too, so the server never keeps a
    // session past its cookie.
    const device = this.options.metadata && deviceOf(session, this.options.metadata);
    if (device !== undefined && !sameDevice(device, record.device)) return false;
    // A cookie changed beyond its expiry (sameSite, maxAge) is written at once; unknown: as before.
    if (record.cookie !== undefined && this.codec.cookieKey(session.cookie) !== record.cookie)
      return false;
    return (
      at >= record.expiresAt && at - record.expiresAt < touchSlack(this.options.touchAfter, at, now)
    );
  }

  async refresh(sid: string, session: SessionData, trace: OperationContext): Promise<void> {
    checkSid(sid);
    checkSession(session, 'touch', true);
    trace.outcome = 'written';
    const now = Date.now();
    const record = this.records.of(session, sid);
    const at = this.expiry(session, record, now);
    if (at <= now && this.options.maxLifetime !== undefined) return this.remove(sid);
    if (record?.peer !== undefined) return this.rewrites.peer(sid, session, record, at, now);
    // Only a live session is moved forward: one that expired, though not deleted yet, stays
    // missing, as `get` already said it was. A session express-session loaded from us in
    // this request was live then, as for `set`: `_id` alone, the filter FerretDB 1.x answers
    // in SQL (the expiry condition made it decode every document, about 4x the cost).
    const filter = record?.inRequest ? byId(sid) : liveById(sid, new Date(now));
    const presence = presenceOf(this.options.metadata, this.codec, sid, session, record, now);
    const { key: cookie, matched } = await this.touched(filter, sid, session, record, at, presence);
    // Expired, destroyed, or never stored: nothing was written, and a touch never creates one.
    if (!matched) {
      trace.outcome = 'missing';
      return;
    }
    if (record === undefined && this.options.touchAfter !== 0) {
      // A caller that touches the same object again (no get between) may skip then.
      this.records.keep(session, { ...blankRecord(sid), expiresAt: at, cookie });
    } else if (record !== undefined && presence.device !== undefined) {
      record.device = deviceOf(session, this.options.metadata ?? {});
    }
  }

  async remove(sid: string): Promise<void> {
    checkSid(sid);
    await (await this.collection()).deleteOne(byId(sid));
  }

  /** When `session` expires: its cookie's expiry or ttl, never past its absolute lifetime. */
  private expiry(session: SessionData, record: SessionRecord | undefined, now: number): number {
    const { ttl, maxLifetime } = this.options;
    return lifetimeEnd(expiryOf(session, ttl, now), maxLifetime, record?.createdAt ?? now);
  }

  /** After a full write of a loaded session: what the record now knows. */
  private saved(
    record: SessionRecord,
    data: unknown,
    at: number,
    user: string | undefined,
    presence: Presence,
    session: SessionData,
    cookie: string | undefined,
  ): void {
    record.data = this.options.legacy ? undefined : data;
    record.expiresAt = at;
    record.user = user;
    record.createdAt ??= presence.seenAt.getTime();
    record.peer = this.options.legacy ? (record.peer ?? this.peerForm) : undefined;
    record.stale = undefined;
    record.cookie = this.options.legacy ? undefined : cookie;
    if (presence.device !== undefined)
      record.device = deviceOf(session, this.options.metadata ?? {});
  }

  /**
   * Writes a touch where `filter` matches, never creating a session: the expiry and presence,
   * and the cookie only when it changed beyond its expiry since it was read or written (or is
   * unknown, or under an older secret). Resolves to the cookie's key as now stored.
   */
  private async touched(
    filter: SessionFilter,
    sid: string,
    session: SessionData,
    record: SessionRecord | undefined,
    at: number,
    presence: Presence,
  ): Promise<{ key: string | undefined; matched: boolean }> {
    const key = this.codec.cookieKey(session.cookie);
    const same = holdsCookie(record, key);
    const update = touchWrite(
      new Date(at),
      same ? undefined : this.codec.cookie(sid, session),
      presence,
    );
    const matched =
      (record?.stale !== undefined && (await this.rewrites.rekey(filter, record, update))) ||
      (await refusing((await this.collection()).updateOne(filter, update))).matchedCount > 0;
    if (matched && record !== undefined) {
      record.expiresAt = at;
      record.cookie = key;
    }
    return { key, matched };
  }

  /** The session a stored document holds, or `null` (reported) when it cannot be read. */
  sessionOf(doc: SessionDocument): SessionData | null {
    return this.decoded(doc, this.report)?.session ?? null;
  }

  /** A stored session, or `null` (reported) when it cannot be read: its owner is not locked out. */
  private decoded(doc: SessionDocument, report: (err: Error) => void): DecodedSession | null {
    try {
      return this.codec.decode(doc);
    } catch (err) {
      if (!(err instanceof MongooseStoreError)) throw err;
      report(err);
      return null;
    }
  }
}
