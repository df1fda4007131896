import { sign } from 'cookie-signature';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../example/app';
import { eventually, sid, uniqueCollection, useDatabase } from '../support/server';

// Awaits the store's stats() and its tracing channel (issue 23).
const db = useDatabase('metrics');

/** The value of the sample `name{labels}` in Prometheus text, or 0 when absent. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const DURATION = 'connect_mongoose_session_operation_duration_seconds_count';

async function scrape(app: Express): Promise<string> {
  const res = await request(app).get('/metrics').expect(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text;
}

describe('/metrics', () => {
  it('counts operations by operation and outcome: the counts move with traffic', async () => {
    const store = await db.open();
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    const before = await scrape(app);
    const agent = request.agent(app);
    for (let n = 0; n < 3; n++) await agent.get('/');
    // A signed cookie for a session the store does not have: a miss.
    await request(app)
      .get('/')
      .set('Cookie', `sid=${encodeURIComponent(`s:${sign(sid(), 's')}`)}`);
    const after = await scrape(app);
    const moved = (labels: string) =>
      sample(after, DURATION, labels) - sample(before, DURATION, labels);
    // The first view stores the session; the next two read it (hits) and save the new count.
    expect(moved('{operation="set",outcome="ok"}')).toBeGreaterThanOrEqual(3);
    expect(moved('{operation="get",outcome="hit"}')).toBeGreaterThanOrEqual(2);
    expect(moved('{operation="get",outcome="miss"}')).toBeGreaterThanOrEqual(1);
    expect(moved('{operation="length",outcome="ok"}')).toBeGreaterThanOrEqual(4);
    expect(after).toContain('# TYPE connect_mongoose_session_operation_duration_seconds histogram');
  });

  it('gives the live sessions and the connection from stats() at each scrape', async () => {
    const store = await db.open();
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    for (let n = 0; n < 2; n++) await request(app).get('/');
    const text = await scrape(app);
    expect(sample(text, 'connect_mongoose_session_live_sessions')).toBe(2);
    expect(sample(text, 'connect_mongoose_session_connected')).toBe(1);
    expect(text).toMatch(/connect_mongoose_session_info\{expiry="[a-z-]+",lease="[a-z]+"\} 1/);
  });

  it('counts expired sessions still stored, where nothing deletes them', async () => {
    // No TTL index (autoIndex: false) and no sweeper: the documents stay on any server.
    const collection = uniqueCollection();
    const store = await db.open({ collection, autoIndex: false, lifecheck: -1 });
    await db.db.collection<{ _id: string }>(collection).insertMany(
      [1, 2].map(() => ({
        _id: sid(),
        expiresAt: new Date(Date.now() - 60_000),
        cookie: '{"path":"/"}',
        session: '{}',
      })),
    );
    const text = await scrape(createApp({ store, secret: 's', maxAge: 60_000 }));
    expect(sample(text, 'connect_mongoose_session_expired_pending_sessions')).toBe(2);
    expect(sample(text, 'connect_mongoose_session_live_sessions')).toBe(0);
  });

  it('counts sweeps as the sweeper runs', async () => {
    const store = await db.open({ collection: uniqueCollection(), lifecheck: 200 });
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    const sweeps = (text: string) =>
      sample(text, 'connect_mongoose_session_sweeps_total', '{outcome="ok"}');
    const before = sweeps(await scrape(app));
    await eventually(async () => sweeps(await scrape(app)) >= before + 2, 15_000, 'two sweeps');
  });

  it('answers both routes without making a session or setting a cookie', async () => {
    const store = await db.open();
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    for (const path of ['/metrics', '/healthz']) {
      const res = await request(app).get(path).expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(await store.length()).toBe(0);
  });
});

describe('/healthz', () => {
  it('answers 200 while the store is connected', async () => {
    const store = await db.open();
    const res = await request(createApp({ store, secret: 's', maxAge: 60_000 }))
      .get('/healthz')
      .expect(200);
    expect(res.text).toBe('ok\n');
  });

  it('answers 503 once the store is closed', async () => {
    const store = await db.open();
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    await store.close();
    await request(app).get('/healthz').expect(503);
  });
});
