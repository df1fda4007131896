import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import type { DecodedSession, SessionCodec } from './codec.js';
import { handleOf } from './devices.js';
import {
  beyondCap,
  bornAfter,
  byUser,
  CAP_FIELDS,
  LIVE_FIELDS,
  liveOf,
  ofUser,
  peerLive,
  peerLiveAmong,
  type SessionDocument,
} from './document.js';
import { sidTag, typeError } from './errors.js';
import { checkSid } from './ids.js';
import { log } from './log.js';
import type { ResolvedOptions } from './options.js';
import { checkUserId, ensureUserIndex, exceptIds, type UserIdOf, userOf } from './users.js';

/** One of a user's sessions, as {@link UserSessions.list} gives it. */
export interface UserSession {
  /** The session id. */
  id: string;
  /** When the session expires. */
  expiresAt: Date;
  /** The session, as `get` would give it. */
  session: SessionData;
  /**
   * A name for the session that a page may render and send back to
   * {@link MongooseStore.destroyByHandle}: the same for the session's whole life, and no
   * cookie (its id cannot be had from it).
   */
  handle: string;
  /** When the session was first stored; absent for one stored before (or by a peer). */
  createdAt?: Date;
  /** When it was last written by `set` or a touch that wrote: accurate to within `touchAfter`. */
  lastSeenAt?: Date;
  /** The client's IP, with the `metadata` option's `ip`. */
  ip?: string;
  /** The client's user agent, with the `metadata` option's `userAgent`. */
  userAgent?: string;
}

/** What the user methods need from the session operations. */
export interface UserSessionsHooks {
  /** Decodes a stored session, or gives `null` (reported) when it cannot. */
  decode(doc: SessionDocument): DecodedSession | null;
  /** A problem that fails no request. */
  report(err: Error): void;
}

/** The user of a decoded session by `userIdOf`, or `undefined` where the function fails. */
function quietUserOf(userIdOf: UserIdOf, session: SessionData): string | undefined {
  try {
    return userOf(userIdOf, session);
  } catch {
    return undefined;
  }
}

/**
 * "Sign out everywhere": the live sessions of one user, by the indexed `user` field; with
 * `legacy`, also the peers' documents, which have no such field and are decoded one by one.
 */
