import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IllegalTransitionError, Upkeep } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB, waitFor, dbDate } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';
import { attemptTimes, FlakyProcessor, processedItems, WaitProcessor, WalkProcessor } from '../helpers/long-processors';

const problem = await databaseProblem();
const p = (n: number) => (TEST_DB === 'postgres' ? `$${n}` : '?');

describe.skipIf(problem)(`runner behaviour on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;
  const processors = [SumProcessor, FlakyProcessor, WaitProcessor, WalkProcessor];

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors, settings: { retry: { initialDelayMs: 150, backoffMultiplier: 2, jitter: 0 } } });
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });

  it('retries with exponential backoff and keeps every attempt in runner_info', async () => {
    const task = await upkeep.createTask(FlakyProcessor.create({ succeedOnAttempt: 3 }));
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    const done = (await waitFor(async () => {
      const t = await upkeep.getTask(task.id);
      return t?.status === 'COMPLETED' ? t : null;
    }))!;
    await runner.stop();
    const times = attemptTimes.get(task.id)!;
    expect(times).toHaveLength(3);
    // 150 ms, then 300 ms (multiplier 2, no jitter), plus polling slack.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(140);
    expect(times[1]! - times[0]!).toBeLessThan(1000);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(290);
    expect(done.attempts).toBe(3);
    expect(done.runnerInfo!.attempts).toHaveLength(2);
    expect(done.runnerInfo!.attempts![0]!.message).toBe('attempt 1 fails');
    expect(done.info).toEqual({ attempt: 3 });
  });

  it('gives up after maxAttempts with the last error', async () => {
    const task = await upkeep.createTask(FlakyProcessor.create({ succeedOnAttempt: 99 }), { maxAttempts: 2 });
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    const t = await waitFor(async () => ((await upkeep.getTask(task.id))?.status === 'ERROR' ? upkeep.getTask(task.id) : null));
    await runner.stop();
    expect(t!.attempts).toBe(2);
    expect(t!.failureReason).toBe('processor_error');
    expect(t!.runnerInfo!.attempts).toHaveLength(2);
    expect(t!.info).toMatchObject({ errorName: 'Error', attempt: 2 });
  });

  it('cancels a running task: its signal aborts and it ends CANCELLED', async () => {
    const task = await upkeep.createTask(WaitProcessor.create({ ms: 60_000 }));
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    await waitFor(async () => (await upkeep.getTask(task.id))?.status === 'WORKING');
    const cancelled = upkeep.events.next('task:cancelled', (e) => e.task.id === task.id);
    await upkeep.cancelTask(task.id);
    await cancelled;
    await runner.stop();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('CANCELLED');
    expect(t.failureReason).toBe('cancelled');
    expect(t.lockedBy).toBeNull();
    await expect(upkeep.pauseTask(task.id)).rejects.toBeInstanceOf(IllegalTransitionError);
  });

  it('cancels a running task held by a runner of another Upkeep instance (through the heartbeat)', async () => {
    const other = new Upkeep({ dataSource, processors });
    const task = await upkeep.createTask(WaitProcessor.create({ ms: 60_000 }));
    const runner = other.createRunner({ pollIntervalMs: 20, leaseMs: 600, heartbeatIntervalMs: 100 });
    await runner.start();
    await waitFor(async () => (await upkeep.getTask(task.id))?.status === 'WORKING');
    await upkeep.cancelTask(task.id); // not local to `other`: only the database carries the request
    await waitFor(async () => (await upkeep.getTask(task.id))?.status === 'CANCELLED', 5000);
    await runner.stop();
    await other.close();
  });

  it('cancels a PENDING task at once; pausing and resuming a PENDING task works', async () => {
    const a = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 60_000) });
    expect((await upkeep.cancelTask(a.id)).status).toBe('CANCELLED');
    const b = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 60_000) });
    expect((await upkeep.pauseTask(b.id)).status).toBe('PAUSED');
    expect((await upkeep.resumeTask(b.id)).status).toBe('PENDING');
    await upkeep.runDue();
    expect((await upkeep.getTask(b.id))!.status).toBe('COMPLETED');
    await expect(upkeep.cancelTask(b.id)).rejects.toBeInstanceOf(IllegalTransitionError);
  });

  it('pause stops a running iteration at its next item; resume continues from the stored cursor', async () => {
    const task = await upkeep.createTask(WalkProcessor.create({ count: 60, stepMs: 15 }));
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    await waitFor(() => (processedItems.get(task.id)?.length ?? 0) >= 10);
    const paused = upkeep.events.next('task:paused', (e) => e.task.id === task.id);
    await upkeep.pauseTask(task.id);
    await paused;
    const p1 = (await upkeep.getTask(task.id))!;
    expect(p1.status).toBe('PAUSED');
    const seenBefore = processedItems.get(task.id)!.length;
    expect(p1.cursor).toBe(String(seenBefore - 1));
    expect(p1.attempts).toBe(0); // a pause does not use up an attempt
    await upkeep.resumeTask(task.id);
    const done = await waitFor(async () => ((await upkeep.getTask(task.id))?.status === 'COMPLETED' ? upkeep.getTask(task.id) : null));
    await runner.stop();
    const items = processedItems.get(task.id)!;
    expect(items).toEqual(Array.from({ length: 60 }, (_, i) => i)); // each item exactly once, in order
    expect(done!.info).toMatchObject({ processedTotal: 60, resumed: true });
  });

  it("a COMPLETED iteration's stored cursor is its last item's, not an earlier one's (issue 11)", async () => {
    // 30 items 1 ms apart: cursor saves are throttled (about once a second), so only the
    // completion can store the last one.
    const task = await upkeep.createTask(WalkProcessor.create({ count: 30, stepMs: 1 }));
    let published: string | null | undefined;
    upkeep.events.on('task:completed', (e) => { if (e.task.id === task.id) published = e.task.cursor; });
    await upkeep.runDue();
    expect(published).toBe('29'); // the event's task as stored
    const done = (await upkeep.getTask(task.id))!;
    expect(done.status).toBe('COMPLETED');
    expect(done.cursor).toBe('29');
  });

  it('a cancel requested by another host and honoured at a graceful stop records why: CANCELLED with the cancel in info and last_error', async () => {
    // Another host asks to cancel a running task and this runner stops before a heartbeat
    // could see the request: the hand-back honours it, and says so like any cancel.
    const task = await upkeep.createTask(WaitProcessor.create({ ms: 60_000 }));
    const runner = upkeep.createRunner({ pollIntervalMs: 20, heartbeatIntervalMs: 60_000, leaseMs: 180_000 });
    await runner.start();
    await waitFor(async () => (await upkeep.getTask(task.id))?.startedAt);
    const other = new Upkeep({ dataSource, processors });
    await other.cancelTask(task.id);
    await runner.stop({ graceMs: 0 });
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('CANCELLED');
    expect(t.failureReason).toBe('cancelled');
    expect(t.info).toMatchObject({ errorName: 'TaskCancelledError', errorCode: 'CANCELLED', attempt: 1 });
    expect(t.lastError).toMatch(/cancel/i);
    await other.close();
  });

  it('a failed iteration retries from the stored cursor, not from the start', async () => {
    const task = await upkeep.createTask(WalkProcessor.create({ count: 20, stepMs: 1, failAt: 12 }));
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    await waitFor(async () => (await upkeep.getTask(task.id))?.status === 'COMPLETED');
    await runner.stop();
    expect(processedItems.get(task.id)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('graceful stop hands unfinished work back: PENDING, lease cleared, attempt not counted, cursor kept', async () => {
    const task = await upkeep.createTask(WalkProcessor.create({ count: 1000, stepMs: 10 }));
    const quick = await upkeep.createTask(WaitProcessor.create({ ms: 50 }));
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    await waitFor(() => (processedItems.get(task.id)?.length ?? 0) >= 5);
    await runner.stop({ graceMs: 300 });
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('PENDING');
    expect(t.lockedBy).toBeNull();
    expect(t.leaseExpiresAt).toBeNull();
    expect(t.attempts).toBe(0);
    expect(Number(t.cursor)).toBe(processedItems.get(task.id)!.length - 1);
    expect((await upkeep.getTask(quick.id))!.status).toBe('COMPLETED'); // finished within the grace period
    expect(runner.stats().handedBack).toBe(1);
    await upkeep.cancelTask(task.id);
  });

  it('dependencies: a task runs only after all of its dependencies completed', async () => {
    const order: string[] = [];
    const listener = ({ task }: { task: { id: string } }) => order.push(task.id);
    upkeep.events.on('task:started', listener);
    const a = await upkeep.createTask(WaitProcessor.create({ ms: 100 }));
    const b = await upkeep.createTask(SumProcessor.create({ numbers: [1] }));
    const c = await upkeep.createTask(SumProcessor.create({ numbers: [2] }), { dependsOn: [a, b.id] });
    expect(c.dependsOnCount).toBe(2);
    await upkeep.runDue();
    upkeep.events.off('task:started', listener);
    expect((await upkeep.getTask(c.id))!.status).toBe('COMPLETED');
    expect(order.indexOf(c.id)).toBeGreaterThan(order.indexOf(a.id));
    const finishedA = (await upkeep.getTask(a.id))!.finishedAt!;
    expect((await upkeep.getTask(c.id))!.startedAt!.getTime()).toBeGreaterThanOrEqual(finishedA.getTime());
  });

  it('dependencies: when one fails, dependents (and theirs) are CANCELLED with dependency_failed', async () => {
    const a = await upkeep.createTask(FlakyProcessor.create({ succeedOnAttempt: 99 }), { maxAttempts: 1 });
    const b = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { dependsOn: [a] });
    const c = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { dependsOn: [b] });
    await upkeep.runDue();
    expect((await upkeep.getTask(a.id))!.status).toBe('ERROR');
    for (const id of [b.id, c.id]) {
      const t = (await upkeep.getTask(id))!;
      expect(t.status).toBe('CANCELLED');
      expect(t.failureReason).toBe('dependency_failed');
    }
    // Depending on a task that already failed: cancelled at creation.
    const d = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { dependsOn: [a] });
    expect(d.status).toBe('CANCELLED');
    expect(d.failureReason).toBe('dependency_failed');
  });

  it('unique keys de-duplicate enqueues (single and bulk)', async () => {
    const first = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { uniqueKey: 'nightly-2026-11-28' });
    const again = await upkeep.createTask(SumProcessor.create({ numbers: [2] }), { uniqueKey: 'nightly-2026-11-28' });
    expect(again.id).toBe(first.id);
    const bulk = await upkeep.createTasks([
      { processor: SumProcessor.create({ numbers: [3] }), uniqueKey: 'k-1' },
      { processor: SumProcessor.create({ numbers: [4] }), uniqueKey: 'k-1' },
      { processor: SumProcessor.create({ numbers: [5] }), uniqueKey: 'nightly-2026-11-28' },
    ]);
    expect(bulk[1]!.id).toBe(bulk[0]!.id);
    expect(bulk[2]!.id).toBe(first.id);
    const rows = await dataSource.query(`SELECT COUNT(*) AS n FROM maintenance_tasks WHERE unique_key IN (${p(1)}, ${p(2)})`, ['k-1', 'nightly-2026-11-28']);
    expect(Number(rows[0].n)).toBe(2);
  });

  it('prunes finished tasks, events and metrics older than the retention, in batches', async () => {
    const old = await upkeep.createTasks(Array.from({ length: 25 }, (_, i) => ({ processor: SumProcessor.create({ numbers: [i] }) })));
    await upkeep.runDue();
    const keep = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 60_000) });
    const past = new Date(Date.now() - 3 * 86_400_000);
    const pastParam = dbDate(past);
    await dataSource.query(`UPDATE maintenance_tasks SET finished_at = ${p(1)} WHERE status = 'COMPLETED'`, [pastParam]);
    const before = await upkeep.countByStatus();
    const result = await upkeep.prune({ completedAfterMs: 86_400_000, batchSize: 7 });
    expect(result.tasks).toBe(before.COMPLETED);
    expect((await upkeep.countByStatus()).COMPLETED).toBe(0);
    expect(await upkeep.getTask(old[0]!.id)).toBeNull();
    expect(await upkeep.getTask(keep.id)).not.toBeNull();
    const events = await dataSource.query(`SELECT COUNT(*) AS n FROM task_events WHERE task_id = ${p(1)}`, [old[0]!.id]);
    expect(Number(events[0].n)).toBe(0); // cascaded
  });

  it('cron: three runners enqueue exactly one task per occurrence', async () => {
    const make = () =>
      new Upkeep({
        dataSource,
        processors,
        schedules: [{ name: 'every-second', cron: '* * * * * *', processor: () => SumProcessor.create({ numbers: [7] }) }],
      });
    const instances = [make(), make(), make()];
    const runners = instances.map((u) => u.createRunner({ pollIntervalMs: 50 }));
    await Promise.all(runners.map((r) => r.start()));
    await new Promise((r) => setTimeout(r, 3500));
    await Promise.all(runners.map((r) => r.stop()));
    const rows: Array<{ unique_key: string; status: string }> = await dataSource.query(
      `SELECT unique_key, status FROM maintenance_tasks WHERE unique_key LIKE 'cron:every-second:%'`,
    );
    const keys = rows.map((r) => r.unique_key);
    expect(keys.length).toBeGreaterThanOrEqual(3);
    expect(keys.length).toBeLessThanOrEqual(5);
    expect(new Set(keys).size).toBe(keys.length);
    expect(rows.filter((r) => r.status === 'COMPLETED').length).toBeGreaterThanOrEqual(2);
    for (const u of instances) await u.close();
  });

  it('a task whose runner died is rescued after its lease expires and counts the attempt', async () => {
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [5] }));
    // Simulate a runner that claimed the task and died: WORKING, lease already expired.
    const past = new Date(Date.now() - 1000);
    const pastParam = dbDate(past);
    await dataSource.query(
      `UPDATE maintenance_tasks SET status = 'WORKING', locked_by = 'dead-runner', attempts = 1, lease_expires_at = ${p(1)} WHERE id = ${p(2)}`,
      [pastParam, task.id],
    );
    const expired = upkeep.events.next('task:lease-expired', (e) => e.task.id === task.id);
    const runner = upkeep.createRunner({ pollIntervalMs: 20 });
    await runner.start();
    const event = await expired;
    expect(event.previousRunner).toBe('dead-runner');
    expect(event.requeued).toBe(true);
    const t = await waitFor(async () => ((await upkeep.getTask(task.id))?.status === 'COMPLETED' ? upkeep.getTask(task.id) : null));
    await runner.stop();
    expect(t!.attempts).toBe(2);
    expect(t!.runnerInfo!.attempts![0]!.reason).toBe('lease_expired');
  });

  it('a task out of attempts whose lease expired ends in ERROR with lease_expired', async () => {
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [5] }), { maxAttempts: 1 });
    const past = new Date(Date.now() - 1000);
    const pastParam = dbDate(past);
    await dataSource.query(
      `UPDATE maintenance_tasks SET status = 'WORKING', locked_by = 'dead-runner', attempts = 1, lease_expires_at = ${p(1)} WHERE id = ${p(2)}`,
      [pastParam, task.id],
    );
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.failureReason).toBe('lease_expired');
  });

  it('triggerOnDeploy runs due tasks in the background: it returns before they run and never throws into the caller', async () => {
    const tasks = await upkeep.createTasks([1, 2, 3].map((n) => ({ processor: WaitProcessor.create({ ms: 50 + n }) })));
    const started = Date.now();
    const run = upkeep.triggerOnDeploy();
    expect(Date.now() - started).toBeLessThan(20); // did not wait for anything
    expect((await upkeep.getTask(tasks[0]!.id))!.status).not.toBe('COMPLETED');
    const summary = await run;
    expect(summary!.completed).toBeGreaterThanOrEqual(3);
    for (const t of tasks) expect((await upkeep.getTask(t.id))!.status).toBe('COMPLETED');
  });

  it('triggerOnDeploy on a database that is gone reports runner:error and resolves null', async () => {
    const { dataSource: gone, close: dropIt } = await openTestDataSource();
    const broken = new Upkeep({ dataSource: gone, processors });
    await gone.destroy();
    const errors: string[] = [];
    broken.events.on('runner:error', (e) => errors.push(e.during));
    await expect(broken.triggerOnDeploy()).resolves.toBeNull();
    expect(errors).toContain('triggerOnDeploy');
    await dropIt();
  });

  it('`await using` stops a runner at the end of the scope', async () => {
    let handle: { isRunning: boolean } | undefined;
    {
      await using runner = upkeep.createRunner({ pollIntervalMs: 20 });
      await runner.start();
      handle = runner;
      expect(runner.isRunning).toBe(true);
    }
    expect(handle!.isRunning).toBe(false);
  });

  it('a due task of a type no running build knows ends in ERROR with unknown_processor after unknownTypeTimeoutMs', async () => {
    const past = new Date(Date.now() - 5000);
    const pastParam = dbDate(past);
    const orphan = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 60_000) });
    await dataSource.query(`UPDATE maintenance_tasks SET processor_type = 'retired-type', start_at = ${p(1)} WHERE id = ${p(2)}`, [pastParam, orphan.id]);
    // A type some runner is working on right now (a task of it started recently) is left alone.
    const busy = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 60_000) });
    await dataSource.query(`UPDATE maintenance_tasks SET processor_type = 'busy-type', start_at = ${p(1)} WHERE id = ${p(2)}`, [pastParam, busy.id]);
    const other = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 60_000) });
    const nowParam = dbDate(new Date());
    await dataSource.query(`UPDATE maintenance_tasks SET processor_type = 'busy-type', status = 'WORKING', started_at = ${p(1)}, locked_by = 'elsewhere' WHERE id = ${p(2)}`, [nowParam, other.id]);
    const runner = upkeep.createRunner({ pollIntervalMs: 20, unknownTypeTimeoutMs: 1000, rescueIntervalMs: 100, leaseMs: 60_000 });
    await runner.start();
    const failed = await waitFor(async () => ((await upkeep.getTask(orphan.id))?.status === 'ERROR' ? upkeep.getTask(orphan.id) : null), 5000);
    await runner.stop();
    expect(failed!.failureReason).toBe('unknown_processor');
    expect(failed!.info!.error).toMatch(/retired-type/);
    expect((await upkeep.getTask(busy.id))!.status).toBe('PENDING');
    await dataSource.query(`DELETE FROM maintenance_tasks WHERE id IN (${p(1)}, ${p(2)})`, [busy.id, other.id]);
  });

  it('resetStuckTasks is the admin lever for WORKING tasks', async () => {
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [5] }), { startAt: new Date(Date.now() + 60_000) });
    await dataSource.query(`UPDATE maintenance_tasks SET status = 'WORKING', locked_by = 'stuck' WHERE id = ${p(1)}`, [task.id]);
    const reset = await upkeep.resetStuckTasks({ olderThanMs: 0 });
    expect(reset).toContain(task.id);
    expect((await upkeep.getTask(task.id))!.status).toBe('PENDING');
  });
});
