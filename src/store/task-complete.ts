import type { TaskInfo } from '../entities/maintenance-task.entity';
import type { Executor } from './executor';
import { chunks, unindexed } from './store-util';
import type { TaskStore } from './task-store';

/** One successful result to write. */
export interface CompletionRow {
  id: string;
  version: number;
  /** What `info` becomes: the processor's returned object, `{ result }`, or null (SQL NULL). */
  info: TaskInfo | null;
  actualMemoryMb: number | null;
  cleanupDone: boolean;
  progressDone: number | null;
  /** The attempt's latest cursor (an iteration's last item); null keeps the stored one. */
  cursor: string | null;
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
  const done: string[] = [];
  // The statement is the engine's; each locks its rows in ascending id (the heartbeat's order).
  for (const part of chunks(items, 200)) done.push(...(await store.engine.completeBatch(store.db, { table: store.table(), runnerId, items: part, now })));
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
  const cast = store.engine.param;
  const { affected } = await tx.query(
    `UPDATE ${store.table()} SET ${c.id('status')} = 'COMPLETED', ${c.id('info')} = ${cast('jsonb')}, ${c.id('actual_memory_mb')} = ${cast('integer')},
       ${c.id('resource_cleanup_completed')} = ${cast('boolean')}, ${c.id('progress_done')} = COALESCE(${cast('integer')}, ${c.id('progress_done')}),
       ${c.id('cursor')} = COALESCE(?, ${c.id('cursor')}), ${c.id('finished_at')} = ?, ${c.id('updated_at')} = ?, ${c.id('locked_by')} = NULL, ${c.id('lease_expires_at')} = NULL,
       ${c.id('control')} = NULL, ${c.id('failure_reason')} = NULL, ${c.id('version')} = ${c.id('version')} + 1
     WHERE ${c.id('id')} = ? AND ${c.id('version')} = ? AND ${unindexed(c, 'status')} = 'WORKING' AND ${unindexed(c, 'locked_by')} = ?`,
    [c.json(item.info), item.actualMemoryMb, c.bool(item.cleanupDone), item.progressDone, item.cursor, c.date(now), c.date(now), item.id, item.version, runnerId],
  );
  return affected > 0;
}
