import { MongooseStore } from '../lib/index';
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

  it('rejects members that name different replica sets with a TypeError at construction', () => {
    // The real set's name first: a store that took the first name and ignored the conflict
    // would connect and serve, and must not.
    const { hosts, setName } = server.replSetCaps.replicaSet;
    const uris = [
      `mongodb://${hosts[0]}/${db.name}?replicaSet=${setName}`,
      `mongodb://${hosts[0]}/${db.name}?replicaSet=${setName}_other`,
    ];
    let thrown: unknown;
    try {
      // Closed after the test, should it ever be built.
      db.stores.push(new MongooseStore(uris, { lifecheck: -1 }));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(
      /^connect-mongoose-session: uris: conflicting replicaSet names/,
    );
  });
});
