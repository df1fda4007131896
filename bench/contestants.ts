// The stores under test, behind one interface. Every one is called the way express-session
// calls a store: with callbacks (ours also takes them), so no one pays for an adapter the
// others skip.
import { promisify } from 'node:util';
import { MongoStore as ConnectMongo } from 'connect-mongo';
import connectMongoDBSession from 'connect-mongodb-session';
import { MongooseStore, type MongooseStoreOptions } from 'connect-mongoose-session';
import session, { type SessionData, type Store } from 'express-session';
import mongoose, { mongo } from 'mongoose';
import type { CommandClient, CommandLog } from './commands';
import { REQUEST } from './fixtures';

/** One store, or the raw driver, doing the round trips a session store does. */
export interface Contestant {
  name: string;
  get(sid: string): Promise<SessionData | null | undefined>;
  set(sid: string, s: SessionData): Promise<void>;
  /** Absent when the store has none (connect-mongodb-session): its rows show n/a. */
  touch?(sid: string, s: SessionData): Promise<void>;
  /**
   * What express-session does as a request starts: `get`, then the store's `createSession`
   * over it. Resolves to the request's session, the object express-session later hands to
   * `touch` or `set` (`null` when missing).
   */
  load(sid: string): Promise<SessionData | null>;
  destroy(sid: string): Promise<void>;
  /** Absent when the store has none (connect-mongodb-session): its rows show n/a. */
  length?(): Promise<number>;
  /** The live sessions of one user, as `listByUser` gives them. Absent when the store has none. */
  listByUser?(userId: string): Promise<unknown[]>;
  /** Deletes the live sessions of one user; resolves to how many. Absent when the store has none. */
  destroyByUser?(userId: string): Promise<number>;
  /**
   * Inserts `n` documents in this store's own format, every other one expired; or, given
   * `users`, all live and spread over that many users (`user-0`, `user-1`…) as passport
   * would store them, with the user field where the store keeps one.
   */
  seed(n: number, users?: number): Promise<void>;
  /** The express-session store, for the HTTP cycle; none for the raw driver. */
  store?: Store;
  /** Its round trips, when it was opened with a {@link CommandLog}. */
  commands?: CommandLog;
  /**
   * Wraps each of its timed batches (and its warm-up): what must hold while it alone runs,
   * such as a process-wide tracing subscription. None: the batch runs as it is.
   */
  around?<T>(batch: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Where contestants live: the server's URI (with the bench database) and a handle to seed with. */
export interface Arena {
  uri: string;
  db: mongo.Db;
}

function callbacks(
  name: string,
  store: Store,
  collection: mongo.Collection,
  seedDoc: SeedDoc,
): Contestant {
  const get = promisify(store.get.bind(store));
  const set = promisify(store.set.bind(store));
  // express-session's Store declares touch and length optional, and some stores lack them.
  const touch = store.touch && promisify(store.touch.bind(store));
  const destroy = promisify(store.destroy.bind(store));
  const length = store.length && promisify(store.length.bind(store));
  return {
    name,
    store,
    get: (sid) => get(sid),
    load: async (sid) => {
      const loaded = await get(sid);
      if (loaded == null) return null;
      // All express-session reads of its request: the id, and where to put the session;
      // and what a store recording devices reads (express-session attaches it to the session).
      const req = { sessionID: sid, ...REQUEST } as unknown as Parameters<
        Store['createSession']
      >[0];
      return store.createSession(req, loaded);
    },
    set: (sid, s) => set(sid, s),
    touch: touch && ((sid, s) => touch(sid, s)),
    destroy: (sid) => destroy(sid),
    length: length && (async () => (await length()) as number),
    seed: (n, users) => seed(collection, n, seedDoc, users),
    close: async () => {},
  };
}

/** A document in a store's format; `user` is passport's user of the session, if any. */
type SeedDoc = (id: string, at: Date, user?: string) => mongo.Document;

async function seed(
  coll: mongo.Collection,
  n: number,
  doc: SeedDoc,
  users?: number,
): Promise<void> {
  await coll.deleteMany({});
  const now = Date.now();
  for (let i = 0; i < n; i += 5_000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 5_000); j++) {
      // With users: all live, expiries spread over an hour, so that a user's list sorts.
      const at = users
        ? now + 3_600_000 + (j % 3_600) * 1_000
        : now + (j % 2 ? -60_000 : 3_600_000);
      batch.push(doc(`seed-${j}`, new Date(at), users ? `user-${j % users}` : undefined));
    }
    await coll.insertMany(batch, { ordered: false });
  }
}

const payload = (at: Date) => ({
  cookie: { originalMaxAge: 86_400_000, expires: at, httpOnly: true, path: '/' },
});

