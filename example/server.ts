// The demo: `npm start`. It uses MONGODB_URI, or else the same embedded server the tests use.
import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createStore } from 'connect-mongoose-session';
import { describeServer, resolveServer } from '../tools/test-server';
import { createApp } from './app';

function ms(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value))
    throw new Error(`${name} must be a whole number of milliseconds, got ${JSON.stringify(raw)}`);
  return value;
}

async function main(): Promise<void> {
  const port = ms('PORT', 3000);
  const maxAge = ms('SESSION_MAX_AGE', 60_000);
  const lifecheck = process.env.LIFECHECK ? ms('LIFECHECK', -1) : undefined;
  let secret = process.env.SESSION_SECRET ?? '';
  if (secret === '') {
    secret = randomBytes(32).toString('hex');
    console.warn(
      'WARNING: SESSION_SECRET is not set; using a random secret, so sessions end when the demo stops.',
    );
  }

  const db = await resolveServer();
  const uri = db.kind === 'external' ? db.uri : `${db.uri.replace(/\/$/, '')}/demo`;
  console.log(`database: ${await describeServer(uri)} (${db.kind})`);
  if (db.dir !== undefined) console.log(`data directory: ${db.dir} (removed when the demo stops)`);
  // Encryption at rest, when asked for: a secret of its own, never the cookie-signing one.
  // Several, comma-separated, rotate: the first encrypts.
  const storeSecret = process.env.STORE_SECRET
    ? process.env.STORE_SECRET.split(',').map((s) => s.trim())
    : undefined;
  // The devices page shows where each session signs in from: the store records the IP and
  // the user agent of each session's requests (personal data, off unless asked for).
  // Expiry events, unless the sweeper is turned off (LIFECHECK=-1): they come from it.
  const store = createStore(uri, {
    lifecheck,
    metadata: { ip: true, userAgent: true },
    expiredEvents: lifecheck !== -1,
    ...(storeSecret && { secret: storeSecret }),
  });
  if (storeSecret !== undefined) console.log('sessions are encrypted at rest (STORE_SECRET)');
  store.on('error', (err) => console.error('session store:', err.message));
  // Each expiry, once across every instance: with a short tag, never the session id.
  store.on('expired', (sid, session) => {
    const tag = createHash('sha256').update(sid).digest('hex').slice(0, 8);
    const idle = Math.round((session?.cookie?.originalMaxAge ?? maxAge) / 60_000);
    console.log(`a session expired after ${idle} min idle (#${tag})`);
  });
  store.on('ttlRefused', (_reason, every) =>
    console.log(`the server has no TTL indexes: sweeping every ${every} ms`),
  );

  const shutdown = async () => {
    await store.close();
    await db.stop();
  };
  const app = createApp({ store, secret, maxAge });
  // Express 5 hands a failed listen (a busy port) to this callback, not to a throw.
  const server = await new Promise<Server | NodeJS.ErrnoException>((ok) => {
    const listening = app.listen(port, (err?: Error) => ok(err ?? listening));
  });
  if (server instanceof Error) {
    console.error(
      server.code === 'EADDRINUSE' ? `port ${port} is in use; set PORT` : server.message,
    );
    await shutdown();
    process.exit(1);
  }
  console.log(
    `connect-mongoose-session demo on http://localhost:${(server.address() as AddressInfo).port}/ (metrics at /metrics, health at /healthz)`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
    await shutdown();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
