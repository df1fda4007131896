// A rejected clientPromise stays rejected: the store says so once, and does not keep retrying
// (and saying it again) in the background. No server is needed: the promise never gives one.
import { MongooseStore } from '../lib/index';

describe('a rejected clientPromise', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('is said once, not again by background retries', async () => {
    // Only the timers: promises and ticks run as they do.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    const errors: Error[] = [];
    const store = new MongooseStore(null, {
      lifecheck: -1,
      clientPromise: Promise.reject(new Error('no client today')),
    });
    store.on('error', (err) => errors.push(err));
    try {
      await new Promise<void>((ok) => store.once('error', () => ok()));
      // Longer than every retry delay the store would use (1 s, doubling to 30 s) put together.
      await jest.advanceTimersByTimeAsync(120_000);
      expect(errors.map((e) => e.message)).toEqual(['no client today']);
    } finally {
      await store.close();
    }
  });
});
