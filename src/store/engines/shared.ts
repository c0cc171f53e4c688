import type { SqlCodec } from '../dialect';
import type { EventRow } from '../event-store';
import type { Executor } from '../executor';
import { unindexed } from '../store-util';
import type { CompletionPlan, Fragment, HeldRow, LeaseRenewalPlan, ParamType, TaskInsertPlan } from './engine';

// Statement pieces more than one engine writes the same way (MySQL/MariaDB and SQLite bind
// every value as its own parameter; PostgreSQL sends JSON instead).

/**
 * SET list and WHERE condition of a batch completion written with one parameter per value
 * (`CASE id WHEN ? THEN ? ...`). `(id, version)` pins each row to the claim that produced it.
 */
export function caseCompletion(c: SqlCodec, plan: CompletionPlan, param: (type: ParamType) => string): { set: Fragment; where: Fragment } {
  const part = plan.items;
  const caseOf = (col: string, value: string) => `${c.id(col)} = CASE ${c.id('id')} ${part.map(() => `WHEN ? THEN ${value}`).join(' ')} END`;
  const set = [
    `${c.id('status')} = 'COMPLETED'`,
    caseOf('info', param('jsonb')),
    caseOf('actual_memory_mb', param('integer')),
    caseOf('resource_cleanup_completed', param('boolean')),
    `${c.id('progress_done')} = COALESCE(CASE ${c.id('id')} ${part.map(() => `WHEN ? THEN ${param('integer')}`).join(' ')} END, ${c.id('progress_done')})`,
    `${c.id('cursor')} = COALESCE(CASE ${c.id('id')} ${part.map(() => 'WHEN ? THEN ?').join(' ')} END, ${c.id('cursor')})`,
    `${c.id('finished_at')} = ?`, `${c.id('updated_at')} = ?`, `${c.id('locked_by')} = NULL`, `${c.id('lease_expires_at')} = NULL`,
    `${c.id('control')} = NULL`, `${c.id('failure_reason')} = NULL`, `${c.id('version')} = ${c.id('version')} + 1`,
  ];
  const setParams: unknown[] = [
    ...part.flatMap((i) => [i.id, c.json(i.info)]),
    ...part.flatMap((i) => [i.id, i.actualMemoryMb]),
    ...part.flatMap((i) => [i.id, c.bool(i.cleanupDone)]),
    ...part.flatMap((i) => [i.id, i.progressDone]),
    ...part.flatMap((i) => [i.id, i.cursor]),
    c.date(plan.now), c.date(plan.now),
  ];
  const where = `(${part.map(() => `(${c.id('id')} = ? AND ${c.id('version')} = ?)`).join(' OR ')}) AND ${unindexed(c, 'status')} = 'WORKING' AND ${unindexed(c, 'locked_by')} = ?`;
  return { set: { sql: set.join(', '), params: setParams }, where: { sql: where, params: [...part.flatMap((i) => [i.id, i.version]), plan.runnerId] } };
}

/** Rows of `plan.ids` still WORKING under `plan.runnerId` (no alias); the ids travel one parameter each. */
export function heldRows(c: SqlCodec, plan: LeaseRenewalPlan): Fragment {
  return { sql: `${c.id('id')} IN ${c.list(plan.ids.length)} AND ${unindexed(c, 'status')} = 'WORKING' AND ${unindexed(c, 'locked_by')} = ?`, params: [...plan.ids, plan.runnerId] };
}

/** A heartbeat's renewal where UPDATE returns no rows: `update` renews, then the held rows are read. */
export async function renewThenRead(db: Executor, plan: LeaseRenewalPlan, update: (held: Fragment) => Fragment): Promise<HeldRow[]> {
  const held = heldRows(db.codec, plan);
  const { sql, params } = update(held);
  await db.query(sql, params);
  const c = db.codec;
  const { rows } = await db.query<HeldRow>(`SELECT ${c.id('id')}, ${c.id('control')} FROM ${plan.table} WHERE ${held.sql}`, held.params);
  return rows;
}

/** `(cols) VALUES (?, ...), ...` of a task insert, every value encoded for the driver. */
export function insertValues(c: SqlCodec, plan: TaskInsertPlan): Fragment {
  const params: unknown[] = [];
  for (const rec of plan.records) {
    for (const col of plan.cols) {
      const v = rec[col];
      params.push(v instanceof Date ? c.date(v) : typeof v === 'boolean' ? c.bool(v) : plan.jsonCols.includes(col) ? c.json(v) : v);
    }
  }
  const tuple = `(${plan.cols.map(() => '?').join(', ')})`;
  return { sql: `(${plan.cols.map((col) => c.id(col)).join(', ')}) VALUES ${plan.records.map(() => tuple).join(', ')}`, params };
}

/** `task_events` columns, quoted. */
export function eventColumns(c: SqlCodec): string {
  return `${c.id('task_id')}, ${c.id('event_type')}, ${c.id('timestamp')}, ${c.id('details')}`;
}

/** Inserts `task_events` rows with one multi-row VALUES statement. */
export async function insertEventValues(db: Executor, rows: readonly EventRow[]): Promise<void> {
  const c = db.codec;
  await db.query(
    `INSERT INTO ${c.id('task_events')} (${eventColumns(c)}) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}`,
    rows.flatMap((r) => [r.taskId, r.eventType, c.date(r.timestamp), c.json(r.details)]),
  );
}
