import type { TaskInfo } from '../entities/maintenance-task.entity';
import type { Executor } from './executor';
import { chunks } from './store-util';
import type { TaskStore } from './task-store';

/** One successful result to write. */
export interface CompletionRow {
  id: string;
  version: number;
  info: TaskInfo;
  actualMemoryMb: number | null;
  cleanupDone: boolean;
  progressDone: number | null;
}

/**
 * Writes many successful results at once (one statement per chunk). Only rows still
 * WORKING under `runnerId` change; returns the ids that did.
 */
export async function completeMany(
store: TaskStore,
  runnerId: string,
  items: ReadonlyArray<CompletionRow>,
  now: Date,
): Promise<string[]> {
  const c = store.codec;
  const done: string[] = [];
  for (const part of chunks(items, 200)) {
    const jsonCast = c.dialect === 'postgres' ? 'CAST(? AS jsonb)' : '?';
    const caseOf = (col: string, value: string) => `${c.id(col)} = CASE ${c.id('id')} ${part.map(() => `WHEN ? THEN ${value}`).join(' ')} END`;
    const intCast = c.dialect === 'postgres' ? 'CAST(? AS integer)' : '?';
    const boolCast = c.dialect === 'postgres' ? 'CAST(? AS boolean)' : '?';
    const sets = [
      `${c.id('status')} = 'COMPLETED'`,
      caseOf('info', jsonCast),
      caseOf('actual_memory_mb', intCast),
      caseOf('resource_cleanup_completed', boolCast),
      `${c.id('progress_done')} = COALESCE(CASE ${c.id('id')} ${part.map(() => `WHEN ? THEN ${intCast}`).join(' ')} END, ${c.id('progress_done')})`,
      `${c.id('finished_at')} = ?`, `${c.id('updated_at')} = ?`, `${c.id('locked_by')} = NULL`, `${c.id('lease_expires_at')} = NULL`,
      `${c.id('control')} = NULL`, `${c.id('failure_reason')} = NULL`, `${c.id('version')} = ${c.id('version')} + 1`,
    ];
    const params: unknown[] = [
      ...part.flatMap((i) => [i.id, c.json(i.info)]),
      ...part.flatMap((i) => [i.id, i.actualMemoryMb]),
      ...part.flatMap((i) => [i.id, c.bool(i.cleanupDone)]),
      ...part.flatMap((i) => [i.id, i.progressDone]),
      c.date(now), c.date(now),
    ];
    // (id, version) pins each row to the claim that produced the result.
    const where = `(${part.map(() => `(${c.id('id')} = ? AND ${c.id('version')} = ?)`).join(' OR ')}) AND ${c.id('status')} = 'WORKING' AND ${c.id('locked_by')} = ?`;
    const whereParams = [...part.flatMap((i) => [i.id, i.version]), runnerId];
    if (c.dialect === 'postgres') {
      // One JSON parameter carries the whole batch.
      // The rows are locked in ascending id first (the heartbeat's order): no deadlock between them.
      const { rows } = await store.db.query<{ id: string }>(
        `WITH v AS (SELECT * FROM json_populate_recordset(NULL::${store.table()}, ?::json)),
           l AS (SELECT k.${c.id('id')} FROM ${store.table()} k WHERE k.${c.id('id')} IN (SELECT v.${c.id('id')} FROM v)
             AND k.${c.id('status')} = 'WORKING' AND k.${c.id('locked_by')} = ? ORDER BY k.${c.id('id')} FOR NO KEY UPDATE OF k)
         UPDATE ${store.table()} t SET ${c.id('status')} = 'COMPLETED', ${c.id('info')} = v.${c.id('info')},
           ${c.id('actual_memory_mb')} = v.${c.id('actual_memory_mb')}, ${c.id('resource_cleanup_completed')} = v.${c.id('resource_cleanup_completed')},
           ${c.id('progress_done')} = COALESCE(v.${c.id('progress_done')}, t.${c.id('progress_done')}),
           ${c.id('finished_at')} = ?, ${c.id('updated_at')} = ?, ${c.id('locked_by')} = NULL, ${c.id('lease_expires_at')} = NULL,
           ${c.id('control')} = NULL, ${c.id('failure_reason')} = NULL, ${c.id('version')} = t.${c.id('version')} + 1
         FROM v, l
         WHERE t.${c.id('id')} = v.${c.id('id')} AND l.${c.id('id')} = t.${c.id('id')} AND t.${c.id('version')} = v.${c.id('version')} AND t.${c.id('status')} = 'WORKING' AND t.${c.id('locked_by')} = ?
         RETURNING t.${c.id('id')}`,
        [
          JSON.stringify(part.map((i) => ({ id: i.id, version: i.version, info: i.info, actual_memory_mb: i.actualMemoryMb, resource_cleanup_completed: i.cleanupDone, progress_done: i.progressDone }))),
          runnerId,
          now,
          now,
          runnerId,
        ],
      );
      done.push(...rows.map((r) => r.id));
    } else if (c.dialect === 'mysql') {
      await store.db.transaction(async (tx) => {
        const held = await tx.query<{ id: string }>(`SELECT ${c.id('id')} FROM ${store.table()} WHERE ${where} ORDER BY ${c.id('id')} FOR UPDATE`, whereParams);
        if (!held.rows.length) return;
        await tx.query(`UPDATE ${store.table()} SET ${sets.join(', ')} WHERE ${where}`, [...params, ...whereParams]);
        done.push(...held.rows.map((r) => r.id));
      });
    } else {
      const { rows } = await store.db.query<{ id: string }>(
        `UPDATE ${store.table()} SET ${sets.join(', ')} WHERE ${where} RETURNING ${c.id('id')}`,
        [...params, ...whereParams],
      );
      done.push(...rows.map((r) => r.id));
    }
  }
  return done;
}

/**
 * Writes one successful result inside a transaction the caller holds (`ctx.transaction`), so
 * it commits or rolls back with the processor's writes. True when this claim still held it.
 */
export async function completeIn(
store: TaskStore,
  tx: Executor,
  runnerId: string,
  item: CompletionRow,
  now: Date,
): Promise<boolean> {
  const c = store.codec;
  const cast = (type: string) => (c.dialect === 'postgres' ? `CAST(? AS ${type})` : '?');
  const { affected } = await tx.query(
    `UPDATE ${store.table()} SET ${c.id('status')} = 'COMPLETED', ${c.id('info')} = ${cast('jsonb')}, ${c.id('actual_memory_mb')} = ${cast('integer')},
       ${c.id('resource_cleanup_completed')} = ${cast('boolean')}, ${c.id('progress_done')} = COALESCE(${cast('integer')}, ${c.id('progress_done')}),
       ${c.id('finished_at')} = ?, ${c.id('updated_at')} = ?, ${c.id('locked_by')} = NULL, ${c.id('lease_expires_at')} = NULL,
       ${c.id('control')} = NULL, ${c.id('failure_reason')} = NULL, ${c.id('version')} = ${c.id('version')} + 1
     WHERE ${c.id('id')} = ? AND ${c.id('version')} = ? AND ${c.id('status')} = 'WORKING' AND ${c.id('locked_by')} = ?`,
    [c.json(item.info), item.actualMemoryMb, c.bool(item.cleanupDone), item.progressDone, c.date(now), c.date(now), item.id, item.version, runnerId],
  );
  return affected > 0;
}
