// What hostile trials found in the session operations (issue 9), each as the user sees it.
import type { SessionData } from 'express-session';
import { type MongooseStore, MongooseStoreError } from '../lib/index';
import { captureDebug } from './support/debug-lines';
import { cookie, eventually, sid, useDatabase } from './support/server';

const db = useDatabase('sessions');

/** A session as express-session hands it to a store: a real Cookie plus data. */
function session(data: Record<string, unknown> = {}, maxAge = 60_000): SessionData {
  return { cookie: cookie(maxAge), ...data } as unknown as SessionData;
}

/** A session whose cookie has no expiry, so the store asks `ttl`. */
function browserSession(data: Record<string, unknown> = {}): SessionData {
  return { cookie: { path: '/', originalMaxAge: null, expires: null }, ...data } as never;
}

/** Errors the store reports through its `error` event. */
function reported(store: MongooseStore): Error[] {
  const errors: Error[] = [];
  store.on('error', (e) => errors.push(e));
  return errors;
}

const codeOf = (err: unknown) => (err as MongooseStoreError).code;

describe('session ids', () => {
  it.each([
    ['a lone high surrogate', '\uD800'],
    ['a lone low surrogate', '\uDFFF'],
    ['a pair in the wrong order', 'a\uDC00\uD800b'],
  ])(
    'refuses %s in every method with a TypeError, so it cannot read another session',
    async (_w, id) => {
      const store = await db.open();
      const replacement = '\uFFFD';
      await store.set(replacement, session({ owner: 'someone else' }));
      for (const call of [
        () => store.get(id),
        () => store.set(id, session()),
        () => store.touch(id, session()),
        () => store.destroy(id),
      ]) {
        await expect(call()).rejects.toThrow(TypeError);
        await expect(call()).rejects.toThrow(/well-formed UTF-16/);
      }
      expect(await store.get(replacement)).toMatchObject({ owner: 'someone else' });
    },
  );

  it('keeps well-formed ids outside the BMP apart from the replacement character', async () => {
    const store = await db.open();
    await store.set('\u{1F600}', session({ n: 1 }));
    await store.set('\uFFFD', session({ n: 2 }));
    expect(await store.get('\u{1F600}')).toMatchObject({ n: 1 });
    expect(await store.get('\uFFFD')).toMatchObject({ n: 2 });
  });
});

