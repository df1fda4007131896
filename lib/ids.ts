import { typeError } from './errors.js';

/** A UTF-16 code unit that is half of a pair without its other half. */
export const LONE_SURROGATE = /\p{Surrogate}/u;
/**
 * Checked before any query is built: an object here would be an operator injection, and ids
 * that are not well-formed UTF-16 (a lone surrogate) all become U+FFFD on the wire, so
 * `'\uD800'` and `'\uDFFF'` would read one another's session.
 */
export function checkSid(sid: unknown): asserts sid is string {
  if (typeof sid !== 'string' || sid === '')
    throw typeError(`session id must be a non-empty string, got ${typeof sid}`);
  if (LONE_SURROGATE.test(sid))
    throw typeError('session id must be well-formed UTF-16 (a lone surrogate)');
}

/** Checked before anything is built from it: a session object, with a cookie where needed. */
export function checkSession(session: unknown, method: string, needsCookie: boolean): void {
  if (session === null || typeof session !== 'object')
    throw typeError(
      `${method}: session must be an object, got ${session === null ? 'null' : typeof session}`,
    );
  const { cookie } = session as { cookie?: unknown };
  // touch writes the cookie alone: without one it would wipe the stored cookie.
  if (needsCookie && (cookie === null || typeof cookie !== 'object'))
    throw typeError(`${method}: session must have a cookie object`);
}
