import { formatUri, mergeUris, parseUri } from '../lib/uris';

describe('mergeUris', () => {
  it('keeps one URI exactly as given', () => {
    const uri = 'mongodb://u:p@db1:27017/app?authSource=admin';
    expect(mergeUris(uri)).toBe(uri);
    expect(mergeUris([uri])).toBe(uri);
  });

  it('joins the hosts of replica set members into one connection string', () => {
    expect(
      mergeUris([
        'mongodb://db1:27017/app?replicaSet=rs0',
        'mongodb://db2:27018/app?replicaSet=rs0',
        'mongodb://db3:27019/app',
      ]),
    ).toBe('mongodb://db1:27017,db2:27018,db3:27019/app?replicaSet=rs0');
  });

  it('takes the database and options from whichever URI gives them', () => {
    expect(mergeUris(['mongodb://db1:1', 'mongodb://db2:2/app?w=majority'])).toBe(
      'mongodb://db1:1,db2:2/app?w=majority',
    );
  });

  it('lists a host given twice only once', () => {
    expect(mergeUris(['mongodb://db1:1/app', 'mongodb://db1:1,db2:2/app'])).toBe(
      'mongodb://db1:1,db2:2/app',
    );
  });

  it('rejects members naming different databases', () => {
    expect(() => mergeUris(['mongodb://db1/app', 'mongodb://db2/other'])).toThrow(
      /conflicting databases/,
    );
  });

  it('rejects members naming different replica sets', () => {
    expect(() =>
      mergeUris(['mongodb://db1/app?replicaSet=a', 'mongodb://db2/app?replicaSet=b']),
    ).toThrow(/conflicting replicaSet names/);
  });

  it('rejects members with different credentials', () => {
    expect(() => mergeUris(['mongodb://a:1@db1/app', 'mongodb://b:2@db2/app'])).toThrow(
      /conflicting credentials/,
    );
  });

  it('rejects a mongodb+srv URI inside an array', () => {
    expect(() => mergeUris(['mongodb+srv://cluster.example.net/app', 'mongodb://db2/app'])).toThrow(
      /mongodb\+srv/,
    );
  });

  it('accepts a mongodb+srv URI on its own', () => {
    expect(mergeUris('mongodb+srv://cluster.example.net/app')).toBe(
      'mongodb+srv://cluster.example.net/app',
    );
  });

  it('keeps percent-escaped credentials as the same user and password', () => {
    const merged = mergeUris(['mongodb://us%40er:p%3Ass@h1/db', 'mongodb://us%40er:p%3Ass@h2/db']);
    expect(merged).toBe('mongodb://us%40er:p%3Ass@h1,h2/db');
    expect(parseUri(merged)).toMatchObject({ username: 'us@er', password: 'p:ss' });
  });

  it('reads the same credentials however they are escaped', () => {
    expect(mergeUris(['mongodb://us%40er:p%3Ass@h1/db', 'mongodb://us%40er:p%3a%73s@h2/db'])).toBe(
      'mongodb://us%40er:p%3Ass@h1,h2/db',
    );
  });

  it('takes the credentials from whichever URI gives them', () => {
    expect(mergeUris(['mongodb://h1/db', 'mongodb://us%40er:p%3Ass@h2/db'])).toBe(
      'mongodb://us%40er:p%3Ass@h1,h2/db',
    );
  });

  it('joins an IPv6 host with the others', () => {
    expect(mergeUris(['mongodb://[::1]:27017/app', 'mongodb://127.0.0.1:27018/app'])).toBe(
      'mongodb://[::1]:27017,127.0.0.1:27018/app',
    );
    expect(parseUri('mongodb://[::1]:27017,[::1]:27018/app').hosts).toEqual([
      '[::1]:27017',
      '[::1]:27018',
    ]);
  });

  it('lists a host once when it is spelled with and without the default port', () => {
    expect(mergeUris(['mongodb://DB1/app', 'mongodb://db1:27017,db2/app'])).toBe(
      'mongodb://DB1,db2/app',
    );
  });

  it('joins a unix socket host with the others', () => {
    expect(mergeUris(['mongodb://%2Ftmp%2Fmongodb-27017.sock/app', 'mongodb://db2/app'])).toBe(
      'mongodb://%2Ftmp%2Fmongodb-27017.sock,db2/app',
    );
  });

  it('accepts options that agree, however the option name is cased', () => {
    expect(
      mergeUris([
        'mongodb://db1/app?replicaSet=rs0&authSource=admin',
        'mongodb://db2/app?replicaset=rs0&w=majority',
      ]),
    ).toBe('mongodb://db1,db2/app?replicaSet=rs0&authSource=admin&w=majority');
  });

  it('keeps an option given several times, in order', () => {
    const tags = 'readPreferenceTags=dc%3Any&readPreferenceTags=';
    expect(mergeUris([`mongodb://db1/app?${tags}`, `mongodb://db2/app?${tags}`])).toBe(
      `mongodb://db1,db2/app?${tags}`,
    );
  });

  it('rejects options that conflict, naming the option but not its values', () => {
    const run = () =>
      mergeUris([
        'mongodb://db1/app?authMechanismProperties=AWS_SESSION_TOKEN:tok1',
        'mongodb://db2/app?authMechanismProperties=AWS_SESSION_TOKEN:tok2',
      ]);
    expect(run).toThrow(
      /^connect-mongoose-session: uris: conflicting values of option authMechanismProperties/,
    );
    expect(run).not.toThrow(/tok1|tok2/);
  });

  it('rejects conflicting credentials without printing them', () => {
    const run = () =>
      mergeUris(['mongodb://alice:hunter2@db1/app', 'mongodb://alice:hunter3@db2/app']);
    expect(run).toThrow(/conflicting credentials/);
    expect(run).not.toThrow(/alice|hunter/);
  });

  it.each([
    ['an unescaped @ in the password', 'mongodb://user:s3cr@t@db1/app'],
    ['an unescaped / in the password', 'mongodb://user:s3cr/t@db1/app'],
    ['a bad percent-escape in the password', 'mongodb://user:s3cr%zzt@db1/app'],
    ['an unescaped [ in the user name', 'mongodb://us[s3cr@db1/app'],
    ['an unknown scheme', 'mongo://user:s3cr@db1/app'],
  ])('rejects a URI with %s without quoting its credentials', (_, uri) => {
    let caught: unknown;
    try {
      mergeUris([uri, 'mongodb://db2/app']);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect((caught as Error).message).toMatch(/^connect-mongoose-session: uris: /);
    expect((caught as Error).message).not.toMatch(/s3cr/);
  });

  it('rejects an empty entry in the host list', () => {
    expect(() => mergeUris('mongodb://db1,,db2/app')).toThrow(/empty entry in the host list/);
  });

  it('writes a parsed URI back with a new database, escaping what needs it', () => {
    const p = parseUri('mongodb://us%40er:p%3Ass@[::1]:27017/app?authSource=admin');
    expect(formatUri({ ...p, database: 'other' })).toBe(
      'mongodb://us%40er:p%3Ass@[::1]:27017/other?authSource=admin',
    );
  });

  it.each([[''], ['localhost:27017'], [42], [['mongodb://ok/app', 'redis://x']]])(
    'rejects %p with a TypeError',
    (uris) => {
      expect(() => mergeUris(uris as string)).toThrow(TypeError);
    },
  );
});
