import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Upkeep, createMaintenanceTask, type UpkeepEventMap } from '../../src';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';
import { SumProcessor, MisbehavingProcessor, DatesProcessor, Window } from '../helpers/processors';

const problem = await databaseProblem();

describe.skipIf(problem)(`end to end on ${TEST_DB}`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let upkeep: Upkeep;

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    upkeep = new Upkeep({ dataSource, processors: [SumProcessor, MisbehavingProcessor, DatesProcessor], settings: { retry: { maxAttempts: 1 } } });
  });
  afterAll(async () => {
    await upkeep?.close();
    await close?.();
  });

  it('creates, runs and completes tasks, recording events', async () => {
    const seen: Array<keyof UpkeepEventMap> = [];
    for (const e of ['task:created', 'task:started', 'task:completed', 'runner:started', 'runner:stopped'] as const) upkeep.events.on(e, () => seen.push(e));
    const a = await upkeep.createTask(SumProcessor.create({ numbers: [1, 2, 3] }));
    const b = await upkeep.createTask(SumProcessor.create({ numbers: [10, 20] }), { priority: 5 });
    expect(a.status).toBe('PENDING');
    const summary = await upkeep.runDue();
    expect(summary.completed).toBeGreaterThanOrEqual(2);
    const ta = await upkeep.getTask(a.id);
    const tb = await upkeep.getTask(b.id);
    expect(ta!.status).toBe('COMPLETED');
    expect(ta!.info).toEqual({ sum: 6 });
    expect(tb!.info).toEqual({ sum: 30 });
    expect(ta!.attempts).toBe(1);
    expect(ta!.finishedAt).toBeInstanceOf(Date);
    expect(ta!.lockedBy).toBeNull();
    expect(seen).toContain('task:created');
    expect(seen).toContain('task:completed');
    const rows = await dataSource.query(`SELECT event_type FROM task_events WHERE task_id = ${TEST_DB === 'postgres' ? '$1' : '?'} ORDER BY id`, [a.id]);
    expect(rows.map((r: { event_type: string }) => r.event_type)).toEqual(['created', 'started', 'completed']);
  });

  it('a listener that throws (or rejects) never breaks a task; the error is reported as runner:error', async () => {
    const errors: string[] = [];
    const onError = (e: { during: string }) => errors.push(e.during);
    const boom = () => {
      throw new Error('listener bug');
    };
    const rejecting = async () => {
      throw new Error('async listener bug');
    };
    upkeep.events.on('runner:error', onError);
    upkeep.events.on('task:started', boom);
    upkeep.events.on('task:completed', rejecting);
    let after = 0;
    const counter = () => after++;
    upkeep.events.on('task:started', counter); // listeners after the throwing one still run
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [2, 3] }));
    await upkeep.runDue();
    await new Promise((r) => setTimeout(r, 20));
    upkeep.events.off('task:started', boom).off('task:completed', rejecting).off('task:started', counter).off('runner:error', onError);
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('COMPLETED');
    expect(t.info).toEqual({ sum: 5 });
    expect(after).toBeGreaterThanOrEqual(1);
    expect(errors).toContain('listener:task:started');
    expect(errors).toContain('listener:task:completed');
  });

  it('persistEvents as a list stores only those event types', async () => {
    const selective = new Upkeep({ dataSource, processors: [SumProcessor, MisbehavingProcessor], settings: { persistEvents: ['failed'], retry: { maxAttempts: 1 } } });
    const ok = await selective.createTask(SumProcessor.create({ numbers: [1] }));
    const bad = await selective.createTask(MisbehavingProcessor.create({ mode: 'throw' }));
    await selective.runDue();
    await selective.close();
    const p = TEST_DB === 'postgres' ? ['$1', '$2'] : ['?', '?'];
    const rows: Array<{ task_id: string; event_type: string }> = await dataSource.query(
      `SELECT task_id, event_type FROM task_events WHERE task_id IN (${p[0]}, ${p[1]}) ORDER BY id`,
      [ok.id, bad.id],
    );
    expect(rows).toEqual([{ task_id: bad.id, event_type: 'failed' }]);
  });

  it('round-trips dates and nested objects through processor_json', async () => {
    const window = Object.assign(new Window(), { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-31T00:00:00Z') });
    const task = await upkeep.createTask(DatesProcessor.create({ window }));
    await upkeep.runDue();
    expect((await upkeep.getTask(task.id))!.info).toEqual({ days: 30 });
  });

  it('the plain createMaintenanceTask function stores a task a runner then runs', async () => {
    const startAt = new Date(Date.now() - 1000);
    const task = await createMaintenanceTask(dataSource, SumProcessor.create({ numbers: [4] }), { startAt });
    expect(task.startAt.getTime()).toBe(startAt.getTime());
    await upkeep.runDue();
    expect((await upkeep.getTask(task.id))!.status).toBe('COMPLETED');
  });

  it('does not run tasks scheduled in the future, nor INACTIVE ones', async () => {
    const later = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 60_000) });
    const inactive = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { inactive: true });
    await upkeep.runDue();
    expect((await upkeep.getTask(later.id))!.status).toBe('PENDING');
    expect((await upkeep.getTask(inactive.id))!.status).toBe('INACTIVE');
    await upkeep.activateTask(inactive.id);
    await upkeep.runDue();
    expect((await upkeep.getTask(inactive.id))!.status).toBe('COMPLETED');
  });

  it('bulk-creates tasks in input order', async () => {
    const tasks = await upkeep.createTasks(Array.from({ length: 120 }, (_, i) => ({ processor: SumProcessor.create({ numbers: [i] }) })));
    expect(tasks).toHaveLength(120);
    expect(new Set(tasks.map((t) => t.id)).size).toBe(120);
    expect(JSON.parse(tasks[7]!.processorJson)).toEqual({ numbers: [7] });
    const summary = await upkeep.runDue({ concurrency: 8 });
    expect(summary.completed).toBeGreaterThanOrEqual(120);
  });

  it.each([
    ['throw', 'processor_error', 'boom'],
    ['throw-string', 'processor_error', 'non-Error value: "a plain string"'],
    ['throw-undefined', 'processor_error', 'non-Error value: undefined'],
    ['bigint', 'result_not_serializable', 'bigint'],
    ['cycle', 'result_not_serializable', 'cycle'],
    ['function', 'result_not_serializable', 'function'],
    ['unrecoverable', 'processor_error', 'do not retry me'],
  ])('mode %s ends in ERROR with %s and the runner goes on', async (mode, reason, message) => {
    const bad = await upkeep.createTask(MisbehavingProcessor.create({ mode: mode as 'throw' }));
    const good = await upkeep.createTask(SumProcessor.create({ numbers: [2, 2] }));
    await upkeep.runDue();
    const failed = (await upkeep.getTask(bad.id))!;
    expect(failed.status).toBe('ERROR');
    expect(failed.failureReason).toBe(reason);
    expect(failed.info!.error).toContain(message);
    expect(failed.lastError).toContain(message);
    expect((await upkeep.getTask(good.id))!.status).toBe('COMPLETED');
  });

  it('a hanging processor times out (signal aborted) and a processor ignoring its signal does not block the runner', async () => {
    let aborted: unknown;
    upkeep.events.once('task:failed', () => undefined);
    const hang = await upkeep.createTask(MisbehavingProcessor.create({ mode: 'hang' }), { timeoutMs: 200 });
    const ignore = await upkeep.createTask(MisbehavingProcessor.create({ mode: 'hang-ignoring-signal' }), { timeoutMs: 200 });
    const good = await upkeep.createTask(SumProcessor.create({ numbers: [1] }));
    const started = Date.now();
    await upkeep.runDue();
    aborted = (await upkeep.getTask(hang.id))!;
    expect(Date.now() - started).toBeLessThan(5000);
    expect((aborted as { status: string }).status).toBe('ERROR');
    expect((await upkeep.getTask(hang.id))!.failureReason).toBe('timeout');
    expect((await upkeep.getTask(ignore.id))!.failureReason).toBe('timeout');
    expect((await upkeep.getTask(good.id))!.status).toBe('COMPLETED');
  });

  it('a processor busy on database calls still times out at its next safe point (even on a synchronous driver)', async () => {
    const task = await upkeep.createTask(MisbehavingProcessor.create({ mode: 'busy-db-loop' }), { timeoutMs: 200 });
    const started = Date.now();
    await upkeep.runDue();
    expect(Date.now() - started).toBeLessThan(5000);
    const t = (await upkeep.getTask(task.id))!;
    expect(t.status).toBe('ERROR');
    expect(t.failureReason).toBe('timeout');
  });

  it('a row with an unknown processor type stays PENDING for runners that do not know it', async () => {
    const task = await upkeep.createTask(SumProcessor.create({ numbers: [1] }));
    const q = TEST_DB === 'postgres' ? '$1' : '?';
    await dataSource.query(`UPDATE maintenance_tasks SET processor_type = 'no-such-type' WHERE id = ${q}`, [task.id]);
    await upkeep.runDue();
    expect((await upkeep.getTask(task.id))!.status).toBe('PENDING');
  });

  it('corrupted processor_json and JSON that no longer validates end in ERROR with invalid_config; other rows are untouched', async () => {
    const q = TEST_DB === 'postgres' ? ['$1', '$2'] : ['?', '?'];
    const corrupt = await upkeep.createTask(SumProcessor.create({ numbers: [1] }));
    const invalid = await upkeep.createTask(SumProcessor.create({ numbers: [1] }));
    const bystander = await upkeep.createTask(SumProcessor.create({ numbers: [1] }), { startAt: new Date(Date.now() + 3_600_000) });
    const before = await upkeep.getTask(bystander.id);
    await dataSource.query(`UPDATE maintenance_tasks SET processor_json = ${q[0]} WHERE id = ${q[1]}`, ['{"numbers": [1, 2', corrupt.id]);
    await dataSource.query(`UPDATE maintenance_tasks SET processor_json = ${q[0]} WHERE id = ${q[1]}`, ['{"numbers": "not an array"}', invalid.id]);
    await upkeep.runDue();
    const c = (await upkeep.getTask(corrupt.id))!;
    expect(c.status).toBe('ERROR');
    expect(c.failureReason).toBe('invalid_config');
    expect(c.info!.error).toMatch(/not valid JSON/);
    expect(c.processorJson).toBe('{"numbers": [1, 2'); // the stored input is kept for inspection
    const i = (await upkeep.getTask(invalid.id))!;
    expect(i.failureReason).toBe('invalid_config');
    expect(i.info!.error).toMatch(/numbers/);
    const after = await upkeep.getTask(bystander.id);
    expect(after).toEqual(before);
  });
});
