import type { JsonValue } from '../entities/maintenance-task.entity';
import { engineOf } from './engines';
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
export function insertEvents(db: Executor, rows: readonly EventRow[]): Promise<void> {
  return engineOf(db).insertEvents(db, rows);
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
