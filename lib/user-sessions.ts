import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import type { DecodedSession, SessionCodec } from './codec.js';
import { ofUser, peerLive, peerLiveAmong, type SessionDocument } from './document.js';
import { typeError } from './errors.js';
import { checkSid } from './ids.js';
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
      .find(ofUser(this.codec.userFilter(userId), now))
      .toArray();
    const list: UserSession[] = [];
    for (const doc of docs) {
      const decoded = this.hooks.decode(doc);
      if (decoded !== null)
        list.push({ id: doc._id, expiresAt: doc.expiresAt, session: decoded.session });
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
    let deleted = (await coll.deleteMany(ofUser(this.codec.userFilter(userId), now, keep)))
      .deletedCount;
    const old = (await this.legacyOf(userIdOf, userId, now)).map((s) => s.id);
    const ids = old.filter((id) => !keep.includes(id));
    if (ids.length > 0) {
      deleted += (await coll.deleteMany(peerLiveAmong(ids, now))).deletedCount;
    }
    return deleted;
  }

  /** Builds the index the user methods need (when the feature is on and `autoIndex` allows). */
  async prepare(coll: mongo.Collection<SessionDocument>): Promise<void> {
    if (this.options.userId === undefined || !this.options.autoIndex) return;
    await ensureUserIndex(coll as unknown as mongo.Collection, this.hooks.report);
  }

  private check(userId: unknown, method: string): UserIdOf {
    checkUserId(userId, method);
    const userIdOf = this.options.userId;
    // Not a silent empty answer: an app that believes it signed a user out must hear this.
    if (userIdOf === undefined)
      throw typeError(`${method}: the userId option is false, so no session has a user`);
    return userIdOf;
  }

  /** With `legacy`, the peers' live sessions whose user is `userId` (decoded one by one). */
  private async legacyOf(userIdOf: UserIdOf, userId: string, now: Date): Promise<UserSession[]> {
    if (!this.options.legacy) return [];
    const docs = await (await this.collection()).find(peerLive(now)).toArray();
    const found: UserSession[] = [];
    for (const doc of docs) {
      const decoded = this.hooks.decode(doc);
      if (decoded !== null && quietUserOf(userIdOf, decoded.session) === userId)
        found.push({ id: doc._id, expiresAt: doc.expires as Date, session: decoded.session });
    }
    return found;
  }
}
