import type { Executor } from './executor';

type Row = Record<string, unknown>;

/** The queries behind `metrics()` and `taskHealth()`. @internal */
export async function workingByTypeAndDevice(db: Executor): Promise<Row[]> {
  const c = db.codec;
  return (
    await db.query<Row>(
      `SELECT ${c.id('processor_type')} AS pt, ${c.id('assigned_device')} AS dev, COUNT(*) AS n, SUM(${c.id('estimated_memory_mb')}) AS mem
       FROM ${c.id('maintenance_tasks')} WHERE ${c.id('status')} = 'WORKING' GROUP BY ${c.id('processor_type')}, ${c.id('assigned_device')}`,
    )
  ).rows;
}

/** PENDING counts per type, split into due (`due` = 1) and scheduled. @internal */
export async function pendingByTypeAndDue(db: Executor, now: Date): Promise<Row[]> {
  const c = db.codec;
  return (
    await db.query<Row>(
      `SELECT x.pt AS pt, x.due AS due, COUNT(*) AS n FROM (
         SELECT ${c.id('processor_type')} AS pt, CASE WHEN ${c.id('start_at')} <= ? THEN 1 ELSE 0 END AS due
         FROM ${c.id('maintenance_tasks')} WHERE ${c.id('status')} = 'PENDING') x
       GROUP BY x.pt, x.due`,
      [c.date(now)],
    )
  ).rows;
}

/** Due time (`s`) and start time (`b`) of tasks started since `since`, newest first. @internal */
export async function recentStarts(db: Executor, since: Date, limit: number): Promise<Row[]> {
  const c = db.codec;
  return (
    await db.query<Row>(
      `SELECT ${c.id('start_at')} AS s, ${c.id('started_at')} AS b FROM ${c.id('maintenance_tasks')} WHERE ${c.id('started_at')} >= ? ORDER BY ${c.id('started_at')} DESC LIMIT ${Number(limit)}`,
      [c.date(since)],
    )
  ).rows;
}

/** The latest `task_metrics` sample of a task (`m` memory, `d` device). @internal */
export async function latestSample(db: Executor, taskId: string): Promise<Row | undefined> {
  const c = db.codec;
  return (
    await db.query<Row>(
      `SELECT ${c.id('memory_usage_mb')} AS m, ${c.id('device')} AS d FROM ${c.id('task_metrics')} WHERE ${c.id('task_id')} = ? ORDER BY ${c.id('timestamp')} DESC, ${c.id('id')} DESC LIMIT 1`,
      [taskId],
    )
  ).rows[0];
}

/** A task's events of the given types (`e` type, `details`), oldest first. @internal */
export async function eventsOfTypes(db: Executor, taskId: string, types: readonly string[]): Promise<Row[]> {
  const c = db.codec;
  return (
    await db.query<Row>(
      `SELECT ${c.id('event_type')} AS e, ${c.id('details')} AS details FROM ${c.id('task_events')}
       WHERE ${c.id('task_id')} = ? AND ${c.id('event_type')} IN ${c.list(types.length)} ORDER BY ${c.id('id')}`,
      [taskId, ...types],
    )
  ).rows;
}
