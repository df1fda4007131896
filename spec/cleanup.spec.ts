import { MongooseStore } from '../lib/index';
import { captureDebug } from './support/debug-lines';
import { describeIf, server, useDatabase } from './support/server';

const db = useDatabase('cleanup');

const noTtl = {
  ok: !server.caps.ttlIndex.ok,
  reason: 'the server accepts TTL indexes, so nothing is refused',
};

describeIf(noTtl, 'a server that refuses TTL indexes, with lifecheck -1', () => {
  it('warns, by event and debug line, that expired sessions will pile up', async () => {
    const { lines, stop } = captureDebug();
    try {
      const refused: number[] = [];
      await new Promise<void>((ok, fail) => {
        const store = new MongooseStore(db.uri, { lifecheck: -1 }, (err) =>
          err ? fail(err) : ok(),
        );
        db.stores.push(store);
        // Emitted once the server has answered, always after the constructor returned.
        store.on('ttlRefused', (_reason, every) => refused.push(every));
      });
      expect(refused).toEqual([-1]);
      expect(lines.some((l) => /WARNING.*expired sessions.*pile up/.test(l))).toBe(true);
      expect(lines.some((l) => /every -1 ms/.test(l))).toBe(false);
    } finally {
      stop();
    }
  });
});