describe('touch', () => {
  it.each([
    ['null', null],
    ['a number', 123],
    ['a string', 'str'],
    ['an object without a cookie', {}],
  ])('refuses %s as the session with a TypeError, keeping the stored cookie', async (_w, bad) => {
    const store = await db.open();
    const id = sid();
    const s = session({}, 90_000);
    s.cookie.secure = true;
    s.cookie.sameSite = 'strict';
    await store.set(id, s);
    await expect(store.touch(id, bad as SessionData)).rejects.toThrow(TypeError);
    expect((await store.get(id))?.cookie).toMatchObject({
      originalMaxAge: 90_000,
      secure: true,
      sameSite: 'strict',
    });
  });

  it.each([
    ['in clear', {}],
    ['sealed', { secret: 'a secret of thirty-two characters or more, for touch' }],
  ])(
    'of a loaded session writes the expiry alone (%s), and a read gives the cookie that expiry',
    async (_w, options) => {
      const store = await db.open({ touchAfter: 0, collection: 'touch_cookie', ...options });
      const coll = db.db.collection<{ _id: string; expiresAt: Date; cookie: unknown }>(
        'touch_cookie',
      );
      const id = sid();
      // express-session's Cookie reads the clock twice: under load, originalMaxAge may come out
      // a few ms under 60 s. What was given is what must come back.
      const given = session({ a: 1 }, 60_000);
      await store.set(id, given);
      const before = await coll.findOne({ _id: id });
      const loaded = (await store.get(id)) as SessionData;
      const later = new Date((before?.expiresAt.getTime() ?? 0) + 30_000);
      loaded.cookie.expires = later;
      await store.touch(id, loaded);
      const after = await coll.findOne({ _id: id });
      expect(after?.expiresAt.getTime()).toBe(later.getTime());
      // The stored cookie is left as it was: a touch costs what connect-mongo's costs.
      expect(after?.cookie).toEqual(before?.cookie);
      const read = await store.get(id);
      expect(read?.cookie.expires).toBe(later.toISOString());
      expect(read?.cookie.originalMaxAge).toBe(given.cookie.originalMaxAge);
    },
  );

  it.each([
    ['bson', 'a Date', (v: unknown) => v instanceof Date && v.getTime()],
    [
      'a serializer of your own',
      'epoch ms',
      (v: unknown) => (typeof v === 'number' ? v : Number.NaN),
    ],
  ] as const)('under %s, gives the touched expiry back as %s', async (kind, _form, msOf) => {
    // A serializer that keeps the cookie's expiry as epoch milliseconds.
    const epoch = {
      serialize: (v: Record<string, unknown>) =>
        JSON.stringify(v, (k, x) => (k === 'expires' && typeof x === 'string' ? Date.parse(x) : x)),
      deserialize: (s: unknown) => JSON.parse(String(s)) as Record<string, unknown>,
    };
    const store = await db.open({
      touchAfter: 0,
      serializer: kind === 'bson' ? 'bson' : epoch,
    });
    const id = sid();
    await store.set(id, session({ a: 1 }, 60_000));
    const loaded = (await store.get(id)) as SessionData;
    const later = new Date(Date.now() + 120_000);
    loaded.cookie.expires = later;
    await store.touch(id, loaded);
    expect(msOf((await store.get(id))?.cookie.expires)).toBe(later.getTime());
  });

  it('writes a cookie changed beyond its expiry: "remember me" on a loaded session lasts', async () => {
    const store = await db.open({ touchAfter: 0 });
    const id = sid();
    await store.set(id, session({ a: 1 }, 60_000));
    const loaded = (await store.get(id)) as SessionData;
    const month = 30 * 24 * 3600_000;
    // expires first: setting it on express-session's Cookie recomputes originalMaxAge.
    loaded.cookie.expires = new Date(Date.now() + month);
    loaded.cookie.originalMaxAge = month;
    // express-session calls touch, not set, when only the cookie changed.
    await store.touch(id, loaded);
    const read = await store.get(id);
    expect(read?.cookie.originalMaxAge).toBe(month);
    expect(new Date(read?.cookie.expires as unknown as string).getTime()).toBeGreaterThan(
      Date.now() + month - 60_000,
    );
  });

  it('keeps a cookie that ends with the browser without an expiry through touches', async () => {
    const store = await db.open({ touchAfter: 0, ttl: 60_000 });
    const id = sid();
    await store.set(id, browserSession({ a: 1 }));
    const loaded = (await store.get(id)) as SessionData;
    await store.touch(id, loaded);
    const read = await store.get(id);
    expect(read?.cookie.expires).toBeNull();
    expect(read).toMatchObject({ a: 1 });
  });

  it('does not revive a session that expired but is not deleted yet', async () => {
    // No TTL index on this collection and no sweeper: only the store's own reads judge expiry.
    const store = await db.open({ collection: 'no_ttl_touch', autoIndex: false, lifecheck: -1 });
    const coll = db.db.collection<{ _id: string; expiresAt: Date }>('no_ttl_touch');
    const id = sid();
    await store.set(id, session({ a: 1 }, 60_000));
    await coll.updateOne({ _id: id }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });
    expect(await store.get(id)).toBeNull();
    await store.touch(id, session({ a: 1 }, 60_000));
    expect(await store.get(id)).toBeNull();
    const doc = await coll.findOne({ _id: id });
    expect(doc === null || doc.expiresAt.getTime() <= Date.now()).toBe(true);
  });
});

