import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { Cookie } from 'express-session';
import { mongo } from 'mongoose';
import {
  type MongooseStore,
  type MongooseStoreOptions,
  MongooseStore as Store,
} from '../../lib/index';
import { formatUri, parseUri } from '../../lib/uris';
import type { Capabilities, Capability } from '../../tools/capabilities';
import { addNote } from './notes';

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined)
    throw new Error(`${name} is not set: run the specs through jest (globalSetup sets it)`);
  return v;
}

/** The server of this run, as the global setup resolved and probed it. */
export const server = {
  uri: env('CMS_TEST_URI'),
  kind: env('CMS_TEST_KIND'),
  caps: JSON.parse(env('CMS_TEST_CAPS')) as Capabilities,
  replSetUri: env('CMS_TEST_REPLSET_URI'),
  replSetCaps: JSON.parse(env('CMS_TEST_REPLSET_CAPS')) as Capabilities,
  mongodBinary: env('CMS_TEST_MONGOD_BINARY'),
};

/** `uri` with its database set to `db`. */
export function withDatabase(uri: string, db: string): string {
  return formatUri({ ...parseUri(uri), database: db });
}

/** A database name no other spec file or run uses. */
export function uniqueDatabase(label: string): string {
  return `cms_${label.replace(/\W/g, '_').slice(0, 20)}_${randomBytes(4).toString('hex')}`;
}

/**
 * A collection name no other test uses. A test that opens its store on one has indexes of its
 * own: nothing another test created or left behind can change what it sees.
 */
export function uniqueCollection(label = 'sessions'): string {
  return `${label}_${randomBytes(4).toString('hex')}`;
}

/** A real express-session Cookie with `maxAge` ms, as express-session hands it to a store. */
export function cookie(maxAge = 60_000): Cookie {
  const c = new Cookie();
  c.maxAge = maxAge;
  return c;
}

/** A fresh session id. */
export function sid(): string {
  return randomBytes(12).toString('base64url');
}

/** The spec file running now, by its base name. */
function specFile(): string {
  return basename(expect.getState().testPath ?? '');
}

/**
 * `describe` when the server has `cap`; otherwise `describe.skip`, with the reason in the
 * run's closing summary.
 */
export function describeIf(
  cap: Capability,
  title: string,
  body: () => void,
  file = expect.getState().testPath ?? '',
): void {
  if (cap.ok) {
    describe(title, body);
    return;
  }
  addNote({ kind: 'skip', file: basename(file), title, reason: cap.reason });
  describe.skip(title, body);
}

/**
 * `it` when `cap` holds; otherwise `it.skip`, with the reason in the run's closing summary.
 * `timeout` is in milliseconds, as for `it`.
 */
export function itIf(
  cap: Capability,
  title: string,
  body: jest.ProvidesCallback,
  timeout?: number,
): void {
  if (cap.ok) {
    it(title, body, timeout);
    return;
  }
  addNote({ kind: 'skip', file: specFile(), title, reason: cap.reason });
  it.skip(title, body, timeout);
}

/**
 * Keeps one line a spec measured (a count, a duration) for the run's closing summary, under
 * the spec file's name; `console.log` would print a block with a stack line instead. Never
 * put a session id or session data in it.
 */
export function note(text: string): void {
  addNote({ kind: 'note', file: specFile(), text });
}

/**
 * Gives a spec file its own database on the run's server, a raw driver handle to inspect
 * it, and stores that are closed after each test. The database is dropped after the file.
 */
export interface TestDatabase {
  name: string;
  uri: string;
  client: mongo.MongoClient;
  readonly db: mongo.Db;
  stores: MongooseStore[];
  open(options?: MongooseStoreOptions, uris?: string | string[]): Promise<MongooseStore>;
}

export function useDatabase(label: string, baseUri = server.uri): TestDatabase {
  const name = uniqueDatabase(label);
  const ctx: TestDatabase = {
    name,
    uri: baseUri === '' ? '' : withDatabase(baseUri, name),
    client: undefined as unknown as mongo.MongoClient,
    get db(): mongo.Db {
      return ctx.client.db(name);
    },
    stores: [] as MongooseStore[],
    /** Opens a store on this database and waits until it is ready (connected, index checked). */
    async open(
      options: MongooseStoreOptions = {},
      uris: string | string[] = ctx.uri,
    ): Promise<MongooseStore> {
      let store: MongooseStore | undefined;
      await new Promise<void>((ok, fail) => {
        store = new Store(uris, options, (err) => (err ? fail(err) : ok()));
        ctx.stores.push(store);
      });
      return store as MongooseStore;
    },
  };
  beforeAll(async () => {
    ctx.client = await mongo.MongoClient.connect(baseUri, { serverSelectionTimeoutMS: 5_000 });
  });
  afterEach(async () => {
    await Promise.all(ctx.stores.splice(0).map((s) => s.close()));
    if (ctx.client === undefined) return;
    // Each test starts from an empty collection; its indexes stay, as in production.
    await ctx.client.db(name).collection('sessions').deleteMany({});
  });
  afterAll(async () => {
    if (ctx.client === undefined) return;
    await ctx.client.db(name).dropDatabase();
    await ctx.client.close();
  });
  return ctx;
}

/** Polls `check` until it holds or `ms` pass; for conditions with no event to wait on. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
