import type { DataSource } from 'typeorm';
import { sourcesOf, type TaskStatus } from '../core/status';
import { storableText } from '../core/storable-text';
import type { MaintenanceTask, TaskInfo } from '../entities/maintenance-task.entity';
import { executorFor, type Executor } from './executor';
import { engineOf, type ParamType, type StoreEngine } from './engines';
import { rowToTask } from './task-row';
import { chunks, DEP_TABLE, TASK_TABLE, unindexed } from './store-util';
import { insertTasks } from './task-insert';
import { completeIn, completeMany, type CompletionRow } from './task-complete';
import * as sweeps from './task-sweeps';

export type { NewTaskRow, TaskPatch, TransitionGuard } from './task-store-types';
import type { NewTaskRow, TaskPatch, TransitionGuard } from './task-store-types';

/**
 * Every SQL statement upkeep runs against `maintenance_tasks` and its dependency table.
 * Status changes are conditional UPDATEs built from the transition table, so concurrent
 * writers can never both win; callers learn from the result whether they did.
 */
export class TaskStore {
  readonly db: Executor;
  /** The statements this store's dialect says its own way. */
  readonly engine: StoreEngine;

  /** `background`: a runner's store, which never joins a host's open SQLite transaction. */
  constructor(
    readonly dataSource: DataSource,
    options: { background?: boolean } = {},
  ) {
    this.db = executorFor(dataSource, options.background ?? false);
    this.engine = engineOf(this.db);
  }

  private get c() {
    return this.db.codec;
  }

  /** The codec of this store's dialect. @internal */
  get codec() {
    return this.db.codec;
  }

  private t(name = TASK_TABLE) {
    return this.c.id(name);
  }

  /** A quoted table name (default `maintenance_tasks`). @internal */
  table(name = TASK_TABLE): string {
    return this.c.id(name);
  }

  /**
   * Inserts tasks (in chunks, one statement each; on PostgreSQL the whole chunk travels as
   * one JSON parameter). Rows whose unique key exists already are skipped and the existing
   * task is returned in their place. Due rows wake PostgreSQL listeners with one NOTIFY.
   */
  insertTasks(rows: readonly NewTaskRow[], now: Date): Promise<Array<{ task: MaintenanceTask; created: boolean }>> {
    return insertTasks(this, rows, now);
  }

  private async getTasksWith(db: Executor, ids: readonly string[]): Promise<Map<string, MaintenanceTask>> {
    const out = new Map<string, MaintenanceTask>();
    for (const part of chunks(ids)) {
      const { rows } = await db.query(`SELECT * FROM ${this.t()} WHERE ${this.c.id('id')} IN ${this.c.list(part.length)}`, part);
      for (const row of rows) {
        const task = rowToTask(row, this.c);
        out.set(task.id, task);
      }
    }
    return out;
  }

  /** Tasks by id (missing ids are absent from the map). */
  getTasks(ids: readonly string[]): Promise<Map<string, MaintenanceTask>> {
    return this.getTasksWith(this.db, ids);
  }

  /** One task, or null. */
  async getTask(id: string): Promise<MaintenanceTask | null> {
    return (await this.getTasks([id])).get(id) ?? null;
  }

  /** Status of each dependency id that exists. */
  async statusesOf(ids: readonly string[]): Promise<Map<string, TaskStatus>> {
    const out = new Map<string, TaskStatus>();
    for (const part of chunks(ids)) {
      const { rows } = await this.db.query<{ id: string; status: TaskStatus }>(
        `SELECT ${this.c.id('id')}, ${this.c.id('status')} FROM ${this.t()} WHERE ${this.c.id('id')} IN ${this.c.list(part.length)}`,
        part,
      );
      for (const row of rows) out.set(row.id, row.status);
    }
    return out;
  }

