import type { mongo } from 'mongoose';
import { log } from './log.js';

/**
 * What the store knows of the server it talks to, from `buildInfo`: asked once per connect,
 * then read without a round trip by whoever needs it.
 */
export interface ServerProfile {
  /**
   * Which server: `'ferretdb1'` (FerretDB 1.x, `ferretdbVersion` v1), `'ferretdb2'` (FerretDB
   * 2.x, `ferretdb.version`), or `'mongodb'` for anything else, including a server that refused
   * `buildInfo` (a role without the right, say).
   */
  readonly server: 'mongodb' | 'ferretdb1' | 'ferretdb2';
  /** The version it gave (FerretDB's own for FerretDB); `undefined` when it gave none. */
  readonly version: string | undefined;
  /**
   * FerretDB 1.x's quirks: it answers only a lone `{ _id }` filter in SQL (any other filter
   * decodes the whole collection, for each operation), and its updates read, modify and write
   * back without a lock. A conditional write is then better read by `_id`, compared, and
   * written by `_id`.
   */
  readonly ferretdb1: boolean;
}

/** What a server that would not say is taken as: its filters are checked in the query. */
const PLAIN: ServerProfile = Object.freeze({
  server: 'mongodb',
  version: undefined,
  ferretdb1: false,
});

/** Per client, as a server is a fact about the client that reaches it. */
const known = new WeakMap<mongo.MongoClient, ServerProfile>();
/** A detection under way, per client. */
const asking = new WeakMap<mongo.MongoClient, Promise<ServerProfile>>();

/** The profile a `buildInfo` answer gives. */
export function profileFrom(info: mongo.Document): ServerProfile {
  const v1: unknown = info.ferretdbVersion;
  if (typeof v1 === 'string' && /^v?1\./.test(v1))
    return Object.freeze({ server: 'ferretdb1', version: v1, ferretdb1: true });
  const v2: unknown = (info.ferretdb as { version?: unknown } | undefined)?.version;
  if (typeof v2 === 'string')
    return Object.freeze({ server: 'ferretdb2', version: v2, ferretdb1: false });
  const version = typeof info.version === 'string' ? info.version : undefined;
  return Object.freeze({ server: 'mongodb', version, ferretdb1: false });
}

/**
 * Asks the server `db` reaches who it is; the store calls it on each connect, as the server
 * may have changed during an outage (the profile known till then stays in use meanwhile). A
 * detection under way for the same client is shared. Never rejects: a refusal gives the plain
 * MongoDB profile.
 */
export function detectProfile(db: mongo.Db): Promise<ServerProfile> {
  const client = db.client;
  const under = asking.get(client);
  if (under !== undefined) return under;
  const detection = db
    .admin()
    .command({ buildInfo: 1 })
    .then(profileFrom, () => {
      log('buildInfo refused: taken as a plain MongoDB');
      return PLAIN;
    })
    .then((profile) => {
      log('server: %s %s', profile.server, profile.version ?? '(no version)');
      known.set(client, profile);
      asking.delete(client);
      return profile;
    });
  asking.set(client, detection);
  return detection;
}

/** The profile of the server `db` reaches, once detected; `undefined` before. */
export function knownProfile(db: mongo.Db): ServerProfile | undefined {
  return known.get(db.client);
}

/** The profile of the server `db` reaches: at once when known, else once detected. */
export function profileOf(db: mongo.Db): ServerProfile | Promise<ServerProfile> {
  return known.get(db.client) ?? detectProfile(db);
}
