// CPU time outside this process, from /proc (Linux; elsewhere these say nothing): the
// server's, when we started it, and the whole machine's, which other users share.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second, the unit of /proc's CPU times. */
const TICK_US = (() => {
  try {
    return 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  } catch {
    return 1e6 / 100;
  }
})();

/** A process's user + system CPU in µs, or undefined once it is gone. */
function processCpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and brackets: fields count from its closing bracket.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return undefined;
  }
}

/** The server process, when this process started it (FerretDB or mongod), to read its CPU. */
export interface ServerProcess {
  pid: number;
  name: string;
  /** Its CPU time so far (user + system, µs). */
  cpuUs(): number | undefined;
}

/** The servers tools/test-server.ts starts, by process name (Linux cuts it to 15 characters). */
const SERVER_NAME = /^(ferretdb|mongod)/;

/** Finds the server the test helper started as our child, if it did. */
export function findServerProcess(): ServerProcess | undefined {
  let dirs: string[];
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const d of dirs) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid || !SERVER_NAME.test(name)) continue;
    const pid = Number(d);
    return { pid, name, cpuUs: () => processCpuUs(pid) };
  }
  return undefined;
}

/** The whole machine's busy and total CPU time so far (µs, all cores), or undefined. */
export function machineCpu(): { busyUs: number; totalUs: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((sum, t) => sum + t, 0);
    // idle and iowait are the time nobody ran.
    return { busyUs: (total - ticks[3] - ticks[4]) * TICK_US, totalUs: total * TICK_US };
  } catch {
    return undefined;
  }
}