  /** SQL of the "due and unblocked" condition on alias `t`. */
  private dueCondition(typeCount: number): string {
    const c = this.c;
    return `t.${c.id('status')} = 'PENDING' AND t.${c.id('start_at')} <= ? AND t.${c.id('processor_type')} IN ${c.list(typeCount)}
      AND (t.${c.id('depends_on_count')} = 0 OR NOT EXISTS (
        SELECT 1 FROM ${this.t(DEP_TABLE)} d JOIN ${this.t()} p ON p.${c.id('id')} = d.${c.id('depends_on_id')}
        WHERE d.${c.id('task_id')} = t.${c.id('id')} AND p.${c.id('status')} <> 'COMPLETED'))`;
  }

  /**
   * Claims up to `limit` due tasks of the given types, highest priority first, and marks
   * them WORKING with a lease held by `runnerId` (the statement is the engine's: see
   * `StoreEngine.claim`).
   */
  async claim(opts: { runnerId: string; types: readonly string[]; limit: number; leaseMs: number; now: Date; device?: string }): Promise<MaintenanceTask[]> {
    if (!opts.types.length || opts.limit <= 0) return [];
    const c = this.c;
    const now = c.date(opts.now);
    const lease = c.date(new Date(opts.now.getTime() + opts.leaseMs));
    const order = `t.${c.id('priority')} DESC, t.${c.id('start_at')} ASC, t.${c.id('id')} ASC`;
    const set = `${c.id('status')} = 'WORKING', ${c.id('locked_by')} = ?, ${c.id('lease_expires_at')} = ?, ${c.id('attempts')} = ${c.id('attempts')} + 1,
      ${c.id('started_at')} = ?, ${c.id('updated_at')} = ?, ${c.id('version')} = ${c.id('version')} + 1, ${c.id('control')} = NULL,
      ${c.id('resource_cleanup_completed')} = ?${opts.device ? `, ${c.id('assigned_device')} = COALESCE(${c.id('assigned_device')}, ?)` : ''}`;
    const setParams = [opts.runnerId, lease, now, now, c.bool(false), ...(opts.device ? [opts.device] : [])];
    const rows = await this.engine.claim(this.db, {
      table: this.t(),
      due: { sql: this.dueCondition(opts.types.length), params: [now, ...opts.types] },
      order,
      set: { sql: set, params: setParams },
      limit: opts.limit,
    });
    return rows
      .map((row) => rowToTask(row, c))
      .sort((a, b) => b.priority - a.priority || a.startAt.getTime() - b.startAt.getTime() || (a.id < b.id ? -1 : 1));
  }

  /**
   * Writes many successful results at once (one statement per chunk). Only rows still
   * WORKING under `runnerId` change; returns the ids that did.
   */
  completeMany(runnerId: string, items: ReadonlyArray<CompletionRow>, now: Date): Promise<string[]> {
    return completeMany(this, runnerId, items, now);
  }

  /** Writes one successful result inside a transaction the caller holds (`ctx.transaction`). */
  completeIn(tx: Executor, runnerId: string, item: CompletionRow, now: Date): Promise<boolean> {
    return completeIn(this, tx, runnerId, item, now);
  }

