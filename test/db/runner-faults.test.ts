import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { IsOptional, IsString } from 'class-validator';
import { MaintenanceTaskProcessor, Processor, Upkeep, type MaintenanceTask, type TaskContext } from '../../src';
import { databaseProblem, dbDate, openTestDataSource, TEST_DB, waitFor } from '../helpers/db';
import { SumProcessor } from '../helpers/processors';

const problem = await databaseProblem();
const p = (n: number) => (TEST_DB === 'postgres' ? `$${n}` : '?');

/** Tasks of this processor wait for `release(label)`; executions and abort reasons are recorded. */
const waiting = new Map<string, Array<() => void>>();
const executions = new Map<string, string[]>();
const aborts = new Map<string, string>();
function release(label: string): void {
  for (const resolve of waiting.get(label) ?? []) resolve();
  waiting.delete(label);
}

@Processor('fault-hold')
class HoldProcessor extends MaintenanceTaskProcessor<{ held: string }> {
  @IsString()
  label = 'x';

  async process(task: MaintenanceTask, ctx: TaskContext) {
    executions.set(task.id, [...(executions.get(task.id) ?? []), ctx.runnerId]);
    await new Promise<void>((resolve, reject) => {
      waiting.set(this.label, [...(waiting.get(this.label) ?? []), resolve]);
      ctx.signal.addEventListener('abort', () => {
        const reason = ctx.signal.reason as { kind?: string; name?: string };
        aborts.set(task.id, reason?.kind ?? reason?.name ?? 'aborted');
        reject(ctx.signal.reason);
      });
    });
    return { held: this.label };
  }
}

/** Throws an error whose name, message and stack hold text databases refuse. */
@Processor('fault-bad-text')
class BadTextProcessor extends MaintenanceTaskProcessor {
  @IsOptional() @IsString()
  note?: string;

  process(): never {
    const error = new Error('lone \uD800 surrogate and a NUL \u0000 here');
    error.name = 'Bad\u0000Name\uDFFF';
    throw error;
  }
}

/** Saves a cursor and returns an error message databases refuse, and a message of 1 MB. */
@Processor('fault-bad-cursor')
class BadCursorProcessor extends MaintenanceTaskProcessor {
  @IsOptional() @IsString()
  fail?: string;

  process(_task: MaintenanceTask, ctx: TaskContext) {
    ctx.saveCursor('page\u0000two\uD800');
    if (this.fail) throw new Error(`${this.fail}${'x'.repeat(1024 * 1024)}`);
    return { ok: true };
  }
}

