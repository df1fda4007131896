import type { Connection, ConnectOptions, mongo } from 'mongoose';
import { type SecretFormat, SessionCipher, secretsOf } from './cipher.js';
import { type ConnectionSource, sourceOf } from './connection-source.js';
import { type DeviceOptions, resolveDeviceOptions } from './device-options.js';
import type { MetadataOption } from './devices.js';
import { typeError } from './errors.js';
import { MAX_TTL, type Ttl } from './expiry.js';
import {
  checkEncryptable,
  checkKnown,
  collectionName,
  duration,
  flag,
  isPlainObject,
  secretFormatOf,
  serializerOf,
  warnIfSeconds,
} from './option-checks.js';
import type { SessionSerializer } from './serializer.js';
import { passportUser, type UserIdOf } from './users.js';

export { TTL_WARNING_CODE } from './option-checks.js';

/** `expiredEvents`, checked: the announcements come from the sweeper, which must run. */
function expiredEventsOf(given: unknown, lifecheck: number | undefined): boolean {
  const on = flag('expiredEvents', given ?? false);
  if (on && lifecheck === -1)
    throw typeError(
      'expiredEvents: needs the sweeper, which announces them; not with lifecheck -1',
    );
  return on;
}

/** 14 days, in milliseconds: the `ttl` default. */
export const DEFAULT_TTL = 14 * 24 * 60 * 60 * 1000;
/** 60 s, in milliseconds: the sweeper interval used when the server refuses the TTL index. */
export const FALLBACK_LIFECHECK = 60_000;
/** 5 s, in milliseconds: the `waitForServer` default. */
export const DEFAULT_WAIT_FOR_SERVER = 5_000;

