import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { useDatabase } from './support/server';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const db = useDatabase('package');

// Loads the package the way users get it: built, packed, installed from the tarball.
describe('the packed package', () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cms-pack-'));
    await run('npm', ['run', 'build'], { cwd: ROOT });
    const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--silent'], {
      cwd: ROOT,
    });
    const tarball = join(dir, stdout.trim().split('\n').at(-1) as string);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        tarball,
        'mongoose@9',
        'express-session@1',
      ],
      {
        cwd: dir,
      },
    );
  }, 240_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const script = (body: string) =>
    `${body}
const store = createStore(process.env.URI, { lifecheck: -1 });
const s = { cookie: { expires: new Date(Date.now() + 60000) }, via: process.env.VIA };
store.set('pkg-' + process.env.VIA, s)
  .then(() => store.get('pkg-' + process.env.VIA))
  .then((got) => { console.log(JSON.stringify({ got, isStore: store instanceof MongooseStore })); return store.close(); })
  .catch((e) => { console.error(e); process.exit(1); });`;

  it('loads with require() and works', async () => {
    writeFileSync(
      join(dir, 'use.cjs'),
      script("const { createStore, MongooseStore } = require('connect-mongoose-session');"),
    );
    const { stdout } = await run('node', ['use.cjs'], {
      cwd: dir,
      env: { ...process.env, URI: db.uri, VIA: 'cjs' },
    });
    expect(JSON.parse(stdout)).toEqual({
      got: expect.objectContaining({ via: 'cjs' }),
      isStore: true,
    });
  }, 30_000);

  it('loads with import and works', async () => {
    writeFileSync(
      join(dir, 'use.mjs'),
      script("import { createStore, MongooseStore } from 'connect-mongoose-session';"),
    );
    const { stdout } = await run('node', ['use.mjs'], {
      cwd: dir,
      env: { ...process.env, URI: db.uri, VIA: 'esm' },
    });
    expect(JSON.parse(stdout)).toEqual({
      got: expect.objectContaining({ via: 'esm' }),
      isStore: true,
    });
  }, 30_000);

  it('ships source maps whose every source can be read from the installed package', () => {
    // lib/ is not shipped: a map must carry its sources, or a stack trace maps to nothing.
    const pkg = join(dir, 'node_modules', 'connect-mongoose-session');
    const maps = ['cjs', 'esm'].flatMap((kind) =>
      readdirSync(join(pkg, 'dist', kind))
        .filter((f) => f.endsWith('.js.map'))
        .map((f) => join(pkg, 'dist', kind, f)),
    );
    expect(maps.length).toBeGreaterThan(0);
    const unreadable = maps.flatMap((file) => {
      const map = JSON.parse(readFileSync(file, 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
        sourcesContent?: (string | null)[];
      };
      return map.sources
        .filter(
          (source, i) =>
            typeof map.sourcesContent?.[i] !== 'string' &&
            !existsSync(resolve(dirname(file), map.sourceRoot ?? '', source)),
        )
        .map((source) => `${relative(pkg, file)}: ${source}`);
    });
    expect(unreadable).toEqual([]);
  });

  it('ships type declarations for both, and nothing but dist, the README, its docs and the changelog', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT });
    const files = (JSON.parse(stdout)[0].files as { path: string }[]).map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/cjs/index.d.ts',
        'dist/esm/index.d.ts',
        'dist/cjs/index.js',
        'dist/esm/index.js',
      ]),
    );
    expect(
      files.filter(
        (f) =>
          !f.startsWith('dist/') &&
          !/^docs\/[a-z-]+\.md$/.test(f) &&
          !['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'].includes(f),
      ),
    ).toEqual([]);
    // What the README and the docs link to among themselves is there to read in node_modules.
    for (const page of files.filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(ROOT, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#:\s]+\.md)(?:#[^)]*)?\)/g)) {
        const path = join(dirname(page), target as string).replaceAll('\\', '/');
        if (path.startsWith('docs/') || path === 'CHANGELOG.md')
          expect({ page, target, packed: files.includes(path) }).toMatchObject({ packed: true });
      }
    }
  }, 60_000);
});
