// Issue 7, defect 3: a runner frozen with SIGSTOP for longer than its lease, with tasks in
// its local queue, must not start any of them after SIGCONT: their leases expired while it
// was frozen and another runner has rescued and run them.
//
// The condition is made, not hoped for: runner A (concurrency 2, 10 claimed) is frozen; once
// no statement of it is executing, the rows it holds (task, attempt) are read and classified by
// its execution log; if none is queued (claimed, never started) it is woken and frozen again
// later. Then runner B starts, the test waits until B has rescued every task A held, and only
// then wakes A. Any start by A after the wake of a (task, attempt) it held at the freeze is a
// start without a valid lease; tasks that only waited in A's queue must run exactly once.
// The shared servers are used: nothing here stops or kills a database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseProblem, type TestDb } from '../helpers/db';
import { executionsByTask, readExecutions, startRunnerProcess, type RunnerProcess } from '../helpers/runner-process';
import { classifyHeld, enqueue, freezeWhen, heldBy, openControl, taskRows, until, type Control } from './harness';

const backends: TestDb[] = ['postgres', 'mariadb'];
const problems = Object.fromEntries(await Promise.all(backends.map(async (db) => [db, await databaseProblem(db)] as const)));

describe.each(backends)('a runner frozen with SIGSTOP past its lease on %s', (db) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it.skipIf(problems[db])('after SIGCONT it starts none of the queued tasks whose lease expired; no task runs twice but those started before the freeze', async () => {
    const database = await createTestDatabase(db);
    cleanups.push(() => database.drop());
    const control: Control = await openControl(database.options);
    cleanups.push(() => control.close());
    const logDir = mkdtempSync(join(tmpdir(), 'upkeep-fault-'));
    cleanups.push(async () => rmSync(logDir, { recursive: true, force: true }));
    const N = 40;
    await enqueue(control, Array.from({ length: N }, (_, i) => ({ label: `t${i}`, workMs: 250 })));
    const lease = { leaseMs: 3000, heartbeatIntervalMs: 500, rescueIntervalMs: 200 };
    const a: RunnerProcess = await startRunnerProcess({ name: 'a', dataSource: database.options, logDir, runner: { concurrency: 2, claimBatchSize: 10, ...lease } });
    cleanups.push(() => a.kill());

    // Freeze A while it runs tasks and holds tasks it has not started (its local queue).
    const at = await freezeWhen(control, a, [], (held, running) => running.length > 0 && classifyHeld(held, a.executions()).queued.length > 0, 30_000);
    const { frozenAt } = at;
    const { held } = at;
    const { queued, running, finished } = classifyHeld(held, a.executions());
    const started = [...running, ...finished]; // may run again elsewhere: their outcome was not written
    const heldPairs = new Set(held.map((h) => `${h.id}/${h.attempts}`));

    // B rescues A's tasks once their leases expire; A is woken only after all were rescued.
    const b = await startRunnerProcess({ name: 'b', dataSource: database.options, logDir, runner: { concurrency: 4, ...lease } });
    cleanups.push(() => b.kill());
    await until('every task A held rescued by B', async () => (await heldBy(control, a.runnerId)).length === 0, 30_000, 50);
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
    const twice = [...executionsByTask(executions)].filter(([id, t]) => t.starts.length > 1 && !started.includes(id)).map(([id]) => id);
    const rows = await taskRows(control);
    // eslint-disable-next-line no-console
    console.log(
      `[${db}] A frozen ${frozenMs} ms (lease 3000 ms) holding ${held.length} tasks (${running.length} running, ${finished.length} finished unwritten, ${queued.length} queued); ` +
        `after SIGCONT A started ${lateStarts.length} of them without a valid lease; ${twice.length} tasks not running at the freeze ran twice`,
    );
    for (const id of new Set([...lateStarts.map((e) => e.taskId), ...twice])) {
      const trace = executions.filter((e) => e.taskId === id).map((e) => `${e.kind}:${e.pid === a.pid ? 'a' : 'b'}@${e.attempt}+${e.at - thawedAt}`).join(' ');
      const row = rows.find((r) => r.id === id);
      // eslint-disable-next-line no-console
      console.log(`  [${db}] ${id}: ${trace} (ms after the wake; frozen ${frozenAt - thawedAt}); held at the freeze: attempt ${held.find((h) => h.id === id)?.attempts ?? '-'}; row ${row?.status} attempts=${row?.attempts}`);
    }
    expect(frozenMs).toBeGreaterThanOrEqual(3000 - 500); // the lease less a heartbeat, and B rescued them all: their leases expired
    expect(queued.length).toBeGreaterThan(0);
    expect(lateStarts.map((e) => e.taskId), 'started by the woken runner without a valid lease').toEqual([]);
    expect(twice, 'tasks that ran twice though they only waited in the frozen runner\'s queue').toEqual([]);
    expect(rows.filter((r) => r.status !== 'COMPLETED')).toEqual([]);
  });
});
