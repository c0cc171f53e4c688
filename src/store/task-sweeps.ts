import { TASK_TRANSITIONS } from '../core/status';
import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import { chunks, DEP_TABLE } from './store-util';
import { rowToTask } from './task-row';
import type { TaskPatch, TaskStore } from './task-store';

// Sweeps over tasks whose runner, dependency or type went away: expired leases, stuck
// tasks, dependents of failures, unknown types and hand-written statuses.

/** WORKING tasks whose lease ran out before `now` (their runner died or hung). */
export async function findExpiredLeases(store: TaskStore, now: Date, limit: number): Promise<MaintenanceTask[]> {
  const c = store.codec;
  const { rows } = await store.db.query(
    `SELECT * FROM ${store.table()} WHERE ${c.id('status')} = 'WORKING' AND ${c.id('lease_expires_at')} < ? ORDER BY ${c.id('lease_expires_at')} LIMIT ?`,
    [c.date(now), limit],
  );
  return rows.map((row) => rowToTask(row, c));
}

/**
 * WORKING tasks an admin may reset: lease expired or missing, or (with `startedBefore`)
 * started before that time whatever their lease.
 */
export async function findStuck(store: TaskStore, now: Date, startedBefore: Date | undefined, limit: number): Promise<MaintenanceTask[]> {
  const c = store.codec;
  const cond = startedBefore
    ? `(${c.id('started_at')} IS NULL OR ${c.id('started_at')} < ?)`
    : `(${c.id('lease_expires_at')} IS NULL OR ${c.id('lease_expires_at')} < ?)`;
  const { rows } = await store.db.query(`SELECT * FROM ${store.table()} WHERE ${c.id('status')} = 'WORKING' AND ${cond} LIMIT ?`, [
    c.date(startedBefore ?? now),
    limit,
  ]);
  return rows.map((row) => rowToTask(row, c));
}

/** WORKING tasks `runnerId` holds (after a claim whose reply was lost, the runner may not know them). */
export async function findHeldBy(store: TaskStore, runnerId: string, limit: number): Promise<MaintenanceTask[]> {
  const c = store.codec;
  const { rows } = await store.db.query(`SELECT * FROM ${store.table()} WHERE ${c.id('status')} = 'WORKING' AND ${c.id('locked_by')} = ? LIMIT ?`, [runnerId, limit]);
  return rows.map((row) => rowToTask(row, c));
}

/** Conditional rescue of one expired task; true when this caller won it. */
export async function rescue(store: TaskStore, task: MaintenanceTask, to: 'PENDING' | 'ERROR' | 'CANCELLED' | 'PAUSED', patch: TaskPatch, now: Date): Promise<boolean> {
  // Guarded by the old holder: if a heartbeat renewed the lease meanwhile, the holder is
  // alive; if another rescuer won, locked_by is already NULL. Either way this one loses.
  return store.transition(task.id, to, { ...patch, releaseLease: true, finished: to === 'ERROR' || to === 'CANCELLED' }, now, {
    from: ['WORKING'],
    lockedBy: task.lockedBy ?? undefined,
    leaseExpiredBefore: now,
  });
}

/**
 * Cancels (DEPENDENCY_FAILED) every unfinished task that waits for one of `failedIds`,
 * and their dependents in turn. Returns the ids cancelled.
 */
export async function cancelDependents(store: TaskStore, failedIds: readonly string[], now: Date): Promise<string[]> {
  const c = store.codec;
  const cancelled: string[] = [];
  let frontier = [...failedIds];
  while (frontier.length) {
    const next: string[] = [];
    for (const part of chunks(frontier)) {
      const { rows } = await store.db.query<{ task_id: string }>(
        `SELECT d.${c.id('task_id')} FROM ${store.table(DEP_TABLE)} d JOIN ${store.table()} t ON t.${c.id('id')} = d.${c.id('task_id')}
         WHERE d.${c.id('depends_on_id')} IN ${c.list(part.length)} AND t.${c.id('status')} IN ('PENDING', 'INACTIVE', 'PAUSED')`,
        part,
      );
      for (const { task_id: id } of rows) {
        const ok = await store.transition(
          id,
          'CANCELLED',
          {
            failureReason: 'dependency_failed',
            lastError: 'A task this one depends on failed or was cancelled',
            info: { error: 'A task this one depends on failed or was cancelled', errorName: 'DependencyFailed', errorCode: 'DEPENDENCY_FAILED', attempt: 0 },
            finished: true,
          },
          now,
          { from: ['PENDING', 'INACTIVE', 'PAUSED'] },
        );
        if (ok) {
          cancelled.push(id);
          next.push(id);
        }
      }
    }
    frontier = next;
  }
  return cancelled;
}

