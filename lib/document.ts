import type { mongo } from 'mongoose';
import { binaryBytes } from './bson-values.js';

/** One stored session, as it is in the collection. */
export interface SessionDocument {
  /** The session id. */
  _id: string;
  /**
   * When the session expires; the TTL index and every read go by it. Absent only from a
   * document in a peer's shape (see `expires`).
   */
  expiresAt: Date;
  /** The session's cookie, as the serializer stored it (sealed under `secret`). */
  cookie: unknown;
  /**
   * Everything else in the session, as the serializer stored it (sealed under `secret`). In a
   * peer's shape: the whole session, cookie included, as a JSON string or an object.
   */
  session: unknown;
  /** The session's user (see the `userId` option); absent for a session without one. */
  user?: string;
  /** When the session was first stored. No `set` or `touch` moves it. Absent from old documents. */
  createdAt?: Date;
  /** When the session was last written by a `set` or a touch that wrote (so within `touchAfter`). */
  lastSeenAt?: Date;
  /**
   * The device that uses the session, with the `metadata` option: `{ ip?, userAgent? }` in
   * clear, or that object sealed as text under `secret`.
   */
  device?: unknown;
  /**
   * Only in a document in the shape of connect-mongo or connect-mongodb-session: its expiry.
   * Such a document is read in place. With `legacy` on, this store writes that shape too, so
   * that the peers' instances can still read it during a rolling deploy.
   */
  expires?: Date;
}

/** A filter on the sessions collection. */
export type SessionFilter = mongo.Filter<SessionDocument>;
/** An update of one session document. */
export type SessionUpdate = mongo.UpdateFilter<SessionDocument>;

/**
 * The fields a full write of a session in this store's shape sets; with `cookie` undefined,
 * the stored one stays (a loaded session whose cookie changed only in its expiry).
 */
export type OwnFields = Pick<SessionDocument, 'expiresAt' | 'cookie' | 'session' | 'user'>;

/** What a write adds beside the session's own fields: when it was seen, and on what. */
export interface Presence {
  /** Now: the write's `lastSeenAt`. */
  seenAt: Date;
  /**
   * `createdAt` to set when the document may not have one (a session read without it);
   * `undefined` when it has one. A new document gets `seenAt` on insert either way.
   */
  createdAt: Date | undefined;
  /** The stored `device` value to write, when it changed; `undefined` to leave it. */
  device: unknown;
}

/** The fields a full write in a peer's shape sets. */
export type PeerFields = Required<Pick<SessionDocument, 'expires' | 'session'>>;

// This module is the one place that knows the document's keys: every filter and update of a
// session is built here, so the shape can change in one place.

/** The filter of one session, by id. */
export function byId(sid: string): SessionFilter {
  return { _id: sid };
}

/** One session by id, only while it is live at `now` (in this store's shape). */
export function liveById(sid: string, now: Date): SessionFilter {
  return { _id: sid, expiresAt: { $gt: now } };
}

/** One session by id, only while it is live at `now` and still in a peer's shape. */
export function peerLiveById(sid: string, now: Date): SessionFilter {
  return { _id: sid, ...peerLive(now) };
}

/**
 * The sessions after `sid` in id order, from the first when none: a walk over the collection in
 * batches. Only string ids are sessions, and a comparison with a string matches strings alone:
 * a stray document under a number or an ObjectId is never walked, nor ends the walk early.
 */
export function afterId(sid: string | undefined): SessionFilter {
  return { _id: sid === undefined ? { $gte: '' } : { $gt: sid } };
}

/**
 * With `maxLifetime`, the moment a session must have been created after to be live at `now`;
 * `undefined` without one.
 */
export function bornAfter(now: Date, maxLifetime: number | undefined): Date | undefined {
  return maxLifetime === undefined ? undefined : new Date(now.getTime() - maxLifetime);
}

