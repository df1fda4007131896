import { createHash } from 'node:crypto';
import type { SessionData } from 'express-session';
import mongoose, { type mongo } from 'mongoose';
import { MongooseStoreError } from './errors.js';
import { decodeLegacy, isLegacy } from './legacy.js';
import type { SessionDocument } from './schema.js';
import type { SessionSerializer } from './serializer.js';
import { type UserIdOf, userOf } from './users.js';

/** A touch's update: the new expiry and cookie, and the user as the session now has it. */
export type TouchUpdate = mongo.UpdateFilter<SessionDocument>;

/** A session turned into its stored fields. */
export interface EncodedSession {
  /** The document's fields but `_id`. */
  doc: Omit<SessionDocument, '_id'>;
  /** The stored data (without the cookie), to tell an unchanged session: see {@link sameData}. */
  data: unknown;
}

/** A stored session read back. */
export interface DecodedSession {
  /** The session, as express-session expects it: cookie first. */
  session: SessionData;
  /** Its stored data, as {@link EncodedSession.data} gives it; `undefined` for a peer's. */
  data: unknown;
  /** Written by connect-mongo or connect-mongodb-session: the next write rewrites it whole. */
  legacy: boolean;
}

/**
 * Whether two stored data values are the same. Strings (the json serializer) compare as they
 * are, at no cost; other values by a digest of their BSON, taken only here, when a loaded
 * session is saved, never on a read.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return digest(a) === digest(b);
}

/** A digest of a stored value's BSON. */
function digest(stored: unknown): string {
  return createHash('sha1')
    .update(mongoose.mongo.BSON.serialize({ v: stored }))
    .digest('base64');
}

/** The server's document size limit, in bytes. */
const MAX_DOCUMENT = 16 * 1024 * 1024;
/** Server error codes for a document over the size limit. */
const TOO_LARGE = new Set([10334, 17419, 17420]);
/** Server error codes for a document the server cannot hold (bad field names, bad values). */
const REJECTED = new Set([2, 52, 56, 57]);

function plainCookie(cookie: unknown): Record<string, unknown> {
  const c = cookie as { toJSON?: () => Record<string, unknown> } | undefined;
  return typeof c?.toJSON === 'function' ? c.toJSON() : ((cookie ?? {}) as Record<string, unknown>);
}

function sizeOf(v: unknown): number {
  return typeof v === 'string'
    ? Buffer.byteLength(v)
    : mongoose.mongo.BSON.calculateObjectSize({ v });
}

/** The server's code name and number, without its message (which may quote the session). */
function serverSaid(err: unknown): string {
  const e = err as { codeName?: unknown; code?: unknown };
  return `${typeof e.codeName === 'string' ? e.codeName : 'error'} (code ${String(e.code)})`;
}

/**
 * Turns sessions into documents and back through the chosen serializer. The cookie and the
 * rest of the session are stored apart, so that a touch can rewrite the cookie alone.
 * Every failure is a {@link MongooseStoreError}, raised before anything is written. No message
 * holds a session id or session data: the errors may well end up in an application's log.
 */
export class SessionCodec {
  /**
   * @param serializer - turns session data into a stored value and back.
   * @param userIdOf - gives a session's user, or `undefined` when the feature is off.
   */
  constructor(
    private readonly serializer: SessionSerializer,
    private readonly userIdOf: UserIdOf | undefined,
  ) {}

  /** The update that moves a session's expiry and stored cookie, and keeps its user current. */
  touch(session: SessionData, expiresAt: Date): TouchUpdate {
    return this.partial({
      expiresAt,
      cookie: this.serialize(plainCookie(session?.cookie)),
      user: this.userOf(session),
    });
  }

  /** The update that writes all of `doc` but its data, which is unchanged: a touch's update. */
  partial(doc: Omit<SessionDocument, '_id' | 'session'>): TouchUpdate {
    const $set: Partial<SessionDocument> = { expiresAt: doc.expiresAt, cookie: doc.cookie };
    if (this.userIdOf === undefined) return { $set };
    if (doc.user === undefined) return { $set, $unset: { user: '' } };
    $set.user = doc.user;
    return { $set };
  }

  /** The `user` field of `session`, or `undefined` when it has none or the feature is off. */
  private userOf(session: SessionData): string | undefined {
    if (this.userIdOf === undefined) return undefined;
    const user = userOf(this.userIdOf, session);
    return user === undefined ? undefined : this.userKey(user);
  }

  /** What the `user` field holds for `userId`, as the user methods query it. */
  userKey(userId: string): string {
    return userId;
  }

  /** The stored fields of a whole session; `ERR_SESSION_TOO_LARGE` past the server's limit. */
  encode(sid: string, session: SessionData, expiresAt: Date): EncodedSession {
    const { cookie, ...data } = session as SessionData & Record<string, unknown>;
    const user = this.userOf(session);
    const doc: Omit<SessionDocument, '_id'> = {
      expiresAt,
      cookie: this.serialize(plainCookie(cookie)),
      session: this.serialize(data),
    };
    if (user !== undefined) doc.user = user;
    const size = sizeOf(doc.cookie) + sizeOf(doc.session) + Buffer.byteLength(sid) + 64;
    if (size > MAX_DOCUMENT) {
      throw new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `the session is about ${Math.ceil(size / 1024)} KiB, over the server's 16 MiB document limit`,
      );
    }
    return { doc, data: doc.session };
  }

  /**
   * The session a document holds, as express-session expects it: cookie first.
   * @throws MongooseStoreError `ERR_SESSION_UNREADABLE` when the serializer cannot read it.
   */
  decode(doc: SessionDocument): DecodedSession {
    try {
      // No data for a peer's document: its next set must rewrite it in our shape.
      if (isLegacy(doc)) return { session: decodeLegacy(doc), data: undefined, legacy: true };
      const session = {
        cookie: this.serializer.deserialize(doc.cookie),
        ...this.serializer.deserialize(doc.session),
      } as unknown as SessionData;
      return { session, data: doc.session, legacy: false };
    } catch {
      // The parser's message may quote the stored data: it is not kept.
      throw new MongooseStoreError(
        'ERR_SESSION_UNREADABLE',
        'a stored session could not be read (written by another serializer, or damaged); it is treated as missing',
      );
    }
  }

  /** The error to report for a failed write: typed when the server refused the document. */
  rejection(err: unknown): unknown {
    const code = (err as { code?: unknown } | null)?.code as number;
    if (TOO_LARGE.has(code)) {
      return new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `the server refused the session as over its document limit: ${serverSaid(err)}`,
      );
    }
    if (REJECTED.has(code)) {
      return new MongooseStoreError(
        'ERR_SESSION_REJECTED',
        `the server refused the session (a key or value it cannot hold): ${serverSaid(err)}`,
      );
    }
    return err;
  }

  private serialize(value: Record<string, unknown>): unknown {
    try {
      return this.serializer.serialize(value);
    } catch (err) {
      if (err instanceof MongooseStoreError) throw err;
      // JSON.stringify names the keys of a cycle: only the kind of failure is kept.
      const kind = /bigint/i.test(String((err as Error)?.message))
        ? 'a BigInt'
        : /circular/i.test(String((err as Error)?.message))
          ? 'a cycle'
          : 'a value its serializer could not handle (a throwing toJSON?)';
      throw new MongooseStoreError(
        'ERR_SESSION_SERIALIZE',
        `the session could not be serialized: it holds ${kind}`,
      );
    }
  }
}
