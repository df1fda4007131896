import { log } from '../../lib/log';

/**
 * Turns the store's `debug` log on for the rest of the test and collects its lines; call
 * `stop()` (in a `finally`) to put the logger back as it was.
 */
export function captureDebug(): { lines: string[]; stop(): void } {
  const lines: string[] = [];
  const { enabled, log: print } = log;
  log.enabled = true;
  log.log = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  return {
    lines,
    stop() {
      log.enabled = enabled;
      log.log = print;
    },
  };
}
