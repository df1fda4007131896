import type { SessionData } from 'express-session';
import { mongo } from 'mongoose';
import { sidTag } from '../lib/errors';
import { bsonSerializer, MongooseStore, type MongooseStoreOptions } from '../lib/index';
import { binaryBytes, bodyOf, tagOf } from './support/sealed';
import { cookie, sid, useDatabase } from './support/server';

const db = useDatabase('secret');
const raw = () => db.db.collection<Record<string, unknown> & { _id: string }>('sessions');

const OLD = 'an old secret, at least thirty-two characters long';
const NEW = 'the new secret, also thirty-two characters or more';
const OTHER = 'somebody else’s secret of thirty-two characters!';
/** A value that must never appear in clear in the database. */
const MARKER = 'credit-card-4111111111111111';

function session(data: Record<string, unknown> = {}, maxAge = 60_000): SessionData {
  return { cookie: cookie(maxAge), ...data } as unknown as SessionData;
}

/** Collects the store's `error` events. */
function errors(store: MongooseStore): Error[] {
  const seen: Error[] = [];
  store.on('error', (err: Error) => seen.push(err));
  return seen;
}

/** Reads as missing, reported once as ERR_SESSION_DECRYPT with its tag. */
async function expectMissing(store: MongooseStore, id: string): Promise<void> {
  const seen = errors(store);
  expect(await store.get(id)).toBeNull();
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({ code: 'ERR_SESSION_DECRYPT' });
  // Tagged, so an operator can tell which session it was, without the id itself.
  expect(seen[0]?.message).toContain(sidTag(id));
  expect(seen[0]?.message).not.toContain(id);
  expect(seen[0]?.message).not.toContain(MARKER);
}

/** The tag of the key `secret` seals with, read from a session written under it alone. */
async function tagFor(secret: string): Promise<string> {
  const store = await db.open({ secret, collection: 'tags' });
  const id = sid();
  await store.set(id, session());
  const doc = await db.db.collection<{ _id: string; session: string }>('tags').findOne({ _id: id });
  await db.db.collection('tags').deleteMany({});
  return tagOf(doc?.session) as string;
}

