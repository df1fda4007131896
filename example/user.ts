// Who a session is signed in as. The user sits where passport puts it, so the store's default
// `userId` (passport's `session.passport.user`) finds it without any option. The device (its
// IP and user agent) is the store's to record: see the `metadata` option in example/server.ts.
import type { Request } from 'express';
import type { SessionData } from 'express-session';

declare module 'express-session' {
  interface SessionData {
    /** Where passport keeps the signed-in user; the demo writes it the same way. */
    passport: { user: string };
    /** When this session signed in, in ms since the epoch: kept across regenerations. */
    signedInAt: number;
  }
}

/** The longest name accepted, in UTF-16 code units (what an input's `maxlength` counts). */
export const MAX_NAME = 64;

/** The name typed into the sign-in form, trimmed, or `undefined` when not 1–64 characters. */
export function parseName(input: unknown): string | undefined {
  if (typeof input !== 'string') return undefined;
  const name = input.trim();
  return name.length >= 1 && name.length <= MAX_NAME ? name : undefined;
}

/** The user this request's session is signed in as, if any. */
export function currentUser(req: Request): string | undefined {
  const user = req.session.passport?.user;
  return typeof user === 'string' && user !== '' ? user : undefined;
}

/** The sign-in fields of a session, to carry them over a regeneration. */
export type SignIn = Pick<SessionData, 'passport' | 'signedInAt'>;

/** Signs the (already regenerated) session in as `name`. */
export function signIn(req: Request, name: string): void {
  req.session.passport = { user: name };
  req.session.signedInAt = Date.now();
}

/** The sign-in of `req`'s session, or `undefined` when it is not signed in. */
export function takeSignIn(req: Request): Partial<SignIn> | undefined {
  const { passport, signedInAt } = req.session;
  return passport === undefined ? undefined : { passport, signedInAt };
}
