// Documents in the sessions collection that are no sessions: an `_id` that is not a string
// (a copy made by hand, a tool's import). No request can ask for one, and none may stop the
// methods that walk the collection.
import type { SessionData } from 'express-session';
import { mongo } from 'mongoose';
import type { MongooseStore } from '../lib/index';
import { REENCRYPT_BATCH } from '../lib/reencrypt';
import { cookie, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('stray');

const OLD = 'an old secret, at least thirty-two characters long';
const NEW = 'the new secret, also thirty-two characters or more';

const signedIn = (user: string) =>
  ({ cookie: cookie(3_600_000), passport: { user } }) as unknown as SessionData;

function errorsOf(store: MongooseStore): { code?: string }[] {
  const seen: { code?: string }[] = [];
  store.on('error', (err: Error) => seen.push(err as { code?: string }));
  return seen;
}

describe('a document whose _id is not a string, beside real sessions', () => {
  it.each([
    ['an ObjectId', () => new mongo.ObjectId()],
    ['a number', () => 42],
  ])(
    'under %s, sealed: all(), listByUser(), destroyByHandle() and reencrypt() go on, and it is reported',
    async (_kind, strayId) => {
      const collection = uniqueCollection();
      const coll = db.db.collection(collection);
      const before = await db.open({ collection, secret: OLD, lifecheck: -1 });
      await before.set('real-1', signedIn('ada'));
      await before.set('real-2', signedIn('ada'));
      // A copy of a real session under another kind of id: its values are bound to 'real-1'.
      const copy = await coll.findOne({ _id: 'real-1' } as never);
      await coll.insertOne({ ...copy, _id: strayId() } as never);

      const store = await db.open({ collection, secret: [NEW, OLD], lifecheck: -1 });
      const errors = errorsOf(store);
      expect(Object.keys(await store.all()).sort()).toEqual(['real-1', 'real-2']);
      const listed = await store.listByUser('ada');
      expect(listed.map((s) => s.id).sort()).toEqual(['real-1', 'real-2']);
      expect(errors.map((e) => e.code)).toContain('ERR_SESSION_UNREADABLE');
      expect(await store.reencrypt()).toBe(2);
      expect(await store.destroyByHandle('ada', (listed[0] as { handle: string }).handle)).toBe(
        true,
      );
      // Rewritten under the new secret: a store that knows only it reads what is left.
      const newest = await db.open({ collection, secret: NEW, lifecheck: -1 });
      expect(Object.keys(await newest.all())).toEqual([(listed[1] as { id: string }).id]);
    },
  );

  it('reencrypt() walks on to the sessions after a whole batch of numeric ids', async () => {
    const collection = uniqueCollection();
    const coll = db.db.collection(collection);
    const before = await db.open({ collection, secret: OLD, lifecheck: -1 });
    await before.set('real-1', signedIn('ada'));
    // Numbers sort before strings: a batch of them came first, and its last id ended the walk.
    await coll.insertMany(
      Array.from({ length: REENCRYPT_BATCH }, (_, i) => ({
        _id: i,
        expiresAt: new Date(Date.now() + 3_600_000),
      })) as never,
    );
    const store = await db.open({ collection, secret: [NEW, OLD], lifecheck: -1 });
    expect(await store.reencrypt()).toBe(1);
    const newest = await db.open({ collection, secret: NEW, lifecheck: -1 });
    expect(await newest.get('real-1')).toMatchObject({ passport: { user: 'ada' } });
  }, 60_000);
});
