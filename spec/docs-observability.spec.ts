import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import * as pkg from '../lib/index';
import type { MongooseStore } from '../lib/store';
import { useDatabase } from './support/server';

// The OpenTelemetry and Prometheus code of docs/observability.md, taken from the page as it is
// and run against a real store: what users copy must work, not just compile.

const page = readFileSync(join(__dirname, '..', 'docs', 'observability.md'), 'utf8');
const blocks = [...page.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);

/** Runs the block that exports `name`, with the package taken from lib/; returns its exports. */
function load<T>(name: string): T {
  const source = blocks.find((b) => b.includes(`export function ${name}(`));
  if (source === undefined) throw new Error(`docs/observability.md has no block exporting ${name}`);
  const js = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
    },
  }).outputText;
  const exports: Record<string, unknown> = {};
  const need = (id: string) => (id === 'connect-mongoose-session' ? pkg : require(id));
  new Function('require', 'exports', js)(need, exports);
  return exports[name] as T;
}

const db = useDatabase('docs-observability');
const cookie = () => ({ originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) });

describe('the OpenTelemetry code in the docs', () => {
  it('records db.client.operation.duration in seconds for each operation, with its attributes', async () => {
    const recorded: {
      name: string;
      unit?: string;
      value: number;
      attributes: Record<string, unknown>;
    }[] = [];
    const meter = {
      createHistogram: (name: string, options?: { unit?: string }) => ({
        record: (value: number, attributes: Record<string, unknown> = {}) =>
          recorded.push({ name, unit: options?.unit, value, attributes }),
      }),
    };
    const stop = load<(m: typeof meter) => () => void>('recordOperations')(meter);
    try {
      const store = await db.open({ touchAfter: 0 });
      await store.set('otel-1', { cookie: cookie() } as never);
      await store.get('otel-1');
      await store.get('otel-missing');
      await store.destroy('otel-1');
      await expect(store.get({} as never)).rejects.toThrow(TypeError);
    } finally {
      stop();
    }
    const ops = recorded.map((r) => [
      r.attributes['db.operation.name'],
      r.attributes['session.outcome'],
    ]);
    expect(ops).toEqual([
      ['set', undefined],
      ['get', 'hit'],
      ['get', 'miss'],
      ['destroy', undefined],
      ['get', undefined],
    ]);
    for (const r of recorded) {
      expect(r).toMatchObject({ name: 'db.client.operation.duration', unit: 's' });
      expect(r.value).toBeGreaterThan(0);
      expect(r.value).toBeLessThan(30);
      expect(r.attributes['db.system.name']).toBe('mongodb');
      expect(typeof r.attributes['db.collection.name']).toBe('string');
    }
    expect(recorded.at(-1)?.attributes['error.type']).toBe('TypeError');
  });
});

describe('the Prometheus code in the docs', () => {
  it('renders operation counts and the store’s stats in the text format', async () => {
    const store = await db.open({ touchAfter: 0 });
    const metrics =
      load<(s: MongooseStore) => { render(): Promise<string>; stop(): void }>('prometheusMetrics')(
        store,
      );
    try {
      await store.set('prom-1', { cookie: cookie() } as never);
      await store.get('prom-1');
      await store.get('prom-1');
      const text = await metrics.render();
      expect(text).toMatch(/^# TYPE session_store_operations_total counter$/m);
      expect(text).toMatch(/^session_store_operations_total\{operation="get"\} 2$/m);
      expect(text).toMatch(/^session_store_operations_total\{operation="set"\} 1$/m);
      expect(text).toMatch(/^session_store_errors_total\{operation="get"\} 0$/m);
      expect(text).toMatch(/^session_store_up 1$/m);
      expect(text).toMatch(/^session_store_live_sessions 1$/m);
      // Every sample line is `name{labels} number`, as a scrape parses it.
      for (const line of text
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('#')))
        expect(line).toMatch(/^[a-z_]+(\{operation="[A-Za-z]+"\})? [0-9.e+-]+$/);
    } finally {
      metrics.stop();
    }
  });
});
