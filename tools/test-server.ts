/**
 * Where the tests, the demo and the benchmark get a real MongoDB-wire server.
 *
 * In order: `MONGODB_URI` as given; a real mongod from mongodb-memory-server (internet, its
 * cache, or `MONGOMS_SYSTEM_BINARY`); FerretDB v1.24.2 (SQLite backend) built from
 * tools/ferretdb with the Go toolchain. Otherwise one error naming the three ways.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { mongo } from 'mongoose';

/** A server the caller may use, and how to stop it. */
export interface RunningServer {
  /** A connection string ending in `/` (no database). */
  uri: string;
  /** `external` for `MONGODB_URI`, which is never stopped by us. */
  kind: 'external' | 'mongod' | 'ferretdb';
  /** Stops the server and removes its files; a no-op for `external`. */
  stop(): Promise<void>;
  /** The mongod binary, when `kind` is `mongod`: lets a caller start another one. */
  mongodBinary?: string;
  /** The FerretDB helper's data directory, when `kind` is `ferretdb`; removed on stop. */
  dir?: string;
}

const ROOT = resolve(__dirname, '..');
const FERRETDB_SRC = join(ROOT, 'tools', 'ferretdb');

/** The helper's binary path; it is rebuilt only when its sources change. */
export function ferretdbBinaryPath(): string {
  const hash = createHash('sha256');
  for (const f of ['main.go', 'go.mod', 'go.sum']) hash.update(readFileSync(join(FERRETDB_SRC, f)));
  return join(ROOT, '.cache', 'ferretdb', `ferretdb-${hash.digest('hex').slice(0, 12)}`);
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', fail);
    child.on('exit', (code) =>
      code === 0 ? ok() : fail(new Error(`${cmd} ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/** Builds the FerretDB helper with `go build` (modules from the Go proxy) unless cached. */
export async function buildFerretDB(): Promise<string> {
  const bin = ferretdbBinaryPath();
  if (existsSync(bin)) return bin;
  mkdirSync(join(ROOT, '.cache', 'ferretdb'), { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  process.stderr.write(`building the FerretDB helper into ${bin} (first run only)...\n`);
  await run('go', ['build', '-trimpath', '-o', tmp, '.'], FERRETDB_SRC);
  renameSync(tmp, bin);
  return bin;
}

/** Starts FerretDB on 127.0.0.1:`port` (0 picks a free one), in a temp dir it removes on stop. */
export async function startFerretDB(port = 0): Promise<RunningServer> {
  const bin = await buildFerretDB();
  const child = spawn(bin, ['-listen', `127.0.0.1:${port}`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const [uri, dir] = await new Promise<string[]>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('FerretDB did not start within 20 s')), 20_000);
    child.once('error', fail);
    child.once('exit', (code) =>
      fail(new Error(`FerretDB exited with ${code} before it was ready`)),
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('READY ')) return;
      clearTimeout(timer);
      ok(line.slice(6).trim().split(' '));
    });
  });
  return {
    uri,
    kind: 'ferretdb',
    dir,
    async stop() {
      // Closing stdin is enough (the helper exits on EOF); the signal makes it prompt.
      child.stdin.end();
      child.kill('SIGTERM');
      await exited;
      // The helper removes its own dir; this covers a helper that crashed.
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a real mongod (standalone, or a one-member replica set) through mongodb-memory-server. */
export async function startMongod(
  options: { port?: number; replSet?: boolean; binary?: string } = {},
): Promise<RunningServer> {
  process.env.MONGOMS_MAX_RETRIES ??= '0';
  const mms = await import('mongodb-memory-server');
  // A 1 s TTL monitor, so the specs that watch it delete do not wait a minute.
  const args = ['--setParameter', 'ttlMonitorSleepSecs=1'];
  const binary = options.binary === undefined ? {} : { systemBinary: options.binary };
  const server = options.replSet
    ? await mms.MongoMemoryReplSet.create({ replSet: { count: 1, args }, binary })
    : await mms.MongoMemoryServer.create({ instance: { port: options.port, args }, binary });
  const mongodBinary = options.binary ?? (await mms.MongoBinary.getPath());
  const uri = server.getUri().replace(/\/[^/?]*(\?|$)/, '/$1');
  return {
    uri,
    kind: 'mongod',
    mongodBinary,
    stop: async () => void (await server.stop({ doCleanup: true })),
  };
}

const HOW =
  'connect-mongoose-session tests need a MongoDB-wire server. Give one of:\n' +
  '  1. MONGODB_URI=mongodb://host:port/ (any MongoDB or FerretDB you run);\n' +
  '  2. a mongod for mongodb-memory-server: internet access, its binary cache, or MONGOMS_SYSTEM_BINARY;\n' +
  '  3. the Go toolchain (go >= 1.22) and the Go module proxy, to build the FerretDB helper in tools/ferretdb.';

/**
 * Resolves the server for a run. `notes` collects why earlier choices were passed over.
 */
export async function resolveServer(notes: string[] = []): Promise<RunningServer> {
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== '') {
    return { uri: external, kind: 'external', stop: async () => {} };
  }
  try {
    return await startMongod();
  } catch (err) {
    notes.push(`mongod (mongodb-memory-server) unavailable: ${firstLine(err)}`);
  }
  try {
    return await startFerretDB();
  } catch (err) {
    notes.push(`FerretDB helper unavailable: ${firstLine(err)}`);
  }
  throw new Error(`${HOW}\nTried:\n  - ${notes.join('\n  - ')}`);
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

/** One line naming the server, from `buildInfo`. */
export async function describeServer(uri: string): Promise<string> {
  const client = await mongo.MongoClient.connect(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    const info = await client.db('admin').command({ buildInfo: 1 });
    const hello = await client.db('admin').command({ hello: 1 });
    return nameServer(info, hello);
  } finally {
    await client.close();
  }
}

/**
 * The line `describeServer` prints, from the server's `buildInfo` and `hello` answers.
 * FerretDB reports a MongoDB version for drivers to go by, and its own version beside it:
 * v1 in `ferretdbVersion`, v2 in `ferretdb.version`.
 */
export function nameServer(info: mongo.Document, hello: mongo.Document): string {
  const topology = hello.setName
    ? `replica set ${hello.setName}`
    : hello.msg === 'isdbgrid'
      ? 'mongos'
      : 'standalone';
  const ferretdb: unknown = info.ferretdb?.version ?? info.ferretdbVersion;
  return ferretdb !== undefined
    ? `FerretDB ${ferretdb} (reports MongoDB ${info.version}), ${topology}`
    : `mongod ${info.version}, ${topology}`;
}

/** A free TCP port on 127.0.0.1 (free when asked; a server started right after will get it). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const probe = createNetServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => ok(port));
    });
  });
}

/**
 * Whether this machine can start a server of its own on a chosen port: a cached FerretDB
 * helper, or a known mongod binary. The reason says what is missing.
 */
export function launchable(mongodBinary: string | undefined): { ok: boolean; reason: string } {
  if (mongodBinary) return { ok: true, reason: `mongod at ${mongodBinary}` };
  if (existsSync(ferretdbBinaryPath())) return { ok: true, reason: 'the FerretDB helper is built' };
  return {
    ok: false,
    reason:
      'neither a mongod binary nor a built FerretDB helper is available to start a server on a chosen port',
  };
}

/** Starts a fresh server on `port`: mongod when a binary is given, else the FerretDB helper. */
export function startServerOn(
  port: number,
  mongodBinary: string | undefined,
): Promise<RunningServer> {
  return mongodBinary ? startMongod({ port, binary: mongodBinary }) : startFerretDB(port);
}
