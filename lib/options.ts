import mongoose, { type Connection, type ConnectOptions, type mongo } from 'mongoose';
import { MIN_SECRET_LENGTH, SessionCipher, secretsOf } from './cipher.js';
import { type DeviceOptions, resolveDeviceOptions } from './device-options.js';
import type { MetadataOption } from './devices.js';
import { typeError } from './errors.js';
import { MAX_TTL, type Ttl } from './expiry.js';
import { log } from './log.js';
import { bsonSerializer, jsonSerializer, type SessionSerializer } from './serializer.js';
import { mergeUris } from './uris.js';
import { passportUser, type UserIdOf } from './users.js';

/** 14 days, in milliseconds: the `ttl` default. */
export const DEFAULT_TTL = 14 * 24 * 60 * 60 * 1000;
/** 60 s, in milliseconds: the sweeper interval used when the server refuses the TTL index. */
export const FALLBACK_LIFECHECK = 60_000;
/** 5 s, in milliseconds: the `waitForServer` default. */
export const DEFAULT_WAIT_FOR_SERVER = 5_000;
/** The largest delay a Node timer accepts, in milliseconds. */
const MAX_TIMER = 2 ** 31 - 1;

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
   * driver's 30 s by default) is left as it is. While a server is there it costs nothing.
   * Default `5000`.
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
   * (a peer's, or one from before 1.0) counts from its first write. Default: none.
   */
  maxLifetime?: number;
  /**
   * The most live sessions one user may have (see `userId`): when a `set` leaves a user with
   * more, the least recently seen beyond the cap are deleted, never the one being saved.
   * Concurrent sign-ins may leave one more for a moment, never fewer than the cap. Evictions
   * are in the debug log. Default: none.
   */
  maxSessionsPerUser?: number;
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
}

/** The URIs argument: one URI, or the members of one replica set. `null` with `connection`. */
export type MongooseStoreUris = string | readonly string[] | null | undefined;

