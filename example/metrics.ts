// `/metrics`: Prometheus text. The operation metrics come from the store's tracing channel
// (see ./operations); the store's state (connected, live and expired-pending sessions) is
// asked of `stats()` at each scrape.
import type { MongooseStore } from 'connect-mongoose-session';
import { Router } from 'express';
import { Gauge, Registry } from 'prom-client';
import { operationRegistry, subscribeOperations } from './operations';

/** The `/metrics` route of one app, on `store`. */
export function metrics(store: MongooseStore): Router {
  subscribeOperations();
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({
      name: `connect_mongoose_session_${name}`,
      help,
      labelNames,
      registers: [registry],
    });
  const up = gauge('connected', '1 while the store is connected to its server, else 0.');
  const live = gauge('live_sessions', 'Sessions stored and not expired.');
  const expired = gauge(
    'expired_pending_sessions',
    'Sessions stored but expired, not yet deleted: the TTL monitor or sweeper lag, in documents.',
  );
  const oldest = gauge(
    'oldest_expired_pending_seconds',
    'How long ago the oldest expired, not yet deleted session expired.',
  );
  const info = gauge(
    'info',
    'What deletes expired sessions, and this instance in the sweep lease.',
    ['expiry', 'lease'],
  );
  const lastSweep = gauge(
    'last_sweep_timestamp_seconds',
    'When the last sweep of this instance ended, in seconds since the epoch.',
  );

  const router = Router();
  router.get('/metrics', async (_req, res) => {
    for (const g of [live, expired, oldest, info, lastSweep]) g.reset();
    try {
      const s = await store.stats();
      up.set(s.connected ? 1 : 0);
      live.set(s.live);
      expired.set(s.expired);
      if (s.oldestExpiredMs !== null) oldest.set(s.oldestExpiredMs / 1000);
      info.set({ expiry: s.expiry, lease: s.lease }, 1);
      if (s.lastSweep !== null) lastSweep.set(s.lastSweep.at.getTime() / 1000);
    } catch {
      // No answer from the server: the scrape still serves the operation metrics.
      up.set(0);
    }
    const all = Registry.merge([operationRegistry, registry]);
    res.type(all.contentType).send(await all.metrics());
  });
  return router;
}
