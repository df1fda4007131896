import { createHash } from 'node:crypto';
import type { SessionData } from 'express-session';
import mongoose, { type mongo } from 'mongoose';
import type { SessionCipher } from './cipher.js';
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
  /** Encrypted with an older secret: the next write re-encrypts it with the newest. */
  stale: boolean;
}

/** A stored session re-encrypted with the newest secret: its update, and what it replaces. */
export interface Resealed {
  /** The update: the fields under an older secret, sealed again (the data with its user). */
  update: TouchUpdate;
  /** The stored values it replaces, to guard the write with: only the fields it rewrites. */
  expected: Partial<Pick<SessionDocument, 'cookie' | 'session'>>;
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
 * Turns sessions into documents and back through the chosen serializer, and with a `secret`
 * through {@link SessionCipher}: the cookie and the data are then encrypted, the user is a
 * keyed hash. The cookie and the rest of the session are stored apart, so that a touch can
 * rewrite the cookie alone.
 * Every failure is a {@link MongooseStoreError}, raised before anything is written. No message
 * holds a session id or session data: the errors may well end up in an application's log.
 */
export class SessionCodec {
  /**
   * @param serializer - turns session data into a stored value and back.
   * @param userIdOf - gives a session's user, or `undefined` when the feature is off.
   * @param cipher - encrypts the stored fields, when the `secret` option is set.
   */
  constructor(
    private readonly serializer: SessionSerializer,
    private readonly userIdOf: UserIdOf | undefined,
    private readonly cipher: SessionCipher | undefined = undefined,
  ) {}

  /**
   * The update that moves a session's expiry and stored cookie. It writes no data, so it
   * writes no user either: the user follows the data it was derived from, and this request's
   * copy of the session may be older than the stored data (a sign-in by another request).
   */
  touch(sid: string, session: SessionData, expiresAt: Date): TouchUpdate {
    return this.partial({
      expiresAt,
      cookie: this.store(sid, 'cookie', plainCookie(session?.cookie)),
    });
  }

  /** The update that writes all of `doc` but its data, which is unchanged: a touch's update. */
  partial(doc: Pick<SessionDocument, 'expiresAt' | 'cookie'>): TouchUpdate {
    return { $set: { expiresAt: doc.expiresAt, cookie: doc.cookie } };
  }

  /** The `user` field of `session`, or `undefined` when it has none or the feature is off. */
  private userOf(session: SessionData): string | undefined {
    if (this.userIdOf === undefined) return undefined;
    const user = userOf(this.userIdOf, session);
    if (user === undefined) return undefined;
    return this.cipher === undefined ? user : this.cipher.userHash(user);
  }

  /** What the `user` field of `userId`'s sessions may hold: the filter of the user methods. */
  userFilter(userId: string): string | { $in: string[] } {
    // Under every secret: a session not re-encrypted yet still holds an older key's hash.
    const hashes = this.cipher?.userHashes(userId) ?? [userId];
    return hashes.length === 1 ? (hashes[0] as string) : { $in: hashes };
  }

  /** The stored fields of a whole session; `ERR_SESSION_TOO_LARGE` past the server's limit. */
  encode(sid: string, session: SessionData, expiresAt: Date): EncodedSession {
    const { cookie, ...data } = session as SessionData & Record<string, unknown>;
    const user = this.userOf(session);
    const stored = this.serialize(data);
    const doc: Omit<SessionDocument, '_id'> = {
      expiresAt,
      cookie: this.store(sid, 'cookie', plainCookie(cookie)),
      session: this.seal(sid, 'session', stored, user),
    };
    if (user !== undefined) doc.user = user;
    const size = sizeOf(doc.cookie) + sizeOf(doc.session) + Buffer.byteLength(sid) + 64;
    if (size > MAX_DOCUMENT) {
      throw new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `the session is about ${Math.ceil(size / 1024)} KiB, over the server's 16 MiB document limit`,
      );
    }
    // The data before encryption: a fresh IV makes every sealed value differ.
    return { doc, data: stored };
  }