/** Options of {@link createStore} and the {@link MongooseStore} constructor. Every duration is in milliseconds. */
export interface MongooseStoreOptions {
  /** Collection that holds the sessions. Default `'sessions'`. */
  collection?: string;
  /**
   * Lifetime of a session whose cookie has no `expires`, in milliseconds (1 to 100 years), or
   * a function of the session that returns one; a function that returns 0 or less makes `set`
   * delete the session. A function that throws or returns anything else fails `set` and
   * `touch` with `ERR_INVALID_TTL`, and the stored session is left as it was.
   * Default 14 days (`1209600000`).
   */
  ttl?: Ttl;
  /**
   * Interval of the fallback sweeper, in milliseconds; `-1` turns it off.
   * Default: off while the server accepts the TTL index; 60000 when it refuses it.
   * A value > 0 runs the sweeper alongside the TTL index.
   */
  lifecheck?: number;
  /**
   * A `touch` skips its write while it would move the stored expiry forward by less than this
   * many milliseconds; `0` writes every touch. A shorter expiry is always written.
   * Default: adaptive, 1 % of the session's lifetime and at most 60000 (a minute): a 14-day
   * session is written at most once a minute, a 30-minute one every 18 s, and the stored
   * expiry never lags the cookie by more than that.
   */
  touchAfter?: number;
  /** Create and check the TTL index on `expiresAt` at start. Default `true`. */
  autoIndex?: boolean;
  /**
   * An existing mongoose `Connection` to use instead of `uris`: open, or opening (e.g.
   * `mongoose.connection` once `mongoose.connect()` is called). Operations wait while it opens;
   * while nobody has opened it, they fail with a `TypeError`. The store never closes it.
   * A MongoDB driver `Db` or `MongoClient` is refused with a `TypeError`: pass the mongoose
   * `Connection` instead. Default: none; the store opens its own from `uris`.
   */
  connection?: Connection;
  /**
   * A connected (or not yet connected) MongoDB `MongoClient` to run the store on, as
   * connect-mongo's `client`: the store builds a mongoose `Connection` on it and never closes
   * it. It must come from mongoose's own driver (`mongoose.mongo.MongoClient`, or a `mongodb`
   * that npm deduplicated with mongoose's): mongoose cannot adopt another copy's client.
   * Default: none.
   */
  client?: mongo.MongoClient;
  /**
   * A promise of such a `MongoClient`, as connect-mongo's `clientPromise`. Operations wait
   * for it; a rejection fails the start (the constructor callback and the `error` event).
   * Default: none.
   */
  clientPromise?: Promise<mongo.MongoClient>;
  /** Passed to mongoose when the store opens its own connection. Default `{}`. */
  connectionOptions?: ConnectOptions;
  /**
   * How long a session operation waits for a server, in milliseconds, while none can be
   * selected (the database is down or out of reach, at start or later): then it fails with
   * `ERR_SERVER_UNAVAILABLE`, the store says `disconnect`, and the connect goes on in the
   * background. The store's own bound: the connection's `serverSelectionTimeoutMS` (the
   * driver's 30 s by default) is left as it is. Also how long `get`, `set`, `touch` and
   * `destroy` wait on a server that holds its connections open and answers nothing (one that
   * still answers others, six times as long); a write that failed so may still land. Default
   * `5000`.
   */
  waitForServer?: number;
  /**
   * What to record of the device that uses each session, for `listByUser`: `ip` (`req.ip`,
   * so express's `trust proxy` applies) and `userAgent` (the `User-Agent` header, cut to 512
   * characters). Recorded when the session is saved and whenever they change; sealed like the
   * data under `secret`. Personal data: both off unless asked for. Default `{ ip: false,
   * userAgent: false }`.
   */
  metadata?: MetadataOption;
  /**
   * An absolute lifetime, in milliseconds: a session ends at `createdAt + maxLifetime`
   * however active it is (OWASP's absolute timeout); reads treat it as expired, and `set`
   * and `touch` never move its expiry past that point. A session stored without `createdAt`
   * (a peer's, or one from before 1.0) counts from its first write. Not with `legacy`
   * (`TypeError`). Default: none.
   */
  maxLifetime?: number;
  /**
   * The most live sessions one user may have (see `userId`): when a `set` leaves a user with
   * more, the least recently seen beyond the cap are deleted, never the one being saved.
   * Sign-ins saved at the same moment agree on which to keep: never fewer than the cap, and
   * rarely one more until the user's next sign-in. Evictions are in the debug log. Default:
   * none.
   */
  maxSessionsPerUser?: number;
  /**
   * Emit `expired(sid, session)` once for each session that expires, across every store on
   * the collection: the holder of the sweep lease deletes each expired session and announces
   * it, about every `lifecheck` ms (5000 while this is on and `lifecheck` is not given). The
   * TTL index then keeps expired documents for an hour (`expireAfterSeconds` 3600, changed in
   * place), so the server deletes only what no store announced. Give every instance the same
   * setting. Not with `lifecheck: -1`. Default `false`.
   */
  expiredEvents?: boolean;
  /**
   * How sessions are stored: `'json'` (an exact JSON round trip, like MemoryStore),
   * `'bson'` (a queryable subdocument) or your own {@link SessionSerializer}. Default `'json'`.
   */
  serializer?: 'json' | 'bson' | SessionSerializer;
  /**
   * Which user a session belongs to, for `listByUser` and `destroyByUser` ("sign out
   * everywhere"): a function of the session that gives a non-empty string, or `undefined` for
   * a session without a user; or `false` to turn the feature off (no `user` field, no index).
   * A function that throws or gives anything else fails `set` and `touch` with
   * `ERR_INVALID_USER_ID`, and nothing is changed.
   * Default: passport's `session.passport.user` when it is a non-empty string or a finite
   * number (as a string), else none.
   */
  userId?: UserIdOf | false;
  /**
   * Also count, list and sweep the documents connect-mongo or connect-mongodb-session wrote
   * in this collection (`{ _id, expires, session }`), while a move from them is under way.
   * Reading such a session by id (`get`, then its rewrite in this store's shape by the next
   * `set` or `touch`) works whatever this says, at no cost. Turning it on makes `length`,
   * `count`, `all` and the sweeper use a filter with `$or`, which may scan where `expires`
   * has no index. Default `false`.
   */
  legacy?: boolean;
  /**
   * Encrypts sessions at rest: a secret of at least 32 characters, or an array of them, as
   * express-session's own `secret`: the first encrypts, every one decrypts. The cookie and
   * the session data are sealed with AES-256-GCM, bound to the session id; the `user` field
   * becomes a keyed hash. A session that does not decrypt reads as missing and is reported as
   * `ERR_SESSION_DECRYPT`. To rotate, put a new secret first, run `reencrypt()`, then drop
   * the old one. Use a secret of its own, not express-session's cookie-signing one. Needs a
   * serializer that gives strings (not `'bson'`), and `legacy` off: the peers' documents are
   * in clear. Default: none, sessions are stored in clear.
   */
  secret?: string | readonly string[];
  /**
   * How values sealed under `secret` are stored: `'binary'`, BSON binary, a quarter smaller
   * than text (the document about a sixth), with no base64 to encode or decode; `'text'`, the
   * base64url text that 1.0.0-rc.1 writes. Both forms are read whatever this says. Writing
   * `'binary'`, a value in text is sealed again by its session's next write, and by
   * `reencrypt()`. Upgrading from 1.0.0-rc.1 by a rolling deploy: set `'text'` until no
   * instance of it runs (it reads only text), then remove it. Needs `secret`. Default
   * `'binary'`.
   */
  secretFormat?: SecretFormat;
}