  /**
   * Conditional status change of one task: applied only when the task's status is one the
   * transition table allows to reach `to` (narrowed by `guard.from`) and, when given, the
   * lease is held by `guard.lockedBy`. Returns whether this writer won.
   */
  async transition(id: string, to: TaskStatus, patch: TaskPatch, now: Date, guard: TransitionGuard = {}): Promise<boolean> {
    const c = this.c;
    const allowed = sourcesOf(to).filter((s) => !guard.from || guard.from.includes(s));
    if (!allowed.length) return false;
    const sets: string[] = [`${c.id('status')} = ?`, `${c.id('updated_at')} = ?`, `${c.id('version')} = ${c.id('version')} + 1`];
    const params: unknown[] = [to, c.date(now)];
    const put = (col: string, value: unknown, cast?: ParamType) => {
      sets.push(`${c.id(col)} = ${cast ? this.engine.param(cast) : '?'}`);
      params.push(value);
    };
    if (patch.info !== undefined) put('info', c.json(patch.info), 'jsonb');
    if (patch.runnerInfo !== undefined) put('runner_info', c.json(patch.runnerInfo), 'jsonb');
    if (patch.failureReason !== undefined) put('failure_reason', patch.failureReason);
    if (patch.lastError !== undefined) put('last_error', patch.lastError === null ? null : storableText(patch.lastError));
    if (patch.startAt !== undefined) put('start_at', c.date(patch.startAt));
    if (patch.delay !== undefined) put('delay', patch.delay);
    if (patch.cursor !== undefined) put('cursor', patch.cursor);
    if (patch.processorJson !== undefined) put('processor_json', patch.processorJson);
    if (patch.attempts !== undefined) put('attempts', patch.attempts);
    if (patch.actualMemoryMb !== undefined) put('actual_memory_mb', patch.actualMemoryMb);
    if (patch.assignedDevice !== undefined) put('assigned_device', patch.assignedDevice);
    if (patch.serviceInstanceId !== undefined) put('service_instance_id', patch.serviceInstanceId);
    if (patch.resourceCleanupCompleted !== undefined) put('resource_cleanup_completed', c.bool(patch.resourceCleanupCompleted));
    if (patch.control !== undefined) put('control', patch.control);
    if (patch.progressDone !== undefined) put('progress_done', patch.progressDone);
    if (patch.priority !== undefined) put('priority', patch.priority);
    if (patch.progressTotal !== undefined) put('progress_total', patch.progressTotal);
    if (patch.releaseLease) {
      sets.push(`${c.id('locked_by')} = NULL`, `${c.id('lease_expires_at')} = NULL`);
      if (patch.control === undefined) sets.push(`${c.id('control')} = NULL`);
    }
    if (patch.finished) put('finished_at', c.date(now));
    if (patch.unfinish) sets.push(`${c.id('finished_at')} = NULL`, `${c.id('last_error')} = NULL`);
    let where = `${c.id('id')} = ? AND ${unindexed(c, 'status')} IN ${c.list(allowed.length)}`;
    params.push(id, ...allowed);
    if (guard.lockedBy !== undefined) {
      where += ` AND ${unindexed(c, 'locked_by')} = ?`;
      params.push(guard.lockedBy);
    }
    if (guard.leaseExpiredBefore !== undefined) {
      where += ` AND (${c.id('lease_expires_at')} IS NULL OR ${c.id('lease_expires_at')} < ?)`;
      params.push(c.date(guard.leaseExpiredBefore));
    }
    if (guard.version !== undefined) {
      where += ` AND ${c.id('version')} = ?`;
      params.push(guard.version);
    }
    if (guard.noControl) where += ` AND ${c.id('control')} IS NULL`;
    const { affected } = await this.db.query(`UPDATE ${this.t()} SET ${sets.join(', ')} WHERE ${where}`, params);
    return affected > 0;
  }

  /** Sets an admin request on a WORKING task (`cancel`/`pause`); true when the task was WORKING. */
  async requestControl(id: string, action: 'cancel' | 'pause', now: Date): Promise<boolean> {
    const c = this.c;
    const { affected } = await this.db.query(
      `UPDATE ${this.t()} SET ${c.id('control')} = ?, ${c.id('updated_at')} = ? WHERE ${c.id('id')} = ? AND ${unindexed(c, 'status')} = 'WORKING'`,
      [action, c.date(now), id],
    );
    return affected > 0;
  }

