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
import { join, relative, resolve } from 'node:path';
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
  /**
   * The FerretDB helper's data directory, when `kind` is `ferretdb`; removed on stop unless
   * the caller gave it.
   */
  dir?: string;
  /**
   * Kills the server with SIGKILL, as a crash would, and leaves its files as they are, so
   * that another server can start on the same port and data directory. Only for `ferretdb`.
   */
  kill?(): Promise<void>;
}

/** Options of {@link startFerretDB}. */
export interface FerretDBOptions {
  /**
   * An existing data directory, for example the one a killed server left: the server starts
   * on the data in it. It is the caller's: never removed. Default: a new temp dir, removed on stop.
   */
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

/** The FerretDB version the helper is built with, as tools/ferretdb/go.mod pins it. */
function ferretdbModuleVersion(): string {
  const goMod = readFileSync(join(FERRETDB_SRC, 'go.mod'), 'utf8');
  return /^require github\.com\/FerretDB\/FerretDB (\S+)/m.exec(goMod)?.[1] ?? 'v1';
}

/**
 * Builds the FerretDB helper with `go build` (modules from the Go proxy) unless cached.
 * `why` completes the line printed before the build, which can take minutes.
 */
export async function buildFerretDB(why = 'no mongod is available'): Promise<string> {
  const bin = ferretdbBinaryPath();
  if (existsSync(bin)) return bin;
  mkdirSync(join(ROOT, '.cache', 'ferretdb'), { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  process.stderr.write(
    `building the FerretDB helper (FerretDB ${ferretdbModuleVersion()}, SQLite backend) with go build, ` +
      `because ${why}; its modules come from the Go module proxy, and a first build takes about 3 minutes...\n`,
  );
  const started = Date.now();
  await run('go', ['build', '-trimpath', '-o', tmp, '.'], FERRETDB_SRC);
  renameSync(tmp, bin);
  process.stderr.write(
    `built the FerretDB helper in ${duration(Date.now() - started)}: ${relative(process.cwd(), bin)}\n`,
  );
  return bin;
}

/** `ms` as minutes and seconds, for a person reading a build log. */
function duration(ms: number): string {
  const s = Math.round(ms / 1_000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/**
 * Starts FerretDB on 127.0.0.1:`port` (0 picks a free one), in a temp dir it removes on stop,
 * or in `options.dir`.
 */
export async function startFerretDB(
  port = 0,
  options: FerretDBOptions = {},
): Promise<RunningServer> {
  const bin = await buildFerretDB();
  const given = options.dir;
  const args = ['-listen', `127.0.0.1:${port}`, ...(given === undefined ? [] : ['-dir', given])];
  const child = spawn(bin, args, {
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
      if (dir && given === undefined) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
      child.stdin.destroy();
    },
  };
}

/** Starts a real mongod (standalone, or a one-member replica set) through mongodb-memory-server. */
export async function startMongod(
  options: { port?: number; replSet?: boolean; binary?: string } = {},
): Promise<RunningServer> {
  // One download attempt: in mongodb-memory-server 11 this count includes the first try, so
  // 0 never downloads at all and only says "Max retries exceeded".
  process.env.MONGOMS_MAX_RETRIES ??= '1';
  const mms = await import('mongodb-memory-server');
  // Find (or download) the binary before starting: a failure here is a plain rejection,
  // while a failed create() also prints the whole stack trace through console.warn.
  const mongodBinary = options.binary ?? (await mms.MongoBinary.getPath());
  // A 1 s TTL monitor, so the specs that watch it delete do not wait a minute.
  const args = ['--setParameter', 'ttlMonitorSleepSecs=1'];
  const binary = options.binary === undefined ? {} : { systemBinary: options.binary };
  const server = options.replSet
    ? await mms.MongoMemoryReplSet.create({ replSet: { count: 1, args }, binary })
    : await mms.MongoMemoryServer.create({ instance: { port: options.port, args }, binary });
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
  '  3. the Go toolchain (go >= 1.24, as tools/ferretdb/go.mod says) and the Go module proxy, to build the FerretDB helper in tools/ferretdb.';

/**
 * Resolves the server for a run. `say` gets one line for each choice passed over, as soon
 * as it is passed over (before a FerretDB build that can take minutes); by default stderr.
 */
export async function resolveServer(
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<RunningServer> {
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== '') {
    return { uri: external, kind: 'external', stop: async () => {} };
  }
  const tried: string[] = [];
  try {
    return await startMongod();
  } catch (err) {
    tried.push(`mongod (mongodb-memory-server): ${reason(err)}`);
    say(
      `no mongod could be had from mongodb-memory-server (${reason(err)}); using the embedded FerretDB helper instead`,
    );
  }
  try {
    return await startFerretDB();
  } catch (err) {
    tried.push(`FerretDB helper: ${reason(err)}`);
  }
  throw new Error(`${HOW}\nTried:\n  - ${tried.join('\n  - ')}`);
}

/**
 * An error's message on one line: its first line, joined with the next while it ends in a
 * colon (mongodb-memory-server's download errors give the cause on the line after "Details:").
 */
function reason(err: unknown): string {
  const lines = String((err as Error)?.message ?? err)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  let text = lines.shift() ?? 'unknown error';
  while (text.endsWith(':') && lines.length > 0) text += ` ${lines.shift()}`;
  return text;
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
