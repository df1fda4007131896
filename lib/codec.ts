import type { SessionData } from 'express-session';
import mongoose from 'mongoose';
import type { DeviceMeta } from './devices.js';
import { isPeer, type OwnFields, type SessionDocument, type SessionUpdate } from './document.js';
import { MongooseStoreError } from './errors.js';
import { decodeLegacy, formOf, type PeerForm } from './legacy.js';
import type { Sealing } from './sealing.js';
import type { SessionSerializer } from './serializer.js';
import { type UserIdOf, userOf } from './users.js';

/** A session turned into its stored fields. */
export interface EncodedSession {
  /** The document's fields but `_id`. */
  fields: OwnFields;
  /** The stored data before sealing, to tell an unchanged session later. */
  data: unknown;
}

/** A stored session read back. */
export interface DecodedSession {
  /** The session, as express-session expects it: cookie first. */
  session: SessionData;
  /** Its stored data before sealing, as {@link EncodedSession.data} gives it; `undefined` for a peer's. */
  data: unknown;
  /** In a peer's shape, and in which form; `undefined` in ours. */
  peer: PeerForm | undefined;
  /** Sealed under an older secret: the next write re-encrypts it with the newest. */
  stale: boolean;
}

/** A stored session re-encrypted with the newest secret: its update, and what it replaces. */
export interface Resealed {
  /** The update: the fields under an older secret, sealed again (the data with its user). */
  update: SessionUpdate;
  /** The stored values it replaces, to guard the write with: only the fields it rewrites. */
  expected: Partial<Pick<SessionDocument, 'cookie' | 'session' | 'device'>>;
}

/** The server's document size limit, in bytes. */
const MAX_DOCUMENT = 16 * 1024 * 1024;
/**
 * What a document holds beside its cookie, data, id and user, counted in bytes against
 * {@link MAX_DOCUMENT}: its dates, its field names and BSON's framing (under 200 bytes), and a
 * device (some 1.7 KB at most, sealed). A session that comes this close to the limit is refused
 * here rather than by the server, which would refuse it with an error of its own.
 */
const REST_OF_DOCUMENT = 2_048;

function plainCookie(cookie: unknown): Record<string, unknown> {
  const c = cookie as { toJSON?: () => Record<string, unknown> } | undefined;
  return typeof c?.toJSON === 'function' ? c.toJSON() : ((cookie ?? {}) as Record<string, unknown>);
}

/**
 * A stored cookie with the document's expiry put back: a touch moves `expiresAt` alone, so
 * the stored cookie's own `expires` is the one of its last write. Kept in the form the
 * serializer gave (text, Date or epoch ms); a cookie without expiry (ended with the browser)
 * stays so.
 */
function withExpiry(cookie: Record<string, unknown>, expiresAt: unknown): Record<string, unknown> {
  const was = cookie.expires;
  if (was == null || !(expiresAt instanceof Date)) return cookie;
  if (typeof was === 'string') cookie.expires = expiresAt.toISOString();
  else if (was instanceof Date) cookie.expires = new Date(expiresAt.getTime());
  else if (typeof was === 'number') cookie.expires = expiresAt.getTime();
  return cookie;
}

function sizeOf(v: unknown): number {
  return typeof v === 'string'
    ? Buffer.byteLength(v)
    : mongoose.mongo.BSON.calculateObjectSize({ v });
}

/**
 * Turns sessions into stored fields and back: through the serializer, then the
 * {@link Sealing} policy. The cookie and the rest of the session are stored apart, so that a
 * touch writes the cookie only when it changed beyond its expiry, and otherwise `expiresAt`
 * alone: a read puts the expiry back into the cookie. Every failure is a {@link MongooseStoreError}, raised
 * before anything is written; no message holds a session id or session data.
 */
export class SessionCodec {
  /**
   * @param serializer - turns session data into a stored value and back.
   * @param userIdOf - gives a session's user, or `undefined` when the feature is off.
   * @param sealing - how stored fields are kept: in clear, or sealed under `secret`.
   */
  constructor(
    private readonly serializer: SessionSerializer,
    private readonly userIdOf: UserIdOf | undefined,
    private readonly sealing: Sealing,
  ) {}

  /** The stored cookie of `session`: what a touch writes beside the expiry. */
  cookie(sid: string, session: SessionData): unknown {
    return this.sealing.sealCookie(sid, this.serialize(plainCookie(session?.cookie)));
  }

  /** The stored device value of session `sid`, sealed as its data is. */
  sealDevice(sid: string, device: DeviceMeta): unknown {
    return this.sealing.sealDevice(sid, device);
  }

