// The server profile: what the store learns from buildInfo once per connect, and what guarded
// writes (reencrypt) then do without asking again.
import type { mongo } from 'mongoose';
import { detectProfile, knownProfile, profileOf } from '../lib/server-profile';
import { server, useDatabase } from './support/server';

const db = useDatabase('profile');

/** A Db whose buildInfo is answered by `answer`, counting the questions. */
function fakeDb(answer: () => Promise<mongo.Document>): { db: mongo.Db; asked: () => number } {
  let asked = 0;
  const client = {};
  const fake = {
    client,
    admin: () => ({
      command: () => {
        asked++;
        return answer();
      },
    }),
  };
  return { db: fake as unknown as mongo.Db, asked: () => asked };
}

describe('the server profile', () => {
  it('takes this server for FerretDB 1 exactly when its updates are not atomic', async () => {
    const profile = await detectProfile(db.db);
    expect(profile.ferretdb1).toBe(!server.caps.atomicUpdates.ok);
    expect(knownProfile(db.db)).toBe(profile);
  });

  it.each([
    ['FerretDB 1.x', { version: '7.0.42', ferretdbVersion: 'v1.24.0' }, 'ferretdb1', true],
    ['FerretDB 2.x', { version: '7.0.77', ferretdb: { version: 'v2.7.0' } }, 'ferretdb2', false],
    ['mongod', { version: '8.0.4' }, 'mongodb', false],
  ])('tells %s by its buildInfo', async (_what, info, kind, ferretdb1) => {
    const { db: fake } = fakeDb(() => Promise.resolve(info));
    expect(await detectProfile(fake)).toMatchObject({ server: kind, ferretdb1 });
  });

  it('takes a server that refuses buildInfo for a plain MongoDB, filters in the query', async () => {
    const { db: fake } = fakeDb(() => Promise.reject(new Error('not authorized')));
    expect(await detectProfile(fake)).toMatchObject({ server: 'mongodb', ferretdb1: false });
  });

  it('asks once while a detection is under way, and not at all once known', async () => {
    let answer: (info: mongo.Document) => void = () => {};
    const { db: fake, asked } = fakeDb(() => new Promise((ok) => (answer = ok)));
    const first = detectProfile(fake);
    const waiting = profileOf(fake);
    expect(knownProfile(fake)).toBeUndefined();
    answer({ ferretdbVersion: 'v1.24.0' });
    expect(await waiting).toBe(await first);
    expect(profileOf(fake)).toBe(await first);
    expect(asked()).toBe(1);
  });
});
