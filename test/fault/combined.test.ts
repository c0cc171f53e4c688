// Issue 7, "must show": one run with every fault, printing and asserting the issue's summary.
// A PostgreSQL server of the test's own and 5,030 tasks (30 fail on purpose, 20 of them with a
// message or name no database stores as is: a lone surrogate, a NUL). Runners a and b (lease
// 30 s), c (lease 10 s) and d (lease 3 s, 2 running, more queued), then, each made while
// executions are running:
//   d frozen with SIGSTOP until the others have rescued everything it held, woken, stopped;
//   SIGKILL of runner c while it holds tasks (frozen first, so what it holds is known);
//   fast restart, pg_terminate_backend, immediate restart of the server, pg_terminate_backend.
// Expected: 0 lost, 0 succeeded-but-ERROR, 0 leases expired under a live runner (only c's and
// d's tasks may show lease_expired), 0 started without a valid lease (d after its wake), extra
// executions only for tasks c or d had started before the kill / freeze (running, or finished
// with the outcome unwritten), every failure's original message stored (a failing task whose
// outcome c or d never wrote ends lease_expired when rescued out of attempts), every lifecycle
// event stored (but those c held in memory, unflushed, when it was killed).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRunnerProcess, type Execution, type RunnerProcess } from '../helpers/runner-process';
import { startThrowawayPostgres, throwawayPostgresProblem, type ThrowawayPostgres } from '../helpers/throwaway-postgres';
import {
  classifyHeld,
  crashes,
  enqueue,
  errorDigest,
  explain,
  formatOutages,
  formatSummary,
  freezeWhen,
  heldBy,
  openControl,
  runFaults,
  sample,
  summarise,
  until,
  type Control,
  type FaultSummary,
  type Outage,
  type TaskSpec,
  violationTraces,
} from './harness';

const problem = throwawayPostgresProblem();
const DB = 'upkeep_fault';

