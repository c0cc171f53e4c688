// A runner checks its lease of a queued task before it starts it; the check must be the last
// thing before process(). Between the two the runner announces the start (`task:started`, whose
// listeners may block: a log line into a full pipe is a synchronous write) and loads the
// processor. A process blocked or stopped there past its lease must not run a task that another
// runner has rescued meanwhile (issue 7's SIGSTOP fault test hit this window under load).
// And a runner that takes up "unknown" claims after a claim failed in flight must not take up a
// task it finished itself while its read of held rows was on its way (the PostgreSQL-restart
// fault test saw one task run twice by the same runner and attempt that way).
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

const attemptsRun = new Map<string, number[]>();
let releaseHold: () => void = () => undefined;

/** Its first attempt of label 'hold' waits for `releaseHold()`; every attempt is recorded. */
@Processor('start-lease-hold')
class HoldFirstProcessor extends MaintenanceTaskProcessor<{ label: string }> {
  @IsString()
  label = 'x';

  async process(task: MaintenanceTask, ctx: TaskContext) {
    attemptsRun.set(task.id, [...(attemptsRun.get(task.id) ?? []), ctx.attempt]);
    if (ctx.attempt === 1 && this.label === 'hold') await new Promise<void>((resolve) => (releaseHold = resolve));
    return { label: this.label };
  }
}

/** A type no task here has: a runner of it only rescues expired leases. */
@Processor('start-lease-other')
class OtherProcessor extends MaintenanceTaskProcessor {
  process() {
    return {};
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

  it('a read of held rows taken while a completion commits does not make that finished task an unknown claim to run again', async () => {
    const up = new Upkeep({ dataSource, processors: [RecordProcessor] });
    const task = await up.createTask(RecordProcessor.create({ label: 'adopt' }));
    const store = up.internals.runnerStore;
    // The completion of the task waits until the runner's read of its held rows has been taken.
    let completionWaiting = false;
    let letCompletionGo!: () => void;
    const completionGate = new Promise<void>((resolve) => (letCompletionGo = resolve));
    const completeMany = store.completeMany.bind(store);
    store.completeMany = async (...args) => {
      if (args[1].some((row) => row.id === task.id)) {
        completionWaiting = true;
        await completionGate;
      }
      return completeMany(...args);
    };
    // The second claim fails in flight (its reply lost, as far as the runner knows), so the
    // runner reads the rows it holds to take up any claim that committed unseen.
    const claim = store.claim.bind(store);
    let claims = 0;
    store.claim = async (...args) => {
      if (++claims === 2) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      return claim(...args);
    };
    const runner = up.createRunner({ runnerId: 'adopting-runner', concurrency: 1, pollIntervalMs: 20, leaseMs: 60_000, listen: false });
    // That read sees the task WORKING; its reply is handled after the completion committed.
    const findHeldBy = store.findHeldBy.bind(store);
    let reads = 0;
    store.findHeldBy = async (...args) => {
      reads += 1;
      await waitFor(() => completionWaiting);
      const rows = await findHeldBy(...args);
      letCompletionGo();
      await waitFor(async () => (await up.getTask(task.id))?.status === 'COMPLETED' && !runner.leaseClock.has(task.id));
      return rows;
    };
    await runner.start();
    await waitFor(() => reads > 0 && claims > 2, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(executions.get(task.id)).toEqual(['adopting-runner']);
    expect((await up.getTask(task.id))).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    await runner.stop();
    await up.close();
  });

  it('a queued task rescued and claimed again by the same runner runs once, as the new claim, not the stale one', async () => {
    const side = new Upkeep({ dataSource, processors: [HoldFirstProcessor] });
    const rescuer = new Upkeep({ dataSource, processors: [OtherProcessor] });
    const running = await side.createTask(HoldFirstProcessor.create({ label: 'hold' }), { priority: 10 });
    const queued = await side.createTask(HoldFirstProcessor.create({ label: 'queued' }));
    // The heartbeat renews the running task only: the queued one's lease lapses (as when a
    // frozen process wakes, or its renewals failed), so another runner rescues it.
    const store = side.internals.runnerStore;
    const heartbeat = store.heartbeat.bind(store);
    store.heartbeat = (runnerId, ids, ...rest) => heartbeat(runnerId, ids.filter((id) => id !== queued.id), ...rest);
    const runner = side.createRunner({ runnerId: 'reclaiming-runner', concurrency: 1, claimBatchSize: 4, leaseMs: 400, heartbeatIntervalMs: 100, rescueIntervalMs: 600_000, pollIntervalMs: 20, listen: false });
    await runner.start();
    await waitFor(() => attemptsRun.get(running.id)?.length === 1 && runner.queuedCount === 1);
    const other = rescuer.createRunner({ runnerId: 'rescuing-runner', concurrency: 1, rescueIntervalMs: 50, pollIntervalMs: 20, listen: false });
    await other.start();
    // This runner claims it again while its old claim (attempt 1) still waits in the queue.
    await waitFor(async () => (await side.getTask(queued.id))?.attempts === 2, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    releaseHold();
    await waitFor(async () => (await side.getTask(queued.id))?.status === 'COMPLETED', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    // Before the fix the new claim could not join the queue and was handed back (and claimed
    // again, over and over), and the stale claim could start on the new claim's lease.
    expect(attemptsRun.get(queued.id)).toEqual([2]);
    expect(await side.getTask(queued.id)).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    await other.stop();
    await runner.stop();
    await side.close();
    await rescuer.close();
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
