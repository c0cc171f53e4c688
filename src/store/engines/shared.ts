import type { SqlCodec } from '../dialect';
import type { EventRow } from '../event-store';
import type { Executor } from '../executor';
import type { CompletionPlan, Fragment, ParamType, TaskInsertPlan } from './engine';

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
  const where = `(${part.map(() => `(${c.id('id')} = ? AND ${c.id('version')} = ?)`).join(' OR ')}) AND ${c.id('status')} = 'WORKING' AND ${c.id('locked_by')} = ?`;
  return { set: { sql: set.join(', '), params: setParams }, where: { sql: where, params: [...part.flatMap((i) => [i.id, i.version]), plan.runnerId] } };
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
