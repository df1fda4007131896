// What a crash costs expiry events: the announcing holder killed with -9 in the middle of a
// round. The documented guarantee: no session is announced twice; at most ANNOUNCE_PARALLEL
// (8) are lost, those deleted by the killed holder and not yet announced.
import { ANNOUNCE_PARALLEL } from '../lib/announcer';
import { type App, startApp } from './fixtures/apps';
import { eventually, server, sid, uniqueCollection, useDatabase } from './support/server';

const db = useDatabase('expired_crash');
// Where each delete scans the table (FerretDB 1.x), fewer: the survivor deletes the rest one
// by one, guarded by expiry, and every one of those deletes reads every row.
const N = server.caps.idLookups.ok ? 3_000 : 600;

const apps: App[] = [];
afterAll(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
});

const heard = (app: App) => app.lines.filter((l) => l.expired !== undefined).map((l) => l.expired);

it(`announces each of ${N} expired sessions at most once when the holder is killed mid-round`, async () => {
  const collection = uniqueCollection();
  const coll = db.db.collection<{ _id: string }>(collection);
  // Expired already, in a collection no TTL index covers: only the stores delete them.
  const ids = Array.from({ length: N }, () => sid());
  const past = new Date(Date.now() - 60_000);
  for (let i = 0; i < N; i += 500) {
    await coll.insertMany(
      ids.slice(i, i + 500).map((_id) => ({ _id, expiresAt: past, cookie: '{}', session: '{}' })),
    );
  }
  const env = {
    FIXTURE_URI: db.uri,
    FIXTURE_COLLECTION: collection,
    FIXTURE_LIFECHECK: '300',
    FIXTURE_EXPIRED_EVENTS: '1',
    FIXTURE_AUTO_INDEX: '0',
  };
  apps.push(...(await Promise.all([1, 2].map(() => startApp(env)))));
  // The first to announce holds the lease: kill it while it is still at work.
  let holder: App | undefined;
  const until = Date.now() + 60_000;
  // Every few milliseconds, not eventually()'s 50: the kill must land inside the round.
  while (holder === undefined && Date.now() < until) {
    holder = apps.find((a) => heard(a).length > 0);
    if (holder === undefined) await new Promise((r) => setTimeout(r, 2));
  }
  if (holder === undefined) throw new Error('no store announced within 60 s');
  const killed = holder as App;
  expect(await killed.kill()).toBe('SIGKILL');
  const before = heard(killed).length;
  const survivor = apps.find((a) => a !== killed) as App;
  await eventually(
    async () => (await coll.countDocuments({})) === 0,
    240_000,
    'the survivor to take over and delete the rest',
  );
  const all = [...heard(killed), ...heard(survivor)];
  const once = new Set(all);
  expect(all.length).toBe(once.size);
  const lost = N - once.size;
  console.log(
    `kill -9 of the announcing holder after ${before} of ${N}: ${lost} announcements lost, none twice`,
  );
  expect(lost).toBeLessThanOrEqual(ANNOUNCE_PARALLEL);
  expect(before).toBeLessThan(N);
}, 300_000);