describe('a ttl function', () => {
  const boom = (s: SessionData) => {
    if ((s as unknown as { boom?: boolean }).boom) throw new Error('ttl bug');
    return 60_000;
  };

  it('that throws fails touch through its callback, once, even when touchAfter could skip', async () => {
    const store = await db.open({ ttl: boom, touchAfter: 60_000 });
    const id = sid();
    await store.set(id, browserSession());
    const calls: unknown[] = [];
    let thrown: unknown;
    try {
      store.touch(id, browserSession({ boom: true }), (err) => calls.push(err));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeUndefined();
    await eventually(() => calls.length > 0, 10_000, 'the callback');
    // Time for a second call, were there one.
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toHaveLength(1);
    expect(codeOf(calls[0])).toBe('ERR_INVALID_TTL');
    expect((calls[0] as Error).message).toMatch(/ttl/);
  });

  it('that throws fails set with ERR_INVALID_TTL and keeps the stored session', async () => {
    const store = await db.open({ ttl: boom });
    const id = sid();
    await store.set(id, browserSession({ v: 1 }));
    await expect(store.set(id, browserSession({ v: 2, boom: true }))).rejects.toMatchObject({
      code: 'ERR_INVALID_TTL',
    });
    expect(await store.get(id)).toMatchObject({ v: 1 });
  });

  it.each([
    ['NaN', Number.NaN],
    ['undefined', undefined],
    ['a string', '60000'],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['1e20', 1e20],
  ])(
    'that gives %s fails set and touch with ERR_INVALID_TTL, storing nothing',
    async (_w, value) => {
      let bad = false;
      const store = await db.open({ ttl: () => (bad ? value : 60_000) as number });
      const id = sid();
      await store.set(id, browserSession({ v: 1 }));
      const before = await db.db.collection('sessions').findOne({ _id: id as never });
      bad = true;
      const setErr = await store.set(id, browserSession({ v: 2 })).catch((e: unknown) => e);
      const touchErr = await store.touch(id, browserSession({ v: 1 })).catch((e: unknown) => e);
      for (const err of [setErr, touchErr]) {
        expect(err).toBeInstanceOf(MongooseStoreError);
        expect(codeOf(err)).toBe('ERR_INVALID_TTL');
        expect((err as Error).message).toMatch(/^connect-mongoose-session: ttl:/);
      }
      expect(await db.db.collection('sessions').findOne({ _id: id as never })).toEqual(before);
      expect(await store.get(id)).toMatchObject({ v: 1 });
    },
  );

  it('that gives 0 or less deletes the session on set, as documented', async () => {
    const store = await db.open({
      ttl: (s) => ((s as unknown as { end?: boolean }).end ? -1 : 60_000),
    });
    const id = sid();
    await store.set(id, browserSession());
    await store.set(id, browserSession({ end: true }));
    expect(await store.get(id)).toBeNull();
  });
});

describe('sessions that cannot be read back', () => {
  async function plantUnreadable(id: string): Promise<void> {
    await db.db.collection('sessions').insertOne({
      _id: id as never,
      expiresAt: new Date(Date.now() + 60_000),
      cookie: '{"path":"/"}',
      session: 'not json {',
    });
  }

  it('read as missing, reported once through error, without the id in the message', async () => {
    const store = await db.open();
    const errors = reported(store);
    const id = sid();
    await plantUnreadable(id);
    expect(await store.get(id)).toBeNull();
    expect(errors.map(codeOf)).toEqual(['ERR_SESSION_UNREADABLE']);
    expect(errors[0].message).not.toContain(id);
  });

  it('are left out of all(), which still gives everyone else', async () => {
    const store = await db.open();
    const errors = reported(store);
    const good = sid();
    await store.set(good, session({ fine: true }));
    await plantUnreadable(sid());
    const all = await store.all();
    expect(Object.keys(all)).toEqual([good]);
    expect(errors.map(codeOf)).toEqual(['ERR_SESSION_UNREADABLE']);
  });

  it.each([
    ['bson', 'json'],
    ['json', 'bson'],
  ] as const)(
    'written with %s and read with %s are missing, not an empty session',
    async (a, b) => {
      const writer = await db.open({ serializer: a });
      const id = sid();
      await writer.set(id, session({ kept: true }));
      const reader = await db.open({ serializer: b });
      const errors = reported(reader);
      expect(await reader.get(id)).toBeNull();
      expect(errors.map(codeOf)).toEqual(['ERR_SESSION_UNREADABLE']);
    },
  );
});

describe('the bson serializer refuses what the server cannot hold, before sending it', () => {
  const cycle = () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    return o;
  };
  it.each([
    ['a NaN', () => ({ n: Number.NaN }), 'ERR_SESSION_REJECTED'],
    ['a NaN deep in an array', () => ({ list: [{ x: [1, Number.NaN] }] }), 'ERR_SESSION_REJECTED'],
    ['an infinite number', () => ({ n: Number.NEGATIVE_INFINITY }), 'ERR_SESSION_REJECTED'],
    ['a key with a NUL byte', () => ({ 'a\0b': 1 }), 'ERR_SESSION_REJECTED'],
    ['a BigInt', () => ({ big: 2n ** 70n }), 'ERR_SESSION_SERIALIZE'],
    ['a cycle', cycle, 'ERR_SESSION_SERIALIZE'],
    ['an Invalid Date', () => ({ when: new Date(Number.NaN) }), 'ERR_SESSION_SERIALIZE'],
  ])('a session holding %s: a coded error, the stored one kept', async (_w, make, code) => {
    const store = await db.open({ serializer: 'bson' });
    const id = sid();
    await store.set(id, session({ ok: 1 }));
    const err = await store.set(id, session(make())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongooseStoreError);
    expect(codeOf(err)).toBe(code);
    expect(await store.get(id)).toMatchObject({ ok: 1 });
  });

  it('a cookie with maxAge NaN or an Invalid Date expiry: refused, not stored as 1970', async () => {
    const store = await db.open({ serializer: 'bson' });
    const nan = session();
    nan.cookie.maxAge = Number.NaN;
    const badDate = session();
    badDate.cookie.expires = new Date(Number.NaN);
    await expect(store.set(sid(), nan)).rejects.toMatchObject({ code: 'ERR_SESSION_REJECTED' });
    // express-session's Cookie derives originalMaxAge from expires: a NaN, refused first.
    await expect(store.set(sid(), badDate)).rejects.toMatchObject({
      code: 'ERR_SESSION_REJECTED',
    });
    expect(await store.length()).toBe(0);
  });

  it('one user sending a NaN does not disconnect the store for the others', async () => {
    const store = await db.open({ serializer: 'bson' });
    let disconnects = 0;
    store.on('disconnect', () => {
      disconnects += 1;
    });
    const others = Array.from({ length: 20 }, () => sid());
    await Promise.all(others.map((id) => store.set(id, session({ mine: id }))));
    const results = await Promise.allSettled([
      ...Array.from({ length: 10 }, () => store.set(sid(), session({ n: Number.NaN }))),
      ...others.map((id) => store.get(id)),
    ]);
    const reads = results.slice(10);
    expect(reads.every((r) => r.status === 'fulfilled' && r.value !== null)).toBe(true);
    expect(disconnects).toBe(0);
    expect(await store.get(others[0])).toMatchObject({ mine: others[0] });
  });
});

