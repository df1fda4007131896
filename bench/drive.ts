// One HTTP load run: the app listens here, autocannon loads it from a second process (so it
// does not share this process's CPU time), and `watch` measures exactly the loaded window.
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Express } from 'express';

/** What autocannon reports of a run, and what the load generator itself cost. */
export interface Load {
  reqPerSec: number;
  requests: number;
  /** Latencies in milliseconds. */
  p50: number;
  p99: number;
  errors: number;
  /** The load generator's CPU (µs) while it ran. */
  loadCpuUs: number;
}

/**
 * Loads `app` with `connections` for `seconds`; each connection keeps its session cookie.
 * `watch` is called as the load starts, and the function it returns as it ends.
 */
export async function drive<T>(
  app: Express,
  connections: number,
  seconds: number,
  watch: () => () => T,
): Promise<{ load: Load; watched: T }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((ok) => server.once('listening', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const tsx = join(__dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
  try {
    const child = spawn(
      process.execPath,
      [tsx, join(__dirname, 'load.ts'), url, String(connections), String(seconds)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((ok, fail) => {
      child.once('error', fail);
      child.once('exit', ok);
    });
    let stop: (() => T) | undefined;
    let result: { load: Load; watched: T } | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      if (line === 'start') stop = watch();
      else if (line.startsWith('{') && stop !== undefined)
        result = { watched: stop(), load: JSON.parse(line) as Load };
    }
    const code = await exited;
    if (result === undefined) throw new Error(`the load generator exited with ${code}, no result`);
    return result;
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
}
