import { AsyncLocalStorage } from 'node:async_hooks';
import type { Request } from 'express';
import type { SessionData } from 'express-session';
import {
  createStore,
  MongooseStore,
  MongooseStoreError,
  type MongooseStoreOptions,
} from '../lib/index';
import { cookie, sid, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('store');
const sessions = (name = 'sessions') =>
  db.db.collection<{ _id: string; expiresAt: Date; cookie: unknown; session: unknown }>(name);

/** A session as express-session hands it to a store: a real Cookie plus data. */
function session(data: Record<string, unknown> = {}, maxAge = 60_000): SessionData {
  return { cookie: cookie(maxAge), ...data } as unknown as SessionData;
}

/**
 * Session `id` as a request holds it at its end: read by `get`, its cookie moved `ms` later
 * (express-session resets the cookie's maxAge before it touches).
 */
async function loaded(store: MongooseStore, id: string, ms: number): Promise<SessionData> {
  const s = (await store.get(id)) as SessionData;
  s.cookie.expires = new Date(new Date(s.cookie.expires as Date).getTime() + ms);
  return s;
}

/** What MemoryStore would give back for `s`. */
const roundTrip = (s: unknown) => JSON.parse(JSON.stringify(s));

/**
 * A store on a collection of the test's own that no TTL index covers (autoIndex: false) and no
 * sweeper sweeps: on any server, an expired document stays until the store itself deletes it.
 */
async function storeNobodyExpires(options: MongooseStoreOptions = {}) {
  const name = uniqueCollection();
  const store = await db.open({ collection: name, autoIndex: false, lifecheck: -1, ...options });
  return { store, coll: sessions(name) };
}

async function storeExpired(id: string, coll = sessions()): Promise<void> {
  await coll.insertOne({
    _id: id,
    expiresAt: new Date(Date.now() - 1_000),
    cookie: JSON.stringify({ originalMaxAge: 1 }),
    session: JSON.stringify({ stale: true }),
  });
}

describe('MongooseStore', () => {
  it('is an express-session Store made by createStore or new', async () => {
    const store = await db.open();
    expect(store).toBeInstanceOf(MongooseStore);
    const other = createStore(db.uri, { lifecheck: -1 });
    db.stores.push(other);
    expect(typeof other.on).toBe('function');
    expect(typeof other.regenerate).toBe('function');
  });

  it('throws a TypeError at construction for invalid options, naming the option', () => {
    expect(() => new MongooseStore(db.uri, { ttl: -5 })).toThrow(/^connect-mongoose-session: ttl:/);
    expect(() => createStore(db.uri, { lifecheck: 0 })).toThrow(TypeError);
    expect(() => new MongooseStore(db.uri, {}, 'nope' as never)).toThrow(
      /callback: expected a function/,
    );
  });

  describe('set and get', () => {
    it('returns exactly what a JSON round trip gives, as MemoryStore does', async () => {
      const store = await db.open();
      const id = sid();
      const s = session({
        user: { id: 7, roles: ['a', 'b'] },
        when: new Date(0),
        n: 1.5,
        nil: null,
        skip: undefined,
      });
      await store.set(id, s);
      expect(await store.get(id)).toEqual(roundTrip(s));
    });

    it('stores one document: _id is the session id and expiresAt a BSON Date', async () => {
      const store = await db.open();
      const id = sid();
      const s = session({ a: 1 });
      await store.set(id, s);
      const doc = await sessions().findOne({ _id: id, expiresAt: { $type: 'date' } });
      expect(doc?.expiresAt.getTime()).toBe(s.cookie.expires?.getTime());
      expect(await sessions().countDocuments()).toBe(1);
    });

    it('gives null for a session that was never stored', async () => {
      const store = await db.open();
      expect(await store.get(sid())).toBeNull();
    });

    it('never returns an expired session the server has not deleted yet', async () => {
      const { store, coll } = await storeNobodyExpires();
      const id = sid();
      await storeExpired(id, coll);
      expect(await store.get(id)).toBeNull();
      expect(await coll.countDocuments({ _id: id })).toBe(1);
    });

    it('replaces the data of an existing session', async () => {
      const store = await db.open();
      const id = sid();
      await store.set(id, session({ n: 1, gone: true }));
      await store.set(id, session({ n: 2 }));
      expect(await store.get(id)).toMatchObject({ n: 2 });
      expect(await store.get(id)).not.toHaveProperty('gone');
    });

    it('uses now + ttl when the cookie has no expiry', async () => {
      const store = await db.open({ ttl: 3_600_000 });
      const id = sid();
      const before = Date.now();
      await store.set(id, {
        cookie: { originalMaxAge: null, expires: null },
      } as unknown as SessionData);
      const doc = await sessions().findOne({ _id: id });
      expect(doc?.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 3_600_000);
      expect(doc?.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 3_600_000);
    });

    it('deletes the session when its expiry is already past', async () => {
      // Nothing else deletes here: the store must, rather than store an expired document.
      const { store, coll } = await storeNobodyExpires();
      const id = sid();
      await store.set(id, session({ a: 1 }));
      await store.set(id, {
        cookie: { expires: new Date(Date.now() - 1) },
      } as unknown as SessionData);
      expect(await coll.countDocuments({ _id: id })).toBe(0);
    });

    it('deletes the session when a ttl function gives 0', async () => {
      const { store, coll } = await storeNobodyExpires({ ttl: () => 0 });
      const id = sid();
      await coll.insertOne({
        _id: id,
        expiresAt: new Date(Date.now() + 60_000),
        cookie: '{}',
        session: '{}',
      });
      await store.set(id, { cookie: { expires: null } } as unknown as SessionData);
      expect(await coll.countDocuments({ _id: id })).toBe(0);
    });

    it('lets concurrent first saves of one id all succeed, the last one winning', async () => {
      const store = await db.open();
      const id = sid();
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => store.set(id, session({ i }))),
      );
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(await sessions().countDocuments({ _id: id })).toBe(1);
    });

    // 2,000 operations on one collection: a server that scans for each _id (FerretDB 1.x) on
    // a loaded machine needs far more than the default 30 s; what counts is the result.
    it('keeps 1000 concurrent sets and gets consistent', async () => {
      const store = await db.open();
      const ids = Array.from({ length: 1000 }, (_, i) => [sid(), i] as const);
      await Promise.all(ids.map(([id, i]) => store.set(id, session({ i }))));
      const back = await Promise.all(ids.map(([id]) => store.get(id)));
      expect(back.map((s) => (s as unknown as { i: number }).i)).toEqual(ids.map(([, i]) => i));
      expect(await store.length()).toBe(1000);
      // FerretDB 1.x scans its table on every write by _id: under load this alone takes 20 s.
    }, 120_000);
  });

  describe('touch', () => {
    it('moves expiresAt and the stored cookie forward, leaving the data alone', async () => {
      const store = await db.open();
      const id = sid();
      await store.set(id, session({ keep: 'me' }, 10_000));
      const later = session({ keep: 'stale copy' }, 600_000);
      await store.touch(id, later);
      const doc = await sessions().findOne({ _id: id });
      expect(doc?.expiresAt.getTime()).toBe(later.cookie.expires?.getTime());
      const back = (await store.get(id)) as unknown as {
        keep: string;
        cookie: { expires: string };
      };
      expect(back.keep).toBe('me');
      expect(back.cookie.expires).toBe(later.cookie.expires?.toISOString());
    });

    it('creates nothing and reports no error for a missing session', async () => {
      const store = await db.open();
      const id = sid();
      await expect(store.touch(id, session())).resolves.toBeUndefined();
      expect(await sessions().countDocuments({ _id: id })).toBe(0);
    });

    it('skips the write while the stored expiry is younger than touchAfter', async () => {
      const store = await db.open({ touchAfter: 60_000 });
      const id = sid();
      const first = session({}, 600_000);
      await store.set(id, first);
      await store.touch(id, await loaded(store, id, 1_000));
      expect((await sessions().findOne({ _id: id }))?.expiresAt.getTime()).toBe(
        first.cookie.expires?.getTime(),
      );
    });

    it('writes a touch of a session it did not load (no get before), if the session is live', async () => {
      // Nothing is known of a session object it never read: the touch is written, guarded
      // by the stored expiry, so an expired session stays missing.
      const store = await db.open({ touchAfter: 60_000 });
      const id = sid();
      await store.set(id, session({}, 600_000));
      const later = session({}, 600_000 + 1_000);
      await store.touch(id, later);
      expect((await sessions().findOne({ _id: id }))?.expiresAt.getTime()).toBe(
        later.cookie.expires?.getTime(),
      );
    });

    it('still calls back once and asynchronously when it skips the write', async () => {
      const store = await db.open({ touchAfter: 60_000 });
      const id = sid();
      await store.set(id, session({}, 600_000));
      const held = await loaded(store, id, 1_000);
      let sync = true;
      const calls: unknown[] = [];
      await new Promise<void>((done) => {
        store.touch(id, held, (err) => {
          calls.push(err);
          done();
        });
        sync = false;
      });
      await new Promise((r) => setImmediate(r));
      expect(sync).toBe(false);
      expect(calls).toEqual([null]);
    });

    it("calls back a skipped touch in its caller's AsyncLocalStorage context", async () => {
      // Tracing and request-scoped loggers read the context in express-session's touch
      // callback (it ends the response). Two requests touching in one tick must each get theirs.
      const store = await db.open({ touchAfter: 60_000 });
      const id = sid();
      await store.set(id, session({}, 600_000));
      const held = await loaded(store, id, 1_000);
      const requestContext = new AsyncLocalStorage<string>();
      const seen = await Promise.all(
        ['request A', 'request B', 'request C'].map(
          (name) =>
            new Promise<string | undefined>((done) =>
              requestContext.run(name, () =>
                store.touch(id, held, () => done(requestContext.getStore())),
              ),
            ),
        ),
      );
      expect(seen).toEqual(['request A', 'request B', 'request C']);
    });

    it('writes once the stored expiry is older than touchAfter', async () => {
      const store = await db.open({ touchAfter: 60_000 });
      const id = sid();
      await store.set(id, session({}, 600_000));
      const later = session({}, 600_000 + 61_000);
      await store.touch(id, later);
      expect((await sessions().findOne({ _id: id }))?.expiresAt.getTime()).toBe(
        later.cookie.expires?.getTime(),
      );
    });

    it('writes a shortened expiry at once, whatever touchAfter says', async () => {
      const store = await db.open({ touchAfter: 60_000 });
      const id = sid();
      await store.set(id, session({}, 600_000));
      const shorter = session({}, 5_000);
      await store.touch(id, shorter);
      expect((await sessions().findOne({ _id: id }))?.expiresAt.getTime()).toBe(
        shorter.cookie.expires?.getTime(),
      );
    });

    it('puts nothing of its own into the session a user sees', async () => {
      const store = await db.open({ touchAfter: 60_000 });
      const id = sid();
      const s = session({ a: 1 });
      await store.set(id, s);
      await store.touch(id, s);
      expect(Object.keys((await store.get(id)) ?? {}).sort()).toEqual(['a', 'cookie']);
    });
  });

  describe('destroy', () => {
    it('deletes the session', async () => {
      const store = await db.open();
      const id = sid();
      await store.set(id, session());
      await store.destroy(id);
      expect(await store.get(id)).toBeNull();
      expect(await sessions().countDocuments({ _id: id })).toBe(0);
    });

    it('is not an error for a missing session', async () => {
      const store = await db.open();
      await expect(store.destroy(sid())).resolves.toBeUndefined();
    });

    it('is not undone by a late save of the same session loaded before it (logout race)', async () => {
      const store = await db.open();
      const id = sid();
      await store.set(id, session({ user: 'ann' }));
      const loaded = store.createSession(
        { sessionID: id } as Request,
        (await store.get(id)) as SessionData,
      );
      await store.destroy(id);
      await store.set(id, Object.assign(loaded, { late: true }));
      expect(await sessions().countDocuments({ _id: id })).toBe(0);
    });
  });

  describe('length, count, all and clear', () => {
    it('count only live sessions, ignoring expired ones not yet deleted', async () => {
      const { store, coll } = await storeNobodyExpires();
      await store.set(sid(), session());
      await store.set(sid(), session());
      await storeExpired(sid(), coll);
      expect(await store.length()).toBe(2);
      expect(await store.count()).toBe(2);
    });

    it('all gives live sessions keyed by id', async () => {
      const { store, coll } = await storeNobodyExpires();
      const a = sid();
      const b = sid();
      await store.set(a, session({ who: 'a' }));
      await store.set(b, session({ who: 'b' }));
      await storeExpired(sid(), coll);
      const all = await store.all();
      expect(Object.keys(all).sort()).toEqual([a, b].sort());
      expect(all[a]).toMatchObject({ who: 'a' });
    });

    it('all keeps an id such as __proto__ as data, not as a prototype', async () => {
      const store = await db.open();
      await store.set('__proto__', session({ evil: true }));
      const all = await store.all();
      expect(Object.getPrototypeOf(all)).toBe(Object.prototype);
      expect(Object.keys(all)).toEqual(['__proto__']);
    });

    it('clear removes every session, expired ones too', async () => {
      const { store, coll } = await storeNobodyExpires();
      await store.set(sid(), session());
      await storeExpired(sid(), coll);
      await store.clear();
      expect(await coll.countDocuments()).toBe(0);
    });

    it('clear works before the collection exists', async () => {
      const store = await db.open({
        collection: `fresh_${sid().replace(/\W/g, '')}`,
        autoIndex: false,
      });
      await expect(store.clear()).resolves.toBeUndefined();
      expect(await store.length()).toBe(0);
    });
  });

  describe('bad input', () => {
    const bad: [string, unknown][] = [
      ['an operator object', { $ne: null }],
      ['a number', 42],
      ['an empty string', ''],
      ['undefined', undefined],
      ['an array', ['a']],
    ];

    it.each(bad)(
      'rejects %s as a session id in every method, touching nothing',
      async (_what, id) => {
        const store = await db.open();
        const victim = sid();
        await store.set(victim, session({ safe: true }));
        const s = session();
        for (const call of [
          () => store.get(id as string),
          () => store.set(id as string, s),
          () => store.touch(id as string, s),
          () => store.destroy(id as string),
        ]) {
          await expect(call()).rejects.toThrow(TypeError);
          await expect(call()).rejects.toThrow(/session id must be a non-empty string/);
        }
        expect(await store.get(victim)).toMatchObject({ safe: true });
      },
    );

    it('rejects a session over 16 MB with ERR_SESSION_TOO_LARGE and keeps the stored one', async () => {
      const store = await db.open();
      const id = sid();
      await store.set(id, session({ small: true }));
      const err = await store
        .set(id, session({ blob: 'x'.repeat(17 * 1024 * 1024) }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MongooseStoreError);
      expect((err as MongooseStoreError).code).toBe('ERR_SESSION_TOO_LARGE');
      expect(await store.get(id)).toMatchObject({ small: true });
    });

    it('refuses with ERR_SESSION_TOO_LARGE a session within bytes of the limit that the server would refuse', async () => {
      // Sized so that its cookie, data and id with 64 bytes more (what the store once counted
      // for the rest) come to 20 bytes under 16 MiB: the rest of the document (its user, dates
      // and field names) takes it over.
      const store = await db.open();
      const id = sid();
      await store.set(id, session({ small: true, passport: { user: 'ann' } }));
      const sized = (bytes: number) => {
        const s = session({ passport: { user: 'ann' }, blob: '' });
        const fixed =
          JSON.stringify(s.cookie).length +
          JSON.stringify({ passport: { user: 'ann' }, blob: '' }).length +
          id.length;
        (s as unknown as { blob: string }).blob = 'x'.repeat(bytes - fixed);
        return s;
      };
      const limit = 16 * 1024 * 1024;
      const err = await store.set(id, sized(limit - 84)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_SESSION_TOO_LARGE' });
      expect(await store.get(id)).toMatchObject({ small: true });
      // The store's margin is a few KiB at most: a session 4 KiB smaller is stored.
      await store.set(id, sized(limit - 4096));
      expect(((await store.get(id)) as unknown as { blob: string }).blob).toHaveLength(
        (sized(limit - 4096) as unknown as { blob: string }).blob.length,
      );
    }, 60_000);

    it.each([
      [
        'a cycle',
        () => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        },
      ],
      ['a BigInt', () => ({ big: 10n })],
    ])(
      'rejects a session holding %s with ERR_SESSION_SERIALIZE and keeps the stored one',
      async (_what, make) => {
        const store = await db.open();
        const id = sid();
        await store.set(id, session({ small: true }));
        const err = await store.set(id, session({ bad: make() })).catch((e: unknown) => e);
        expect((err as MongooseStoreError).code).toBe('ERR_SESSION_SERIALIZE');
        expect(await store.get(id)).toMatchObject({ small: true });
      },
    );

    it('rejects a session that is not an object', async () => {
      const store = await db.open();
      await expect(store.set(sid(), null as unknown as SessionData)).rejects.toThrow(
        /session must be an object/,
      );
    });
  });

  describe('the bson serializer', () => {
    it('stores a queryable subdocument and gives Dates back as Dates', async () => {
      const store = await db.open({ serializer: 'bson' });
      const id = sid();
      const when = new Date('2026-01-02T03:04:05.000Z');
      await store.set(id, session({ userId: 'u1', when }));
      expect(await sessions().countDocuments({ 'session.userId': 'u1' })).toBe(1);
      const back = (await store.get(id)) as unknown as { when: Date; userId: string };
      expect(back.when).toEqual(when);
      expect(back.userId).toBe('u1');
    });

    it('either stores a key with a dot or refuses it with ERR_SESSION_REJECTED, keeping the old data', async () => {
      const store = await db.open({ serializer: 'bson' });
      const id = sid();
      await store.set(id, session({ ok: 1 }));
      const err = await store.set(id, session({ 'a.b': 1 })).catch((e: unknown) => e);
      if (err === undefined) {
        // mongod 5+ holds such keys: then they must round-trip.
        expect(await store.get(id)).toMatchObject({ 'a.b': 1 });
      } else {
        expect((err as MongooseStoreError).code).toBe('ERR_SESSION_REJECTED');
        expect(await store.get(id)).toMatchObject({ ok: 1 });
      }
    });
  });
});
