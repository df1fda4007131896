import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { SessionData } from 'express-session';
import { mongo } from 'mongoose';
import { SessionCipher } from '../lib/cipher';
import { SessionCodec } from '../lib/codec';
import type { Expected } from '../lib/document';
import { GuardedWrites } from '../lib/guarded';
import { jsonSerializer, passportUser } from '../lib/index';
import { reencryptAll } from '../lib/reencrypt';
import { RETRY_ATTEMPTS } from '../lib/retry';
import type { SessionDocument } from '../lib/schema';
import { SealedSealing } from '../lib/sealing';
import { formatUri, parseUri } from '../lib/uris';
import type { Capability } from '../tools/capabilities';
import { cookie, describeIf, server, uniqueCollection, useDatabase } from './support/server';

const OLD = 'an old secret, at least thirty-two characters long';
const NEW = 'the new secret, also thirty-two characters or more';

/** The name the store under test gives its connections: only its commands are made to fail. */
const APP = `cms-reencrypt-${randomBytes(4).toString('hex')}`;

/**
 * Whether the server takes mongod's `failCommand` fail point, limited to one client by its
 * `appName`: a real transient failure, on demand. Asked at load, in a child process, so that a
 * server without it gives a real skip; the probe arms the fail point for a name no client has,
 * then disarms it.
 */
function failCommand(): Capability {
  const probe = `
    const { mongo } = require('mongoose');
    (async () => {
      const client = await mongo.MongoClient.connect(process.argv[1], { serverSelectionTimeoutMS: 5000 });
      const admin = client.db('admin');
      try {
        const data = { failCommands: ['ping'], appName: 'cms-probe-nobody', errorCode: 112 };
        await admin.command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data });
        await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
        process.stdout.write('ok');
      } catch (err) {
        process.stdout.write(String(err.codeName ?? err.name) + ' (code ' + String(err.code) + ')');
      } finally {
        await client.close();
      }
    })();`;
  try {
    const said = execFileSync(process.execPath, ['-e', probe, server.uri], {
      cwd: `${__dirname}/..`,
      encoding: 'utf8',
      timeout: 20_000,
    });
    return said === 'ok'
      ? { ok: true, reason: 'configureFailPoint failCommand accepted' }
      : {
          ok: false,
          reason: `the server refuses configureFailPoint failCommand (${said}): no way to make one of its answers fail`,
        };
  } catch (err) {
    return { ok: false, reason: `the fail point probe did not finish: ${(err as Error).name}` };
  }
}

describeIf(
  failCommand(),
  'reencrypt() when the server answers an update with a transient error',
  () => {
    const db = useDatabase('reencrypt_busy');
    const admin = () => db.client.db('admin');

    /** Arms the fail point: the store's next `times` updates fail with WriteConflict (112). */
    async function failUpdates(times: number): Promise<void> {
      // No error label: the driver passes it on as it is, and only reencrypt's own retry can
      // cure it.
      const data = { failCommands: ['update'], appName: APP, errorCode: 112, errorLabels: [] };
      await admin().command({ configureFailPoint: 'failCommand', mode: { times }, data });
    }

    /** Disarms the fail point; resolves to how many commands it failed. */
    async function disarm(): Promise<number> {
      const said = await admin().command({ configureFailPoint: 'failCommand', mode: 'off' });
      return said.count as number;
    }

    /** A store re-encrypting `ids`, seeded under the old secret, with connections named APP. */
    async function seeded(ids: string[]) {
      const collection = uniqueCollection('busy');
      const before = await db.open({ collection, autoIndex: false, lifecheck: -1, secret: OLD });
      for (const id of ids)
        await before.set(id, { cookie: cookie(3_600_000), id } as unknown as SessionData);
      const uri = parseUri(db.uri);
      uri.params.set('appName', [APP]);
      const options = { collection, autoIndex: false, lifecheck: -1, secret: [NEW, OLD] };
      const store = await db.open(options, formatUri(uri));
      return { store, options, coll: db.db.collection<SessionDocument>(collection) };
    }

    afterEach(async () => {
      await disarm();
    });

    it('tries the failed update again and resolves, every session under the newest secret', async () => {
      const ids = ['busy-1', 'busy-2', 'busy-3'];
      const { store, options, coll } = await seeded(ids);
      await failUpdates(1);
      expect(await store.reencrypt()).toBe(ids.length);
      expect(await disarm()).toBe(1);
      const newest = await db.open({ ...options, secret: NEW });
      expect(Object.keys(await newest.all()).sort()).toEqual(ids);
      await coll.drop();
    });

    it('gives up with ERR_SERVER_BUSY, not the server’s own error, once every try failed', async () => {
      const { store, coll } = await seeded(['busy-1']);
      await failUpdates(RETRY_ATTEMPTS);
      const err = await store.reencrypt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: 'MongooseStoreError', code: 'ERR_SERVER_BUSY' });
      expect((err as Error).message).toMatch(/^connect-mongoose-session: reencrypt: /);
      expect(await disarm()).toBe(RETRY_ATTEMPTS);
      await coll.drop();
    }, 30_000);
  },
);