/**
 * Fails PENDING tasks of types none of `knownTypes` has been due since before `dueBefore`
 * (no runner that knows the type came by). Returns them.
 */
export async function failUnknownTypes(store: TaskStore, knownTypes: readonly string[], dueBefore: Date, now: Date, limit: number): Promise<MaintenanceTask[]> {
  const c = store.codec;
  const notIn = knownTypes.length ? `AND t.${c.id('processor_type')} NOT IN ${c.list(knownTypes.length)}` : '';
  // Only tasks that could have run (not waiting on dependencies), of a type no runner has
  // started any task of since `dueBefore` and none is running now: a runner that knows the
  // type would have.
  const { rows } = await store.db.query(
    `SELECT t.* FROM ${store.table()} t WHERE t.${c.id('status')} = 'PENDING' AND t.${c.id('start_at')} < ? ${notIn}
       AND (t.${c.id('depends_on_count')} = 0 OR NOT EXISTS (
         SELECT 1 FROM ${store.table(DEP_TABLE)} d JOIN ${store.table()} p ON p.${c.id('id')} = d.${c.id('depends_on_id')}
         WHERE d.${c.id('task_id')} = t.${c.id('id')} AND p.${c.id('status')} <> 'COMPLETED'))
       AND NOT EXISTS (SELECT 1 FROM ${store.table()} o WHERE o.${c.id('processor_type')} = t.${c.id('processor_type')}
         AND (o.${c.id('started_at')} >= ? OR o.${c.id('status')} = 'WORKING'))
     LIMIT ?`,
    [c.date(dueBefore), ...knownTypes, c.date(dueBefore), limit],
  );
  const failed: MaintenanceTask[] = [];
  for (const task of rows.map((row) => rowToTask(row, c))) {
    const message = `No runner knows processor type "${task.processorType}" (due since ${task.startAt.toISOString()})`;
    const info = { error: message, errorName: 'UnknownProcessorError', errorCode: 'UNKNOWN_PROCESSOR', attempt: task.attempts };
    const ok = await store.transition(task.id, 'ERROR', { info, failureReason: 'unknown_processor', lastError: message, finished: true }, now, { from: ['PENDING'] });
    if (ok) failed.push(Object.assign(task, { status: 'ERROR', info, failureReason: 'unknown_processor', lastError: message }));
  }
  return failed;
}

/** Ids of unfinished tasks waiting on a dependency that already failed (a race sweep). */
export async function findBlockedByFailure(store: TaskStore, limit: number): Promise<string[]> {
  const c = store.codec;
  const { rows } = await store.db.query<{ id: string }>(
    `SELECT DISTINCT p.${c.id('id')} FROM ${store.table()} p JOIN ${store.table(DEP_TABLE)} d ON d.${c.id('depends_on_id')} = p.${c.id('id')}
     JOIN ${store.table()} t ON t.${c.id('id')} = d.${c.id('task_id')}
     WHERE p.${c.id('status')} IN ('ERROR', 'CANCELLED') AND t.${c.id('status')} IN ('PENDING', 'INACTIVE', 'PAUSED') LIMIT ?`,
    [limit],
  );
  return rows.map((r) => r.id);
}

/** Tasks whose status is none of upkeep's (written by hand). */
export async function findUnknownStatuses(store: TaskStore, limit: number): Promise<Array<{ id: string; status: string }>> {
  const c = store.codec;
  const known = Object.keys(TASK_TRANSITIONS);
  const { rows } = await store.db.query<{ id: string; status: string }>(
    `SELECT ${c.id('id')}, ${c.id('status')} FROM ${store.table()} WHERE ${c.id('status')} NOT IN ${c.list(known.length)} LIMIT ?`,
    [...known, limit],
  );
  return rows;
}
