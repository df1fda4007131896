import { MIN_SECRET_LENGTH, type SecretFormat } from './cipher.js';
import { typeError } from './errors.js';
import { log } from './log.js';
import { bsonSerializer, jsonSerializer, type SessionSerializer } from './serializer.js';

/** The largest delay a Node timer accepts, in milliseconds. */
export const MAX_TIMER = 2 ** 31 - 1;

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
  'expiredEvents',
  'serializer',
  'userId',
  'legacy',
  'secret',
  'secretFormat',
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

/** Refuses any option that is not ours; a peer's option says what to write here instead. */
export function checkKnown(o: Record<string, unknown>): void {
  for (const key of Object.keys(o)) {
    if (KNOWN.has(key) && Object.hasOwn(o, key)) continue;
    const instead = PEER_OPTIONS[key];
    throw typeError(
      instead === undefined
        ? `options: unknown option ${JSON.stringify(key)}`
        : `options: ${JSON.stringify(key)} is connect-mongo's or connect-mongodb-session's; ${instead}`,
    );
  }
}

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
export function warnIfSeconds(ttl: number): void {
  // connect-mongo's ttl was in seconds: its 1209600 (14 days) is 20 minutes here.
  if (ttl > CONNECT_MONGO_DEFAULT_TTL_S) return;
  log('ttl is %d ms (%d min): warned once per process', ttl, Math.round(ttl / 60_000));
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `v` as a duration in milliseconds from `min` to `max`; `hint` names what else it may be. */
export function duration(
  name: string,
  v: unknown,
  min: number,
  hint = '',
  max = MAX_TIMER,
): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw typeError(
      `${name}: expected ${hint}milliseconds from ${min} to ${max}, got ${String(v)}${SHARED_DURATIONS.has(name) ? SECONDS_HINT : ''}`,
    );
  }
  return v;
}

export function flag(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw typeError(`${name}: expected a boolean, got ${String(v)}`);
  return v;
}

/** A collection name the server takes, for sessions: not empty, no `$` or NUL, not `system.`. */
export function collectionName(v: unknown): string {
  if (typeof v !== 'string' || v === '' || /[$\0]/.test(v) || v.startsWith('system.'))
    throw typeError(`collection: expected a collection name, got ${JSON.stringify(v)}`);
  return v;
}

export function serializerOf(v: unknown): SessionSerializer {
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
export function checkEncryptable(serializer: SessionSerializer, legacy: boolean): void {
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

/** The `secretFormat` option, checked: it needs `secret`. */
export function secretFormatOf(v: unknown, sealed: boolean): SecretFormat {
  if (v === undefined) return 'binary';
  if (v !== 'binary' && v !== 'text')
    throw typeError(`secretFormat: expected 'binary' or 'text', got another ${typeof v}`);
  if (!sealed) throw typeError('secretFormat: only with `secret`; without it nothing is sealed');
  return v;
}