  /** The device a stored value holds; `undefined` when none, or when it does not open. */
  device(sid: string, stored: unknown): DeviceMeta | undefined {
    try {
      return this.sealing.openDevice(sid, stored);
    } catch {
      // Only ever shown to the user it belongs to: a device that does not open is not shown.
      return undefined;
    }
  }

  /**
   * Whether a peer's document (connect-mongo's shape) reads as a session: in clear it does,
   * with `legacy` or without (after a takeover, until it is next written); sealed it never does.
   * The user methods ("sign out everywhere") take them in then, as `get` serves them.
   */
  get readsPeers(): boolean {
    return this.sealing.readsClear;
  }

  /** What the `user` field of `userId`'s sessions may hold: the filter of the user methods. */
  userFilter(userId: string): string | { $in: string[] } {
    return this.sealing.userQuery(userId);
  }

  /** The {@link userFilter} of the user `session` belongs to; `undefined` when none. */
  userFilterOf(session: SessionData): string | { $in: string[] } | undefined {
    if (this.userIdOf === undefined) return undefined;
    const user = userOf(this.userIdOf, session);
    return user === undefined ? undefined : this.sealing.userQuery(user);
  }

  /** The stored fields of a whole session; `ERR_SESSION_TOO_LARGE` past the server's limit. */
  encode(sid: string, session: SessionData, expiresAt: Date): EncodedSession {
    const data = this.data(session);
    return { fields: this.fields(sid, session, expiresAt, data), data };
  }

  /**
   * The data of `session` (all but its cookie) serialized, not sealed yet: what tells an
   * unchanged session, before any sealing is paid for.
   */
  data(session: SessionData): unknown {
    const { cookie: _, ...data } = session as SessionData & Record<string, unknown>;
    return this.serialize(data);
  }

