// RSS of our store before and after many mixed operations, after a warm-up.
import v8 from 'node:v8';
import vm from 'node:vm';
import { ours } from '../contestants';
import { DAY, progress, sess } from '../fixtures';
import { timeOps } from '../measure';
import type { Phase } from './phase';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

export const memory: Phase = {
  async run(ctx) {
    const { memOps, warmOps, memoryConcurrency: level, memoryIds: ids } = ctx.settings;
    const c = await ctx.open(ours(ctx.arena, 'ours', 'ours_mem'));
    const touch = c.touch;
    if (touch === undefined) {
      ctx.memoryLine = `Memory: not run (${c.name} has no touch)`;
      return;
    }
    const mixed = (i: number) => {
      const id = `mem-${i % ids}`;
      const k = i % 20;
      if (k < 10) return c.get(id);
      if (k < 15) return c.set(id, sess(i));
      if (k < 19) return touch(id, sess(i, DAY + 1_000));
      return c.destroy(id);
    };
    progress(`memory: ${warmOps} warm-up and ${memOps} measured mixed operations`);
    await timeOps(warmOps, level, mixed);
    gc();
    const before = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
    // Ten slices, with RSS after each, so growth shows as a curve rather than two points.
    const slice = Math.ceil(memOps / 10);
    const curve: string[] = [];
    let done = 0;
    let ns = 0;
    while (done < memOps) {
      const n = Math.min(slice, memOps - done);
      const s = await timeOps(n, level, (i) => mixed(done + i));
      ns += s.wallNs;
      done += n;
      gc();
      curve.push(mb(process.memoryUsage().rss));
      progress(`memory: ${done} operations, RSS ${curve.at(-1)} MB`);
    }
    const after = process.memoryUsage().rss;
    // RSS is the target; the JS heap, after a full GC, is where a leak in the store would show first.
    const heap = `JS heap ${mb(heapBefore)} MB before and ${mb(process.memoryUsage().heapUsed)} MB after`;
    ctx.memoryLine = `RSS ${mb(before)} MB before and ${mb(after)} MB after ${memOps.toLocaleString('en')} mixed operations over ${ids.toLocaleString('en')} session ids at concurrency ${level} (${((100 * (after - before)) / before).toFixed(1)} %; after each tenth: ${curve.join(', ')} MB), at ${(memOps / (ns / 1e9)).toFixed(0)} ops/s; ${heap}`;
  },
};
