import type { JsonValue } from '../entities/maintenance-task.entity';
import type { Executor } from './executor';

/** One row for `task_events`. */
export interface EventRow {
  taskId: string | null;
  eventType: string;
  timestamp: Date;
  details: Record<string, JsonValue> | null;
}

/** One `task_metrics` sample. */
export interface MetricRow {
  taskId: string;
  timestamp: Date;
  memoryUsageMb: number | null;
  device: string | null;
  processingStage: string | null;
}

/** Inserts `task_events` rows with one statement (PostgreSQL: one JSON parameter). @internal */
export async function insertEvents(db: Executor, rows: readonly EventRow[]): Promise<void> {
  const c = db.codec;
  const cols = `${c.id('task_id')}, ${c.id('event_type')}, ${c.id('timestamp')}, ${c.id('details')}`;
  if (c.dialect === 'postgres') {
    await db.query(`INSERT INTO ${c.id('task_events')} (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::${c.id('task_events')}, ?::json)`, [
      JSON.stringify(rows.map((r) => ({ task_id: r.taskId, event_type: r.eventType, timestamp: r.timestamp, details: r.details }))),
    ]);
    return;
  }
  await db.query(
    `INSERT INTO ${c.id('task_events')} (${cols}) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}`,
    rows.flatMap((r) => [r.taskId, r.eventType, c.date(r.timestamp), c.json(r.details)]),
  );
}

/** Inserts `task_metrics` samples with one statement. @internal */
export async function insertMetrics(db: Executor, rows: readonly MetricRow[]): Promise<void> {
  const c = db.codec;
  await db.query(
    `INSERT INTO ${c.id('task_metrics')} (${c.id('task_id')}, ${c.id('timestamp')}, ${c.id('memory_usage_mb')}, ${c.id('device')}, ${c.id('processing_stage')}) VALUES ${rows
      .map(() => '(?, ?, ?, ?, ?)')
      .join(', ')}`,
    rows.flatMap((r) => [r.taskId, c.date(r.timestamp), r.memoryUsageMb, r.device, r.processingStage]),
  );
}
