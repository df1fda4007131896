import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { SessionCipher } from '../lib/cipher';
import { SessionCodec } from '../lib/codec';
import { jsonSerializer, type MongooseStore, passportUser } from '../lib/index';
import { transient } from '../lib/retry';
import type { SessionDocument } from '../lib/schema';
import { SealedSealing } from '../lib/sealing';
import type { Capability } from '../tools/capabilities';
import { tagOf } from './support/sealed';
import { cookie, describeIf, server, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('reencrypt');

const OLD = 'an old secret, at least thirty-two characters long';
const NEW = 'the new secret, also thirty-two characters or more';
const OTHER = 'somebody else’s secret of thirty-two characters!';

/** Sessions sealed under `secret` by the store's own codec, inserted in bulk (set is slower). */
async function seed(
  coll: mongo.Collection<SessionDocument>,
  secret: string,
  ids: string[],
  maxAge = 3_600_000,
): Promise<void> {
  const codec = new SessionCodec(
    jsonSerializer,
    passportUser,
    new SealedSealing(new SessionCipher([secret])),
  );
  const docs = ids.map((id, i) => {
    const session = { cookie: cookie(maxAge), passport: { user: `user${i % 50}` }, n: i };
    const at = new Date(Date.now() + maxAge);
    return { _id: id, ...codec.encode(id, session as unknown as SessionData, at).fields };
  });
  for (let i = 0; i < docs.length; i += 1_000) await coll.insertMany(docs.slice(i, i + 1_000));
}

/** The key tag each document's data is sealed with, by id. */
async function tags(coll: mongo.Collection<SessionDocument>): Promise<Map<string, string[]>> {
  const docs = await coll.find({}).toArray();
  return new Map(docs.map((d) => [d._id, [d.cookie, d.session].map((v) => tagOf(v) as string)]));
}

/**
 * Runs one request of an app instance. A transient server error (FerretDB 1 answers
 * SQLITE_BUSY when the machine is loaded) fails that request, as it would fail an app's
 * request, and no more: resolves to whether it went through. Anything else fails the test.
 */
async function request<T>(op: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  try {
    return { ok: true, value: await op() };
  } catch (err) {
    if (!transient(err)) throw err;
    return { ok: false };
  }
}

/**
 * An app instance serving meanwhile: reads a random session and saves it changed, four at a
 * time (never two of one session at once), until stopped. Remembers every value it saved, in
 * order, per session, and which saves failed with a transient error (applied or not: unknown).
 */
function serve(app: MongooseStore, ids: string[]) {
  const saved = new Map<string, number[]>();
  const unsure = new Set<number>();
  let stop = false;
  let writes = 0;
  // One save at a time per session, so that its last save is the one that must stay.
  const busy = new Set<string>();
  const worker = async () => {
    while (!stop) {
      const id = ids[Math.floor(Math.random() * ids.length)] as string;
      if (busy.has(id)) continue;
      busy.add(id);
      const read = await request(() => app.get(id));
      if (read.ok) {
        const s = read.value;
        if (s === null) throw new Error('a live session read as missing while it was re-encrypted');
        const write = ++writes;
        const list = saved.get(id) ?? [];
        list.push(write);
        saved.set(id, list);
        if (!(await request(() => app.set(id, { ...s, write } as SessionData))).ok)
          unsure.add(write);
      }
      busy.delete(id);
    }
  };
  const running = Promise.all([worker(), worker(), worker(), worker()]);
  return {
    saved,
    unsure,
    /** The values a session may hold at the end: its last save, or one before it that failed. */
    finals(id: string): (number | undefined)[] {
      const list = saved.get(id) ?? [];
      const may: (number | undefined)[] = [];
      for (let i = list.length - 1; ; i--) {
        may.push(list[i]);
        if (i < 0 || !unsure.has(list[i] as number)) return may;
      }
    },
    async stop(): Promise<number> {
      stop = true;
      await running;
      return writes;
    },
  };
}

const everywhere: Capability = { ok: true, reason: '' };

for (const [n, needs] of [
  [1_000, everywhere],
  [10_000, server.caps.idLookups],
] as const) {
  describeIf(
    needs,
    `reencrypt() over ${n.toLocaleString('en')} sessions, with the app saving meanwhile`,
    () => {
      it('rewrites every live one under the newest secret, keeps what the app saved, and reports the rest', async () => {
        const collection = uniqueCollection('reencrypt');
        const coll = db.db.collection<SessionDocument>(collection);
        const ids = Array.from(
          { length: n },
          (_, i) => `live-${String(i).padStart(6, '0')}-${Math.random().toString(36).slice(2)}`,
        );
        const foreign = Array.from({ length: 5 }, (_, i) => `foreign-${i}`);
        await seed(coll, OLD, ids);
        await seed(coll, OTHER, foreign);
        // No TTL index and no sweeper: only our code touches this collection.
        const options = { collection, autoIndex: false, lifecheck: -1, secret: [NEW, OLD] };
        const store = await db.open(options);
        const reports: Error[] = [];
        store.on('error', (err: Error) => reports.push(err));
        const app = serve(await db.open(options), ids);

        const started = Date.now();
        const rewritten = await store.reencrypt();
        const ms = Date.now() - started;
        const writes = await app.stop();
        console.log(
          `reencrypt: ${rewritten} of ${n} sessions rewritten in ${ms} ms, while the app saved ${writes} times (${app.saved.size} sessions; ${app.unsure.size} saves failed with a transient error)`,
        );

        // Sessions the app saved before reencrypt reached them were already under the newest.
        expect(rewritten).toBeLessThanOrEqual(n);
        expect(rewritten).toBeGreaterThanOrEqual(n - app.saved.size);
        expect(writes).toBeGreaterThan(0);
        expect(
          reports.map((e) => [
            (e as { code?: string }).code,
            /\b5 live sessions\b/.test(e.message),
          ]),
        ).toEqual([['ERR_SESSION_DECRYPT', true]]);

        // The older secret can now be dropped: every session reads under the newest alone.
        const newest = await db.open({ ...options, secret: NEW });
        const all = await newest.all();
        expect(Object.keys(all).sort()).toEqual([...ids].sort());
        const newTag = (await tags(coll)).get(ids[0] as string)?.[0];
        for (const [id, t] of await tags(coll)) {
          if (!id.startsWith('foreign-')) expect(t).toEqual([newTag, newTag]);
        }
        let lost = 0;
        for (const [i, id] of ids.entries()) {
          const s = all[id] as unknown as { n: number; write?: number };
          const saved = app.saved.get(id);
          expect(s.n).toBe(i);
          // Its own value or one of the app's saves to it: never another's, never a mix. Where
          // updates are not atomic, a save can be undone by a rewrite at the same moment.
          const allowed: (number | undefined)[] = [...(saved ?? [])];
          if (saved === undefined || !server.caps.atomicUpdates.ok) allowed.push(undefined);
          expect(allowed).toContain(s.write);
          if (saved !== undefined && !app.finals(id).includes(s.write)) lost++;
        }
        if (server.caps.atomicUpdates.ok) expect(lost).toBe(0);
        else
          console.log(
            `reencrypt: ${lost} of the app's saves were undone; not asserted here: ${server.caps.atomicUpdates.reason}`,
          );

        // Nothing is left under the older secret.
        expect(await store.reencrypt()).toBe(0);
        await coll.drop();
      }, 600_000);
    },
  );
}

describe('reencrypt() beside an instance that keeps touching the same few sessions', () => {
  it('rewrites their data though their cookies keep moving, and resolves only when none is left', async () => {
    const collection = uniqueCollection('hot');
    const coll = db.db.collection<SessionDocument>(collection);
    const ids = Array.from(
      { length: 20 },
      (_, i) => `hot-${i}-${Math.random().toString(36).slice(2)}`,
    );
    await seed(coll, OLD, ids);
    const options = { collection, autoIndex: false, lifecheck: -1, secret: [NEW, OLD] };
    const store = await db.open(options);
    const other = await db.open(options);
    let stop = false;
    let touches = 0;
    let touched: () => void = () => {};
    const firstTouch = new Promise<void>((done) => {
      touched = done;
    });
    // Direct touches of sessions this instance never read: each rewrites the cookie alone,
    // under the newest secret, and leaves the data under the old one.
    const toucher = async () => {
      while (!stop) {
        const i = Math.floor(Math.random() * ids.length);
        const sent = await request(() =>
          other.touch(
            ids[i] as string,
            { cookie: cookie(3_600_000), n: i } as unknown as SessionData,
          ),
        );
        if (sent.ok) {
          touches++;
          touched();
        }
      }
    };
    const touching = Promise.all(Array.from({ length: 8 }, toucher));
    // Started once the touches are under way, however loaded the machine.
    await firstTouch;
    const outcome = await store.reencrypt().then(
      (n) => ({ n }),
      (err: { code?: string }) => ({ code: err.code }),
    );
    stop = true;
    await touching;
    console.log(`reencrypt beside ${touches} touches: ${JSON.stringify(outcome)}`);
    expect(touches).toBeGreaterThan(0);
    const newest = await db.open({ ...options, secret: NEW });
    const readable = async () => Object.keys(await newest.all()).sort();
    if (server.caps.atomicUpdates.ok) {
      // Resolved: then nothing is left under the old secret, as the README promises.
      expect(outcome).toHaveProperty('n');
      expect(await readable()).toEqual([...ids].sort());
    } else {
      // A touch may put the old data back after each rewrite, even after the last check: then
      // reencrypt says it is not done, or a second run, once the touches stop, finishes it.
      if ('code' in outcome) expect(outcome.code).toBe('ERR_REENCRYPT_INCOMPLETE');
      await store.reencrypt();
      expect(await readable()).toEqual([...ids].sort());
    }
    await coll.drop();
  });
});

// The two mistakes ERR_REENCRYPT_INCOMPLETE is for: an instance not yet given the new secret
// first, and one still writing text (the first step of an upgrade from rc.1). Its message
// names the mistake at hand among its causes.
const behindBy = [
  {
    mistake: 'the older secret first',
    secret: [OLD, NEW],
    secretFormat: 'binary',
    named: /with an older secret first/,
  },
  { mistake: 'text', secret: [NEW], secretFormat: 'text', named: /another secretFormat/ },
] as const;

describe.each(behindBy)(
  'reencrypt() while an instance still writes with $mistake',
  (behindOptions) => {
    it('rejects with ERR_REENCRYPT_INCOMPLETE, never resolves, while sessions keep coming back stale', async () => {
      const collection = uniqueCollection('stale');
      const coll = db.db.collection<SessionDocument>(collection);
      // The writer's sessions sort first, so each pass rewrites them early and then still reads
      // the rest: the writer has that whole walk to put one back under the old secret.
      const written = Array.from(
        { length: 10 },
        (_, i) => `a-${i}-${Math.random().toString(36).slice(2)}`,
      );
      const rest = Array.from({ length: 1_200 }, (_, i) => `z-${String(i).padStart(4, '0')}`);
      await seed(coll, OLD, written);
      await seed(coll, NEW, rest);
      const options = { collection, autoIndex: false, lifecheck: -1 };
      const store = await db.open({ ...options, secret: [NEW, OLD] });
      const behind = await db.open({
        ...options,
        secret: [...behindOptions.secret],
        secretFormat: behindOptions.secretFormat,
      });
      let settled = false;
      let saves = 0;
      let saved: () => void = () => {};
      const firstSave = new Promise<void>((done) => {
        saved = done;
      });
      // Two writers over halves of the set: never two saves of one session at once.
      const writer = async (mine: string[]) => {
        for (let i = 0; !settled; i++) {
          const n = i % mine.length;
          const sent = await request(() =>
            behind.set(
              mine[n] as string,
              { cookie: cookie(3_600_000), n, i } as unknown as SessionData,
            ),
          );
          if (sent.ok) {
            saves++;
            saved();
          }
        }
      };
      const writing = Promise.all([writer(written.slice(0, 5)), writer(written.slice(5))]);
      await firstSave;
      // Until reencrypt settles, whatever it does: every one of its passes has saves to find.
      const outcome = await store.reencrypt().then(
        (n) => ({ resolved: n }),
        (err: { code?: string; message: string }) => ({ code: err.code, message: err.message }),
      );
      settled = true;
      await writing;
      console.log(`reencrypt beside ${saves} stale saves: ${JSON.stringify(outcome)}`);
      expect(outcome).toEqual({ code: 'ERR_REENCRYPT_INCOMPLETE', message: expect.any(String) });
      expect((outcome as { message: string }).message).toMatch(behindOptions.named);
      await coll.drop();
    }, 120_000);
  },
);
