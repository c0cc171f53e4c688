// Shared pieces of the process-level fault tests: the control side (the test's own DataSource
// and Upkeep, used to enqueue and to read what happened, tolerant of outages), and the
// summary of issue 7 computed from the database and the runners' execution logs.
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { Upkeep, type RunnerOptions } from '../../src';
import { FaultWorkProcessor, type FaultFailure } from '../e2e/fixtures/fault-work';
import { executionsByTask, readExecutions, startRunnerProcess, unfinishedStarts, type Execution, type RunnerProcess } from '../helpers/runner-process';
import { sleep } from '../helpers/throwaway-server';

export { FaultWorkProcessor };

/** The test's own connection: enqueues and reads; every read retries through an outage. */
export interface Control {
  dataSource: DataSource;
  upkeep: Upkeep;
  dialect: 'postgres' | 'mysql';
  /** A query that retries (for up to 60 s) while the server is down or restarting. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  counts(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export async function openControl(options: DataSourceOptions): Promise<Control> {
  const dataSource = new DataSource({ ...options, migrationsRun: true });
  await dataSource.initialize();
  const upkeep = new Upkeep({ dataSource, processors: [FaultWorkProcessor] });
  const dialect = options.type === 'postgres' ? 'postgres' : 'mysql';
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        return (await dataSource.query(dialect === 'postgres' ? sql : sql.replace(/\$\d+/g, '?'), params)) as T[];
      } catch (error) {
        if (Date.now() > until) throw error;
        await sleep(50);
      }
    }
  };
  return {
    dataSource,
    upkeep,
    dialect,
    query,
    async counts() {
      const rows = await query<{ status: string; n: string | number }>('SELECT status, COUNT(*) AS n FROM maintenance_tasks GROUP BY status');
      const out: Record<string, number> = { PENDING: 0, WORKING: 0, COMPLETED: 0, ERROR: 0 };
      for (const r of rows) out[r.status] = Number(r.n);
      return out;
    },
    async close() {
      await upkeep.close().catch(() => undefined);
      if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    },
  };
}

/** One task of a fault scenario: it succeeds after `workMs`, or fails on purpose (`fail`). */
export interface TaskSpec {
  label: string;
  workMs?: number;
  fail?: FaultFailure;
}

/** Enqueues the tasks (failing ones with maxAttempts 1: one execution each); returns their ids by label. */
export async function enqueue(control: Control, specs: TaskSpec[]): Promise<Map<string, TaskSpec>> {
  const byId = new Map<string, TaskSpec>();
  for (let i = 0; i < specs.length; i += 1000) {
    const part = specs.slice(i, i + 1000);
    const tasks = await control.upkeep.createTasks(
      part.map((s) => ({
        processor: FaultWorkProcessor.create({ label: s.label, ...(s.workMs ? { workMs: s.workMs } : {}), ...(s.fail ? { fail: s.fail } : {}) }),
        ...(s.fail ? { maxAttempts: 1 } : { maxAttempts: 5 }),
      })),
    );
    tasks.forEach((t, j) => byId.set(t.id, part[j]!));
  }
  return byId;
}

/** A fault scenario's moving parts: the control connection, the enqueued tasks, the runner processes. */
export interface Scenario {
  control: Control;
  specs: Map<string, TaskSpec>;
  runners: RunnerProcess[];
  logDir: string;
  /** Kills the runner processes, closes the control connection, removes the execution logs. */
  close(): Promise<void>;
}

/**
 * Opens the control connection on `dataSource`, enqueues `tasks`, then starts one runner process
 * per entry of `runners` (in parallel) and resolves once all report ready.
 */
export async function startScenario(dataSource: DataSourceOptions, tasks: TaskSpec[], runners: Array<{ name: string; runner: RunnerOptions }>): Promise<Scenario> {
  const control = await openControl(dataSource);
  const logDir = mkdtempSync(join(tmpdir(), 'upkeep-fault-'));
  const scenario: Scenario = {
    control,
    specs: new Map(),
    runners: [],
    logDir,
    async close() {
      for (const r of scenario.runners) await r.kill().catch(() => undefined);
      await control.close();
      rmSync(logDir, { recursive: true, force: true });
    },
  };
  try {
    scenario.specs = await enqueue(control, tasks);
    const started = await Promise.allSettled(runners.map(({ name, runner }) => startRunnerProcess({ name, dataSource, logDir, runner })));
    scenario.runners = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (error) {
    await scenario.close();
    throw error;
  }
  return scenario;
}

/** Polls `fn` (errors count as "not yet") until it returns truthy or `timeoutMs` passes. */
export async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 60_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`until: ${what}: not reached within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/**
 * Waits until no other connection to this database is executing a statement (frozen runner
 * processes then cannot change a row any more: what is committed is what they left). A
 * statement waiting for a lock a frozen process holds is not counted: it cannot finish.
 */
export async function quiesced(control: Control): Promise<void> {
  const sql =
    control.dialect === 'postgres'
      ? "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock' AND pid <> pg_backend_pid()"
      : "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND command NOT IN ('Sleep', 'Daemon') AND id <> CONNECTION_ID() AND id NOT IN (SELECT trx_mysql_thread_id FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT')";
  await until('no statement of another connection running', async () => Number((await control.query<{ n: string }>(sql))[0]!.n) === 0, 20_000, 10);
}

type AttemptRecord = { reason: string; message?: string };

export interface TaskRow {
  id: string;
  status: string;
  attempts: number;
  failure_reason: string | null;
  last_error: string | null;
  /** The outcome: `error` is the message (the seed's shape), or `{ message, name }` (the shape before runner_info). */
  info: { error?: string | { message?: string; name?: string }; attempts?: AttemptRecord[] } | null;
  /** What the runner records about the task (its failed attempts). */
  runner_info: { attempts?: AttemptRecord[] } | null;
}

const parsed = <T>(v: unknown): T | null => (typeof v === 'string' ? (JSON.parse(v) as T) : ((v ?? null) as T | null));

export async function taskRows(control: Control): Promise<TaskRow[]> {
  const rows = await control.query<Record<string, unknown>>('SELECT id, status, attempts, failure_reason, last_error, info, runner_info FROM maintenance_tasks');
  return rows.map((r) => ({
    id: r.id as string,
    status: r.status as string,
    attempts: Number(r.attempts),
    failure_reason: (r.failure_reason as string | null) ?? null,
    last_error: (r.last_error as string | null) ?? null,
    info: parsed<TaskRow['info']>(r.info),
    runner_info: parsed<TaskRow['runner_info']>(r.runner_info),
  }));
}

/** Every failed attempt recorded for the task (runner_info, or info in the shape before it). */
export function attemptsOf(row: TaskRow): AttemptRecord[] {
  return [...(row.runner_info?.attempts ?? []), ...(row.info?.attempts ?? [])];
}

/** The error message stored in `info`. */
export function infoMessage(row: TaskRow): string {
  const e = row.info?.error;
  return typeof e === 'string' ? e : (e?.message ?? '');
}

/** Issue 7's summary of a fault run. */
export interface FaultSummary {
  tasks: number;
  executions: number;
  /** Not in a final state, or a task that should succeed that never ran. */
  lost: string[];
  /** Tasks whose processor succeeded (or would: they never fail) that ended ERROR. */
  succeededButError: string[];
  /** Tasks re-run while no earlier execution of theirs was cut off by a kill. */
  extraExecutions: string[];
  /** Tasks with a lease_expired attempt not explained by a killed or frozen runner. */
  abortedByOwnRunner: string[];
  /** Failing tasks whose stored error does not carry the original message. */
  failureMessageLost: string[];
  /** Final tasks missing a started or final event in task_events. */
  eventsMissing: string[];
  /** For each of `eventsMissing`, the event types it lacks. */
  missingEventTypes: Map<string, string[]>;
  /**
   * Tasks whose only missing events are ones a SIGKILLed runner emitted (it started, completed
   * or failed the task): rows still in that process's memory, never flushed, die with it. Not in
   * `eventsMissing`.
   */
  eventsLostWithKill: string[];
  /**
   * Tasks a killed or frozen runner held whose outcome it never wrote (queued, running, or
   * finished with the write pending), out of attempts when rescued: ERROR lease_expired (with
   * `maxAttempts: 1`).
   */
  neverRanLeaseExpired: string[];
  /** Ids whose final state says result_not_serializable / "The database refused the result". */
  refusedResult: string[];
}

/**
 * Computes the summary. `excusedLeaseLoss`: tasks whose runner was killed or frozen while it
 * held them (a lease_expired attempt is expected there). `excusedExtra`: tasks running in a
 * runner frozen past its lease (they may run once more elsewhere; a start cut off by a kill
 * excuses one more start by itself). `killedPids`: runner processes killed with SIGKILL (the
 * events they had not flushed yet are lost with them: see `eventsLostWithKill`).
 */
export async function summarise(
  control: Control,
  specs: Map<string, TaskSpec>,
  executions: Execution[],
  excusedLeaseLoss: Set<string> = new Set(),
  excusedExtra: Set<string> = new Set(),
  killedPids: Set<number> = new Set(),
): Promise<FaultSummary> {
  const rows = await taskRows(control);
  const byTask = executionsByTask(executions);
  const events = await control.query<{ task_id: string; event_type: string }>('SELECT task_id, event_type FROM task_events');
  const eventTypes = new Map<string, Set<string>>();
  for (const e of events) {
    let s = eventTypes.get(e.task_id);
    if (!s) eventTypes.set(e.task_id, (s = new Set()));
    s.add(e.event_type);
  }
  const s: FaultSummary = {
    tasks: rows.length,
    executions: executions.filter((e) => e.kind === 'S').length,
    lost: [],
    succeededButError: [],
    extraExecutions: [],
    abortedByOwnRunner: [],
    failureMessageLost: [],
    eventsMissing: [],
    missingEventTypes: new Map(),
    eventsLostWithKill: [],
    neverRanLeaseExpired: [],
    refusedResult: [],
  };
  const byTaskAll = new Map<string, Execution[]>();
  for (const e of executions) {
    let list = byTaskAll.get(e.taskId);
    if (!list) byTaskAll.set(e.taskId, (list = []));
    list.push(e);
  }
  /** True when the event `type` of the task could only have come from a killed process. */
  const emittedByKilled = (taskId: string, type: string): boolean => {
    const mine = byTaskAll.get(taskId) ?? [];
    const kind = type === 'started' ? 'S' : type === 'completed' ? 'E' : type === 'failed' ? 'F' : null;
    if (!kind || !killedPids.size) return false;
    const lines = mine.filter((e) => e.kind === kind);
    if (!lines.length) return false;
    // started: nobody but a killed process started it; completed/failed: a killed process ran the last execution.
    return kind === 'S' ? lines.every((e) => killedPids.has(e.pid)) : killedPids.has(lines.reduce((a, b) => (b.at >= a.at ? b : a)).pid);
  };
  for (const row of rows) {
    const spec = specs.get(row.id);
    if (!spec) continue;
    const ex = byTask.get(row.id) ?? { starts: [], ends: 0, fails: 0, cutOff: 0 };
    const final = row.status === 'COMPLETED' || row.status === 'ERROR';
    if (!final || (!spec.fail && ex.ends === 0)) s.lost.push(row.id);
    if (!spec.fail && row.status === 'ERROR') s.succeededButError.push(row.id);
    if (ex.starts.length > 1 + ex.cutOff && !excusedExtra.has(row.id)) s.extraExecutions.push(row.id);
    if (!excusedLeaseLoss.has(row.id) && attemptsOf(row).some((a) => a.reason === 'lease_expired')) s.abortedByOwnRunner.push(row.id);
    // Held (the attempt counted) by a runner that was killed or frozen before its outcome was
    // written (queued, running, or finished with the write pending), and out of attempts when
    // rescued: ERROR lease_expired. The holder's outcome never reached the database, so there is
    // no original failure to store (and, when it never started, no started event).
    const outcomeLost = excusedLeaseLoss.has(row.id) && row.status === 'ERROR' && row.failure_reason === 'lease_expired';
    const neverRan = outcomeLost && ex.starts.length === 0;
    if (outcomeLost) s.neverRanLeaseExpired.push(row.id);
    if (spec.fail && !outcomeLost) {
      const marker = `original failure ${spec.label}`;
      const stored = [row.last_error ?? '', infoMessage(row)];
      if (row.status !== 'ERROR' || !stored.every((m) => m.includes(marker))) s.failureMessageLost.push(row.id);
    }
    if (row.failure_reason === 'result_not_serializable' || /refused the result/.test(row.last_error ?? '')) s.refusedResult.push(row.id);
    if (final) {
      const types = eventTypes.get(row.id) ?? new Set();
      const finalType = row.status === 'COMPLETED' ? 'completed' : 'failed';
      const missing = ['created', ...(neverRan ? [] : ['started']), finalType].filter((t) => !types.has(t));
      if (missing.length && missing.every((t) => emittedByKilled(row.id, t))) s.eventsLostWithKill.push(row.id);
      else if (missing.length) {
        s.eventsMissing.push(row.id);
        s.missingEventTypes.set(row.id, missing);
      }
    }
  }
  return s;
}

/** The summary as a table a person reads at a glance. */
export function formatSummary(title: string, s: FaultSummary, extra: Record<string, number | string> = {}): string {
  const line = (k: string, v: number | string) => `  ${k.padEnd(44, '.')} ${v}`;
  return [
    `== ${title}`,
    line('tasks', s.tasks),
    line('executions (process() starts)', s.executions),
    line('lost', s.lost.length),
    line('succeeded but ERROR', s.succeededButError.length),
    line('  of which "database refused the result"', s.refusedResult.length),
    line('re-run without a cut-off execution', s.extraExecutions.length),
    line('lease expired under a live runner', s.abortedByOwnRunner.length),
    line('failures without their original message', s.failureMessageLost.length),
    line('tasks missing lifecycle events', s.eventsMissing.length),
    line('  events lost with a SIGKILLed runner', s.eventsLostWithKill.length),
    line('outcome died with its runner, out of attempts', s.neverRanLeaseExpired.length),
    ...Object.entries(extra).map(([k, v]) => line(k, v)),
  ].join('\n');
}

/** "n tasks (first ids ...)": the message of a failed count assertion. */
export function sample(ids: string[]): string {
  return `${ids.length} task(s)${ids.length ? `, e.g. ${ids.slice(0, 3).join(', ')}` : ''}`;
}

/** One fault of a scenario: made once `atCompleted` tasks are COMPLETED and some are WORKING. */
export interface Fault {
  name: string;
  atCompleted: number;
  act: () => Promise<unknown>;
}

export interface Outage {
  fault: string;
  from: number;
  to: number;
  /** Executions running (started, not ended) in the runner processes right before the fault. */
  runningBefore: number;
  /** Executions that ended (E lines) while the fault lasted: results that had to be written through it. */
  endedDuring: number;
}

/**
 * Runs the faults in order while the runners work, each once `atCompleted` tasks are
 * COMPLETED and an execution is running in a runner process (read from the execution logs),
 * then waits until every task is final (at most `finalTimeoutMs`; what is not final then
 * counts as lost), and returns what happened.
 */
export async function runFaults(control: Control, runners: RunnerProcess[], total: number, faults: Fault[], finalTimeoutMs = 60_000): Promise<{ outages: Outage[]; executions: Execution[] }> {
  const outages: Outage[] = [];
  for (const f of faults) {
    await until(`${f.atCompleted} tasks completed before ${f.name}`, async () => (await control.counts()).COMPLETED >= f.atCompleted, 90_000).catch(async (error: Error) => {
      throw new Error(`${error.message}; counts ${JSON.stringify(await control.counts())}; runner:error events:\n${errorDigest(runners)}`);
    });
    const runningBefore = await until(
      `an execution running before ${f.name}`,
      () => unfinishedStarts(readExecutions(runners.filter((r) => r.alive).map((r) => r.logPath))).length,
      30_000,
      2,
    );
    const from = Date.now();
    await f.act();
    outages.push({ fault: f.name, from, to: Date.now(), runningBefore, endedDuring: 0 });
  }
  await until(
    'every task final',
    async () => {
      const c = await control.counts();
      return c.COMPLETED + c.ERROR === total;
    },
    finalTimeoutMs,
    200,
  ).catch(() => undefined);
  const executions = readExecutions(runners.map((r) => r.logPath));
  for (const o of outages) o.endedDuring = executions.filter((e) => e.kind === 'E' && e.at >= o.from && e.at <= o.to).length;
  return { outages, executions };
}

export function formatOutages(outages: Outage[]): string {
  const t0 = outages[0]?.from ?? 0;
  return outages
    .map((o) => `  +${String(o.from - t0).padStart(6)} ms ${o.fault}: ${o.to - o.from} ms, ${o.runningBefore} running before, ${o.endedDuring} executions ended meanwhile`)
    .join('\n');
}

/** runner:error events grouped by what the runner was doing and the message's start, most frequent first. */
export function errorDigest(runners: RunnerProcess[], top = 8): string {
  const counts = new Map<string, number>();
  for (const r of runners) {
    for (const e of r.errors()) {
      const key = `${e.during}: ${(e.message ?? '').replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>').slice(0, 90)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, n]) => `    ${String(n).padStart(5)}  ${k}`)
    .join('\n');
}

/** Runner processes that exited on their own (a crash), each with its exit and stderr tail. */
export function crashes(runners: RunnerProcess[]): string[] {
  return runners.map((r) => r.crash()).filter((c): c is string => c !== null);
}

/** Rows a runner holds (WORKING under its id), with the attempt of its claim. */
export async function heldBy(control: Control, runnerId: string): Promise<Array<{ id: string; attempts: number }>> {
  const p = control.dialect === 'postgres' ? '$1' : '?';
  const rows = await control.query<{ id: string; attempts: number }>(`SELECT id, attempts FROM maintenance_tasks WHERE status = 'WORKING' AND locked_by = ${p}`, [runnerId]);
  return rows.map((r) => ({ id: r.id, attempts: Number(r.attempts) }));
}

/**
 * Freezes `victim` (and `others`, so the database goes quiet) at a moment `wanted` accepts:
 * after the freeze, waits until no statement is executing, then reads what the victim holds
 * and which executions it is running; if `wanted` says no, wakes them all and tries again.
 * Returns with the victim and the others still frozen.
 */
export async function freezeWhen(
  control: Control,
  victim: RunnerProcess,
  others: RunnerProcess[],
  wanted: (held: Array<{ id: string; attempts: number }>, running: Execution[]) => boolean,
  timeoutMs = 60_000,
): Promise<{ held: Array<{ id: string; attempts: number }>; running: Execution[]; frozenAt: number }> {
  let result: { held: Array<{ id: string; attempts: number }>; running: Execution[]; frozenAt: number } | undefined;
  let last = 'nothing observed';
  await until(
    `${victim.name} frozen at the wanted moment`,
    async () => {
      const frozenAt = Date.now();
      victim.freeze();
      for (const o of others) o.freeze();
      try {
        await quiesced(control);
        const held = await heldBy(control, victim.runnerId);
        const running = unfinishedStarts(victim.executions());
        if (wanted(held, running)) {
          result = { held, running, frozenAt };
          return true;
        }
        last = `${held.length} held, ${running.length} running, counts ${JSON.stringify(await control.counts())}, ${victim.errors().length} runner:error, last: ${victim.errors().slice(-1)[0]?.message ?? "-"}`;
      } catch (error) {
        last = `error: ${(error as Error).message}`;
        victim.thaw();
        for (const o of others) o.thaw();
        throw error;
      }
      victim.thaw();
      for (const o of others) o.thaw();
      return false;
    },
    timeoutMs,
    20,
  ).catch((error: Error) => {
    throw new Error(`${error.message} (last seen: ${last})`);
  });
  return result!;
}

/**
 * What a frozen runner's held rows are, read from its execution log: running (started, not
 * ended), finished (ended, outcome not yet written) or queued (this attempt never started).
 */
export function classifyHeld(held: Array<{ id: string; attempts: number }>, executions: Execution[]): { running: string[]; finished: string[]; queued: string[] } {
  const out = { running: [] as string[], finished: [] as string[], queued: [] as string[] };
  for (const h of held) {
    const mine = executions.filter((e) => e.taskId === h.id && e.attempt === h.attempts);
    if (!mine.some((e) => e.kind === 'S')) out.queued.push(h.id);
    else if (mine.some((e) => e.kind !== 'S')) out.finished.push(h.id);
    else out.running.push(h.id);
  }
  return out;
}

/** One line per task: its executions (runner@attempt, S/E/F, ms after `t0`), final row and attempt reasons, to read a failure. */
export async function explain(control: Control, ids: string[], runners: RunnerProcess[], t0: number, max = 5): Promise<string> {
  if (!ids.length) return '';
  const names = new Map(runners.map((r) => [r.pid, r.name]));
  const executions = readExecutions(runners.map((r) => r.logPath));
  const rows = new Map((await taskRows(control)).map((r) => [r.id, r]));
  return ids
    .slice(0, max)
    .map((id) => {
      const ex = executions
        .filter((e) => e.taskId === id)
        .map((e) => `${e.kind}:${names.get(e.pid) ?? e.pid}@${e.attempt}+${e.at - t0}`)
        .join(' ');
      const row = rows.get(id);
      const reasons = (row ? attemptsOf(row) : []).map((a) => `${a.reason}(${(a.message ?? '').slice(0, 60)})`).join('; ');
      const stored = row && row.status === 'ERROR' ? ` last_error=${JSON.stringify((row.last_error ?? '').slice(0, 60))} info.error=${JSON.stringify(infoMessage(row).slice(0, 60))}` : '';
      return `    ${id}: ${ex} | ${row?.status} attempts=${row?.attempts} ${reasons}${stored}`;
    })
    .join('\n');
}

/** Traces of the first violating tasks of each kind (for the console, next to the summary). */
export async function violationTraces(control: Control, s: FaultSummary, runners: RunnerProcess[], t0: number): Promise<string> {
  const missing = s.eventsMissing.slice(0, 5).map((id) => `${id} lacks ${s.missingEventTypes.get(id)?.join(', ')}`);
  const parts: string[] = [];
  const kinds: Array<[string, string[]]> = [
    ['re-run', s.extraExecutions],
    ['lease expired under a live runner', s.abortedByOwnRunner],
    ['succeeded but ERROR', s.succeededButError],
    ['failure message lost', s.failureMessageLost],
    ['lifecycle events missing', s.eventsMissing],
  ];
  for (const [what, ids] of kinds) {
    if (ids.length) parts.push(`  ${what} (runners ${runners.map((r) => `${r.name}=${r.runnerId}`).join(' ')}; ms after the first fault):\n${await explain(control, ids, runners, t0)}`);
  }
  if (missing.length) parts.push(`  task_events missing:\n${missing.map((m) => `    ${m}`).join('\n')}`);
  return parts.join('\n');
}