/** A document in our format; the raw driver seeds the same, so both count the same data. */
const oursDoc: SeedDoc = (id, at, user) => ({
  _id: id,
  expiresAt: at,
  cookie: JSON.stringify(payload(at).cookie),
  session: JSON.stringify(user === undefined ? { user: id } : { passport: { user } }),
  ...(user === undefined ? {} : { user }),
});

/** A client that reports its round trips to `log`: `monitorCommands` costs every contestant alike. */
const monitored = (log?: CommandLog) => (log === undefined ? {} : { monitorCommands: true });

/** A `secret` for the rows that measure encryption: not a real one, and never used elsewhere. */
export const BENCH_SECRET = 'benchmark secret, 32 characters or more, not for use';

/** `touchAfter` as a row sets it: a number (ours in ms, connect-mongo in s), or the store's own default. */
export type TouchAfter = number | 'default';

/**
 * Our store; given a log, on a connection of its own that reports its round trips there;
 * given `secret`, encrypting. `touchAfter` in ms; `'default'` leaves the option out (adaptive).
 * `Store`: the class, when another build of it runs (a baseline).
 */
export async function ours(
  arena: Arena,
  name: string,
  collection: string,
  touchAfter: TouchAfter = 0,
  log?: CommandLog,
  secret?: string,
  extra: Partial<MongooseStoreOptions> = {},
  Store: typeof MongooseStore = MongooseStore,
): Promise<Contestant> {
  const connection =
    log === undefined
      ? undefined
      : await mongoose.createConnection(arena.uri, monitored(log)).asPromise();
  if (connection !== undefined) log?.watch(connection.getClient());
  let store: MongooseStore | undefined;
  await new Promise<void>((ok, fail) => {
    // No sweeper: a sweep landing inside a timed batch would hold SQLite's write lock.
    store = new Store(
      connection === undefined ? arena.uri : null,
      {
        collection,
        ...(touchAfter !== 'default' && { touchAfter }),
        lifecheck: -1,
        connection,
        ...(secret && { secret }),
        ...extra,
      },
      (err) => (err ? fail(err) : ok()),
    );
  });
  const s = store as MongooseStore;
  const c = callbacks(name, s, arena.db.collection(collection), oursDoc);
  c.listByUser = (userId) => s.listByUser(userId);
  c.destroyByUser = (userId) => s.destroyByUser(userId);
  c.commands = log;
  c.close = async () => {
    await s.close();
    // The store never closes a connection it was given.
    await connection?.close();
  };
  return c;
}

/**
 * connect-mongo, with the autoRemove mode the server supports; `touchAfterS` in seconds, its
 * unit, or `'default'` to leave the option out (its default: 0, every touch writes).
 */
export async function connectMongo(
  arena: Arena,
  name: string,
  collectionName: string,
  ttlIndexes: boolean,
  touchAfterS: TouchAfter = 0,
  log?: CommandLog,
) {
  const store = ConnectMongo.create({
    mongoUrl: arena.uri,
    mongoOptions: monitored(log),
    collectionName,
    autoRemove: ttlIndexes ? 'native' : 'interval',
    // 'interval' is the mode that works without TTL indexes; a day (in minutes) keeps its
    // sweep out of the timed batches, as lifecheck -1 does for ours.
    autoRemoveInterval: 1_440,
    ...(touchAfterS !== 'default' && { touchAfter: touchAfterS }),
  });
  const c = callbacks(
    name,
    store as unknown as Store,
    arena.db.collection(collectionName),
    (id, at) => ({
      _id: id,
      expires: at,
      session: JSON.stringify({ ...payload(at), user: id }),
    }),
  );
  // connect-mongo's own client, which it closes itself; its driver is not mongoose's copy.
  log?.watch(await (store as unknown as { clientP: Promise<CommandClient> }).clientP);
  c.commands = log;
  c.close = async () => {
    await store.close().catch(() => {});
  };
  return c;
}

/** connect-mongodb-session; its start-up error, if any, is the finding. */
export async function connectMongoDBSessionStore(
  arena: Arena,
  collection: string,
  log?: CommandLog,
): Promise<Contestant | Error> {
  const MongoDBStore = connectMongoDBSession(session);
  const store = new MongoDBStore({
    uri: arena.uri,
    collection,
    connectionOptions: monitored(log),
  });
  const failure = await new Promise<Error | undefined>((ok) => {
    store.on('error', (err: Error) => ok(err));
    setTimeout(() => ok(undefined), 2_000);
  });
  if (failure) return failure;
  const client = (store as unknown as { client: mongo.MongoClient }).client;
  log?.watch(client);
  const c = callbacks(
    'connect-mongodb-session',
    store as unknown as Store,
    arena.db.collection(collection),
    (id, at) => ({
      _id: id,
      expires: at,
      session: { ...payload(at), user: id },
    }),
  );
  c.commands = log;
  c.close = async () => {
    await client.close().catch(() => {});
  };
  return c;
}

