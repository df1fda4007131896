import mongoose from 'mongoose';
import { createStore, DEFAULT_TTL, jsonSerializer } from '../lib/index';
import { resolveOptions } from '../lib/options';

const URI = 'mongodb://127.0.0.1:27017/app';

describe('resolveOptions', () => {
  it('applies the documented defaults', () => {
    const o = resolveOptions(URI, undefined);
    expect(o).toMatchObject({
      source: { kind: 'uri', uri: URI, options: {} },
      collection: 'sessions',
      ttl: DEFAULT_TTL,
      autoIndex: true,
      waitForServer: 5_000,
    });
    expect(o.lifecheck).toBeUndefined();
    // Adaptive: see touchSlack.
    expect(o.touchAfter).toBeUndefined();
    expect(o.serializer).toBe(jsonSerializer);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('keeps 0 as a value rather than falling back to a default', () => {
    expect(resolveOptions(URI, { touchAfter: 0 }).touchAfter).toBe(0);
  });

  it('accepts lifecheck -1 to turn the sweeper off', () => {
    expect(resolveOptions(URI, { lifecheck: -1 }).lifecheck).toBe(-1);
  });

  it('accepts a ttl longer than a Node timer can wait, such as 30 days', () => {
    expect(resolveOptions(URI, { ttl: 30 * 86_400_000 }).ttl).toBe(30 * 86_400_000);
  });

  it('accepts a ttl function', () => {
    const ttl = () => 1000;
    expect(resolveOptions(URI, { ttl }).ttl).toBe(ttl);
  });

  const invalid: [string, unknown, unknown, RegExp][] = [
    ['options that are not an object', URI, 'nope', /options: expected an object/],
    ['an unknown option (a typo)', URI, { colection: 'x' }, /unknown option "colection"/],
    ['an empty collection name', URI, { collection: '' }, /collection:/],
    ['a collection name with $', URI, { collection: 'a$b' }, /collection:/],
    ['a system collection', URI, { collection: 'system.sessions' }, /collection:/],
    ['a ttl of 0', URI, { ttl: 0 }, /ttl: expected a function or milliseconds/],
    ['a ttl over 100 years', URI, { ttl: 101 * 365 * 86_400_000 }, /ttl:/],
    ['a ttl that is a string', URI, { ttl: '14d' }, /ttl: expected a function or milliseconds/],
    ['a ttl of Infinity', URI, { ttl: Number.POSITIVE_INFINITY }, /ttl:/],
    ['a lifecheck of 0', URI, { lifecheck: 0 }, /lifecheck: expected -1 \(off\) or milliseconds/],
    ['a lifecheck of -5', URI, { lifecheck: -5 }, /lifecheck:/],
    ['a lifecheck over the timer limit', URI, { lifecheck: 2 ** 31 }, /lifecheck:/],
    ['a negative touchAfter', URI, { touchAfter: -1 }, /touchAfter:/],
    ['a NaN touchAfter', URI, { touchAfter: Number.NaN }, /touchAfter:/],
    ['a waitForServer of 0', URI, { waitForServer: 0 }, /waitForServer: expected milliseconds/],
    ['a waitForServer that is a string', URI, { waitForServer: '5s' }, /waitForServer:/],
    ['a waitForServer over the timer limit', URI, { waitForServer: 2 ** 31 }, /waitForServer:/],
    ['a non-boolean autoIndex', URI, { autoIndex: 'yes' }, /autoIndex:/],
    [
      'connectionOptions that are not an object',
      URI,
      { connectionOptions: 5 },
      /connectionOptions:/,
    ],
    ['an unknown serializer name', URI, { serializer: 'yaml' }, /serializer:/],
    ['a serializer without deserialize', URI, { serializer: { serialize: String } }, /serializer:/],
    [
      'a connection that is not a Connection',
      null,
      { connection: {} },
      /connection: expected a mongoose Connection/,
    ],
    ['neither uris nor connection', null, {}, /uris: required unless options.connection/],
    ['a uri that is not a MongoDB URI', 'http://localhost', {}, /uris: expected a mongodb:\/\//],
    ['an empty array of uris', [], {}, /uris: expected a URI or a non-empty array/],
  ];

  it.each([
    ['mongoUrl', /first argument/],
    ['collectionName', /use `collection`/],
    ['autoRemove', /`lifecheck`.*`autoIndex`/],
    ['autoRemoveInterval', /`lifecheck`, in milliseconds/],
    ['mongoOptions', /use `connectionOptions`/],
    ['dbName', /in the URI, or use connectionOptions\.dbName/],
    ['crypto', /secret/],
    ['stringify', /serializer/],
    ['serialize', /serializer/],
    ['unserialize', /serializer/],
  ])("refuses connect-mongo's %s, saying what to write instead", (name, instead) => {
    const attempt = () => resolveOptions(URI, { [name]: 1 } as never);
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(new RegExp(`"${name}" is connect-mongo's`));
    expect(attempt).toThrow(instead);
  });

  it.each(['ttl', 'touchAfter', 'lifecheck'])(
    'reminds that %s is in milliseconds, where connect-mongo took seconds',
    (name) => {
      expect(() => resolveOptions(URI, { [name]: -2 } as never)).toThrow(
        /milliseconds here: connect-mongo took seconds/,
      );
    },
  );

  it('accepts a waitForServer in milliseconds', () => {
    expect(resolveOptions(URI, { waitForServer: 250 }).waitForServer).toBe(250);
  });

  it("warns once per process, with a code and without the value, of a ttl that may be connect-mongo's seconds", () => {
    const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      // A module of its own: the once-per-process flag starts unset whatever ran before.
      let fresh: typeof import('../lib/options') | undefined;
      jest.isolateModules(() => {
        fresh = require('../lib/options');
      });
      const { resolveOptions: resolve, TTL_WARNING_CODE } =
        fresh as typeof import('../lib/options');
      resolve(URI, { ttl: DEFAULT_TTL });
      expect(emitWarning).not.toHaveBeenCalled();
      resolve(URI, { ttl: 24 * 3600 });
      resolve(URI, { ttl: 14 * 24 * 3600 });
      expect(emitWarning).toHaveBeenCalledTimes(1);
      const [message, options] = emitWarning.mock.calls[0] as [string, { code?: string }];
      expect(options).toMatchObject({ code: TTL_WARNING_CODE });
      expect(message).toMatch(/^connect-mongoose-session: ttl is in milliseconds/);
      expect(message).toMatch(/multiply it by 1000/);
      expect(message).not.toContain('86400');
    } finally {
      emitWarning.mockRestore();
    }
  });

  it.each([
    ['{ mongoUrl }', { mongoUrl: URI }],
    ['{ client }', { client: {} }],
  ])(
    "refuses connect-mongo's call shape createStore(%s) with a TypeError that says to pass the URI first",
    (_what, first) => {
      const attempt = () => createStore(first as never);
      expect(attempt).toThrow(TypeError);
      expect(attempt).toThrow(/^connect-mongoose-session: uris: got an object/);
      expect(attempt).toThrow(/pass the URI as the first argument/);
    },
  );

  it('refuses maxLifetime with legacy, whose shape records no createdAt to count it from', () => {
    expect(() => resolveOptions(URI, { legacy: true, maxLifetime: 60_000 })).toThrow(TypeError);
    expect(() => resolveOptions(URI, { legacy: true, maxLifetime: 60_000 })).toThrow(
      /maxLifetime: not with legacy/,
    );
    expect(resolveOptions(URI, { maxLifetime: 60_000 }).maxLifetime).toBe(60_000);
  });

  it('accepts legacy as a boolean only', () => {
    expect(resolveOptions(URI, { legacy: true }).legacy).toBe(true);
    expect(resolveOptions(URI, {}).legacy).toBe(false);
    expect(() => resolveOptions(URI, { legacy: 'yes' } as never)).toThrow(
      /legacy: expected a boolean/,
    );
  });

  it.each(invalid)('rejects %s with a TypeError naming it', (_what, uris, opts, message) => {
    const attempt = () => resolveOptions(uris as string, opts as never);
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(/^connect-mongoose-session: /);
    expect(attempt).toThrow(message);
  });

  describe('with a connection', () => {
    const connection = mongoose.createConnection();

    it('accepts null uris', () => {
      expect(resolveOptions(null, { connection }).source).toEqual({
        kind: 'connection',
        connection,
      });
    });

    it('rejects uris given as well, since one would be ignored', () => {
      expect(() => resolveOptions(URI, { connection })).toThrow(
        /uris, connection: give only one of them/,
      );
    });

    it('rejects connectionOptions, which it would ignore', () => {
      expect(() => resolveOptions(null, { connection, connectionOptions: {} })).toThrow(
        /connectionOptions:/,
      );
    });
  });
});
