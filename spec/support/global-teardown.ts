import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/** Stops the servers the setup started and prints every skip with its reason. */
export default async function globalTeardown(): Promise<void> {
  for (const server of globalThis.__CMS_SERVERS__ ?? []) await server.stop();
  const file = process.env.CMS_TEST_SKIPS;
  if (file === undefined) return;
  if (existsSync(file)) {
    const lines = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
    process.stdout.write(
      `\nSkipped specs, and why (${lines.length}):\n${lines.map((l) => `  - ${l}`).join('\n')}\n`,
    );
  } else {
    process.stdout.write('\nSkipped specs: none\n');
  }
  rmSync(dirname(file), { recursive: true, force: true });
}
