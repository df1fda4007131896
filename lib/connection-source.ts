import mongoose, { type Connection, type ConnectOptions, type mongo } from 'mongoose';
import { typeError } from './errors.js';
import { mergeUris } from './uris.js';

/**
 * Where the store's connection comes from, decided once by the options normaliser:
 * - `uri`: the store opens (and closes) a connection of its own, with `options` for mongoose;
 * - `connection`: a user's mongoose Connection, which the store only watches;
 * - `client`: a user's MongoClient (or the promise of one), which the store runs a mongoose
 *   Connection of its own on, and never closes.
 */
export type ConnectionSource =
  | { readonly kind: 'uri'; readonly uri: string; readonly options: ConnectOptions }
  | { readonly kind: 'connection'; readonly connection: Connection }
  | {
      readonly kind: 'client';
      readonly client: mongo.MongoClient | Promise<mongo.MongoClient>;
    };

/** The options that say where the connection comes from. */
export interface SourceOptions {
  connection?: unknown;
  client?: unknown;
  clientPromise?: unknown;
  connectionOptions?: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
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

/** What was given instead of a Connection, in words; never its contents. */
function kindOf(v: unknown): string {
  if (!isPlainObject(v)) return v === null ? 'null' : typeof v;
  if (typeof v.db === 'function' && typeof v.connect === 'function')
    return 'a MongoDB driver MongoClient: pass the mongoose Connection, or the URI as uris';
  if (typeof v.collection === 'function' && typeof v.databaseName === 'string')
    return 'a MongoDB driver Db: pass the mongoose Connection it comes from, or the URI as uris';
  return 'another object';
}

function checkClient(client: unknown): void {
  if (isMongooseClient(client)) return;
  throw typeError(
    `client: expected a MongoClient of mongoose's own driver (mongoose.mongo.MongoClient), got ${
      isPlainObject(client) && typeof client.db === 'function'
        ? 'a MongoClient of another copy of mongodb: pass its URI as uris instead'
        : kindOf(client)
    }`,
  );
}

/**
 * Validates where the connection comes from, and gives it as one {@link ConnectionSource}.
 * @throws TypeError when no source or more than one is given, or one is not what it says.
 */
export function sourceOf(
  uris: string | readonly string[] | null | undefined,
  given: SourceOptions,
): ConnectionSource {
  const { connection, client, clientPromise, connectionOptions } = given;
  if (client !== undefined) checkClient(client);
  if (
    clientPromise !== undefined &&
    typeof (clientPromise as { then?: unknown })?.then !== 'function'
  )
    throw typeError(
      `clientPromise: expected a promise of a MongoClient, got ${kindOf(clientPromise)}`,
    );
  const named = [
    uris === null || uris === undefined ? undefined : 'uris',
    connection === undefined ? undefined : 'connection',
    client === undefined ? undefined : 'client',
    clientPromise === undefined ? undefined : 'clientPromise',
  ].filter((s) => s !== undefined);
  if (named.length > 1) throw typeError(`${named.join(', ')}: give only one of them`);

  const mine = client ?? clientPromise;
  if (mine !== undefined) {
    if (connectionOptions !== undefined)
      throw typeError(
        'connectionOptions: not used with a client of your own; configure the client',
      );
    return { kind: 'client', client: mine as mongo.MongoClient | Promise<mongo.MongoClient> };
  }
  if (connection !== undefined) {
    if (!isConnection(connection))
      throw typeError(
        `connection: expected a mongoose Connection (mongoose.connection, or what mongoose.createConnection() returns), got ${kindOf(connection)}`,
      );
    if (connectionOptions !== undefined)
      throw typeError(
        'connectionOptions: only used when the store opens its own connection; not with connection',
      );
    return { kind: 'connection', connection };
  }
  if (uris === null || uris === undefined)
    throw typeError('uris: required unless options.connection, client or clientPromise is given');
  const options = connectionOptions ?? {};
  if (!isPlainObject(options)) throw typeError('connectionOptions: expected an object');
  return { kind: 'uri', uri: mergeUris(uris), options: options as ConnectOptions };
}
