// Which sessions the per-user methods pick: the live ones, and for maxSessionsPerUser the least
// recently seen, in the order the server would sort them.
import type { SessionData } from 'express-session';
import type { MongooseStoreOptions } from '../lib/index';
import { cookie, sid, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('user-cap');

type Raw = { _id: string; lastSeenAt?: Date; expiresAt: Date };

// Without a TTL index (autoIndex: false), so that an expired session planted here stays.
async function open(options: MongooseStoreOptions = {}) {
  const name = uniqueCollection();
  const store = await db.open({ collection: name, autoIndex: false, lifecheck: -1, ...options });
  return { store, coll: db.db.collection<Raw>(name) };
}

/** A session signed in as `user`. */
function signedIn(user: string): SessionData {
  return { cookie: cookie(60_000), passport: { user } } as unknown as SessionData;
}

const past = () => new Date(Date.now() - 60_000);
const future = () => new Date(Date.now() + 60_000);

describe('maxSessionsPerUser picks', () => {
  it('counts only live sessions toward the cap, however recently an expired one was seen', async () => {
    const { store, coll } = await open({ maxSessionsPerUser: 2 });
    const [live, expired, signingIn] = [sid(), sid(), sid()];
    await store.set(live, signedIn('ann'));
    await store.set(expired, signedIn('ann'));
    await coll.updateOne({ _id: expired }, { $set: { expiresAt: past(), lastSeenAt: future() } });
    await store.set(signingIn, signedIn('ann'));
    const ids = (await store.listByUser('ann')).map((s) => s.id).sort();
    expect(ids).toEqual([live, signingIn].sort());
  });

  it('signs out first a session never seen (stored without lastSeenAt)', async () => {
    const { store, coll } = await open({ maxSessionsPerUser: 2 });
    const [seen, unseen, signingIn] = [sid(), sid(), sid()];
    await store.set(unseen, signedIn('ann'));
    await store.set(seen, signedIn('ann'));
    await coll.updateOne({ _id: seen }, { $set: { lastSeenAt: past() } });
    await coll.updateOne({ _id: unseen }, { $unset: { lastSeenAt: '' } });
    await store.set(signingIn, signedIn('ann'));
    const ids = (await store.listByUser('ann')).map((s) => s.id).sort();
    expect(ids).toEqual([seen, signingIn].sort());
  });

  it('of two sessions seen at the same moment, signs out the one with the greater id', async () => {
    const { store, coll } = await open({ maxSessionsPerUser: 2 });
    const [low, high] = [sid(), sid()].sort();
    const signingIn = sid();
    const at = past();
    for (const id of [high, low]) {
      await store.set(id, signedIn('ann'));
      await coll.updateOne({ _id: id }, { $set: { lastSeenAt: at } });
    }
    await store.set(signingIn, signedIn('ann'));
    const ids = (await store.listByUser('ann')).map((s) => s.id).sort();
    expect(ids).toEqual([low, signingIn].sort());
  });
});

describe('maxSessionsPerUser and sign-ins saved at the same moment', () => {
  it.each([
    [1, 2],
    [2, 3],
  ])(
    'with a cap of %i, %i sign-ins at once never sign each other out below the cap',
    async (cap, at) => {
      const { store } = await open({ maxSessionsPerUser: cap });
      // Rounds, each its own user: a round whose saves happen not to interleave proves nothing.
      const left: number[] = [];
      for (let round = 0; round < 10; round++) {
        const user = `ann-${round}`;
        await Promise.all(Array.from({ length: at }, () => store.set(sid(), signedIn(user))));
        left.push((await store.listByUser(user)).length);
      }
      console.log(`cap ${cap}, ${at} sign-ins at once, sessions left per round: ${left.join(' ')}`);
      // Never fewer; more only where two saves could not see each other's session.
      for (const n of left) expect(n).toBeGreaterThanOrEqual(cap);
      for (const n of left) expect(n).toBeLessThanOrEqual(at);
    },
    60_000,
  );
});

describe('maxSessionsPerUser during a rotation of the secret', () => {
  it('counts the user’s sessions still under the older secret', async () => {
    const OLD = 'an old secret, at least thirty-two characters long';
    const NEW = 'the new secret, also thirty-two characters or more';
    const collection = uniqueCollection();
    const before = await db.open({ collection, secret: OLD, maxSessionsPerUser: 2 });
    const [old1, old2, new1, new2] = [sid(), sid(), sid(), sid()];
    await before.set(old1, signedIn('ann'));
    await before.set(old2, signedIn('ann'));
    const rotated = await db.open({ collection, secret: [NEW, OLD], maxSessionsPerUser: 2 });
    await rotated.set(new1, signedIn('ann'));
    await rotated.set(new2, signedIn('ann'));
    const ids = (await rotated.listByUser('ann')).map((s) => s.id);
    expect(ids).toHaveLength(2);
    expect(ids).toContain(new2);
  });
});

describe('a session past maxLifetime, its expiry still ahead', () => {
  it('is listed, counted and ended by no method, as get already treats it', async () => {
    const collection = uniqueCollection();
    const before = await db.open({ collection, lifecheck: -1 });
    const [old, fresh] = [sid(), sid()];
    await before.set(old, signedIn('ann'));
    await before.set(fresh, signedIn('ann'));
    // Created two hours ago: stored before maxLifetime was set, or before it was shortened.
    await db.db
      .collection<Raw & { createdAt?: Date }>(collection)
      .updateOne({ _id: old }, { $set: { createdAt: new Date(Date.now() - 2 * 3_600_000) } });
    const store = await db.open({ collection, lifecheck: -1, maxLifetime: 3_600_000 });
    expect(await store.get(old)).toBeNull();
    expect((await store.listByUser('ann')).map((s) => s.id)).toEqual([fresh]);
    expect(Object.keys(await store.all())).toEqual([fresh]);
    expect(await store.length()).toBe(1);
    expect((await store.stats()).live).toBe(1);
    expect(await store.destroyByUser('ann')).toBe(1);
  });
});

describe('the user methods and expired sessions', () => {
  it('destroyByHandle leaves an expired session alone and resolves false', async () => {
    const { store, coll } = await open();
    const id = sid();
    await store.set(id, signedIn('ann'));
    const [entry] = await store.listByUser('ann');
    await coll.updateOne({ _id: id }, { $set: { expiresAt: past() } });
    expect(await store.destroyByHandle('ann', entry?.handle as string)).toBe(false);
    expect(await coll.countDocuments({ _id: id })).toBe(1);
  });

  it('destroyByUser counts and deletes only live sessions, sparing except', async () => {
    const { store, coll } = await open();
    const [kept, gone, expired] = [sid(), sid(), sid()];
    for (const id of [kept, gone, expired]) await store.set(id, signedIn('ann'));
    await coll.updateOne({ _id: expired }, { $set: { expiresAt: past() } });
    expect(await store.destroyByUser('ann', { except: kept })).toBe(1);
    expect(await coll.countDocuments({ _id: { $in: [kept, expired] } })).toBe(2);
    expect(await coll.countDocuments({ _id: gone })).toBe(0);
  });
});
