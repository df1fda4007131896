import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SessionData } from 'express-session';
import { settle } from '../lib/callback';
import { cookie, eventually, sid, useDatabase } from './support/server';

const db = useDatabase('callback');
const session = () => ({ cookie: cookie(), n: 1 }) as unknown as SessionData;

describe('settle', () => {
  it('returns the promise itself when no callback is given', async () => {
    const work = Promise.resolve(5);
    expect(settle(work, undefined)).toBe(work);
  });

  it('returns nothing when a callback is given, so a failure cannot become an unhandled rejection', async () => {
    const called = new Promise<Error | null>((done) => {
      expect(settle(Promise.reject(new Error('no')), (err) => done(err))).toBeUndefined();
    });
    expect((await called)?.message).toBe('no');
  });

  it('wraps a non-Error rejection into an Error for the callback', async () => {
    const err = await new Promise<Error | null>((done) =>
      settle(Promise.reject('plain'), (e) => done(e)),
    );
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toBe('plain');
  });
});

describe('store methods with callbacks', () => {
  it('call back once, asynchronously, with the value', async () => {
    const store = await db.open();
    const id = sid();
    let sync = true;
    const results: unknown[] = [];
    await new Promise<void>((done) => {
      store.set(id, session(), (err) => {
        results.push(err);
        store.get(id, (err2, value) => {
          results.push(err2, value);
          done();
        });
      });
      sync = false;
    });
    expect(sync).toBe(false);
    expect(results[0]).toBeNull();
    expect(results[1]).toBeNull();
    expect(results[2]).toMatchObject({ n: 1 });
  });

  it("call back in their caller's AsyncLocalStorage context, requests interleaved", async () => {
    const store = await db.open();
    const requestContext = new AsyncLocalStorage<string>();
    const ids = ['A', 'B', 'C'].map(() => sid());
    // Three requests at once, each saving, reading, touching and destroying its session.
    const seen = await Promise.all(
      ['request A', 'request B', 'request C'].map((name, i) =>
        requestContext.run(name, async () => {
          const inContext: (string | undefined)[] = [];
          const step = (fn: (done: () => void) => void) =>
            new Promise<void>((done) =>
              fn(() => {
                inContext.push(requestContext.getStore());
                done();
              }),
            );
          await step((done) => store.set(ids[i], session(), done));
          await step((done) => store.get(ids[i], done));
          await step((done) => store.touch(ids[i], session(), done));
          await step((done) => store.destroy(ids[i], done));
          return inContext;
        }),
      ),
    );
    expect(seen).toEqual([
      Array(4).fill('request A'),
      Array(4).fill('request B'),
      Array(4).fill('request C'),
    ]);
  });

  it('call back with the error and never throw synchronously', async () => {
    const store = await db.open();
    const err = await new Promise<Error | null>((done) => {
      expect(() => store.get({ $gt: '' } as unknown as string, (e) => done(e))).not.toThrow();
    });
    expect(err).toBeInstanceOf(TypeError);
  });

  it('call back once with what an options object throws, and reject with it without a callback', async () => {
    const store = await db.open();
    const hostile = {
      get except(): string[] {
        throw new Error('thrown by a getter');
      },
    };
    const calls: (Error | null)[] = [];
    expect(() => store.destroyByUser('ada', hostile, (e) => calls.push(e))).not.toThrow();
    await eventually(() => calls.length > 0, 5_000, 'the callback');
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.map((e) => e?.message)).toEqual(['thrown by a getter']);
    await expect(store.destroyByUser('ada', hostile)).rejects.toThrow('thrown by a getter');
  });

  it('length, count, all, clear and destroy call back too', async () => {
    const store = await db.open();
    const id = sid();
    await store.set(id, session());
    const cb = <T>(fn: (cb: (err: Error | null, v?: T) => void) => void) =>
      new Promise<T | undefined>((ok, fail) => fn((err, v) => (err ? fail(err) : ok(v))));
    expect(await cb<number>((c) => store.length(c))).toBe(1);
    expect(await cb<number>((c) => store.count(c))).toBe(1);
    expect(Object.keys((await cb<Record<string, SessionData>>((c) => store.all(c))) ?? {})).toEqual(
      [id],
    );
    await cb<void>((c) => store.destroy(id, c));
    await cb<void>((c) => store.clear(c));
    expect(await store.length()).toBe(0);
  });

  const runFixture = async (mode: string) => {
    const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const { stdout } = await promisify(execFile)(
      tsx,
      [join(__dirname, 'fixtures', 'throwing-callback.ts')],
      {
        env: { ...process.env, FIXTURE_URI: db.uri, FIXTURE_MODE: mode },
        timeout: 30_000,
      },
    );
    return JSON.parse(stdout.trim());
  };

  it('never call a throwing callback twice; its error surfaces as an uncaught exception', async () => {
    expect(await runFixture('set')).toEqual({
      kind: 'uncaughtException',
      calls: 1,
      message: 'thrown by the callback',
    });
  }, 40_000);

  it('treat a throwing constructor callback the same: once, as an uncaught exception', async () => {
    expect(await runFixture('constructor')).toEqual({
      kind: 'uncaughtException',
      calls: 1,
      message: 'thrown by the callback',
    });
  }, 40_000);
});