/**
 * The filter of live sessions; with `legacy`, the peers' live documents too. With `born` (see
 * {@link bornAfter}), a session created at or before it is past its absolute lifetime, as a
 * read takes it; one without a `createdAt` Date counts as live.
 */
export function liveFilter(now: Date, legacy: boolean, born?: Date): SessionFilter {
  const ours: SessionFilter =
    born === undefined
      ? { expiresAt: { $gt: now } }
      : { expiresAt: { $gt: now }, createdAt: { $not: { $lte: born } } };
  return legacy ? { $or: [ours, peerLive(now)] } : ours;
}

/**
 * The peers' live documents: those in their shape, without our expiry. `expiresAt: null` (no
 * such field here) rather than `$exists: false`: mongod answers it from the `expiresAt` index,
 * so that a look for the peers' few documents reads none of ours.
 */
export function peerLive(now: Date): SessionFilter {
  // The driver types a Date field without null; the server reads it as "missing or null".
  return { expires: { $gt: now }, expiresAt: null as never };
}

/** Of the documents `ids`, those still live in a peer's shape. */
export function peerLiveAmong(ids: readonly string[], now: Date): SessionFilter {
  return { _id: { $in: [...ids] }, ...peerLive(now) };
}

/** What the `user` field of a user's sessions may hold: one value, or any of several. */
export type UserValue = string | { $in: string[] };

/**
 * Every session whose `user` field is `user`, live or not: the one lookup the `{ user: 1 }`
 * index answers on every server. Liveness is then tested on the few documents it finds
 * ({@link liveOf}): FerretDB 2 with DocumentDB otherwise crosses that index with the TTL
 * index on `expiresAt`, which every live session matches, and so reads that whole index.
 */
export function byUser(user: UserValue): SessionFilter {
  return { user };
}

/** The fields a user method needs to tell which of a user's sessions are live, and which. */
export const LIVE_FIELDS = { _id: 1, expiresAt: 1, createdAt: 1 } as const;

/**
 * Of a user's documents, those live at `now` but those named in `except`; with `born` (see
 * {@link bornAfter}), not those past their absolute lifetime, as {@link liveFilter} tells them.
 */
export function liveOf<T extends Pick<SessionDocument, '_id' | 'expiresAt'> & { createdAt?: Date }>(
  docs: readonly T[],
  now: Date,
  except: readonly string[] = [],
  born?: Date,
): T[] {
  // As `expiresAt: { $gt: now }` tests it: only a Date compares with a Date.
  const live = (doc: T) =>
    doc.expiresAt instanceof Date &&
    doc.expiresAt > now &&
    (born === undefined || !(doc.createdAt instanceof Date) || doc.createdAt > born);
  // A document under an id that is no string is no session: never listed, capped or ended.
  return docs.filter(
    (doc) => typeof doc._id === 'string' && live(doc) && !except.includes(doc._id),
  );
}

/**
 * Of the sessions `ids` (picked live at `now` by {@link liveOf}), those still `user`'s: a delete
 * never ends a session that moved to another user meanwhile. It leaves out `expiresAt > now`,
 * which only a write that moved the expiry into the past could fail meanwhile: FerretDB 2 with
 * DocumentDB would answer that with both indexes again (5.9 ms against 1.0 on 20k sessions).
 */
export function ofUser(user: UserValue, ids: readonly string[]): SessionFilter {
  return { _id: { $in: [...ids] }, user };
}

/** This store's sessions expired at `now`. */
export function expiredFilter(now: Date): SessionFilter {
  return { expiresAt: { $lte: now } };
}

/** Id order: how walks over the collection go, batch after batch. */
export const BY_ID = { _id: 1 } as const;

/** Only the id: what a query that picks sessions to delete needs back. */
export const ID_ONLY = { _id: 1 } as const;

/** The oldest first, by expiry: the order of the expired, to tell the TTL lag. */
export const BY_EXPIRY = { expiresAt: 1 } as const;

