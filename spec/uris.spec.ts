import { mergeUris } from '../lib/uris';

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

  it.each([[''], ['localhost:27017'], [42], [['mongodb://ok/app', 'redis://x']]])(
    'rejects %p with a TypeError',
    (uris) => {
      expect(() => mergeUris(uris as string)).toThrow(TypeError);
    },
  );
});
