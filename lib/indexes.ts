import type { mongo } from 'mongoose';
import { codeOf, MongooseStoreError } from './errors.js';
import { log } from './log.js';

/** The server's answer to our TTL index. */
export type TtlIndexOutcome = { ttl: true } | { ttl: false; reason: Error };

/** An index declaration as mongoose's `schema.indexes()` gives it. */
export type IndexSpec = [Record<string, 1 | -1>, { expireAfterSeconds?: number; name?: string }];

// Codes meaning "this server has no TTL indexes": FerretDB answers NotImplemented (238);
// others answer CommandNotFound (59), CommandNotSupported (115) or CannotCreateIndex (67,
// Cosmos DB's "TTL only on _ts").
const NO_TTL = new Set([59, 67, 115, 238]);
const NAMESPACE_NOT_FOUND = 26;
const OPTIONS_CONFLICT = new Set([85, 86]);
// collMod answers InvalidOptions when it will not turn an index without TTL into a TTL index:
// mongod before 5.1, and DocumentDB (FerretDB 2.x), "no expireAfterSeconds field to update".
// Only dropping that index lets the TTL index be built.
const INVALID_OPTIONS = 72;

function sameKey(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Number(a[k]) === Number(b[k]));
}

async function listIndexes(coll: mongo.Collection): Promise<mongo.Document[]> {
  try {
    return await coll.listIndexes().toArray();
  } catch (err) {
    if (codeOf(err) === NAMESPACE_NOT_FOUND) return [];
    throw err;
  }
}

/** The error for an index on our key that the server would not change to our options. */
function conflict(
  coll: mongo.Collection,
  key: Record<string, 1 | -1>,
  existing: mongo.Document,
  expireAfterSeconds: number,
  err: unknown,
): MongooseStoreError {
  const had = existing.expireAfterSeconds;
  const why =
    had === undefined && codeOf(err) === INVALID_OPTIONS
      ? 'this server cannot turn an index without TTL into a TTL index'
      : `it could not be changed to expireAfterSeconds ${expireAfterSeconds}`;
  return new MongooseStoreError(
    'ERR_INDEX_CONFLICT',
    `index ${JSON.stringify(existing.name)} on ${coll.collectionName}.${Object.keys(key).join(',')} ` +
      `has ${had === undefined ? 'no TTL' : `expireAfterSeconds ${had}`}; ${why} ` +
      `(${(err as Error).message}). Drop it, and the store builds its TTL index on its next ` +
      'start; or set autoIndex: false and manage the index yourself. Until then the sweeper ' +
      'deletes expired sessions, unless lifecheck is -1.',
    err,
  );
}

/**
 * Makes sure the TTL index exists with the declared options, alone in its own call (FerretDB
 * fails a whole createIndexes batch over one TTL spec).
 *
 * An index on the same key with other options is changed in place with `collMod`; if the
 * server will not (mongod before 5.1 and DocumentDB refuse to add a TTL to an index without
 * one), the result is an `ERR_INDEX_CONFLICT` naming the index and its fix, never a silent
 * second index; the caller then sweeps. A server without TTL indexes gives `{ ttl: false }`,
 * not an error.
 */
export async function ensureTtlIndex(
  coll: mongo.Collection,
  [key, options]: IndexSpec,
): Promise<TtlIndexOutcome> {
  const expireAfterSeconds = options.expireAfterSeconds ?? 0;
  for (let attempt = 0; ; attempt++) {
    const existing = (await listIndexes(coll)).find((ix) => sameKey(ix.key, key));
    if (existing?.expireAfterSeconds === expireAfterSeconds) return { ttl: true };
    if (existing !== undefined) {
      try {
        await coll.db.command({
          collMod: coll.collectionName,
          index: { name: existing.name, expireAfterSeconds },
        });
        log('index %s changed to expireAfterSeconds %d', existing.name, expireAfterSeconds);
        return { ttl: true };
      } catch (err) {
        if (NO_TTL.has(codeOf(err) as number)) return { ttl: false, reason: err as Error };
        throw conflict(coll, key, existing, expireAfterSeconds, err);
      }
    }
    try {
      await coll.createIndex(key, {
        expireAfterSeconds,
        name: options.name ?? `${Object.keys(key)[0]}_1`,
      });
      return { ttl: true };
    } catch (err) {
      if (NO_TTL.has(codeOf(err) as number)) return { ttl: false, reason: err as Error };
      // Another instance created a differing index between our look and our create: look again.
      if (attempt === 0 && OPTIONS_CONFLICT.has(codeOf(err) as number)) continue;
      throw err;
    }
  }
}
