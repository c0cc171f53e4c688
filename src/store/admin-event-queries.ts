import type { JsonValue } from '../entities/maintenance-task.entity';
import { engineOf } from './engines';
import type { Executor } from './executor';

/** One `task_events` row as the admin API reads it. @internal */
export interface AdminEventRow {
  id: number;
  taskId: string | null;
  type: string;
  timestamp: Date;
  details: Record<string, JsonValue> | null;
}

/** Event type of stored audit entries. */
export const AUDIT_EVENT_TYPE = 'audit';

function toRow(db: Executor, r: Record<string, unknown>): AdminEventRow {
  const c = db.codec;
  let details: Record<string, JsonValue> | null;
  try {
    details = c.readJson<Record<string, JsonValue>>(r.details);
  } catch {
    details = { unreadable: String(r.details) };
  }
  return { id: c.readInt(r.id)!, taskId: (r.task_id as string | null) ?? null, type: r.event_type as string, timestamp: c.readDate(r.timestamp)!, details };
}

const COLS = (db: Executor) => ['id', 'task_id', 'event_type', 'timestamp', 'details'].map((x) => db.codec.id(x)).join(', ');

/** Events after `afterId` (ascending id), optionally of one task or one type. @internal */
export async function eventsAfter(db: Executor, opts: { afterId: number; taskId?: string; type?: string; limit: number }): Promise<AdminEventRow[]> {
  const c = db.codec;
  const cond = [`${c.id('id')} > ?`];
  const params: unknown[] = [opts.afterId];
  if (opts.taskId) (cond.push(`${c.id('task_id')} = ?`), params.push(opts.taskId));
  if (opts.type) (cond.push(`${c.id('event_type')} = ?`), params.push(opts.type));
  const { rows } = await db.query(`SELECT ${COLS(db)} FROM ${c.id('task_events')} WHERE ${cond.join(' AND ')} ORDER BY ${c.id('id')} LIMIT ?`, [...params, opts.limit]);
  return rows.map((r) => toRow(db, r));
}

/** Events before `beforeId` (descending id: newest first), optionally of one task or type. @internal */
export async function eventsBefore(db: Executor, opts: { beforeId?: number; taskId?: string; type?: string; limit: number }): Promise<AdminEventRow[]> {
  const c = db.codec;
  const cond: string[] = [];
  const params: unknown[] = [];
  if (opts.beforeId !== undefined) (cond.push(`${c.id('id')} < ?`), params.push(opts.beforeId));
  if (opts.taskId) (cond.push(`${c.id('task_id')} = ?`), params.push(opts.taskId));
  if (opts.type) (cond.push(`${c.id('event_type')} = ?`), params.push(opts.type));
  const { rows } = await db.query(
    `SELECT ${COLS(db)} FROM ${c.id('task_events')} ${cond.length ? `WHERE ${cond.join(' AND ')}` : ''} ORDER BY ${c.id('id')} DESC LIMIT ?`,
    [...params, opts.limit],
  );
  return rows.map((r) => toRow(db, r));
}

/** The highest event id now (0 when there is none): where a new stream without `Last-Event-ID` starts. @internal */
export async function latestEventId(db: Executor): Promise<number> {
  const c = db.codec;
  const { rows } = await db.query<{ m: unknown }>(`SELECT MAX(${c.id('id')}) AS ${c.id('m')} FROM ${c.id('task_events')}`);
  return c.readInt(rows[0]?.m) ?? 0;
}

/** Writes one event row at once (audit entries are never buffered). @internal */
export async function insertEvent(db: Executor, row: { taskId: string | null; type: string; timestamp: Date; details: Record<string, JsonValue> }): Promise<void> {
  const c = db.codec;
  await db.query(
    `INSERT INTO ${c.id('task_events')} (${c.id('task_id')}, ${c.id('event_type')}, ${c.id('timestamp')}, ${c.id('details')}) VALUES (?, ?, ?, ${engineOf(db).param('jsonb')})`,
    [row.taskId, row.type, c.date(row.timestamp), JSON.stringify(row.details)],
  );
}

/** Resource samples of one task, newest first. @internal */
export async function metricSamples(db: Executor, taskId: string, limit: number): Promise<Array<{ id: number; timestamp: Date; memoryUsageMb: number | null; device: string | null; processingStage: string | null }>> {
  const c = db.codec;
  const { rows } = await db.query(
    `SELECT ${['id', 'timestamp', 'memory_usage_mb', 'device', 'processing_stage'].map((x) => c.id(x)).join(', ')} FROM ${c.id('task_metrics')}
     WHERE ${c.id('task_id')} = ? ORDER BY ${c.id('timestamp')} DESC, ${c.id('id')} DESC LIMIT ?`,
    [taskId, limit],
  );
  return rows.map((r) => ({
    id: c.readInt(r.id)!,
    timestamp: c.readDate(r.timestamp)!,
    memoryUsageMb: c.readInt(r.memory_usage_mb),
    device: (r.device as string | null) ?? null,
    processingStage: (r.processing_stage as string | null) ?? null,
  }));
}
