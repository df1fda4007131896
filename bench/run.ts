// npm run bench [-- --smoke]: our store side by side with connect-mongo, connect-mongodb-session
// and the raw driver, interleaved round by round in one process against one server.
// The flags are in args.ts, each phase in phases/, the markdown in report.ts.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mongo } from 'mongoose';
import { describeServer, resolveServer } from '../tools/test-server';
import { PHASE_NAMES, parseArgs, runMain } from './args';
import type { Contestant } from './contestants';
import { findServerProcess } from './cpu';
import { PHASES } from './phases';
import type { Context } from './phases/phase';
import { report } from './report';
import { Tally } from './tally';

async function ttlIndexes(db: mongo.Db): Promise<boolean> {
  return db
    .collection('ttl_probe')
    .createIndex({ at: 1 }, { expireAfterSeconds: 0 })
    .then(
      () => true,
      () => false,
    );
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  const server = await resolveServer();
  const name = `cms_bench_${randomBytes(3).toString('hex')}`;
  const base = server.uri.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const client = await mongo.MongoClient.connect(base);
  const db = client.db(name);
  const opened: Contestant[] = [];
  try {
    const described = await describeServer(base);
    const ttl = await ttlIndexes(db);
    console.log(`server: ${described}; TTL indexes: ${ttl ? 'yes' : 'no'}`);
    const findings = [`connect-mongo runs with autoRemove '${ttl ? 'native' : 'interval'}'`];
    const sections: string[][] = [];
    const ctx: Context = {
      settings,
      arena: { uri: base, db },
      ttl,
      server: server.kind === 'external' ? undefined : findServerProcess(),
      tally: new Tally(),
      finding: (line) => {
        if (!findings.includes(line)) findings.push(line);
      },
      section: (lines) => {
        sections.push([...lines]);
      },
      memoryLine: 'Memory: not run (see --phases)',
      open: async (opening) => {
        const c = await opening;
        if (!(c instanceof Error)) opened.push(c);
        return c;
      },
    };
    for (const phase of PHASE_NAMES)
      if (settings.phases.includes(phase)) await PHASES[phase].run(ctx);
    const out = report({ ...ctx, server: described, findings, sections });
    console.log(`\n${out}`);
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const some = settings.phases.length < PHASE_NAMES.length ? `-${settings.phases.join('+')}` : '';
    const file = join(
      dir,
      settings.smoke
        ? 'smoke.md'
        : `${new Date().toISOString().slice(0, 10)}-${settings.label ?? server.kind}${some}.md`,
    );
    writeFileSync(file, out);
    console.log(`written to ${file}`);
  } finally {
    for (const c of opened) await c.close().catch(() => {});
    // A server we started goes away whole; dropping a database under FerretDB while its
    // SQLite files are mapped has crashed it (SIGBUS), so drop only on a server of yours.
    if (server.kind === 'external') await db.dropDatabase().catch(() => {});
    await client.close();
    await server.stop();
  }
}

runMain(main);
