import { MongooseStoreError } from '../lib/errors';
import { RETRY_ATTEMPTS, retrying, transient } from '../lib/retry';

/** FerretDB 1.x's answer when SQLite's lock is held, word for word. */
const busy = () => new Error('database is locked (5) (SQLITE_BUSY)');

/** A step that throws `failures` busy errors, then resolves to 'done'; counts its tries. */
function flaky(failures: number) {
  const seen = { tries: 0 };
  const step = async () => {
    seen.tries += 1;
    if (seen.tries <= failures) throw busy();
    return 'done';
  };
  return { step, seen };
}

describe('retrying', () => {
  it('resolves a step that meets a locked database twice, then succeeds', async () => {
    const { step, seen } = flaky(2);
    await expect(retrying('the sweep', step)).resolves.toBe('done');
    expect(seen.tries).toBe(3);
  });

  it('gives up with ERR_SERVER_BUSY after RETRY_ATTEMPTS tries, without the server text', async () => {
    const { step, seen } = flaky(Number.POSITIVE_INFINITY);
    const err = await retrying('the sweep', step).catch((e: unknown) => e);
    expect(seen.tries).toBe(RETRY_ATTEMPTS);
    expect(err).toBeInstanceOf(MongooseStoreError);
    expect(err).toMatchObject({ code: 'ERR_SERVER_BUSY' });
    const { message } = err as Error;
    expect(message).toMatch(/^connect-mongoose-session: the sweep: .*gave up/);
    expect(message).not.toMatch(/locked|SQLITE/);
    // The server's words stay in the cause, for whoever debugs it.
    expect((err as Error).cause).toMatchObject({ message: busy().message });
  });

  it('passes any other error on at once', async () => {
    const refused = Object.assign(new Error('not authorized'), { code: 13 });
    let tries = 0;
    const err = await retrying('the sweep', async () => {
      tries += 1;
      throw refused;
    }).catch((e: unknown) => e);
    expect(err).toBe(refused);
    expect(tries).toBe(1);
  });

  it('passes the last error on, untried, once stopped says so', async () => {
    const { step, seen } = flaky(Number.POSITIVE_INFINITY);
    let stopped = false;
    const err = await retrying(
      'the sweep',
      async () => {
        if (seen.tries === 1) stopped = true;
        return step();
      },
      () => stopped,
    ).catch((e: unknown) => e);
    expect(seen.tries).toBe(2);
    expect(err).toMatchObject({ message: busy().message });
  });
});

describe('transient', () => {
  it.each([
    ['a locked SQLite database', busy()],
    ['a write conflict (code 112)', Object.assign(new Error('conflict'), { code: 112 })],
    ['a network error', Object.assign(new Error('reset'), { name: 'MongoNetworkError' })],
    [
      'a retryable write label',
      Object.assign(new Error('x'), { errorLabels: ['RetryableWriteError'] }),
    ],
  ])('says yes to %s', (_what, err) => {
    expect(transient(err)).toBe(true);
  });

  it.each([
    ['a refusal (code 13)', Object.assign(new Error('no'), { code: 13 })],
    ['our own error', new MongooseStoreError('ERR_SERVER_BUSY', 'database is locked')],
    ['something not an Error', 'database is locked'],
  ])('says no to %s', (_what, err) => {
    expect(transient(err)).toBe(false);
  });
});