describe.skipIf(problem)('all faults in one run (PostgreSQL): the summary of issue 7', () => {
  let pg: ThrowawayPostgres;
  let control: Control;
  let logDir: string;
  const runners: RunnerProcess[] = [];
  let summary: FaultSummary;
  let outages: Outage[];
  let killed: { held: string[]; running: Execution[] } = { held: [], running: [] };
  let frozen: { held: Array<{ id: string; attempts: number }>; running: Execution[]; ms: number } = { held: [], running: [], ms: 0 };
  let startedWithoutLease: Execution[] = [];
  let frozenHeld = { running: [] as string[], finished: [] as string[], queued: [] as string[] };
  let killedHeld = { running: [] as string[], finished: [] as string[], queued: [] as string[] };
  let dStopCode: number | null = null;
  let liveStopCodes: Array<number | null> = [];
  let total = 0;

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
    await pg.createDatabase(DB);
    control = await openControl(pg.options(DB));
    logDir = mkdtempSync(join(tmpdir(), 'upkeep-fault-'));
    const list: TaskSpec[] = Array.from({ length: 5000 }, (_, i) => ({ label: `t${i}`, workMs: 10 + (i % 5) * 10 }));
    for (let i = 0; i < 30; i++) list.splice(i * 150 + 50, 0, { label: `f${i}`, workMs: 5, fail: i % 3 === 0 ? 'plain' : i % 3 === 1 ? 'surrogate' : 'nul-name' });
    total = list.length;
    const specs = await enqueue(control, list);
    // a, b: lease 30 s, far longer than any outage below (checked). c and d have short leases and are
    // killed / frozen (and stopped) before the server restarts begin.
    const runner = { concurrency: 8, leaseMs: 30_000, rescueIntervalMs: 500, claimBatchSize: 20 };
    const cRunner = { ...runner, leaseMs: 10_000 };
    const dRunner = { concurrency: 2, claimBatchSize: 10, leaseMs: 3000, heartbeatIntervalMs: 500, rescueIntervalMs: 500 };
    runners.push(
      ...(await Promise.all([
        ...['a', 'b'].map((name) => startRunnerProcess({ name, dataSource: pg.options(DB), logDir, runner })),
        startRunnerProcess({ name: 'c', dataSource: pg.options(DB), logDir, runner: cRunner }),
        startRunnerProcess({ name: 'd', dataSource: pg.options(DB), logDir, runner: dRunner }),
      ])),
    );
    const [a, b, c, d] = runners as [RunnerProcess, RunnerProcess, RunnerProcess, RunnerProcess];
    let thawedAt = 0;

    const run = await runFaults(control, runners, total, [
      {
        name: 'SIGSTOP of runner d past its lease, tasks queued',
        atCompleted: 200,
        act: async () => {
          const at = await freezeWhen(control, d, [a, b, c], (held, running) => running.length > 0 && classifyHeld(held, d.executions()).queued.length > 0);
          for (const r of [a, b, c]) r.thaw();
          frozenHeld = classifyHeld(at.held, d.executions());
          await until('everything d held rescued', async () => (await heldBy(control, d.runnerId)).length === 0, 30_000, 50);
          frozen = { held: at.held, running: at.running, ms: Date.now() - at.frozenAt };
          thawedAt = Date.now();
          d.thaw();
          await new Promise((r) => setTimeout(r, 1000)); // a few heartbeats: whatever d would start late has started
          dStopCode = await d.stop();
        },
      },
      {
        name: 'SIGKILL of runner c while it holds tasks',
        atCompleted: 400,
        act: async () => {
          const at = await freezeWhen(control, c, [a, b], (held, running) => held.length > 0 && running.length > 0);
          killedHeld = classifyHeld(at.held, c.executions());
          killed = { held: at.held.map((h) => h.id), running: at.running };
          await c.kill();
          a.thaw();
          b.thaw();
        },
      },
      { name: 'fast restart (down 300 ms)', atCompleted: 800, act: () => pg.restart('fast', 300) },
      { name: 'pg_terminate_backend', atCompleted: 1200, act: () => pg.terminateBackends(DB) },
      { name: 'immediate restart (down 300 ms)', atCompleted: 1600, act: () => pg.restart('immediate', 300) },
      { name: 'pg_terminate_backend #2', atCompleted: 2000, act: () => pg.terminateBackends(DB) },
    ]);
    outages = run.outages;
    // a and b stop as in a deploy before the tables are read: a task's lifecycle events are
    // written after its completion, so the last batches' events may still be on their way
    // when every row is final; a graceful stop writes them.
    liveStopCodes = [await a.stop(), await b.stop()];
    const heldPairs = new Set(frozen.held.map((h) => `${h.id}/${h.attempts}`));
    startedWithoutLease = run.executions.filter((e) => e.kind === 'S' && e.pid === d.pid && e.at >= thawedAt && heldPairs.has(`${e.taskId}/${e.attempt}`));
    summary = await summarise(
      control,
      specs,
      run.executions,
      new Set([...killed.held, ...frozen.held.map((h) => h.id)]),
      // Tasks c or d had started (running, or finished with the outcome unwritten) may run again elsewhere.
      new Set([...frozenHeld.running, ...frozenHeld.finished, ...killedHeld.running, ...killedHeld.finished]),
      // c's events not yet flushed at its SIGKILL (at most its last flush interval's worth) die with it.
      new Set([c.pid]),
    );
    // eslint-disable-next-line no-console
    console.log(
      `${formatSummary('issue 7: every fault in one run (PostgreSQL, runners a b c d)', summary, {
        'started without a valid lease': startedWithoutLease.length,
        'in flight in c at the SIGKILL (may run again)': killedHeld.running.length + killedHeld.finished.length,
        'held by c at the kill / by d at the freeze': `${killed.held.length} / ${frozen.held.length}, ${frozenHeld.queued.length} queued (d frozen ${frozen.ms} ms, lease 3000 ms)`,
        'runner:error events': runners.flatMap((r) => r.errors()).length,
        'deadlocks in the server log': pg.countInLog(/deadlock detected/),
      })}\n${formatOutages(outages)}\n  runner:error events by kind:\n${errorDigest(runners)}\n${await violationTraces(control, summary, runners, outages[0]!.from)}\n${crashes(runners).join('\n')}`,
    );
    const runnerIds = runners.map((r) => `${r.name}=${r.runnerId}`).join(' ');
    for (const [what, ids] of [
      ['re-run', summary.extraExecutions],
      ['lease expired under a live runner', summary.abortedByOwnRunner],
      ['started without a valid lease', startedWithoutLease.map((e) => e.taskId)],
    ] as const) {
      // eslint-disable-next-line no-console
      if (ids.length) console.log(`  ${what} (runners ${runnerIds}; times in ms after d's wake):\n${await explain(control, [...ids], runners, thawedAt)}`);
    }
  }, 240_000);

  afterAll(async () => {
    for (const r of runners) await r.kill().catch(() => undefined);
    await control?.close();
    await pg?.destroy();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  it('created every condition: faults while executions ran, results finished during restarts, c killed holding tasks, d frozen past its lease with tasks queued', () => {
    expect(outages).toHaveLength(6);
    for (const o of outages) expect(o.runningBefore, o.fault).toBeGreaterThan(0);
    for (const o of outages.filter((x) => x.fault.includes('restart'))) expect(o.endedDuring, o.fault).toBeGreaterThan(0);
    expect(killed.held.length).toBeGreaterThan(0);
    // Frozen at least the lease less a heartbeat (what d last renewed), and every lease it held was rescued.
    expect(frozen.ms).toBeGreaterThanOrEqual(3000 - 500);
    for (const o of outages.filter((x) => x.fault.includes('restart'))) expect(o.to - o.from, `${o.fault} lasted longer than a's lease less a heartbeat`).toBeLessThan(20_000);
    expect(frozenHeld.queued.length).toBeGreaterThan(0);
    expect(dStopCode, 'd stopped gracefully after its wake').toBe(0);
    expect(liveStopCodes, 'a and b stopped gracefully at the end').toEqual([0, 0]);
  });

  it('no runner process crashed (c was killed and d stopped by the test)', () => expect(crashes(runners).join('\n\n')).toBe(''));
  it('0 lost', () => expect(summary.lost.length, sample(summary.lost)).toBe(0));
  it('0 succeeded-but-ERROR', () => expect(summary.succeededButError.length, sample(summary.succeededButError)).toBe(0));
  it('0 tasks aborted by their own runner (lease_expired only for tasks of the killed and the frozen runner)', () =>
    expect(summary.abortedByOwnRunner.length, sample(summary.abortedByOwnRunner)).toBe(0));
  it('0 started without a valid lease', () => expect(startedWithoutLease.map((e) => e.taskId)).toEqual([]));
  it('extra executions only for tasks in flight at the kill (cut off) or in the frozen runner', () =>
    expect(summary.extraExecutions.length, sample(summary.extraExecutions)).toBe(0));
  it("every failure's original message stored (last_error and info.error)", () =>
    expect(summary.failureMessageLost.length, sample(summary.failureMessageLost)).toBe(0));
  it('every lifecycle event stored (created, started, completed/failed)', () => expect(summary.eventsMissing.length, sample(summary.eventsMissing)).toBe(0));
});
