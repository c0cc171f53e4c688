import type { Executor } from '../executor';
import type { EventRow } from '../event-store';
import { NOTIFY_CHANNEL } from '../pg-listener';
import type { ClaimPlan, CompletionPlan, ErrorCodes, Fragment, HeldRow, LeaseRenewalPlan, ParamType, Row, StoreEngine, TaskInsertPlan } from './engine';
import { unindexed } from '../store-util';
import { eventColumns } from './shared';

/** SQLSTATE classes and codes PostgreSQL uses for passing conditions. */
const TRANSIENT_PREFIXES = ['08', '53', '57P', '40'];
const TRANSIENT = new Set(['55P03', '55006', '58030']);
/** PostgreSQL refusing a value: bad text or JSON, too long, too big, out of range, bad encoding. */
const REFUSED = new Set(['22P05', '22021', '22001', '54000', '22P02', '22003', '2200N', '22023', '22030', '22032', '22033', '22034', '22035', '22036', '22037', '22038', '22039', '2203A', '2203B', '2203C', '2203D', '2203E', '2203F', '22000']);

/**
 * PostgreSQL: one statement per operation. Claims and batch writes lock their rows in a
 * subquery (`ORDER BY id ... FOR NO KEY UPDATE`, so every multi-row UPDATE takes its locks in
 * one order), batches travel as one JSON parameter, and a due insert NOTIFYs in the same
 * statement.
 */
