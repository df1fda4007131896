import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ferretdbBinaryPath,
  freePort,
  type RunningServer,
  startFerretDB,
} from '../tools/test-server';
import { type Answer, type App, call, closeCalls, startApp } from './fixtures/apps';
import { describeIf, eventually } from './support/server';

// kill -9 of the server under load, on a server of the spec's own: the embedded FerretDB on a
// free loopback port, restarted on the same port and data directory. Bounded: 100 clients,
// at most MAX_REQUESTS requests, each phase capped in time.
const CLIENTS = 100;
const MAX_REQUESTS = 40_000;

const helper = {
  ok: existsSync(ferretdbBinaryPath()),
  reason:
    'the FerretDB helper is not built (npx tsx tools/build-ferretdb.ts), and only it can be killed and restarted on its data',
};

/** One simulated user: writes 1, 2, 3… into its session, one request at a time. */
interface Client {
  cookie?: string;
  /** The last value whose write was acknowledged. */
  acked: number;
  /** The last value it tried to write. */
  tried: number;
}

describeIf(helper, 'kill -9 of the server under load', () => {
  let dir = '';
  let port = 0;
  let server: RunningServer | undefined;
  let app: App | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'cms-server-crash-'));
    port = await freePort();
    server = await startFerretDB(port, { dir });
    app = await startApp({
      FIXTURE_URI: `mongodb://127.0.0.1:${port}/crash`,
      FIXTURE_SELECTION_MS: '1000',
      // Outlives the test's own timeout: a loaded machine stretches every phase.
      FIXTURE_MAX_MS: '300000',
    });
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    closeCalls();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged write, answers throughout, and says disconnect then connect', async () => {
    const a = app as App;
    const clients: Client[] = Array.from({ length: CLIENTS }, () => ({ acked: 0, tried: 0 }));
    const answers: { started: number; at: number; phase: string; answer: Answer }[] = [];
    let phase = 'up';
    let requests = 0;
    let running = true;

    const load = clients.map(async (c) => {
      while (running && requests < MAX_REQUESTS) {
        requests += 1;
        c.tried += 1;
        const started = Date.now();
        const answer = await call(a.port, 'POST', `/write?v=${c.tried}`, c.cookie);
        answers.push({ started, at: Date.now(), phase, answer });
        if (answer.status === 200 && answer.body.v === c.tried) {
          c.acked = c.tried;
          c.cookie ??= answer.cookie;
        } else if (answer.status !== 200) {
          // While the server is away, do not spin: express answers these at once.
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });

    const acked = () => answers.filter((x) => x.answer.status === 200).length;
    const loadFrom = Date.now();
    await eventually(() => acked() >= 500, 60_000, '500 acknowledged writes');
    const ackedBeforeKill = clients.map((c) => c.acked);
    const writesBeforeKill = acked();
    const loadMs = Date.now() - loadFrom;
    const eventsBefore = a.lines.filter((l) => l.event !== undefined).length;
    const eventsAfterKill = () => a.lines.filter((l) => l.event !== undefined).slice(eventsBefore);

    phase = 'down';
    await (server as RunningServer).kill?.();
    const killedAt = Date.now();
    await eventually(() => eventsAfterKill().length > 0, 15_000, 'the store to say disconnect');
    const disconnectedAt = eventsAfterKill()[0]?.at as number;
    // Served without a session while the server is away: at once, with 503 from /write.
    await eventually(
      () =>
        answers.filter((x) => x.at > disconnectedAt && x.answer.body.session === false).length >=
        100,
      10_000,
      '100 answers without a session',
    );

    phase = 'back';
    const restarting = Date.now();
    server = await startFerretDB(port, { dir });
    const restartedAt = Date.now();
    await eventually(
      () =>
        eventsAfterKill().at(-1)?.event === 'connect' &&
        (eventsAfterKill().at(-1)?.at as number) > restarting,
      30_000,
      'the store to say connect',
    );
    const connectedAt = eventsAfterKill().at(-1)?.at as number;
    const ackedAtConnect = acked();
    await eventually(() => acked() >= ackedAtConnect + 100, 60_000, '100 more acknowledged writes');
    const resumedMs = Date.now() - connectedAt;
    running = false;
    await Promise.all(load);

    // Every acknowledged write reads back: the same value, or one written after it.
    const reads = await Promise.all(
      clients.map((c) =>
        c.cookie === undefined ? undefined : call(a.port, 'GET', '/read', c.cookie),
      ),
    );
    const lost = clients.filter((c, i) => {
      const v = reads[i]?.body.v;
      return c.acked > 0 && !(typeof v === 'number' && v >= c.acked && v <= c.tried);
    });
    const lostBeforeKill = clients.filter(
      (_c, i) => ackedBeforeKill[i] > 0 && !((reads[i]?.body.v as number) >= ackedBeforeKill[i]),
    );

    const down = answers.filter((x) => x.phase === 'down');
    const count = (where: (x: Answer) => boolean) => down.filter((x) => where(x.answer)).length;
    // Asked once the store said disconnect, before the restart: each answered at once without
    // a session, or (only if the store wrongly said connect meanwhile) with the store's error.
    const whileDown = answers.filter((x) => x.started > disconnectedAt && x.at < restartedAt);
    const events = eventsAfterKill().map((l) => l.event);
    console.log(
      [
        `server kill -9 under load (${CLIENTS} clients, ${requests} requests):`,
        `${writesBeforeKill} writes acknowledged before the kill (in ${loadMs} ms), ${acked()} in all, ${lost.length} sessions lost one;`,
        `disconnect ${disconnectedAt - killedAt} ms after the kill;`,
        `connect ${connectedAt - restartedAt} ms after the restart,`,
        `100 more writes ${resumedMs} ms after it;`,
        `between kill and restart: ${down.length} answers (${count((x) => x.body.session === false)} without a session,`,
        `${count((x) => x.body.saved === false)} writes refused, ${count((x) => x.status === 500)} store errors,`,
        `${count((x) => x.status === 0)} none); events before the kill: ${a.lines
          .filter((l) => l.event !== undefined)
          .slice(0, eventsBefore)
          .map((l) => l.event)
          .join(', ')}; after it: ${events.join(', ')}`,
      ].join(' '),
    );

    expect(lostBeforeKill).toEqual([]);
    expect(lost).toEqual([]);
    expect(down.filter((x) => x.answer.status === 0)).toEqual([]);
    expect(whileDown.length).toBeGreaterThan(0);
    const withoutSession = whileDown.filter((x) => x.answer.body.session === false);
    expect(withoutSession.length).toBeGreaterThanOrEqual(100);
    expect(
      whileDown.filter((x) => x.answer.body.session !== false && x.answer.status < 500),
    ).toEqual([]);
    // Said at once, and said again once the server is back. (A connect said while the server
    // was still away, and taken back, shows up in the line above.)
    expect(events[0]).toBe('disconnect');
    expect(events.at(-1)).toBe('connect');
    expect(a.lines.filter((l) => l.fatal !== undefined)).toEqual([]);
    expect(await a.stop()).toBe(0);
    app = undefined;
  }, 240_000);
});
