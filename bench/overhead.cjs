// The store's own client-side cost per call, beside the raw driver's doing the same update: the round
// trip is replaced by a fake collection that BSON-serializes the command, as the driver must,
// and answers at once. `npm run build`, then `node bench/overhead.cjs <mode> [calls]`; modes:
// (raw|ours|ours-secret)-(set|touch|touch-direct|get). Add --cpu-prof to see where it goes.
const { MongooseStore } = require('../dist/cjs/index.js');
const { mongo } = require('mongoose');
const { BSON } = mongo;
const [mode, nText] = process.argv.slice(2);
const n = Number(nText ?? 200000);
const DAY = 86_400_000;
const sess = (i, plus = 0) => ({
  cookie: {
    originalMaxAge: DAY,
    expires: new Date(Date.now() + DAY + plus),
    httpOnly: true,
    path: '/',
  },
  user: { id: `u${i}`, name: 'Ada Lovelace', roles: ['reader', 'writer'] },
  cart: [
    { sku: 'A-1', qty: 2 },
    { sku: 'B-7', qty: 1 },
  ],
  views: i,
});
const docs = new Map();
const fake = {
  updateOne(q, u, o) {
    BSON.serialize({
      update: 'c',
      updates: [{ q, u, upsert: o?.upsert ?? false }],
      ordered: true,
      lsid: { id: 1 },
      $db: 'x',
    });
    return Promise.resolve({
      acknowledged: true,
      matchedCount: 1,
      modifiedCount: 1,
      upsertedCount: 0,
      upsertedId: null,
    });
  },
  findOne(q) {
    BSON.serialize({ find: 'c', filter: q, limit: 1, singleBatch: true, batchSize: 1, $db: 'x' });
    return Promise.resolve(docs.get(q._id) ?? null);
  },
};
async function main() {
  const secret = mode.includes('secret')
    ? 'benchmark secret, 32 characters or more, not for use'
    : undefined;
  let c;
  if (mode.startsWith('raw')) {
    const expiry = (s) => new Date(s.cookie.expires);
    c = {
      set: async (sid, s) => {
        const { cookie, ...data } = s;
        const $set = {
          expiresAt: expiry(s),
          cookie: JSON.stringify(cookie),
          session: JSON.stringify(data),
        };
        const $unset = { expires: '', lastModified: '', user: '' };
        await fake.updateOne({ _id: sid }, { $set, $unset }, { upsert: true });
      },
      touch: async (sid, s, direct) => {
        const filter = direct ? { _id: sid, expiresAt: { $gt: new Date() } } : { _id: sid };
        await fake.updateOne(filter, {
          $set: { expiresAt: expiry(s), cookie: JSON.stringify(s.cookie) },
        });
      },
      get: async (sid) => {
        const d = await fake.findOne({ _id: sid });
        return d && d.expiresAt > Date.now()
          ? { cookie: JSON.parse(d.cookie), ...JSON.parse(d.session) }
          : null;
      },
    };
  } else {
    const store = new MongooseStore('mongodb://127.0.0.1:1/none', {
      touchAfter: 0,
      lifecheck: -1,
      ...(secret && { secret }),
    });
    store.on('error', () => {});
    store.collection = async () => fake;
    const p =
      (f) =>
      (...a) =>
        new Promise((ok, fail) => f(...a, (e, v) => (e ? fail(e) : ok(v))));
    const get = p(store.get.bind(store));
    c = { set: p(store.set.bind(store)), touch: p(store.touch.bind(store)), get, store };
  }
  const K = 1000;
  const ids = Array.from({ length: K }, (_, i) => `s-${i}`);
  // stored docs, in our shape, for get (and load)
  for (let i = 0; i < K; i++) {
    const { cookie, ...data } = sess(i);
    docs.set(ids[i], {
      _id: ids[i],
      expiresAt: cookie.expires,
      cookie: JSON.stringify(cookie),
      session: JSON.stringify(data),
    });
  }
  if (secret) {
    // store sealed docs: write through our own store into a capture
    const cap = fake.updateOne;
    fake.updateOne = (q, u, o) => {
      docs.set(q._id, { _id: q._id, ...u.$set });
      return cap(q, u, o);
    };
    for (let i = 0; i < K; i++) await c.set(ids[i], sess(i));
    fake.updateOne = cap;
  }
  const op = mode.replace(/^(raw|ours)-(secret-)?/, '');
  let args = [];
  if (op === 'set') args = ids.map((_, i) => sess(i, 1000));
  else if (op === 'touch') {
    for (let i = 0; i < K; i++) {
      let s = await c.get(ids[i]);
      if (c.store) s = c.store.createSession({ sessionID: ids[i] }, s);
      s.cookie.expires = new Date(new Date(s.cookie.expires).getTime() + 60_000);
      args.push(s);
    }
  } else if (op === 'touch-direct') args = ids.map((_, i) => sess(i, 120_000));
  const run = (i) =>
    op === 'set'
      ? c.set(ids[i], args[i])
      : op === 'get'
        ? c.get(ids[i])
        : c.store
          ? c.touch(ids[i], args[i])
          : c.touch(ids[i], args[i], op === 'touch-direct');
  for (let i = 0; i < 20000; i++) await run(i % K);
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) await run(i % K);
  const used = process.cpuUsage(cpu);
  console.log(`${mode.padEnd(24)} ${((used.user + used.system) / n).toFixed(2)} µs/call CPU`);
  process.exit(0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
