// A runner checks its lease of a queued task before it starts it; the check must be the last
// thing before process(). Between the two the runner announces the start (`task:started`, whose
// listeners may block: a log line into a full pipe is a synchronous write) and loads the
// processor. A process blocked or stopped there past its lease must not run a task that another
// runner has rescued meanwhile (issue 7's SIGSTOP fault test hit this window under load).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IsString } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, Upkeep, type MaintenanceTask, type TaskContext } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB, waitFor } from '../helpers/db';

const problem = await databaseProblem();
const executions = new Map<string, string[]>();

@Processor('start-lease-record')
class RecordProcessor extends MaintenanceTaskProcessor<{ label: string }> {
  @IsString()
  label = 'x';

  process(task: MaintenanceTask, ctx: TaskContext) {
    executions.set(task.id, [...(executions.get(task.id) ?? []), ctx.runnerId]);
    return { label: this.label };
  }
}

/** Blocks the event loop for `ms`, as a stopped process or a blocking write would. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe.skipIf(problem)(`the lease check right before process(), on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
  });
  afterAll(async () => {
    await close?.();
  });

  it('a runner blocked past its lease while announcing a start does not run the task another runner took over', async () => {
    const blockedSide = new Upkeep({ dataSource, processors: [RecordProcessor] });
    const otherSide = new Upkeep({ dataSource, processors: [RecordProcessor] });
    const task = await blockedSide.createTask(RecordProcessor.create({ label: 'blocked' }));
    const blocked = blockedSide.createRunner({ runnerId: 'blocked-runner', concurrency: 1, leaseMs: 400, heartbeatIntervalMs: 100, rescueIntervalMs: 600_000, pollIntervalMs: 20, listen: false });
    const other = otherSide.createRunner({ runnerId: 'other-runner', concurrency: 1, leaseMs: 5000, rescueIntervalMs: 50, pollIntervalMs: 20, listen: false });

    // The start is announced while the lease is valid; the listener then blocks past it.
    let blockedOnce = false;
    blockedSide.events.on('task:started', (e) => {
      if (e.task.id !== task.id || blockedOnce) return;
      blockedOnce = true;
      blockFor(700);
    });
    // When the blocked runner asks the database whether it still holds the task, another runner
    // has rescued it and run it meanwhile (what a second process does while this one is stopped).
    // Its overdue heartbeat waits for that too, as it would in a stopped process (it would renew
    // the lease before the other runner's rescue otherwise).
    const store = blockedSide.internals.runnerStore;
    let otherRan!: () => void;
    const tookOver = new Promise<void>((resolve) => (otherRan = resolve));
    const heartbeat = store.heartbeat.bind(store);
    store.heartbeat = async (...args) => {
      if (blockedOnce) await tookOver;
      return heartbeat(...args);
    };
    const renewLease = store.renewLease.bind(store);
    let askedAfterBlock = 0;
    store.renewLease = async (...args) => {
      if (args[1] === task.id && blockedOnce) {
        askedAfterBlock += 1;
        if (!executions.get(task.id)?.includes('other-runner')) {
          await other.start();
          await waitFor(() => executions.get(task.id)?.includes('other-runner'));
        }
        otherRan();
      }
      return renewLease(...args);
    };

    await blocked.start();
    await waitFor(() => (executions.get(task.id)?.length ?? 0) > 0);
    // Before the fix the blocked runner went on into process() with the lease long gone.
    expect(executions.get(task.id)).toEqual(['other-runner']);
    expect(askedAfterBlock).toBe(1);
    await waitFor(() => blocked.stats().inFlight === 0);
    await waitFor(async () => (await otherSide.getTask(task.id))?.status === 'COMPLETED');
    await new Promise((r) => setTimeout(r, 200));
    expect(executions.get(task.id)).toEqual(['other-runner']);
    expect((await otherSide.getTask(task.id))?.info).toEqual({ label: 'blocked' });
    await blocked.stop();
    await other.stop();
    await blockedSide.close();
    await otherSide.close();
  });
});
