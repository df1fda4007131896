import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { MongooseStoreError, typeError } from './errors.js';
import { LONE_SURROGATE } from './ids.js';
import { log } from './log.js';

/**
 * Which user a session belongs to: a non-empty string, or `undefined` for none. The store
 * keeps it in the document's top-level `user` field, indexed, for
 * {@link MongooseStore.listByUser} and {@link MongooseStore.destroyByUser}.
 */
export type UserIdOf = (session: SessionData) => string | undefined;

/** Whether the debug log has said that passport users which are objects go unindexed. */
let saidObjectUser = false;

/** The `userId` default: passport's `session.passport.user`, when a string or a finite number. */
export const passportUser: UserIdOf = (session) => {
  const user: unknown = (session as { passport?: { user?: unknown } })?.passport?.user;
  if (typeof user === 'string' && user !== '') return user;
  if (typeof user === 'number' && Number.isFinite(user)) return String(user);
  if (user !== null && typeof user === 'object' && !saidObjectUser) {
    // Once per process: a serializeUser that stores the whole user is common, and every save
    // would say it again.
    saidObjectUser = true;
    log(
      'passport.user is an object, not an id: such sessions are left out of listByUser and destroyByUser; serialize the user to its id, or pass a userId function',
    );
  }
  return undefined;
};

/** Options of {@link MongooseStore.destroyByUser}. */
export interface DestroyByUserOptions {
  /** A session id, or several, to keep: "sign out my other devices". Default: none. */
  except?: string | readonly string[];
}

/** The index that makes a user's sessions one index lookup. */
export const USER_INDEX = { key: { user: 1 }, name: 'user_1' } as const;

/**
 * The user of `session` by `userIdOf`, checked.
 * @throws MongooseStoreError `ERR_INVALID_USER_ID` when the function throws or gives anything
 *   but a non-empty string or `undefined`.
 */
export function userOf(userIdOf: UserIdOf, session: SessionData): string | undefined {
  let user: unknown;
  try {
    user = userIdOf(session);
  } catch (err) {
    throw new MongooseStoreError('ERR_INVALID_USER_ID', 'userId: the function threw', err);
  }
  if (user === undefined) return user;
  if (typeof user === 'string' && user !== '') {
    if (!LONE_SURROGATE.test(user)) return user;
    throw new MongooseStoreError(
      'ERR_INVALID_USER_ID',
      'userId: the function gave a string that is not well-formed UTF-16 (a lone surrogate): it would be stored as another user id',
    );
  }
  throw new MongooseStoreError(
    'ERR_INVALID_USER_ID',
    `userId: the function gave ${user === '' ? 'an empty string' : `a ${user === null ? 'null' : typeof user}`}; expected a non-empty string or undefined`,
  );
}

/** Checked before any query is built: an object here would be an operator injection. */
export function checkUserId(userId: unknown, method: string): asserts userId is string {
  if (typeof userId !== 'string' || userId === '')
    throw typeError(
      `${method}: userId must be a non-empty string, got ${userId === '' ? 'an empty string' : typeof userId}`,
    );
  // Every lone surrogate becomes U+FFFD on the wire and in the keyed hash: 'a\uDC00' would
  // name the user 'a\uFFFD'.
  if (LONE_SURROGATE.test(userId))
    throw typeError(`${method}: userId must be well-formed UTF-16 (it holds a lone surrogate)`);
}

/** The ids `except` names: one id or an array of them, each a non-empty string. */
export function exceptIds(except: unknown): string[] {
  if (except === undefined) return [];
  const ids = Array.isArray(except) ? except : [except];
  for (const id of ids) {
    if (typeof id !== 'string' || id === '')
      throw typeError('destroyByUser: except must be a session id or an array of them');
  }
  return ids as string[];
}

/**
 * Builds the index on `user`, alone in its own call, and reads the answer: a server that
 * refuses it is reported, and the user methods then scan.
 */
export async function ensureUserIndex(
  coll: mongo.Collection,
  report: (err: Error) => void,
): Promise<void> {
  try {
    await coll.createIndex(USER_INDEX.key, { name: USER_INDEX.name });
  } catch (err) {
    // An index on user under another name (IndexOptionsConflict, IndexKeySpecsConflict)
    // serves just as well.
    const code = (err as { code?: unknown }).code;
    // No server answer (the connection dropped): not a refusal. onUp asks again on the
    // next connect.
    if (typeof code !== 'number') {
      log(
        'could not check the index on user (%s); trying again on the next connect',
        (err as Error).message,
      );
      return;
    }
    if (code === 85 || code === 86) {
      const indexes = await coll.listIndexes().toArray();
      if (indexes.some((ix) => Object.keys(ix.key ?? {}).join() === 'user')) return;
    }
    log(
      'the server refused the index on user (%s); listByUser and destroyByUser scan',
      (err as Error).message,
    );
    report(
      new MongooseStoreError(
        'ERR_INDEX_REFUSED',
        `the server refused the index on user (${(err as { codeName?: string }).codeName ?? 'error'}); listByUser and destroyByUser work by scanning the collection`,
      ),
    );
  }
}
