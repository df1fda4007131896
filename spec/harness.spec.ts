import mongoose from 'mongoose';
import { probeCapabilities } from '../tools/capabilities';
import { describeServer, nameServer } from '../tools/test-server';
import { itIf, server, useDatabase } from './support/server';

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

describe('the server line', () => {
  it('names FerretDB 2 by the version in buildInfo.ferretdb, not as mongod', () => {
    const info = { version: '7.0.77', ferretdb: { version: 'v2.7.0' } };
    expect(nameServer(info, {})).toBe('FerretDB v2.7.0 (reports MongoDB 7.0.77), standalone');
  });

  it('names FerretDB 1 by buildInfo.ferretdbVersion', () => {
    const info = { version: '7.0.42', ferretdbVersion: 'v1.24.2' };
    expect(nameServer(info, { setName: 'rs0' })).toBe(
      'FerretDB v1.24.2 (reports MongoDB 7.0.42), replica set rs0',
    );
  });

  it('names a mongod by its version', () => {
    expect(nameServer({ version: '8.0.4' }, {})).toBe('mongod 8.0.4, standalone');
  });

  it('names a mongos by its hello', () => {
    expect(nameServer({ version: '8.0.4' }, { msg: 'isdbgrid' })).toBe('mongod 8.0.4, mongos');
  });

  // Only the project's own helper: FerretDB run elsewhere may report what it likes.
  itIf(
    {
      ok: server.kind === 'ferretdb',
      reason: `the run's server is ${server.kind}, not the project's FerretDB helper`,
    },
    'gives the FerretDB helper its real version',
    async () => {
      expect(await describeServer(server.uri)).toMatch(/^FerretDB v1\.\d+\.\d+ \(/);
    },
  );
});
