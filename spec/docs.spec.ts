import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

// The docs are part of the product: their code compiles against the package's types, their
// links lead somewhere, and the README stays readable. Nothing here needs a server.

const ROOT = join(__dirname, '..');
const DOCS = join(ROOT, 'docs');
/** Pages whose `ts` blocks must compile. */
const COMPILED = [
  join(ROOT, 'README.md'),
  ...(existsSync(DOCS) ? readdirSync(DOCS).filter((f) => f.endsWith('.md')) : []).map((f) =>
    join(DOCS, f),
  ),
];
/** Pages whose links must resolve: those, and the other guides in the repository. */
const LINKED = [
  ...COMPILED,
  ...['CONTRIBUTING.md', 'CHANGELOG.md', 'bench/README.md', 'example/README.md']
    .map((f) => join(ROOT, f))
    .filter((f) => existsSync(f)),
];
const README_WIDTH = 160;

const rel = (file: string) => relative(ROOT, file);

/** A fenced code block: its info string, its text, and the line its fence opens on. */
interface Block {
  file: string;
  line: number;
  info: string;
  code: string;
}

/** A page split into its fenced blocks and its prose lines (with their line numbers). */
function parse(file: string): { blocks: Block[]; prose: { line: number; text: string }[] } {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: Block[] = [];
  const prose: { line: number; text: string }[] = [];
  let open: { fence: string; info: string; line: number; body: string[] } | undefined;
  lines.forEach((text, i) => {
    const fence = /^\s*(`{3,}|~{3,})(.*)$/.exec(text);
    if (open === undefined) {
      if (fence)
        open = {
          fence: fence[1] as string,
          info: (fence[2] as string).trim(),
          line: i + 1,
          body: [],
        };
      else prose.push({ line: i + 1, text });
    } else if (
      fence &&
      (fence[1] as string).startsWith(open.fence) &&
      (fence[2] as string).trim() === ''
    ) {
      blocks.push({ file, line: open.line, info: open.info, code: open.body.join('\n') });
      open = undefined;
    } else {
      open.body.push(text);
    }
  });
  if (open !== undefined)
    throw new Error(`${rel(file)}:${open.line}: a code fence is never closed`);
  return { blocks, prose };
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*]/g, '') // code spans and emphasis markers
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '').replace(/\s/g, '-');
}

/** The anchors a page offers: one per heading, repeats numbered as GitHub numbers them. */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text } of parse(file).prose) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const base = slug(heading[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** The relative links and anchors of a page, outside code. */
function linksOf(file: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  for (const { line, text } of parse(file).prose) {
    const bare = text.replace(/`[^`]*`/g, '');
    for (const m of bare.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1] as string;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push({ line, target });
    }
  }
  return links;
}

describe('links in the docs', () => {
  it.each(LINKED.map((f) => [rel(f), f]))('resolve, anchors included, in %s', (_name, file) => {
    const broken: string[] = [];
    for (const { line, target } of linksOf(file)) {
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const to = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!existsSync(to)) {
        broken.push(`${rel(file)}:${line}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && anchor !== '') {
        if (!to.endsWith('.md'))
          broken.push(`${rel(file)}:${line}: ${target} (anchor into a non-page)`);
        else if (!anchorsOf(to).has(anchor))
          broken.push(`${rel(file)}:${line}: ${target} (no heading gives #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('are checked with GitHub’s rules for anchors', () => {
    expect(slug('Many app instances on one collection')).toBe(
      'many-app-instances-on-one-collection',
    );
    expect(slug('`createStore(uris, options?)` and `close()`')).toBe(
      'createstoreuris-options-and-close',
    );
    expect(slug('On FerretDB 1.x (SQLite backend)')).toBe('on-ferretdb-1x-sqlite-backend');
    expect(slug('What a crash costs: kill -9')).toBe('what-a-crash-costs-kill--9');
  });
});

describe('the README', () => {
  const readme = join(ROOT, 'README.md');

  it(`has no line of prose over ${README_WIDTH} characters`, () => {
    const long = parse(readme)
      .prose.filter(({ text }) => [...text].length > README_WIDTH)
      .map(({ line, text }) => `README.md:${line}: ${[...text].length} characters`);
    expect(long).toEqual([]);
  });

  it('gives the test command CI runs', () => {
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    expect(ci).toMatch(/^npm test$/m);
    const shell = parse(readme).blocks.filter((b) => b.info === 'sh' || b.info === 'bash');
    expect(shell.some((b) => /^npm test\b/m.test(b.code))).toBe(true);
  });
});

describe('the words of the docs', () => {
  it.each(LINKED.map((f) => [rel(f), f]))('speak of the API as it is, in %s', (_name, file) => {
    const found = parse(file)
      .prose.filter(({ text }) => /\bseed\b|\bthe original API\b/i.test(text))
      .map(({ line }) => `${rel(file)}:${line}`);
    expect(found).toEqual([]);
  });
});

// Each `ts` block is a module of its own, type-checked strictly against lib/ (what the build
// turns into the published types). A block may opt out with `ts no-check` when it is
// deliberately partial.
describe('TypeScript in the docs', () => {
  const blocks = COMPILED.flatMap((f) => parse(f).blocks).filter((b) =>
    /^(ts|typescript)\b/.test(b.info),
  );
  const checked = blocks.filter((b) => !/\bno-check\b/.test(b.info));
  const dir = join(ROOT, '.cache', `docs-check-${process.pid}`);
  const fileOf = (b: Block) => join(dir, `${rel(b.file).replace(/[/.]/g, '_')}_${b.line}.ts`);
  let diagnostics: Map<string, string[]>;

  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    // As an ES module, so that a block may await at its top level, as apps on Node 20 do.
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    for (const b of checked) writeFileSync(fileOf(b), `${b.code}\nexport {};\n`);
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noImplicitReturns: true,
      noFallthroughCasesInSwitch: true,
      esModuleInterop: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      baseUrl: ROOT,
      paths: { 'connect-mongoose-session': ['lib/index.ts'] },
    };
    // One program per block, so that a block's `declare module` never leaks into another;
    // parsed files are shared between them, which keeps this to seconds.
    const host = ts.createCompilerHost(options);
    const parsed = new Map<string, ts.SourceFile | undefined>();
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, version, onError) => {
      if (name.startsWith(dir)) return getSourceFile(name, version, onError);
      if (!parsed.has(name)) parsed.set(name, getSourceFile(name, version, onError));
      return parsed.get(name);
    };
    diagnostics = new Map();
    let previous: ts.Program | undefined;
    for (const b of checked) {
      const program = ts.createProgram([fileOf(b)], options, host, previous);
      previous = program;
      for (const d of ts.getPreEmitDiagnostics(program)) {
        const file = resolve(d.file?.fileName ?? fileOf(b));
        const where =
          d.file && d.start !== undefined
            ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: `
            : '';
        const list = diagnostics.get(file) ?? [];
        list.push(where + ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        diagnostics.set(file, list);
      }
    }
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exist, and few opt out', () => {
    expect(checked.length).toBeGreaterThan(0);
    expect(blocks.length - checked.length).toBeLessThanOrEqual(Math.ceil(blocks.length / 10));
  });

  it.each(checked.map((b) => [`${rel(b.file)}:${b.line}`, b]))('compiles: %s', (_name, b) => {
    expect(diagnostics.get(resolve(fileOf(b))) ?? []).toEqual([]);
  });

  it('compile nothing but the blocks and the package', () => {
    // A mistake in lib/ would show up in every block; it is reported once, here.
    const others = [...diagnostics.keys()].filter((f) => !f.startsWith(dir));
    expect(others).toEqual([]);
  });
});
