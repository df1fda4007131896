// Your devices: when and where each session signed in, one device signed out, an absolute
// lifetime, and a cap on sessions per user.
import express from 'express';
import expressSession, { type SessionData } from 'express-session';
import request from 'supertest';
import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import { cookie, eventually, sid, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('devices');
const SECRET = 'a secret for the devices spec, 32+ characters';

type Raw = {
  _id: string;
  createdAt?: Date;
  lastSeenAt?: Date;
  device?: unknown;
  expiresAt: Date;
};

async function open(options: MongooseStoreOptions = {}) {
  const name = uniqueCollection();
  const store = await db.open({ collection: name, autoIndex: false, lifecheck: -1, ...options });
  return { store, coll: db.db.collection<Raw>(name) };
}

/** A session signed in as `user`. */
function signedIn(user: string, data: Record<string, unknown> = {}, maxAge = 60_000): SessionData {
  return { cookie: cookie(maxAge), passport: { user }, ...data } as unknown as SessionData;
}

/** An app: `/in?user=` signs in, `/me` reads, `/devices` lists, `/out?handle=` signs one out. */
function app(store: MongooseStore) {
  const a = express();
  a.set('trust proxy', true);
  a.use(
    expressSession({
      store,
      secret: 'devices spec cookie secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  a.get('/in', (req, res) => {
    (req.session as unknown as { passport: { user: string } }).passport = {
      user: String(req.query.user),
    };
    res.send(req.sessionID);
  });
  a.get('/me', (req, res) => {
    const s = req.session as unknown as { passport?: { user: string } };
    res.json({ user: s.passport?.user ?? null });
  });
  return a;
}

describe('createdAt and lastSeenAt', () => {
  it('sets createdAt once: no set or touch moves it, while lastSeenAt moves with each write', async () => {
    const { store, coll } = await open({ touchAfter: 0 });
    const id = sid();
    await store.set(id, signedIn('ann', { n: 1 }));
    const first = await coll.findOne({ _id: id });
    expect(first?.createdAt).toBeInstanceOf(Date);
    expect(first?.lastSeenAt).toBeInstanceOf(Date);
    await eventually(() => Date.now() > (first?.lastSeenAt?.getTime() ?? 0) + 5, 1_000, 'a tick');
    await store.set(id, signedIn('ann', { n: 2 }));
    const loaded = (await store.get(id)) as SessionData;
    await store.touch(id, loaded);
    const last = await coll.findOne({ _id: id });
    expect(last?.createdAt?.getTime()).toBe(first?.createdAt?.getTime());
    expect(last?.lastSeenAt?.getTime()).toBeGreaterThan(first?.lastSeenAt?.getTime() ?? 0);
  });

  it('lists them, with a handle, for each of a user’s sessions', async () => {
    const { store } = await open();
    const id = sid();
    await store.set(id, signedIn('ann'));
    const [entry] = await store.listByUser('ann');
    expect(entry?.createdAt).toBeInstanceOf(Date);
    expect(entry?.lastSeenAt).toBeInstanceOf(Date);
    expect(typeof entry?.handle).toBe('string');
  });
});

describe('the metadata option', () => {
  it('records nothing of the device by default', async () => {
    const { store, coll } = await open();
    const agent = request.agent(app(store));
    await agent.get('/in?user=ann').set('User-Agent', 'Phone/1.0').expect(200);
    const [doc] = await coll.find().toArray();
    expect(doc).not.toHaveProperty('device');
    const [entry] = await store.listByUser('ann');
    expect(entry).not.toHaveProperty('ip');
    expect(entry).not.toHaveProperty('userAgent');
  });

  it('records the IP and user agent of the request, and a new one when it changes', async () => {
    const { store } = await open({ metadata: { ip: true, userAgent: true }, touchAfter: 0 });
    const agent = request.agent(app(store));
    await agent
      .get('/in?user=ann')
      .set('User-Agent', 'Phone/1.0')
      .set('X-Forwarded-For', '203.0.113.7')
      .expect(200);
    expect(await store.listByUser('ann')).toMatchObject([
      { ip: '203.0.113.7', userAgent: 'Phone/1.0' },
    ]);
    // The same session from elsewhere: a read-only request, which only touches.
    await agent
      .get('/me')
      .set('User-Agent', 'Phone/1.1')
      .set('X-Forwarded-For', '198.51.100.9')
      .expect(200);
    expect(await store.listByUser('ann')).toMatchObject([
      { ip: '198.51.100.9', userAgent: 'Phone/1.1' },
    ]);
  });

  it('cuts a 10 kB user agent instead of refusing it', async () => {
    const { store } = await open({ metadata: { userAgent: true } });
    await request(app(store)).get('/in?user=ann').set('User-Agent', 'x'.repeat(10_000)).expect(200);
    const [entry] = await store.listByUser('ann');
    expect(entry?.userAgent).toBe('x'.repeat(512));
  });

  it('seals the device like the data under secret', async () => {
    const { store, coll } = await open({ metadata: { ip: true, userAgent: true }, secret: SECRET });
    await request(app(store))
      .get('/in?user=ann')
      .set('User-Agent', 'MarkerBrowser/9')
      .set('X-Forwarded-For', '203.0.113.77')
      .expect(200);
    const [doc] = await coll.find().toArray();
    const raw = JSON.stringify(doc);
    expect(raw).not.toContain('MarkerBrowser');
    expect(raw).not.toContain('203.0.113.77');
    expect(await store.listByUser('ann')).toMatchObject([
      { ip: '203.0.113.77', userAgent: 'MarkerBrowser/9' },
    ]);
  });

  it('keeps the device through a rotation: reencrypt() seals it again, so the old secret can go', async () => {
    const NEW = `new ${SECRET}`;
    const metadata = { ip: true, userAgent: true };
    const { store, coll } = await open({ metadata, secret: SECRET });
    await request(app(store))
      .get('/in?user=ann')
      .set('User-Agent', 'MarkerBrowser/9')
      .set('X-Forwarded-For', '203.0.113.77')
      .expect(200);
    const name = coll.collectionName;
    const rotated = await db.open({
      collection: name,
      autoIndex: false,
      lifecheck: -1,
      metadata,
      secret: [NEW, SECRET],
    });
    expect(await rotated.reencrypt()).toBe(1);
    // The old secret dropped: the device still shows.
    const after = await db.open({
      collection: name,
      autoIndex: false,
      lifecheck: -1,
      metadata,
      secret: NEW,
    });
    expect(await after.listByUser('ann')).toMatchObject([
      { ip: '203.0.113.77', userAgent: 'MarkerBrowser/9' },
    ]);
    expect(await after.reencrypt()).toBe(0);
  });

  it('reencrypt() removes a device that opens under no secret, and leaves the session signed in', async () => {
    const metadata = { ip: true, userAgent: true };
    const { store, coll } = await open({ metadata, secret: SECRET });
    await request(app(store)).get('/in?user=ann').set('User-Agent', 'Phone/2').expect(200);
    const [doc] = await coll.find().toArray();
    // A device sealed by some other store: it opens under none of the secrets.
    const other = await open({ metadata, secret: `other ${SECRET}` });
    await request(app(other.store)).get('/in?user=bob').set('User-Agent', 'Other/1').expect(200);
    const [foreign] = await other.coll.find().toArray();
    await coll.updateOne({ _id: doc?._id as string }, { $set: { device: foreign?.device } });
    expect(await store.reencrypt()).toBe(1);
    const [fixed] = await coll.find().toArray();
    expect(fixed?.device).toBeUndefined();
    expect(await store.listByUser('ann')).toHaveLength(1);
  });

  it('is a TypeError when not { ip?: boolean, userAgent?: boolean }', async () => {
    for (const metadata of [true, { ip: 'yes' }, { os: true }, null])
      await expect(open({ metadata } as never)).rejects.toThrow(/metadata:/);
  });
});

describe('handles and destroyByHandle', () => {
  it('gives each session a handle that stays the same and is not its id', async () => {
    const { store } = await open({ touchAfter: 0 });
    const id = sid();
    await store.set(id, signedIn('ann', { n: 1 }));
    const [before] = await store.listByUser('ann');
    await store.set(id, signedIn('ann', { n: 2 }));
    await store.touch(id, signedIn('ann', { n: 2 }));
    const [after] = await store.listByUser('ann');
    expect(after?.handle).toBe(before?.handle);
    expect(after?.handle).not.toContain(id);
    expect(id).not.toContain(after?.handle);
  });

  it('signs out that one session, resolving true, and false when there is none', async () => {
    const { store } = await open();
    const [phone, laptop] = [sid(), sid()];
    await store.set(phone, signedIn('ann'));
    await store.set(laptop, signedIn('ann'));
    const handle = (await store.listByUser('ann')).find((s) => s.id === phone)?.handle as string;
    expect(await store.destroyByHandle('ann', handle)).toBe(true);
    expect(await store.get(phone)).toBeNull();
    expect(await store.get(laptop)).not.toBeNull();
    expect(await store.destroyByHandle('ann', handle)).toBe(false);
  });

  it('never signs out another user’s session, whatever handle it is given', async () => {
    const { store } = await open();
    const [mine, theirs] = [sid(), sid()];
    await store.set(mine, signedIn('ann'));
    await store.set(theirs, signedIn('bob'));
    const [bobs] = await store.listByUser('bob');
    expect(await store.destroyByHandle('ann', bobs?.handle as string)).toBe(false);
    expect(await store.get(theirs)).not.toBeNull();
  });

  it('refuses a handle that is not a string with a TypeError, deleting nothing', async () => {
    const { store } = await open();
    const id = sid();
    await store.set(id, signedIn('ann'));
    for (const bad of [undefined, 1, { $ne: '' }])
      await expect(store.destroyByHandle('ann', bad as never)).rejects.toThrow(TypeError);
    await expect(store.destroyByHandle('', 'x')).rejects.toThrow(TypeError);
    expect(await store.get(id)).not.toBeNull();
  });

  it('takes a callback, called once', async () => {
    const { store } = await open();
    const calls: unknown[] = [];
    await new Promise<void>((done) =>
      store.destroyByHandle('ann', 'nothing-here', (err, found) => {
        calls.push([err, found]);
        done();
      }),
    );
    expect(calls).toEqual([[null, false]]);
  });
});

describe('maxLifetime', () => {
  it('ends a busy session at createdAt + maxLifetime, however often it is touched', async () => {
    const { store, coll } = await open({ maxLifetime: 1_500, touchAfter: 0 });
    const id = sid();
    await store.set(id, signedIn('ann', {}, 60_000));
    const created = (await coll.findOne({ _id: id }))?.createdAt?.getTime() ?? 0;
    // Busy: touched and saved again and again, with a cookie that would live a minute more.
    while (Date.now() < created + 1_500) {
      const loaded = await store.get(id);
      if (loaded === null) break;
      await store.touch(id, loaded);
      const doc = await coll.findOne({ _id: id });
      // The stored expiry never passes the absolute end.
      if (doc !== null) expect(doc.expiresAt.getTime()).toBeLessThanOrEqual(created + 1_500);
      await new Promise((r) => setTimeout(r, 100));
    }
    await eventually(() => Date.now() > created + 1_500, 2_000, 'the absolute end');
    expect(await store.get(id)).toBeNull();
    await store.set(id, signedIn('ann', { again: true }));
    expect(await store.get(id)).toBeNull();
  });

  it('is a TypeError when not a positive number of milliseconds', async () => {
    for (const maxLifetime of [0, -1, Number.NaN, '1h'])
      await expect(open({ maxLifetime } as never)).rejects.toThrow(/maxLifetime:/);
  });
});

describe('maxSessionsPerUser', () => {
  it('keeps the most recently seen sessions when a sign-in goes over the cap', async () => {
    const { store } = await open({ maxSessionsPerUser: 2, touchAfter: 0 });
    const [a, b, c] = [sid(), sid(), sid()];
    // Each write a few milliseconds after the last: lastSeenAt orders them.
    const later = async () => {
      const t = Date.now();
      await eventually(() => Date.now() > t + 2, 1_000, 'the clock to move');
    };
    await store.set(a, signedIn('ann'));
    await later();
    await store.set(b, signedIn('ann'));
    await later();
    // a is seen again, so b is now the least recently seen.
    await store.touch(a, (await store.get(a)) as SessionData);
    await later();
    await store.set(c, signedIn('ann'));
    const ids = (await store.listByUser('ann')).map((s) => s.id).sort();
    expect(ids).toEqual([a, c].sort());
  });

  it('never signs out the session being saved, nor another user’s', async () => {
    const { store } = await open({ maxSessionsPerUser: 1 });
    const [first, bobs, second] = [sid(), sid(), sid()];
    await store.set(first, signedIn('ann'));
    await store.set(bobs, signedIn('bob'));
    await store.set(second, signedIn('ann'));
    expect((await store.listByUser('ann')).map((s) => s.id)).toEqual([second]);
    expect(await store.get(bobs)).not.toBeNull();
  });

  it('is a TypeError when not a whole number of at least 1', async () => {
    for (const maxSessionsPerUser of [0, 1.5, -2, '3'])
      await expect(open({ maxSessionsPerUser } as never)).rejects.toThrow(/maxSessionsPerUser:/);
  });
});