/**
 * What the sweeper deletes, each set with the field it deletes by in batches: this store's
 * expired sessions, and with `legacy` the peers' too. `now` is the server's clock.
 */
export function expiredSets(
  now: Date,
  legacy: boolean,
): [mongo.Filter<mongo.Document>, 'expiresAt' | 'expires'][] {
  const ours: [mongo.Filter<mongo.Document>, 'expiresAt'] = [
    { expiresAt: { $lte: now } },
    'expiresAt',
  ];
  if (!legacy) return [ours];
  return [ours, [{ expires: { $lte: now }, expiresAt: { $exists: false } }, 'expires']];
}

/** What a guarded write expects to find in the stored session. */
export interface Expected {
  /** The stored cookie, exactly. */
  cookie?: unknown;
  /** The stored data, exactly. */
  session?: unknown;
  /** The stored device, exactly. */
  device?: unknown;
  /** The session must be live at this time. */
  liveAt?: Date;
}

/** The filter of session `sid` while it holds what `expected` says. */
export function guardFilter(sid: string, expected: Expected): SessionFilter {
  const filter: SessionFilter = { _id: sid };
  if ('cookie' in expected) filter.cookie = expected.cookie;
  if ('session' in expected) filter.session = expected.session;
  if ('device' in expected) filter.device = expected.device;
  if (expected.liveAt !== undefined) filter.expiresAt = { $gt: expected.liveAt };
  return filter;
}

/**
 * Whether two stored values are the same, as the server's equality tells: text as it is, BSON
 * binary of subtype 0 (sealed values) by its bytes; anything else is never taken for the same.
 */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'string') return a === b;
  const x = binaryBytes(a);
  const y = x === undefined ? undefined : binaryBytes(b);
  return x !== undefined && y !== undefined && x.equals(y);
}

/** Whether a document holds what `expected` says: the same test as {@link guardFilter}'s. */
export function holds(doc: SessionDocument, expected: Expected): boolean {
  if ('cookie' in expected && !same(doc.cookie, expected.cookie)) return false;
  if ('session' in expected && !same(doc.session, expected.session)) return false;
  if ('device' in expected && !same(doc.device, expected.device)) return false;
  return expected.liveAt === undefined || doc.expiresAt > expected.liveAt;
}

/**
 * A full write in this store's shape. It sets what it owns and leaves other fields as they
 * are, so that fields another feature or program keeps survive a `set`; a peer's expiry is
 * removed, so the document is ours from then on.
 */
export function fullWrite(fields: OwnFields, presence: Presence): SessionUpdate {
  const { user, cookie } = fields;
  const $unset: Record<string, ''> = { expires: '', lastModified: '' };
  // Named one by one: a rest copy of the fields is V8's slow path, on every save.
  const $set: Partial<SessionDocument> = {
    expiresAt: fields.expiresAt,
    session: fields.session,
    lastSeenAt: presence.seenAt,
  };
  if (cookie !== undefined) $set.cookie = cookie;
  if (user === undefined) $unset.user = '';
  else $set.user = user;
  if (presence.device !== undefined) $set.device = presence.device;
  if (presence.createdAt !== undefined) {
    $set.createdAt = presence.createdAt;
    return { $set, $unset };
  }
  return { $set, $unset, $setOnInsert: { createdAt: presence.seenAt } };
}

/**
 * A full write in a peer's shape (with `legacy`, during a rolling deploy): their expiry and
 * session, and neither our expiry, so our TTL index never deletes a session that an old
 * instance keeps alive by its `expires`, nor our user, which the user methods would find.
 * Our stored cookie stays: while `legacy` is turned off instance by instance, a save of a
 * session loaded before this write leaves the cookie as stored (see {@link fullWrite}), and
 * without it the session would no longer read.
 */
export function peerWrite(fields: PeerFields): SessionUpdate {
  return { $set: fields, $unset: { expiresAt: '', user: '' } };
}