/** The options after validation and defaults, frozen. */
export type ResolvedOptions = Readonly<
  Required<
    Omit<
      MongooseStoreOptions,
      | 'connection'
      | 'lifecheck'
      | 'serializer'
      | 'userId'
      | 'client'
      | 'clientPromise'
      | 'secret'
      | 'touchAfter'
      | 'metadata'
      | 'maxLifetime'
      | 'maxSessionsPerUser'
    >
  > &
    DeviceOptions & {
      /** `undefined` means "not given": adaptive (see `touchSlack` in lib/expiry.ts). */
      touchAfter: number | undefined;
      /** The user's client (or its promise) to run on, when given. */
      client: mongo.MongoClient | Promise<mongo.MongoClient> | undefined;
      /** The merged connection string, when the store opens its own connection. */
      uri: string | undefined;
      connection: Connection | undefined;
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

const KNOWN = new Set<string>([
  'collection',
  'ttl',
  'lifecheck',
  'touchAfter',
  'autoIndex',
  'connection',
  'client',
  'clientPromise',
  'connectionOptions',
  'waitForServer',
  'metadata',
  'maxLifetime',
  'maxSessionsPerUser',
  'serializer',
  'userId',
  'legacy',
  'secret',
]);

/** Options of connect-mongo and connect-mongodb-session, with what to write here instead. */
const PEER_OPTIONS: Record<string, string> = {
  mongoUrl: 'pass the URI as the first argument: createStore(uri, options)',
  uri: 'pass the URI as the first argument: createStore(uri, options)',
  collectionName: 'use `collection`',
  databaseName:
    'put the database in the URI, or use connectionOptions.dbName (with a client: its default database)',
  dbName:
    'put the database in the URI, or use connectionOptions.dbName (with a client: its default database)',
  autoRemove:
    "use `lifecheck` (the sweeper's interval in ms, -1 for off) and `autoIndex` (the TTL index)",
  autoRemoveInterval: "use `lifecheck`, in milliseconds (connect-mongo's interval was in minutes)",
  mongoOptions: 'use `connectionOptions`',
  crypto: `use \`secret\` (a string of ${MIN_SECRET_LENGTH}+ characters, or an array of them to rotate); sessions connect-mongo encrypted cannot be read`,
  stringify: "use `serializer: 'json'` (a string, the default) or `'bson'` (an object)",
  serialize: 'use `serializer: { serialize, deserialize }`',
  unserialize: 'use `serializer: { serialize, deserialize }`',
  expires: '`ttl` is the lifetime here, in milliseconds',
  expiresKey:
    'this store keeps the expiry in `expiresAt`; set `legacy: true` to read old documents',
  expiresAfterSeconds: 'this store builds its own TTL index; see `autoIndex`',
  idField: 'the session id is always `_id` here',
  timestamps: 'not supported: the document holds `expiresAt` only',
  writeOperationOptions: 'use `connectionOptions` (for example writeConcern)',
};

/** connect-mongo's default ttl, 14 days in seconds: as milliseconds here, only 20 minutes. */
const CONNECT_MONGO_DEFAULT_TTL_S = 1_209_600;
/** The code of the process warning about a `ttl` that may be in seconds. */
export const TTL_WARNING_CODE = 'CONNECT_MONGOOSE_SESSION_TTL_SECONDS';
let ttlWarned = false;

/**
 * Warns, once per process, where people look (stderr, or a `'warning'` listener), that a short
 * `ttl` may be connect-mongo's seconds. Without the value: the warning is the same for every
 * store, and `--disable-warning=<code>` silences it.
 */
function warnTtlSeconds(): void {
  if (ttlWarned) return;
  ttlWarned = true;
  process.emitWarning(
    `connect-mongoose-session: ttl is in milliseconds; ${CONNECT_MONGO_DEFAULT_TTL_S} or less is 20 minutes or less. If it was meant in seconds, as connect-mongo took them, multiply it by 1000.`,
    { code: TTL_WARNING_CODE },
  );
}

/** Options whose name connect-mongo shares (or resembles) but whose unit differs. */
const SECONDS_HINT = ' (in milliseconds here: connect-mongo took seconds)';
const SHARED_DURATIONS = new Set(['ttl', 'touchAfter', 'lifecheck']);

function unknownOption(key: string): TypeError {
  const instead = PEER_OPTIONS[key];
  return typeError(
    instead === undefined
      ? `options: unknown option ${JSON.stringify(key)}`
      : `options: ${JSON.stringify(key)} is connect-mongo's or connect-mongodb-session's; ${instead}`,
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function duration(name: string, v: unknown, min: number, hint = '', max = MAX_TIMER): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw typeError(
      `${name}: expected ${hint}milliseconds from ${min} to ${max}, got ${String(v)}${SHARED_DURATIONS.has(name) ? SECONDS_HINT : ''}`,
    );
  }
  return v;
}

function flag(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw typeError(`${name}: expected a boolean, got ${String(v)}`);
  return v;
}

/** Duck-typed, not `instanceof`: the user's mongoose may be another copy than ours. */
function isConnection(v: unknown): v is Connection {
  return (
    isPlainObject(v) &&
    typeof v.readyState === 'number' &&
    typeof v.asPromise === 'function' &&
    typeof v.on === 'function' &&
    typeof v.getClient === 'function'
  );
}

/** A client from mongoose's own driver: only such a client can carry a mongoose Connection. */
export function isMongooseClient(v: unknown): v is mongo.MongoClient {
  return v instanceof mongoose.mongo.MongoClient;
}

function clientOf(given: MongooseStoreOptions): ResolvedOptions['client'] {
  const { clientPromise } = given;
  const client: unknown = given.client;
  if (client !== undefined && !isMongooseClient(client)) {
    throw typeError(
      `client: expected a MongoClient of mongoose's own driver (mongoose.mongo.MongoClient), got ${
        isPlainObject(client) && typeof client.db === 'function'
          ? 'a MongoClient of another copy of mongodb: pass its URI as uris instead'
          : kindOf(client)
      }`,
    );
  }
  if (
    clientPromise !== undefined &&
    typeof (clientPromise as { then?: unknown })?.then !== 'function'
  )
    throw typeError(
      `clientPromise: expected a promise of a MongoClient, got ${kindOf(clientPromise)}`,
    );
  return (client as mongo.MongoClient | undefined) ?? clientPromise;
}

/** What was given instead of a Connection, in words; never its contents. */
function kindOf(v: unknown): string {
  if (!isPlainObject(v)) return v === null ? 'null' : typeof v;
  if (typeof v.db === 'function' && typeof v.connect === 'function')
    return 'a MongoDB driver MongoClient: pass the mongoose Connection, or the URI as uris';
  if (typeof v.collection === 'function' && typeof v.databaseName === 'string')
    return 'a MongoDB driver Db: pass the mongoose Connection it comes from, or the URI as uris';
  return 'another object';
}

function serializerOf(v: unknown): SessionSerializer {
  if (v === 'json') return jsonSerializer;
  if (v === 'bson') return bsonSerializer;
  if (
    isPlainObject(v) &&
    typeof v.serialize === 'function' &&
    typeof v.deserialize === 'function'
  ) {
    return v as unknown as SessionSerializer;
  }
  throw typeError(
    `serializer: expected 'json', 'bson' or { serialize, deserialize }, got ${String(v)}`,
  );
}

/** What `secret` cannot go with: a serializer that gives no string, and `legacy`. */
function checkEncryptable(serializer: SessionSerializer, legacy: boolean): void {
  if (serializer === bsonSerializer)
    throw typeError(
      "secret: not with serializer 'bson', whose point is data the server can query; encrypted data cannot be queried. Use 'json'",
    );
  if (legacy)
    throw typeError(
      'secret: not with legacy: the peers’ documents are in clear, and would all read as missing. Finish the move first, then turn secret on',
    );
  let sample: unknown;
  try {
    sample = serializer.serialize({});
  } catch {
    // It cannot serialize an empty session: set will say what it does with real ones.
    return;
  }
  if (typeof sample !== 'string')
    throw typeError(
      `secret: the serializer must give strings, to be encrypted; it gave ${sample === null ? 'null' : typeof sample}`,
    );
}

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
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key) || !Object.hasOwn(o, key)) throw unknownOption(key);
  }
  const given = o as MongooseStoreOptions;

  const connection = given.connection;
  const client = clientOf(given);
  const sources = [
    uris === null || uris === undefined ? undefined : 'uris',
    connection === undefined ? undefined : 'connection',
    given.client === undefined ? undefined : 'client',
    given.clientPromise === undefined ? undefined : 'clientPromise',
  ].filter((s) => s !== undefined);
  if (sources.length > 1) throw typeError(`${sources.join(', ')}: give only one of them`);
  if (client !== undefined) {
    if (given.connectionOptions !== undefined)
      throw typeError(
        'connectionOptions: not used with a client of your own; configure the client',
      );
  } else if (connection !== undefined) {
    if (!isConnection(connection)) {
      throw typeError(
        `connection: expected a mongoose Connection (mongoose.connection, or what mongoose.createConnection() returns), got ${kindOf(connection)}`,
      );
    }
    if (uris !== null && uris !== undefined)
      throw typeError('connection: give either uris or connection, not both');
    if (given.connectionOptions !== undefined) {
      throw typeError(
        'connectionOptions: only used when the store opens its own connection; not with connection',
      );
    }
  } else if (uris === null || uris === undefined) {
    throw typeError('uris: required unless options.connection, client or clientPromise is given');
  }

  const collection = given.collection ?? 'sessions';
  if (
    typeof collection !== 'string' ||
    collection === '' ||
    /[$\0]/.test(collection) ||
    collection.startsWith('system.')
  ) {
    throw typeError(`collection: expected a collection name, got ${JSON.stringify(collection)}`);
  }

  const ttl = given.ttl ?? DEFAULT_TTL;
  // A static ttl of 0 or less would delete every session on save: a mistake, not a choice.
  // Only the function form may give it, for the sessions it means to end.
  if (typeof ttl !== 'function') duration('ttl', ttl, 1, 'a function or ', MAX_TTL);
  // connect-mongo's ttl was in seconds: its 1209600 (14 days) is 20 minutes here.
  if (typeof ttl === 'number' && ttl <= CONNECT_MONGO_DEFAULT_TTL_S) {
    log('ttl is %d ms (%d min): warned once per process', ttl, Math.round(ttl / 60_000));
    warnTtlSeconds();
  }

  const lifecheck = given.lifecheck;
  if (lifecheck !== undefined && lifecheck !== -1)
    duration('lifecheck', lifecheck, 1, '-1 (off) or ');

  const autoIndex = given.autoIndex ?? true;
  flag('autoIndex', autoIndex);

  const userId = given.userId ?? passportUser;
  if (userId !== false && typeof userId !== 'function')
    throw typeError(`userId: expected a function or false, got ${typeof userId}`);

  const serializer = serializerOf(given.serializer ?? 'json');
  const legacy = flag('legacy', given.legacy ?? false);
  const secrets = given.secret === undefined ? undefined : secretsOf(given.secret);
  if (secrets !== undefined) checkEncryptable(serializer, legacy);

  const connectionOptions = given.connectionOptions ?? {};
  if (!isPlainObject(connectionOptions)) throw typeError('connectionOptions: expected an object');

  return Object.freeze({
    uri:
      connection === undefined && client === undefined
        ? mergeUris(uris as string | readonly string[])
        : undefined,
    connection,
    client,
    collection,
    ttl,
    lifecheck,
    touchAfter:
      given.touchAfter === undefined ? undefined : duration('touchAfter', given.touchAfter, 0),
    waitForServer: duration('waitForServer', given.waitForServer ?? DEFAULT_WAIT_FOR_SERVER, 1),
    autoIndex,
    connectionOptions,
    serializer,
    userId: userId === false ? undefined : userId,
    legacy,
    cipher: secrets === undefined ? undefined : new SessionCipher(secrets),
    ...resolveDeviceOptions(given),
  });
}
