// `/healthz`: 200 while the store is connected to its server, 503 otherwise, for a load
// balancer or an orchestrator's probe.
import type { MongooseStore } from 'connect-mongoose-session';
import { Router } from 'express';

/** The `/healthz` route of one app, on `store`. */
export function health(store: MongooseStore): Router {
  // The store says connect and disconnect as they happen; until it first does (it may have
  // connected before this app was made), stats() says where it stands.
  let connected: boolean | undefined;
  store.on('connect', () => {
    connected = true;
  });
  store.on('disconnect', () => {
    connected = false;
  });
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const up =
      connected ??
      (await store.stats().then(
        (s) => (connected ??= s.connected),
        // Not kept: a failed question says nothing lasting, and no event may follow it.
        () => false,
      ));
    res
      .status(up ? 200 : 503)
      .type('text')
      .send(up ? 'ok\n' : 'the session store is not connected\n');
  });
  return router;
}