/**
 * Guarded writes whose next `failures` updates meet the error FerretDB 1 gives when SQLite's
 * lock is held, before they reach the server: the fault of a busy server, on every server.
 */
class LockedWrites extends GuardedWrites {
  tried = 0;

  constructor(
    coll: mongo.Collection<SessionDocument>,
    private failures: number,
  ) {
    super(async () => coll);
  }

  override update(
    sid: string,
    expected: Expected,
    update: mongo.UpdateFilter<SessionDocument>,
  ): Promise<boolean> {
    this.tried++;
    if (this.failures-- > 0)
      return Promise.reject(
        new mongo.MongoServerError({
          message: 'database is locked (5) (SQLITE_BUSY): session value quoted here',
          code: 1,
          codeName: 'InternalError',
        }),
      );
    return super.update(sid, expected, update);
  }
}

describe('reencrypt() when a rewrite meets a locked database', () => {
  const db = useDatabase('reencrypt_locked');
  const codec = (secrets: string[]) =>
    new SessionCodec(jsonSerializer, passportUser, new SealedSealing(new SessionCipher(secrets)));

  /** A collection holding `ids`, sealed under the old secret. */
  async function seeded(ids: string[]): Promise<mongo.Collection<SessionDocument>> {
    const coll = db.db.collection<SessionDocument>(uniqueCollection('locked'));
    const old = codec([OLD]);
    const at = new Date(Date.now() + 3_600_000);
    await coll.insertMany(
      ids.map((id) => {
        const s = { cookie: cookie(3_600_000), id } as unknown as SessionData;
        // No user: the field is left out, not stored as null.
        const { user: _none, ...fields } = old.encode(id, s, at).fields;
        return { _id: id, ...fields };
      }),
    );
    return coll;
  }

  it('tries the rewrite again and resolves, every session under the newest secret', async () => {
    const ids = ['locked-1', 'locked-2', 'locked-3'];
    const coll = await seeded(ids);
    const writes = new LockedWrites(coll, 2);
    const reports: Error[] = [];
    expect(await reencryptAll(coll, codec([NEW, OLD]), writes, (e) => reports.push(e))).toBe(3);
    expect(writes.tried).toBe(ids.length + 2);
    expect(reports).toEqual([]);
    const newest = codec([NEW]);
    for (const doc of await coll.find({}).toArray())
      expect(newest.decode(doc).session).toMatchObject({ id: doc._id });
    await coll.drop();
  });

  it('gives up with ERR_SERVER_BUSY, never the server’s own words, once every try failed', async () => {
    const coll = await seeded(['locked-1']);
    const writes = new LockedWrites(coll, RETRY_ATTEMPTS);
    const err = await reencryptAll(coll, codec([NEW, OLD]), writes, () => {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'MongooseStoreError', code: 'ERR_SERVER_BUSY' });
    expect((err as Error).message).not.toMatch(/quoted|locked-1/);
    expect(writes.tried).toBe(RETRY_ATTEMPTS);
    await coll.drop();
  }, 30_000);
});
