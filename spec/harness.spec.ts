import mongoose from 'mongoose';
import { probeCapabilities } from '../tools/capabilities';
import { server, useDatabase } from './support/server';

const db = useDatabase('harness');

describe('the test server', () => {
  it('round-trips a document with a Date and nested fields through mongoose', async () => {
    const conn = await mongoose
      .createConnection(db.uri, { serverSelectionTimeoutMS: 5_000 })
      .asPromise();
    try {
      const Thing = conn.model(
        'Thing',
        new mongoose.Schema({ at: Date, nested: { deep: { list: [Number], label: String } } }),
      );
      const at = new Date('2026-11-25T12:34:56.789Z');
      const { _id } = await Thing.create({ at, nested: { deep: { list: [1, 2, 3], label: 'x' } } });
      const back = await Thing.findById(_id).lean();
      expect(back?.at).toEqual(at);
      expect(back?.nested?.deep).toEqual({ list: [1, 2, 3], label: 'x' });
    } finally {
      await conn.close();
    }
  });

  it('answers the TTL probe the way the server really behaves', async () => {
    const coll = db.db.collection('probe_check');
    const attempt = await coll.createIndex({ at: 1 }, { expireAfterSeconds: 0 }).then(
      () => null,
      (err: { code?: number }) => err,
    );
    if (server.caps.ttlIndex.ok) {
      expect(attempt).toBeNull();
      const listed = (await coll.listIndexes().toArray()).find((ix) => ix.key.at === 1);
      expect(listed?.expireAfterSeconds).toBe(0);
    } else {
      // FerretDB v1 refuses with NotImplemented; any refusal must match the probe's answer.
      expect(attempt?.code).toBeDefined();
      expect(server.caps.ttlIndex.reason).toContain(`code ${attempt?.code}`);
      if (server.kind === 'ferretdb') expect(attempt?.code).toBe(238);
    }
  });

  it('gives the same capability answers when asked again', async () => {
    const again = await probeCapabilities(server.uri);
    expect(again.ttlIndex.ok).toBe(server.caps.ttlIndex.ok);
    expect(again.replicaSet.ok).toBe(server.caps.replicaSet.ok);
    expect(again.transactions.ok).toBe(server.caps.transactions.ok);
  }, 90_000);
});
