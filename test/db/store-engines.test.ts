import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { engineOf } from '../../src/store/engines';
import { insertEvents } from '../../src/store/event-store';
import { TaskStore, type NewTaskRow } from '../../src/store/task-store';
import { classifyWriteError, isLockConflict } from '../../src/store/write-errors';
import { databaseProblem, openTestDataSource, TEST_DB } from '../helpers/db';

const problem = await databaseProblem();

// One statement of each kind the engine of this database writes, run for real.
describe.skipIf(problem)(`store engine of ${TEST_DB}: one statement of each kind`, () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let store: TaskStore;
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const row = (over: Partial<NewTaskRow> = {}): NewTaskRow => ({
    id: randomUUID(), status: 'PENDING', processorType: 'engine-test', processorJson: '{}', delay: 0, startAt: new Date(now.getTime() - 1000),
    priority: 0, maxAttempts: 3, timeoutMs: null, uniqueKey: null, dependsOn: [], estimatedMemoryMb: null, assignedDevice: null, ...over,
  });

  beforeAll(async () => {
    ({ dataSource, close } = await openTestDataSource());
    store = new TaskStore(dataSource);
  });
  afterAll(async () => {
    await close?.();
  });

  it('is the engine of this dialect', () => {
    expect(store.engine.dialect).toBe(store.db.dialect);
    expect(engineOf(store.db)).toBe(store.engine);
  });

  it('insertTasks: skips a row whose unique key exists and returns the existing task', async () => {
    const first = row({ uniqueKey: `engine-${randomUUID()}`, info: { a: 1 } });
    const [a] = await store.insertTasks([first], now);
    expect(a).toMatchObject({ created: true, task: { id: first.id, info: { a: 1 } } });
    const again = row({ uniqueKey: first.uniqueKey });
    const [b, c] = await store.insertTasks([again, row()], now);
    expect(b).toMatchObject({ created: false, task: { id: first.id } });
    expect(c!.created).toBe(true);
    expect(await store.getTask(again.id)).toBeNull();
  });

  it('claim, renewLeases (heartbeat) and completeBatch: WORKING under the runner, then COMPLETED once', async () => {
    const type = `engine-claim-${randomUUID()}`;
    const rows = [row({ processorType: type, priority: 1 }), row({ processorType: type })];
    await store.insertTasks(rows, now);
    const claimed = await store.claim({ runnerId: 'r1', types: [type], limit: 5, leaseMs: 1000, now });
    expect(claimed.map((t) => t.id)).toEqual(rows.map((r) => r.id));
    expect(claimed.every((t) => t.status === 'WORKING' && t.lockedBy === 'r1' && t.attempts === 1)).toBe(true);
    expect(await store.claim({ runnerId: 'r2', types: [type], limit: 5, leaseMs: 1000, now })).toEqual([]);

    const later = new Date(now.getTime() + 5000);
    const held = await store.heartbeat('r1', claimed.map((t) => t.id), 60_000, later);
    expect(held.map((h) => h.id).sort()).toEqual(claimed.map((t) => t.id).sort());
    expect((await store.getTask(claimed[0]!.id))!.leaseExpiresAt!.getTime()).toBe(later.getTime() + 60_000);
    expect(await store.heartbeat('r2', claimed.map((t) => t.id), 60_000, later)).toEqual([]);

    const items = claimed.map((t) => ({ id: t.id, version: t.version, info: { done: t.id }, actualMemoryMb: 7, cleanupDone: true, progressDone: null, cursor: t === claimed[1] ? 'last-item' : null }));
    expect((await store.completeMany('r2', items, later)).sort()).toEqual([]);
    expect((await store.completeMany('r1', items, later)).sort()).toEqual(claimed.map((t) => t.id).sort());
    expect(await store.completeMany('r1', items, later)).toEqual([]);
    const done = (await store.getTask(claimed[1]!.id))!;
    expect(done).toMatchObject({ status: 'COMPLETED', info: { done: done.id }, actualMemoryMb: 7, resourceCleanupCompleted: true, lockedBy: null, leaseExpiresAt: null, cursor: 'last-item' });
    // A null cursor keeps what was stored.
    expect((await store.getTask(claimed[0]!.id))!.cursor).toBeNull();
  });

  it('handBack: RETURNING (or the read-back) tells where the task went; the boolean literal is stored', async () => {
    const type = `engine-hand-${randomUUID()}`;
    await store.insertTasks([row({ processorType: type })], now);
    const [task] = await store.claim({ runnerId: 'r1', types: [type], limit: 1, leaseMs: 1000, now });
    await store.requestControl(task!.id, 'pause', now);
    const back = await store.handBack('r1', [task!.id], now, { cleanupDone: true });
    expect([...back]).toEqual([[task!.id, 'PAUSED']]);
    expect((await store.getTask(task!.id))!.resourceCleanupCompleted).toBe(true);
  });

  it('param casts: a JSON patch goes through transition', async () => {
    const { task } = (await store.insertTasks([row({ status: 'INACTIVE' })], now))[0]!;
    expect(await store.transition(task.id, 'PENDING', { runnerInfo: { placement: { device: 'cpu', reason: 'test' } } }, now)).toBe(true);
    expect((await store.getTask(task.id))!.runnerInfo).toEqual({ placement: { device: 'cpu', reason: 'test' } });
  });

  it('insertEvents and deleteBatch (retention): rows in, then pruned in batches', async () => {
    const { task } = (await store.insertTasks([row()], now))[0]!;
    const old = new Date(now.getTime() - 86_400_000 * 400);
    await insertEvents(store.db, [1, 2, 3].map((n) => ({ taskId: task.id, eventType: `engine-${n}`, timestamp: old, details: { n } })));
    const before = new Date(old.getTime() + 1000);
    expect(await store.pruneBatch('events', before, 2)).toBe(2);
    expect(await store.pruneBatch('events', before, 2)).toBe(1);
    expect(await store.pruneBatch('events', before, 2)).toBe(0);
  });

  it('notifyTasks runs (a NOTIFY on PostgreSQL, nothing elsewhere)', async () => {
    await expect(store.notify()).resolves.toBeUndefined();
  });

  it('writeErrorKind: a value the database refuses is classified "refused", and is no lock conflict', async () => {
    const c = store.codec;
    const { task } = (await store.insertTasks([row()], now))[0]!;
    const fail = (sql: string, params: unknown[]) => store.db.query(sql, params).then(() => null, (e: unknown) => e);
    const error =
      TEST_DB === 'sqlite'
        ? // SQLite has no JSON type to refuse text with: a NOT NULL column refuses NULL instead.
          await fail(`UPDATE ${store.table()} SET ${c.id('status')} = NULL WHERE ${c.id('id')} = ?`, [task.id])
        : // A JSON column given text that is no JSON.
          await fail(`UPDATE ${store.table()} SET ${c.id('info')} = ${store.engine.param('jsonb')} WHERE ${c.id('id')} = ?`, ['{not json', task.id]);
    expect(error).not.toBeNull();
    expect(classifyWriteError(error, store.db.dialect)).toBe('refused');
    expect(isLockConflict(error, store.db.dialect)).toBe(false);
  });
});
