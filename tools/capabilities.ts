/**
 * Asks a real server what it can do. Every answer comes from trying the thing itself on a
 * scratch database, never from the server's name.
 */
import { randomBytes } from 'node:crypto';
import { mongo } from 'mongoose';

/** One capability: whether the server has it, and what the server said. */
export interface Capability {
  ok: boolean;
  reason: string;
}

/** What the specs may need from a server. */
export interface Capabilities {
  /** `createIndexes` with `expireAfterSeconds` is accepted and listed back. */
  ttlIndex: Capability;
  /** The server's TTL monitor was seen deleting an expired document. */
  ttlMonitor: Capability;
  /** The server is a replica set member; `hosts` lists the members. */
  replicaSet: Capability & { hosts: string[]; setName: string };
  /** A multi-document transaction commits. */
  transactions: Capability;
  /**
   * A write by `_id` costs about the same in a collection of 2,000 documents as in one of a
   * few: the `_id` index serves it. FerretDB 1.x scans the table for every one.
   */
  idLookups: Capability;
  /** Concurrent updates of one document all land: none is lost to another's write back. */
  atomicUpdates: Capability;
}

function said(err: unknown): string {
  const e = err as { code?: number; codeName?: string; message?: string };
  return `${e.codeName ?? 'error'}${e.code === undefined ? '' : ` (code ${e.code})`}: ${e.message}`;
}

async function until(deadline: number, check: () => Promise<boolean>): Promise<boolean> {
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** Probes the server at `uri`. The TTL monitor probe may take up to about a minute. */
export async function probeCapabilities(uri: string): Promise<Capabilities> {
  const client = await mongo.MongoClient.connect(uri, { serverSelectionTimeoutMS: 5_000 });
  const db = client.db(`cms_probe_${randomBytes(4).toString('hex')}`);
  try {
    const hello = await db.admin().command({ hello: 1 });
    const replicaSet = hello.setName
      ? {
          ok: true,
          reason: `replica set ${hello.setName}`,
          hosts: hello.hosts as string[],
          setName: hello.setName as string,
        }
      : {
          ok: false,
          reason: 'the server is not a replica set member (hello has no setName)',
          hosts: [],
          setName: '',
        };

    let ttlIndex: Capability;
    let ttlMonitor: Capability;
    const ttl = db.collection('ttl');
    try {
      await ttl.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
      const listed = (await ttl.listIndexes().toArray()).find((ix) => ix.key?.at === 1);
      ttlIndex =
        listed?.expireAfterSeconds === 0
          ? { ok: true, reason: 'TTL index accepted and listed with expireAfterSeconds 0' }
          : { ok: false, reason: 'TTL index accepted but not listed with expireAfterSeconds' };
    } catch (err) {
      ttlIndex = {
        ok: false,
        reason: `createIndexes with expireAfterSeconds refused: ${said(err)}`,
      };
    }
    if (ttlIndex.ok) {
      // mongodb-memory-server starts mongod with a 1 s monitor. Elsewhere ask for one (it takes
      // effect after the current sleep), and wait out at most one default 60 s cycle.
      await db
        .admin()
        .command({ setParameter: 1, ttlMonitorSleepSecs: 1 })
        .catch(() => {});
      await ttl.insertOne({ at: new Date(Date.now() - 3_600_000) });
      const deleted = await until(
        Date.now() + 70_000,
        async () => (await ttl.countDocuments()) === 0,
      );
      ttlMonitor = deleted
        ? { ok: true, reason: 'the TTL monitor deleted an expired document' }
        : {
            ok: false,
            reason: 'the TTL index was accepted but no expired document was deleted within 70 s',
          };
    } else {
      ttlMonitor = { ok: false, reason: `no TTL index: ${ttlIndex.reason}` };
    }

    let transactions: Capability;
    const session = client.startSession();
    try {
      await db.createCollection('tx');
      await session.withTransaction(async () => {
        await db.collection('tx').insertOne({ a: 1 }, { session });
      });
      transactions = { ok: true, reason: 'a transaction committed' };
    } catch (err) {
      transactions = { ok: false, reason: `a transaction failed: ${said(err)}` };
    } finally {
      await session.endSession();
    }
    return {
      ttlIndex,
      ttlMonitor,
      replicaSet,
      transactions,
      idLookups: await probeIdLookups(db),
      atomicUpdates: await probeAtomicUpdates(db),
    };
  } finally {
    await db.dropDatabase().catch(() => {});
    await client.close();
  }
}

/** Milliseconds for one update by `_id` in `coll`. */
async function timeIdUpdate(coll: mongo.Collection<{ _id: string }>, i: number): Promise<number> {
  const start = performance.now();
  // String ids, as session ids are: FerretDB 1.x handles those in SQL, numbers in Go.
  await coll.updateOne({ _id: `id${i % 4}` }, { $inc: { n: 1 } });
  return performance.now() - start;
}

async function probeIdLookups(db: mongo.Db): Promise<Capability> {
  const small = db.collection<{ _id: string }>('ids_small');
  const large = db.collection<{ _id: string }>('ids_large');
  await small.insertMany(Array.from({ length: 4 }, (_, i) => ({ _id: `id${i}`, n: 0 })));
  await large.insertMany(Array.from({ length: 8_000 }, (_, i) => ({ _id: `id${i}`, n: 0 })));
  // The fastest of 120 updates of each, taken in turns: load only ever adds time, so the
  // fastest is the server's own cost on both sides (a best of three 40-update totals once
  // flipped under a benchmark running beside the suite). A scan of 8,000 rows costs tens of
  // times a lookup among 4; an index, about the same: the cutoff sits far from both.
  let few = Number.POSITIVE_INFINITY;
  let many = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 130; i++) {
    const a = await timeIdUpdate(small, i);
    const b = await timeIdUpdate(large, i);
    // The first ten warm both up.
    if (i < 10) continue;
    few = Math.min(few, a);
    many = Math.min(many, b);
  }
  const ratio = many / Math.max(few, 0.001);
  const said = `a write by _id takes ${ratio.toFixed(1)}x as long among 8,000 documents as among 4`;
  return ratio < 6
    ? { ok: true, reason: `${said}: the _id index serves it` }
    : { ok: false, reason: `${said}: the server scans the collection for _id` };
}

async function probeAtomicUpdates(db: mongo.Db): Promise<Capability> {
  const coll = db.collection<{ _id: string; n: number }>('atomic');
  const writes = 64;
  // Three rounds, each of which must land every write: a server without atomic updates can
  // land all 64 of one round by luck (it did, once, under load), not of three.
  let n: number | undefined = writes;
  for (let round = 0; round < 3 && n === writes; round++) {
    const id = `x${round}`;
    await coll.insertOne({ _id: id, n: 0 });
    await Promise.all(
      Array.from({ length: writes }, () => coll.updateOne({ _id: id }, { $inc: { n: 1 } })),
    );
    n = (await coll.findOne({ _id: id }))?.n;
  }
  return n === writes
    ? { ok: true, reason: `3 rounds of ${writes} concurrent $inc of one document all landed` }
    : {
        ok: false,
        reason: `of ${writes} concurrent $inc of one document, ${n} landed: updates read, modify and write back without a lock`,
      };
}
