/** What a sweeper reports to its store. */
export interface SweepReport {
  swept(deleted: number): void;
  failed(err: Error): void;
}

/**
 * Deletes expired sessions on a timer, for servers whose TTL monitor is absent or slow.
 *
 * Runs never overlap: the next is scheduled when the last one ends, with ±10 % jitter so that
 * many app instances drift apart. The timer is `unref`'d and never keeps a process alive.
 * A run whose `sweep` resolves to `undefined` did not sweep (another instance holds the lease)
 * and is not reported.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private every: number | undefined;

  constructor(
    private readonly sweep: () => Promise<number | undefined>,
    private readonly report: SweepReport,
  ) {}

  /** The interval in milliseconds, or `undefined` while stopped. */
  get interval(): number | undefined {
    return this.every;
  }

  /** Starts (or restarts) sweeping every `interval` milliseconds. */
  start(interval: number): void {
    this.stop();
    this.every = interval;
    this.schedule();
  }

  /** Stops sweeping; a run under way finishes but schedules no other. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.every = undefined;
  }

  /** Runs a sweep at once, unless one is under way or the sweeper is stopped; the next follows an interval later. */
  soon(): void {
    // No timer while started means a run is under way: it schedules the next itself.
    if (this.every === undefined || this.timer === undefined) return;
    clearTimeout(this.timer);
    void this.run();
  }

  private schedule(): void {
    if (this.every === undefined) return;
    const delay = Math.round(this.every * (0.9 + Math.random() * 0.2));
    this.timer = setTimeout(() => void this.run(), delay);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    try {
      const deleted = await this.sweep();
      if (deleted !== undefined) this.report.swept(deleted);
    } catch (err) {
      this.report.failed(err as Error);
    }
    if (this.timer === undefined) this.schedule();
  }
}