describe('secret', () => {
  it.each([
    ['a string', NEW],
    ['an array, the first encrypting', [NEW, OLD]],
  ])('round-trips a session under %s', async (_, secret) => {
    const store = await db.open({ secret });
    const id = sid();
    const data = { card: MARKER, nested: { list: [1, 'two', null] }, n: 3.5 };
    await store.set(id, session(data));
    const got = await store.get(id);
    expect(got).toMatchObject(data);
    expect(got?.cookie).toMatchObject({ originalMaxAge: 60_000, path: '/' });
    const doc = await raw().findOne({ _id: id });
    expect(tagOf(doc?.session)).toBe(await tagFor(NEW));
    expect(tagOf(doc?.cookie)).toBe(await tagFor(NEW));
  });

  it('seals each value with a fresh IV, and another instance with the secret opens them all', async () => {
    const writer = await db.open({ secret: NEW });
    const reader = await db.open({ secret: [NEW, OLD] });
    const ids = [sid(), sid(), sid()];
    for (const id of ids) await writer.set(id, session({ card: MARKER }));
    const docs = await raw()
      .find({ _id: { $in: ids } })
      .toArray();
    const bodies = docs.map((d) => bodyOf(d.session));
    // nonce (16 bytes) | IV (12 bytes): the IVs never repeat, whatever the nonces do.
    const ivs = new Set(bodies.map((b) => b.subarray(16, 28).toString('hex')));
    expect(ivs.size).toBe(ids.length);
    for (const id of ids) expect(await reader.get(id)).toMatchObject({ card: MARKER });
  });

  it('reads what another instance saved since, not what this one read or wrote before', async () => {
    const [a, b] = [await db.open({ secret: NEW }), await db.open({ secret: NEW })];
    const id = sid();
    await a.set(id, session({ n: 1 }));
    expect(await a.get(id)).toMatchObject({ n: 1 });
    const saved = session({ n: 2 }, 120_000);
    await b.set(id, saved);
    const got = await a.get(id);
    expect(got).toMatchObject({ n: 2 });
    // As given: express-session's Cookie may make it a few ms under 120 s on a loaded machine.
    expect(got?.cookie.originalMaxAge).toBe(saved.cookie.originalMaxAge);
  });

  it('leaves no session data, cookie field or user id in clear anywhere in the document', async () => {
    const store = await db.open({ secret: NEW });
    const id = sid();
    const c = cookie(60_000) as unknown as Record<string, unknown>;
    c.domain = 'marker-domain.example';
    await store.set(id, {
      cookie: c,
      card: MARKER,
      passport: { user: 'marker-user-7431' },
    } as unknown as SessionData);
    const doc = await raw().findOne({ _id: id });
    const bytes = Buffer.from(mongo.BSON.serialize(doc as mongo.Document)).toString('latin1');
    for (const secret of [MARKER, 'marker-domain', 'marker-user-7431', 'originalMaxAge', 'card'])
      expect(bytes).not.toContain(secret);
    // What stays in clear is what the server needs: the id and the expiry.
    expect(doc?._id).toBe(id);
    expect(doc?.expiresAt).toBeInstanceOf(Date);
    expect(typeof doc?.user).toBe('string');
  });

  it('reads a session written under an older secret, and its next touch or set re-encrypts it', async () => {
    const before = await db.open({ secret: OLD });
    const [touched, saved] = [sid(), sid()];
    await before.set(touched, session({ n: 1 }));
    await before.set(saved, session({ n: 2 }));
    const oldTag = tagOf((await raw().findOne({ _id: touched }))?.session);

    const rotated = await db.open({ secret: [NEW, OLD] });
    const a = (await rotated.get(touched)) as SessionData;
    expect(a).toMatchObject({ n: 1 });
    // Reading alone writes nothing.
    expect(tagOf((await raw().findOne({ _id: touched }))?.session)).toBe(oldTag);
    await rotated.touch(touched, a);
    const b = (await rotated.get(saved)) as SessionData;
    await rotated.set(saved, { ...b, n: 3 } as SessionData);

    const newTag = await tagFor(NEW);
    for (const id of [touched, saved]) {
      const doc = await raw().findOne({ _id: id });
      expect([tagOf(doc?.session), tagOf(doc?.cookie)]).toEqual([newTag, newTag]);
    }
    const after = await db.open({ secret: NEW });
    expect(await after.get(touched)).toMatchObject({ n: 1 });
    expect(await after.get(saved)).toMatchObject({ n: 3 });
  });

  it('re-encrypts a session read under an older secret without undoing a save made meanwhile', async () => {
    const before = await db.open({ secret: OLD });
    const id = sid();
    await before.set(id, session({ n: 1 }));
    const one = await db.open({ secret: [NEW, OLD] });
    const two = await db.open({ secret: [NEW, OLD] });
    const read = (await one.get(id)) as SessionData;
    // Another instance saves the session after this one read it.
    await two.set(id, { ...((await two.get(id)) as SessionData), n: 2 } as SessionData);
    await one.touch(id, read);
    const after = await db.open({ secret: NEW });
    expect(await after.get(id)).toMatchObject({ n: 2 });
  });

  it('keeps the encryption on touch, and touchAfter still skips writes', async () => {
    const store = await db.open({ secret: NEW, touchAfter: 60_000 });
    const id = sid();
    await store.set(id, session({ card: MARKER }, 600_000));
    const loaded = (await store.get(id)) as SessionData;
    const stored = await raw().findOne({ _id: id });
    await store.touch(id, loaded);
    // Within touchAfter: not written at all.
    expect(await raw().findOne({ _id: id })).toEqual(stored);
    const later = session({ card: MARKER }, 3_600_000);
    await store.touch(id, later);
    const touched = await raw().findOne({ _id: id });
    expect(touched?.cookie).not.toEqual(stored?.cookie);
    expect(touched?.session).toEqual(stored?.session);
    expect(tagOf(touched?.cookie)).toBe(await tagFor(NEW));
    expect(JSON.stringify(touched)).not.toContain('3600000');
    expect((await store.get(id))?.cookie.originalMaxAge).toBe(later.cookie.originalMaxAge);
  });

  it('re-encrypts a session read under an older secret even when touchAfter would skip the touch', async () => {
    const id = sid();
    await (await db.open({ secret: OLD })).set(id, session({ n: 1 }, 600_000));
    const rotated = await db.open({ secret: [NEW, OLD], touchAfter: 60_000 });
    const loaded = (await rotated.get(id)) as SessionData;
    await rotated.touch(id, loaded);
    const doc = await raw().findOne({ _id: id });
    expect([tagOf(doc?.session), tagOf(doc?.cookie)]).toEqual([
      await tagFor(NEW),
      await tagFor(NEW),
    ]);
    // Once re-encrypted, touchAfter skips as before.
    const again = (await rotated.get(id)) as SessionData;
    await rotated.touch(id, again);
    expect(await raw().findOne({ _id: id })).toEqual(doc);
  });

  describe('a session that does not decrypt reads as missing, reported once as ERR_SESSION_DECRYPT with its tag', () => {
    it('under a secret the store does not have', async () => {
      const id = sid();
      await (await db.open({ secret: OTHER })).set(id, session({ card: MARKER }));
      await expectMissing(await db.open({ secret: [NEW, OLD] }), id);
    });

    it('with one byte of its ciphertext changed', async () => {
      const store = await db.open({ secret: NEW });
      const id = sid();
      await store.set(id, session({ card: MARKER }));
      const bytes = binaryBytes((await raw().findOne({ _id: id }))?.session) as Buffer;
      bytes[bytes.length - 30] ^= 1;
      await raw().updateOne({ _id: id }, { $set: { session: new mongo.Binary(bytes, 0) } });
      await expectMissing(store, id);
    });

    it('copied under another session id, while the original still reads', async () => {
      const store = await db.open({ secret: NEW });
      const [victim, attacker] = [sid(), sid()];
      await store.set(victim, session({ role: 'admin', card: MARKER }));
      await store.set(attacker, session({ role: 'guest' }));
      const { cookie: c, session: s } = (await raw().findOne({ _id: victim })) as Record<
        string,
        unknown
      >;
      await raw().updateOne({ _id: attacker }, { $set: { cookie: c, session: s } });
      await expectMissing(store, attacker);
      expect(await store.get(victim)).toMatchObject({ role: 'admin' });
    });

    it('moved to the id that ends another one after a NUL, through a NUL in its user field', async () => {
      // The data is bound to field, user and id joined by NULs: with a NUL in the user field,
      // the victim's binding reads the same for the shorter id.
      const store = await db.open({ secret: NEW });
      const attacker = sid();
      const victim = `victim\0${attacker}`;
      await store.set(victim, session({ role: 'admin', card: MARKER, passport: { user: 'v' } }));
      await store.set(attacker, session({ role: 'guest' }));
      const stolen = (await raw().findOne({ _id: victim })) as Record<string, unknown>;
      await raw().updateOne(
        { _id: attacker },
        { $set: { session: stolen.session, user: `${stolen.user as string}\0victim` } },
      );
      await expectMissing(store, attacker);
      expect(await store.get(victim)).toMatchObject({ role: 'admin' });
    });

    it('with its cookie and data fields swapped', async () => {
      const store = await db.open({ secret: NEW });
      const id = sid();
      await store.set(id, session({ card: MARKER }));
      const { cookie: c, session: s } = (await raw().findOne({ _id: id })) as Record<
        string,
        unknown
      >;
      await raw().updateOne({ _id: id }, { $set: { cookie: s, session: c } });
      await expectMissing(store, id);
    });

    it('stored in clear: by this store without a secret, or by connect-mongo', async () => {
      const [plain, peer] = [sid(), sid()];
      await (await db.open()).set(plain, session({ card: MARKER }));
      await raw().insertOne({
        _id: peer,
        expires: new Date(Date.now() + 60_000),
        session: JSON.stringify({ cookie: cookie(60_000), card: MARKER }),
      });
      const store = await db.open({ secret: NEW });
      await expectMissing(store, plain);
      await expectMissing(store, peer);
    });

    it('with its ciphertext spelled another way in base64 (the text form)', async () => {
      const store = await db.open({ secret: NEW, secretFormat: 'text' });
      const id = sid();
      await store.set(id, session({ card: MARKER }));
      const sealed = (await raw().findOne({ _id: id }))?.session as string;
      // The last character carries spare bits: flipping the lowest gives the same bytes.
      const last = sealed.at(-1) as string;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const respelled = sealed.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
      expect(Buffer.from(respelled.split('.')[1] as string, 'base64url')).toEqual(
        Buffer.from(sealed.split('.')[1] as string, 'base64url'),
      );
      await raw().updateOne({ _id: id }, { $set: { session: respelled } });
      await expectMissing(store, id);
    });

    it('with its user field changed, so a session cannot be hidden from a sign-out', async () => {
      const store = await db.open({ secret: NEW });
      const [alice, mallory] = [sid(), sid()];
      await store.set(alice, session({ passport: { user: 'alice' } }));
      await store.set(mallory, session({ passport: { user: 'mallory' } }));
      const hashOf = async (id: string) => (await raw().findOne({ _id: id }))?.user;
      const [a, m] = [await hashOf(alice), await hashOf(mallory)];
      await raw().updateOne({ _id: alice }, { $set: { user: m } });
      await raw().updateOne({ _id: mallory }, { $set: { user: a } });
      // alice's session, now filed under mallory, no longer works for anyone.
      await expectMissing(store, alice);
      expect(await store.listByUser('mallory')).toEqual([]);
    });

    it('with its user field removed and its signed-out cookie put back', async () => {
      const store = await db.open({ secret: NEW });
      const id = sid();
      await store.set(id, session({ n: 1 }));
      const signedOut = await raw().findOne({ _id: id });
      await store.set(id, session({ n: 2, passport: { user: 'alice' } }));
      await raw().updateOne(
        { _id: id },
        { $set: { cookie: signedOut?.cookie }, $unset: { user: '' } },
      );
      await expectMissing(store, id);
      // Putting the whole signed-out copy back only signs the session out.
      await raw().replaceOne({ _id: id }, signedOut as Record<string, unknown>);
      expect(await store.get(id)).not.toHaveProperty('passport');
      expect(await store.listByUser('alice')).toEqual([]);
    });

    it('and is left out of all(), while the others are listed', async () => {
      const good = await db.open({ secret: NEW });
      const ok = sid();
      await good.set(ok, session({ n: 1 }));
      await (await db.open({ secret: OTHER })).set(sid(), session({ n: 2 }));
      const seen = errors(good);
      expect(Object.keys(await good.all())).toEqual([ok]);
      expect(seen.map((e) => (e as { code?: string }).code)).toEqual(['ERR_SESSION_DECRYPT']);
    });
  });

  describe('the stored form: BSON binary by default, text as 1.0.0-rc.1 wrote it', () => {
    it('writes binary, smaller than the same session in text, and both read the same', async () => {
      const [bin, text] = [
        await db.open({ secret: NEW }),
        await db.open({ secret: NEW, secretFormat: 'text' }),
      ];
      const [a, b] = [sid(), sid()];
      const data = { card: MARKER, list: Array.from({ length: 20 }, (_, i) => `item ${i}`) };
      await bin.set(a, session(data));
      await text.set(b, session(data));
      const [da, db2] = [await raw().findOne({ _id: a }), await raw().findOne({ _id: b })];
      expect(binaryBytes(da?.session)).toBeDefined();
      expect(binaryBytes(da?.cookie)).toBeDefined();
      expect(typeof db2?.session).toBe('string');
      const size = (d: unknown) => mongo.BSON.calculateObjectSize(d as mongo.Document);
      // base64 spells 3 bytes in 4 characters: the text form is about a third larger.
      expect(size(da)).toBeLessThan(size(db2) * 0.85);
      // Each instance reads the other's form.
      expect(await text.get(a)).toMatchObject(data);
      expect(await bin.get(b)).toMatchObject(data);
    });

    it('a rolling upgrade from text: read as is, sealed again in binary by the next touch, left alone under text', async () => {
      // Every touch written: a skipped one would prove nothing about the form.
      const old = await db.open({ secret: NEW, secretFormat: 'text', touchAfter: 0 });
      const [touched, kept] = [sid(), sid()];
      await old.set(touched, session({ n: 1 }, 600_000));
      await old.set(kept, session({ n: 2 }, 600_000));
      const upgraded = await db.open({ secret: NEW, touchAfter: 60_000 });
      const loaded = (await upgraded.get(touched)) as SessionData;
      expect(loaded).toMatchObject({ n: 1 });
      // Within touchAfter, but in the old form: written, as a rotation's would be.
      await upgraded.touch(touched, loaded);
      const doc = await raw().findOne({ _id: touched });
      expect(binaryBytes(doc?.session)).toBeDefined();
      expect(binaryBytes(doc?.cookie)).toBeDefined();
      // An instance still writing text reads it, and does not turn it back.
      const again = (await old.get(touched)) as SessionData;
      expect(again).toMatchObject({ n: 1 });
      await old.touch(touched, again);
      expect(binaryBytes((await raw().findOne({ _id: touched }))?.session)).toBeDefined();
      // A session written in text under `secretFormat: 'text'` stays text when that instance touches it.
      const k = (await old.get(kept)) as SessionData;
      await old.touch(kept, k);
      expect(typeof (await raw().findOne({ _id: kept }))?.session).toBe('string');
    });

    it('reencrypt() turns the text form into binary, and says how many it rewrote', async () => {
      const old = await db.open({ secret: NEW, secretFormat: 'text', collection: 'forms' });
      const ids = [sid(), sid(), sid()];
      for (const id of ids) await old.set(id, session({ card: MARKER }, 600_000));
      const store = await db.open({ secret: NEW, collection: 'forms' });
      expect(await store.reencrypt()).toBe(ids.length);
      const docs = await db.db.collection('forms').find({}).toArray();
      for (const d of docs) {
        expect(binaryBytes(d.session)).toBeDefined();
        expect(binaryBytes(d.cookie)).toBeDefined();
      }
      for (const id of ids) expect(await store.get(id)).toMatchObject({ card: MARKER });
      expect(await store.reencrypt()).toBe(0);
    });

    it('on a connection with promoteBuffers, which gives binary values back as Buffers', async () => {
      const store = await db.open({
        secret: NEW,
        collection: 'promoted',
        connectionOptions: { promoteBuffers: true },
      });
      const id = sid();
      await store.set(id, session({ card: MARKER }, 600_000));
      const loaded = (await store.get(id)) as SessionData;
      expect(loaded).toMatchObject({ card: MARKER });
      await store.set(id, { ...loaded, n: 2 } as SessionData);
      // Current, so nothing to rewrite; and another instance reads what it wrote.
      expect(await store.reencrypt()).toBe(0);
      expect(await (await db.open({ secret: NEW, collection: 'promoted' })).get(id)).toMatchObject({
        n: 2,
      });
    });

    it.each([
      ['another binary subtype', (b: Buffer) => new mongo.Binary(b, 5)],
      [
        'a form byte it does not know',
        (b: Buffer) => new mongo.Binary(Buffer.concat([Buffer.from([2]), b.subarray(1)]), 0),
      ],
      ['a truncated value', (b: Buffer) => new mongo.Binary(b.subarray(0, 20), 0)],
    ])('a binary value with %s reads as missing', async (_what, change) => {
      const store = await db.open({ secret: NEW });
      const id = sid();
      await store.set(id, session({ card: MARKER }));
      const bytes = binaryBytes((await raw().findOne({ _id: id }))?.session) as Buffer;
      await raw().updateOne({ _id: id }, { $set: { session: change(bytes) } });
      // Read by another instance, which has not seen the value before.
      await expectMissing(await db.open({ secret: NEW }), id);
    });
  });

  describe('sign out everywhere', () => {
    const signedIn = (user: string, n = 0) => session({ passport: { user }, n });

    it('stores a keyed hash of the user, and finds the user’s sessions by it', async () => {
      const store = await db.open({ secret: NEW });
      const [a, b] = [sid(), sid()];
      await store.set(a, signedIn('alice'));
      await store.set(b, signedIn('bob'));
      expect((await raw().findOne({ _id: a }))?.user).not.toContain('alice');
      expect((await store.listByUser('alice')).map((s) => s.id)).toEqual([a]);
      // Without the secret, nobody can tell whose the hash is: not even another store.
      const other = await db.open({ secret: OTHER });
      expect(await other.listByUser('alice')).toEqual([]);
    });

    it('finds sessions still under an older secret, and destroys them', async () => {
      const before = await db.open({ secret: OLD });
      const [a, b] = [sid(), sid()];
      await before.set(a, signedIn('alice', 1));
      const rotated = await db.open({ secret: [NEW, OLD] });
      await rotated.set(b, signedIn('alice', 2));
      expect((await rotated.listByUser('alice')).map((s) => s.id).sort()).toEqual([a, b].sort());
      expect(await rotated.destroyByUser('alice')).toBe(2);
      expect(await rotated.get(a)).toBeNull();
    });
  });

  describe('refuses', () => {
    const open = (opts: MongooseStoreOptions) => () => new MongooseStore(db.uri, opts);

    it.each([
      ['a secret of 31 characters', 'x'.repeat(31), /at least 32 characters/],
      ['an empty array', [], /non-empty array/],
      ['a number', 42, /got number/],
      ['null', null, /got object/],
      ['an array holding a short one', [NEW, 'short'], /at least 32 characters/],
      ['an array holding a Buffer', [NEW, Buffer.from(OLD)], /got object/],
      ['a secret with a lone surrogate', '\uD800'.repeat(32), /well-formed/],
    ])('%s, with a TypeError naming the option', (_, secret, message) => {
      expect(open({ secret: secret as string })).toThrow(TypeError);
      expect(open({ secret: secret as string })).toThrow(/secret: /);
      expect(open({ secret: secret as string })).toThrow(message);
    });

    it("serializer 'bson' with a secret, by name or as the exported object", () => {
      expect(open({ secret: NEW, serializer: 'bson' })).toThrow(
        /secret: not with serializer 'bson'/,
      );
      expect(open({ secret: NEW, serializer: bsonSerializer })).toThrow(
        /secret: not with serializer 'bson'/,
      );
    });

    it('legacy with a secret: the peers’ documents are in clear', () => {
      expect(open({ secret: NEW, legacy: true })).toThrow(/secret: not with legacy/);
    });

    it('a serializer of your own that gives no string, at construction', () => {
      const serializer = {
        serialize: (v: Record<string, unknown>) => Buffer.from(JSON.stringify(v)),
        deserialize: (v: unknown) => JSON.parse(String(v)),
      };
      expect(open({ secret: NEW, serializer })).toThrow(/secret: the serializer must give strings/);
    });

    it('and leaves the caller’s array of secrets as it was', async () => {
      const secrets = [NEW, OLD];
      await open({ secret: secrets })().close();
      expect(Object.isFrozen(secrets)).toBe(false);
    });

    it('a serializer that gives a string only for some sessions: set fails, storing nothing', async () => {
      const store = await db.open({
        secret: NEW,
        serializer: {
          serialize: (v) => ('odd' in v ? { ...v } : JSON.stringify(v)),
          deserialize: (v) => JSON.parse(v as string),
        },
      });
      const id = sid();
      await expect(store.set(id, session({ odd: true }))).rejects.toMatchObject({
        code: 'ERR_SESSION_SERIALIZE',
      });
      expect(await raw().findOne({ _id: id })).toBeNull();
    });

    it.each([
      ['without a secret', { secretFormat: 'binary' }],
      ['a format it does not know', { secret: NEW, secretFormat: 'base64' }],
    ])('secretFormat %s, as a TypeError', (_what, opts) => {
      expect(open(opts as MongooseStoreOptions)).toThrow(TypeError);
      expect(open(opts as MongooseStoreOptions)).toThrow(/secretFormat/);
    });

    it('reencrypt() without a secret, as a rejection and through the callback', async () => {
      const store = await db.open();
      await expect(store.reencrypt()).rejects.toThrow(TypeError);
      const err = await new Promise((done) => store.reencrypt((e) => done(e)));
      expect(err).toBeInstanceOf(TypeError);
    });
  });
});
