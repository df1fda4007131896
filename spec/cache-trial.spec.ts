// Under `secret` a process keeps what the sealed values it wrote or read open to. Someone who
// can write to the database must gain nothing by it: a value this store just wrote or read,
// moved to another session, field or user, is refused as if nothing were kept.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SessionData } from 'express-session';
import { SessionCipher } from '../lib/cipher';
import type { MongooseStore } from '../lib/index';
import { cookie, note, sid, useDatabase } from './support/server';

const db = useDatabase('cachetrial');
const raw = () => db.db.collection<Record<string, unknown> & { _id: string }>('sessions');

const SECRET = 'a secret for the cache trial, thirty-two characters';
const OTHER = 'another secret for the cache trial, 32 characters';

function session(data: Record<string, unknown> = {}): SessionData {
  return { cookie: cookie(60_000), ...data } as unknown as SessionData;
}

function signedIn(user: string, data: Record<string, unknown> = {}): SessionData {
  return session({ passport: { user }, ...data });
}

/** The codes of the store's `error` events, as they come. */
function codes(store: MongooseStore): string[] {
  const seen: string[] = [];
  store.on('error', (err: Error & { code?: string }) => seen.push(String(err.code)));
  return seen;
}

/** Two sessions written and read back by `store`: each value it holds is kept, for its own. */
async function twoRead(store: MongooseStore, a = signedIn('ann'), b = signedIn('bob')) {
  const [ida, idb] = [sid(), sid()];
  await store.set(ida, a);
  await store.set(idb, b);
  const { cookie: _a, ...dataA } = a;
  const { cookie: _b, ...dataB } = b;
  expect(await store.get(ida)).toMatchObject(dataA);
  expect(await store.get(idb)).toMatchObject(dataB);
  return [ida, idb] as const;
}

describe('what a store keeps of opened values gives nothing to a database writer', () => {
  it.each([
    ['the cookie', ['cookie']],
    ['the data, with its user field', ['session', 'user']],
    ['the whole session', ['cookie', 'session', 'user']],
  ])('%s copied from a session it just read into another is refused', async (_what, fields) => {
    const store = await db.open({ secret: SECRET });
    const seen = codes(store);
    const [ida, idb] = await twoRead(store);
    const from = (await raw().findOne({ _id: ida })) as Record<string, unknown>;
    const $set = Object.fromEntries(fields.map((f) => [f, from[f]]));
    await raw().updateOne({ _id: idb }, { $set });
    expect(await store.get(idb)).toBeNull();
    expect(seen).toEqual(['ERR_SESSION_DECRYPT']);
    // The session the values came from still reads.
    expect(await store.get(ida)).toMatchObject({ passport: { user: 'ann' } });
  });

  it('data it just read, left beside another user’s hash or none, is refused', async () => {
    const store = await db.open({ secret: SECRET });
    const seen = codes(store);
    const [ida, idb] = await twoRead(store);
    const bob = (await raw().findOne({ _id: idb }))?.user;
    await raw().updateOne({ _id: ida }, { $set: { user: bob } });
    expect(await store.get(ida)).toBeNull();
    await raw().updateOne({ _id: ida }, { $unset: { user: '' } });
    expect(await store.get(ida)).toBeNull();
    expect(seen).toEqual(['ERR_SESSION_DECRYPT', 'ERR_SESSION_DECRYPT']);
  });

  it('its cookie and data swapped within one session are refused', async () => {
    // Signed out: the data is bound to no user, as the cookie is; only the field tells them apart.
    const store = await db.open({ secret: SECRET });
    const seen = codes(store);
    const [ida] = await twoRead(store, session({ n: 1 }));
    const doc = (await raw().findOne({ _id: ida })) as Record<string, unknown>;
    await raw().updateOne({ _id: ida }, { $set: { cookie: doc.session, session: doc.cookie } });
    expect(await store.get(ida)).toBeNull();
    expect(seen).toEqual(['ERR_SESSION_DECRYPT']);
  });

  it('a device copied from a session it wrote is not shown on another', async () => {
    const store = await db.open({ secret: SECRET, metadata: { userAgent: true } });
    // express-session hangs the request on the session, out of its data.
    const withDevice = (user: string, ua: string) =>
      Object.defineProperty(signedIn(user), 'req', { value: { headers: { 'user-agent': ua } } });
    const [ida, idb] = await twoRead(
      store,
      withDevice('ann', 'AnnBrowser/1'),
      withDevice('bob', 'BobBrowser/1'),
    );
    expect(await store.listByUser('ann')).toMatchObject([{ userAgent: 'AnnBrowser/1' }]);
    const from = await raw().findOne({ _id: ida });
    await raw().updateOne({ _id: idb }, { $set: { device: from?.device } });
    const [bob] = await store.listByUser('bob');
    expect(bob).toBeDefined();
    expect(bob?.userAgent).toBeUndefined();
  });

  it('a store under another secret in the same process refuses what this one wrote and read', async () => {
    const writer = await db.open({ secret: SECRET });
    const [ida] = await twoRead(writer);
    const other = await db.open({ secret: OTHER });
    const seen = codes(other);
    expect(await other.get(ida)).toBeNull();
    expect(seen).toEqual(['ERR_SESSION_DECRYPT']);
  });
});

