import type { SessionData } from 'express-session';
import type { PeerFields, SessionDocument } from './document.js';

// The documents connect-mongo 6 and connect-mongodb-session 5 write, read in place so that a
// team that switches stores signs nobody out:
// - connect-mongo: { _id, expires: Date, session: <JSON string> (stringify: true, its default)
//   or <object> (stringify: false), lastModified?: Date (touchAfter), createdAt?, updatedAt? };
// - connect-mongodb-session: { _id, expires: Date, session: <object> }.
// In both, the session holds its cookie, and both save with `$set` and upsert. With `legacy`
// on, this store writes that shape too, so that their instances can still read and extend
// every session while a deploy rolls.

/** How a peer stores the session: a JSON string (connect-mongo's default) or an object. */
export type PeerForm = 'string' | 'object';

/** The form of a peer's document. */
export function formOf(doc: SessionDocument): PeerForm {
  return typeof doc.session === 'string' ? 'string' : 'object';
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

/**
 * The fields of `session` in a peer's shape, as connect-mongo (`'string'`) or
 * connect-mongodb-session and connect-mongo with `stringify: false` (`'object'`) write them:
 * the whole session with its cookie as `toJSON` gives it.
 */
export function encodePeer(session: SessionData, expiresAt: Date, form: PeerForm): PeerFields {
  const whole: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(session)) {
    const v = value as { toJSON?: () => unknown } | null;
    whole[key] = key === 'cookie' && typeof v?.toJSON === 'function' ? v.toJSON() : value;
  }
  // As the peers themselves store it: connect-mongo's JSON string, or the object as it is.
  const stored = form === 'string' ? JSON.stringify(whole) : whole;
  return { expires: expiresAt, session: stored };
}
