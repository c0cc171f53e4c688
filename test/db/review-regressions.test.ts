import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IsInt, IsString } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, Upkeep, type MaintenanceTask, type TaskContext } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB, waitFor, dbDate } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';

const problem = await databaseProblem();
const q = (n: number) => (TEST_DB === 'postgres' ? `$${n}` : '?');
const runs = new Map<string, number>();

/** Returns text PostgreSQL's jsonb refuses. */
@Processor('rr-nul')
class NulResultProcessor extends MaintenanceTaskProcessor {
  process() {
    return { text: 'a\u0000b' };
  }
}

/** Opens a transaction on the host's DataSource, waits, then rolls it back. */
@Processor('rr-host-tx')
class HostTransactionProcessor extends MaintenanceTaskProcessor {
  @IsInt()
  holdMs = 300;

  async process(_task: MaintenanceTask, ctx: TaskContext) {
    await ctx.dataSource
      .transaction(async (m) => {
        await m.query('SELECT 1');
        await new Promise((r) => setTimeout(r, this.holdMs));
        throw new Error('host rollback');
      })
      .catch(() => undefined);
    return { rolledBack: true };
  }
}

/** Fails (retryably) a little while after it starts. */
@Processor('rr-fail-later')
class FailLaterProcessor extends MaintenanceTaskProcessor {
  @IsString()
  label = 'x';

  async process(task: MaintenanceTask) {
    runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, 400));
    throw new Error('transient failure');
  }
}

describe.skipIf(problem)(`review regressions on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;
  const processors = [NulResultProcessor, HostTransactionProcessor, FailLaterProcessor, SumProcessor];

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors, settings: { retry: { initialDelayMs: 50, jitter: 0 } } });
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });

  it('a result with a NUL character ends in ERROR (result_not_serializable) and does not block other results or runDue', async () => {
    const bad = await upkeep.createTask(NulResultProcessor.create({}));
    const good = await upkeep.createTask(SumProcessor.create({ numbers: [1, 2] }));
    const started = Date.now();
    await upkeep.runDue();
    expect(Date.now() - started).toBeLessThan(10_000);
    const b = (await upkeep.getTask(bad.id))!;
    expect(b.status).toBe('ERROR');
    expect(b.failureReason).toBe('result_not_serializable');
    expect((await upkeep.getTask(good.id))!.status).toBe('COMPLETED');
  });

  it("a host transaction rolled back on the shared connection does not undo upkeep's writes for other tasks", async () => {
    const holder = await upkeep.createTask(HostTransactionProcessor.create({ holdMs: 300 }));
    const quick = await upkeep.createTasks([1, 2, 3].map((n) => ({ processor: SumProcessor.create({ numbers: [n] }) })));
    await upkeep.runDue({ concurrency: 4 });
    expect((await upkeep.getTask(holder.id))!.status).toBe('COMPLETED');
    for (const t of quick) {
      expect((await upkeep.getTask(t.id))!.status).toBe('COMPLETED');
      const events: Array<{ event_type: string }> = await dataSource.query(`SELECT event_type FROM task_events WHERE task_id = ${q(1)} ORDER BY id`, [t.id]);
      expect(events.map((e) => e.event_type)).toEqual(['created', 'started', 'completed']);
    }
  });

  it('a cancel requested from another instance is not lost when the attempt then fails and would retry', async () => {
    const task = await upkeep.createTask(FailLaterProcessor.create({}), { maxAttempts: 5 });
    // A long lease: the heartbeat does not come around before the attempt fails.
    const runner = upkeep.createRunner({ pollIntervalMs: 20, leaseMs: 60_000 });
    await runner.start();
    await waitFor(async () => (await upkeep.getTask(task.id))?.status === 'WORKING');
    const admin = new Upkeep({ dataSource, processors }); // no runner here: only the database carries the request
    await admin.cancelTask(task.id);
    const t = await waitFor(async () => {
      const current = await upkeep.getTask(task.id);
      return current && current.status !== 'WORKING' ? current : null;
    }, 5000);
    await new Promise((r) => setTimeout(r, 300));
    await runner.stop();
    await admin.close();
    expect(t.status).toBe('CANCELLED');
    expect(runs.get(task.id)).toBe(1);
    expect((await upkeep.getTask(task.id))!.status).toBe('CANCELLED');
  });

  it('a cancel pending when the runner hands the task back at shutdown ends it CANCELLED, with its event', async () => {
    const task = await upkeep.createTask(HostTransactionProcessor.create({ holdMs: 0 }), { startAt: new Date(Date.now() + 60_000) });
    // Simulate: claimed by this runner, then an admin elsewhere asked to cancel it.
    const runner = upkeep.createRunner({ pollIntervalMs: 60_000, leaseMs: 60_000 });
    await runner.start();
    const past = new Date(Date.now() - 1000);
    const pastParam = dbDate(past);
    await dataSource.query(`UPDATE maintenance_tasks SET start_at = ${q(1)} WHERE id = ${q(2)}`, [pastParam, task.id]);
    const cancelled = upkeep.events.next('task:cancelled', (e) => e.task.id === task.id);
    const released: string[] = [];
    upkeep.events.on('task:released', (e) => released.push(e.task.id));
    // The task is held by this runner (as if claimed) and an admin elsewhere asked to cancel it;
    // then the runner hands it back (what stop() does with claimed tasks).
    await dataSource.query(
      `UPDATE maintenance_tasks SET status = 'WORKING', locked_by = ${q(1)}, attempts = 1, control = 'cancel' WHERE id = ${q(2)}`,
      [runner.id, task.id],
    );
    await (runner as unknown as { handBack(tasks: MaintenanceTask[], reason: string): Promise<number> }).handBack([task], 'shutdown');
    await cancelled;
    await runner.stop();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('CANCELLED');
    expect(t.failureReason).toBe('cancelled');
    expect(released).not.toContain(task.id);
  });

  it('stop() during start() leaves no running runner behind', async () => {
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    const starting = runner.start();
    await runner.stop();
    await starting;
    expect(runner.isRunning).toBe(false);
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [1] }));
    await new Promise((r) => setTimeout(r, 300));
    expect((await upkeep.getTask(task.id))!.status).toBe('PENDING');
    await upkeep.runDue();
  });

  it('runDue on a database that fails during start leaves no runner registered', async () => {
    const { dataSource: gone, close: dropIt } = await openTestDataSource();
    const broken = new Upkeep({ dataSource: gone, processors });
    await gone.destroy();
    await expect(broken.runDue()).rejects.toBeTruthy();
    expect(broken.internals.localRunners.size).toBe(0);
    expect(broken.internals.wakeListeners.size).toBe(0);
    await dropIt();
  });
});