describe('what a store keeps of opened values changes no answer', () => {
  it('a serializer that gives a lone surrogate reads back alike on the writer and on a fresh store', async () => {
    // Sealed as UTF-8, a lone surrogate opens as U+FFFD: the writer must say what any reader says.
    const lone = '\uD800';
    const serializer = {
      serialize: (v: Record<string, unknown>) => JSON.stringify(v).replaceAll('\\ud800', lone),
      deserialize: (s: unknown) => JSON.parse(String(s)) as Record<string, unknown>,
    };
    const writer = await db.open({ secret: SECRET, serializer });
    const id = sid();
    await writer.set(id, session({ text: `a${lone}b` }));
    const fresh = await db.open({ secret: SECRET, serializer });
    const elsewhere = (await fresh.get(id)) as unknown as { text: string };
    expect(elsewhere.text).toBe('a\uFFFDb');
    expect(((await writer.get(id)) as unknown as { text: string }).text).toBe(elsewhere.text);
  });

  it('a read after another instance wrote, then after the old values were put back, gives what is stored', async () => {
    const [a, b] = [await db.open({ secret: SECRET }), await db.open({ secret: SECRET })];
    const id = sid();
    await a.set(id, session({ n: 1 }));
    const first = await raw().findOne({ _id: id });
    expect(await a.get(id)).toMatchObject({ n: 1 });
    await b.set(id, session({ n: 2 }));
    expect(await a.get(id)).toMatchObject({ n: 2 });
    await raw().updateOne(
      { _id: id },
      { $set: { cookie: first?.cookie, session: first?.session } },
    );
    expect(await a.get(id)).toMatchObject({ n: 1 });
  });
});

describe('what a store keeps of opened values stays within its documented memory', () => {
  // docs/encryption.md: about 4 MiB (text in Latin-1), 8 MiB at most.
  it.each([
    // The smallest value a store seals: the data `{}` of a session nobody signed in to.
    ['the smallest values, in Latin-1', () => String.fromCharCode(123, 125)],
    ['small values beyond Latin-1', () => JSON.stringify({ n: 'ж' })],
  ])('holds about 4 MiB of %s, and stops growing', (_what, plain) => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const MiB = 1024 * 1024;
    const before = heap();
    const cipher = new SessionCipher([SECRET]);
    // Under ids as long as express-session's; each id and each text a string of its own, as
    // each request's are.
    const id = (i: number) => String(i).padStart(32, 'x');
    let last: unknown = '';
    const fill = (from: number, to: number) => {
      for (let i = from; i < to; i++) last = cipher.seal(id(i), 'session', plain());
    };
    fill(0, 40_000);
    const half = heap() - before;
    fill(40_000, 80_000);
    const full = heap() - before;
    // The cipher lives on past the measure, and its last value still opens.
    expect(cipher.open(id(79_999), 'session', last)).toBe(plain());
    note(
      `${_what}: ${(half / MiB).toFixed(2)} MiB after 40k, ${(full / MiB).toFixed(2)} after 80k`,
    );
    expect(full).toBeLessThan(5 * MiB);
    expect(full - half).toBeLessThan(MiB);
  });
});
