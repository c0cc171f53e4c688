// Issue 7, defect 1 and the lost task_events, on PostgreSQL: a server of the test's own is
// restarted (fast and immediate) and its backends are terminated under two runner processes
// running 3,000 short tasks. Each fault is made while executions are running in a runner
// process; afterwards the test checks that executions ended during each restart (results that
// had to be written through it), so the condition it asserts about was there.
//
// The rule checked: a write that fails for a passing reason never changes the outcome. With
// the runner processes alive and every outage far shorter than the lease, each task must end
// COMPLETED, executed exactly once, with its events stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunnerProcess } from '../helpers/runner-process';
import { startThrowawayPostgres, throwawayPostgresProblem, type ThrowawayPostgres } from '../helpers/throwaway-postgres';
import { crashes, errorDigest, formatOutages, formatSummary, runFaults, sample, startScenario, summarise, violationTraces, type Control, type FaultSummary, type Outage, type Scenario } from './harness';

const problem = throwawayPostgresProblem();
const N = 3000;
const DB = 'upkeep_fault';
// Every outage must stay below the lease less one heartbeat interval (checked below), so no
// lease may expire because of one, even on a loaded machine.
const LEASE_MS = 30_000;
const HEARTBEAT_MS = LEASE_MS / 3;

describe.skipIf(problem)('PostgreSQL restarted and its backends terminated under two runner processes', () => {
  let pg: ThrowawayPostgres;
  let scenario: Scenario | undefined;
  let control: Control;
  let runners: RunnerProcess[] = [];
  let summary: FaultSummary;
  let outages: Outage[];

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
    await pg.createDatabase(DB);
    const runner = { concurrency: 10, leaseMs: LEASE_MS, rescueIntervalMs: 1000, claimBatchSize: 20 };
    scenario = await startScenario(
      pg.options(DB),
      Array.from({ length: N }, (_, i) => ({ label: `t${i}`, workMs: 10 + (i % 5) * 10 })),
      ['a', 'b'].map((name) => ({ name, runner })),
    );
    ({ control, runners } = scenario);
    const specs = scenario.specs;
    const run = await runFaults(control, runners, N, [
      { name: 'fast restart (down 300 ms)', atCompleted: 300, act: () => pg.restart('fast', 300) },
      { name: 'pg_terminate_backend #1', atCompleted: 800, act: () => pg.terminateBackends(DB) },
      { name: 'pg_terminate_backend #2', atCompleted: 1100, act: () => pg.terminateBackends(DB) },
      { name: 'immediate restart (down 300 ms)', atCompleted: 1500, act: () => pg.restart('immediate', 300) },
      { name: 'pg_terminate_backend #3', atCompleted: 2000, act: () => pg.terminateBackends(DB) },
      { name: 'fast restart', atCompleted: 2400, act: () => pg.restart('fast', 0) },
    ]);
    outages = run.outages;
    summary = await summarise(control, specs, run.executions);
    const errors = runners.flatMap((r) => r.errors());
    // eslint-disable-next-line no-console
    console.log(
      `${formatSummary('PostgreSQL restarts and terminated backends, 2 runner processes', summary, {
        'runner:error events': errors.length,
        'deadlocks in the server log': pg.countInLog(/deadlock detected/),
      })}\n${formatOutages(outages)}\n  runner:error events by kind:\n${errorDigest(runners)}\n${await violationTraces(control, summary, runners, outages[0]!.from)}\n${crashes(runners).join('\n')}`,
    );
  }, 240_000);

  afterAll(async () => {
    await scenario?.close();
    await pg?.destroy();
  });

  it('created the condition: every fault hit while executions were running, and executions ended during each restart', () => {
    expect(outages).toHaveLength(6);
    for (const o of outages) expect(o.runningBefore, o.fault).toBeGreaterThan(0);
    for (const o of outages) expect(o.to - o.from, `${o.fault} lasted longer than the lease less a heartbeat`).toBeLessThan(LEASE_MS - HEARTBEAT_MS);
    for (const o of outages.filter((x) => x.fault.includes('restart'))) expect(o.endedDuring, o.fault).toBeGreaterThan(0);
  });

  it('no runner process crashed', () => {
    expect(crashes(runners).join('\n\n')).toBe('');
  });

  it('no task lost: every task COMPLETED', () => {
    expect(summary.tasks).toBe(N);
    expect(summary.lost.length, sample(summary.lost)).toBe(0);
  });

  it('defect 1: no successful task recorded as an ERROR ("The database refused the result: ...")', () => {
    expect(summary.refusedResult.length, sample(summary.refusedResult)).toBe(0);
    expect(summary.succeededButError.length, sample(summary.succeededButError)).toBe(0);
  });

  it('defect 1: no task re-run because its completion write failed (each ran exactly once)', () => {
    expect(summary.extraExecutions.length, sample(summary.extraExecutions)).toBe(0);
    expect(summary.executions).toBe(N);
  });

  it('no lease expired under a live runner (no lease_expired attempt: no runner was frozen or killed)', () => {
    expect(summary.abortedByOwnRunner.length, sample(summary.abortedByOwnRunner)).toBe(0);
  });

  it('task_events: no lifecycle event dropped during an outage (created, started and completed of every task stored)', () => {
    expect(summary.eventsMissing.length, sample(summary.eventsMissing)).toBe(0);
  });
});