/**
 * The update that moves a session's expiry, and when it was last seen: never its data or
 * user. The stored cookie only when `cookie` is given (it changed beyond its expiry).
 */
export function touchWrite(expiresAt: Date, cookie: unknown, presence: Presence): SessionUpdate {
  const $set: Partial<SessionDocument> = { expiresAt, lastSeenAt: presence.seenAt };
  if (cookie !== undefined) $set.cookie = cookie;
  if (presence.createdAt !== undefined) $set.createdAt = presence.createdAt;
  if (presence.device !== undefined) $set.device = presence.device;
  return { $set };
}

/** The fields the cap needs of a user's sessions. */
export const CAP_FIELDS = { _id: 1, expiresAt: 1, lastSeenAt: 1, createdAt: 1 } as const;

/**
 * Of a user's documents, the ids of the live ones but `keep` past the `cap - 1` most recently
 * seen: the ones to end so that, with `keep`, `cap` are left. In the server's order for
 * `{ lastSeenAt: -1, _id: 1 }`: a session never seen (no `lastSeenAt`) counts as least recent.
 *
 * Only sessions after `keep` in that order are ended, and those before it count toward the
 * cap: they were saved since (a sign-in at the same moment, whose own check sees this one).
 * Two checks that see each other's session would otherwise each end the other, and leave the
 * user fewer than `cap`. So the `cap` first in that order are never ended.
 */
export function beyondCap(
  docs: readonly Pick<SessionDocument, '_id' | 'expiresAt' | 'lastSeenAt' | 'createdAt'>[],
  keep: string,
  cap: number,
  now: Date,
  born?: Date,
): string[] {
  const seen = (doc: Pick<SessionDocument, 'lastSeenAt'>) =>
    doc.lastSeenAt instanceof Date ? doc.lastSeenAt.getTime() : Number.NEGATIVE_INFINITY;
  const live = liveOf(docs, now, [], born).sort(
    (a, b) => seen(b) - seen(a) || idOrder(a._id, b._id),
  );
  const at = live.findIndex((doc) => doc._id === keep);
  // Gone already: ended by the check of a sign-in saved at the same moment, which decided.
  if (at === -1) return [];
  return live.slice(at + 1 + Math.max(0, cap - 1 - at)).map((doc) => doc._id);
}

/** The server's order of two ids: by their UTF-8 bytes. */
function idOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The update that moves a peer's expiry, as their own touch does, leaving their shape: with
 * `legacy`, during a rolling deploy. The cookie inside their session is not rewritten, so a
 * save made meanwhile is never undone.
 */
export function peerTouchWrite(expires: Date): SessionUpdate {
  return { $set: { expires } };
}

/** Merges two updates of one document (their `$set`s and `$unset`s). */
export function merged(a: SessionUpdate, b: SessionUpdate): SessionUpdate {
  const out: SessionUpdate = { $set: { ...a.$set, ...b.$set } };
  const $unset = { ...a.$unset, ...b.$unset };
  for (const key of Object.keys(out.$set ?? {})) delete ($unset as Record<string, unknown>)[key];
  if (Object.keys($unset).length > 0) out.$unset = $unset;
  return out;
}

/** Whether `doc` is in the shape of connect-mongo or connect-mongodb-session. */
export function isPeer(doc: SessionDocument): boolean {
  return doc.expires !== undefined;
}

/**
 * When a stored session expires, in epoch milliseconds, whichever store wrote it; 0 if
 * unknown. Where both expiries are present (a peer's instance saved over one of ours), the
 * later wins: that instance kept it alive.
 */
export function storedExpiry(doc: SessionDocument): number {
  const ours = doc.expiresAt instanceof Date ? doc.expiresAt.getTime() : 0;
  const theirs = doc.expires instanceof Date ? doc.expires.getTime() : 0;
  return Math.max(ours, theirs);
}
