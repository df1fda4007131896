// The round trips a contestant makes, by command, timed by the driver itself: where a
// request's wait goes when the server sets the pace.

/** Round trips of one command: how many, and their total time in milliseconds. */
export interface CommandTotal {
  count: number;
  ms: number;
}
export type CommandTotals = ReadonlyMap<string, CommandTotal>;

/** What a MongoDB driver's client emits with `monitorCommands: true`, whichever copy of the driver. */
export interface CommandClient {
  on(
    event: 'commandSucceeded' | 'commandFailed',
    listener: (e: { commandName: string; duration: number; failure?: unknown }) => void,
  ): unknown;
}

/** Counts the commands a client sends; it must be created with `monitorCommands: true`. */
export class CommandLog {
  private readonly totals = new Map<string, CommandTotal>();

  watch(client: CommandClient): void {
    client.on('commandSucceeded', ({ commandName, duration }) => this.add(commandName, duration));
    // A failed command is listed apart: the driver may retry it (a retryable write), and the
    // retry is a second round trip of the same request.
    client.on('commandFailed', ({ commandName, duration, failure }) => {
      const code = (failure as { codeName?: string } | undefined)?.codeName;
      this.add(`${commandName} (failed${code ? `: ${code}` : ''})`, duration);
    });
  }

  private add(name: string, ms: number): void {
    const t = this.totals.get(name);
    if (t === undefined) this.totals.set(name, { count: 1, ms });
    else {
      t.count += 1;
      t.ms += ms;
    }
  }

  /** A copy of the totals so far. */
  snapshot(): CommandTotals {
    return new Map([...this.totals].map(([name, t]) => [name, { ...t }]));
  }

  /** The round trips since `before`, a snapshot. */
  since(before: CommandTotals): CommandTotals {
    const out = new Map<string, CommandTotal>();
    for (const [name, t] of this.totals) {
      const b = before.get(name) ?? { count: 0, ms: 0 };
      if (t.count > b.count) out.set(name, { count: t.count - b.count, ms: t.ms - b.ms });
    }
    return out;
  }
}

/** Adds `b` into `a`. */
export function addTotals(a: Map<string, CommandTotal>, b: CommandTotals): void {
  for (const [name, t] of b) {
    const sum = a.get(name);
    if (sum === undefined) a.set(name, { ...t });
    else {
      sum.count += t.count;
      sum.ms += t.ms;
    }
  }
}
