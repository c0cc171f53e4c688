import type { MaintenanceTask } from '../entities/maintenance-task.entity';
import type { Executor } from './executor';
import { chunks, DEP_TABLE } from './store-util';
import type { NewTaskRow, TaskStore } from './task-store';
import { rowToTask } from './task-row';

/**
 * Inserts tasks (in chunks, one statement each, written by the engine). Rows whose unique key exists already are skipped and the existing
 * task is returned in their place. Due rows wake PostgreSQL listeners with one NOTIFY.
 */
export async function insertTasks(store: TaskStore, rows: readonly NewTaskRow[], now: Date): Promise<Array<{ task: MaintenanceTask; created: boolean }>> {
  if (!rows.length) return [];
  const hasDeps = rows.some((r) => r.dependsOn.length);
  const run = async (db: Executor) => {
    const inserted = new Map<string, MaintenanceTask>();
    // PostgreSQL takes a whole chunk as one JSON parameter, so its chunks can be larger.
    for (const part of chunks(rows, store.engine.insertChunkSize)) {
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
  // one per row; see `postgresEngine.insertTasks`); the other dialects have no listeners and rely on polling
  // and on in-process wake-ups from the facade.
  return results;
}

/**
 * Columns sent only when a row of the chunk needs them: nullable ones without a default, left
 * out when every row's value is NULL, and `depends_on_count` (DEFAULT 0 in the migrations and
 * the entity), left out when no row has dependencies. A column left out of the statement gets
 * its default, as sending it would (smaller statements, and PostgreSQL parses fewer fields per
 * row). `unique_key` is always sent (engines read it).
 */
const SPARSE_COLS = ['info', 'runner_info', 'trace_context', 'timeout_ms', 'estimated_memory_mb', 'assigned_device', 'failure_reason', 'finished_at', 'depends_on_count'] as const;

/**
 * Columns every insert sends (the keys {@link toRecord} always sets). `attempts` (0) and
 * `resource_cleanup_completed` (false) are never sent: every new row has their defaults
 * (DEFAULT 0 / FALSE in the migrations and the entity). `version` has no default in the
 * entity, so it is sent.
 */
const BASE_COLS = ['id', 'status', 'processor_type', 'processor_json', 'delay', 'created_at', 'updated_at', 'start_at', 'priority', 'max_attempts', 'unique_key', 'version'] as const;

/** The row as column → value; sparse columns at their default are left out (rowToTask reads a missing column as its default). */
function toRecord(r: NewTaskRow, now: Date): Record<string, unknown> {
  const rec: Record<string, unknown> = {
    id: r.id, status: r.status, processor_type: r.processorType, processor_json: r.processorJson, delay: r.delay,
    created_at: now, updated_at: now, start_at: r.startAt, priority: r.priority,
    max_attempts: r.maxAttempts, unique_key: r.uniqueKey, version: 1,
  };
  if (r.info != null) rec.info = r.info;
  if (r.runnerInfo != null) rec.runner_info = r.runnerInfo;
  if (r.traceContext != null) rec.trace_context = r.traceContext;
  if (r.timeoutMs != null) rec.timeout_ms = r.timeoutMs;
  if (r.estimatedMemoryMb != null) rec.estimated_memory_mb = r.estimatedMemoryMb;
  if (r.assignedDevice != null) rec.assigned_device = r.assignedDevice;
  if (r.failureReason != null) rec.failure_reason = r.failureReason;
  if (r.status === 'CANCELLED' || r.status === 'ERROR') rec.finished_at = now;
  if (r.dependsOn.length) rec.depends_on_count = r.dependsOn.length;
  return rec;
}

/**
 * Rows go in ascending id when no row of the chunk has a unique key: the indexes that end in
 * `id` (primary key, created_at/status/type + id) then take them in order (about a fifth less
 * server time for 1,000 rows on PostgreSQL). Every ordered read breaks ties by id, so nothing
 * sees the difference; with unique keys the input order stays, since the first of two rows
 * with the same key wins.
 */
function byId(a: Record<string, unknown>, b: Record<string, unknown>): number {
  return (a.id as string) < (b.id as string) ? -1 : 1;
}

async function insertChunk(store: TaskStore, db: Executor, part: readonly NewTaskRow[], now: Date): Promise<MaintenanceTask[]> {
  const c = store.codec;
  const records = part.map((r) => toRecord(r, now));
  // Every record holds every column of the statement: the sparse ones some row has, their default elsewhere.
  const sparse = SPARSE_COLS.filter((col) => records.some((rec) => col in rec));
  if (sparse.length) for (const rec of records) for (const col of sparse) if (!(col in rec)) rec[col] = col === 'depends_on_count' ? 0 : null;
  // Tasks are built from what was sent, not read back: only the ids that went in return.
  const ids = await store.engine.insertTasks(db, {
    table: store.table(),
    cols: [...BASE_COLS, ...sparse],
    records: part.some((r) => r.uniqueKey !== null) ? records : [...records].sort(byId),
    jsonCols: ['info', 'runner_info'],
    // Due rows wake PostgreSQL listeners in the insert statement itself.
    wake: part.some((r) => r.status === 'PENDING' && r.startAt <= now),
  });
  // rowToTask reads a column left out as the default the database gave it (null, 0, false).
  const tasks: MaintenanceTask[] = [];
  for (let i = 0; i < part.length; i++) if (ids.has(part[i]!.id)) tasks.push(rowToTask(records[i]!, c));
  return tasks;
}
