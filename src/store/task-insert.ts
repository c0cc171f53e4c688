import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { Executor } from './executor';
import { NOTIFY_CHANNEL } from './pg-listener';
import { chunks, CHUNK, DEP_TABLE } from './store-util';
import type { NewTaskRow, TaskStore } from './task-store';
import { rowToTask } from './task-row';

/**
 * Inserts tasks (in chunks, one statement each; on PostgreSQL the whole chunk travels as
 * one JSON parameter). Rows whose unique key exists already are skipped and the existing
 * task is returned in their place. Due rows wake PostgreSQL listeners with one NOTIFY.
 */
export async function insertTasks(store: TaskStore, rows: readonly NewTaskRow[], now: Date): Promise<Array<{ task: MaintenanceTask; created: boolean }>> {
  if (!rows.length) return [];
  const hasDeps = rows.some((r) => r.dependsOn.length);
  const run = async (db: Executor) => {
    const inserted = new Map<string, MaintenanceTask>();
    // PostgreSQL takes a whole chunk as one JSON parameter, so its chunks can be larger.
    for (const part of chunks(rows, store.codec.dialect === 'postgres' ? 2000 : CHUNK)) {
      for (const task of await insertChunk(store, db, part, now)) inserted.set(task.id, task);
    }
    // Keyed rows that were not inserted lost to an existing task with the same key.
    const losers = rows.filter((r) => r.uniqueKey !== null && !inserted.has(r.id));
    const winners = new Map<string, MaintenanceTask>();
    for (const part of chunks([...new Set(losers.map((r) => r.uniqueKey!))])) {
      const found = await db.query(`SELECT * FROM ${store.table()} WHERE ${store.codec.id('unique_key')} IN ${store.codec.list(part.length)}`, part);
      for (const row of found.rows) {
        const task = rowToTask(row, store.codec);
        winners.set(task.uniqueKey!, task);
      }
    }
    const deps = rows.filter((r) => inserted.has(r.id)).flatMap((r) => r.dependsOn.map((dep) => [r.id, dep] as const));
    for (const part of chunks(deps)) {
      await db.query(
        `INSERT INTO ${store.table(DEP_TABLE)} (${store.codec.id('task_id')}, ${store.codec.id('depends_on_id')}, ${store.codec.id('created_at')}) VALUES ${part.map(() => '(?, ?, ?)').join(', ')}`,
        part.flatMap(([taskId, dep]) => [taskId, dep, store.codec.date(now)]),
      );
    }
    return rows.map((r) => {
      const own = inserted.get(r.id);
      return own ? { task: own, created: true } : { task: winners.get(r.uniqueKey!)!, created: false };
    });
  };
  const results = hasDeps ? await store.db.transaction(run) : await run(store.db);
  // Wake-ups: on PostgreSQL the insert statement itself notifies (one per statement, never
  // one per row; see insertChunk); the other dialects have no listeners and rely on polling
  // and on in-process wake-ups from the facade.
  return results;
}

async function insertChunk(store: TaskStore, db: Executor, part: readonly NewTaskRow[], now: Date): Promise<MaintenanceTask[]> {
  const c = store.codec;
  const record = (r: NewTaskRow) => ({
    id: r.id, status: r.status, processor_type: r.processorType, processor_json: r.processorJson, delay: r.delay,
    info: r.info ?? null, runner_info: r.runnerInfo ?? null, trace_context: r.traceContext ?? null, created_at: now, updated_at: now, start_at: r.startAt, priority: r.priority, attempts: 0,
    max_attempts: r.maxAttempts, timeout_ms: r.timeoutMs, unique_key: r.uniqueKey, depends_on_count: r.dependsOn.length,
    estimated_memory_mb: r.estimatedMemoryMb, assigned_device: r.assignedDevice, failure_reason: r.failureReason ?? null,
    finished_at: r.status === 'CANCELLED' || r.status === 'ERROR' ? now : null, resource_cleanup_completed: false, version: 1,
  });
  const cols = Object.keys(record(part[0]!));
  const colList = cols.map((col) => c.id(col)).join(', ');
  // Tasks are built from what was sent, not read back: only the ids that went in return.
  const built = (ids: Set<string>) => part.filter((r) => ids.has(r.id)).map((r) => rowToTask(record(r), c));
  if (c.dialect === 'postgres') {
    // Due rows wake listening runners: one pg_notify for the statement (evaluated once, in
    // the same transaction as the insert, so it is delivered only if the insert commits).
    const due = part.some((r) => r.status === 'PENDING' && r.startAt <= now);
    const insert = `INSERT INTO ${store.table()} (${colList}) SELECT ${colList} FROM json_populate_recordset(NULL::${store.table()}, ?::json)
       ON CONFLICT (${c.id('unique_key')}) WHERE ${c.id('unique_key')} IS NOT NULL DO NOTHING RETURNING ${c.id('id')}`;
    const { rows } = await db.query<{ id: string }>(
      due
        ? `WITH ins AS (${insert}), woke AS (SELECT pg_notify('${NOTIFY_CHANNEL}', '') AS n WHERE EXISTS (SELECT 1 FROM ins))
           SELECT ins.${c.id('id')} FROM ins LEFT JOIN woke ON TRUE`
        : insert,
      [JSON.stringify(part.map(record))],
    );
    return built(new Set(rows.map((r) => r.id)));
  }
  const params: unknown[] = [];
  for (const r of part) {
    const rec = record(r) as Record<string, unknown>;
    for (const col of cols) {
      const v = rec[col];
      params.push(v instanceof Date ? c.date(v) : typeof v === 'boolean' ? c.bool(v) : col === 'info' || col === 'runner_info' ? c.json(v) : v);
    }
  }
  const tuple = `(${cols.map(() => '?').join(', ')})`;
  const values = part.map(() => tuple).join(', ');
  if (c.dialect === 'sqlite') {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO ${store.table()} (${colList}) VALUES ${values} ON CONFLICT (${c.id('unique_key')}) WHERE ${c.id('unique_key')} IS NOT NULL DO NOTHING RETURNING ${c.id('id')}`,
      params,
    );
    return built(new Set(rows.map((r) => r.id)));
  }
  await db.query(`INSERT INTO ${store.table()} (${colList}) VALUES ${values} ON DUPLICATE KEY UPDATE ${c.id('id')} = ${c.id('id')}`, params);
  // Without RETURNING: unkeyed rows went in; a keyed row went in when its id is there.
  const keyed = part.filter((r) => r.uniqueKey !== null).map((r) => r.id);
  const present = new Set<string>(part.filter((r) => r.uniqueKey === null).map((r) => r.id));
  if (keyed.length) {
    const { rows } = await db.query<{ id: string }>(`SELECT ${c.id('id')} FROM ${store.table()} WHERE ${c.id('id')} IN ${c.list(keyed.length)}`, keyed);
    for (const row of rows) present.add(row.id);
  }
  return built(present);
}