  /**
   * Renews the lease of the given tasks while `runnerId` holds them, and returns those it
   * still holds with any admin request, so the runner notices lost leases and cancel or
   * pause requests. Only tasks the runner tracks are renewed: one it lost track of (its
   * outcome could not be written) expires and is rescued.
   */
  async heartbeat(runnerId: string, ids: readonly string[], leaseMs: number, now: Date): Promise<Array<{ id: string; control: 'cancel' | 'pause' | null }>> {
    const c = this.c;
    const out: Array<{ id: string; control: 'cancel' | 'pause' | null }> = [];
    for (const part of chunks(ids)) {
      // One lock order for every multi-row UPDATE (ascending id), so a heartbeat and a batch
      // completion of the same rows cannot deadlock.
      const sorted = [...part].sort();
      out.push(...(await this.engine.renewLeases(this.db, { table: this.t(), runnerId, ids: sorted, lease: c.date(new Date(now.getTime() + leaseMs)) })));
    }
    return out;
  }

  /** Renews the lease of one task held by `runnerId` (ctx.heartbeat); with `version`, only that claim of it. */
  async renewLease(runnerId: string, id: string, leaseMs: number, now: Date, version?: number): Promise<boolean> {
    const c = this.c;
    const { affected } = await this.db.query(
      `UPDATE ${this.t()} SET ${c.id('lease_expires_at')} = ? WHERE ${c.id('id')} = ? AND ${unindexed(c, 'locked_by')} = ? AND ${unindexed(c, 'status')} = 'WORKING'${version === undefined ? '' : ` AND ${c.id('version')} = ?`}`,
      [c.date(new Date(now.getTime() + leaseMs)), id, runnerId, ...(version === undefined ? [] : [version])],
    );
    return affected > 0;
  }

  /** Stores progress and cursor of a running task (only while `runnerId` holds it). */
  async saveProgress(runnerId: string, id: string, progress: { done?: number | null; total?: number | null; cursor?: string | null }, now: Date): Promise<boolean> {
    const c = this.c;
    const sets = [`${c.id('updated_at')} = ?`];
    const params: unknown[] = [c.date(now)];
    if (progress.done !== undefined) (sets.push(`${c.id('progress_done')} = ?`), params.push(progress.done));
    if (progress.total !== undefined) (sets.push(`${c.id('progress_total')} = ?`), params.push(progress.total));
    if (progress.cursor !== undefined) (sets.push(`${c.id('cursor')} = ?`), params.push(progress.cursor));
    const { affected } = await this.db.query(
      `UPDATE ${this.t()} SET ${sets.join(', ')} WHERE ${c.id('id')} = ? AND ${unindexed(c, 'locked_by')} = ? AND ${unindexed(c, 'status')} = 'WORKING'`,
      [...params, id, runnerId],
    );
    return affected > 0;
  }

