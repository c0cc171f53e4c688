// Issue 8: the runner sizes its claims and completion writes by the load. A backlog of fast
// tasks is claimed in batches far above the shallow idle depth (and never beyond what the
// runner may hold); slow tasks keep the shallow depth; a lone task's result is stored at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Upkeep } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB, waitFor } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';
import { WaitProcessor } from '../helpers/long-processors';

const problem = await databaseProblem();

describe.skipIf(problem)(`adaptive claim and completion batching on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
  });
  afterAll(async () => {
    await close?.();
  });

  /** Samples the runner's local queue and the WORKING rows until nothing is PENDING or WORKING. */
  async function drain(up: Upkeep, runner: ReturnType<Upkeep['createRunner']>, timeoutMs: number) {
    let mostQueued = 0;
    let mostWorking = 0;
    let mostUnfinished = 0;
    const watch = setInterval(() => {
      const stats = runner.stats();
      mostQueued = Math.max(mostQueued, stats.buffered);
      mostUnfinished = Math.max(mostUnfinished, stats.buffered + stats.inFlight);
    }, 2);
    await runner.start();
    await waitFor(async () => {
      const counts = await up.countByStatus();
      mostWorking = Math.max(mostWorking, counts.WORKING);
      return counts.PENDING === 0 && counts.WORKING === 0;
    }, timeoutMs);
    clearInterval(watch);
    await runner.stop();
    return { mostQueued, mostWorking, mostUnfinished };
  }

  it('a backlog of fast tasks is claimed deep (beyond max(2 x concurrency, 10)), never more running and queued than concurrency + maxQueueSize', async () => {
    const up = new Upkeep({ dataSource, processors: [SumProcessor], settings: { maxQueueSize: 60 } });
    await up.createTasks(Array.from({ length: 600 }, (_, i) => ({ processor: SumProcessor.create({ numbers: [i] }) })));
    const runner = up.createRunner({ concurrency: 2, pollIntervalMs: 50 });
    const { mostQueued, mostUnfinished } = await drain(up, runner, 60_000);
    const counts = await up.countByStatus();
    await up.close();
    expect(counts.COMPLETED).toBe(600);
    // The fixed depth before issue 8 was max(2 x 2, 10) = 10 claimed in all.
    expect(mostQueued).toBeGreaterThan(10);
    expect(mostQueued).toBeLessThanOrEqual(60);
    expect(mostUnfinished).toBeLessThanOrEqual(2 + 60);
  });

  it('slow tasks keep the shallow depth: one runner does not hoard what others could run', async () => {
    const up = new Upkeep({ dataSource, processors: [WaitProcessor], settings: { maxQueueSize: 60 } });
    await up.createTasks(Array.from({ length: 30 }, () => ({ processor: WaitProcessor.create({ ms: 40 }) })));
    const runner = up.createRunner({ concurrency: 2, pollIntervalMs: 50 });
    const { mostWorking } = await drain(up, runner, 60_000);
    await up.close();
    // 2 x 40 ms tasks run 50 a second: 250 ms of work ahead is about 12, plus the two running.
    // The floor is max(2 x 2, 10) = 10 claimed; far below the 62 the bounds would allow.
    expect(mostWorking).toBeLessThanOrEqual(16);
  });

  it('an idle runner stores a lone result at once, without waiting for a batch to fill', async () => {
    const up = new Upkeep({ dataSource, processors: [SumProcessor] });
    const runner = up.createRunner({ concurrency: 10, pollIntervalMs: 20 });
    await runner.start();
    let ranAt = 0;
    up.events.on('task:started', () => (ranAt = performance.now()));
    const task = await up.createTask(SumProcessor.create({ numbers: [1, 2] }));
    await waitFor(async () => (await up.getTask(task.id))?.status === 'COMPLETED', 10_000, 2);
    const storedAfterMs = performance.now() - ranAt;
    await runner.stop();
    await up.close();
    // Stored within a few round trips of the start (the coalescing wait under load is 10 ms;
    // an idle runner does not take it). Generous for a loaded machine.
    expect(storedAfterMs).toBeLessThan(500);
  });
});