/** The URIs argument: one URI, or the members of one replica set. `null` with `connection`. */
export type MongooseStoreUris = string | readonly string[] | null | undefined;

/** The options after validation and defaults, frozen. */
export type ResolvedOptions = Readonly<
  Required<
    Omit<
      MongooseStoreOptions,
      | 'connection'
      | 'client'
      | 'clientPromise'
      | 'connectionOptions'
      | 'lifecheck'
      | 'serializer'
      | 'userId'
      | 'secret'
      | 'secretFormat'
      | 'touchAfter'
      | 'metadata'
      | 'maxLifetime'
      | 'maxSessionsPerUser'
    >
  > &
    DeviceOptions & {
      /** Where the connection comes from: `uris`, `connection`, or `client`/`clientPromise`. */
      source: ConnectionSource;
      /** `undefined` means "not given": adaptive (see `touchSlack` in lib/expiry.ts). */
      touchAfter: number | undefined;
      /** `undefined` means "not given": the store decides from the server's answer. */
      lifecheck: number | undefined;
      serializer: SessionSerializer;
      /** `undefined` when the feature is off. */
      userId: UserIdOf | undefined;
      /**
       * What the secrets give, the keys derived (the strings themselves are not kept, so that
       * printing the store shows none); `undefined` when sessions are stored in clear.
       */
      cipher: SessionCipher | undefined;
    }
>;

/** Validates `(uris, opts)`, applies the defaults, and freezes the result. */
export function resolveOptions(
  uris: MongooseStoreUris,
  opts: MongooseStoreOptions | undefined,
): ResolvedOptions {
  // connect-mongo's call shape, createStore({ mongoUrl, ... }): say what to write instead.
  if (isPlainObject(uris))
    throw typeError(
      'uris: got an object; pass the URI as the first argument and the options as the second: createStore(uri, options), or createStore(null, { connection | client | clientPromise })',
    );
  const o: unknown = opts ?? {};
  if (!isPlainObject(o)) throw typeError('options: expected an object');
  checkKnown(o);
  const given = o as MongooseStoreOptions;
  const source = sourceOf(uris, given);
  const collection = collectionName(given.collection ?? 'sessions');

  const ttl = given.ttl ?? DEFAULT_TTL;
  // A static ttl of 0 or less would delete every session on save: a mistake, not a choice.
  // Only the function form may give it, for the sessions it means to end.
  if (typeof ttl !== 'function') warnIfSeconds(duration('ttl', ttl, 1, 'a function or ', MAX_TTL));

  const lifecheck = given.lifecheck;
  if (lifecheck !== undefined && lifecheck !== -1)
    duration('lifecheck', lifecheck, 1, '-1 (off) or ');
  const autoIndex = flag('autoIndex', given.autoIndex ?? true);

  const userId = given.userId ?? passportUser;
  if (userId !== false && typeof userId !== 'function')
    throw typeError(`userId: expected a function or false, got ${typeof userId}`);

  const serializer = serializerOf(given.serializer ?? 'json');
  const legacy = flag('legacy', given.legacy ?? false);
  const secrets = given.secret === undefined ? undefined : secretsOf(given.secret);
  if (secrets !== undefined) checkEncryptable(serializer, legacy);
  // The peers' shape has no createdAt: under legacy every write would count the lifetime from
  // now, and an active session would never end. Refused, not silently off: it is a security bound.
  if (legacy && given.maxLifetime !== undefined)
    throw typeError(
      'maxLifetime: not with legacy: the peers’ shape records no createdAt to count it from. Finish the move first, then set maxLifetime',
    );
  const format = secretFormatOf(given.secretFormat, secrets !== undefined);

  return Object.freeze({
    source,
    collection,
    ttl,
    lifecheck,
    touchAfter:
      given.touchAfter === undefined ? undefined : duration('touchAfter', given.touchAfter, 0),
    waitForServer: duration('waitForServer', given.waitForServer ?? DEFAULT_WAIT_FOR_SERVER, 1),
    autoIndex,
    serializer,
    userId: userId === false ? undefined : userId,
    legacy,
    cipher: secrets === undefined ? undefined : new SessionCipher(secrets, format),
    ...resolveDeviceOptions(given),
    expiredEvents: expiredEventsOf(given.expiredEvents, lifecheck),
  });
}
