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