  /**
   * The stored fields of `session`, whose serialized data {@link data} gave: cookie and data
   * sealed, the user field. `ERR_SESSION_TOO_LARGE` past the server's limit.
   * @param withCookie - whether to give the cookie; without (`cookie` undefined), the stored
   *   one stays: the same but for its expiry, which a read takes from `expiresAt`. Default: with.
   */
  fields(
    sid: string,
    session: SessionData,
    expiresAt: Date,
    data: unknown,
    withCookie = true,
  ): OwnFields {
    const user = this.userField(session);
    const fields: OwnFields = {
      expiresAt,
      cookie: withCookie ? this.cookie(sid, session) : undefined,
      session: this.sealing.sealData(sid, data, user),
      user,
    };
    const size =
      (withCookie ? sizeOf(fields.cookie) : 0) +
      sizeOf(fields.session) +
      Buffer.byteLength(sid) +
      (user === undefined ? 0 : Buffer.byteLength(user)) +
      REST_OF_DOCUMENT;
    if (size > MAX_DOCUMENT) {
      throw new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `the session is about ${Math.ceil(size / 1024)} KiB, over the server's 16 MiB document limit`,
      );
    }
    return fields;
  }

  /**
   * What a touch compares to tell whether the cookie changed beyond its expiry: every field
   * but `expires` that has a value, and whether it has an expiry. `undefined` when it cannot be
   * told (then the cookie is written).
   */
  cookieKey(cookie: unknown): string | undefined {
    try {
      const plain = plainCookie(cookie);
      // In key order: the same cookie always lists its keys alike (express-session's, or as
      // parsed back); another order only costs a write of the cookie. A field without a value
      // is left out: express-session's cookie lists its unset fields as `undefined`, which JSON
      // drops and BSON keeps as null, so the cookie read back would never match the request's.
      // `originalMaxAge` in whole seconds: express-session's resetMaxAge reads the clock twice,
      // and now and then gives it back a millisecond short, which is no change of the cookie.
      // Built by hand, not by JSON.stringify of each value: it runs on every touch, skipped or
      // not. A string is quoted, and JSON-escaped when it holds a quote or a backslash, so
      // that no value can read as the end of one field and the start of another.
      let key = '';
      for (const k in plain) {
        const v = plain[k];
        if (k === 'expires') key += v == null ? 'session|' : 'dated|';
        else if (v == null) continue;
        else if (k === 'originalMaxAge' && typeof v === 'number')
          key += `${k}=${Math.round(v / 1000)}|`;
        else if (typeof v === 'boolean' || typeof v === 'number') key += `${k}=${v}|`;
        else if (typeof v === 'string' && !v.includes('"') && !v.includes('\\'))
          key += `${k}="${v}"|`;
        else key += `${k}=${JSON.stringify(v)}|`;
      }
      return key;
    } catch {
      return undefined;
    }
  }

  /**
   * The session a document holds, as express-session expects it: cookie first.
   * @throws MongooseStoreError `ERR_SESSION_UNREADABLE` when the serializer cannot read it;
   *   `ERR_SESSION_DECRYPT` when, with a secret, it does not decrypt and authenticate.
   */
  decode(doc: SessionDocument): DecodedSession {
    // No request can ask for it (express-session's ids are strings), and its values are
    // bound to another id: a stray document, not a session.
    if (typeof doc._id !== 'string')
      throw new MongooseStoreError(
        'ERR_SESSION_UNREADABLE',
        'a stored document’s _id is not a string: it is no session, and is treated as missing',
      );
    // A peer's document is plain text, which anyone who can write to the database could
    // forge: sealed, only what authenticates is a session.
    const peer = this.sealing.readsClear && isPeer(doc) ? formOf(doc) : undefined;
    const cookie = peer ? undefined : this.sealing.openCookie(doc._id, doc.cookie);
    const data = peer ? undefined : this.sealing.openData(doc._id, doc.session, doc.user);
    try {
      // No data for a peer's document: its next set must rewrite it whole.
      if (peer) return { session: decodeLegacy(doc), data: undefined, peer, stale: false };
      const session = {
        cookie: withExpiry(this.serializer.deserialize(cookie), doc.expiresAt),
        ...this.serializer.deserialize(data),
      } as unknown as SessionData;
      // A stale device alone is left to reencrypt(): a request's write seals what it writes.
      const stale = this.sealing.stale(doc);
      return {
        session,
        data,
        peer: undefined,
        stale: stale !== undefined && (stale.data || stale.cookie),
      };
    } catch {
      // The parser's message may quote the stored data: it is not kept.
      throw new MongooseStoreError(
        'ERR_SESSION_UNREADABLE',
        'a stored session could not be read (written by another serializer, or damaged); it is treated as missing',
      );
    }
  }

  /**
   * The update that seals a session's stored data (read as `stored`, with the user field
   * `user`) again with the newest secret, with its user under the newest secret too.
   * @throws MongooseStoreError as {@link decode} does, or `ERR_INVALID_USER_ID`.
   */
  reseal(sid: string, stored: unknown, user: string | undefined): SessionUpdate {
    const data = this.sealing.openData(sid, stored, user);
    const fresh = this.userField({
      ...this.serializer.deserialize(data),
    } as unknown as SessionData);
    const update: SessionUpdate = { $set: { session: this.sealing.sealData(sid, data, fresh) } };
    if (fresh === undefined) update.$unset = { user: '' };
    else (update.$set as Partial<SessionDocument>).user = fresh;
    return update;
  }

  /**
   * What re-encrypts `doc` with the newest secret: its data (with its user) when the data is
   * under an older one, its cookie when the cookie is. `undefined` when it needs nothing,
   * told from the key tags without decrypting.
   * @throws MongooseStoreError as {@link decode} does, or `ERR_INVALID_USER_ID`.
   */
  resealed(doc: SessionDocument): Resealed | undefined {
    const stale = this.sealing.stale(doc);
    if (stale === undefined) return undefined;
    // Read whole first: a session that does not decrypt or read is reported, not rewritten.
    this.decode(doc);
    const sid = doc._id;
    const update: SessionUpdate = stale.data ? this.reseal(sid, doc.session, doc.user) : {};
    const expected: Resealed['expected'] = stale.data ? { session: doc.session } : {};
    if (stale.cookie) {
      const cookie = this.sealing.openCookie(sid, doc.cookie);
      update.$set = { ...update.$set, cookie: this.sealing.sealCookie(sid, cookie) };
      expected.cookie = doc.cookie;
    }
    if (stale.device) {
      // A device that does not open under any secret is never shown: it is removed, and the
      // session's next request records its device afresh.
      const device = this.device(sid, doc.device);
      if (device === undefined) update.$unset = { ...update.$unset, device: '' };
      else update.$set = { ...update.$set, device: this.sealing.sealDevice(sid, device) };
      expected.device = doc.device;
    }
    return { update, expected };
  }

  /** The `user` field of `session`, or `undefined` when it has none or the feature is off. */
  private userField(session: SessionData): string | undefined {
    if (this.userIdOf === undefined) return undefined;
    const user = userOf(this.userIdOf, session);
    return user === undefined ? undefined : this.sealing.userField(user);
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