/** Our document, as the raw driver types it. */
interface RawDoc {
  _id: string;
  expiresAt: Date;
  cookie: string;
  session: string;
  user?: string;
}
type RawUpdate = mongo.UpdateFilter<RawDoc>;

/**
 * The indexes our store keeps, so that each write costs the server what ours costs: the TTL
 * index on `expiresAt` (where the server has TTL indexes; FerretDB 1.x refuses it, and ours
 * then keeps none either) and the index on `user` (sign out everywhere, on by default).
 */
async function sameIndexes(coll: mongo.Collection<RawDoc>): Promise<void> {
  await coll.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 }).catch(() => {});
  await coll.createIndex({ user: 1 });
}

/**
 * The raw driver doing our store's work with nothing around it: the physical limit. The same
 * document (cookie and data apart, both JSON strings, `user` where passport has one), the same
 * filters and updates, the same indexes ({@link sameIndexes}), one round trip per operation as
 * ours:
 * - `get`: findOne by `_id`, the expiry checked here, both fields parsed, the expiry put back
 *   into the cookie;
 * - `set`: `$set` of expiry, cookie, data, user (or `$unset` of user) and `lastSeenAt`,
 *   `$unset` of a peer's fields, `$setOnInsert` of `createdAt`, with upsert;
 * - `touch`: `$set` of expiry and `lastSeenAt`, and of the cookie when it changed beyond its
 *   expiry, filtered by `_id` alone for a session `load` gave (express-session loaded it live
 *   in this request); else the cookie too, filtered by `_id` and a live expiry, as ours
 *   treats a direct touch of a session it never read.
 */
export async function rawDriver(arena: Arena, collection: string): Promise<Contestant> {
  const client = await mongo.MongoClient.connect(arena.uri);
  const coll = client.db().collection<RawDoc>(collection);
  await sameIndexes(coll);
  const live = (user: string) => ({ user, expiresAt: { $gt: new Date() } });
  const expiry = (s: SessionData) => new Date(s.cookie.expires ?? Date.now() + 86_400_000);
  // The sessions `load` gave, with their cookie but its expiry, as our store keeps a record
  // of what express-session loaded.
  const inRequest = new WeakMap<object, string>();
  const shape = (cookie: SessionData['cookie']) => JSON.stringify({ ...cookie, expires: null });
  const get = async (sid: string): Promise<SessionData | null> => {
    const doc = await coll.findOne({ _id: sid });
    if (doc === null || doc.expiresAt.getTime() <= Date.now()) return null;
    const cookie = JSON.parse(doc.cookie);
    if (cookie.expires != null) cookie.expires = doc.expiresAt.toISOString();
    return { cookie, ...JSON.parse(doc.session) };
  };
  return {
    name: 'raw driver',
    get,
    async load(sid) {
      const s = await get(sid);
      if (s !== null) inRequest.set(s, shape(s.cookie));
      return s;
    },
    async set(sid, s) {
      const { cookie, ...data } = s;
      const user = (s as { passport?: { user?: unknown } }).passport?.user;
      const $set: Record<string, unknown> = {
        expiresAt: expiry(s),
        cookie: JSON.stringify(cookie),
        session: JSON.stringify(data),
        lastSeenAt: new Date(),
      };
      const $unset: Record<string, ''> = { expires: '', lastModified: '' };
      if (typeof user === 'string') $set.user = user;
      else $unset.user = '';
      const $setOnInsert = { createdAt: $set.lastSeenAt };
      await coll.updateOne({ _id: sid }, { $set, $unset, $setOnInsert } as RawUpdate, {
        upsert: true,
      });
    },
    async touch(sid, s) {
      const loaded = inRequest.get(s);
      const filter = loaded ? { _id: sid } : { _id: sid, expiresAt: { $gt: new Date() } };
      const $set: Record<string, unknown> = { expiresAt: expiry(s), lastSeenAt: new Date() };
      if (loaded !== shape(s.cookie)) $set.cookie = JSON.stringify(s.cookie);
      await coll.updateOne(filter, { $set } as RawUpdate);
    },
    async destroy(sid) {
      await coll.deleteOne({ _id: sid });
    },
    length: () => coll.countDocuments({ expiresAt: { $gt: new Date() } }),
    async listByUser(user) {
      const docs = await coll.find(live(user)).sort({ expiresAt: -1 }).toArray();
      return docs.map((d) => ({
        id: d._id,
        expiresAt: d.expiresAt,
        session: { cookie: JSON.parse(d.cookie), ...JSON.parse(d.session) },
      }));
    },
    async destroyByUser(user) {
      return (await coll.deleteMany(live(user))).deletedCount;
    },
    async seed(n, users) {
      await seed(coll as unknown as mongo.Collection, n, oursDoc, users);
    },
    close: () => client.close(),
  };
}