describe('messages and debug lines', () => {
  const secretId = 'SECRET-session-id-0123456789';
  const marker = 'PRIVATE-marker-value';

  it('never hold the session id or session data, and stay short', async () => {
    const { lines, stop } = captureDebug();
    try {
      const store = await db.open({ serializer: 'bson' });
      const errors: unknown[] = [];
      const attempts = [
        store.set(secretId, session({ blob: marker.repeat(1_000_000) })),
        store.set(secretId, session({ [marker]: Number.NaN })),
        store.set(secretId, session({ [`${marker}.x`]: 1, [`$${marker}`]: 1 })),
        store.set(secretId, session({ [marker]: 10n })),
        store.set(secretId, session({ [`${marker}\0`]: 1 })),
        store.set('\uD800', session()),
      ];
      for (const a of attempts) errors.push(await a.catch((e: unknown) => e));
      const json = await db.open();
      const cyclic: Record<string, unknown> = { [marker]: 1 };
      cyclic[`${marker}-self`] = cyclic;
      errors.push(await json.set(secretId, session({ c: cyclic })).catch((e: unknown) => e));
      const messages = errors.filter((e) => e instanceof Error).map((e) => (e as Error).message);
      expect(messages.length).toBeGreaterThanOrEqual(6);
      for (const text of [...messages, ...lines]) {
        expect(text).not.toContain(secretId);
        expect(text).not.toContain(marker);
      }
      for (const m of messages) expect(m.length).toBeLessThan(400);
    } finally {
      stop();
    }
  });
});
