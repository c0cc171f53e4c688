// A task's timeout counts from its start, including the synchronous part of an async
// processor: a processor that computes synchronously past its timeout and then awaits is
// timed out at its first await, not a whole timeout later (the timer starts with the attempt).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IsInt, Min } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, Upkeep } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB, waitFor } from '../helpers/db';

@Processor('test-sync-then-wait')
class SyncThenWaitProcessor extends MaintenanceTaskProcessor<string> {
  @IsInt() @Min(0)
  busyMs = 0;

  @IsInt() @Min(0)
  waitMs = 0;

  async process(): Promise<string> {
    const until = Date.now() + this.busyMs;
    while (Date.now() < until) {
      // synchronous work, past the timeout
    }
    await new Promise((resolve) => setTimeout(resolve, this.waitMs));
    return 'done';
  }
}

const problem = await databaseProblem();

describe.skipIf(problem)(`the timeout includes an async processor's synchronous part on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
  });
  afterAll(async () => {
    await close?.();
  });

  it('300 ms of synchronous work with a 200 ms timeout ends in timeout right after, not 200 ms later', async () => {
    const up = new Upkeep({ dataSource, processors: [SyncThenWaitProcessor] });
    const task = await up.createTask(SyncThenWaitProcessor.create({ busyMs: 300, waitMs: 5000 }), { timeoutMs: 200, maxAttempts: 1 });
    let startedAt = 0;
    let failedAt = 0;
    up.events.on('task:started', () => (startedAt = performance.now()));
    up.events.on('task:failed', () => (failedAt = performance.now()));
    const runner = up.createRunner({ concurrency: 1, pollIntervalMs: 20 });
    await runner.start();
    await waitFor(async () => (await up.getTask(task.id))?.status === 'ERROR', 20_000);
    await runner.stop();
    await up.close();
    expect((await up.getTask(task.id))?.failureReason).toBe('timeout');
    // Before: about 300 + 200 ms. A loaded machine gets some slack, not another timeout's worth.
    expect(failedAt - startedAt).toBeLessThan(480);
  });
});
