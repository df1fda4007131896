import { cookie, describeIf, server, sid, useDatabase } from './support/server';

describeIf(server.replSetCaps.replicaSet, 'several URIs, one per replica set member', () => {
  const db = useDatabase('replset', server.replSetUri);

  it('merges them into one connection that serves sessions', async () => {
    const { hosts, setName } = server.replSetCaps.replicaSet;
    const uris = hosts.map((h) => `mongodb://${h}/${db.name}?replicaSet=${setName}`);
    const store = await db.open({}, uris);
    const id = sid();
    await store.set(id, { cookie: cookie(), member: 'any' } as never);
    expect(await store.get(id)).toMatchObject({ member: 'any' });
    expect(await db.db.collection('sessions').countDocuments({ _id: id as never })).toBe(1);
  });

  it('rejects members that name different replica sets', async () => {
    const [host] = server.replSetCaps.replicaSet.hosts;
    expect(() =>
      db.open({}, [
        `mongodb://${host}/${db.name}?replicaSet=a`,
        `mongodb://${host}/${db.name}?replicaSet=b`,
      ]),
    ).toThrow(/conflicting replicaSet names/);
  });
});
