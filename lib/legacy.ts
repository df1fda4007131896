import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import type { SessionDocument } from './schema.js';

// The documents connect-mongo 6 and connect-mongodb-session 5 write, read in place so that a
// team that switches stores signs nobody out:
// - connect-mongo: { _id, expires: Date, session: <JSON string> (stringify: true, its default)
//   or <object> (stringify: false), lastModified?: Date (touchAfter), createdAt?, updatedAt? };
// - connect-mongodb-session: { _id, expires: Date, session: <object> }.
// In both, the session holds its cookie. This store never writes `expires`, and its `set`
// replaces the whole document, so a document with `expires` is one of theirs.

/** Whether `doc` was written by connect-mongo or connect-mongodb-session. */
export function isLegacy(doc: SessionDocument): boolean {
  return doc.expires !== undefined;
}

/** When a stored session expires, in epoch milliseconds, whichever store wrote it; 0 if unknown. */
export function storedExpiry(doc: SessionDocument): number {
  const at = isLegacy(doc) ? doc.expires : doc.expiresAt;
  return at instanceof Date ? at.getTime() : 0;
}

/**
 * The session a peer's document holds, as express-session expects it.
 * @throws Error when the document is not of a shape the peers write (for example one that
 *   connect-mongo encrypted with its `crypto` option).
 */
export function decodeLegacy(doc: SessionDocument): SessionData {
  const stored = doc.session;
  const session: unknown = typeof stored === 'string' ? JSON.parse(stored) : stored;
  const cookie = (session as { cookie?: unknown } | null)?.cookie;
  if (session === null || typeof session !== 'object' || Array.isArray(session))
    throw new TypeError('not a session object');
  if (cookie === null || typeof cookie !== 'object') throw new TypeError('no cookie');
  return session as SessionData;
}

/** The filter of live sessions; with `legacy`, the peers' live documents too. */
export function liveFilter(now: Date, legacy: boolean): mongo.Filter<SessionDocument> {
  const ours = { expiresAt: { $gt: now } };
  return legacy ? { $or: [ours, { expires: { $gt: now } }] } : ours;
}

/** The filter of the peers' live documents (not yet rewritten in our shape). */
export function legacyLive(now: Date): mongo.Filter<SessionDocument> {
  return { expires: { $gt: now }, expiresAt: { $exists: false } };
}

/**
 * What the sweeper deletes, each set with the field it deletes by in batches: this store's
 * expired sessions, and with `legacy` the peers' too.
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