export const postgresEngine: StoreEngine = {
  dialect: 'postgres',
  insertChunkSize: 2000,
  listens: true,

  param: (type: ParamType) => `CAST(? AS ${type})`,
  boolLiteral: (value) => (value ? 'TRUE' : 'FALSE'),
  returning: (cols) => ` RETURNING ${cols}`,
  upsert: (key, cols, q) => `ON CONFLICT (${q(key)}) DO UPDATE SET ${cols.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}`,
  rowBefore: (a, b, va, vb): Fragment => ({ sql: `(${a}, ${b}) < (?, ?)`, params: [va, vb] }),

  async claim(db: Executor, plan: ClaimPlan): Promise<Row[]> {
    const c = db.codec;
    const { rows } = await db.query(
      `WITH due AS (SELECT t.${c.id('id')} FROM ${plan.table} t WHERE ${plan.due.sql}
         ORDER BY ${plan.order} LIMIT ? FOR NO KEY UPDATE SKIP LOCKED)
       UPDATE ${plan.table} SET ${plan.set.sql} WHERE ${c.id('id')} = ANY(ARRAY(SELECT due.${c.id('id')} FROM due)) RETURNING ${plan.table}.*`,
      [...plan.due.params, plan.limit, ...plan.set.params],
    );
    return rows;
  },

  async completeBatch(db: Executor, plan: CompletionPlan): Promise<string[]> {
    const c = db.codec;
    const t = plan.table;
    // One JSON parameter carries the whole batch. The rows are locked in ascending id first
    // (the heartbeat's order): no deadlock between them. Rows are found by primary key
    // (`= ANY(ARRAY(...))`), never by scanning every WORKING row against the batch.
    const { rows } = await db.query<{ id: string }>(
      `WITH v AS (SELECT * FROM json_to_recordset(?::json) AS x(${c.id('id')} text, ${c.id('version')} integer, ${c.id('info')} jsonb,
           ${c.id('actual_memory_mb')} integer, ${c.id('resource_cleanup_completed')} boolean, ${c.id('progress_done')} integer, ${c.id('cursor')} text)),
         l AS (SELECT k.${c.id('id')} FROM ${t} k WHERE k.${c.id('id')} = ANY(ARRAY(SELECT v.${c.id('id')} FROM v))
           AND ${unindexed(c, 'status', 'k')} = 'WORKING' AND ${unindexed(c, 'locked_by', 'k')} = ? ORDER BY k.${c.id('id')} FOR NO KEY UPDATE OF k)
       UPDATE ${t} t SET ${c.id('status')} = 'COMPLETED', ${c.id('info')} = v.${c.id('info')},
         ${c.id('actual_memory_mb')} = v.${c.id('actual_memory_mb')}, ${c.id('resource_cleanup_completed')} = v.${c.id('resource_cleanup_completed')},
         ${c.id('progress_done')} = COALESCE(v.${c.id('progress_done')}, t.${c.id('progress_done')}), ${c.id('cursor')} = COALESCE(v.${c.id('cursor')}, t.${c.id('cursor')}),
         ${c.id('finished_at')} = ?, ${c.id('updated_at')} = ?, ${c.id('locked_by')} = NULL, ${c.id('lease_expires_at')} = NULL,
         ${c.id('control')} = NULL, ${c.id('failure_reason')} = NULL, ${c.id('version')} = t.${c.id('version')} + 1
       FROM v, l
       WHERE t.${c.id('id')} = v.${c.id('id')} AND l.${c.id('id')} = t.${c.id('id')} AND t.${c.id('version')} = v.${c.id('version')} AND ${unindexed(c, 'status', 't')} = 'WORKING' AND ${unindexed(c, 'locked_by', 't')} = ?
       RETURNING t.${c.id('id')}`,
      [
        JSON.stringify(plan.items.map((i) => ({ id: i.id, version: i.version, info: i.info, actual_memory_mb: i.actualMemoryMb, resource_cleanup_completed: i.cleanupDone, progress_done: i.progressDone, cursor: i.cursor }))),
        plan.runnerId,
        plan.now,
        plan.now,
        plan.runnerId,
      ],
    );
    return rows.map((r) => r.id);
  },

  async insertTasks(db: Executor, plan: TaskInsertPlan): Promise<Set<string>> {
    const c = db.codec;
    const colList = plan.cols.map((col) => c.id(col)).join(', ');
    const insert = `INSERT INTO ${plan.table} (${colList}) SELECT ${colList} FROM json_populate_recordset(NULL::${plan.table}, ?::json)
       ON CONFLICT (${c.id('unique_key')}) WHERE ${c.id('unique_key')} IS NOT NULL DO NOTHING RETURNING ${c.id('id')}`;
    // Due rows wake listening runners: one pg_notify for the statement (evaluated once, in the
    // same transaction as the insert, so it is delivered only if the insert commits).
    const { rows } = await db.query<{ id: string }>(
      plan.wake
        ? `WITH ins AS (${insert}), woke AS (SELECT pg_notify('${NOTIFY_CHANNEL}', '') AS n WHERE EXISTS (SELECT 1 FROM ins))
           SELECT ins.${c.id('id')} FROM ins LEFT JOIN woke ON TRUE`
        : insert,
      [JSON.stringify(plan.records)],
    );
    return new Set(rows.map((r) => r.id));
  },

  async renewLeases(db: Executor, plan: LeaseRenewalPlan): Promise<HeldRow[]> {
    const c = db.codec;
    // The ids arrive as one JSON array read in a subquery (`= ANY(ARRAY(...))`), so the rows
    // are found through the primary key whatever the statistics say about the table's size.
    const { rows } = await db.query<HeldRow>(
      `WITH s AS (SELECT ${c.id('id')} FROM ${plan.table} WHERE ${c.id('id')} = ANY(ARRAY(SELECT json_array_elements_text(?::json)))
           AND ${unindexed(c, 'status')} = 'WORKING' AND ${unindexed(c, 'locked_by')} = ? ORDER BY ${c.id('id')} FOR NO KEY UPDATE)
       UPDATE ${plan.table} t SET ${c.id('lease_expires_at')} = ? WHERE t.${c.id('id')} = ANY(ARRAY(SELECT s.${c.id('id')} FROM s))
       RETURNING t.${c.id('id')}, t.${c.id('control')}`,
      [JSON.stringify(plan.ids), plan.runnerId, plan.lease],
    );
    return rows;
  },

  async deleteBatch(db: Executor, table: string, where: Fragment, limit: number): Promise<number> {
    const id = db.codec.id('id');
    const { affected } = await db.query(`DELETE FROM ${table} WHERE ${id} IN (SELECT ${id} FROM ${table} WHERE ${where.sql} LIMIT ? FOR UPDATE SKIP LOCKED)`, [...where.params, limit]);
    return affected;
  },

  async insertEvents(db: Executor, rows: readonly EventRow[]): Promise<void> {
    const c = db.codec;
    const cols = eventColumns(c);
    await db.query(`INSERT INTO ${c.id('task_events')} (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::${c.id('task_events')}, ?::json)`, [
      JSON.stringify(rows.map((r) => ({ task_id: r.taskId, event_type: r.eventType, timestamp: r.timestamp, details: r.details }))),
    ]);
  },

  async notifyTasks(db: Executor): Promise<void> {
    await db.query(`NOTIFY ${NOTIFY_CHANNEL}`);
  },

  writeErrorKind({ code }: ErrorCodes) {
    if (code && REFUSED.has(code)) return 'refused';
    if (code && (TRANSIENT.has(code) || TRANSIENT_PREFIXES.some((prefix) => code.startsWith(prefix)))) return 'transient';
    return undefined;
  },

  isLockConflict: ({ code }: ErrorCodes) => code === '40P01' || code === '55P03' || code === '40001',
};
