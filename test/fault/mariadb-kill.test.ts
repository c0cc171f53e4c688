// Issue 7, defect 1, the lost task_events and the claim deadlocks, on MariaDB: a server of the
// test's own is killed with SIGKILL and started again on the same datadir and port, three
// times, under two runner processes running 3,000 short tasks. Each kill is made while tasks
// are running in a runner process; afterwards the test checks that executions ended during
// each outage (results that had to be written through it).
//
// The rule checked: a write that fails for a passing reason never changes the outcome, and a
// deadlock is a passing reason (retried quietly, never lost work). With the runner processes
// alive and each outage far shorter than the lease, each task must end COMPLETED, executed
// exactly once, with its events stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunnerProcess } from '../helpers/runner-process';
import { startThrowawayMariadb, throwawayMariadbProblem, type ThrowawayMariadb } from '../helpers/throwaway-mariadb';
import { crashes, errorDigest, formatOutages, formatSummary, runFaults, sample, startScenario, summarise, violationTraces, type Control, type FaultSummary, type Outage, type Scenario } from './harness';

const problem = throwawayMariadbProblem();
const N = 3000;
const DB = 'upkeep_fault';
// Every outage must stay below the lease less one heartbeat interval (checked below), so no
// lease may expire because of one, even on a loaded machine.
const LEASE_MS = 30_000;
const HEARTBEAT_MS = LEASE_MS / 3;

describe.skipIf(problem)('MariaDB killed with SIGKILL and restarted under two runner processes', () => {
  let maria: ThrowawayMariadb;
  let scenario: Scenario | undefined;
  let control: Control;
  let runners: RunnerProcess[] = [];
  let summary: FaultSummary;
  let outages: Outage[];
  let deadlockErrors: string[] = [];

  beforeAll(async () => {
    maria = await startThrowawayMariadb();
    await maria.createDatabase(DB);
    const runner = { concurrency: 10, leaseMs: LEASE_MS, rescueIntervalMs: 1000, claimBatchSize: 20 };
    scenario = await startScenario(
      maria.options(DB),
      Array.from({ length: N }, (_, i) => ({ label: `t${i}`, workMs: 10 + (i % 5) * 10 })),
      ['a', 'b'].map((name) => ({ name, runner })),
    );
    ({ control, runners } = scenario);
    const specs = scenario.specs;
    const run = await runFaults(control, runners, N, [
      { name: 'kill -9 and restart #1 (down 300 ms)', atCompleted: 400, act: () => maria.killAndRestart(300) },
      { name: 'kill -9 and restart #2', atCompleted: 1200, act: () => maria.killAndRestart(0) },
      { name: 'kill -9 and restart #3 (down 300 ms)', atCompleted: 2000, act: () => maria.killAndRestart(300) },
    ]);
    outages = run.outages;
    summary = await summarise(control, specs, run.executions);
    const errors = runners.flatMap((r) => r.errors());
    deadlockErrors = errors.filter((e) => /Deadlock found/i.test(e.message ?? '')).map((e) => `${e.during}: ${e.message}`);
    // eslint-disable-next-line no-console
    console.log(
      `${formatSummary('MariaDB killed -9 and restarted, 2 runner processes', summary, {
        'runner:error events': errors.length,
        '"Deadlock found" runner:error events': deadlockErrors.length,
      })}\n${formatOutages(outages)}\n  runner:error events by kind:\n${errorDigest(runners)}\n${await violationTraces(control, summary, runners, outages[0]!.from)}\n${crashes(runners).join('\n')}`,
    );
  }, 240_000);

  afterAll(async () => {
    await scenario?.close();
    await maria?.destroy();
  });

  it('created the condition: every kill hit while executions were running, and executions ended during each outage', () => {
    expect(outages).toHaveLength(3);
    for (const o of outages) expect(o.runningBefore, o.fault).toBeGreaterThan(0);
    for (const o of outages) expect(o.to - o.from, `${o.fault} lasted longer than the lease less a heartbeat`).toBeLessThan(LEASE_MS - HEARTBEAT_MS);
    for (const o of outages) expect(o.endedDuring, o.fault).toBeGreaterThan(0);
  });

  it('no runner process crashed', () => {
    expect(crashes(runners).join('\n\n')).toBe('');
  });

  it('no task lost: every task COMPLETED', () => {
    expect(summary.tasks).toBe(N);
    expect(summary.lost.length, sample(summary.lost)).toBe(0);
  });

  it('defect 1: no successful task recorded as an ERROR', () => {
    expect(summary.refusedResult.length, sample(summary.refusedResult)).toBe(0);
    expect(summary.succeededButError.length, sample(summary.succeededButError)).toBe(0);
  });

  it('defect 1: no task re-run because its completion write failed (each ran exactly once)', () => {
    expect(summary.extraExecutions.length, sample(summary.extraExecutions)).toBe(0);
    expect(summary.executions).toBe(N);
  });

  it('no lease expired under a live runner', () => {
    expect(summary.abortedByOwnRunner.length, sample(summary.abortedByOwnRunner)).toBe(0);
  });

  it('task_events: no lifecycle event dropped during an outage (created, started and completed of every task stored)', () => {
    expect(summary.eventsMissing.length, sample(summary.eventsMissing)).toBe(0);
  });

  it('claim deadlocks ("Deadlock found when trying to get lock") are retried quietly, never surfaced as runner:error', () => {
    expect(deadlockErrors.length, deadlockErrors.slice(0, 3).join('\n')).toBe(0);
  });
});