describe.skipIf(problem)(`the runner never lies, on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;
  const processors = [HoldProcessor, BadTextProcessor, BadCursorProcessor, SumProcessor];

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors });
  });
  afterAll(async () => {
    for (const label of [...waiting.keys()]) release(label);
    await upkeep?.close();
    await close?.();
  });

  it('a task claimed while a heartbeat is in flight is not aborted as lease lost (defect 2)', async () => {
    const up = new Upkeep({ dataSource, processors });
    const store = up.internals.runnerStore;
    const original = store.heartbeat.bind(store);
    let armed = false;
    let beatsAfter = 0;
    let second: MaintenanceTask | undefined;
    store.heartbeat = async (runnerId, ids, leaseMs, now) => {
      const held = await original(runnerId, ids, leaseMs, now);
      if (armed) {
        armed = false;
        // While this heartbeat's answer is on its way back, a new task is claimed and starts.
        const started = up.events.next('task:started', (e) => e.task.processorJson.includes('race-b'));
        second = await up.createTask(HoldProcessor.create({ label: 'race-b' }));
        await started;
      } else if (second) beatsAfter++;
      return held;
    };
    const first = await up.createTask(HoldProcessor.create({ label: 'race-a' }));
    const runner = up.createRunner({ pollIntervalMs: 20, leaseMs: 3000, heartbeatIntervalMs: 50 });
    await runner.start();
    await waitFor(() => executions.has(first.id));
    armed = true;
    await waitFor(() => beatsAfter >= 3);
    expect(aborts.get(second!.id)).toBeUndefined();
    expect(aborts.get(first.id)).toBeUndefined();
    release('race-a');
    release('race-b');
    await waitFor(async () => (await up.getTask(second!.id))?.status === 'COMPLETED');
    await runner.stop();
    expect(executions.get(second!.id)).toHaveLength(1);
    await up.close();
  });

  it('a runner frozen past its lease does not start a queued task another runner took over (defect 3)', async () => {
    const frozenSide = new Upkeep({ dataSource, processors });
    const otherSide = new Upkeep({ dataSource, processors });
    // The frozen runner's heartbeats never come back until the end (as under SIGSTOP).
    let thaw!: () => void;
    const thawed = new Promise<void>((resolve) => (thaw = resolve));
    const store = frozenSide.internals.runnerStore;
    const original = store.heartbeat.bind(store);
    store.heartbeat = async (...args) => {
      await thawed;
      return original(...args);
    };
    // Nor does it claim anything after its first claim.
    const originalClaim = store.claim.bind(store);
    let claims = 0;
    store.claim = async (opts) => {
      if (claims++ === 0) return originalClaim(opts);
      await thawed;
      return [];
    };
    const running = await frozenSide.createTask(HoldProcessor.create({ label: 'frozen-a' }), { priority: 10 });
    const queued = await frozenSide.createTask(HoldProcessor.create({ label: 'frozen-b' }));
    const frozen = frozenSide.createRunner({ runnerId: 'frozen-runner', concurrency: 1, leaseMs: 400, heartbeatIntervalMs: 100, rescueIntervalMs: 600_000, pollIntervalMs: 20, listen: false });
    await frozen.start();
    await waitFor(() => executions.get(running.id)?.includes('frozen-runner'));
    expect(frozen.queuedCount).toBe(1);
    // The other runner rescues both expired leases and runs them.
    const other = otherSide.createRunner({ runnerId: 'other-runner', concurrency: 2, leaseMs: 5000, rescueIntervalMs: 50, pollIntervalMs: 20, listen: false });
    await other.start();
    await waitFor(() => executions.get(queued.id)?.includes('other-runner'));
    // The frozen runner's slot frees up: its queued task's lease expired long ago.
    const startedHere: string[] = [];
    frozenSide.events.on('task:started', (e) => startedHere.push(e.task.id));
    release('frozen-a');
    await waitFor(() => frozen.stats().inFlight === 0 && frozen.queuedCount === 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(startedHere).not.toContain(queued.id);
    expect(executions.get(queued.id)).toEqual(['other-runner']);
    release('frozen-b');
    await waitFor(async () => (await otherSide.getTask(queued.id))?.status === 'COMPLETED');
    await waitFor(async () => (await otherSide.getTask(running.id))?.status === 'COMPLETED');
    thaw();
    await other.stop();
    await frozen.stop();
    const t = (await upkeep.getTask(queued.id))!;
    expect(t.info).toEqual({ held: 'frozen-b' });
    await frozenSide.close();
    await otherSide.close();
  });

  it('an error whose name, message and stack hold a NUL or a lone surrogate is stored, with its reason (defect 4)', async () => {
    const task = await upkeep.createTask(BadTextProcessor.create({}), { maxAttempts: 1 });
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.failureReason).toBe('processor_error');
    // last_error: the message, then the stack; info: the message and the name, no stack.
    expect(t.lastError!.startsWith('lone \uFFFD surrogate and a NUL \\0 here\n')).toBe(true);
    expect(t.lastError).toMatch(/runner-faults\.test\.ts/);
    expect(t.info).toEqual({ error: 'lone \uFFFD surrogate and a NUL \\0 here', errorName: 'Bad\\0Name\uFFFD', attempt: 1 });
  });

  it('a cursor holding a NUL or a lone surrogate does not turn a success into an ERROR; it is stored made storable', async () => {
    const task = await upkeep.createTask(BadCursorProcessor.create({}), { maxAttempts: 1 });
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect([t.status, t.failureReason]).toEqual(['COMPLETED', null]);
    expect(t.info).toEqual({ ok: true });
    expect(t.cursor).toBe('page\\0two\uFFFD');
  });

  it("a 1 MB error message is stored bounded, its start kept, in last_error and info (the database does not refuse it)", async () => {
    const task = await upkeep.createTask(BadCursorProcessor.create({ fail: 'huge: ' }), { maxAttempts: 1 });
    await upkeep.runDue();
    const t = (await upkeep.getTask(task.id))!;
    expect([t.status, t.failureReason]).toEqual(['ERROR', 'processor_error']);
    expect(t.info!.error!.startsWith('huge: xxx')).toBe(true);
    expect(t.info!.error!.length).toBeLessThanOrEqual(8 * 1024);
    expect(t.lastError!.startsWith('huge: xxx')).toBe(true);
    expect(t.runnerInfo!.attempts![0]!.message.length).toBeLessThanOrEqual(1024);
  });

  it('a completion that committed but whose reply was lost is recognised on retry: task:completed published, nothing run twice', async () => {
    const up = new Upkeep({ dataSource, processors });
    const store = up.internals.runnerStore;
    const transient = await realTransientError(dataSource, store.db);
    const original = store.completeMany.bind(store);
    let lostReplies = 1;
    store.completeMany = async (...args) => {
      const written = await original(...args);
      if (written.length && lostReplies-- > 0) throw transient; // committed, then the connection "dropped"
      return written;
    };
    const tasks = await up.createTasks([1, 2, 3].map((n) => ({ processor: SumProcessor.create({ numbers: [n] }) })));
    const completed = new Set<string>();
    up.events.on('task:completed', ({ task }) => completed.add(task.id));
    const runner = up.createRunner({ concurrency: 3, pollIntervalMs: 20 });
    await runner.start();
    await waitFor(async () => tasks.every((t) => completed.has(t.id)), 20_000);
    await runner.stop();
    expect(lostReplies).toBe(0); // the reply of a committed write was lost once
    for (const task of tasks) expect((await up.getTask(task.id))!).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    expect(runner.stats().completed).toBe(3);
    await up.close();
  });

  it('a claim that committed but whose reply was lost: the runner takes its tasks up at once instead of leaving them to expire', async () => {
    const up = new Upkeep({ dataSource, processors });
    const store = up.internals.runnerStore;
    const transient = await realTransientError(dataSource, store.db);
    const original = store.claim.bind(store);
    let lostReplies = 1;
    store.claim = async (...args) => {
      const claimed = await original(...args);
      if (claimed.length && lostReplies-- > 0) throw transient;
      return claimed;
    };
    const tasks = await up.createTasks([1, 2, 3].map((n) => ({ processor: SumProcessor.create({ numbers: [n] }) })));
    // A lease of 60 s: without the take-up the tasks would sit WORKING for a minute.
    const runner = up.createRunner({ concurrency: 3, pollIntervalMs: 20, leaseMs: 60_000 });
    await runner.start();
    await waitFor(async () => (await Promise.all(tasks.map((t) => up.getTask(t.id)))).every((t) => t?.status === 'COMPLETED'), 15_000);
    await runner.stop();
    expect(lostReplies).toBe(0); // the reply of a committed claim was lost once
    for (const task of tasks) expect((await up.getTask(task.id))!).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    await up.close();
  });

  it('a completion write that fails for a passing reason is retried: the tasks end COMPLETED, not ERROR (defect 1)', async () => {
    const up = new Upkeep({ dataSource, processors });
    const store = up.internals.runnerStore;
    const transient = await realTransientError(dataSource, store.db);
    const original = store.completeMany.bind(store);
    let failuresLeft = 6;
    store.completeMany = async (...args) => {
      if (failuresLeft-- > 0) throw transient;
      return original(...args);
    };
    const tasks = await up.createTasks([1, 2, 3, 4].map((n) => ({ processor: SumProcessor.create({ numbers: [n] }) })));
    const errors: string[] = [];
    up.events.on('runner:error', (e) => errors.push(e.during));
    await up.runDue({ concurrency: 4 });
    for (const task of tasks) {
      const t = (await up.getTask(task.id))!;
      expect(t.status).toBe('COMPLETED');
      expect(t.attempts).toBe(1);
    }
    expect(failuresLeft).toBeLessThan(0);
    expect(errors).toContain('complete');
    await up.close();
  });

  it('a value the database refuses fails only that task, with its own reason and a storable message (defect 1)', async () => {
    const up = new Upkeep({ dataSource, processors });
    const store = up.internals.runnerStore;
    const refused = await realRefusedError(dataSource, store.db);
    const original = store.completeMany.bind(store);
    const tasks = await up.createTasks([1, 2, 3].map((n) => ({ processor: SumProcessor.create({ numbers: [n] }) })));
    const bad = tasks[1]!;
    store.completeMany = async (runnerId, items, now) => {
      if (items.some((i) => i.id === bad.id)) throw refused;
      return original(runnerId, items, now);
    };
    await up.runDue({ concurrency: 3 });
    const b = (await up.getTask(bad.id))!;
    expect(b.status).toBe('ERROR');
    expect(b.failureReason).toBe('result_not_serializable');
    expect(b.lastError).toMatch(/^The database refused the result: /);
    for (const t of [tasks[0]!, tasks[2]!]) expect((await up.getTask(t.id))!.status).toBe('COMPLETED');
    await up.close();
  });

  it('write errors are classified by code: connection loss is transient, a refused value is not', async () => {
    const { classifyWriteError } = await import('../../src/store/write-errors');
    const store = upkeep.internals.runnerStore;
    expect(classifyWriteError(await realTransientError(dataSource, store.db), store.db.dialect)).toBe('transient');
    expect(classifyWriteError(await realRefusedError(dataSource, store.db), store.db.dialect)).toBe('refused');
    expect(classifyWriteError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), store.db.dialect)).toBe('transient');
  });

  it('a task whose dependency completes starts at once, without waiting for the next poll (missed wake-up)', async () => {
    const up = new Upkeep({ dataSource, processors });
    const first = await up.createTask(HoldProcessor.create({ label: 'wake-a' }));
    const second = await up.createTask(SumProcessor.create({ numbers: [2] }), { dependsOn: [first] });
    const runner = up.createRunner({ pollIntervalMs: 20_000, listen: false });
    await runner.start();
    await waitFor(() => executions.has(first.id));
    const started = up.events.next('task:started', (e) => e.task.id === second.id);
    const at = Date.now();
    release('wake-a');
    await started;
    expect(Date.now() - at).toBeLessThan(5000);
    await runner.stop();
    await up.close();
  });

  it('a due task whose row a foreign-key check holds during the claim still starts at once (missed wake-up)', async () => {
    const up = new Upkeep({ dataSource, processors });
    const task = await up.createTask(SumProcessor.create({ numbers: [3] }));
    // Another session inserts an event for the task and keeps its transaction open: its
    // foreign-key check share-locks the task's row (PostgreSQL FOR KEY SHARE, InnoDB S lock).
    const locker = await openLocker(dataSource, task.id);
    const store = up.internals.runnerStore;
    const originalClaim = store.claim.bind(store);
    let claims = 0;
    store.claim = async (opts) => {
      const claimed = await originalClaim(opts);
      if (claims++ === 0) await locker.release(); // the lock goes away right after the first claim
      return claimed;
    };
    const started = up.events.next('task:started', (e) => e.task.id === task.id);
    const at = Date.now();
    const runner = up.createRunner({ pollIntervalMs: 20_000, listen: false });
    await runner.start();
    await started;
    expect(Date.now() - at).toBeLessThan(5000);
    await runner.stop();
    await up.close();
  });

  it('a hand-written unknown status is reported once as runner:error and counted in the metrics', async () => {
    const up = new Upkeep({ dataSource, processors });
    const task = await up.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 3_600_000) });
    await dataSource.query(`UPDATE maintenance_tasks SET status = ${p(1)} WHERE id = ${p(2)}`, ['DONE', task.id]);
    const reported: string[] = [];
    up.events.on('runner:error', (e) => {
      if (e.during === 'unknown-status') reported.push(e.error.message);
    });
    const runner = up.createRunner({ pollIntervalMs: 20, rescueIntervalMs: 30 });
    await runner.start();
    await waitFor(() => reported.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    await runner.stop();
    expect(reported).toHaveLength(1);
    expect(reported[0]).toContain(task.id);
    expect(reported[0]).toContain('"DONE"');
    expect((await up.metrics()).statusCounts).toMatchObject({ DONE: 1 });
    await dataSource.query(`DELETE FROM maintenance_tasks WHERE id = ${p(1)}`, [task.id]);
    await up.close();
  });

  it('props with too many keys are refused at createTask with a clear error, and a stored one fails fast as invalid_config (defect 5)', async () => {
    const { PROPS_LIMITS } = await import('../../src/processor/serialization');
    const big: Record<string, string> = {};
    for (let i = 0; i <= PROPS_LIMITS.maxKeysPerObject; i++) big[`k${i}`] = 'v';
    const started = Date.now();
    expect(() => BadTextProcessor.create({ note: 'x', extra: big } as never)).toThrow(/keys/);
    const grown = BadTextProcessor.create({ note: 'x' });
    (grown as unknown as { extra: unknown }).extra = big;
    await expect(upkeep.createTask(grown)).rejects.toThrow(/keys/);
    expect(Date.now() - started).toBeLessThan(5000);
    // A row written by hand with such props: the runner refuses it before class-transformer sees it.
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 3_600_000) });
    await dataSource.query(`UPDATE maintenance_tasks SET processor_json = ${p(1)}, start_at = ${p(2)} WHERE id = ${p(3)}`, [
      JSON.stringify({ numbers: [1], extra: big }),
      dbDate(new Date(Date.now() - 1000)),
      task.id,
    ]);
    const at = Date.now();
    await upkeep.runDue();
    expect(Date.now() - at).toBeLessThan(5000);
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.failureReason).toBe('invalid_config');
    expect(t.lastError).toMatch(/keys/);
  });
});

/** A real error of a lost connection, produced by the database itself. */
async function realTransientError(dataSource: DataSource, db: { query(sql: string): Promise<unknown> }): Promise<unknown> {
  // On a connection of its own, so the pool the runner uses keeps only healthy connections.
  const opts = dataSource.options as { host: string; port: number; username: string; password?: string; database: string };
  if (TEST_DB === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ host: opts.host, port: opts.port, user: opts.username, password: opts.password, database: opts.database });
    client.on('error', () => undefined);
    await client.connect();
    const error = await client.query('SELECT pg_terminate_backend(pg_backend_pid())').then(() => new Error('not terminated'), (e: unknown) => e);
    await client.end().catch(() => undefined);
    return error;
  }
  if (TEST_DB === 'mariadb') {
    const mysql = await import('mysql2/promise');
    const conn = await mysql.createConnection({ host: opts.host, port: opts.port, user: opts.username, password: opts.password, database: opts.database });
    conn.on('error', () => undefined);
    const error = await conn.query('KILL CONNECTION_ID()').then(() => new Error('not killed'), (e: unknown) => e);
    conn.destroy();
    return error;
  }
  void db;
  // SQLite: another connection holds the write lock; a writer that cannot wait gets SQLITE_BUSY.
  type Handle = { exec(sql: string): void; close(): void };
  const { default: Database } = (await import('better-sqlite3' as string)) as { default: new (file: string, options?: { timeout?: number }) => Handle };
  const file = (dataSource.options as { database: string }).database;
  const holder = new Database(file);
  const writer = new Database(file, { timeout: 0 });
  try {
    holder.exec('BEGIN IMMEDIATE');
    try {
      writer.exec('BEGIN IMMEDIATE');
      return new Error('not busy');
    } catch (error) {
      return error;
    } finally {
      holder.exec('ROLLBACK');
    }
  } finally {
    writer.close();
    holder.close();
  }
}

/** A real refusal of one value, produced by the database itself. */
async function realRefusedError(_dataSource: DataSource, db: { query(sql: string, params?: unknown[]): Promise<unknown> }): Promise<unknown> {
  const refuse = (sql: string, params: unknown[] = []) => db.query(sql, params).then(() => new Error('not refused'), (e: unknown) => e);
  if (TEST_DB === 'postgres') return refuse('SELECT CAST(? AS jsonb)', ['"\\u0000"']);
  if (TEST_DB === 'mariadb') return refuse("INSERT INTO `task_events` (`event_type`, `timestamp`, `details`) VALUES ('x', NOW(3), ?)", ['not json']);
  return refuse('SELECT zeroblob(2000000000)');
}

/** A session that inserted a `task_events` row for `taskId` in a transaction it keeps open (SQLite: nothing to hold). */
async function openLocker(dataSource: DataSource, taskId: string): Promise<{ release(): Promise<void> }> {
  const opts = dataSource.options as { host: string; port: number; username: string; password?: string; database: string };
  if (TEST_DB === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ host: opts.host, port: opts.port, user: opts.username, password: opts.password, database: opts.database });
    await client.connect();
    await client.query('BEGIN');
    await client.query(`INSERT INTO task_events (task_id, event_type, "timestamp") VALUES ($1, 'lock', now())`, [taskId]);
    return { release: async () => void (await client.query('COMMIT'), await client.end()) };
  }
  if (TEST_DB === 'mariadb') {
    const mysql = await import('mysql2/promise');
    const conn = await mysql.createConnection({ host: opts.host, port: opts.port, user: opts.username, password: opts.password, database: opts.database });
    await conn.query('START TRANSACTION');
    await conn.query("INSERT INTO task_events (task_id, event_type, `timestamp`) VALUES (?, 'lock', NOW(3))", [taskId]);
    return { release: async () => void (await conn.query('COMMIT'), await conn.end()) };
  }
  return { release: async () => undefined };
}
