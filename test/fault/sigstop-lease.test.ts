// Issue 7, defect 3: a runner frozen with SIGSTOP for longer than its lease, with tasks in
// its local queue, must not start any of them after SIGCONT: their leases expired while it
// was frozen and another runner has rescued and run them.
//
// The condition is made, not hoped for: runner A (concurrency 2, 10 claimed) is frozen once
// the database shows it holding more tasks than it runs; the test waits until no statement of
// it is still executing, notes what it holds (task, attempt), starts runner B, waits until B
// has rescued every one of those tasks, and only then wakes A. Any start by A after the wake of
// a (task, attempt) it held at the freeze is a start without a valid lease.
// The shared servers are used: nothing here stops or kills a database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseProblem, type TestDb } from '../helpers/db';
import { executionsByTask, readExecutions, startRunnerProcess, unfinishedStarts, type RunnerProcess } from '../helpers/runner-process';
import { enqueue, openControl, quiesced, taskRows, until, type Control } from './harness';

const backends: TestDb[] = ['postgres', 'mariadb'];
const problems = Object.fromEntries(await Promise.all(backends.map(async (db) => [db, await databaseProblem(db)] as const)));

describe.each(backends)('a runner frozen with SIGSTOP past its lease on %s', (db) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it.skipIf(problems[db])('after SIGCONT it starts none of the queued tasks whose lease expired; no task runs twice but those running at the freeze', async () => {
    const database = await createTestDatabase(db);
    cleanups.push(() => database.drop());
    const control: Control = await openControl(database.options);
    cleanups.push(() => control.close());
    const logDir = mkdtempSync(join(tmpdir(), 'upkeep-fault-'));
    cleanups.push(async () => rmSync(logDir, { recursive: true, force: true }));
    const N = 40;
    await enqueue(control, Array.from({ length: N }, (_, i) => ({ label: `t${i}`, workMs: 250 })));
    const lease = { leaseMs: 1500, heartbeatIntervalMs: 300, rescueIntervalMs: 200 };
    const a: RunnerProcess = await startRunnerProcess({ name: 'a', dataSource: database.options, logDir, runner: { concurrency: 2, claimBatchSize: 10, ...lease } });
    cleanups.push(() => a.kill());
    const p = control.dialect === 'postgres' ? '$1' : '?';
    const heldByA = () =>
      control.query<{ id: string; attempts: number }>(`SELECT id, attempts FROM maintenance_tasks WHERE status = 'WORKING' AND locked_by = ${p}`, [a.runnerId]);

    // Freeze A while it runs tasks and holds more than it runs (some are in its local queue).
    let held: Array<{ id: string; attempts: number }> = [];
    let running: string[] = [];
    await until(
      'A frozen while running tasks and holding queued ones',
      async () => {
        if (!unfinishedStarts(a.executions()).length) return false;
        a.freeze();
        await quiesced(control);
        held = await heldByA();
        running = unfinishedStarts(a.executions()).map((e) => e.taskId);
        if (running.length && held.length > running.length) return true;
        a.thaw();
        return false;
      },
      30_000,
      20,
    );
    const frozenAt = Date.now();
    const queued = held.filter((h) => !running.includes(h.id));
    const heldPairs = new Set(held.map((h) => `${h.id}/${Number(h.attempts)}`));

    // B rescues A's tasks once their leases expire; A is woken only after all were rescued.
    const b = await startRunnerProcess({ name: 'b', dataSource: database.options, logDir, runner: { concurrency: 4, ...lease } });
    cleanups.push(() => b.kill());
    await until('every task A held rescued by B', async () => (await heldByA()).length === 0, 30_000, 50);
    const frozenMs = Date.now() - frozenAt;
    const thawedAt = Date.now();
    a.thaw();
    await until('all tasks COMPLETED', async () => (await control.counts()).COMPLETED === N, 60_000, 100);
    // A few heartbeats of A after the wake, so whatever it would start late has started.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);

    const executions = readExecutions([a.logPath, b.logPath]);
    const lateStarts = executions.filter((e) => e.kind === 'S' && e.pid === a.pid && e.at >= thawedAt && heldPairs.has(`${e.taskId}/${e.attempt}`));
    const twice = [...executionsByTask(executions)].filter(([id, t]) => t.starts.length > 1 && !running.includes(id)).map(([id]) => id);
    const rows = await taskRows(control);
    // eslint-disable-next-line no-console
    console.log(
      `[${db}] A frozen ${frozenMs} ms (lease 1500 ms) holding ${held.length} tasks (${running.length} running, ${queued.length} queued); ` +
        `after SIGCONT A started ${lateStarts.length} of them without a valid lease; ${twice.length} tasks not running at the freeze ran twice`,
    );
    expect(frozenMs).toBeGreaterThan(1500);
    expect(queued.length).toBeGreaterThan(0);
    expect(lateStarts.map((e) => e.taskId), 'started by the woken runner without a valid lease').toEqual([]);
    expect(twice, 'tasks that ran twice though they only waited in the frozen runner\'s queue').toEqual([]);
    expect(rows.filter((r) => r.status !== 'COMPLETED')).toEqual([]);
  });
});