  /** Records where a task runs and what it expects to use. */
  async saveResources(id: string, fields: { assignedDevice?: string | null; serviceInstanceId?: string | null; estimatedMemoryMb?: number | null; actualMemoryMb?: number | null }): Promise<void> {
    const c = this.c;
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [key, col] of [
      ['assignedDevice', 'assigned_device'],
      ['serviceInstanceId', 'service_instance_id'],
      ['estimatedMemoryMb', 'estimated_memory_mb'],
      ['actualMemoryMb', 'actual_memory_mb'],
    ] as const) {
      if (fields[key] !== undefined) (sets.push(`${c.id(col)} = ?`), params.push(fields[key]));
    }
    if (!sets.length) return;
    await this.db.query(`UPDATE ${this.t()} SET ${sets.join(', ')} WHERE ${c.id('id')} = ?`, [...params, id]);
  }

  /**
   * Hands tasks held by `runnerId` back to PENDING (graceful stop): lease cleared and the
   * attempt not counted. Returns the ids handed back.
   */
  async handBack(
    runnerId: string,
    ids: readonly string[],
    now: Date,
    extra: { cleanupDone?: boolean; ifCancelled?: (id: string) => { info: TaskInfo; lastError: string } } = {},
  ): Promise<Map<string, TaskStatus>> {
    const out = new Map<string, TaskStatus>();
    // Where RETURNING is missing (MySQL/MariaDB) the status is read back below.
    const returning = this.engine.returning(this.c.id('status'));
    const cleanup = extra.cleanupDone === undefined ? '' : `${this.c.id('resource_cleanup_completed')} = ${this.engine.boolLiteral(extra.cleanupDone)}, `;
    for (const id of ids) {
      // What a cancel honoured here writes into info and last_error (like any other cancel).
      const cancel = extra.ifCancelled?.(id);
      const cancelSets = cancel
        ? `${this.c.id('info')} = CASE ${this.c.id('control')} WHEN 'cancel' THEN ${this.engine.param('jsonb')} ELSE ${this.c.id('info')} END,
           ${this.c.id('last_error')} = CASE ${this.c.id('control')} WHEN 'cancel' THEN ? ELSE ${this.c.id('last_error')} END, `
        : '';
      const ok = await this.db.query(
        // A cancel or pause requested meanwhile is honoured here instead of being lost.
        `UPDATE ${this.t()} SET ${cleanup}${cancelSets}${this.c.id('status')} = CASE ${this.c.id('control')} WHEN 'cancel' THEN 'CANCELLED' WHEN 'pause' THEN 'PAUSED' ELSE 'PENDING' END,
           ${this.c.id('failure_reason')} = CASE ${this.c.id('control')} WHEN 'cancel' THEN 'cancelled' ELSE ${this.c.id('failure_reason')} END,
           ${this.c.id('finished_at')} = CASE ${this.c.id('control')} WHEN 'cancel' THEN ? ELSE ${this.c.id('finished_at')} END,
           ${this.c.id('control')} = NULL, ${this.c.id('locked_by')} = NULL, ${this.c.id('lease_expires_at')} = NULL,
           ${this.c.id('attempts')} = CASE WHEN ${this.c.id('attempts')} > 0 THEN ${this.c.id('attempts')} - 1 ELSE 0 END,
           ${this.c.id('updated_at')} = ?, ${this.c.id('version')} = ${this.c.id('version')} + 1
         WHERE ${this.c.id('id')} = ? AND ${unindexed(this.c, 'status')} = 'WORKING' AND ${unindexed(this.c, 'locked_by')} = ?${returning}`,
        [...(cancel ? [this.c.json(cancel.info), storableText(cancel.lastError)] : []), this.c.date(now), this.c.date(now), id, runnerId],
      );
      if (!ok.affected) continue;
      // Where it went: PENDING, or CANCELLED/PAUSED when an admin's request was pending.
      let status = (ok.rows[0] as { status?: TaskStatus } | undefined)?.status;
      if (!status) status = (await this.statusesOf([id])).get(id) ?? 'PENDING';
      out.set(id, status);
    }
    return out;
  }

  /** See `findExpiredLeases` in task-sweeps.ts. */
  findExpiredLeases(now: Date, limit: number): Promise<MaintenanceTask[]> {
    return sweeps.findExpiredLeases(this, now, limit);
  }
  /** See `findStuck` in task-sweeps.ts. */
  findHeldBy(runnerId: string, limit: number): Promise<MaintenanceTask[]> {
    return sweeps.findHeldBy(this, runnerId, limit);
  }

  findStuck(now: Date, startedBefore: Date | undefined, limit: number): Promise<MaintenanceTask[]> {
    return sweeps.findStuck(this, now, startedBefore, limit);
  }
  /** See `rescue` in task-sweeps.ts. */
  rescue(task: MaintenanceTask, to: 'PENDING' | 'ERROR' | 'CANCELLED' | 'PAUSED', patch: TaskPatch, now: Date): Promise<boolean> {
    return sweeps.rescue(this, task, to, patch, now);
  }
  /** See `cancelDependents` in task-sweeps.ts. */
  cancelDependents(failedIds: readonly string[], now: Date): Promise<string[]> {
    return sweeps.cancelDependents(this, failedIds, now);
  }
  /** See `failUnknownTypes` in task-sweeps.ts. */
  failUnknownTypes(knownTypes: readonly string[], dueBefore: Date, now: Date, limit: number): Promise<MaintenanceTask[]> {
    return sweeps.failUnknownTypes(this, knownTypes, dueBefore, now, limit);
  }
  /** See `findBlockedByFailure` in task-sweeps.ts. */
  findBlockedByFailure(limit: number): Promise<string[]> {
    return sweeps.findBlockedByFailure(this, limit);
  }
  /** See `findUnknownStatuses` in task-sweeps.ts. */
  findUnknownStatuses(limit: number): Promise<Array<{ id: string; status: string }>> {
    return sweeps.findUnknownStatuses(this, limit);
  }

  /** Wakes runners listening on PostgreSQL (no-op elsewhere). */
  notify(): Promise<void> {
    return this.engine.notifyTasks(this.db);
  }

  /**
   * The latest occurrence a cron schedule enqueued, read from the unique keys
   * (`<prefix><ISO time>`; ISO times sort as text). `start_at` is not used: retries move it.
   */
  async latestOccurrenceWithKeyPrefix(prefix: string): Promise<Date | null> {
    const c = this.c;
    // LIKE wildcards in the prefix (`_`) may over-match; the exact check happens here.
    const { rows } = await this.db.query<{ unique_key: string }>(
      `SELECT ${c.id('unique_key')} FROM ${this.t()} WHERE ${c.id('unique_key')} LIKE ? ORDER BY ${c.id('unique_key')} DESC LIMIT 50`,
      [`${prefix}%`],
    );
    const key = rows.map((r) => r.unique_key).find((k) => k.startsWith(prefix));
    if (!key) return null;
    const at = new Date(key.slice(prefix.length));
    return Number.isNaN(at.getTime()) ? null : at;
  }

  /**
   * Deletes up to `limit` rows of `table` matching `where`, skipping rows another runner is
   * deleting right now (SKIP LOCKED), so runners pruning at once never do the same work.
   * Returns the number deleted.
   */
  deleteBatch(table: 'maintenance_tasks' | 'task_events' | 'task_metrics', where: string, params: unknown[], limit: number): Promise<number> {
    return this.engine.deleteBatch(this.db, this.t(table), { sql: where, params }, limit);
  }

  /**
   * Deletes up to `limit` rows of one retention class older than `before`: finished COMPLETED
   * tasks, finished ERROR/CANCELLED tasks, events or metric samples. Returns the number deleted.
   */
  pruneBatch(kind: 'completed' | 'failed' | 'events' | 'metrics', before: Date, limit: number): Promise<number> {
    const c = this.c;
    const at = c.date(before);
    switch (kind) {
      case 'completed':
        return this.deleteBatch('maintenance_tasks', `${c.id('status')} = 'COMPLETED' AND ${c.id('finished_at')} < ?`, [at], limit);
      case 'failed':
        return this.deleteBatch('maintenance_tasks', `${c.id('status')} IN ('ERROR', 'CANCELLED') AND ${c.id('finished_at')} < ?`, [at], limit);
      case 'events':
        return this.deleteBatch('task_events', `${c.id('timestamp')} < ?`, [at], limit);
      case 'metrics':
        return this.deleteBatch('task_metrics', `${c.id('timestamp')} < ?`, [at], limit);
    }
  }

  /** Task counts per status. */
  async countByStatus(): Promise<Record<TaskStatus, number>> {
    const c = this.c;
    const { rows } = await this.db.query<{ status: TaskStatus; n: unknown }>(
      `SELECT ${c.id('status')} AS ${c.id('status')}, COUNT(*) AS ${c.id('n')} FROM ${this.t()} GROUP BY ${c.id('status')}`,
    );
    const out = { INACTIVE: 0, PENDING: 0, WORKING: 0, COMPLETED: 0, ERROR: 0, PAUSED: 0, CANCELLED: 0 };
    for (const row of rows) out[row.status] = c.readInt(row.n) ?? 0;
    return out;
  }
}
