// express-session's callback methods as promises, for async route handlers.
import type { Request } from 'express';

/** A new session id and an empty session; the old session is destroyed in the store. */
export function regenerate(req: Request): Promise<void> {
  return new Promise((ok, fail) => req.session.regenerate((err) => (err ? fail(err) : ok())));
}

/**
 * Writes this session to the store now. Needed before a redirect that follows a change:
 * express-session sends the status and Location before its own save ends, and a browser
 * may follow them at once, reading the session before the change is stored.
 */
export function save(req: Request): Promise<void> {
  return new Promise((ok, fail) => req.session.save((err) => (err ? fail(err) : ok())));
}

/** Deletes this session from the store and unsets `req.session`. */
export function destroy(req: Request): Promise<void> {
  return new Promise((ok, fail) => req.session.destroy((err) => (err ? fail(err) : ok())));
}
