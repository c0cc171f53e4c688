import type { TaskStatus } from '../core/status';
import type { MaintenanceTask, TaskRunnerInfo } from '../entities/maintenance-task.entity';
import { engineOf } from './engines';
import type { Executor } from './executor';
import { unindexed } from './store-util';
import { rowToTask } from './task-row';

/** Filters of the admin task list; every value arrives validated. @internal */
export interface AdminTaskFilter {
  status?: readonly TaskStatus[];
  type?: readonly string[];
  device?: string;
  uniqueKey?: string;
  /** Created at or after. */
  from?: Date;
  /** Created before. */
  to?: Date;
  finishedFrom?: Date;
  finishedTo?: Date;
  /** Id prefix (hex digits and dashes only). */
  idPrefix?: string;
}

/** Position after the last row of a page: ordering is (created_at DESC, id DESC). @internal */
export interface AdminTaskCursor {
  createdAt: Date;
  id: string;
}

function where(db: Executor, filter: AdminTaskFilter, cursor?: AdminTaskCursor): { sql: string; params: unknown[] } {
  const c = db.codec;
  const parts: string[] = [];
  const params: unknown[] = [];
  if (filter.status?.length) (parts.push(`${c.id('status')} IN ${c.list(filter.status.length)}`), params.push(...filter.status));
  if (filter.type?.length) (parts.push(`${c.id('processor_type')} IN ${c.list(filter.type.length)}`), params.push(...filter.type));
  if (filter.device !== undefined) (parts.push(`${c.id('assigned_device')} = ?`), params.push(filter.device));
  if (filter.uniqueKey !== undefined) (parts.push(`${c.id('unique_key')} = ?`), params.push(filter.uniqueKey));
  if (filter.from) (parts.push(`${c.id('created_at')} >= ?`), params.push(c.date(filter.from)));
  if (filter.to) (parts.push(`${c.id('created_at')} < ?`), params.push(c.date(filter.to)));
  if (filter.finishedFrom) (parts.push(`${c.id('finished_at')} >= ?`), params.push(c.date(filter.finishedFrom)));
  if (filter.finishedTo) (parts.push(`${c.id('finished_at')} < ?`), params.push(c.date(filter.finishedTo)));
  // The prefix holds only [0-9a-fA-F-] (checked by the caller), so it has no LIKE wildcards.
  if (filter.idPrefix) (parts.push(`${c.id('id')} LIKE ?`), params.push(`${filter.idPrefix.toLowerCase()}%`));
  if (cursor) {
    const before = engineOf(db).rowBefore(c.id('created_at'), c.id('id'), c.date(cursor.createdAt), cursor.id);
    parts.push(before.sql);
    params.push(...before.params);
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** One page of tasks, newest first, `limit + 1` rows read to know whether more follow. @internal */
export async function listTasksPage(db: Executor, filter: AdminTaskFilter, cursor: AdminTaskCursor | undefined, limit: number): Promise<{ tasks: MaintenanceTask[]; more: boolean }> {
  const c = db.codec;
  const w = where(db, filter, cursor);
  const { rows } = await db.query(
    `SELECT * FROM ${c.id('maintenance_tasks')} ${w.sql} ORDER BY ${c.id('created_at')} DESC, ${c.id('id')} DESC LIMIT ?`,
    [...w.params, limit + 1],
  );
  const tasks = rows.map((row) => rowToTask(row, c));
  const more = tasks.length > limit;
  return { tasks: more ? tasks.slice(0, limit) : tasks, more };
}

/** Tasks matching the filter, counted up to `cap + 1` (so a huge table costs a bounded scan). @internal */
export async function countTasksCapped(db: Executor, filter: AdminTaskFilter, cap: number): Promise<number> {
  const c = db.codec;
  const w = where(db, filter);
  const { rows } = await db.query<{ n: unknown }>(
    `SELECT COUNT(*) AS ${c.id('n')} FROM (SELECT 1 AS ${c.id('one')} FROM ${c.id('maintenance_tasks')} ${w.sql} LIMIT ?) capped`,
    [...w.params, cap + 1],
  );
  return c.readInt(rows[0]?.n) ?? 0;
}

/** Ids of tasks matching the filter, newest first, at most `limit`. @internal */
export async function idsMatching(db: Executor, filter: AdminTaskFilter, limit: number): Promise<string[]> {
  const c = db.codec;
  const w = where(db, filter);
  const { rows } = await db.query<{ id: string }>(
    `SELECT ${c.id('id')} AS ${c.id('id')} FROM ${c.id('maintenance_tasks')} ${w.sql} ORDER BY ${c.id('created_at')} DESC, ${c.id('id')} DESC LIMIT ?`,
    [...w.params, limit],
  );
  return rows.map((r) => r.id);
}

/**
 * Makes an INACTIVE or PAUSED task due now (the seed's `POST /tasks/{id}/start`), optionally
 * pinned to a device through `runner_info.placement` (`info` is left as it is); guarded by the
 * version read, so a concurrent change wins. True when this call changed it. @internal
 */
export async function startTaskNow(db: Executor, task: MaintenanceTask, now: Date, device: string | undefined): Promise<boolean> {
  const c = db.codec;
  const sets = [`${c.id('status')} = 'PENDING'`, `${c.id('start_at')} = ?`, `${c.id('delay')} = 0`, `${c.id('updated_at')} = ?`, `${c.id('version')} = ${c.id('version')} + 1`];
  const params: unknown[] = [c.date(now), c.date(now)];
  if (device !== undefined) {
    const runnerInfo: TaskRunnerInfo = { ...(task.runnerInfo ?? {}), placement: { device, reason: 'admin_pin', strict: true } };
    sets.push(`${c.id('runner_info')} = ${engineOf(db).param('jsonb')}`, `${c.id('assigned_device')} = ?`);
    params.push(JSON.stringify(runnerInfo), device);
  }
  const { affected } = await db.query(
    `UPDATE ${c.id('maintenance_tasks')} SET ${sets.join(', ')} WHERE ${c.id('id')} = ? AND ${unindexed(c, 'status')} IN ('INACTIVE', 'PAUSED') AND ${c.id('version')} = ?`,
    [...params, task.id, task.version],
  );
  return affected > 0;
}

/**
 * The seed's manual reset of one stuck WORKING task: back to PENDING, lease released, due
 * now. Without `force` only a task whose lease expired (or is missing) is reset; the version
 * guard makes a runner that finished meanwhile win, and the bumped version makes a stale
 * runner's later write a no-op. @internal
 */
export async function resetWorkingTask(db: Executor, task: MaintenanceTask, now: Date, force: boolean): Promise<boolean> {
  const c = db.codec;
  const lease = force ? '' : ` AND (${c.id('lease_expires_at')} IS NULL OR ${c.id('lease_expires_at')} < ?)`;
  const { affected } = await db.query(
    `UPDATE ${c.id('maintenance_tasks')} SET ${c.id('status')} = 'PENDING', ${c.id('locked_by')} = NULL, ${c.id('lease_expires_at')} = NULL,
       ${c.id('control')} = NULL, ${c.id('start_at')} = ?, ${c.id('last_error')} = 'Reset by an admin', ${c.id('updated_at')} = ?,
       ${c.id('version')} = ${c.id('version')} + 1
     WHERE ${c.id('id')} = ? AND ${unindexed(c, 'status')} = 'WORKING' AND ${c.id('version')} = ?${lease}`,
    [c.date(now), c.date(now), task.id, task.version, ...(force ? [] : [c.date(now)])],
  );
  return affected > 0;
}

/**
 * Progress of running tasks changed after `since` (the runner writes progress at most about
 * once a second, with `updated_at`): the cross-process source of progress events. @internal
 */
export async function progressChangedSince(db: Executor, since: Date, taskId: string | undefined, limit = 200): Promise<Array<{ id: string; type: string; done: number | null; total: number | null; updatedAt: Date }>> {
  const c = db.codec;
  const { rows } = await db.query(
    `SELECT ${c.id('id')} AS ${c.id('id')}, ${c.id('processor_type')} AS ${c.id('pt')}, ${c.id('progress_done')} AS ${c.id('d')}, ${c.id('progress_total')} AS ${c.id('t')}, ${c.id('updated_at')} AS ${c.id('u')}
     FROM ${c.id('maintenance_tasks')} WHERE ${c.id('status')} = 'WORKING' AND ${c.id('progress_done')} IS NOT NULL AND ${c.id('updated_at')} > ?${taskId ? ` AND ${c.id('id')} = ?` : ''}
     ORDER BY ${c.id('updated_at')} LIMIT ?`,
    [c.date(since), ...(taskId ? [taskId] : []), limit],
  );
  return rows.map((r) => ({ id: r.id as string, type: r.pt as string, done: c.readInt(r.d), total: c.readInt(r.t), updatedAt: c.readDate(r.u)! }));
}

/** Ids a task waits for, and ids of the tasks that wait for it (at most `limit` each, by id). @internal */
export async function dependenciesOf(db: Executor, id: string, limit = 100): Promise<{ dependsOn: string[]; dependents: string[] }> {
  const c = db.codec;
  const table = c.id('maintenance_task_dependencies');
  const ids = async (select: string, where: string) => {
    const { rows } = await db.query<{ id: string }>(`SELECT ${c.id(select)} AS ${c.id('id')} FROM ${table} WHERE ${c.id(where)} = ? ORDER BY ${c.id(select)} LIMIT ?`, [id, limit]);
    return rows.map((r) => r.id);
  };
  const dependsOn = await ids('depends_on_id', 'task_id');
  const dependents = await ids('task_id', 'depends_on_id');
  return { dependsOn, dependents };
}
