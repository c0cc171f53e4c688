// Issue 7: the PostgreSQL deadlock between the heartbeat's
// `UPDATE ... WHERE locked_by = $ AND id IN (...)` and the batch completion: both lock the same
// rows (a runner's tracked tasks include those whose results wait to be written), in different
// orders. Made likely on purpose: three runner processes, 0 ms tasks, big claim and completion
// batches, a heartbeat every 10 ms, and a row trigger that makes each row update 0.5 ms slower,
// so heartbeats and completions of one runner overlap all the time. Counted where PostgreSQL reports it (its log: "deadlock detected") and where the
// runner does (runner:error events). One lock order for every multi-row UPDATE makes it 0.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExecutions, startRunnerProcess, type RunnerProcess } from '../helpers/runner-process';
import { startThrowawayPostgres, throwawayPostgresProblem, type ThrowawayPostgres } from '../helpers/throwaway-postgres';
import { enqueue, errorDigest, formatSummary, openControl, sample, summarise, until, type Control, type FaultSummary } from './harness';

const problem = throwawayPostgresProblem();
const N = 2000;
const DB = 'upkeep_fault';

describe.skipIf(problem)('PostgreSQL: heartbeats and batch completions under load', () => {
  let pg: ThrowawayPostgres;
  let control: Control;
  let logDir: string;
  let runners: RunnerProcess[] = [];
  let summary: FaultSummary;
  let serverDeadlocks = 0;
  let runnerDeadlocks: string[] = [];

  beforeAll(async () => {
    // A short deadlock_timeout only makes PostgreSQL look for a cycle sooner; it creates none.
    pg = await startThrowawayPostgres({ deadlock_timeout: '50ms' });
    await pg.createDatabase(DB);
    control = await openControl(pg.options(DB));
    logDir = mkdtempSync(join(tmpdir(), 'upkeep-fault-'));
    const specs = await enqueue(control, Array.from({ length: N }, (_, i) => ({ label: `t${i}` })));
    // Widen the window, not the cause: every updated row of maintenance_tasks takes 0.5 ms
    // longer (locked, then the trigger sleeps), so a heartbeat and a batch completion of one
    // runner are nearly always in progress together. Statements that lock their rows in one
    // order still never deadlock, however slow.
    await control.query(`CREATE FUNCTION upkeep_fault_slow_row() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.0005); RETURN NEW; END $$ LANGUAGE plpgsql`);
    await control.query('CREATE TRIGGER upkeep_fault_slow BEFORE UPDATE ON maintenance_tasks FOR EACH ROW EXECUTE FUNCTION upkeep_fault_slow_row()');
    const runner = { concurrency: 25, claimBatchSize: 100, leaseMs: 5000, heartbeatIntervalMs: 10, rescueIntervalMs: 1000 };
    runners = await Promise.all(['a', 'b', 'c'].map((name) => startRunnerProcess({ name, dataSource: pg.options(DB), logDir, runner })));
    await until('every task final', async () => {
      const c = await control.counts();
      return c.COMPLETED + c.ERROR === N;
    }, 90_000, 200).catch(() => undefined);
    summary = await summarise(control, specs, readExecutions(runners.map((r) => r.logPath)));
    serverDeadlocks = pg.countInLog(/deadlock detected/);
    runnerDeadlocks = runners.flatMap((r) => r.errors().filter((e) => /deadlock detected/i.test(e.message ?? '')).map((e) => `${r.name} ${e.during}: ${e.message}`));
    // eslint-disable-next-line no-console
    console.log(
      `${formatSummary('PostgreSQL, 3 runner processes, 0 ms tasks, heartbeat every 10 ms', summary, {
        'deadlocks in the server log': serverDeadlocks,
        'deadlock runner:error events': runnerDeadlocks.length,
      })}\n  runner:error events by kind:\n${errorDigest(runners)}`,
    );
  }, 180_000);

  afterAll(async () => {
    for (const r of runners) await r.kill().catch(() => undefined);
    await control?.close();
    await pg?.destroy();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  it('every task COMPLETED, none lost, none run twice', () => {
    expect(summary.lost.length, sample(summary.lost)).toBe(0);
    expect(summary.succeededButError.length, sample(summary.succeededButError)).toBe(0);
    expect(summary.extraExecutions.length, sample(summary.extraExecutions)).toBe(0);
  });

  it('defect 2: no task aborted by its own busy runner (no lease_expired attempt: no runner was frozen or killed)', () => {
    expect(summary.abortedByOwnRunner.length, sample(summary.abortedByOwnRunner)).toBe(0);
  });

  it('no deadlock between the heartbeat UPDATE and the batch completion (server log and runner:error)', () => {
    expect(serverDeadlocks, pg.log().split('\n').filter((l) => /deadlock detected|DETAIL|CONTEXT|STATEMENT/.test(l)).slice(0, 8).join('\n')).toBe(0);
    expect(runnerDeadlocks.length, runnerDeadlocks.slice(0, 3).join('\n')).toBe(0);
  });
});
