import type { mongo } from 'mongoose';
import { MongooseStoreError } from './errors.js';
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

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

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

/**
 * Makes sure the TTL index exists with the declared options, alone in its own call (FerretDB
 * fails a whole createIndexes batch over one TTL spec).
 *
 * An index on the same key with other options is changed in place with `collMod`; if the
 * server will not, the result is an `ERR_INDEX_CONFLICT` naming the index, never a silent
 * second index. A server without TTL indexes gives `{ ttl: false }`, not an error.
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
        const had =
          existing.expireAfterSeconds === undefined
            ? 'no TTL'
            : `expireAfterSeconds ${existing.expireAfterSeconds}`;
        throw new MongooseStoreError(
          'ERR_INDEX_CONFLICT',
          `index ${JSON.stringify(existing.name)} on ${coll.collectionName}.${Object.keys(key).join(',')} has ${had}; ` +
            `it could not be changed to expireAfterSeconds ${expireAfterSeconds} (${(err as Error).message}). ` +
            'Drop it, or set autoIndex: false and manage the index yourself.',
          err,
        );
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