  /**
   * The session a document holds, as express-session expects it: cookie first.
   * @throws MongooseStoreError `ERR_SESSION_UNREADABLE` when the serializer cannot read it;
   *   `ERR_SESSION_DECRYPT` when, with a secret, it does not decrypt and authenticate.
   */
  decode(doc: SessionDocument): DecodedSession {
    const cipher = this.cipher;
    // A peer's document is plain text, which anyone who can write to the database could
    // forge: with a secret, only what authenticates is a session.
    const legacy = cipher === undefined && isLegacy(doc);
    const cookie = legacy ? undefined : this.open(doc._id, 'cookie', doc.cookie);
    // The data is sealed with its user hash: a `user` field changed or removed in the database
    // (to keep a session out of a "sign out everywhere") leaves a session that does not decrypt.
    const data = legacy ? undefined : this.open(doc._id, 'session', doc.session, doc.user);
    try {
      // No data for a peer's document: its next set must rewrite it in our shape.
      if (legacy)
        return { session: decodeLegacy(doc), data: undefined, legacy: true, stale: false };
      const session = {
        cookie: this.serializer.deserialize(cookie),
        ...this.serializer.deserialize(data),
      } as unknown as SessionData;
      const stale =
        cipher !== undefined && !(cipher.current(doc.cookie) && cipher.current(doc.session));
      return { session, data, legacy: false, stale };
    } catch {
      // The parser's message may quote the stored data: it is not kept.
      throw new MongooseStoreError(
        'ERR_SESSION_UNREADABLE',
        'a stored session could not be read (written by another serializer, or damaged); it is treated as missing',
      );
    }
  }

  /**
   * The update that seals a session's stored data (read as `stored`, with the user hash
   * `user`) again with the newest secret, with its user hash under the newest secret too.
   * @throws MongooseStoreError as {@link decode} does, or `ERR_INVALID_USER_ID`.
   */
  reseal(sid: string, stored: unknown, user: string | undefined): TouchUpdate {
    const data = this.open(sid, 'session', stored, user) as string;
    const fresh = this.userOf({ ...this.serializer.deserialize(data) } as unknown as SessionData);
    const update: TouchUpdate = { $set: { session: this.seal(sid, 'session', data, fresh) } };
    if (fresh === undefined) update.$unset = { user: '' };
    else (update.$set as Partial<SessionDocument>).user = fresh;
    return update;
  }

  /**
   * What re-encrypts `doc` with the newest secret: its data (with its user hash) when the data
   * is under an older one, its cookie when the cookie is. `undefined` when it needs nothing
   * (no secret, or all under the newest), told from the key tags without decrypting.
   * @throws MongooseStoreError as {@link decode} does, or `ERR_INVALID_USER_ID`.
   */
  resealed(doc: SessionDocument): Resealed | undefined {
    const cipher = this.cipher;
    if (cipher === undefined) return undefined;
    const staleData = !cipher.current(doc.session);
    const staleCookie = !cipher.current(doc.cookie);
    if (!staleData && !staleCookie) return undefined;
    // Read whole first: a session that does not decrypt or read is reported, not rewritten.
    this.decode(doc);
    const sid = doc._id;
    const update: TouchUpdate = staleData ? this.reseal(sid, doc.session, doc.user) : {};
    const expected: Resealed['expected'] = staleData ? { session: doc.session } : {};
    if (staleCookie) {
      const cookie = this.open(sid, 'cookie', doc.cookie) as string;
      update.$set = { ...update.$set, cookie: this.seal(sid, 'cookie', cookie) };
      expected.cookie = doc.cookie;
    }
    return { update, expected };
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

  /** A field's value as stored: serialized, then sealed when there is a secret. */
  private store(
    sid: string,
    field: string,
    value: Record<string, unknown>,
    bound?: string,
  ): unknown {
    return this.seal(sid, field, this.serialize(value), bound);
  }

  /** `serialized` sealed for `field` of `sid`, authenticated with `bound`; as it is without a secret. */
  private seal(sid: string, field: string, serialized: unknown, bound?: string): unknown {
    if (this.cipher === undefined) return serialized;
    if (typeof serialized !== 'string')
      throw new MongooseStoreError(
        'ERR_SESSION_SERIALIZE',
        `with a secret, the serializer must give a string, and it gave ${serialized === null ? 'null' : typeof serialized}`,
      );
    return this.cipher.seal(sid, field, serialized, bound);
  }

  /** A stored field before encryption; as it is without a secret. */
  private open(sid: string, field: string, stored: unknown, bound?: string): unknown {
    return this.cipher === undefined ? stored : this.cipher.open(sid, field, stored, bound);
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
