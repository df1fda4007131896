import { parseUri } from '../lib/uris';
import { type App, call, closeCalls, startApp } from './fixtures/apps';
import {
  describeIf,
  eventually,
  note,
  server,
  uniqueCollection,
  useDatabase,
} from './support/server';

// Three app processes, each with its own store, on one collection of the run's server; one is
// killed with SIGKILL under load. Bounded: 60 clients, at most MAX_REQUESTS requests.
const CLIENTS = 60;
const MAX_REQUESTS = 20_000;

const db = useDatabase('app_crash');
const apps: App[] = [];
afterAll(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
  closeCalls();
});

/** One simulated user: writes 1, 2, 3… through one app and reads each back through another. */
interface Client {
  cookie?: string;
  acked: number;
  tried: number;
  /** Each acknowledged write's app, by value. */
  via: number[];
  /**
   * What may still land in this session late: the value of each request that was never
   * answered (a write's own value, a read's touch the last acked one). The killed app leaves
   * its in-flight requests so; a survivor too slow for the client's timeout does the same.
   */
  orphans: number[];
  /** Writes that were not acknowledged, and how each ended: shown if the client loses one. */
  unacked: string[];
}

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];

// A load test sends traffic only to a server on this machine.
const onLoopback = {
  ok: parseUri(server.uri).hosts.every((h) => /^(127\.|localhost(:|$)|\[::1\])/.test(h)),
  reason: `the run's server (${server.kind}) is not on loopback, and this spec loads only a server on this machine`,
};

describeIf(onLoopback, 'kill -9 of one of three app processes under load', () => {
  it('loses nothing: every acknowledged write reads back through the survivors, unless a write the killed app had in flight lands after it', async () => {
    const env = { FIXTURE_URI: db.uri, FIXTURE_COLLECTION: uniqueCollection() };
    apps.push(...(await Promise.all([1, 2, 3].map(() => startApp(env)))));
    const [victim] = apps;
    let alive = [...apps];
    const clients: Client[] = Array.from({ length: CLIENTS }, () => ({
      acked: 0,
      tried: 0,
      via: [],
      orphans: [],
      unacked: [],
    }));
    const seen = {
      requests: 0,
      crossReads: 0,
      late: 0,
      lastLate: 0,
      stale: 0,
      noAnswer: 0,
      slowSurvivor: 0,
      retriedReads: 0,
      acked: 0,
    };
    let killedAt = 0;
    let running = true;
    /** A request to `app`; one never answered leaves an orphan. */
    const send = async (c: Client, app: App, method: 'GET' | 'POST', path: string, v: number) => {
      const answer = await call(app.port, method, path, c.cookie);
      if (answer.status !== 0) return answer;
      c.orphans.push(v);
      // Not the crash: a survivor that missed the timeout on a loaded machine.
      if (app !== victim && app.child.exitCode === null) seen.slowSurvivor += 1;
      return answer;
    };
    /**
     * Reads a session back once the load is over. A read that got no answer, or a store error
     * (a busy server), says nothing about what was kept: it is asked again.
     */
    const readBack = async (port: number, cookie: string) => {
      let read = await call(port, 'GET', '/read', cookie);
      for (let tries = 1; read.status !== 200 && tries < 5; tries++) {
        seen.retriedReads += 1;
        await new Promise((r) => setTimeout(r, 200 * tries));
        read = await call(port, 'GET', '/read', cookie);
      }
      return read;
    };

    const load = clients.map(async (c) => {
      while (running && seen.requests < MAX_REQUESTS) {
        seen.requests += 2;
        const writer = pick(alive);
        c.tried += 1;
        const wrote = await send(c, writer, 'POST', `/write?v=${c.tried}`, c.tried);
        if (wrote.status === 0) seen.noAnswer += 1;
        if (wrote.status !== 200)
          c.unacked.push(
            `${c.tried} via app ${apps.indexOf(writer)}: ${wrote.status} ${wrote.error ?? ''}`,
          );
        if (wrote.status !== 200 || wrote.body.v !== c.tried) continue;
        c.acked = c.tried;
        c.via[c.tried] = apps.indexOf(writer);
        c.cookie ??= wrote.cookie;
        seen.acked += 1;
        const readers = alive.filter((a) => a !== writer);
        if (readers.length === 0) continue;
        const read = await send(c, pick(readers), 'GET', '/read', c.acked);
        if (read.status !== 200) continue;
        seen.crossReads += 1;
        if (read.body.v === c.tried) continue;
        // A write the killed app had in flight may land late, over later ones: last writer wins.
        if (c.orphans.includes(read.body.v as number)) {
          seen.late += 1;
          seen.lastLate = Date.now() - killedAt;
        } else seen.stale += 1;
      }
    });

    await eventually(() => seen.acked >= 300, 30_000, '300 acknowledged writes');
    // Stop sending it new requests, and kill it with some of its requests in flight.
    alive = apps.filter((a) => a !== victim);
    killedAt = Date.now();
    expect(await victim.kill()).toBe('SIGKILL');
    const ackedAtKill = seen.acked;
    await eventually(() => seen.acked >= ackedAtKill + 300, 30_000, '300 more acknowledged writes');
    running = false;
    await Promise.all(load);

    // Read every session back through each survivor.
    const lost: string[] = [];
    for (const survivor of alive) {
      const reads = await Promise.all(
        clients.map((c) =>
          c.cookie === undefined ? undefined : readBack(survivor.port, c.cookie),
        ),
      );
      clients.forEach((c, i) => {
        const read = reads[i];
        const v = read?.body.v;
        const kept = typeof v === 'number' && v >= c.acked && v <= c.tried;
        if (c.acked > 0 && !kept && !c.orphans.includes(v as number))
          lost.push(
            `client ${i}: acked ${c.acked}, tried ${c.tried}, orphans [${c.orphans}], unacked [${c.unacked}], read ${read?.status} ${JSON.stringify(read?.body)}${read?.error ?? ''}`,
          );
      });
    }
    const throughVictim = clients.reduce((n, c) => n + c.via.filter((app) => app === 0).length, 0);
    note(
      `app kill -9 under load (3 apps, ${CLIENTS} clients, ${seen.requests} requests): ` +
        `${seen.acked} writes acknowledged (${throughVictim} through the killed app), ` +
        `${seen.crossReads} read back through another app (${seen.late} showed a late write of an unanswered request, the last ${seen.lastLate} ms after the kill; ${seen.stale} otherwise stale), ` +
        `${seen.noAnswer} writes unanswered (${seen.slowSurvivor} requests to a survivor timed out), ` +
        `${seen.retriedReads} final reads asked again, ${lost.length} sessions lost a write`,
    );
    expect(throughVictim).toBeGreaterThan(0);
    expect(seen.stale).toBe(0);
    expect(lost).toEqual([]);
    for (const survivor of alive) {
      expect(survivor.lines.filter((l) => l.fatal !== undefined)).toEqual([]);
    }
    expect(await Promise.all(alive.map((a) => a.stop()))).toEqual([0, 0]);
  }, 90_000);
});
