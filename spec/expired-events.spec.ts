// Expiry events: each expired session announced once, with its data, across every store on
// the collection; never a destroyed or a live one.
import type { SessionData } from 'express-session';
import { EXPIRED_GRACE_S } from '../lib/announcer';
import type { MongooseStore, MongooseStoreOptions } from '../lib/index';
import {
  cookie,
  describeIf,
  eventually,
  server,
  sid,
  uniqueCollection,
  useDatabase,
} from './support/server';

const db = useDatabase('expired');
const SECRET = 'the secret of the expiry events spec, 32+ chars';

/** `n` stores on one collection, each recording what it announces. */
async function stores(n: number, options: MongooseStoreOptions = {}) {
  const collection = uniqueCollection();
  const heard: { by: number; sid: string; session: SessionData | null }[] = [];
  const list: MongooseStore[] = [];
  for (let i = 0; i < n; i++) {
    const store = await db.open({ collection, expiredEvents: true, lifecheck: 200, ...options });
    store.on('expired', (id, session) => heard.push({ by: i, sid: id, session }));
    list.push(store);
  }
  return { list, heard, collection };
}

const session = (data: Record<string, unknown>, maxAge: number) =>
  ({ cookie: cookie(maxAge), ...data }) as unknown as SessionData;

describe('expiredEvents', () => {
  it('announces each expired session exactly once across three stores, with its data', async () => {
    const { list, heard } = await stores(3);
    const ids = Array.from({ length: 30 }, () => sid());
    await Promise.all(ids.map((id, i) => list[i % 3]?.set(id, session({ n: i }, 300))));
    await eventually(() => heard.length >= ids.length, 20_000, 'every session to be announced');
    // A few more sweeps (every 200 ms): nothing is announced twice.
    await new Promise((r) => setTimeout(r, 800));
    expect(heard.map((h) => h.sid).sort()).toEqual([...ids].sort());
    for (const h of heard) expect(h.session).toMatchObject({ n: ids.indexOf(h.sid) });
  });

  it('never announces a destroyed session, nor a live one', async () => {
    const { list, heard } = await stores(2);
    const [expires, destroyed, live] = [sid(), sid(), sid()];
    const [a] = list as [MongooseStore];
    await a.set(expires, session({ k: 'expires' }, 300));
    await a.set(destroyed, session({ k: 'destroyed' }, 300));
    await a.set(live, session({ k: 'live' }, 60_000));
    await a.destroy(destroyed);
    await eventually(() => heard.length >= 1, 20_000, 'the expired session to be announced');
    await new Promise((r) => setTimeout(r, 800));
    expect(heard.map((h) => h.sid)).toEqual([expires]);
    expect(await a.get(live)).not.toBeNull();
  });

  it('decrypts the announced session under secret', async () => {
    const { list, heard } = await stores(1, { secret: SECRET });
    const id = sid();
    await (list[0] as MongooseStore).set(id, session({ cart: ['tea'] }, 300));
    await eventually(() => heard.length >= 1, 20_000, 'the announcement');
    expect(heard[0]).toMatchObject({ sid: id, session: { cart: ['tea'] } });
  });

  it('is a TypeError with lifecheck -1, or when not a boolean', async () => {
    await expect(db.open({ expiredEvents: true, lifecheck: -1 })).rejects.toThrow(
      /expiredEvents: needs the sweeper/,
    );
    await expect(db.open({ expiredEvents: 'yes' as never })).rejects.toThrow(/expiredEvents:/);
  });
});

describeIf(server.caps.ttlIndex, 'expiredEvents on a server with TTL indexes', () => {
  it('keeps expired documents for a grace period, so that the server never deletes first', async () => {
    const { collection } = await stores(1);
    const indexes = await db.db.collection(collection).listIndexes().toArray();
    const ttl = indexes.find((ix) => ix.key?.expiresAt === 1);
    expect(ttl?.expireAfterSeconds).toBe(EXPIRED_GRACE_S);
  });

  it('puts the TTL index back to 0 when the option is turned off', async () => {
    const { collection, list } = await stores(1);
    await (list[0] as MongooseStore).close();
    await db.open({ collection });
    const indexes = await db.db.collection(collection).listIndexes().toArray();
    expect(indexes.find((ix) => ix.key?.expiresAt === 1)?.expireAfterSeconds).toBe(0);
  });
});
