import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../example/app';
import { MongooseStore } from '../../lib/index';
import {
  ferretdbBinaryPath,
  freePort,
  type RunningServer,
  startFerretDB,
} from '../../tools/test-server';
import { describeIf, eventually } from '../support/server';

// Awaits the store's stats() (issue 23). A server of its own, killed and restarted on the same
// port and data, as spec/server-crash.spec.ts does.
const helper = {
  ok: existsSync(ferretdbBinaryPath()),
  reason:
    'the FerretDB helper is not built (npx tsx tools/build-ferretdb.ts), and only it can be killed and restarted on its data',
};

describeIf(helper, '/healthz when the server goes away and comes back', () => {
  let dir = '';
  let port = 0;
  let server: RunningServer | undefined;
  let store: MongooseStore | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'cms-healthz-'));
    port = await freePort();
    server = await startFerretDB(port, { dir });
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (app: Express) => (await request(app).get('/healthz')).status;

  it('turns 503 when the server is killed, and 200 again once it is back', async () => {
    store = await new Promise<MongooseStore>((ok, fail) => {
      const s: MongooseStore = new MongooseStore(
        `mongodb://127.0.0.1:${port}/healthz`,
        { waitForServer: 1_000 },
        (err) => (err ? fail(err) : ok(s)),
      );
    });
    store.on('error', () => {});
    const app = createApp({ store, secret: 's', maxAge: 60_000 });
    expect(await status(app)).toBe(200);

    await (server as RunningServer).kill?.();
    const killedAt = Date.now();
    await eventually(async () => (await status(app)) === 503, 30_000, '/healthz to say 503');
    const downMs = Date.now() - killedAt;

    server = await startFerretDB(port, { dir });
    const restartedAt = Date.now();
    await eventually(async () => (await status(app)) === 200, 30_000, '/healthz to say 200');
    console.log(
      `/healthz: 503 ${downMs} ms after the kill, 200 ${Date.now() - restartedAt} ms after the restart`,
    );
  }, 90_000);
});
