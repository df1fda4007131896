import type { MongooseStoreOptions, MongooseStoreUris } from './options.js';
import { MongooseStore } from './store.js';

/**
 * Creates a {@link MongooseStore}.
 *
 * @param uris - one MongoDB URI (standalone or mongos), or an array of the members of one
 *   replica set; `null` when `options.connection`, `client` or `clientPromise` is given.
 * @param options - see {@link MongooseStoreOptions}.
 * @param callback - called once: with no error when the store is connected and its index
 *   checked, or with the error that stopped the first start (the store keeps retrying).
 * @throws TypeError for invalid or conflicting options.
 */
export function createStore(
  uris: MongooseStoreUris,
  options?: MongooseStoreOptions,
  callback?: (err?: Error) => void,
): MongooseStore {
  return new MongooseStore(uris, options, callback);
}