export class UserSessions {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly codec: SessionCodec,
    private readonly collection: () => Promise<mongo.Collection<SessionDocument>>,
    private readonly hooks: UserSessionsHooks,
  ) {}

  /** The live sessions of `userId`, latest expiry first. */
  async list(userId: string): Promise<UserSession[]> {
    const userIdOf = this.check(userId, 'listByUser');
    const now = new Date();
    const docs = await (await this.collection())
      .find(byUser(this.codec.userFilter(userId)))
      .toArray();
    const list: UserSession[] = [];
    for (const doc of liveOf(docs, now, [], this.born(now))) {
      const decoded = this.hooks.decode(doc);
      if (decoded !== null) list.push(this.entry(doc, doc.expiresAt, decoded.session));
    }
    for (const found of await this.legacyOf(userIdOf, userId, now)) list.push(found);
    return list.sort((a, b) => b.expiresAt.getTime() - a.expiresAt.getTime());
  }

  /** Deletes the live sessions of `userId` but those in `except`; resolves to how many. */
  async destroy(userId: string, except: unknown): Promise<number> {
    const userIdOf = this.check(userId, 'destroyByUser');
    const keep = exceptIds(except);
    for (const id of keep) checkSid(id);
    const now = new Date();
    const coll = await this.collection();
    const user = this.codec.userFilter(userId);
    const found = await coll.find(byUser(user), { projection: LIVE_FIELDS }).toArray();
    const mine = liveOf(found, now, keep, this.born(now)).map((doc) => doc._id);
    let deleted = mine.length === 0 ? 0 : (await coll.deleteMany(ofUser(user, mine))).deletedCount;
    const old = (await this.legacyOf(userIdOf, userId, now)).map((s) => s.id);
    const ids = old.filter((id) => !keep.includes(id));
    if (ids.length > 0) {
      deleted += (await coll.deleteMany(peerLiveAmong(ids, now))).deletedCount;
    }
    return deleted;
  }

  /**
   * Deletes the one live session of `userId` named by `handle` (see {@link UserSession.handle});
   * resolves to whether there was one. Another user's session is never touched: the delete is
   * filtered by the user too.
   */
  async destroyHandle(userId: string, handle: unknown): Promise<boolean> {
    const userIdOf = this.check(userId, 'destroyByHandle');
    if (typeof handle !== 'string')
      throw typeError(`destroyByHandle: handle must be a string, got ${typeof handle}`);
    const now = new Date();
    const coll = await this.collection();
    const user = this.codec.userFilter(userId);
    const found = await coll.find(byUser(user), { projection: LIVE_FIELDS }).toArray();
    const mine = liveOf(found, now, [], this.born(now)).find((doc) => handleOf(doc._id) === handle);
    if (mine !== undefined)
      return (await coll.deleteOne(ofUser(user, [mine._id]))).deletedCount > 0;
    const old = (await this.legacyOf(userIdOf, userId, now)).find((s) => s.handle === handle);
    if (old === undefined) return false;
    return (await coll.deleteMany(peerLiveAmong([old.id], now))).deletedCount > 0;
  }

  /**
   * With `maxSessionsPerUser`: after session `sid` was saved for the user whose sessions `user`
   * finds (see `SessionCodec.userFilter`), deletes that user's least recently seen live sessions
   * beyond the cap, never `sid` itself.
   */
  async cap(sid: string, user: string | { $in: string[] }): Promise<void> {
    const max = this.options.maxSessionsPerUser;
    if (max === undefined) return;
    const coll = await this.collection();
    const now = new Date();
    // A user has a few sessions: they are read by the user index alone and picked here.
    const found = await coll.find(byUser(user), { projection: CAP_FIELDS }).toArray();
    const ids = beyondCap(found, sid, max, now, this.born(now));
    if (ids.length === 0) return;
    const { deletedCount } = await coll.deleteMany(ofUser(user, ids));
    log(
      'user cap %d: signed out %d older sessions as %s signed in',
      max,
      deletedCount,
      sidTag(sid),
    );
  }

  /** Builds the index the user methods need (when the feature is on and `autoIndex` allows). */
  async prepare(coll: mongo.Collection<SessionDocument>): Promise<void> {
    if (this.options.userId === undefined || !this.options.autoIndex) return;
    await ensureUserIndex(coll as unknown as mongo.Collection, this.hooks.report);
  }

  /** With `maxLifetime`: what a live session was created after (see `bornAfter`). */
  private born(now: Date): Date | undefined {
    return bornAfter(now, this.options.maxLifetime);
  }

  private check(userId: unknown, method: string): UserIdOf {
    checkUserId(userId, method);
    const userIdOf = this.options.userId;
    // Not a silent empty answer: an app that believes it signed a user out must hear this.
    if (userIdOf === undefined)
      throw typeError(`${method}: the userId option is false, so no session has a user`);
    return userIdOf;
  }

  /** One entry of a user's list. */
  private entry(doc: SessionDocument, expiresAt: Date, session: SessionData): UserSession {
    const entry: UserSession = { id: doc._id, expiresAt, session, handle: handleOf(doc._id) };
    if (doc.createdAt instanceof Date) entry.createdAt = doc.createdAt;
    if (doc.lastSeenAt instanceof Date) entry.lastSeenAt = doc.lastSeenAt;
    const device = this.codec.device(doc._id, doc.device);
    if (device?.ip !== undefined) entry.ip = device.ip;
    if (device?.userAgent !== undefined) entry.userAgent = device.userAgent;
    return entry;
  }

  /** With `legacy`, the peers' live sessions whose user is `userId` (decoded one by one). */
  private async legacyOf(userIdOf: UserIdOf, userId: string, now: Date): Promise<UserSession[]> {
    // As `get` serves them: after a takeover too, `legacy` off, until each is next written.
    if (!this.codec.readsPeers) return [];
    const docs = await (await this.collection()).find(peerLive(now)).toArray();
    const found: UserSession[] = [];
    for (const doc of docs) {
      const decoded = this.hooks.decode(doc);
      if (decoded !== null && quietUserOf(userIdOf, decoded.session) === userId)
        found.push(this.entry(doc, doc.expires as Date, decoded.session));
    }
    return found;
  }
}
